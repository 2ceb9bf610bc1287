# scripts/devnet starts anvil (L1), ol-sequencer (L2), the bridge and the OpenLoRA server; the
# chains answer `cast chain-id`, the server /health and /v1/models (paid); Ctrl-C (SIGINT to the
# devnet's process group, as a terminal sends it) stops everything and leaves nothing.
set -euo pipefail
source "$(dirname "$0")/common.bash"
export PATH="$ROOT/.tools/bin:$PATH"
set -m # background jobs get their own process group and do not ignore SIGINT

L1=$(free_port)
L2=$(free_port)
while [ "$L2" = "$L1" ]; do L2=$(free_port); done
OLP=$(free_port)
while [ "$OLP" = "$L1" ] || [ "$OLP" = "$L2" ]; do OLP=$(free_port); done
export OL_BUILD_PROFILE=dev OL_DEVNET_DIR="$TMP/devnet" OL_NETWORK="devnet-test-$$"
trap 'rm -rf "$TMP" "$ROOT/deployments/$OL_NETWORK"' EXIT

# Build first, untimed: the start-up deadline below is for starting, not for compiling.
(cd "$ROOT" && cargo build --quiet -p ol-sequencer --bin ol-sequencer -p ol-prover-bridge --bin ol-bridge \
  -p openlora-server --bin openlora-server)
"$ROOT/scripts/devnet" --l1-port "$L1" --l2-port "$L2" --openlora-port "$OLP" >"$TMP/devnet.out" 2>&1 &
devnet_pid=$!
for _ in $(seq 600); do
  grep -q "devnet: running" "$TMP/devnet.out" 2>/dev/null && break
  kill -0 "$devnet_pid" 2>/dev/null || { cat "$TMP/devnet.out"; fail "devnet exited during start-up"; }
  sleep 0.5
done
grep -q "devnet: running" "$TMP/devnet.out" || { cat "$TMP/devnet.out"; fail "devnet did not start in 300 s"; }

[ "$(cast chain-id --rpc-url "http://127.0.0.1:$L2")" = 1337420 ] || fail "L2 chain id"
[ "$(cast chain-id --rpc-url "http://127.0.0.1:$L1")" = 31337 ] || fail "L1 chain id"
[ "$(cast rpc --rpc-url "http://127.0.0.1:$L2" web3_clientVersion)" != "" ] || fail "web3_clientVersion"
anvil_pid=$(cat "$OL_DEVNET_DIR/anvil.pid")
sequencer_pid=$(cat "$OL_DEVNET_DIR/sequencer.pid")
echo "ok: both chains answer (anvil $anvil_pid, sequencer $sequencer_pid)"

# The contracts are deployed and their addresses written; each has code on its chain.
for side in l1:$L1 l2:$L2; do
  json="$ROOT/deployments/$OL_NETWORK/${side%%:*}.json"
  [ -f "$json" ] || fail "no $json"
  for address in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["contracts"].values()))' "$json"); do
    [ "$(cast code --rpc-url "http://127.0.0.1:${side#*:}" "$address")" != "0x" ] || fail "no code at $address ($json)"
  done
done
echo "ok: L1 and L2 contracts deployed"

# The OpenLoRA server: healthy, taking payment on the devnet with the index-5 key, selling the
# three adapters registered in the ModelRegistry, and refusing an unpaid request with a 402.
openlora_pid=$(cat "$OL_DEVNET_DIR/openlora.pid")
server_address=$(cast wallet address --mnemonic "test test test test test test test test test test test junk" --mnemonic-index 5)
python3 - "http://127.0.0.1:$OLP" "$server_address" "$OL_DEVNET_DIR/openlora/models.json" <<'PY' || fail "the OpenLoRA server checks failed"
import json, sys, urllib.error, urllib.request
url, server, models_file = sys.argv[1:4]
health = json.load(urllib.request.urlopen(url + "/health", timeout=10))
assert health["status"] == "ok", health
assert health["payment"]["server"].lower() == server.lower(), health
assert health["payment"]["chainId"] == 1337420, health
models = json.load(urllib.request.urlopen(url + "/v1/models", timeout=10))
ids = sorted(m["id"] for m in models["data"])
registered = sorted(m["adapter"] for m in json.load(open(models_file))["models"])
assert ids == registered and len(ids) == 3, (ids, registered)
req = urllib.request.Request(url + "/v1/completions", method="POST",
                             data=json.dumps({"model": ids[0], "prompt": "OPEN", "max_tokens": 4}).encode(),
                             headers={"content-type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=30)
    raise AssertionError("an unpaid request was served")
except urllib.error.HTTPError as e:
    body = json.load(e)
    assert e.code == 402 and body["error"]["code"] == "voucher_missing", (e.code, body)
print("ok: OpenLoRA server healthy, paid, 3 adapters for sale")
PY

# The devnet is a rollup: the bridge batches the L2 blocks and posts output roots, and replay
# rebuilds them from L1 alone.
bridge_pid=$(cat "$OL_DEVNET_DIR/bridge.pid")
oracle=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contracts"]["OutputOracle"])' "$ROOT/deployments/$OL_NETWORK/l1.json")
for _ in $(seq 120); do
  [ "$(cast call --rpc-url "http://127.0.0.1:$L1" "$oracle" "latestBlockNumber()(uint256)")" -ge 1 ] 2>/dev/null && break
  sleep 1
done
[ "$(cast call --rpc-url "http://127.0.0.1:$L1" "$oracle" "latestBlockNumber()(uint256)")" -ge 1 ] || fail "no output root posted in 120 s"
replay_out=$("${CARGO_TARGET_DIR:-$ROOT/target}/debug/ol-bridge" replay --quiet --l1-rpc "http://127.0.0.1:$L1" --deployment "$ROOT/deployments/$OL_NETWORK/l1.json" --dev) ||
  fail "replay failed: $replay_out"
grep -q "replay OK" <<<"$replay_out" || fail "replay said: $replay_out"
echo "ok: batches and output roots on L1; $(grep 'replay OK' <<<"$replay_out" | cut -c1-60)…"

# A second devnet on the same ports refuses to start, and says why.
expect_failure "already in use" "$ROOT/scripts/devnet" --l1-port "$L1" --l2-port "$L2" --openlora-port "$OLP"
kill -0 "$anvil_pid" && kill -0 "$sequencer_pid" || fail "the refused second start disturbed the first"

# Ctrl-C.
kill -INT -- "-$devnet_pid"
status=0
wait "$devnet_pid" || status=$?
[ "$status" = 130 ] || { cat "$TMP/devnet.out"; fail "devnet exited with $status after SIGINT, expected 130"; }
for pid in "$anvil_pid" "$sequencer_pid" "$bridge_pid" "$openlora_pid"; do
  ! kill -0 "$pid" 2>/dev/null || fail "process $pid is still running after Ctrl-C"
done
! pgrep -f -- "--port $L1" >/dev/null || fail "an anvil on port $L1 is left"
! pgrep -f -- "--http.port $L2" >/dev/null || fail "a sequencer on port $L2 is left"
grep -q "devnet: stopped" "$TMP/devnet.out" || fail "no orderly stop message"
grep -q "stopped" "$OL_DEVNET_DIR/sequencer.log" || fail "the sequencer did not shut down gracefully"
grep -q "openlora-server stopped" "$OL_DEVNET_DIR/openlora.log" || fail "the OpenLoRA server did not shut down gracefully"
echo "ok: Ctrl-C stopped everything"
