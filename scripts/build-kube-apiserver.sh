#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy into .tools/kube/<version>/ (skipped when present).
# k8s.io/kubernetes replaces its staging modules with local paths, so `go install …@version` fails; a wrapper
# module that requires it and points each staging module at its published v0.X twin builds it. ~7 min on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING="v0.${VERSION#v1.}"
OUT="$ROOT/.tools/kube/$VERSION"
BIN="$OUT/kube-apiserver"
if [[ -x "$BIN" ]] && "$BIN" --version 2>/dev/null | grep -qx "Kubernetes $VERSION"; then
  echo "kube-apiserver $VERSION ok"
  exit 0
fi
command -v go >/dev/null || { echo "build-kube-apiserver: go not found; kube-apiserver $VERSION needs Go >= 1.26 (https://go.dev/dl/)" >&2; exit 1; }
WORK="$ROOT/.tools/kube/build"
export GOPATH="$WORK/path" GOMODCACHE="$WORK/mod" GOCACHE="$WORK/cache" GOFLAGS=-modcacherw
mkdir -p "$WORK/wrapper" "$OUT"
cd "$WORK/wrapper"
go mod download -json "k8s.io/kubernetes@$VERSION" >/dev/null
MOD="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$VERSION.mod"
{
  printf 'module rotator/kas\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$VERSION"
  sed -n '/^replace (/,/^)/p' "$MOD" | grep '=>' | awk -v v="$STAGING" '{print "\t"$1" => "$1" "v}'
  printf ')\n'
} >go.mod
go get "k8s.io/kubernetes/cmd/kube-apiserver@$VERSION"
minor="${VERSION#v1.}"; minor="${minor%%.*}"
LDF="-s -w -X k8s.io/component-base/version.gitVersion=$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
go build -trimpath -buildvcs=false -ldflags "$LDF" -o "$BIN.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv -f "$BIN.tmp" "$BIN"
cd "$ROOT"
# Only the binary is kept: ~4 GB of module and build caches would only speed up a version bump.
go clean -cache -modcache >/dev/null 2>&1 || true
rm -rf "$WORK"
"$BIN" --version
