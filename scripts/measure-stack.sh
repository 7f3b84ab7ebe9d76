#!/usr/bin/env bash
# `rotator stack` ready time: `npm run stack`'s bootstrap, then `rotator stack` until it prints its environment.
#   scripts/measure-stack.sh          warm: the tool cache as it is (a second run installs nothing)
#   scripts/measure-stack.sh --cold   cold: an empty tool cache (ROTATOR_TOOLS_CACHE in a temp dir), so the pinned
#                                     temporal and bao are installed again; Debian's postgresql stays as it is
# Runs in the checkout it lives in; stops the stack it started (SIGINT, which removes the stack's data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d /tmp/rotator-measure-stack.XXXXXX)"
cleanup() {
  if [[ -L "$work/venv-link" ]]; then
    rm -f .venv
    mv "$work/venv-link" .venv
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if [[ "${1:-}" == "--cold" ]]; then
  export ROTATOR_TOOLS_CACHE="$work/tools-cache" PIP_CACHE_DIR="$work/pip-cache"
  # The checkout's own .venv link would keep pointing at the old cache: set it aside for the measurement.
  if [[ -L .venv ]]; then mv .venv "$work/venv-link"; fi
fi
now() { date +%s.%N; }
t0=$(now)
bash scripts/bootstrap.sh --services stack
t1=$(now)
out="$work/stack.out"
bin/rotator stack >"$out" 2>"$work/stack.err" &
pid=$!
until grep -q '^# rotator local stack is up' "$out" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/stack.err" >&2; echo "measure-stack: rotator stack exited before it was up" >&2; exit 1; }
  sleep 0.1
done
t2=$(now)
kill -INT "$pid"
wait "$pid" || true
echo "measure-stack: $([[ -n "${ROTATOR_TOOLS_CACHE:-}" ]] && echo cold || echo warm): bootstrap $(echo "$t1 - $t0" | bc) s, rotator stack up in $(echo "$t2 - $t1" | bc) s, total $(echo "$t2 - $t0" | bc) s"
