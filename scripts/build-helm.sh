#!/usr/bin/env bash
# Helm <version> for the chart's tests (test/helm-chart.test.ts), at .tools/helm/<version>/helm: a link into the tool
# cache (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks it (~3–5 min on 2 cores).
# helm.sh/helm/v4 has no replace directives, so `go install …@version` builds it as released; the -X flag stamps
# the full version (the source only says "v4.3"), which `helm version` then reports and the cache check reads.
# No prebuilt Helm is published on a registry this project reaches, so the build stays.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
VERSION="${HELM_VERSION:-v4.3.2}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

is_version() { [[ -x "$1" ]] && [[ "$("$1" version --template '{{.Version}}' 2>/dev/null)" == "$VERSION" ]]; }

build() {
  tool_go_install helm "$1" "helm.sh/helm/v4/cmd/helm@$VERSION" \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION"
}

tool_ensure helm "$VERSION" "$ROOT/.tools/helm/$VERSION/helm" is_version build
