# scripts/devnet starts anvil (L1), ol-sequencer (L2), the bridge, the OpenLoRA server and the
# attribution engine's receipts worker; the chains answer `cast chain-id`, the server /health and
# /v1/models (paid); one paid inference on the attribution run's model becomes a signed receipt
# in a batch on chain that verifyReceipt accepts; Ctrl-C (SIGINT to the devnet's process group,
# as a terminal sends it) stops everything and leaves nothing.
set -euo pipefail
source "$(dirname "$0")/common.bash"
export PATH="$ROOT/.tools/bin:$PATH"
set -m # background jobs get their own process group and do not ignore SIGINT

L1=$(free_port)
L2=$(free_port)
while [ "$L2" = "$L1" ]; do L2=$(free_port); done
OLP=$(free_port)
while [ "$OLP" = "$L1" ] || [ "$OLP" = "$L2" ]; do OLP=$(free_port); done
RP=$(free_port)
while [ "$RP" = "$L1" ] || [ "$RP" = "$L2" ] || [ "$RP" = "$OLP" ]; do RP=$(free_port); done
export OL_BUILD_PROFILE=dev OL_DEVNET_DIR="$TMP/devnet" OL_NETWORK="devnet-test-$$"
trap 'rm -rf "$TMP" "$ROOT/deployments/$OL_NETWORK"' EXIT

# Build first, untimed: the start-up deadline below is for starting, not for compiling.
(cd "$ROOT" && cargo build --quiet -p ol-sequencer --bin ol-sequencer -p ol-prover-bridge --bin ol-bridge \
  -p openlora-server --bin openlora-server -p attribution-engine --bin attribution-engine)
started=$SECONDS
"$ROOT/scripts/devnet" --l1-port "$L1" --l2-port "$L2" --openlora-port "$OLP" --receipts-port "$RP" \
  >"$TMP/devnet.out" 2>&1 &
devnet_pid=$!
for _ in $(seq 600); do
  grep -q "devnet: running" "$TMP/devnet.out" 2>/dev/null && break
  kill -0 "$devnet_pid" 2>/dev/null || { cat "$TMP/devnet.out"; fail "devnet exited during start-up"; }
  sleep 0.5
done
grep -q "devnet: running" "$TMP/devnet.out" || { cat "$TMP/devnet.out"; fail "devnet did not start in 300 s"; }
echo "ok: devnet started in $((SECONDS - started)) s"

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
# three random adapters and the attribution run's adapter registered in the ModelRegistry, and
# refusing an unpaid request with a 402.
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
assert ids == registered and len(ids) == 4, (ids, registered)
req = urllib.request.Request(url + "/v1/completions", method="POST",
                             data=json.dumps({"model": ids[0], "prompt": "OPEN", "max_tokens": 4}).encode(),
                             headers={"content-type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=30)
    raise AssertionError("an unpaid request was served")
except urllib.error.HTTPError as e:
    body = json.load(e)
    assert e.code == 402 and body["error"]["code"] == "voucher_missing", (e.code, body)
print("ok: OpenLoRA server healthy, paid, 4 adapters for sale")
PY

# Attribution: a paid inference on the attribution run's model becomes a receipt. The payer (the
# test mnemonic's index 9, used by no part of the devnet) deposits into InferenceEscrow and signs
# an EIP-712 voucher (cast wallet sign --data, as eth_signTypedData_v4) to the server (index 5).
# The receipts worker signs a receipt as soon as the usage ledger has the inference; its batch
# goes on chain once the server's redeemer (every 10 s) has credited the fee to Rewards, so
# AttributionReceipts' accrued pool covers it. The wait is bounded (90 s).
receipts_pid=$(cat "$OL_DEVNET_DIR/receipts.pid")
mnemonic="test test test test test test test test test test test junk"
payer_key=$(cast wallet private-key --mnemonic "$mnemonic" --mnemonic-index 9)
payer=$(cast wallet address --private-key "$payer_key")
attestor=$(cast wallet address --mnemonic "$mnemonic" --mnemonic-index 8)
l2_json="$ROOT/deployments/$OL_NETWORK/l2.json"
contract() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["contracts"][sys.argv[2]])' "$l2_json" "$1"; }
escrow=$(contract InferenceEscrow)
receipts_contract=$(contract AttributionReceipts)
read -r attr_adapter attr_model < <(python3 -c '
import json, sys
m = [m for m in json.load(open(sys.argv[1]))["models"] if m.get("receipts")]
assert len(m) == 1, m
print(m[0]["adapter"], m[0]["modelId"])' "$OL_DEVNET_DIR/openlora/models.json")
cast send --rpc-url "http://127.0.0.1:$L2" --private-key "$payer_key" --value 1ether "$escrow" "deposit()" >/dev/null ||
  fail "the payer's escrow deposit failed"
amount=10000000000000000 # 0.01 OPEN: covers price x (prompt + max_tokens) / 1000 many times
# pay_inference ADAPTER MODEL_ID: one paid completion with a fresh voucher channel for the model;
# prints the x-inference-id.
pay_inference() {
  local adapter=$1 model=$2 signature
  python3 - "$TMP/voucher.json" "$payer" "$server_address" "$model" "$amount" "$escrow" <<'PY'
import json, sys
out, payer, server, model, amount, escrow = sys.argv[1:7]
json.dump({
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
        "Voucher": [{"name": "payer", "type": "address"}, {"name": "server", "type": "address"},
                    {"name": "modelId", "type": "bytes32"}, {"name": "cumulativeAmount", "type": "uint256"}],
    },
    "primaryType": "Voucher",
    "domain": {"name": "OpenLedger InferenceEscrow", "version": "1", "chainId": 1337420, "verifyingContract": escrow},
    "message": {"payer": payer, "server": server, "modelId": model, "cumulativeAmount": amount},
}, open(out, "w"))
PY
  signature=$(cast wallet sign --data --from-file "$TMP/voucher.json" --private-key "$payer_key") || return 1
  python3 - "http://127.0.0.1:$OLP" "$adapter" "$payer" "$server_address" "$model" "$amount" "$signature" "$escrow" <<'PY'
import base64, json, sys, urllib.request
url, adapter, payer, server, model, amount, signature, escrow = sys.argv[1:9]
voucher = {"payer": payer, "server": server, "modelId": model, "cumulativeAmount": amount,
           "signature": signature, "chainId": 1337420, "verifyingContract": escrow}
header = base64.urlsafe_b64encode(json.dumps(voucher).encode()).decode().rstrip("=")
req = urllib.request.Request(url + "/v1/completions", method="POST",
                             data=json.dumps({"model": adapter, "prompt": "The attribution engine measures",
                                              "max_tokens": 16, "temperature": 0}).encode(),
                             headers={"content-type": "application/json", "x-payment-voucher": header})
with urllib.request.urlopen(req, timeout=60) as r:
    body = json.load(r)
    assert r.status == 200 and body["usage"]["completion_tokens"] >= 1, body
    assert int(r.headers["x-payment-fee"]) > 0, dict(r.headers)
    print(r.headers["x-inference-id"])
PY
}
# First a paid inference of a random adapter (no training data: the worker passes over it), then
# one of the attribution run's model, which must get its receipt all the same.
read -r random_adapter random_model < <(python3 -c '
import json, sys
m = [m for m in json.load(open(sys.argv[1]))["models"] if not m.get("receipts")][0]
print(m["adapter"], m["modelId"])' "$OL_DEVNET_DIR/openlora/models.json")
pay_inference "$random_adapter" "$random_model" >/dev/null || fail "the paid inference on a random adapter failed"
paid_at=$SECONDS
inference=$(pay_inference "$attr_adapter" "$attr_model") || fail "the paid inference on the attribution model failed"
echo "ok: paid inference $inference on the attribution model $attr_model (after one on a random adapter)"
python3 - "http://127.0.0.1:$RP" "$inference" "$attr_model" "$attestor" "$TMP/receipt.json" <<'PY' ||
import json, sys, time, urllib.error, urllib.request
url, inference, model, attestor, out = sys.argv[1:6]
health = json.load(urllib.request.urlopen(url + "/health", timeout=10))
assert health["attestor"].lower() == attestor.lower(), health
deadline, body = time.time() + 90, None
while time.time() < deadline:
    try:
        body = json.load(urllib.request.urlopen(f"{url}/receipts/{inference}", timeout=10))
        if body["batch"] and body["batch"]["status"] == "confirmed":
            break
    except urllib.error.HTTPError as e:
        assert e.code == 404, (e.code, e.read())
    time.sleep(1)
assert body is not None, f"no receipt for inference {inference} within 90 s"
assert body["contributors"], f"the receipt lists no contributor (nothing to pay, so never batched): {body}"
assert body["batch"] and body["batch"]["status"] == "confirmed", f"its batch was not confirmed within 90 s: {body['batch']}"
assert body["receipt"]["inferenceId"] == inference and body["receipt"]["modelId"] == model, body["receipt"]
assert body["attestor"].lower() == attestor.lower()
assert body["contributors"] and sum(c["bps"] for c in body["contributors"]) <= 10000, body["contributors"]
json.dump(body, open(out, "w"))
PY
  { tail -n 30 "$OL_DEVNET_DIR/receipts.log"; fail "no receipt in a confirmed batch for inference $inference"; }
echo "ok: receipt in batch $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["batch"]["batchId"])' "$TMP/receipt.json") on chain $((SECONDS - paid_at)) s after the inference"
# The receipt is the attestor's signature of its leaf, and the chain verifies it with the proof;
# it pays the devnet Datanet's contributors. (Which of the two comes first is not asserted: on a
# tiny random base model, whose tokenizer is trained on README.md and so changes with it, two
# contributors writing about overlapping things are not told apart reliably; attribution to the
# right contributor is what the attribution-engine pipeline test and quality benchmark check.)
read -r leaf sig batch_id receipt_tuple proof contributors < <(python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
r = b["receipt"]
fields = [r["inferenceId"], r["modelId"], r["adapterHash"], r["outputHash"], r["indexRoot"],
          str(r["methodVersion"]), str(int(r["fee"], 0)), r["attributionHash"]]
print(b["leaf"], b["signature"], b["batch"]["batchId"], "(" + ",".join(fields) + ")",
      "[" + ",".join(b["proof"]) + "]", ",".join(c["address"] for c in b["contributors"]))' "$TMP/receipt.json")
cast wallet verify --address "$attestor" "$leaf" "$sig" >/dev/null || fail "the receipt is not signed by the attestor $attestor"
[ "$(cast call --rpc-url "http://127.0.0.1:$L2" "$receipts_contract" \
  "verifyReceipt(uint256,(bytes32,bytes32,bytes32,bytes32,bytes32,uint32,uint256,bytes32),bytes32[])(bool)" \
  "$batch_id" "$receipt_tuple" "$proof")" = true ] || fail "AttributionReceipts.verifyReceipt refused the receipt"
for c in ${contributors//,/ }; do
  c=$(cast to-check-sum-address "$c")
  [ "$c" = "$(cast wallet address --mnemonic "$mnemonic" --mnemonic-index 6)" ] ||
    [ "$c" = "$(cast wallet address --mnemonic "$mnemonic" --mnemonic-index 7)" ] ||
    fail "receipt lists $c, not a contributor of the devnet Datanet"
done
echo "ok: receipt signed by the attestor $attestor and verified on chain; contributors $contributors"

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
expect_failure "already in use" "$ROOT/scripts/devnet" --l1-port "$L1" --l2-port "$L2" --openlora-port "$OLP" --receipts-port "$RP"
kill -0 "$anvil_pid" && kill -0 "$sequencer_pid" || fail "the refused second start disturbed the first"

# Ctrl-C.
kill -INT -- "-$devnet_pid"
status=0
wait "$devnet_pid" || status=$?
[ "$status" = 130 ] || { cat "$TMP/devnet.out"; fail "devnet exited with $status after SIGINT, expected 130"; }
for pid in "$anvil_pid" "$sequencer_pid" "$bridge_pid" "$openlora_pid" "$receipts_pid"; do
  ! kill -0 "$pid" 2>/dev/null || fail "process $pid is still running after Ctrl-C"
done
! pgrep -f -- "--port $L1" >/dev/null || fail "an anvil on port $L1 is left"
! pgrep -f -- "--http.port $L2" >/dev/null || fail "a sequencer on port $L2 is left"
grep -q "devnet: stopped" "$TMP/devnet.out" || fail "no orderly stop message"
grep -q "stopped" "$OL_DEVNET_DIR/sequencer.log" || fail "the sequencer did not shut down gracefully"
grep -q "openlora-server stopped" "$OL_DEVNET_DIR/openlora.log" || fail "the OpenLoRA server did not shut down gracefully"
grep -q "receipts worker stopped" "$OL_DEVNET_DIR/receipts.log" || fail "the receipts worker did not shut down gracefully"
echo "ok: Ctrl-C stopped everything"
