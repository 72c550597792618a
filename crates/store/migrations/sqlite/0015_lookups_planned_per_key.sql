-- Nothing changes on SQLite, whose planner takes the index for an equality on its first column
-- whatever the data. On PostgreSQL this migration tells the planner that a ledger account's
-- transfers and a merchant's terminals are few, so that lookups by a key it cannot see in
-- advance are planned as lookups (see there). It exists so that both databases keep one numbering.
SELECT 1;
