#!/usr/bin/env bash
# FerretDB <version> (a MongoDB-wire server) for the test stack, at .tools/go/bin/ferretdb: a link into the tool cache
# (scripts/tool-cache.sh), built there from the Go module proxy only when the cache lacks it (~1–2 min on 2 cores).
# Not `go install …@version`: the module zip lacks the generated build/version/version.txt, so such a binary
# panics at start; we copy the verified module source, write that file, and build it as its own main module.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/tool-cache.sh
source "$ROOT/scripts/tool-cache.sh"
MODULE="github.com/FerretDB/FerretDB"
VERSION="${FERRETDB_VERSION:-v1.24.2}"

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

# Read the whole --version output before matching: a reader that quits early would SIGPIPE ferretdb.
is_version() { [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null | sed -n 's/^version: //p')" == "$VERSION" ]]; }

build() {
  local out="$1"
  command -v go >/dev/null || {
    echo "build-ferretdb: go not found; FerretDB $VERSION is built from source and needs Go >= 1.21 (it fetches the 1.24 toolchain itself): install it from https://go.dev/dl/ (Debian's golang package is usually too old)" >&2
    return 1
  }
  local go_version
  go_version="$(go env GOVERSION)"
  if [[ "$(printf '%s\n' go1.21 "$go_version" | sort -V | head -1)" != go1.21 ]]; then
    echo "build-ferretdb: $go_version is too old to build FerretDB $VERSION; install Go >= 1.21 from https://go.dev/dl/" >&2
    return 1
  fi
  WORK="$(mktemp -d "$(dirname "$out")/build.XXXXXX")"
  # Everything Go writes stays in the build folder, removed afterwards; -modcacherw lets rm -rf remove it.
  export GOPATH="$WORK/path" GOMODCACHE="$WORK/mod" GOCACHE="$WORK/cache" GOFLAGS=-modcacherw
  local download mod_dir
  # -json reports a failure on stdout.
  download="$(go mod download -json "$MODULE@$VERSION")" || { echo "$download" >&2; return 1; }
  mod_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$download")"
  [[ -n "$mod_dir" && -d "$mod_dir" ]] || { echo "$download" >&2; return 1; }
  local src="$WORK/src"
  cp -R "$mod_dir" "$src" && chmod -R u+w "$src"
  echo "$VERSION" >"$src/build/version/version.txt"
  # -buildvcs=false: no VCS stamp (the build folder is no checkout of FerretDB).
  (cd "$src" && go build -trimpath -buildvcs=false -o "$out" ./cmd/ferretdb)
  go clean -cache -modcache >/dev/null 2>&1 || true
}

tool_ensure ferretdb "$VERSION" "$ROOT/.tools/go/bin/ferretdb" is_version build
