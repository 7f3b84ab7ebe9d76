# shellcheck shell=sh
# Sourced by the npm scripts after scripts/bootstrap.sh (`. scripts/node-env.sh && …`, from the package root): puts the
# Node pinned in .node-version first on PATH, so every node program they start (jest, tsx, tsc, eslint, bin/rotator,
# and through process.execPath the workers and CLIs the tests spawn) runs on it, whichever node runs npm itself.
# The bootstrap links it at .tools/node/<version>/bin/node. Without that link, a node already of the pinned major
# (the Docker image's, a CI image's) is used as it is; any other is refused, naming the fix.
rotator_node_version="$(tr -d '[:space:]' <.node-version)"
rotator_node_bin="$PWD/.tools/node/$rotator_node_version/bin"
if [ -x "$rotator_node_bin/node" ]; then
  case ":$PATH:" in
    "$rotator_node_bin:"*) ;;
    *) PATH="$rotator_node_bin:$PATH" && export PATH ;;
  esac
elif [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "${rotator_node_version%%.*}" ]; then
  echo "rotator needs Node ${rotator_node_version%%.*} (pinned: $rotator_node_version in .node-version) and found $(node --version 2>/dev/null || echo 'no node'); run: npm run bootstrap" >&2
  false
fi
