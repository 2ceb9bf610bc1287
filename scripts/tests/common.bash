# Helpers shared by the script tests (sourced, not run).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_failure "<what the output must contain>" command...: the command must exit non-zero
# and say the expected thing.
expect_failure() {
  local expected=$1; shift
  local out status=0
  out=$("$@" 2>&1) || status=$?
  [ "$status" -ne 0 ] || fail "expected failure from: $* (got exit 0; output: $out)"
  grep -qF -- "$expected" <<<"$out" || fail "output of '$*' lacks '$expected':
$out"
  echo "ok: '$expected'"
}

# A PATH holding only the named commands (symlinked from the real PATH).
path_with_only() {
  local dir="$TMP/path-$RANDOM" cmd
  mkdir -p "$dir"
  for cmd in "$@"; do ln -s "$(command -v "$cmd")" "$dir/$cmd"; done
  echo "$dir"
}

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
