#!/usr/bin/env bash
# Time to first rotation: clones this repository afresh and times `npm run demo` there, as a newcomer runs it.
#   scripts/measure-demo.sh          warm: the machine's caches (npm, pip, rotator's tool cache) as they are
#   scripts/measure-demo.sh --cold   cold: empty npm and pip caches and an empty rotator tool cache, in a temp dir
# For a fresh machine, remove the Debian packages the demo installs first (as root; other users of the machine lose
# them):  apt-get remove -y postgresql 'postgresql-*' python3-venv   (bootstrap reinstalls them; apt's own
# package download cache in /var/cache/apt/archives is left as it is unless you `apt-get clean` too).
# Prints what existed before, the bootstrap's and the demo's wall time, and keeps the clone's output in the log it names.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cold=""
[[ "${1:-}" == "--cold" ]] && cold=1

work="$(mktemp -d /tmp/rotator-measure.XXXXXX)"
clone="$work/rotator"
log="$work/demo.log"
if [[ -n "$cold" ]]; then
  export npm_config_cache="$work/npm-cache" PIP_CACHE_DIR="$work/pip-cache" ROTATOR_TOOLS_CACHE="$work/tools-cache"
fi
tools_cache="${ROTATOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rotator}"
npm_cache="${npm_config_cache:-$(npm config get cache)}"
pip_cache="${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/pip}"

echo "measure-demo: $([[ -n "$cold" ]] && echo cold || echo warm), from $SRC at $(git -C "$SRC" rev-parse --short HEAD)"
present() { if [[ -e "$2" ]]; then echo "  $1: $2 ($(du -sh "$2" 2>/dev/null | cut -f1))"; else echo "  $1: absent"; fi; }
echo "before:"
present "rotator tool cache" "$tools_cache"
present "npm cache" "$npm_cache"
present "pip cache" "$pip_cache"
for exe in /usr/lib/postgresql/*/bin/initdb; do present "postgresql" "$exe"; done
python3 -c 'import ensurepip' 2>/dev/null && echo "  python3-venv: installed" || echo "  python3-venv: absent"

t0=$(date +%s.%N)
git clone -q "$SRC" "$clone"
cd "$clone"
# Each line stamped with the seconds since the clone began, so the log shows where the time went.
set +e
npm run demo 2>&1 | while IFS= read -r line; do
  printf '%6.1f  %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$line"
done | tee "$log"
status=${PIPESTATUS[0]}
set -e
t1=$(date +%s.%N)
boot=$(sed -n 's/^ *\([0-9.]*\)  bootstrap: done$/\1/p' "$log" | head -1)
echo "measure-demo: exit $status; bootstrap (clone, npm ci, tools) ${boot:-?} s; total to the demo's last line $(echo "$t1 - $t0" | bc) s"
echo "measure-demo: log $log; remove $work when done"
exit "$status"
