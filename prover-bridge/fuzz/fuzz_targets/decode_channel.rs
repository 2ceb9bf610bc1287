//! Arbitrary bytes as a complete channel's data: zstd + RLP decoding never panics, and what
//! decodes re-encodes to exactly the decompressed RLP (one encoding per value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ol_bridge::codec::{BlockEntry, compress::decompress_limited, decode_channel};

fuzz_target!(|data: &[u8]| {
    if let Ok(blocks) = decode_channel(data, 1 << 20) {
        let rlp = decompress_limited(data, 1 << 20).expect("it decoded once");
        let mut again = Vec::new();
        alloy_rlp::encode_list::<BlockEntry, BlockEntry>(&blocks, &mut again);
        assert_eq!(again, rlp, "RLP is canonical");
    }
});
