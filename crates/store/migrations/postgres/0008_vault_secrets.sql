-- Secrets that must outlive a rotation of the master (PII) key: the blind-index key, the
-- audit chain's key and its head-signing key. Each is sealed under a master key (which never
-- enters the database) and re-sealed under the new one when keys rotate, so stored indexes keep
-- matching and the audit head keeps its public key.
CREATE TABLE vault_secrets (
    purpose        TEXT PRIMARY KEY CHECK (purpose IN ('pii_index', 'audit_chain', 'audit_head')),
    secret_sealed  BYTEA NOT NULL,
    key_id         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Step-up for an account under attack from many addresses: the addresses an account has
-- logged in from lately pass; any other must prove more (a merchant, an SMS code to the bound
-- phone: the new SMS purpose `login_step_up`).
CREATE TABLE login_addresses (
    kind           TEXT NOT NULL CHECK (kind IN ('merchant', 'staff')),
    identifier     TEXT NOT NULL,
    client_ip      TEXT NOT NULL,
    last_ok_at     BIGINT NOT NULL,
    PRIMARY KEY (kind, identifier, client_ip)
);
CREATE INDEX login_addresses_by_age ON login_addresses (last_ok_at);

ALTER TABLE sms_codes DROP CONSTRAINT sms_codes_purpose_check;
ALTER TABLE sms_codes ADD CONSTRAINT sms_codes_purpose_check
    CHECK (purpose IN ('reset_password', 'change_payout_card', 'unlock_identity_checks', 'login_step_up'));

-- Where each background job has got to: `evaluate` keeps the last usage record it looked at,
-- so each run reads only what arrived since (with an overlap for writers that lag).
CREATE TABLE job_cursors (
    name           TEXT PRIMARY KEY,
    position       TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Reminders of an activation window, each sent once: seven days before it closes, and when it
-- has closed with the target not met.
ALTER TABLE terminals ADD COLUMN window_closing_told_at BIGINT;
ALTER TABLE terminals ADD COLUMN window_closed_told_at BIGINT;
