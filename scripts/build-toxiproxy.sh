#!/usr/bin/env bash
# Toxiproxy <version> (a TCP proxy whose faults a test sets through its HTTP API: latency, reset, blackhole, slow close,
# down) for the fault matrix (test/fault-matrix.test.ts), at .tools/toxiproxy/<version>/toxiproxy-server: a link into
# the tool cache (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks it (~1 min on
# 2 cores). github.com/Shopify/toxiproxy/v2 has no replace directives, so `go install …/cmd/server@version` builds it
# as released; its version is a variable its release build sets (-X), which `-version` reports and the cache check reads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
VERSION="${TOXIPROXY_VERSION:-v2.5.0}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

# Read the whole -version output before matching (no early-quitting reader).
is_version() {
  [[ -x "$1" ]] || return 1
  local out
  out="$("$1" -version 2>/dev/null)" || return 1
  [[ "$(sed -n '1s/^toxiproxy-server version \([^ ]*\).*/\1/p' <<<"$out")" == "${VERSION#v}" ]]
}

build() {
  tool_go_install toxiproxy "$1" "github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION" \
    -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=${VERSION#v}"
}

tool_ensure toxiproxy "$VERSION" "$ROOT/.tools/toxiproxy/$VERSION/toxiproxy-server" is_version build
