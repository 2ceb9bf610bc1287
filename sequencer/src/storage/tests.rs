//! The store against its promises: atomic, ordered block commits; history at every block;
//! refusal of corrupt or foreign files.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::{
    genesis::{dev_genesis, genesis_changeset, genesis_header},
    primitives::SealedBlock,
};
use alloy_primitives::{U256, address};

fn genesis_block() -> ExecutedBlock {
    let genesis = dev_genesis(7);
    ExecutedBlock {
        block: SealedBlock {
            header: genesis_header(&genesis).unwrap(),
            transactions: vec![],
            senders: vec![],
        },
        receipts: vec![],
        changes: genesis_changeset(&genesis),
        l1_origin: None,
    }
}

fn empty_child(parent: &ExecutedBlock, changes: StateChangeset) -> ExecutedBlock {
    let mut header = parent.block.header.inner().clone();
    header.parent_hash = parent.block.hash();
    header.number += 1;
    ExecutedBlock {
        block: SealedBlock { header: Sealed::new(header), transactions: vec![], senders: vec![] },
        receipts: vec![],
        changes,
        l1_origin: None,
    }
}

use alloy_primitives::Sealed;

#[test]
fn blocks_commit_in_order_and_history_answers_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    assert_eq!(store.head_number().unwrap(), None);
    let genesis = genesis_block();
    store.commit_block(&genesis).unwrap();

    let who = address!("00000000000000000000000000000000000000aa");
    let set = |balance: u64, slot_value: u64| StateChangeset {
        accounts: vec![(
            who,
            AccountUpdate {
                info: Some(AccountState {
                    nonce: 1,
                    balance: U256::from(balance),
                    ..Default::default()
                }),
                storage_wiped: false,
                storage: vec![(U256::from(1), U256::from(slot_value))],
            },
        )],
        contracts: vec![],
    };
    let b1 = empty_child(&genesis, set(100, 5));
    store.commit_block(&b1).unwrap();
    let b2 = empty_child(&b1, set(50, 0));
    store.commit_block(&b2).unwrap();

    // Out of order: refused, nothing changes.
    let err = store.commit_block(&b1).unwrap_err();
    assert!(matches!(err, StoreError::NotNext { head: 2, got: 1 }), "{err}");

    let r = store.reader().unwrap();
    assert_eq!(r.head_number().unwrap(), Some(2));
    assert_eq!(r.block_number(&b2.block.hash()).unwrap(), Some(2));
    assert_eq!(r.header(1).unwrap().unwrap().hash(), b1.block.hash());
    assert_eq!(r.account(&who).unwrap().unwrap().balance, U256::from(50));
    assert_eq!(r.account_at(&who, 0).unwrap(), None);
    assert_eq!(r.account_at(&who, 1).unwrap().unwrap().balance, U256::from(100));
    assert_eq!(r.storage_at(&who, &U256::from(1), 1).unwrap(), U256::from(5));
    assert_eq!(r.storage_at(&who, &U256::from(1), 2).unwrap(), U256::ZERO);
    assert_eq!(r.storage(&who, &U256::from(1)).unwrap(), U256::ZERO);
    let dump = r.all_accounts().unwrap();
    assert_eq!(dump.len(), 11);
}

#[test]
fn a_reopened_store_keeps_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let genesis = genesis_block();
    {
        let store = Store::open(&path).unwrap();
        store.commit_block(&genesis).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.head_number().unwrap(), Some(0));
    let r = store.reader().unwrap();
    assert_eq!(r.header(0).unwrap().unwrap().hash(), genesis.block.hash());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(&path, b"this is not a redb file, just some text").unwrap();
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("cannot open the database"), "{err}");
}
