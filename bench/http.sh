#!/usr/bin/env bash
# HTTP throughput and latency with the load generated out of process (wrk), each figure beside
# a baseline measured in the same run on the same machine:
#   My Devices (GET /api/v1/terminals?limit=6: six of merchant A's terminals, each with
#   BENCH_HISTORY payments in its counting window) vs GET /healthz, wrk -t2 -c32;
#   My Devices at wrk -t2 -c8 (the issue's "half load") for p99;
#   refund submit (each request a new terminal; BENCH_SUBMIT_KIND=activation for refunds the
#   system approves at once, termination by default) vs SQLite's raw durable commit rate
#   (../shared/tools/sqlite-commit-rate) or `pgbench -N -c 16`;
#   the server's peak RSS (VmHWM) after all of it.
# The submits report the server's CPU per created application, by thread (the writer's, the
# request workers'), the whole machine's and PostgreSQL's, and, when pg_stat_statements is
# loaded, each statement's calls, execution and planning time per submit (planning is counted
# with pg_stat_statements.track_planning = on); BENCH_SUBMIT_C=N sets their
# concurrency (default 32, the figures' own). BENCH_PG_PARAMS is appended to Yajin's
# PostgreSQL URL (e.g. '?sslmode=disable'; sqlx's default, prefer, uses TLS on loopback too).
# Usage: bench/http.sh [--postgres]      Needs wrk (apt install wrk), sqlite3/pgbench.
set -euo pipefail
postgres=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=18180
base="http://127.0.0.1:$port"
# YAJIN_BIN=PATH measures that build instead (another commit's, to compare in one sitting).
yajin=${YAJIN_BIN:-$here/target/release/yajin}
[ -n "${YAJIN_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"
# Enough for 10 s of submits at ~10,000/s: a submit takes a terminal for good (see below).
terminals=${BENCH_TERMINALS:-150000}
seconds=${BENCH_SECONDS:-10}

pg="postgres://postgres@127.0.0.1:5432"
db_args=(--data-dir "$work/data")
if [ "$postgres" = "--postgres" ]; then
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS yajin_bench_http" -c "CREATE DATABASE yajin_bench_http" >/dev/null
  db_args+=(--database-url "$pg/yajin_bench_http${BENCH_PG_PARAMS:-}")
fi
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

source "$here/bench/server.sh"
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '$1 == "99%" {print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The terminals submits go to: termination refunds of merchant A (no automatic approval), or
# with BENCH_SUBMIT_KIND=activation activation refunds the system approves at once (each
# terminal past its ¥10,000 target on the ¥99 plan), whose money is reserved and whose payout
# is queued by the submit, and paid by the server's worker (the demo's sandbox bank) beside
# the submits that follow. And the six My Devices shows first (ACTIVE-…, before BENCH-… and
# DEMO-… by SN): activated ten days ago on the 90-day ¥10,000 plan, each with BENCH_HISTORY
# card payments since (a shop's month).
history=${BENCH_HISTORY:-2000}
python3 - "$terminals" "$history" "$work/terminals.csv" "$work/usage.csv" "${BENCH_SUBMIT_KIND:-termination}" <<'PY'
import sys, datetime
n, history, path, usage, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
assert kind in ("termination", "activation"), f"BENCH_SUBMIT_KIND is termination or activation, not {kind}"
now = datetime.datetime.now(datetime.timezone.utc)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
activated = now - datetime.timedelta(days=10)
with open(path, "w") as f:
    f.write("merchant_no,sn,terminal_id,model,plan_code,status,bound_at,activated_at,terminated_at,device_returned_at,"
            "deposit_amount_fen,deposit_route,deposit_route_ref,deposit_collected_at\n")
    for i in range(6):
        f.write(f"822100058120001,ACTIVE-{i:05d},Y{i:07d},P2,ACT-99,active,{iso(activated)},{iso(activated)},,,"
                f"9900,card,C{i},{iso(activated)}\n")
    for i in range(n):
        if kind == "activation":
            f.write(f"822100058120001,BENCH-{i:06d},X{i:07d},P2,ACT-99,active,{iso(activated)},{iso(activated)},,,"
                    f"9900,card,B{i},{iso(activated)}\n")
        else:
            f.write(f"822100058120001,BENCH-{i:06d},X{i:07d},P2,TERM-299,terminated,2026-08-01T00:00:00Z,"
                    f"2026-08-02T00:00:00Z,2026-11-20T00:00:00Z,2026-11-21T00:00:00Z,29900,card,B{i},2026-08-01T00:00:00Z\n")
with open(usage, "w") as f:
    f.write("ref,sn,amount_fen,kind,occurred_at\n")
    kinds = ["credit_card", "debit_card", "qr_code", "nfc"]
    for i in range(6):
        for j in range(history):
            at = activated + datetime.timedelta(seconds=1 + j * (9 * 86400 // max(history, 1)))
            f.write(f"H{i}-{j},ACTIVE-{i:05d},{100 + (j * 7919) % 50000},{kinds[j % 4]},{iso(at)}\n")
    if kind == "activation":
        for i in range(n):
            f.write(f"T{i},BENCH-{i:06d},1000000,credit_card,{iso(activated + datetime.timedelta(hours=1))}\n")
PY
start; stop
"$yajin" import "${db_args[@]}" terminals "$work/terminals.csv" --json > "$work/import.json"
echo "seeded $((terminals + 6)) terminals: $(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["loaded"],"loaded in",d["seconds"],"s")' "$work/import.json")"
"$yajin" import "${db_args[@]}" transactions "$work/usage.csv" --json > "$work/import.json"
echo "seeded usage records: $(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["loaded"],"loaded in",d["seconds"],"s")' "$work/import.json")"

# BENCH_PAYOUTS=off sends the worker's payouts to a closed port (it finds no bank and backs
# off), to measure refunds the system approves at once without paying them beside the submits.
serve_flags=()
if [ "${BENCH_PAYOUTS:-on}" = off ]; then
  serve_flags=(--payout-channel-url http://127.0.0.1:9)
  export YAJIN_PAYOUT_CHANNEL_SECRET=${YAJIN_PAYOUT_CHANNEL_SECRET:-bench-only-secret-no-bank-listens-here}
fi
start "${serve_flags[@]}"
token=$(curl -s "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"phone":"13800000001","password":"Demo@12345"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')
auth="authorization: Bearer $token"
curl -sf "$base/api/v1/terminals?limit=6" -H "$auth" >/dev/null

# BENCH_PERF=FILE records a CPU profile of the server (perf report -i FILE) during the first My
# Devices load, or with BENCH_ONLY=submit during the submits. BENCH_PERF_GRAPH=dwarf records
# whole call stacks (the release build keeps no frame pointers), at a lower rate.
perf_pid=""
profile() {
  [ -n "${BENCH_PERF:-}" ] || return 0
  local graph=(-F 999 -g)
  [ "${BENCH_PERF_GRAPH:-}" != dwarf ] || graph=(-F 199 --call-graph dwarf,16384)
  perf record "${graph[@]}" -p "$pid" -o "$BENCH_PERF" -- sleep "$seconds" 2>/dev/null &
  perf_pid=$!
}
health=(); devices=(); devices_p99=(); half_p99=(); half_rps=()
# BENCH_ONLY=submit skips the reads (while working on the write path).
[ "${BENCH_ONLY:-}" = submit ] || for run in 1 2 3; do
  health+=("$(wrk -t2 -c32 -d${seconds}s "$base/healthz" | rps)")
  [ "$run" != 1 ] || profile
  out=$(wrk -t2 -c32 -d${seconds}s --latency -H "$auth" "$base/api/v1/terminals?limit=6")
  devices+=("$(echo "$out" | rps)"); devices_p99+=("$(echo "$out" | p99)")
  [ -z "$perf_pid" ] || { wait "$perf_pid"; perf_pid=""; }
  out=$(wrk -t2 -c8 -d${seconds}s --latency -H "$auth" "$base/api/v1/terminals?limit=6")
  half_rps+=("$(echo "$out" | rps)"); half_p99+=("$(echo "$out" | p99)")
done
if [ "${BENCH_ONLY:-}" != submit ]; then
  h=$(printf '%s\n' "${health[@]}" | median); d=$(printf '%s\n' "${devices[@]}" | median)
  echo "healthz           req/s: ${health[*]} (median $h)"
  echo "My Devices -c32   req/s: ${devices[*]} (median $d), p99 ${devices_p99[*]}"
  echo "My Devices -c8    req/s: ${half_rps[*]}, p99 ${half_p99[*]}"
  echo "My Devices / healthz = $(echo "scale=2; $d / $h" | bc)"
  # A merchant with many terminals (A holds the seeded ones too) pages through them 200 at a time.
  out=$(wrk -t2 -c8 -d${seconds}s --latency -H "$auth" "$base/api/v1/terminals?limit=200")
  echo "My Devices, pages of 200 of $((terminals + 12)) terminals, -c8: $(echo "$out" | rps) req/s, p99 $(echo "$out" | p99)"
fi

# BENCH_ONLY=reads stops here (while working on the read path).
if [ "${BENCH_ONLY:-}" = reads ]; then
  echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
  exit 0
fi

# The stat files of processes or threads as "NAME field4 field5 …", so that user and system
# time are $12 and $13 (the names counted here have no spaces; one that exits is skipped).
stat_lines() { { cat "$@" 2>/dev/null || true; } | sed -E 's/^[0-9]+ \((.*)\) [A-Z] /\1 /'; }
# CPU time (user + system, in clock ticks) of each of the server's threads, summed by name.
thread_ticks() {
  stat_lines /proc/$pid/task/*/stat | awk '{t[$1] += $12 + $13} END {for (n in t) print n, t[n]}' | sort
}
# The whole machine's CPU (user + system ticks, idle ticks) and the database server's
# (PostgreSQL's processes), to see what else a submit costs and whether the cores were full.
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
postgres_ticks() { stat_lines /proc/[0-9]*/stat | awk '$1 == "postgres" {t += $12 + $13} END {print t + 0}'; }
# With pg_stat_statements loaded (shared_preload_libraries), what each statement of a submit
# costs PostgreSQL: calls and execution time per created application.
statements=""
if [ "$postgres" = "--postgres" ] && psql -q "$pg/yajin_bench_http" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
     -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1; then
  statements=yes
fi
[ "${BENCH_ONLY:-}" != submit ] || profile
before=$(thread_ticks); machine_before=$(machine_ticks); pg_before=$(postgres_ticks)
out=$(wrk -t2 -c${BENCH_SUBMIT_C:-32} -d${seconds}s --latency -s "$here/bench/submit.lua" "$base" -- "$token" 2)
machine_after=$(machine_ticks); pg_after=$(postgres_ticks)
[ -z "$perf_pid" ] || wait "$perf_pid"
submit=$(echo "$out" | awk '/^created/ {print $2}')
# Every request names a terminal no earlier one did; once they ran out, the rest are refused
# and the rate measured is the terminals', not the server's.
if [ "$(echo "$out" | awk '/^created/ {print $4}')" != 0 ] && [ "$submit" -ge "$((terminals - 1))" ]; then
  echo "WARNING: the $terminals terminals ran out during the submits: the rate below is a floor; raise BENCH_TERMINALS"
fi
echo "refund submit: $(echo "$out" | grep -E '^created') in ${seconds} s = $(echo "$submit / $seconds" | bc) created/s; p50 $(echo "$out" | awk '$1 == "50%" {print $2}') p99 $(echo "$out" | p99)"
# Where the server spent its CPU during the submits: microseconds per created application.
join <(echo "$before") <(thread_ticks) | awk -v n="$submit" -v hz="$(getconf CLK_TCK)" \
  '{cpu = ($3 - $2) / hz; total += cpu; if (cpu > 0) printf "  %s %.0f µs/submit (%.2f cores)\n", $1, cpu * 1e6 / n, cpu / '"$seconds"'}
   END {printf "  server CPU %.0f µs/submit\n", total * 1e6 / n}'
echo "$machine_before $machine_after $pg_before $pg_after" | awk -v n="$submit" -v hz="$(getconf CLK_TCK)" -v pg="$postgres" \
  '{busy = $3 - $1; idle = $4 - $2
    printf "  machine: %.0f%% busy, %.0f µs of CPU/submit in all", 100 * busy / (busy + idle), busy / hz * 1e6 / n
    if (pg != "") printf "; PostgreSQL %.0f µs/submit", ($6 - $5) / hz * 1e6 / n
    printf "\n"}'
if [ -n "$statements" ]; then
  psql -qAt -F ' ' "$pg/yajin_bench_http" -c "SELECT round(calls::numeric / $submit, 2), round((total_exec_time * 1000 / $submit)::numeric),
      round((total_plan_time * 1000 / $submit)::numeric), left(regexp_replace(query, '\s+', ' ', 'g'), 70) FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND (calls >= $submit / 2 OR total_exec_time * 1000 / $submit >= 5)
      ORDER BY total_exec_time DESC" | awk '{n = $1; t = $2; p = $3; $1 = $2 = $3 = ""
        printf "  %s calls, %s µs executing, %s µs planning:%s\n", n, t, p, $0}'
fi
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
stop
if [ "$postgres" = "--postgres" ]; then
  # Updates PostgreSQL made in place (HOT: no new index entries) and in all, per table.
  # Read once the server's connections have closed, which reports their counts.
  sleep 1
  psql -qAt -F ' ' "$pg/yajin_bench_http" -c "SELECT relname, n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE n_tup_upd > 0 ORDER BY n_tup_upd DESC" |
    awk 'NF == 3 {printf "  updates of %s: %s of %s in place (HOT)\n", $1, $2, $3}'
fi

if [ "$postgres" = "--postgres" ]; then
  createdb -h 127.0.0.1 -U postgres yajin_bench_pgbench 2>/dev/null || true
  pgbench -h 127.0.0.1 -U postgres -i -q yajin_bench_pgbench >/dev/null 2>&1
  for run in 1 2 3; do pgbench -h 127.0.0.1 -U postgres -N -c 16 -j 2 -T 10 yajin_bench_pgbench 2>/dev/null | awk '/^tps/ {print $3}'; done | median | sed 's/^/pgbench -N -c 16 tps (median of 3): /'
  dropdb -h 127.0.0.1 -U postgres yajin_bench_pgbench
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS yajin_bench_http" >/dev/null
else
  rates=()
  for run in 1 2 3; do
    rates+=("$(python3 "$here/../shared/tools/sqlite-commit-rate" "$work" --seconds 4 | python3 -c 'import sys,json;print(round(json.load(sys.stdin)["commits_per_s"]))')")
  done
  echo "SQLite raw durable commits/s: ${rates[*]} (median $(printf '%s\n' "${rates[@]}" | median))"
fi
