-- Yajin schema, PostgreSQL dialect. Times are BIGINT milliseconds since the Unix epoch (UTC);
-- money is BIGINT fen; flags are BIGINT 0/1 (one decode path with SQLite); ids are TEXT with a type prefix.
-- The SQLite twin (migrations/sqlite/0001_initial.sql) must stay equivalent.

CREATE TABLE merchants (
    id                    TEXT PRIMARY KEY,
    merchant_no           TEXT NOT NULL UNIQUE CHECK (char_length(merchant_no) = 15),
    name                  TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    phone                 TEXT NOT NULL UNIQUE CHECK (char_length(phone) = 11),
    password_hash         TEXT NOT NULL,
    -- PII sealed with XChaCha20-Poly1305 (row id + column as associated data), the key's id,
    -- an HMAC blind index for equality checks, and what may be shown in clear.
    id_card_sealed        BYTEA NOT NULL,
    id_card_key_id        TEXT NOT NULL,
    id_card_index         TEXT NOT NULL,
    id_card_last4         TEXT NOT NULL CHECK (char_length(id_card_last4) = 4),
    id_card_first3        TEXT NOT NULL CHECK (char_length(id_card_first3) = 3),
    bank_card_sealed      BYTEA NOT NULL,
    bank_card_key_id      TEXT NOT NULL,
    bank_card_index       TEXT NOT NULL,
    bank_card_first4      TEXT NOT NULL CHECK (char_length(bank_card_first4) = 4),
    bank_card_last4       TEXT NOT NULL CHECK (char_length(bank_card_last4) = 4),
    bank_name             TEXT NOT NULL,
    risk_frozen           BIGINT NOT NULL DEFAULT 0 CHECK (risk_frozen IN (0, 1)),
    failed_login_count    BIGINT NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until          BIGINT,
    created_at            BIGINT NOT NULL
);

CREATE TABLE staff (
    id                    TEXT PRIMARY KEY,
    username              TEXT NOT NULL UNIQUE CHECK (char_length(username) BETWEEN 1 AND 64),
    display_name          TEXT NOT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('reviewer', 'approver', 'finance', 'admin', 'support')),
    password_hash         TEXT NOT NULL,
    active                BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_login_count    BIGINT NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until          BIGINT,
    created_at            BIGINT NOT NULL
);

-- Versioned deposit plans; `body` is the JSON of yajin_core::plan::DepositPlan.
CREATE TABLE deposit_plans (
    id                    TEXT PRIMARY KEY,
    code                  TEXT NOT NULL,
    version               BIGINT NOT NULL CHECK (version >= 1),
    name                  TEXT NOT NULL,
    body                  TEXT NOT NULL,
    created_by            TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    UNIQUE (code, version)
);

CREATE TABLE terminals (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    sn                    TEXT NOT NULL UNIQUE CHECK (char_length(sn) BETWEEN 1 AND 50),
    terminal_id           TEXT NOT NULL UNIQUE CHECK (char_length(terminal_id) = 8),
    model                 TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'terminated')),
    plan_id               TEXT NOT NULL REFERENCES deposit_plans (id),
    -- The plan version in force at activation, copied: later versions never move the goalposts.
    plan_snapshot         TEXT NOT NULL,
    bound_at              BIGINT NOT NULL,
    activated_at          BIGINT,
    terminated_at         BIGINT,
    device_returned_at    BIGINT,
    -- An activation plan's counting window, derived from the snapshot when activated, so one
    -- query can sum the counted volume of all of a merchant's terminals.
    count_until           BIGINT,
    -- When the merchant was told the activation target was met (told once).
    target_reached_at     BIGINT,
    created_at            BIGINT NOT NULL,
    CHECK (status <> 'terminated' OR terminated_at IS NOT NULL)
);
CREATE INDEX terminals_by_merchant ON terminals (merchant_id, sn);

-- The deposit collected for a terminal; its money lives in the ledger (deposit_held:<terminal>).
CREATE TABLE deposits (
    id                    TEXT PRIMARY KEY,
    terminal_id           TEXT NOT NULL UNIQUE REFERENCES terminals (id),
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    -- The original route the refund goes back by: a card or a wallet, and its reference.
    route                 TEXT NOT NULL CHECK (route IN ('card', 'wallet')),
    route_ref             TEXT NOT NULL,
    collected_at          BIGINT NOT NULL
);

CREATE TABLE usage_transactions (
    id                    TEXT PRIMARY KEY,
    terminal_id           TEXT NOT NULL REFERENCES terminals (id),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    fee_fen               BIGINT NOT NULL CHECK (fee_fen >= 0),
    kind                  TEXT NOT NULL CHECK (kind IN ('credit_card', 'debit_card', 'qr_code', 'nfc')),
    occurred_at           BIGINT NOT NULL
);
CREATE INDEX usage_by_terminal ON usage_transactions (terminal_id, occurred_at);

CREATE TABLE outstanding_items (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    terminal_id           TEXT REFERENCES terminals (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('service_fee', 'sim_fee', 'chargeback', 'negative_settlement')),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    due_at                BIGINT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('open', 'settled', 'deducted')),
    settled_at            BIGINT,
    application_id        TEXT,
    created_at            BIGINT NOT NULL,
    CHECK ((status = 'open') = (settled_at IS NULL))
);
CREATE INDEX outstanding_by_merchant ON outstanding_items (merchant_id, status);

CREATE TABLE refund_applications (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    terminal_id           TEXT NOT NULL REFERENCES terminals (id),
    status                TEXT NOT NULL CHECK (status IN ('submitted', 'in_review', 'info_requested',
                              'awaiting_second_approval', 'approved', 'paying', 'payout_failed',
                              'refunded', 'rejected', 'cancelled')),
    reason                TEXT NOT NULL,
    note                  TEXT NOT NULL DEFAULT '',
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    fee_fen               BIGINT NOT NULL CHECK (fee_fen >= 0),
    deducted_fen          BIGINT NOT NULL CHECK (deducted_fen >= 0),
    net_refund_fen        BIGINT NOT NULL CHECK (net_refund_fen >= 0),
    deduct_outstanding    BIGINT NOT NULL CHECK (deduct_outstanding IN (0, 1)),
    bank_card_sealed      BYTEA NOT NULL,
    bank_card_key_id      TEXT NOT NULL,
    bank_card_first4      TEXT NOT NULL,
    bank_card_last4       TEXT NOT NULL,
    four_eyes_required    BIGINT NOT NULL CHECK (four_eyes_required IN (0, 1)),
    claimed_by            TEXT REFERENCES staff (id),
    first_approver        TEXT,
    second_approver       TEXT,
    reject_reason_code    TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    CHECK (amount_fen = fee_fen + deducted_fen + net_refund_fen),
    -- Four eyes, enforced by the database too: the second approver is never the first.
    CHECK (second_approver IS NULL OR (first_approver IS NOT NULL AND second_approver <> first_approver))
);
-- At most one open application per terminal, even when two servers race.
CREATE UNIQUE INDEX one_open_application_per_terminal ON refund_applications (terminal_id)
    WHERE status IN ('submitted', 'in_review', 'info_requested', 'awaiting_second_approval',
                     'approved', 'paying', 'payout_failed');
CREATE INDEX applications_by_merchant ON refund_applications (merchant_id, created_at);
CREATE INDEX applications_by_status ON refund_applications (status, created_at);

-- The timeline: every transition with actor, time, reason and amounts. Never edited.
CREATE TABLE application_events (
    seq                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    from_status           TEXT,
    to_status             TEXT NOT NULL,
    actor_role            TEXT NOT NULL,
    actor_id              TEXT NOT NULL,
    note                  TEXT NOT NULL DEFAULT '',
    detail                TEXT NOT NULL DEFAULT '{}',
    at                    BIGINT NOT NULL
);
CREATE INDEX events_by_application ON application_events (application_id, seq);

CREATE TABLE ledger_accounts (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('deposit_held', 'receivable', 'refunds_in_flight',
                              'fee_revenue', 'channel_clearing')),
    owner                 TEXT NOT NULL,
    debits_pending        BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted         BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending       BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted        BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- debits_must_not_exceed_credits: refunded + in flight + deducted <= collected.
    CHECK (kind <> 'deposit_held' OR debits_pending + debits_posted <= credits_posted)
);

CREATE TABLE ledger_transfers (
    id                    TEXT PRIMARY KEY,
    debit_account_id      TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    code                  TEXT NOT NULL CHECK (code IN ('deposit_collected', 'charge_accrued', 'charge_settled',
                              'refund', 'refund_fee', 'refund_deduction', 'payout_sent')),
    created_pending       BIGINT NOT NULL CHECK (created_pending IN (0, 1)),
    state                 TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    reference             TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    resolved_at           BIGINT,
    CHECK (debit_account_id <> credit_account_id),
    CHECK (created_pending = 1 OR state = 'posted')
);
CREATE INDEX transfers_by_reference ON ledger_transfers (reference);
CREATE INDEX transfers_by_debit ON ledger_transfers (debit_account_id, state);
CREATE INDEX transfers_by_credit ON ledger_transfers (credit_account_id, state);

CREATE TABLE attachments (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('purchase_voucher', 'usage_record', 'id_photo', 'other')),
    content_type          TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size                  BIGINT NOT NULL CHECK (size > 0 AND size <= 10485760),
    sha256                TEXT NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE INDEX attachments_by_merchant ON attachments (merchant_id);

-- File bodies, content-addressed: one copy however many times it is uploaded.
CREATE TABLE attachment_blobs (
    sha256                TEXT PRIMARY KEY,
    content               BYTEA NOT NULL
);

CREATE TABLE application_attachments (
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    attachment_id         TEXT NOT NULL REFERENCES attachments (id),
    PRIMARY KEY (application_id, attachment_id)
);

CREATE TABLE payouts (
    id                    TEXT PRIMARY KEY,
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    attempt               BIGINT NOT NULL CHECK (attempt >= 1),
    amount_fen            BIGINT NOT NULL CHECK (amount_fen > 0),
    channel               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'unknown', 'succeeded', 'failed')),
    bank_reference        TEXT,
    failure_code          TEXT,
    failure_message       TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (application_id, attempt)
);
-- At most one payout in play per application: never two at the bank at once.
CREATE UNIQUE INDEX one_live_payout_per_application ON payouts (application_id)
    WHERE status IN ('pending', 'sent', 'unknown', 'succeeded');

CREATE TABLE idempotency_keys (
    principal             TEXT NOT NULL,
    key                   TEXT NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash          TEXT NOT NULL,
    response_status       BIGINT,
    response_body         BYTEA,
    created_at            BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);

-- The outbox and job queue: written in the same transaction as the state change it follows.
CREATE TABLE jobs (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL,
    dedupe_key            TEXT NOT NULL UNIQUE,
    payload               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts              BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at                BIGINT NOT NULL,
    locked_until          BIGINT,
    locked_by             TEXT,
    last_error            TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);

-- Append-only and hash-chained: hash = SHA-256(prev_hash | the row's fields).
CREATE TABLE audit_log (
    seq                   BIGINT PRIMARY KEY,
    at                    BIGINT NOT NULL,
    actor_role            TEXT NOT NULL,
    actor_id              TEXT NOT NULL,
    action                TEXT NOT NULL,
    entity                TEXT NOT NULL,
    entity_id             TEXT NOT NULL,
    detail                TEXT NOT NULL,
    prev_hash             TEXT NOT NULL,
    hash                  TEXT NOT NULL UNIQUE
);
-- The chain's head, one row: appenders lock it by updating it, so on either database two
-- writers can never both chain onto the same previous hash, and a deleted last row shows.
CREATE TABLE audit_head (
    id                    BIGINT PRIMARY KEY CHECK (id = 1),
    last_seq              BIGINT NOT NULL,
    last_hash             TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, 'genesis');
CREATE INDEX audit_by_entity ON audit_log (entity, entity_id, seq);
CREATE FUNCTION yajin_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION yajin_append_only();
CREATE TRIGGER application_events_append_only BEFORE UPDATE OR DELETE ON application_events
    FOR EACH ROW EXECUTE FUNCTION yajin_append_only();

-- Sessions: only the SHA-256 of the random token is stored.
CREATE TABLE sessions (
    token_hash            TEXT PRIMARY KEY,
    principal_kind        TEXT NOT NULL CHECK (principal_kind IN ('merchant', 'staff')),
    principal_id          TEXT NOT NULL,
    role                  TEXT NOT NULL,
    csrf_hash             TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    revoked_at            BIGINT
);
CREATE INDEX sessions_by_principal ON sessions (principal_kind, principal_id);

CREATE TABLE sms_codes (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    purpose               TEXT NOT NULL CHECK (purpose IN ('reset_password')),
    code_hash             TEXT NOT NULL,
    attempts              BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, purpose, created_at);

-- Counters for rate limits, in the database so that they hold across several servers.
CREATE TABLE rate_limits (
    bucket                TEXT NOT NULL,
    window_start          BIGINT NOT NULL,
    count                 BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (bucket, window_start)
);

-- "Not again before": one row per key (e.g. an SMS per phone per 60 s), across servers.
CREATE TABLE cooldowns (
    key                   TEXT PRIMARY KEY,
    until_at              BIGINT NOT NULL
);

-- What the SMS gateway was asked to send (the sandbox gateway's inbox, and a record for all).
CREATE TABLE sms_messages (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    text                  TEXT NOT NULL,
    gateway               TEXT NOT NULL,
    sent_at               BIGINT NOT NULL
);
CREATE INDEX sms_messages_by_phone ON sms_messages (phone, sent_at);

CREATE TABLE notifications (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    kind                  TEXT NOT NULL,
    title                 TEXT NOT NULL,
    body                  TEXT NOT NULL,
    application_id        TEXT,
    created_at            BIGINT NOT NULL,
    read_at               BIGINT
);
CREATE INDEX notifications_by_merchant ON notifications (merchant_id, created_at);

CREATE TABLE tickets (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    subject               TEXT NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
    status                TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    application_id        TEXT REFERENCES refund_applications (id),
    owner_staff_id        TEXT REFERENCES staff (id),
    first_response_due_at BIGINT NOT NULL,
    first_response_at     BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    closed_at             BIGINT
);
CREATE INDEX tickets_by_merchant ON tickets (merchant_id, created_at);
CREATE INDEX tickets_by_status ON tickets (status, created_at);

CREATE TABLE ticket_messages (
    id                    TEXT PRIMARY KEY,
    ticket_id             TEXT NOT NULL REFERENCES tickets (id),
    author_role           TEXT NOT NULL,
    author_id             TEXT NOT NULL,
    body                  TEXT NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    created_at            BIGINT NOT NULL
);
CREATE INDEX ticket_messages_by_ticket ON ticket_messages (ticket_id, created_at);

CREATE TABLE announcements (
    id                    TEXT PRIMARY KEY,
    title                 TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    body                  TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
    created_by            TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    published_at          BIGINT,
    withdrawn_at          BIGINT
);
