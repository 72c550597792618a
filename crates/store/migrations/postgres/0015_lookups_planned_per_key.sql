-- Lookups by a key the planner cannot see in advance: a deposit account's transfers, by an id
-- made per terminal ('deposit_held:' || t.id); a merchant's terminals, on the hot read
-- connections, which keep one plan for every merchant (`plan_cache_mode = force_generic_plan`).
-- For such a key PostgreSQL expects (rows / distinct values) rows, and a young install skews
-- both counts of distinct values:
-- - until refunds are paid nearly every transfer debits one account (channel_clearing: each
--   deposit collected), so ANALYZE counts one distinct debit account and the planner expected
--   every transfer to match: each terminal's facts read the whole ledger (1M terminals with
--   deposits: 126 s for the facts of 1,000 terminals, against 19 ms planned by key);
-- - one merchant may hold nearly every terminal, and My Devices' plan then walked the SN index
--   past that merchant's terminals to find another merchant's few (1M terminals: 0.87 s for a
--   page of one terminal; planned by key, thousands of such pages a second).
-- Here each column is declared to hold what such a lookup finds: about one account for every two
-- transfers, and a merchant for every ten terminals. A lookup of a named value (channel_clearing,
-- a merchant written in the statement) is still estimated from ANALYZE's most common values, so
-- no other plan changes. ANALYZE applies it now.
ALTER TABLE ledger_transfers ALTER COLUMN debit_account_id SET (n_distinct = -0.5);
ALTER TABLE ledger_transfers ALTER COLUMN credit_account_id SET (n_distinct = -0.5);
ALTER TABLE terminals ALTER COLUMN merchant_id SET (n_distinct = -0.1);
ANALYZE ledger_transfers;
ANALYZE terminals;
