//! The RPC list of the issue, through alloy's provider as dApps and wallets use it.

use crate::common::{
    TEST_REVERT_DATA, created_address, dev_sequencer, dev_signer, provider, set_topic,
    test_contract_initcode,
};
use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    network::TransactionBuilder,
    primitives::{Address, B256, U256, address, keccak256},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, TransactionRequest},
};
use futures::StreamExt;
use ol_sequencer::genesis::DEV_BALANCE;

const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

#[tokio::test]
async fn alloy_provider_covers_the_rpc_list() {
    let (seq, _dir) = dev_sequencer().await;
    let url = seq.http_url();
    let alice = dev_signer(0).address();
    let p = provider(&url, 0);

    // Identity and head.
    assert_eq!(p.get_chain_id().await.unwrap(), ol_sequencer::config::DEFAULT_CHAIN_ID);
    assert_eq!(p.get_block_number().await.unwrap(), 0);
    assert_eq!(p.get_balance(alice).await.unwrap(), DEV_BALANCE);
    let version: String = p.raw_request("web3_clientVersion".into(), ()).await.unwrap();
    assert!(version.starts_with("ol-sequencer"));
    let net: String = p.raw_request("net_version".into(), ()).await.unwrap();
    assert_eq!(net, ol_sequencer::config::DEFAULT_CHAIN_ID.to_string());

    // Subscriptions over WebSocket, opened before anything happens.
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(seq.ws_url())).await.unwrap();
    let mut heads = ws.subscribe_blocks().await.unwrap().into_stream();
    let mut logs =
        ws.subscribe_logs(&Filter::new().event_signature(set_topic())).await.unwrap().into_stream();

    // Fees.
    let gas_price = p.get_gas_price().await.unwrap();
    let tip = p.get_max_priority_fee_per_gas().await.unwrap();
    assert!(gas_price > tip && tip > 0, "gas price {gas_price}, tip {tip}");

    // A transfer: pending nonce, hash lookup, receipt, block by number and by hash.
    let pending = p
        .send_transaction(TransactionRequest::default().with_to(BOB).with_value(U256::from(7)))
        .await
        .unwrap();
    let hash = *pending.tx_hash();
    assert_eq!(p.get_transaction_count(alice).pending().await.unwrap(), 1);
    let receipt = pending.get_receipt().await.unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(p.get_transaction_count(alice).await.unwrap(), 1);
    let tx = p.get_transaction_by_hash(hash).await.unwrap().unwrap();
    assert_eq!(tx.block_number, receipt.block_number);
    let number = receipt.block_number.unwrap();
    let block =
        p.get_block_by_number(BlockNumberOrTag::Number(number)).full().await.unwrap().unwrap();
    assert_eq!(block.header.hash, receipt.block_hash.unwrap());
    assert_eq!(block.transactions.len(), 1);
    let by_hash = p.get_block_by_hash(block.header.hash).await.unwrap().unwrap();
    assert_eq!(by_hash.header.number, number);
    assert_eq!(p.get_balance(BOB).await.unwrap(), DEV_BALANCE + U256::from(7));
    // History: the balance before the transfer is still there.
    let before = p.get_balance(BOB).block_id(BlockId::number(number - 1)).await.unwrap();
    assert_eq!(before, DEV_BALANCE);

    // A contract: deploy, code, storage, call, estimate, logs, revert data.
    let deploy = p
        .send_transaction(TransactionRequest::default().with_deploy_code(test_contract_initcode()))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let contract = deploy.contract_address.unwrap();
    assert_eq!(contract, created_address(0, 1));
    assert!(!p.get_code_at(contract).await.unwrap().is_empty());
    let word = B256::with_last_byte(42);
    let set = TransactionRequest::default().with_to(contract).with_input(word);
    let estimate = p.estimate_gas(set.clone()).await.unwrap();
    assert!(estimate > 21_000 + 20_000, "{estimate}");
    assert_eq!(p.call(set.clone()).await.unwrap().as_ref(), word.as_slice());
    let set_receipt = p.send_transaction(set).await.unwrap().get_receipt().await.unwrap();
    assert!(set_receipt.status());
    assert!(set_receipt.gas_used <= estimate);
    assert_eq!(p.get_storage_at(contract, U256::ZERO).await.unwrap(), U256::from(42));
    // History: the state before the call, and a call before the contract existed.
    let set_block = set_receipt.block_number.unwrap();
    let old = p
        .get_storage_at(contract, U256::ZERO)
        .block_id(BlockId::number(set_block - 1))
        .await
        .unwrap();
    assert_eq!(old, U256::ZERO);
    let read = TransactionRequest::default().with_to(contract).with_input(B256::with_last_byte(1));
    let before_deploy = p.call(read.clone()).block(BlockId::number(number)).await.unwrap();
    assert!(before_deploy.is_empty(), "no code at block {number}: a call returns nothing");
    assert_eq!(p.call(read).await.unwrap().as_ref(), B256::with_last_byte(1).as_slice());
    let reverted = p.call(TransactionRequest::default().with_to(contract)).await.unwrap_err();
    let payload = reverted.as_error_resp().expect("a JSON-RPC error").clone();
    assert_eq!(payload.code, 3);
    let data: alloy::primitives::Bytes = serde_json::from_str(payload.data.unwrap().get()).unwrap();
    assert_eq!(data.as_ref(), TEST_REVERT_DATA);
    let estimate_err =
        p.estimate_gas(TransactionRequest::default().with_to(contract)).await.unwrap_err();
    assert_eq!(estimate_err.as_error_resp().unwrap().code, 3);

    let filter = Filter::new().address(contract).event_signature(set_topic()).from_block(0);
    let found = p.get_logs(&filter).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].transaction_hash, Some(set_receipt.transaction_hash));
    assert_eq!(found[0].data().data.as_ref(), word.as_slice());
    let none = p.get_logs(&Filter::new().address(BOB).from_block(0)).await.unwrap();
    assert!(none.is_empty());
    let block_receipts = p
        .get_block_receipts(BlockId::number(set_receipt.block_number.unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block_receipts.len(), 1);
    assert_eq!(block_receipts[0].transaction_hash, set_receipt.transaction_hash);

    // Fee history over the blocks so far.
    let history = p.get_fee_history(4, BlockNumberOrTag::Latest, &[25.0, 75.0]).await.unwrap();
    assert_eq!(history.base_fee_per_gas.len(), history.gas_used_ratio.len() + 1);
    assert!(history.reward.unwrap().iter().all(|r| r.len() == 2));

    // Proofs against the latest state root, checked with alloy-trie.
    let head = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    let proof = p.get_proof(contract, vec![B256::ZERO]).await.unwrap();
    assert_eq!(proof.storage_proof[0].value, U256::from(42));
    let account = alloy_trie::TrieAccount {
        nonce: proof.nonce,
        balance: proof.balance,
        storage_root: proof.storage_hash,
        code_hash: proof.code_hash,
    };
    alloy_trie::proof::verify_proof(
        head.header.state_root,
        alloy_trie::Nibbles::unpack(keccak256(contract)),
        Some(alloy_rlp::encode(account)),
        &proof.account_proof,
    )
    .unwrap();
    alloy_trie::proof::verify_proof(
        proof.storage_hash,
        alloy_trie::Nibbles::unpack(keccak256(B256::ZERO)),
        Some(alloy_rlp::encode(U256::from(42))),
        &proof.storage_proof[0].proof,
    )
    .unwrap();

    // txpool_status and the subscriptions' deliveries.
    let status: serde_json::Value = p.raw_request("txpool_status".into(), ()).await.unwrap();
    assert_eq!(status, serde_json::json!({"pending": "0x0", "queued": "0x0"}));
    let first_head = tokio::time::timeout(std::time::Duration::from_secs(10), heads.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_head.number, number);
    let log = tokio::time::timeout(std::time::Duration::from_secs(10), logs.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.transaction_hash, Some(set_receipt.transaction_hash));
    seq.stop().await;
}
