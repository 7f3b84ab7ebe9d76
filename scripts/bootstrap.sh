#!/usr/bin/env bash
# Idempotent setup for tests, demo, bench and CI: npm deps, pinned server tools in .venv, Debian postgresql, redis and etcd,
# FerretDB and kube-apiserver built with Go. The Go builds and the .venv are kept in a tool cache outside the clone,
# keyed on their versions (scripts/tool-cache.sh), so a fresh clone on the same machine links them; when they must be
# built, the Go builds run in the background while the other steps go on.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/tool-cache.sh
source scripts/tool-cache.sh

STEP="start"
trap 'echo "bootstrap: FAILED during: $STEP (see the output above; fix it and rerun: npm run bootstrap)" >&2' ERR

say() { echo "bootstrap: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- Go builds, in the background ---------------------------------------------
# FerretDB and kube-apiserver: linked from the tool cache, or built into it (minutes; CPU-bound, so one after the
# other) while apt, pip and tsc below wait on the network and disk. Their output goes to a log shown on failure.
mkdir -p .rotator
go_log="$(mktemp .rotator/bootstrap-go.XXXXXX)"
(bash scripts/build-ferretdb.sh && bash scripts/build-kube-apiserver.sh) >"$go_log" 2>&1 &
go_pid=$!

# --- npm dependencies -------------------------------------------------------
# Up to date when npm wrote node_modules after the lock changed, or when the lock's
# content matches what we last installed (git checkouts bump mtimes without changes).
STEP="npm dependencies"
NPM_STAMP="node_modules/.bootstrap-lock.sha256"
lock_sha="$(sha package-lock.json)"
if [[ -f node_modules/.package-lock.json ]] &&
  { [[ ! package-lock.json -nt node_modules/.package-lock.json ]] ||
    [[ -f "$NPM_STAMP" && "$(cat "$NPM_STAMP")" == "$lock_sha" ]]; }; then
  say "npm deps ok"
else
  command -v npm >/dev/null || { echo "bootstrap: npm not found; install Node.js >= 20.3" >&2; exit 1; }
  say "installing npm deps …"
  # npm 11 drops other platforms' optional binaries (@swc/core-*, esbuild) from a lock written on one platform and
  # then refuses `npm ci` on it (npm/cli#8805); `npm install` honours the same lock and tolerates that.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
  echo "$lock_sha" >"$NPM_STAMP"
  say "npm deps ok"
fi

# --- Debian packages --------------------------------------------------------
STEP="system packages (postgresql, redis-server, etcd-server, nginx, openssl, chromium, python3-venv)"
need_apt=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || need_apt+=(redis-server)
# nginx: the tests put a TLS-terminating gRPC proxy in front of the Temporal dev server (which has no TLS).
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_apt+=(nginx)
command -v openssl >/dev/null || need_apt+=(openssl)
# etcd alone: Debian's kubernetes-client would collide with a kubectl already on the image.
command -v etcd >/dev/null || [[ -x /usr/bin/etcd ]] || need_apt+=(etcd-server)
# Chromium: the codec-server test opens the Temporal UI in a real (headless) browser.
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
# promtool (Debian's prometheus package): the metrics test checks a real worker's scrape with `promtool check metrics`.
command -v promtool >/dev/null || need_apt+=(prometheus)
# Debian's python3 ships without ensurepip; venv creation needs python3-venv.
if [[ ! -x .venv/bin/python ]] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if ((${#need_apt[@]})); then
  say "installing ${need_apt[*]} via apt-get …"
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to apt-get install ${need_apt[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  command -v apt-get >/dev/null || { echo "bootstrap: apt-get not found; install ${need_apt[*]} by hand" >&2; exit 1; }
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  say "system packages ok"
else
  say "postgresql, redis-server, etcd, nginx, openssl ok"
fi

# --- pinned tools in .venv --------------------------------------------------
# .venv is a link to a venv in the tool cache keyed on the requirements and the python (a fresh clone links it in a
# moment; pip takes a minute or two). A .venv already holding these requirements (its stamp says so) is left alone.
STEP="tools in .venv (pip install -r scripts/requirements-tools.txt)"
REQ="scripts/requirements-tools.txt"
VENV_STAMP=".bootstrap-tools.sha256"
req_sha="$(sha "$REQ")"
venv_ok() { [[ -x "$1/bin/python" && -f "$1/$VENV_STAMP" && "$(cat "$1/$VENV_STAMP")" == "$req_sha" ]] && "$1/bin/python" -c '' 2>/dev/null; }
if venv_ok .venv; then
  say "tools ok"
else
  py="$(python3 -c 'import sys; print(f"py{sys.version_info[0]}.{sys.version_info[1]}")')"
  venv="$TOOLS_CACHE/venv/${req_sha:0:16}-$py"
  if ! venv_ok "$venv"; then
    mkdir -p "$(dirname "$venv")"
    exec {venv_lock}>"$venv.lock"
    flock "$venv_lock"
    if ! venv_ok "$venv"; then
      say "installing tools into $venv …"
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQ"
      for tool in temporal temporal-test-server bao moto_server; do
        [[ -x "$venv/bin/$tool" ]] || { echo "bootstrap: $venv/bin/$tool missing after pip install" >&2; exit 1; }
      done
      echo "$req_sha" >"$venv/$VENV_STAMP"
    fi
    flock -u "$venv_lock"
  fi
  rm -rf .venv
  ln -s "$venv" .venv
  say "tools ok (.venv -> $venv)"
fi

# --- compiled JavaScript for bin/rotator ------------------------------------
# Rebuilt when anything it is compiled from is newer than the last build (a fresh clone has no dist/ at all).
STEP="build (npm run build: tsc -p tsconfig.build.json)"
BUILD_STAMP="dist/.build-stamp"
if [[ -f "$BUILD_STAMP" && -z "$(find src activities workflows workers tsconfig.json tsconfig.build.json package-lock.json -newer "$BUILD_STAMP" -print -quit)" ]]; then
  say "build ok"
else
  say "building dist/ …"
  rm -rf dist
  node_modules/.bin/tsc -p tsconfig.build.json
  touch "$BUILD_STAMP"
  say "build ok"
fi

# --- Go builds finish ----------------------------------------------------------
STEP="Go tools (scripts/build-ferretdb.sh, scripts/build-kube-apiserver.sh; need Go and the Go module proxy)"
if kill -0 "$go_pid" 2>/dev/null; then
  say "waiting for FerretDB and kube-apiserver to build into $TOOLS_CACHE (5–8 minutes on 2 cores, once per machine) …"
fi
status=0
wait "$go_pid" || status=$?
while IFS= read -r line; do say "$line"; done < <(grep -E '^(ferretdb|kube-apiserver) v' "$go_log")
if ((status)); then
  tail -n 40 "$go_log" >&2
  echo "bootstrap: full log: $go_log" >&2
  false
fi
rm -f "$go_log"
