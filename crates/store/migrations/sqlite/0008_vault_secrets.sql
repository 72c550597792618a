-- Secrets that must outlive a rotation of the master (PII) key: the blind-index key, the
-- audit chain's key and its head-signing key. Each is sealed under a master key (which never
-- enters the database) and re-sealed under the new one when keys rotate, so stored indexes keep
-- matching and the audit head keeps its public key.
CREATE TABLE vault_secrets (
    purpose        TEXT PRIMARY KEY CHECK (purpose IN ('pii_index', 'audit_chain', 'audit_head')),
    secret_sealed  BLOB NOT NULL,
    key_id         TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

-- Step-up for an account under attack from many addresses: the addresses an account has
-- logged in from lately pass; any other must prove more (a merchant, an SMS code to the bound
-- phone: the new SMS purpose `login_step_up`).
CREATE TABLE login_addresses (
    kind           TEXT NOT NULL CHECK (kind IN ('merchant', 'staff')),
    identifier     TEXT NOT NULL,
    client_ip      TEXT NOT NULL,
    last_ok_at     INTEGER NOT NULL,
    PRIMARY KEY (kind, identifier, client_ip)
);
CREATE INDEX login_addresses_by_age ON login_addresses (last_ok_at);

CREATE TABLE sms_codes_0008 (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    purpose               TEXT NOT NULL CHECK (purpose IN ('reset_password', 'change_payout_card', 'unlock_identity_checks', 'login_step_up')),
    code_hash             TEXT NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
);
INSERT INTO sms_codes_0008 SELECT id, phone, purpose, code_hash, attempts, created_at, expires_at, consumed_at FROM sms_codes;
DROP TABLE sms_codes;
ALTER TABLE sms_codes_0008 RENAME TO sms_codes;
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, purpose, created_at);

-- Where each background job has got to: `evaluate` keeps the last usage record it looked at,
-- so each run reads only what arrived since (with an overlap for writers that lag).
CREATE TABLE job_cursors (
    name           TEXT PRIMARY KEY,
    position       TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Reminders of an activation window, each sent once: seven days before it closes, and when it
-- has closed with the target not met.
ALTER TABLE terminals ADD COLUMN window_closing_told_at INTEGER;
ALTER TABLE terminals ADD COLUMN window_closed_told_at INTEGER;
