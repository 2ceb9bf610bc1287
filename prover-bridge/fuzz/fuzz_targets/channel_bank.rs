//! Arbitrary payload sequences into a small `ChannelBank`: no panic, limits always held.
//!
//! Input: records of `delta (u8) ‖ len (u16 LE) ‖ payload (len bytes)`; the L1 block advances
//! by `delta % 4` per record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ol_bridge::codec::{ChannelBank, ChannelBankConfig};

fuzz_target!(|data: &[u8]| {
    let config = ChannelBankConfig {
        channel_timeout: 4,
        max_decompressed: 4096,
        max_pending_channels: 3,
        max_pending_bytes: 2048,
        max_finished: 5,
    };
    let mut bank = ChannelBank::new(config);
    let mut rest = data;
    let mut l1 = 0u64;
    while let [delta, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        l1 += u64::from(delta % 4);
        let _ignored = bank.ingest(l1, payload);
        assert!(bank.pending_bytes() <= config.max_pending_bytes);
        assert!(bank.pending_channels() <= config.max_pending_channels);
        for ready in bank.take_ready() {
            assert!(!ready.blocks.is_empty());
        }
        rest = next;
    }
});
