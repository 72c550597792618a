-- 0002: ledger accounts carry their own limit (SQLite already compares text byte-wise).
--
-- A changed CHECK means a rebuilt table on SQLite: the migrator runs this with foreign keys
-- off and checks them (PRAGMA foreign_key_check) before it commits, as SQLite's ALTER TABLE
-- documentation prescribes.

CREATE TABLE ledger_accounts_0002 (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('deposit_held', 'receivable', 'refunds_in_flight',
                              'fee_revenue', 'channel_clearing')),
    owner                 TEXT NOT NULL,
    debits_pending        INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted         INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending       INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted        INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- TigerBeetle's debits_must_not_exceed_credits, stored with the account.
    debits_must_not_exceed_credits INTEGER NOT NULL CHECK (debits_must_not_exceed_credits IN (0, 1)),
    CHECK (debits_must_not_exceed_credits = 0 OR debits_pending + debits_posted <= credits_posted)
);
INSERT INTO ledger_accounts_0002 (id, kind, owner, debits_pending, debits_posted, credits_pending, credits_posted,
        debits_must_not_exceed_credits)
    SELECT id, kind, owner, debits_pending, debits_posted, credits_pending, credits_posted,
        CASE WHEN kind = 'deposit_held' THEN 1 ELSE 0 END
    FROM ledger_accounts;
DROP TABLE ledger_accounts;
ALTER TABLE ledger_accounts_0002 RENAME TO ledger_accounts;
