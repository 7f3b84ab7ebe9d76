#!/usr/bin/env bash
# sops <version> for the SOPS store (activities/stores/sops/, test/sops-store.test.ts), at .tools/sops/<version>/sops:
# a link into the tool cache (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks
# it (~2–4 min on 2 cores). github.com/getsops/sops/v3 has no replace directives, so `go install …@version` builds it
# as released; its version is a constant in the source, which `sops --version` reports and the cache check reads.
# age itself comes from Debian (bootstrap's need_apt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
VERSION="${SOPS_VERSION:-v3.13.3}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

# Read the whole --version output before matching (no early-quitting reader); --disable-version-check: no network.
is_version() {
  [[ -x "$1" ]] || return 1
  local out
  out="$("$1" --disable-version-check --version 2>/dev/null)" || return 1
  [[ "$(sed -n '1s/^sops \([^ ]*\).*/\1/p' <<<"$out")" == "${VERSION#v}" ]]
}

build() { tool_go_install sops "$1" "github.com/getsops/sops/v3/cmd/sops@$VERSION" -ldflags "-s -w"; }

tool_ensure sops "$VERSION" "$ROOT/.tools/sops/$VERSION/sops" is_version build
