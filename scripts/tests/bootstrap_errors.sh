# scripts/bootstrap on bad set-up input: missing prerequisites and an unreachable registry get a
# clear message and change nothing.
set -euo pipefail
source "$(dirname "$0")/common.bash"
BOOT="$ROOT/scripts/bootstrap"

# Missing prerequisites, one at a time (bash itself is called by path).
expect_failure "'node' was not found" env PATH="$(path_with_only dirname)" /bin/bash "$BOOT"
expect_failure "'python3' was not found" env PATH="$(path_with_only dirname node npm)" /bin/bash "$BOOT"
expect_failure "'cargo' was not found" env PATH="$(path_with_only dirname node npm python3)" /bin/bash "$BOOT"

# No network to npm: a fresh tools folder must be installed, and the registry does not answer.
# (127.0.0.1:9 is the discard port: nothing listens there.)
expect_failure "cannot reach the npm registry" \
  env OL_TOOLS_DIR="$TMP/fresh" npm_config_registry=http://127.0.0.1:9/ "$BOOT"
[ ! -e "$TMP/fresh/node" ] || fail "a failed npm check left $TMP/fresh/node behind"

# No network to PyPI: the npm tools are in place (linked), the venv is not.
mkdir -p "$TMP/nopypi"
ln -s "$ROOT/.tools/node" "$TMP/nopypi/node"
expect_failure "cannot reach the Python package index" \
  env OL_TOOLS_DIR="$TMP/nopypi" PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_FIND_LINKS= "$BOOT"
[ ! -e "$TMP/nopypi/venv" ] || fail "a failed PyPI check left a venv behind"
