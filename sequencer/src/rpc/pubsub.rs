//! `eth_subscribe` over WebSocket: `newHeads` and `logs`, pushed when a block is committed.

use super::convert::{rpc_header, rpc_logs};
use crate::node::Node;
use alloy_rpc_types_eth::{
    Filter,
    pubsub::{Params, SubscriptionKind},
};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage, core::SubscriptionResult, proc_macros::rpc,
    types::ErrorObject,
};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// The `eth_` subscription methods.
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to `newHeads` or `logs` (with an optional filter).
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: SubscriptionKind, params: Option<Params>)
    -> SubscriptionResult;
}

/// Pushes committed blocks to subscribers.
#[derive(Debug, Clone)]
pub struct EthPubSub {
    node: Arc<Node>,
}

impl EthPubSub {
    /// Subscriptions to `node`'s blocks.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

fn message(value: &impl serde::Serialize) -> Result<SubscriptionMessage, serde_json::Error> {
    serde_json::value::to_raw_value(value).map(SubscriptionMessage::from)
}

#[jsonrpsee::core::async_trait]
impl EthPubSubApiServer for EthPubSub {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: SubscriptionKind,
        params: Option<Params>,
    ) -> SubscriptionResult {
        let filter = match (kind, params.unwrap_or_default()) {
            (SubscriptionKind::NewHeads, Params::None) => None,
            (SubscriptionKind::Logs, Params::None) => Some(Filter::default()),
            (SubscriptionKind::Logs, Params::Logs(filter)) => Some(*filter),
            (kind, _) => {
                pending
                    .reject(ErrorObject::owned(
                        -32602,
                        format!("unsupported subscription {kind:?} or parameters"),
                        None::<()>,
                    ))
                    .await;
                return Ok(());
            }
        };
        let mut blocks = self.node.subscribe();
        let sink = pending.accept().await?;
        loop {
            let block = tokio::select! {
                block = blocks.recv() => block,
                () = sink.closed() => return Ok(()),
            };
            let block = match block {
                Ok(block) => block,
                // A slow subscriber missed blocks: tell it by closing, as geth does.
                Err(RecvError::Lagged(missed)) => {
                    let _ = sink
                        .send(message(&format!("subscription lagged behind by {missed} blocks"))?)
                        .await;
                    return Ok(());
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            let header = &block.block.header;
            match &filter {
                None => sink.send(message(&rpc_header(header))?).await?,
                Some(filter) => {
                    if !filter.matches_bloom(header.logs_bloom) {
                        continue;
                    }
                    let mut first = 0;
                    for (index, (tx, receipt)) in
                        block.block.transactions.iter().zip(&block.receipts).enumerate()
                    {
                        let logs = rpc_logs(receipt, header, tx.tx_hash(), index as u64, first);
                        first += receipt.logs().len() as u64;
                        for log in logs.into_iter().filter(|l| filter.matches(&l.inner)) {
                            sink.send(message(&log)?).await?;
                        }
                    }
                }
            }
        }
    }
}
