# scripts/bootstrap repairs half-finished earlier installs, and a second run changes nothing.
set -euo pipefail
source "$(dirname "$0")/common.bash"
BOOT="$ROOT/scripts/bootstrap"

# A warm run is quick and touches nothing.
"$BOOT" | tee "$TMP/warm.log"
grep -q "foundry, solc, forge-std, OpenZeppelin: up to date" "$TMP/warm.log" || fail "npm part was not up to date"
grep -q "libtorch 2.13.0, just: up to date" "$TMP/warm.log" || fail "python part was not up to date"
grep -q "python clients (openai): up to date" "$TMP/warm.log" || fail "python clients part was not up to date"

# npm part: a copy of the real install whose forge binary was cut short (a killed download).
mkdir -p "$TMP/tools"
cp -a "$ROOT/.tools/node" "$TMP/tools/node"
ln -s "$ROOT/.tools/venv" "$TMP/tools/venv"
ln -s "$ROOT/.tools/venv-clients" "$TMP/tools/venv-clients"
forge_bin="$TMP/tools/node/node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
truncate -s 4096 "$forge_bin"
! "$forge_bin" --version >/dev/null 2>&1 || fail "the truncated forge still runs?"
OL_TOOLS_DIR="$TMP/tools" "$BOOT" | tee "$TMP/repair.log"
grep -q "installing foundry" "$TMP/repair.log" || fail "the broken npm install was not noticed"
"$TMP/tools/bin/forge" --version | grep -q "1.7.1" || fail "forge was not repaired"

# python part: a venv whose pip install was killed (venv made, torch half there, no stamp).
rm "$TMP/tools/venv"
python3 -m venv "$TMP/tools/venv"
site=$("$TMP/tools/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/torch/lib" && echo "__version__ = '2.13.0'" >"$site/torch/version.py"
OL_TOOLS_DIR="$TMP/tools" "$BOOT" | tee "$TMP/repair2.log"
grep -q "installing libtorch" "$TMP/repair2.log" || fail "the half-finished venv was not noticed"
[ -f "$TMP/tools/libtorch/lib/libtorch_cpu.so" ] || fail "libtorch was not repaired"
"$TMP/tools/bin/just" --version >/dev/null || fail "just was not installed"

# And the repaired folder is now up to date.
OL_TOOLS_DIR="$TMP/tools" "$BOOT" | grep -c "up to date" | grep -qx 3 || fail "second run was not a no-op"
echo "ok: repaired both parts; the repaired folder is up to date"
