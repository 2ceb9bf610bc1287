//! Batch codec throughput and compression ratio on realistic blocks.
//!
//! 100,000 transactions (60% EIP-1559 ETH transfers of ~115 bytes, 40% ERC-20 `transfer`s of
//! ~180 bytes, random signatures, senders/recipients/tokens drawn from pools) in 2-second
//! blocks of 200 transactions plus one L1-info deposit each, encoded into one channel per zstd
//! level, cut into default frames and payloads, then decoded by a `ChannelBank`.
//!
//! ```text
//! cargo bench --bench codec_bench                 # levels 1 3 6 9 12 15 19
//! cargo bench --bench codec_bench -- 3 9          # chosen levels
//! CODEC_BENCH_CHANNEL_MB=1 cargo bench --bench codec_bench   # channels cut at 1 MB of RLP
//! ```
//!
//! MB/s are of the channels' RLP (uncompressed) bytes per second of this thread's CPU time
//! (so a busy machine does not skew them; wall-clock figures are printed too), best of the
//! repetitions. Encoding covers `add_block`, `close`, `frames` and `pack_payloads`; decoding
//! covers `ChannelBank::ingest` and `take_ready`.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Encodable, Header};
use ol_bridge::codec::{
    BlockEntry, ChannelBank, ChannelId, ChannelOut, DEFAULT_MAX_FRAME_DATA, MAX_BATCH_PAYLOAD,
    pack_payloads,
};

const TXS: usize = 100_000;
const TXS_PER_BLOCK: usize = 200;
const CHAIN_ID: u64 = 1612;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
    fn b256(&mut self) -> B256 {
        let mut b = B256::ZERO;
        self.fill(b.as_mut_slice());
        b
    }
    fn address(&mut self) -> Address {
        let mut a = Address::ZERO;
        self.fill(a.as_mut_slice());
        a
    }
    /// Skewed pick in 0..n: small indices far more often (popular accounts and tokens).
    fn skewed(&mut self, n: u64) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c) as usize
    }
}

/// `type ‖ rlp(fields)` where `fields` is already a concatenation of encoded items.
fn typed(ty: u8, fields: &[u8]) -> Bytes {
    let mut out = vec![ty];
    Header { list: true, payload_length: fields.len() }.encode(&mut out);
    out.extend_from_slice(fields);
    out.into()
}

struct Pools {
    senders: Vec<(Address, u64)>,
    recipients: Vec<Address>,
    tokens: Vec<Address>,
}

fn eip1559(rng: &mut Rng, pools: &mut Pools, erc20: bool) -> Bytes {
    let sender = rng.skewed(pools.senders.len() as u64);
    let nonce = pools.senders[sender].1;
    pools.senders[sender].1 += 1;
    let recipient = pools.recipients[rng.skewed(pools.recipients.len() as u64)];
    let mut f = Vec::with_capacity(200);
    CHAIN_ID.encode(&mut f);
    nonce.encode(&mut f);
    [1_000_000u64, 100_000_000, 1_500_000_000][rng.below(3) as usize].encode(&mut f);
    (1_000_000_000 + rng.below(500_000_000)).encode(&mut f);
    if erc20 {
        (50_000 + rng.below(20_000)).encode(&mut f);
        pools.tokens[rng.skewed(pools.tokens.len() as u64)].encode(&mut f);
        U256::ZERO.encode(&mut f);
        let mut data = Vec::with_capacity(68);
        data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(recipient.as_slice());
        let amount =
            U256::from(rng.below(1_000_000)) * U256::from(10u64.pow(15 + rng.below(4) as u32));
        data.extend_from_slice(&amount.to_be_bytes::<32>());
        Bytes::from(data).encode(&mut f);
    } else {
        21_000u64.encode(&mut f);
        recipient.encode(&mut f);
        U256::from(rng.next() >> rng.below(20)).encode(&mut f);
        Bytes::new().encode(&mut f);
    }
    Header { list: true, payload_length: 0 }.encode(&mut f); // empty access list
    rng.below(2).encode(&mut f);
    U256::from_be_bytes(rng.b256().0).encode(&mut f);
    U256::from_be_bytes(rng.b256().0).encode(&mut f);
    typed(0x02, &f)
}

/// The L1-attributes deposit that opens every OP block (Ecotone layout: 164 bytes of data).
fn l1_info(rng: &mut Rng, l1_number: u64, seq: u64, l1_hash: B256) -> Bytes {
    let mut f = Vec::with_capacity(300);
    rng.b256().encode(&mut f); // source hash
    Address::repeat_byte(0xde).encode(&mut f);
    Address::repeat_byte(0x42).encode(&mut f);
    U256::ZERO.encode(&mut f); // mint
    U256::ZERO.encode(&mut f); // value
    1_000_000u64.encode(&mut f);
    false.encode(&mut f);
    let mut data = vec![0x44, 0x0a, 0x5e, 0x20];
    data.extend_from_slice(&[0, 0, 0x05, 0x58, 0, 0x0c, 0x5f, 0xc5]); // scalars
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(&(1_700_000_000 + l1_number * 12).to_be_bytes());
    data.extend_from_slice(&l1_number.to_be_bytes());
    data.extend_from_slice(&U256::from(20_000_000_000u64 + l1_number).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(1u64).to_be_bytes::<32>());
    data.extend_from_slice(l1_hash.as_slice());
    data.extend_from_slice(B256::left_padding_from(&[0x11; 20]).as_slice());
    Bytes::from(data).encode(&mut f);
    typed(0x7e, &f)
}

fn blocks(rng: &mut Rng) -> (Vec<BlockEntry>, [usize; 3]) {
    let mut pools = Pools {
        senders: (0..20_000).map(|_| (rng.address(), rng.below(1000))).collect(),
        recipients: (0..20_000).map(|_| rng.address()).collect(),
        tokens: (0..50).map(|_| rng.address()).collect(),
    };
    let beneficiary = rng.address();
    let mut sizes = [0usize; 3]; // transfer bytes, erc20 bytes, erc20 count
    let mut out: Vec<BlockEntry> = Vec::new();
    let mut l1_hash = rng.b256();
    let mut made = 0;
    while made < TXS {
        let n = out.len() as u64;
        let new_epoch = n.is_multiple_of(6);
        if new_epoch {
            l1_hash = rng.b256();
        }
        let mut transactions = vec![l1_info(rng, 20_000_000 + n / 6, n % 6, l1_hash)];
        for _ in 0..TXS_PER_BLOCK.min(TXS - made) {
            let erc20 = rng.below(10) < 4;
            let tx = eip1559(rng, &mut pools, erc20);
            if erc20 {
                sizes[1] += tx.len();
                sizes[2] += 1;
            } else {
                sizes[0] += tx.len();
            }
            transactions.push(tx);
            made += 1;
        }
        let parent_hash = out.last().map_or_else(|| rng.b256(), |b| b.block_hash);
        out.push(BlockEntry {
            number: 1_000_000 + n,
            parent_hash,
            timestamp: 1_700_000_000 + 2 * n,
            beneficiary,
            gas_limit: 60_000_000,
            prev_randao: if new_epoch {
                rng.b256()
            } else {
                out.last().map_or(B256::ZERO, |b| b.prev_randao)
            },
            parent_beacon_block_root: if new_epoch {
                rng.b256()
            } else {
                out.last().map_or(B256::ZERO, |b| b.parent_beacon_block_root)
            },
            extra_data: Bytes::from(vec![0, 0, 0, 0, 0xfa, 0, 0, 0, 6]), // Holocene EIP-1559 params
            transactions,
            block_hash: rng.b256(),
            state_root: rng.b256(),
        });
    }
    (out, sizes)
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// This thread's time on a CPU (Linux `/proc/thread-self/schedstat`), so that figures do not
/// depend on what else the machine runs; wall time where that file is missing.
struct Clock {
    wall: Instant,
    cpu: Option<u64>,
}

fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

impl Clock {
    fn start() -> Self {
        Self { wall: Instant::now(), cpu: cpu_ns() }
    }
    /// (cpu, wall)
    fn elapsed(&self) -> (Duration, Duration) {
        let wall = self.wall.elapsed();
        let cpu = match (self.cpu, cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => wall,
        };
        (cpu, wall)
    }
}

fn main() {
    let levels: Vec<i32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let levels = if levels.is_empty() { vec![1, 3, 6, 9, 12, 15, 19] } else { levels };
    // Channels are cut at this much RLP (default: all blocks in one channel).
    let channel_rlp = std::env::var("CODEC_BENCH_CHANNEL_MB")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(usize::MAX, |mb| (mb * 1e6) as usize);
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let (blocks, sizes) = blocks(&mut rng);
    let erc20 = sizes[2];
    let transfers = TXS - erc20;
    println!(
        "{} blocks, {TXS} txs: {transfers} transfers avg {:.0} B, {erc20} ERC-20 avg {:.0} B",
        blocks.len(),
        sizes[0] as f64 / transfers as f64,
        sizes[1] as f64 / erc20 as f64,
    );
    println!(
        "{:>5} {:>11} {:>11} {:>7} {:>8} {:>8} {:>12} {:>12} {:>9} {:>9}",
        "level",
        "rlp bytes",
        "zstd bytes",
        "ratio",
        "channels",
        "payloads",
        "encode MB/s",
        "decode MB/s",
        "enc wall",
        "dec wall"
    );
    println!(
        "(MB/s of RLP per CPU-second of this thread, best of the repetitions; wall-clock after)"
    );
    for level in levels {
        let reps = if level >= 15 { 2 } else { 5 };
        let mut best_enc = Duration::MAX;
        let mut best_dec = Duration::MAX;
        let mut best_enc_wall = Duration::MAX;
        let mut best_dec_wall = Duration::MAX;
        let mut summary = None;
        for _ in 0..reps {
            let start = Clock::start();
            let mut channels = Vec::new();
            let mut channel =
                ChannelOut::new(ChannelId::random()).with_level(level).expect("level");
            for block in &blocks {
                if channel.block_count() > 0 && channel.rlp_len() + block.rlp_len() > channel_rlp {
                    let mut full = std::mem::replace(
                        &mut channel,
                        ChannelOut::new(ChannelId::random()).with_level(level).expect("level"),
                    );
                    full.close().expect("compresses");
                    channels.push(full);
                }
                channel.add_block(block).expect("fits in one channel");
            }
            channel.close().expect("compresses");
            channels.push(channel);
            let mut payloads = Vec::new();
            for channel in &channels {
                let frames = channel.frames(DEFAULT_MAX_FRAME_DATA).expect("frames");
                payloads.extend(pack_payloads(&frames, MAX_BATCH_PAYLOAD).expect("payloads"));
            }
            let (cpu, wall) = start.elapsed();
            best_enc = best_enc.min(cpu);
            best_enc_wall = best_enc_wall.min(wall);

            let start = Clock::start();
            let mut bank = ChannelBank::default();
            let mut decoded = Vec::with_capacity(blocks.len());
            for (i, payload) in payloads.iter().enumerate() {
                let ignored = bank.ingest(i as u64, payload);
                assert!(ignored.is_empty(), "{ignored:?}");
                decoded.extend(bank.take_ready().into_iter().flat_map(|r| r.blocks));
            }
            let (cpu, wall) = start.elapsed();
            best_dec = best_dec.min(cpu);
            best_dec_wall = best_dec_wall.min(wall);
            assert!(decoded == blocks, "round trip");
            let rlp: usize = channels.iter().map(ChannelOut::rlp_len).sum();
            let z: usize = channels.iter().filter_map(ChannelOut::compressed_len).sum();
            summary = Some((rlp, z, rlp as f64 / z as f64, channels.len(), payloads.len()));
        }
        if let Some((rlp, z, ratio, c, n)) = summary {
            println!(
                "{level:>5} {rlp:>11} {z:>11} {ratio:>7.3} {c:>8} {n:>8} {:>12.1} {:>12.1} {:>9.1} {:>9.1}",
                mbps(rlp, best_enc),
                mbps(rlp, best_dec),
                mbps(rlp, best_enc_wall),
                mbps(rlp, best_dec_wall),
            );
        }
    }
}
