#!/usr/bin/env bash
# Target evaluation at scale: TERMINALS terminals (default 1,000,000) on merchant A's
# activation plan, RECORDS usage records each (default 20, so 20M records), generated straight
# into a demo database with SQL (a fixed pattern: terminal n sends 20 card payments; one
# terminal in PER_REACHED, default 1,000, sends enough to meet its ¥10,000 target), then
#   yajin evaluate     (every record read once; each terminal's facts; the ones over target told)
# timed, with its peak RSS, and run again to show the second run does nothing.
# On SQLite by default; with --postgres (anywhere among the arguments) on a fresh database on
# 127.0.0.1:5432, generated with generate_series in chunks of 100,000 terminals.
# Usage: bench/evaluate.sh [TERMINALS] [RECORDS] [PER_REACHED] [--postgres]
# Needs sqlite3 (psql for --postgres) and GNU time.
set -euo pipefail
umask 077
source "$(dirname "$0")/postgres_flag.sh"
terminals=${args[0]:-1000000}
per=${args[1]:-20}
per_reached=${args[2]:-1000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# YAJIN_BIN=PATH measures that build instead (another commit's, to compare in one sitting).
yajin=${YAJIN_BIN:-$here/target/release/yajin}
[ -n "${YAJIN_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"
now() { date +%s.%N; }

if [ -n "$postgres" ]; then
# A demo database (merchant A, its plans and terminals) on PostgreSQL, then the same data as
# on SQLite, made per chunk of terminals so no statement holds millions of rows at once.
pg="postgres://postgres@127.0.0.1:5432"
db="yajin_bench_evaluate"
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
trap 'rm -rf "$work"; psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
timeout 30 "$yajin" serve --demo --data-dir "$work" --database-url "$pg/$db" --listen 127.0.0.1:0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  psql -tA "$pg/$db" -c "SELECT 1 FROM terminals WHERE sn = 'DEMO-PROGRESS-01'" 2>/dev/null | grep -q 1 && break
  sleep 0.2
done
sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true

t0=$(now)
chunk=100000
for ((from = 0; from < terminals; from += chunk)); do
  to=$(( from + chunk < terminals ? from + chunk : terminals ))
  psql -q -v ON_ERROR_STOP=1 "$pg/$db" <<SQL
SET synchronous_commit = off;
BEGIN;
CREATE TEMP TABLE seq ON COMMIT DROP AS SELECT n, 'tm_eval' || lpad(n::text, 9, '0') AS id FROM generate_series($from, $to - 1) n;
INSERT INTO terminals (id, merchant_id, sn, terminal_id, model, status, plan_id, plan_snapshot, bound_at,
    activated_at, count_until, created_at)
  SELECT seq.id, t.merchant_id, 'EVAL-' || lpad(n::text, 9, '0'), 'E' || lpad(n::text, 7, '0'), t.model, t.status,
         t.plan_id, t.plan_snapshot, t.bound_at, t.activated_at, t.count_until, t.created_at
  FROM seq, terminals t WHERE t.sn = 'DEMO-PROGRESS-01';
INSERT INTO ledger_accounts (id, kind, owner, credits_posted, debits_must_not_exceed_credits)
  SELECT 'deposit_held:' || seq.id, 'deposit_held', seq.id, 9900, 1 FROM seq;
INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state,
    reference, created_at)
  SELECT seq.id || ':deposit', 'channel_clearing', 'deposit_held:' || seq.id, 9900, 'deposit_collected', 0, 'posted',
         seq.id, t.created_at
  FROM seq, terminals t WHERE t.sn = 'DEMO-PROGRESS-01';
UPDATE ledger_accounts SET debits_posted = debits_posted + 9900 * ($to - $from) WHERE id = 'channel_clearing';
INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)
  SELECT 'ut_eval' || lpad((seq.n * $per + k)::text, 12, '0'), seq.id,
         CASE WHEN seq.n % $per_reached = 0 THEN 100000 ELSE 1000 END, 6,
         CASE k % 2 WHEN 0 THEN 'credit_card' ELSE 'debit_card' END,
         t.activated_at + 3600000 * (k + 1), 'EVAL-' || lpad((seq.n * $per + k)::text, 12, '0')
  FROM seq, generate_series(0, $per - 1) k, terminals t WHERE t.sn = 'DEMO-PROGRESS-01' ORDER BY 1;
COMMIT;
SQL
done
psql -q "$pg/$db" -c "VACUUM ANALYZE" >/dev/null
t1=$(now)
echo "generated $terminals terminals, $((terminals * per)) usage records in $(echo "$t1 - $t0" | bc) s ($(psql -tA "$pg/$db" -c "SELECT pg_size_pretty(pg_database_size('$db'))"))"
database=(--database-url "$pg/$db")
query() { psql -tA "$pg/$db" -c "$1"; }

else
# A demo database (merchant A, its plans and terminals).
timeout 30 "$yajin" serve --demo --data-dir "$work" --listen 127.0.0.1:0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  sqlite3 "$work/yajin.db" "SELECT 1 FROM terminals WHERE sn = 'DEMO-PROGRESS-01'" 2>/dev/null | grep -q 1 && break
  sleep 0.2
done
sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true

# Terminals cloned from DEMO-PROGRESS-01 (activated, counting window open, a ¥99 deposit held
# in the ledger), usage inside the window: ¥10 a record, or ¥1,000 for the terminals meant to
# reach the target.
t0=$(now)
sqlite3 "$work/yajin.db" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
CREATE TEMP TABLE seq AS
  WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < $terminals - 1) SELECT n FROM s;
INSERT INTO terminals (id, merchant_id, sn, terminal_id, model, status, plan_id, plan_snapshot, bound_at,
    activated_at, count_until, created_at)
  SELECT printf('tm_eval%09d', n), t.merchant_id, printf('EVAL-%09d', n), printf('E%07d', n), t.model, t.status,
         t.plan_id, t.plan_snapshot, t.bound_at, t.activated_at, t.count_until, t.created_at
  FROM seq, terminals t WHERE t.sn = 'DEMO-PROGRESS-01';
INSERT INTO ledger_accounts (id, kind, owner, credits_posted, debits_must_not_exceed_credits)
  SELECT 'deposit_held:' || printf('tm_eval%09d', n), 'deposit_held', printf('tm_eval%09d', n), 9900, 1 FROM seq;
INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_fen, code, created_pending, state,
    reference, created_at)
  SELECT printf('tm_eval%09d', n) || ':deposit', 'channel_clearing', 'deposit_held:' || printf('tm_eval%09d', n),
         9900, 'deposit_collected', 0, 'posted', printf('tm_eval%09d', n), t.created_at
  FROM seq, terminals t WHERE t.sn = 'DEMO-PROGRESS-01';
UPDATE ledger_accounts SET debits_posted = debits_posted + 9900 * $terminals WHERE id = 'channel_clearing';
CREATE TEMP TABLE per AS
  WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < $per - 1) SELECT k FROM s;
INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)
  SELECT printf('ut_eval%012d', seq.n * $per + per.k), printf('tm_eval%09d', seq.n),
         CASE WHEN seq.n % $per_reached = 0 THEN 100000 ELSE 1000 END, 6,
         CASE per.k % 2 WHEN 0 THEN 'credit_card' ELSE 'debit_card' END,
         t.activated_at + 3600000 * (per.k + 1), printf('EVAL-%012d', seq.n * $per + per.k)
  FROM seq, per, terminals t WHERE t.sn = 'DEMO-PROGRESS-01' ORDER BY 1;
SQL
t1=$(now)
echo "generated $terminals terminals, $((terminals * per)) usage records in $(echo "$t1 - $t0" | bc) s ($(du -h "$work/yajin.db" | cut -f1))"
database=()
query() { sqlite3 "$work/yajin.db" "$1"; }
fi

for run in first second; do
  t0=$(now)
  /usr/bin/time -f "%M" -o "$work/rss" "$yajin" evaluate --data-dir "$work" "${database[@]}" --json > "$work/$run.json"
  t1=$(now)
  echo "$run run: $(echo "$t1 - $t0" | bc) s, $(cat "$work/$run.json"), peak RSS $(($(cat "$work/rss") / 1024)) MiB"
done
echo "generated terminals marked as over their target: $(query "SELECT count(*) FROM terminals WHERE sn LIKE 'EVAL-%' AND target_reached_at IS NOT NULL") (expected $(( (terminals + per_reached - 1) / per_reached )))"
echo "merchants told a target was met: $(query "SELECT count(*) FROM notifications WHERE kind = 'target_reached'")"
