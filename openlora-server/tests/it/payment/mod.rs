//! The payment layer and the usage ledger against the real contracts on anvil (deployed by
//! `contracts/script/DeployL2.s.sol`): the gate's refusals, the redeemer, the ledger on SQLite
//! (and PostgreSQL when `OL_TEST_POSTGRES_URL` is set), and `kill -9` while serving.

pub mod common;
mod crash;
mod gate;
mod ledger;
mod redeemer;
