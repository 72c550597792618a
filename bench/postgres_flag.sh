# Sourced by the bench scripts that take `--postgres` anywhere among their arguments
# (evaluate.sh, payouts.sh): sets `postgres` (1 or empty) and `args`, the other arguments.
args=(); postgres=
for arg in "$@"; do
  if [ "$arg" = "--postgres" ]; then postgres=1; else args+=("$arg"); fi
done
