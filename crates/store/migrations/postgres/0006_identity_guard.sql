-- Guessing an ID or card number through preview and submit is limited: each well-formed
-- mismatch is recorded; five in 24 hours lock the merchant's identity checks until an SMS code
-- to the bound phone unlocks them (a new SMS purpose).
CREATE TABLE identity_misses (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    at                    BIGINT NOT NULL
);
CREATE INDEX identity_misses_by_merchant ON identity_misses (merchant_id, at);

ALTER TABLE sms_codes DROP CONSTRAINT sms_codes_purpose_check;
ALTER TABLE sms_codes ADD CONSTRAINT sms_codes_purpose_check
    CHECK (purpose IN ('reset_password', 'change_payout_card', 'unlock_identity_checks'));
