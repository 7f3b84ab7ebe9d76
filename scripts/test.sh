#!/usr/bin/env bash
# npm test: the bootstrap, then every test file (jest.config.js) with the lint running beside them. Arguments go to jest.
#
# The lint (tsc, type-aware ESLint, Prettier: about two CPU-minutes, one core) runs at the lowest CPU priority, so it
# takes the CPU the tests leave idle (their waits on servers and timers, the last file that runs alone) instead of
# holding every test back by three minutes. It fails the run all the same: its exit status goes to
# .rotator/lint-status, which .ci/run's closing line reports, and its output is printed after the tests when it failed.
# `npm run lint` alone is the quick check.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --services all || exit $?
. scripts/node-env.sh || exit $?
mkdir -p .rotator
# Node's on-disk code cache for every node process of the run: the kill harnesses alone start ~180 worker processes,
# each compiling the same modules (about 0.5 s of CPU each without it).
export NODE_COMPILE_CACHE="$PWD/.rotator/node-compile-cache"
lint_log=.rotator/lint.log
lint_status=.rotator/lint-status
rm -f "$lint_status"
(
  status=0
  nice -n 19 npm run --silent lint > "$lint_log" 2>&1 || status=$?
  echo "$status" > "$lint_status.partial" && mv "$lint_status.partial" "$lint_status"
) &
lint_pid=$!
# A run stopped early stops its lint too, so no lint of this run writes its status into the next: every process under
# it, deepest first (npm, and the tsc or ESLint it started). The lint stays in the run's process group, so whatever
# stops that group (a CI timeout, a SIGKILL that no trap sees) stops the lint as well.
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null
}
trap 'kill_tree "$lint_pid"' EXIT
status=0
node_modules/.bin/jest --maxWorkers=3 "$@" || status=$?
wait "$lint_pid"
lint=$(cat "$lint_status" 2>/dev/null || echo missing)
if [[ "$lint" != 0 ]]; then
  cat "$lint_log" >&2
  echo "npm test: npm run lint failed (exit $lint), its output above" >&2
  ((status == 0)) && status=1
fi
exit "$status"
