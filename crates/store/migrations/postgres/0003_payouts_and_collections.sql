-- 0003: money moves. Payouts pay approved refunds through the channel; collections take what
-- merchants owe through it. Our id is the bank's idempotency key, so a resend pays nothing
-- twice; at most one live attempt per application (0001's index) and per item (below).

-- The payouts table of 0001 (never written before this release) gains what a receipt needs.
ALTER TABLE payouts ADD COLUMN card_last4 TEXT;
ALTER TABLE payouts ADD COLUMN paid_at BIGINT;
CREATE INDEX payouts_by_status ON payouts (status, id);
ALTER TABLE payouts ALTER COLUMN id TYPE TEXT COLLATE "C";

CREATE TABLE collections (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    item_id               TEXT NOT NULL REFERENCES outstanding_items (id),
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    status                TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'unknown', 'succeeded', 'failed')),
    bank_reference        TEXT,
    failure_code          TEXT,
    failure_message       TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE UNIQUE INDEX collections_one_live ON collections (item_id) WHERE status <> 'failed';

-- The collection under way for an open item ("settling"): an item with one can be neither
-- deducted from a refund nor collected again. Both take the row with a conditional UPDATE.
ALTER TABLE outstanding_items ADD COLUMN collection_id TEXT;

-- The refund receipt's number (退款凭证编号), given when the payout succeeds.
ALTER TABLE refund_applications ADD COLUMN receipt_number TEXT;
CREATE UNIQUE INDEX refund_applications_receipt ON refund_applications (receipt_number);

-- A returned device as the reviewer recorded it (product.md, lifecycle step 7), and the end of
-- the terminal's binding once its termination refund is paid.
ALTER TABLE terminals ADD COLUMN device_waybill_no TEXT;
ALTER TABLE terminals ADD COLUMN device_condition TEXT;
ALTER TABLE terminals ADD COLUMN unbound_at BIGINT;

-- Deposits are collected by card or by wallet (WeChat Pay, Alipay): the route a refund goes back
-- by; `wallet` stays valid for rows that have it.
ALTER TABLE deposits DROP CONSTRAINT deposits_route_check;
ALTER TABLE deposits ADD CONSTRAINT deposits_route_check CHECK (route IN ('card', 'wechat', 'alipay', 'wallet'));

-- Usage imported from the acquirer's systems carries their reference: its natural key, so a
-- batch sent again adds nothing.
ALTER TABLE usage_transactions ADD COLUMN ref TEXT;
CREATE UNIQUE INDEX usage_by_ref ON usage_transactions (ref);

-- A payout re-issued to another card of the merchant's (after a verified change) carries that
-- card, sealed like every card number; otherwise the merchant's bound card is paid.
ALTER TABLE payouts ADD COLUMN card_sealed BYTEA;
ALTER TABLE payouts ADD COLUMN card_key_id TEXT;

-- SMS codes also confirm a change of payout card.
ALTER TABLE sms_codes DROP CONSTRAINT sms_codes_purpose_check;
ALTER TABLE sms_codes ADD CONSTRAINT sms_codes_purpose_check CHECK (purpose IN ('reset_password', 'change_payout_card'));
