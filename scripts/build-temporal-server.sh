#!/usr/bin/env bash
# Temporal server <version> as separate services (src/stack/temporal-cluster.ts, `rotator stack --cluster`,
# test/temporal-cluster.test.ts), at .tools/temporal-server/<version>/: a link into the tool cache
# (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks it. The folder holds
#   temporal-server     go.temporal.io/server/cmd/server (frontend, history, matching, worker: one per process)
#   temporal-sql-tool   go.temporal.io/server/cmd/tools/sql (creates and migrates the PostgreSQL schemas)
#   schema/postgresql/v12/{temporal,visibility}   the versioned schema files that tool applies, copied from the module
# The module has no replace directives, so `go install …@version` builds both as released. It asks for a newer Go than
# the machine may have (go >= 1.26.10 for v1.32.2): GOTOOLCHAIN=auto fetches that toolchain from the module proxy.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
MODULE="go.temporal.io/server"
VERSION="${TEMPORAL_SERVER_VERSION:-v1.32.2}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

# The folder is complete when the server reports VERSION and the SQL tool and both schemas are beside it (the binary is
# moved in last, so a half-built folder never passes). Read the whole --version output (no early-quitting reader).
is_version() {
  [[ -x "$1/temporal-server" && -x "$1/temporal-sql-tool" ]] || return 1
  [[ -f "$1/schema/postgresql/v12/temporal/schema.sql" && -f "$1/schema/postgresql/v12/visibility/schema.sql" ]] || return 1
  local out
  out="$("$1/temporal-server" --version 2>/dev/null)" || return 1
  [[ "$out" == *" ${VERSION#v}" ]]
}

build() {
  local out="$1"
  command -v go >/dev/null || { echo "build-temporal-server: go not found; Temporal server $VERSION is built from source and needs Go >= 1.21 (it fetches its own toolchain): https://go.dev/dl/" >&2; return 1; }
  rm -rf "$out"
  mkdir -p "$out"
  WORK="$(mktemp -d "$(dirname "$out")/build.XXXXXX")"
  # A failed build leaves no half-filled folder behind (tool_ensure clears a stale .tmp file, not a folder).
  trap 'rm -rf "$WORK" "$out"' ERR
  (
    export GOPATH="$WORK/path" GOMODCACHE="$WORK/mod" GOCACHE="$WORK/cache" GOFLAGS=-modcacherw GOBIN="$WORK/bin" GOTOOLCHAIN=auto
    local download mod_dir
    # -json reports a failure on stdout.
    download="$(go mod download -json "$MODULE@$VERSION")" || { echo "$download" >&2; exit 1; }
    mod_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$download")"
    [[ -n "$mod_dir" && -d "$mod_dir" ]] || { echo "$download" >&2; exit 1; }
    mkdir -p "$out/schema/postgresql"
    cp -R "$mod_dir/schema/postgresql/v12" "$out/schema/postgresql/v12"
    chmod -R u+w "$out/schema"
    # One `go install` for both: they share most packages, compiled once. -p 1 would be gentler but twice as long.
    go install -trimpath -buildvcs=false -ldflags "-s -w" "$MODULE/cmd/tools/sql@$VERSION" "$MODULE/cmd/server@$VERSION"
    mv "$GOBIN/sql" "$out/temporal-sql-tool"
    mv "$GOBIN/server" "$out/temporal-server"
    go clean -cache -modcache >/dev/null 2>&1 || true
  )
  trap - ERR
}

tool_ensure temporal-server "$VERSION" "$ROOT/.tools/temporal-server/$VERSION" is_version build
