# Sourced by the tool build scripts: binaries that take minutes to build are kept OUTSIDE the clone, keyed on their
# version, so a fresh clone on the same machine (CI's) links them instead of building them again:
#   ${ROTATOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rotator}/<tool>/<version>/<binary>
# The clone keeps finding them where it always did (.tools/…, what src/stack/local-stack.ts reads), as a symlink.
# Delete a version's folder to rebuild it; nothing else in the cache is kept (Go's module and build caches go).

TOOLS_CACHE="${ROTATOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rotator}"

# tool_ensure NAME VERSION LINK CHECK BUILD
#   LINK   the path the clone reads (.tools/…): left alone when it already holds VERSION, else made a symlink to the
#          cached binary.
#   CHECK  a command given a binary's path; succeeds when that binary is VERSION.
#   BUILD  a command given an output path; builds the binary there (beside the cache entry, so the final mv is atomic).
# A binary of VERSION already at LINK (a clone bootstrapped before the cache) is copied into the cache, not rebuilt.
# One build per tool and version at a time: a second bootstrap (another clone, CI) waits on the lock and then links.
# Prints "NAME VERSION ok" or "NAME VERSION built in N s".
tool_ensure() {
  local name="$1" version="$2" link="$3" check="$4" build="$5"
  local dir="$TOOLS_CACHE/$name/$version"
  local cached
  cached="$dir/$(basename "$link")"
  local how="ok" started=$SECONDS
  if ! "$check" "$cached"; then
    mkdir -p "$dir"
    exec {lock}>"$dir/.lock"
    flock "$lock"
    if ! "$check" "$cached"; then
      rm -f "$cached.tmp"
      if [[ -f "$link" && ! -L "$link" ]] && "$check" "$link"; then
        cp "$link" "$cached.tmp"
        how="copied into $dir"
      else
        "$build" "$cached.tmp"
        how="built in $((SECONDS - started)) s"
      fi
      mv -f "$cached.tmp" "$cached"
      "$check" "$cached" || { echo "$name: $cached does not report $version" >&2; return 1; }
    fi
    flock -u "$lock"
    exec {lock}>&-
  fi
  if ! "$check" "$link"; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$cached" "$link"
  fi
  echo "$name $version $how"
}

# tool_go_install NAME OUT PACKAGE@VERSION [go install flags…]
#   Builds a module that has no replace directives as released (`go install`), into OUT. Everything Go writes stays in
#   a build folder beside OUT, kept in WORK for the caller's EXIT trap and emptied here; -modcacherw lets rm -rf
#   remove it. The binary is stripped and carries no VCS stamp.
tool_go_install() {
  local name="$1" out="$2" pkg="$3"
  shift 3
  command -v go >/dev/null || { echo "build-$name: go not found; ${pkg##*/} needs Go (https://go.dev/dl/)" >&2; return 1; }
  WORK="$(mktemp -d "$(dirname "$out")/build.XXXXXX")"
  (
    export GOPATH="$WORK/path" GOMODCACHE="$WORK/mod" GOCACHE="$WORK/cache" GOFLAGS=-modcacherw GOBIN="$WORK/bin"
    go install -trimpath -buildvcs=false "$@" "$pkg"
    local bin="${pkg%@*}"
    mv "$GOBIN/${bin##*/}" "$out"
    go clean -cache -modcache >/dev/null 2>&1 || true
  )
}
