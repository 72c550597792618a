#!/usr/bin/env bash
# Bulk import of usage transactions against the databases' own bulk loaders, same file, same
# machine, same sitting:
#   yajin import transactions FILE   vs   sqlite3 .import (SQLite)   and   COPY (PostgreSQL).
# Usage: bench/import.sh [ROWS] [--postgres]     (default 1,000,000 rows; SQLite only)
# IMPORT_KIND=terminals loads terminals with their deposits instead (merchants A and B, both
# plans, every status), IMPORT_KIND=outstanding-items charges owed on the demo's terminals,
# IMPORT_KIND=merchants merchants (each hashing its password, Argon2id),
# against the same loaders of the same file.
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

kind=${IMPORT_KIND:-transactions}
case "$kind" in
  transactions)
    columns="ref TEXT, sn TEXT, amount_fen BIGINT, fee_fen BIGINT, kind TEXT, occurred_at TEXT"
    keys=("ref" "sn, occurred_at") ;;
  terminals)
    columns="merchant_no TEXT, sn TEXT, terminal_id TEXT, model TEXT, plan_code TEXT, status TEXT, bound_at TEXT,
      activated_at TEXT, terminated_at TEXT, device_returned_at TEXT, deposit_amount_fen BIGINT, deposit_route TEXT,
      deposit_route_ref TEXT, deposit_collected_at TEXT"
    keys=("sn" "merchant_no, sn") ;;
  merchants)
    columns="merchant_no TEXT, name TEXT, phone TEXT, password TEXT, id_card_no TEXT, bank_card_no TEXT, bank_name TEXT"
    keys=("merchant_no" "phone") ;;
  outstanding-items)
    columns="sn TEXT, kind TEXT, amount_fen BIGINT, due_at TEXT"
    keys=("sn, kind, amount_fen, due_at" "sn") ;;
  *) echo "IMPORT_KIND is transactions, terminals, outstanding-items or merchants"; exit 2 ;;
esac

# The data, seeded: usage on the demo's terminals, a reference per row; or terminals.
python3 - "$rows" "$work/usage.csv" "$kind" <<'PY'
import random, sys
rows, path, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(20261125)
if kind == "merchants":
    with open(path, "w") as f:
        f.write("merchant_no,name,phone,password,id_card_no,bank_card_no,bank_name\n")
        for i in range(rows):
            f.write(f"82210009{i:07d},导入商户{i},139{i:08d},Shop@2026x{i},11010519491231002X,6222021234567890128,工商银行\n")
    sys.exit(0)
if kind == "outstanding-items":
    import datetime
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    with open(path, "w") as f:
        f.write("sn,kind,amount_fen,due_at\n")
        for i in range(rows):
            due = (start + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(f"{rng.choice(['DEMO-AUTO-01', 'DEMO-PROGRESS-01', 'DEMO-B-01'])},"
                    f"{rng.choice(['service_fee', 'sim_fee'])},{rng.randrange(100, 10000)},{due}\n")
    sys.exit(0)
if kind == "terminals":
    with open(path, "w") as f:
        f.write("merchant_no,sn,terminal_id,model,plan_code,status,bound_at,activated_at,terminated_at,"
                "device_returned_at,deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at\n")
        for i in range(rows):
            merchant = rng.choice(["822100058120001", "822100058120002"])
            status = rng.choice(["inactive", "active", "terminated"])
            plan = "ACT-99" if status != "terminated" else "TERM-299"
            activated = "2026-08-02T00:00:00Z" if status != "inactive" else ""
            terminated = "2026-11-20T00:00:00Z" if status == "terminated" else ""
            f.write(f"{merchant},IMP-{i:08d},I{i:07d},P2,{plan},{status},2026-08-01T00:00:00Z,{activated},"
                    f"{terminated},,{rng.choice([9900, 29900])},card,R{i},2026-08-01T00:00:00Z\n")
    sys.exit(0)
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
  "$yajin" import --data-dir "$dir" "$kind" "$work/usage.csv" --json > "$dir/summary.json" 2>/dev/null
  local t1; t1=$(now)
  # Every row loaded, none refused (a run that loaded nothing fast measures nothing).
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["refused"] == 0 and d["loaded"] == int(sys.argv[2]), d' "$dir/summary.json" "$rows" >&2 || exit 1
  echo "$t1 - $t0" | bc
}

sqlite_baseline() {
  local db="$work/baseline-$1.db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
    CREATE TABLE usage_raw ($columns);" >/dev/null
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
    CREATE TABLE usage_raw ($columns, UNIQUE (${keys[0]}));
    CREATE INDEX usage_raw_by_sn ON usage_raw (${keys[1]});" >/dev/null
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
    psql -q "$pg/$db" -c "CREATE TABLE usage_raw ($columns)" >/dev/null
    t0=$(now); psql -q "$pg/$db" -c "\\copy usage_raw FROM '$work/usage.csv' CSV HEADER" >/dev/null; t1=$(now)
    base+=("$(echo "$t1 - $t0" | bc)")
    psql -q "$pg/$db" -c "CREATE TABLE usage_keyed ($columns, UNIQUE (${keys[0]}))" \
      -c "CREATE INDEX ON usage_keyed (${keys[1]})" >/dev/null
    t0=$(now); psql -q "$pg/$db" -c "\\copy usage_keyed FROM '$work/usage.csv' CSV HEADER" >/dev/null; t1=$(now)
    keyed+=("$(echo "$t1 - $t0" | bc)")
    psql -q "$pg/postgres" -c "DROP DATABASE $db" -c "CREATE DATABASE $db" >/dev/null
    dir="$work/pg-$run"; mkdir -p "$dir"
    timeout 30 "$yajin" serve --demo --data-dir "$dir" --database-url "$pg/$db" --listen 127.0.0.1:0 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do psql -tA "$pg/$db" -c "SELECT count(*) FROM terminals" 2>/dev/null | grep -q '^[1-9]' && break; sleep 0.2; done
    sleep 1; kill "$pid"; wait "$pid" 2>/dev/null || true
    t0=$(now); "$yajin" import --data-dir "$dir" --database-url "$pg/$db" "$kind" "$work/usage.csv" --json > "$dir/summary.json" 2>/dev/null; t1=$(now)
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["refused"] == 0 and d["loaded"] == int(sys.argv[2]), d' "$dir/summary.json" "$rows" >&2 || exit 1
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
