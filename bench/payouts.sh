#!/usr/bin/env bash
# Refunds paid end to end: N activation refunds (default 2,000 terminals of merchant A on the
# ¥99 plan, each past its ¥10,000 target, so each submit is approved by the system at once)
# submitted over HTTP (wrk), paid by the server's worker through a sandbox bank in a process
# of its own that waits BENCH_BANK_MS (default 50) ms before every answer and callback, as a
# real gateway takes its time, and confirmed by the bank's signed callbacks.
# Reports the submits, then how fast the refunds were paid: applications refunded over the
# time from the first submit to the last refund, and the drain after the last submit; the
# server's peak RSS; and checks that the bank paid each application once, in full.
# Usage: bench/payouts.sh [N] [--postgres]     Needs wrk, sqlite3 (psql for --postgres).
# BENCH_WORKER_JOBS sets the server's YAJIN_WORKER_JOBS (jobs run at once) when given.
set -euo pipefail
umask 077
source "$(dirname "$0")/postgres_flag.sh"
n=${args[0]:-2000}
bank_ms=${BENCH_BANK_MS:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=18190
bank_port=18191
base="http://127.0.0.1:$port"
# YAJIN_BIN=PATH measures that build instead (another commit's, to compare in one sitting).
yajin=${YAJIN_BIN:-$here/target/release/yajin}
[ -n "${YAJIN_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"

pg="postgres://postgres@127.0.0.1:5432"
db_args=(--data-dir "$work/data")
if [ -n "$postgres" ]; then
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS yajin_bench_payouts" -c "CREATE DATABASE yajin_bench_payouts" >/dev/null
  db_args+=(--database-url "$pg/yajin_bench_payouts")
else
  count() { row=$(sqlite3 -cmd ".timeout 5000" "$work/data/yajin.db" "$1"); }
fi
# PostgreSQL's counts go through one psql session, opened once the database has its tables
# (below): a psql process and a new backend for each poll cost the machine a tenth of its CPU
# while the refunds were being paid. `count SQL` leaves the query's one row in $row.
open_counts() {
  coproc PSQL { psql -qAtX "$pg/yajin_bench_payouts" 2>&1; }
  count() {
    printf '%s;\n\\echo __end\n' "$1" >&"${PSQL[1]}"
    row=""; local line
    while IFS= read -r line <&"${PSQL[0]}"; do [ "$line" = __end ] && break; row="$row$line"; done
  }
}
pid=""; bank_pid=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "$bank_pid" ] || kill "$bank_pid" 2>/dev/null || true
  [ -z "${PSQL_PID:-}" ] || kill "$PSQL_PID" 2>/dev/null || true
  rm -rf "$work"
  [ -z "$postgres" ] || psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS yajin_bench_payouts WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now() { date +%s.%N; }

export YAJIN_PAYOUT_CHANNEL_SECRET
YAJIN_PAYOUT_CHANNEL_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
[ -z "${BENCH_WORKER_JOBS:-}" ] || export YAJIN_WORKER_JOBS="$BENCH_WORKER_JOBS"
source "$here/bench/server.sh"

# The terminals: activated ten days ago, a ¥99 deposit collected, and one ¥10,000 card payment
# since, which meets the plan's target.
python3 - "$n" "$work/terminals.csv" "$work/usage.csv" <<'PY'
import sys, datetime
n, terminals, usage = int(sys.argv[1]), sys.argv[2], sys.argv[3]
now = datetime.datetime.now(datetime.timezone.utc)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
activated = now - datetime.timedelta(days=10)
with open(terminals, "w") as f:
    f.write("merchant_no,sn,terminal_id,model,plan_code,status,bound_at,activated_at,terminated_at,device_returned_at,"
            "deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at\n")
    for i in range(n):
        f.write(f"822100058120001,PAY-{i:06d},Q{i:07d},P2,ACT-99,active,{iso(activated)},{iso(activated)},,,"
                f"9900,card,P{i},{iso(activated)}\n")
with open(usage, "w") as f:
    f.write("ref,sn,amount_fen,kind,occurred_at\n")
    for i in range(n):
        f.write(f"PAYU-{i},PAY-{i:06d},1000000,credit_card,{iso(activated + datetime.timedelta(hours=1))}\n")
PY
start; stop
"$yajin" import "${db_args[@]}" terminals "$work/terminals.csv" --json > /dev/null
"$yajin" import "${db_args[@]}" transactions "$work/usage.csv" --json > /dev/null
echo "seeded $n terminals past their target"
[ -z "$postgres" ] || open_counts

"$yajin" sandbox-bank --listen "127.0.0.1:$bank_port" --data-dir "$work/bank" --latency-ms "$bank_ms" \
  --callback-url "$base/api/v1/channels/sandbox/callbacks" > "$work/bank.log" 2>&1 &
bank_pid=$!
start --payout-channel-url "http://127.0.0.1:$bank_port"
token=$(curl -s "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"phone":"13800000001","password":"Demo@12345"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')

refunded="SELECT count(*) FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id
  WHERE t.sn LIKE 'PAY-%' AND a.status = 'refunded'"
# BENCH_PERF=FILE records a CPU profile of the server during the first BENCH_PERF_SECONDS
# (default 5) of the submits (perf report -i FILE); BENCH_PERF_GRAPH=dwarf: whole call stacks.
if [ -n "${BENCH_PERF:-}" ]; then
  graph=(-F 999 -g)
  [ "${BENCH_PERF_GRAPH:-}" != dwarf ] || graph=(-F 199 --call-graph dwarf,16384)
  perf record "${graph[@]}" -p "$pid" -o "$BENCH_PERF" -- sleep "${BENCH_PERF_SECONDS:-5}" 2>/dev/null &
fi
t0=$(now)
out=$(wrk -t2 -c32 -d$(( n / 1000 + 2 ))s -s "$here/bench/submit.lua" "$base" -- "$token" 2 PAY)
t1=$(now)
echo "wrk: $(echo "$out" | grep -E '^created') in its $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s (the rest name no terminal, or were refused)"
# BENCH_STATEMENTS=on (PostgreSQL, pg_stat_statements loaded in shared_preload_libraries): what
# a payout costs PostgreSQL, from the statements run in the 5 s after the submits (payouts
# only), per application refunded in those 5 s: calls, execution and planning time.
if [ "${BENCH_STATEMENTS:-}" = on ] && [ -n "$postgres" ]; then
  psql -q "$pg/yajin_bench_payouts" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
  count "$refunded"; paid_before=$row; sleep 5; count "$refunded"
  paid=$((row - paid_before))
  echo "statements a payout ($paid refunded in 5 s, payouts only):"
  psql -qAt -F ' ' "$pg/yajin_bench_payouts" -c "SELECT round(calls::numeric / $paid, 2), round((total_exec_time * 1000 / $paid)::numeric),
      round((total_plan_time * 1000 / $paid)::numeric), left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
      ORDER BY calls DESC" | awk '{n = $1; t = $2; p = $3; $1 = $2 = $3 = ""; c += n
        printf "  %s calls, %s µs executing, %s µs planning:%s\n", n, t, p, $0} END {printf "  %.1f calls in all\n", c}'
fi
# Counted by the database: a request wrk gave up on when it stopped may still have been made.
applied="SELECT count(*) FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id WHERE t.sn LIKE 'PAY-%'"
# The submit rate from the applications' own times: wrk runs for as long as it was told, and
# asks on for terminals that are all taken once they run out, so its duration is not theirs.
span="SELECT count(*), max(a.created_at) - min(a.created_at) FROM refund_applications a
  JOIN terminals t ON t.id = a.terminal_id WHERE t.sn LIKE 'PAY-%'"
count "$span"; read -r made span_ms <<< "${row//|/ }"
if [ "${span_ms:-0}" -gt 0 ]; then
  printf 'submits: %d applications made in %.2f s between the first and the last: %.0f a second\n' \
    "$made" "$(echo "$span_ms / 1000" | bc -l)" "$(echo "$made * 1000 / $span_ms" | bc -l)"
else
  echo "submits: $made applications made, too few to time"
fi
# Done when every application made is refunded, and still so a little later (a request that
# was waiting when wrk stopped may make one more).
done_at=""
for _ in $(seq 6000); do
  count "$applied"; created=$row; count "$refunded"; paid=$row
  if [ "$paid" -ge "$created" ]; then
    [ -n "$done_at" ] || done_at=$(now)
    sleep 2
    count "$applied"; [ "$row" -gt "$created" ] || break
    done_at=""
  fi
  sleep 0.2
done
if [ -z "$done_at" ]; then
  echo "NOT DONE: $paid of $created refunded after 20 minutes"; exit 1
fi
total=$(echo "$done_at - $t0" | bc); drain=$(echo "$done_at - $t1" | bc)
printf 'refunded %d in %.1f s from the first submit: %.1f refunds/s; %.1f s after the last submit (bank answers in %d ms)\n' \
  "$paid" "$total" "$(echo "$paid / $total" | bc -l)" "$drain" "$bank_ms"
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
stop
kill "$bank_pid"; wait "$bank_pid" 2>/dev/null || true; bank_pid=""
# Each application paid once, in full: the bank's orders by the reference (the application)
# they pay, against what Yajin recorded.
orders=$(sqlite3 "$work/bank/sandbox-bank.db" "SELECT count(*), count(DISTINCT reference), sum(amount_fen) FROM orders WHERE kind = 'payout'")
count "SELECT count(*), sum(a.net_refund_fen) FROM refund_applications a JOIN terminals t ON t.id = a.terminal_id
  WHERE t.sn LIKE 'PAY-%' AND a.status = 'refunded'"
ours=${row//|/ }
echo "bank orders (all, distinct references, fen): $orders; Yajin's refunded (count, fen): $ours"
read -r o_all o_distinct o_fen <<< "$(echo "$orders" | tr '|' ' ')"
read -r r_count r_fen <<< "$ours"
if [ "$o_all" != "$o_distinct" ] || [ "$o_all" != "$r_count" ] || [ "$o_fen" != "$r_fen" ]; then
  echo "MISMATCH: the bank paid something twice, or not what Yajin recorded"; exit 1
fi
