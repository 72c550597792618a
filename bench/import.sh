#!/usr/bin/env bash
# Bulk import of usage transactions against the databases' own bulk loaders, same file, same
# machine, same sitting:
#   yajin import transactions FILE   vs   sqlite3 .import (SQLite)   and   COPY (PostgreSQL).
# Usage: bench/import.sh [ROWS] [--postgres]     (default 1,000,000 rows; SQLite only)
# The data set comes from a fixed seed; nothing large is committed. Needs sqlite3 (and psql for
# --postgres) on PATH; builds yajin in release mode.
set -euo pipefail
rows=${1:-1000000}
postgres=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# YAJIN_BIN=PATH measures that build instead (another commit's, to compare in one sitting).
yajin=${YAJIN_BIN:-$here/target/release/yajin}
[ -n "${YAJIN_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"

# The data: the demo's terminals, a reference per row, seeded.
python3 - "$rows" "$work/usage.csv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261125)
sns = ["DEMO-AUTO-01", "DEMO-PROGRESS-01", "DEMO-REVIEW-01", "DEMO-OWES-01", "DEMO-EXPIRED-01", "DEMO-B-01"]
kinds = ["credit_card", "debit_card", "qr_code", "nfc"]
with open(path, "w") as f:
    f.write("ref,sn,amount_fen,fee_fen,kind,occurred_at\n")
    for i in range(rows):
        day = 1 + rng.randrange(28)
        f.write(f"BENCH-{i:09d},{rng.choice(sns)},{rng.randrange(100, 5_000_000)},{rng.randrange(0, 100)},"
                f"{rng.choice(kinds)},2026-10-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z\n")
PY
echo "data: $rows rows, $(du -h "$work/usage.csv" | cut -f1)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

sqlite_run() {
  local dir="$work/sqlite-$1"
  mkdir -p "$dir"
  timeout 30 "$yajin" serve --demo --data-dir "$dir" --listen 127.0.0.1:0 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ -s "$dir/yajin.db" ] && sqlite3 "$dir/yajin.db" "SELECT 1 FROM terminals LIMIT 1" >/dev/null 2>&1 && break; sleep 0.2; done
  sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true
  local t0; t0=$(now)
  "$yajin" import --data-dir "$dir" transactions "$work/usage.csv" --json > "$dir/summary.json" 2>/dev/null
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc
}

sqlite_baseline() {
  local db="$work/baseline-$1.db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
    CREATE TABLE usage_raw (ref TEXT, sn TEXT, amount_fen INTEGER, fee_fen INTEGER, kind TEXT, occurred_at TEXT);" >/dev/null
  local t0; t0=$(now)
  sqlite3 "$db" ".import --csv --skip 1 $work/usage.csv usage_raw"
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc
}

# The same loader into a table with the keys ours has to keep: the natural key (unique) and the
# (terminal, time) index. Not the target's baseline, which loads a bare table; it shows how
# much of the gap is the indexes themselves.
sqlite_keyed() {
  local db="$work/keyed-$1.db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
    CREATE TABLE usage_raw (ref TEXT UNIQUE, sn TEXT, amount_fen INTEGER, fee_fen INTEGER, kind TEXT, occurred_at TEXT);
    CREATE INDEX usage_raw_by_sn ON usage_raw (sn, occurred_at);" >/dev/null
  local t0; t0=$(now)
  sqlite3 "$db" ".import --csv --skip 1 $work/usage.csv usage_raw"
  local t1; t1=$(now)
  echo "$t1 - $t0" | bc
}

ours=(); base=(); keyed=()
for run in 1 2 3; do
  base+=("$(sqlite_baseline "$run")")
  keyed+=("$(sqlite_keyed "$run")")
  ours+=("$(sqlite_run "$run")")
done
b=$(printf '%s\n' "${base[@]}" | median); o=$(printf '%s\n' "${ours[@]}" | median)
k=$(printf '%s\n' "${keyed[@]}" | median)
echo "SQLite: sqlite3 .import ${base[*]} s (median $b s, $(echo "$rows / $b" | bc) rows/s)"
echo "SQLite: sqlite3 .import into a table with the same keys ${keyed[*]} s (median $k s, $(echo "$rows / $k" | bc) rows/s)"
echo "SQLite: yajin import    ${ours[*]} s (median $o s, $(echo "$rows / $o" | bc) rows/s)"
echo "SQLite: ratio yajin/baseline throughput = $(echo "scale=2; $b / $o" | bc)"

if [ "$postgres" = "--postgres" ]; then
  pg="postgres://postgres@127.0.0.1:5432"
  ours=(); base=(); keyed=()
  for run in 1 2 3; do
    db="yajin_bench_import_$run"
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    psql -q "$pg/$db" -c "CREATE TABLE usage_raw (ref TEXT, sn TEXT, amount_fen BIGINT, fee_fen BIGINT, kind TEXT, occurred_at TEXT)" >/dev/null
    t0=$(now); psql -q "$pg/$db" -c "\\copy usage_raw FROM '$work/usage.csv' CSV HEADER" >/dev/null; t1=$(now)
    base+=("$(echo "$t1 - $t0" | bc)")
    psql -q "$pg/$db" -c "CREATE TABLE usage_keyed (ref TEXT UNIQUE, sn TEXT, amount_fen BIGINT, fee_fen BIGINT, kind TEXT, occurred_at TEXT)" \
      -c "CREATE INDEX ON usage_keyed (sn, occurred_at)" >/dev/null
    t0=$(now); psql -q "$pg/$db" -c "\\copy usage_keyed FROM '$work/usage.csv' CSV HEADER" >/dev/null; t1=$(now)
    keyed+=("$(echo "$t1 - $t0" | bc)")
    psql -q "$pg/postgres" -c "DROP DATABASE $db" -c "CREATE DATABASE $db" >/dev/null
    dir="$work/pg-$run"; mkdir -p "$dir"
    timeout 30 "$yajin" serve --demo --data-dir "$dir" --database-url "$pg/$db" --listen 127.0.0.1:0 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do psql -tA "$pg/$db" -c "SELECT count(*) FROM terminals" 2>/dev/null | grep -q '^[1-9]' && break; sleep 0.2; done
    sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true
    t0=$(now); "$yajin" import --data-dir "$dir" --database-url "$pg/$db" transactions "$work/usage.csv" --json >/dev/null 2>&1; t1=$(now)
    ours+=("$(echo "$t1 - $t0" | bc)")
    psql -q "$pg/postgres" -c "DROP DATABASE $db" >/dev/null
  done
  b=$(printf '%s\n' "${base[@]}" | median); o=$(printf '%s\n' "${ours[@]}" | median)
  k=$(printf '%s\n' "${keyed[@]}" | median)
  echo "PostgreSQL: COPY         ${base[*]} s (median $b s, $(echo "$rows / $b" | bc) rows/s)"
  echo "PostgreSQL: COPY into a table with the same keys ${keyed[*]} s (median $k s, $(echo "$rows / $k" | bc) rows/s)"
  echo "PostgreSQL: yajin import ${ours[*]} s (median $o s, $(echo "$rows / $o" | bc) rows/s)"
  echo "PostgreSQL: ratio yajin/baseline throughput = $(echo "scale=2; $b / $o" | bc)"
fi
