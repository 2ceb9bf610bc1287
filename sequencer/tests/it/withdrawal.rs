//! A withdrawal through the `L2ToL1MessagePasser` predeploy, proven the way the L1 portal will
//! prove it: the `sentMessages` slot of its hash, by `eth_getProof`, against the storage root
//! the block header carries (`withdrawalsRoot`, as in Isthmus).

use crate::common::{dev_sequencer, provider};
use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    primitives::{B256, Bytes, U256, address, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::{SolCall, SolEvent, SolValue},
};
use ol_primitives::{
    contracts::l2_to_l1_message_passer::IL2ToL1MessagePasser, predeploys::L2_TO_L1_MESSAGE_PASSER,
};

#[tokio::test]
async fn a_withdrawal_is_provable_against_the_headers_withdrawals_root() {
    let (seq, _dir) = dev_sequencer().await;
    let url = seq.http_url();
    let p = provider(&url, 0);
    let target = address!("000000000000000000000000000000000000aaaa");
    let value = U256::from(10u64).pow(U256::from(18u64));
    let call = IL2ToL1MessagePasser::initiateWithdrawalCall {
        _target: target,
        _gasLimit: U256::from(100_000),
        _data: Bytes::from_static(b"hi"),
    };
    let receipt = p
        .send_transaction(
            TransactionRequest::default()
                .with_to(L2_TO_L1_MESSAGE_PASSER)
                .with_value(value)
                .with_input(call.abi_encode()),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let event = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| IL2ToL1MessagePasser::MessagePassed::decode_log(&log.inner).ok())
        .expect("a MessagePassed event");
    assert_eq!(event.target, target);
    assert_eq!(event.value, value);

    // sentMessages[hash] is slot keccak(hash ‖ 0) and holds 1.
    let slot = keccak256((event.withdrawalHash, U256::ZERO).abi_encode());
    let header = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header;
    let proof = p.get_proof(L2_TO_L1_MESSAGE_PASSER, vec![slot]).await.unwrap();
    assert_eq!(
        Some(proof.storage_hash),
        header.withdrawals_root,
        "withdrawalsRoot is the passer's storage root"
    );
    assert_eq!(proof.storage_proof[0].value, U256::from(1));
    alloy_trie::proof::verify_proof(
        proof.storage_hash,
        alloy_trie::Nibbles::unpack(keccak256(slot)),
        Some(alloy_rlp::encode(U256::from(1))),
        &proof.storage_proof[0].proof,
    )
    .unwrap();
    // A hash that was never sent proves absent.
    let other = keccak256((B256::repeat_byte(9), U256::ZERO).abi_encode());
    let absent = p.get_proof(L2_TO_L1_MESSAGE_PASSER, vec![other]).await.unwrap();
    assert_eq!(absent.storage_proof[0].value, U256::ZERO);
    alloy_trie::proof::verify_proof(
        absent.storage_hash,
        alloy_trie::Nibbles::unpack(keccak256(other)),
        None,
        &absent.storage_proof[0].proof,
    )
    .unwrap();

    // Later blocks change the state (another withdrawal, a transfer); the proof at the first
    // withdrawal's block still verifies against that block's roots.
    let withdrawal_block = receipt.block_number.unwrap();
    for _ in 0..3 {
        p.send_transaction(
            TransactionRequest::default()
                .with_to(L2_TO_L1_MESSAGE_PASSER)
                .with_value(U256::from(1))
                .with_input(call.abi_encode()),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    }
    let old = p
        .get_block_by_number(BlockNumberOrTag::Number(withdrawal_block))
        .await
        .unwrap()
        .unwrap()
        .header;
    let latest = p.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header;
    assert!(latest.number > old.number && latest.withdrawals_root != old.withdrawals_root);
    let proof = p
        .get_proof(L2_TO_L1_MESSAGE_PASSER, vec![slot])
        .block_id(withdrawal_block.into())
        .await
        .unwrap();
    assert_eq!(Some(proof.storage_hash), old.withdrawals_root);
    alloy_trie::proof::verify_proof(
        proof.storage_hash,
        alloy_trie::Nibbles::unpack(keccak256(slot)),
        Some(alloy_rlp::encode(U256::from(1))),
        &proof.storage_proof[0].proof,
    )
    .unwrap();
    let account = alloy_trie::TrieAccount {
        nonce: proof.nonce,
        balance: proof.balance,
        storage_root: proof.storage_hash,
        code_hash: proof.code_hash,
    };
    alloy_trie::proof::verify_proof(
        old.state_root,
        alloy_trie::Nibbles::unpack(keccak256(L2_TO_L1_MESSAGE_PASSER)),
        Some(alloy_rlp::encode(account)),
        &proof.account_proof,
    )
    .unwrap();
    assert_eq!(proof.balance, value, "the passer held one withdrawal's OPEN at that block");
    seq.stop().await;
}
