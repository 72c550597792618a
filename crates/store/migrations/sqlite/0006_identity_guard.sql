-- Guessing an ID or card number through preview and submit is limited: each well-formed
-- mismatch is recorded; five in 24 hours lock the merchant's identity checks until an SMS code
-- to the bound phone unlocks them (a new SMS purpose).
CREATE TABLE identity_misses (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    at                    INTEGER NOT NULL
);
CREATE INDEX identity_misses_by_merchant ON identity_misses (merchant_id, at);

CREATE TABLE sms_codes_0006 (
    id                    TEXT PRIMARY KEY,
    phone                 TEXT NOT NULL,
    purpose               TEXT NOT NULL CHECK (purpose IN ('reset_password', 'change_payout_card', 'unlock_identity_checks')),
    code_hash             TEXT NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
);
INSERT INTO sms_codes_0006 SELECT id, phone, purpose, code_hash, attempts, created_at, expires_at, consumed_at FROM sms_codes;
DROP TABLE sms_codes;
ALTER TABLE sms_codes_0006 RENAME TO sms_codes;
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, purpose, created_at);
