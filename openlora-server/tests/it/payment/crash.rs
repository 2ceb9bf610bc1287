//! `kill -9` while serving: every voucher the gate accepted and every inference it settled
//! before the kill is in the ledger afterwards, each channel's consumed amount is the sum of its
//! recorded fees (one transaction each), and an accepted voucher cannot be replayed.
//!
//! The serving process is this test binary itself, run again as a child on one test
//! (`payment::crash::child_serves_until_killed`) that only does something when `OPENLORA_SERVER_CRASH`
//! holds its parameters.

use crate::payment::common::{Chain, OPEN, PAYER, SERVER, address, signer};
use alloy::primitives::{B256, U256, keccak256};
use openlora_server::{
    ledger::{ChannelKey, InferenceQuery, Ledger},
    payment::{
        AdmitRequest, ChainConfig, PaymentConfig, PaymentGate, SignedVoucher, Usage,
        voucher::voucher, voucher_domain,
    },
};
use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

const PRICE: u128 = 1_000_000_000_000_000;
const VAR: &str = "OPENLORA_SERVER_CRASH";

fn request(header: &str) -> AdmitRequest<'_> {
    AdmitRequest {
        voucher_header: Some(header),
        adapter: keccak256("crash adapter"),
        prompt_tokens: 10,
        max_tokens: 90,
        prompt_hash: keccak256("prompt"),
    }
}

/// The child: admits and settles forever, printing what it acknowledged.
#[tokio::test]
async fn child_serves_until_killed() {
    let Ok(params) = std::env::var(VAR) else { return };
    let p: Vec<&str> = params.split(',').collect();
    let (url, db) = (p[0], p[1]);
    let config = ChainConfig {
        chain_id: p[2].parse().unwrap(),
        escrow: p[3].parse().unwrap(),
        registry: p[4].parse().unwrap(),
    };
    let model: B256 = p[5].parse().unwrap();
    let ledger = Ledger::open(db).await.unwrap();
    let rpc = crate::payment::common::read_provider(url);
    let cfg = PaymentConfig::new(config, address(SERVER)).with_cache_ttl(Duration::from_secs(60));
    let gate = PaymentGate::new(cfg, rpc, ledger).await.unwrap();
    let domain = voucher_domain(config.chain_id, config.escrow);
    let mut out = std::io::stdout().lock();
    for i in 1u128.. {
        // Each voucher covers all maxima so far (0.0001 OPEN per request).
        let v = voucher(address(PAYER), address(SERVER), model, U256::from(i * PRICE / 10));
        let header = SignedVoucher::sign(v, &domain, &signer(PAYER)).unwrap().to_header();
        let a = gate.admit(request(&header)).await.unwrap();
        writeln!(out, "ACCEPTED {} {header}", i * PRICE / 10).unwrap();
        out.flush().unwrap();
        let s = gate
            .settle(a, Usage { completion_tokens: 40, output_hash: keccak256(i.to_be_bytes()) })
            .await
            .unwrap();
        writeln!(out, "SETTLED {} {}", s.inference_id, s.fee).unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_on_kill_9() {
    if std::env::var(VAR).is_ok() {
        return; // inside the child
    }
    let chain = Chain::start().await;
    let adapter = keccak256("crash adapter");
    let model = chain.register_model(adapter, PRICE).await;
    chain.deposit(PAYER, OPEN).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let c = chain.config;
    let params = format!(
        "{},{},{},{},{},{model}",
        chain.anvil.url,
        db.display(),
        c.chain_id,
        c.escrow,
        c.registry
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "payment::crash::child_serves_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(VAR, params)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acks = Acks::default();
    let mut lines = BufReader::new(stdout).lines();
    while acks.settled.len() < 25 {
        acks.read(&lines.next().expect("the child keeps serving").unwrap());
    }
    // SIGKILL, mid-stream: no destructor, no flush, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever the child printed before dying was acknowledged too.
    for line in lines.map_while(Result::ok) {
        acks.read(&line);
    }
    let Acks { accepted, settled } = acks;

    let ledger = Ledger::open(db.to_str().unwrap()).await.unwrap();
    let key = ChannelKey { payer: address(PAYER), server: address(SERVER), model_id: model };
    let stored: Vec<U256> =
        ledger.vouchers(&key).await.unwrap().iter().map(|v| v.cumulative).collect();
    for (amount, _) in &accepted {
        assert!(stored.contains(amount), "accepted voucher {amount} lost");
    }
    for (id, fee) in &settled {
        let row =
            ledger.inference(*id).await.unwrap().unwrap_or_else(|| panic!("inference {id} lost"));
        assert_eq!(row.fee, *fee);
    }
    let rows = ledger
        .list_inferences(&InferenceQuery { limit: 1_000, ..Default::default() })
        .await
        .unwrap();
    let sum = rows.iter().fold(U256::ZERO, |acc, r| acc + r.fee);
    let channel = ledger.channel(&key).await.unwrap().unwrap();
    assert_eq!(channel.consumed, sum, "consumed moves with the inference rows, atomically");
    assert!(channel.accepted >= accepted.last().unwrap().0);

    // After the restart, the last acknowledged voucher is still spent.
    let gate =
        PaymentGate::new(PaymentConfig::new(c, address(SERVER)), chain.rpc.clone(), ledger.clone())
            .await
            .unwrap();
    let (_, last_header) = accepted.last().unwrap();
    let err = gate.admit(request(last_header)).await.unwrap_err();
    assert_eq!(err.code(), "voucher_replayed", "{err}");
}

/// What the child acknowledged: accepted vouchers (amount, header), settled inferences (id, fee).
#[derive(Debug, Default)]
struct Acks {
    accepted: Vec<(U256, String)>,
    settled: Vec<(B256, U256)>,
}

impl Acks {
    fn read(&mut self, line: &str) {
        let mut parts = line.split(' ');
        match parts.next() {
            Some("ACCEPTED") => {
                let amount = parts.next().unwrap().parse().unwrap();
                self.accepted.push((amount, parts.next().unwrap().to_owned()));
            }
            Some("SETTLED") => {
                let id = parts.next().unwrap().parse().unwrap();
                self.settled.push((id, parts.next().unwrap().parse().unwrap()));
            }
            _ => {} // the test harness's own lines
        }
    }
}
