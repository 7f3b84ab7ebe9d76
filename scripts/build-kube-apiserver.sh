#!/usr/bin/env bash
# kube-apiserver <version> for the test stack, at .tools/kube/<version>/kube-apiserver: a link into the tool cache
# (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks it.
# k8s.io/kubernetes replaces its staging modules with local paths, so `go install …@version` fails; a wrapper
# module that requires it and points each staging module at its published v0.X twin builds it. ~5–7 min on 2 cores.
# No prebuilt upstream kube-apiserver is published on a registry this project reaches (PyPI, npm, Maven Central,
# Debian: only kubectl), so the build stays.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING="v0.${VERSION#v1.}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

is_version() { [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null)" == "Kubernetes $VERSION" ]]; }

build() {
  local out="$1"
  command -v go >/dev/null || { echo "build-kube-apiserver: go not found; kube-apiserver $VERSION needs Go >= 1.26 (https://go.dev/dl/)" >&2; return 1; }
  WORK="$(mktemp -d "$(dirname "$out")/build.XXXXXX")"
  local work="$WORK"
  # Everything Go writes stays in the build folder, removed afterwards (~1 GB of modules, ~3 GB of build cache).
  export GOPATH="$work/path" GOMODCACHE="$work/mod" GOCACHE="$work/cache" GOFLAGS=-modcacherw
  mkdir -p "$work/wrapper"
  (
    cd "$work/wrapper"
    go mod download -json "k8s.io/kubernetes@$VERSION" >/dev/null
    local mod="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$VERSION.mod"
    {
      printf 'module rotator/kas\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$VERSION"
      sed -n '/^replace (/,/^)/p' "$mod" | grep '=>' | awk -v v="$STAGING" '{print "\t"$1" => "$1" "v}'
      printf ')\n'
    } >go.mod
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$VERSION"
    local minor="${VERSION#v1.}"
    minor="${minor%%.*}"
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    go build -trimpath -buildvcs=false -ldflags "$ldf" -o "$out" k8s.io/kubernetes/cmd/kube-apiserver
  )
  go clean -cache -modcache >/dev/null 2>&1 || true
}

tool_ensure kube-apiserver "$VERSION" "$ROOT/.tools/kube/$VERSION/kube-apiserver" is_version build
