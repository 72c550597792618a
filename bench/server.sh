# Sourced by the bench scripts that load a running server (http.sh, payouts.sh): starts and
# stops `yajin serve --demo` as the caller set it up, with `$yajin` (the build), `db_args`
# (its database), `$port` and `$work` (where its log goes); `start` takes more flags to pass
# on, and sets `$pid`.
start() {
  "$yajin" serve --demo "${db_args[@]}" --listen "127.0.0.1:$port" "$@" > "$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do grep -q "Yajin is running" "$work/serve.log" && return; sleep 0.1; done
  echo "the server did not start"; cat "$work/serve.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
