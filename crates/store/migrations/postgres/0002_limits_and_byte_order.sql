-- 0002: ledger accounts carry their own limit; ids and SNs that cursors compare sort byte-wise.

-- A ledger account says whether its debits may exceed its credits (TigerBeetle's
-- debits_must_not_exceed_credits), instead of the SQL knowing which kinds are limited.
ALTER TABLE ledger_accounts ADD COLUMN debits_must_not_exceed_credits BIGINT NOT NULL DEFAULT 0
    CHECK (debits_must_not_exceed_credits IN (0, 1));
UPDATE ledger_accounts SET debits_must_not_exceed_credits = 1 WHERE kind = 'deposit_held';
ALTER TABLE ledger_accounts ALTER COLUMN debits_must_not_exceed_credits DROP DEFAULT;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_limit
    CHECK (debits_must_not_exceed_credits = 0 OR debits_pending + debits_posted <= credits_posted);

-- Paging compares these with < and >: under a database collation such as en-US, punctuation
-- ('_', '-') sorts differently from its bytes, and pages could skip or repeat rows. "C" is
-- byte order, which is what SQLite's BINARY does.
ALTER TABLE refund_applications ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE tickets ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE outstanding_items ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE usage_transactions ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE terminals ALTER COLUMN sn TYPE TEXT COLLATE "C";
