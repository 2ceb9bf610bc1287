//! The blocks the node produced, re-executed from their raw bytes (`debug_getRawBlock`) on an
//! in-memory chain with the same execution function, give the same block hashes: what replay
//! relies on.

use crate::common::{call, dev_sequencer, dev_signer, eip1559, sign, test_contract_initcode};
use alloy::{
    eips::Decodable2718,
    primitives::{B256, Bytes, TxKind, U256},
};
use alloy_rlp::Decodable;
use ol_sequencer::{
    execution::BlockAttributes, launch::chain_spec, memory::MemoryChain, primitives::Transaction,
    validate::recover_senders,
};
use serde_json::json;
use std::{sync::Arc, time::Duration};

#[tokio::test]
async fn produced_blocks_reexecute_to_the_same_hashes() {
    let (seq, dir) = dev_sequencer().await;
    let url = seq.http_url();
    let alice = dev_signer(0);
    let contract = alice.address().create(0);
    let mut txs = vec![sign(
        &alice,
        eip1559(0, TxKind::Create, U256::ZERO, test_contract_initcode(), 200_000),
    )];
    for n in 1..6u8 {
        txs.push(sign(
            &alice,
            eip1559(
                u64::from(n),
                TxKind::Call(contract),
                U256::ZERO,
                Bytes::from(B256::with_last_byte(n).to_vec()),
                100_000,
            ),
        ));
    }
    for raw in &txs {
        let answer = call(&url, "eth_sendRawTransaction", json!([raw])).await;
        assert!(answer["result"].is_string(), "{answer}");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut head = 0;
    for _ in 0..200 {
        let nonce = call(&url, "eth_getTransactionCount", json!([alice.address(), "latest"])).await;
        if nonce["result"] == "0x6" {
            head = u64::from_str_radix(
                call(&url, "eth_blockNumber", json!([])).await["result"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(head >= 1, "the transactions were not mined");

    let spec = Arc::new(chain_spec(&crate::common::dev_config(dir.path().to_path_buf())).unwrap());
    let mut chain = MemoryChain::from_genesis(spec).unwrap();
    for number in 1..=head {
        let raw = call(&url, "debug_getRawBlock", json!([format!("{number:#x}")])).await;
        let bytes: Bytes = serde_json::from_value(raw["result"].clone()).unwrap();
        let block = alloy_consensus::Block::<Transaction>::decode(&mut bytes.as_ref()).unwrap();
        let attributes = BlockAttributes {
            timestamp: block.header.timestamp,
            beneficiary: block.header.beneficiary,
            gas_limit: block.header.gas_limit,
            prev_randao: block.header.mix_hash,
            parent_beacon_block_root: block.header.parent_beacon_block_root.unwrap_or_default(),
            extra_data: block.header.extra_data.clone(),
        };
        let recovered = recover_senders(block.body.transactions.clone()).unwrap();
        let executed = chain.execute(&attributes, recovered).unwrap();
        assert_eq!(
            executed.block.hash(),
            alloy_primitives::Sealed::new(block.header).hash(),
            "block {number}"
        );
    }
    // The raw block decodes as a standard EIP-2718 block: every transaction round-trips.
    let raw = call(&url, "debug_getRawBlock", json!(["latest"])).await;
    let bytes: Bytes = serde_json::from_value(raw["result"].clone()).unwrap();
    let block = alloy_consensus::Block::<Transaction>::decode(&mut bytes.as_ref()).unwrap();
    for tx in &block.body.transactions {
        let encoded = alloy::eips::Encodable2718::encoded_2718(tx);
        assert_eq!(&Transaction::decode_2718(&mut encoded.as_slice()).unwrap(), tx);
    }
    seq.stop().await;
}
