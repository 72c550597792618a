-- Yajin schema, SQLite dialect. Times are INTEGER milliseconds since the Unix epoch (UTC);
-- money is INTEGER fen; flags are INTEGER 0/1; ids are TEXT with a type prefix.
-- The PostgreSQL twin (migrations/postgres/0001_initial.sql) must stay equivalent.

CREATE TABLE merchants (
    id                    TEXT PRIMARY KEY,
    merchant_no           TEXT NOT NULL UNIQUE CHECK (length(merchant_no) = 15),
    name                  TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone                 TEXT NOT NULL UNIQUE CHECK (length(phone) = 11),
    password_hash         TEXT NOT NULL,
    -- PII sealed with XChaCha20-Poly1305 (row id + column as associated data), the key's id,
    -- an HMAC blind index for equality checks, and what may be shown in clear.
    id_card_sealed        BLOB NOT NULL,
    id_card_key_id        TEXT NOT NULL,
    id_card_index         TEXT NOT NULL,
    id_card_last4         TEXT NOT NULL CHECK (length(id_card_last4) = 4),
    id_card_first3        TEXT NOT NULL CHECK (length(id_card_first3) = 3),
    bank_card_sealed      BLOB NOT NULL,
    bank_card_key_id      TEXT NOT NULL,
    bank_card_index       TEXT NOT NULL,
    bank_card_first4      TEXT NOT NULL CHECK (length(bank_card_first4) = 4),
    bank_card_last4       TEXT NOT NULL CHECK (length(bank_card_last4) = 4),
    bank_name             TEXT NOT NULL,
    risk_frozen           INTEGER NOT NULL DEFAULT 0 CHECK (risk_frozen IN (0, 1)),
    failed_login_count    INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until          INTEGER,
    created_at            INTEGER NOT NULL
);

CREATE TABLE staff (
    id                    TEXT PRIMARY KEY,
    username              TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name          TEXT NOT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('reviewer', 'approver', 'finance', 'admin', 'support')),
    password_hash         TEXT NOT NULL,
    active                INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_login_count    INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until          INTEGER,
    created_at            INTEGER NOT NULL
);

-- Versioned deposit plans; `body` is the JSON of yajin_core::plan::DepositPlan.
CREATE TABLE deposit_plans (
    id                    TEXT PRIMARY KEY,
    code                  TEXT NOT NULL,
    version               INTEGER NOT NULL CHECK (version >= 1),
    name                  TEXT NOT NULL,
    body                  TEXT NOT NULL,
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    UNIQUE (code, version)
);

CREATE TABLE terminals (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    sn                    TEXT NOT NULL UNIQUE CHECK (length(sn) BETWEEN 1 AND 50),
    terminal_id           TEXT NOT NULL UNIQUE CHECK (length(terminal_id) = 8),
    model                 TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'terminated')),
    plan_id               TEXT NOT NULL REFERENCES deposit_plans (id),
    -- The plan version in force at activation, copied: later versions never move the goalposts.
    plan_snapshot         TEXT NOT NULL,
    bound_at              INTEGER NOT NULL,
    activated_at          INTEGER,
    terminated_at         INTEGER,
    device_returned_at    INTEGER,
    -- An activation plan's counting window, derived from the snapshot when activated, so one
    -- query can sum the counted volume of all of a merchant's terminals.
    count_until           INTEGER,
    -- When the merchant was told the activation target was met (told once).
    target_reached_at     INTEGER,
    created_at            INTEGER NOT NULL,
    CHECK (status <> 'terminated' OR terminated_at IS NOT NULL)
);
CREATE INDEX terminals_by_merchant ON terminals (merchant_id, sn);

-- The deposit collected for a terminal; its money lives in the ledger (deposit_held:<terminal>).
CREATE TABLE deposits (
    id                    TEXT PRIMARY KEY,
    terminal_id           TEXT NOT NULL UNIQUE REFERENCES terminals (id),
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    -- The original route the refund goes back by: a card or a wallet, and its reference.
    route                 TEXT NOT NULL CHECK (route IN ('card', 'wallet')),
    route_ref             TEXT NOT NULL,
    collected_at          INTEGER NOT NULL
);

CREATE TABLE usage_transactions (
    id                    TEXT PRIMARY KEY,
    terminal_id           TEXT NOT NULL REFERENCES terminals (id),
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    fee_fen               INTEGER NOT NULL CHECK (fee_fen >= 0),
    kind                  TEXT NOT NULL CHECK (kind IN ('credit_card', 'debit_card', 'qr_code', 'nfc')),
    occurred_at           INTEGER NOT NULL
);
CREATE INDEX usage_by_terminal ON usage_transactions (terminal_id, occurred_at);

CREATE TABLE outstanding_items (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    terminal_id           TEXT REFERENCES terminals (id),
    kind                  TEXT NOT NULL CHECK (kind IN ('service_fee', 'sim_fee', 'chargeback', 'negative_settlement')),
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    due_at                INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('open', 'settled', 'deducted')),
    settled_at            INTEGER,
    application_id        TEXT,
    created_at            INTEGER NOT NULL,
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
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    fee_fen               INTEGER NOT NULL CHECK (fee_fen >= 0),
    deducted_fen          INTEGER NOT NULL CHECK (deducted_fen >= 0),
    net_refund_fen        INTEGER NOT NULL CHECK (net_refund_fen >= 0),
    deduct_outstanding    INTEGER NOT NULL CHECK (deduct_outstanding IN (0, 1)),
    bank_card_sealed      BLOB NOT NULL,
    bank_card_key_id      TEXT NOT NULL,
    bank_card_first4      TEXT NOT NULL,
    bank_card_last4       TEXT NOT NULL,
    four_eyes_required    INTEGER NOT NULL CHECK (four_eyes_required IN (0, 1)),
    claimed_by            TEXT REFERENCES staff (id),
    first_approver        TEXT,
    second_approver       TEXT,
    reject_reason_code    TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
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
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    from_status           TEXT,
    to_status             TEXT NOT NULL,
    actor_role            TEXT NOT NULL,
    actor_id              TEXT NOT NULL,
    note                  TEXT NOT NULL DEFAULT '',
    detail                TEXT NOT NULL DEFAULT '{}',
    at                    INTEGER NOT NULL
);
CREATE INDEX events_by_application ON application_events (application_id, seq);

CREATE TABLE ledger_accounts (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('deposit_held', 'receivable', 'refunds_in_flight',
                              'fee_revenue', 'channel_clearing')),
    owner                 TEXT NOT NULL,
    debits_pending        INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted         INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending       INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted        INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- debits_must_not_exceed_credits: refunded + in flight + deducted <= collected.
    CHECK (kind <> 'deposit_held' OR debits_pending + debits_posted <= credits_posted)
);

CREATE TABLE ledger_transfers (
    id                    TEXT PRIMARY KEY,
    debit_account_id      TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    code                  TEXT NOT NULL CHECK (code IN ('deposit_collected', 'charge_accrued', 'charge_settled',
                              'refund', 'refund_fee', 'refund_deduction', 'payout_sent')),
    created_pending       INTEGER NOT NULL CHECK (created_pending IN (0, 1)),
    state                 TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    reference             TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    resolved_at           INTEGER,
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
    size                  INTEGER NOT NULL CHECK (size > 0 AND size <= 10485760),
    sha256                TEXT NOT NULL,
    created_at            INTEGER NOT NULL
);
CREATE INDEX attachments_by_merchant ON attachments (merchant_id);

-- File bodies, content-addressed: one copy however many times it is uploaded.
CREATE TABLE attachment_blobs (
    sha256                TEXT PRIMARY KEY,
    content               BLOB NOT NULL
);

CREATE TABLE application_attachments (
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    attachment_id         TEXT NOT NULL REFERENCES attachments (id),
    PRIMARY KEY (application_id, attachment_id)
);

CREATE TABLE payouts (
    id                    TEXT PRIMARY KEY,
    application_id        TEXT NOT NULL REFERENCES refund_applications (id),
    attempt               INTEGER NOT NULL CHECK (attempt >= 1),
    amount_fen            INTEGER NOT NULL CHECK (amount_fen > 0),
    channel               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'unknown', 'succeeded', 'failed')),
    bank_reference        TEXT,
    failure_code          TEXT,
    failure_message       TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    UNIQUE (application_id, attempt)
);
-- At most one payout in play per application: never two at the bank at once.
CREATE UNIQUE INDEX one_live_payout_per_application ON payouts (application_id)
    WHERE status IN ('pending', 'sent', 'unknown', 'succeeded');

CREATE TABLE idempotency_keys (
    principal             TEXT NOT NULL,
    key                   TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash          TEXT NOT NULL,
    response_status       INTEGER,
    response_body         BLOB,
    created_at            INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);

-- The outbox and job queue: written in the same transaction as the state change it follows.
CREATE TABLE jobs (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL,
    dedupe_key            TEXT NOT NULL UNIQUE,
    payload               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at                INTEGER NOT NULL,
    locked_until          INTEGER,
    locked_by             TEXT,
    last_error            TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);

-- Append-only and hash-chained: hash = SHA-256(prev_hash | the row's fields).
CREATE TABLE audit_log (
    seq                   INTEGER PRIMARY KEY,
    at                    INTEGER NOT NULL,
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
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq              INTEGER NOT NULL,
    last_hash             TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, 'genesis');
CREATE INDEX audit_by_entity ON audit_log (entity, entity_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER application_events_no_update BEFORE UPDATE ON application_events
    BEGIN SELECT RAISE(ABORT, 'application_events is append-only'); END;
CREATE TRIGGER application_events_no_delete BEFORE DELETE ON application_events
    BEGIN SELECT RAISE(ABORT, 'application_events is append-only'); END;

-- Sessions: only the SHA-256 of the random token is stored.
CREATE TABLE sessions (
    token_hash            TEXT PRIMARY KEY,
    principal_kind        TEXT NOT NULL CHECK (principal_kind IN ('merchant', 'staff')),
    principal_id          TEXT NOT NULL,
    role                  TEXT NOT NULL,
    csrf_hash             TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    revoked_at            INTEGER
);
CREATE INDEX sessions_by_principal ON sessions (principal_kind, principal_id);

CREATE TABLE sms_codes (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    purpose               TEXT NOT NULL CHECK (purpose IN ('reset_password')),
    code_hash             TEXT NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, purpose, created_at);

-- Counters for rate limits, in the database so that they hold across several servers.
CREATE TABLE rate_limits (
    bucket                TEXT NOT NULL,
    window_start          INTEGER NOT NULL,
    count                 INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (bucket, window_start)
);

-- "Not again before": one row per key (e.g. an SMS per phone per 60 s), across servers.
CREATE TABLE cooldowns (
    key                   TEXT PRIMARY KEY,
    until_at              INTEGER NOT NULL
);

-- What the SMS gateway was asked to send (the sandbox gateway's inbox, and a record for all).
CREATE TABLE sms_messages (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    text                  TEXT NOT NULL,
    gateway               TEXT NOT NULL,
    sent_at               INTEGER NOT NULL
);
CREATE INDEX sms_messages_by_phone ON sms_messages (phone, sent_at);

CREATE TABLE notifications (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    kind                  TEXT NOT NULL,
    title                 TEXT NOT NULL,
    body                  TEXT NOT NULL,
    application_id        TEXT,
    created_at            INTEGER NOT NULL,
    read_at               INTEGER
);
CREATE INDEX notifications_by_merchant ON notifications (merchant_id, created_at);

CREATE TABLE tickets (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    subject               TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    status                TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    application_id        TEXT REFERENCES refund_applications (id),
    owner_staff_id        TEXT REFERENCES staff (id),
    first_response_due_at INTEGER NOT NULL,
    first_response_at     INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    closed_at             INTEGER
);
CREATE INDEX tickets_by_merchant ON tickets (merchant_id, created_at);
CREATE INDEX tickets_by_status ON tickets (status, created_at);

CREATE TABLE ticket_messages (
    id                    TEXT PRIMARY KEY,
    ticket_id             TEXT NOT NULL REFERENCES tickets (id),
    author_role           TEXT NOT NULL,
    author_id             TEXT NOT NULL,
    body                  TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    created_at            INTEGER NOT NULL
);
CREATE INDEX ticket_messages_by_ticket ON ticket_messages (ticket_id, created_at);

CREATE TABLE announcements (
    id                    TEXT PRIMARY KEY,
    title                 TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body                  TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    published_at          INTEGER,
    withdrawn_at          INTEGER
);
