//! # The batch codec
//!
//! How L2 blocks travel to L1 and back: the batcher encodes blocks into a *channel*,
//! compresses it, cuts it into *frames* and packs frames into *batch payloads* (the `bytes` of
//! `BatchInbox.submitBatch(bytes)`); derivation reads payloads in L1 order, puts frames back
//! together in a [`ChannelBank`] and decodes the blocks. The layout follows the OP Stack's
//! frames and channels (same frame layout, same version byte), with blocks instead of OP's
//! span batches and zstd instead of zlib/brotli.
//!
//! ## Format
//!
//! ```text
//! BlockEntry = rlp([number, parent_hash, timestamp, beneficiary, gas_limit, prev_randao,
//!                   parent_beacon_block_root, extra_data, [tx, …], block_hash, state_root])
//!              (tx = the EIP-2718 encoding, deposits included, in block order)
//! channel    = zstd( rlp([BlockEntry, BlockEntry, …]) )      consecutive blocks, at least one
//! frame      = channel_id (16) ‖ frame_number (u16 BE) ‖ data_len (u32 BE) ‖ data ‖ is_last (u8)
//! payload    = 0x00 ‖ frame ‖ frame ‖ …                      at least one frame
//! ```
//!
//! * A channel's id is 16 random bytes. Its bytes are cut into frames numbered from 0, each with
//!   at most `max_frame_data` bytes of data; the last one has `is_last = 1`, all others 0.
//! * The compressed bytes are exactly one zstd frame in the current format (magic
//!   `28 B5 2F FD`), window at most 16 MiB, nothing after it (see [`compress`]): legacy and
//!   skippable zstd frames are refused, so acceptance does not depend on zstd's build features.
//!   The encoder writes zstd's content checksum, so corruption is caught by zstd itself.
//! * Sizes: [`MAX_BATCH_PAYLOAD`] = 120,000 bytes per payload by default, so the L1 transaction
//!   stays under 128 KiB; [`DEFAULT_MAX_FRAME_DATA`] = 120,000 − 1 − 23 = 119,976, so one full
//!   frame fills one payload. A channel's RLP is at most [`DEFAULT_MAX_CHANNEL_RLP`] (64 MiB).
//! * Level: [`DEFAULT_LEVEL`] = 9. On realistic blocks (`benches/codec_bench.rs`: 100k
//!   transfers and ERC-20 transfers with random signatures, one 14.9 MB channel) zstd gives
//!   1.31× at level 1, 1.40× at 3, 1.45× at 6, 1.55× at 9, 1.55× at 12 and 1.60× at 19, encoding
//!   at about 350, 140, 74, 36, 17 and 2 MB/s of CPU time; decoding runs at 0.5–1 GB/s whatever
//!   the level. 9 is where the ratio stops paying for the time (its 4 MiB window is what lifts
//!   it over 6); signatures, being random, cap any level near 1.6×. Smaller channels compress
//!   less (1.41× at 9 when cut every 1 MB), so a batcher should fill channels generously.
//!
//! ## Encoding
//!
//! ```
//! use ol_bridge::codec::{BlockEntry, ChannelOut, DEFAULT_MAX_FRAME_DATA, MAX_BATCH_PAYLOAD,
//!                        pack_payloads};
//! # fn main() -> Result<(), ol_bridge::codec::CodecError> {
//! let mut channel = ChannelOut::random();
//! channel.add_block(&BlockEntry { number: 1, ..Default::default() })?;
//! channel.close()?;
//! let frames = channel.frames(DEFAULT_MAX_FRAME_DATA)?;
//! let payloads = pack_payloads(&frames, MAX_BATCH_PAYLOAD)?; // one L1 transaction each
//! # let _ = (channel.ratio(), payloads);
//! # Ok(()) }
//! ```
//!
//! ## Decoding rules (derivation)
//!
//! [`ChannelBank::ingest`]`(l1_block, payload)` reads one payload; everything it skips is
//! returned as an [`Ignored`]; [`ChannelBank::take_ready`] hands out complete channels as
//! [`ReadyChannel`]s (blocks in channel order), in the order they completed.
//!
//! | input | outcome | reported as |
//! | --- | --- | --- |
//! | empty payload | nothing read | `Payload(Empty)` |
//! | version byte ≠ `0x00` | whole payload ignored | `Payload(UnknownVersion(v))` |
//! | version byte alone | nothing read | `Payload(NoFrames)` |
//! | frame header cut short, `data_len` past the end, `is_last` ∉ {0, 1} | that frame and the rest of the payload ignored; the frames before it are kept | `Payload(BadFrame { offset, index, error })` |
//! | frames of a channel out of order, across payloads, interleaved with other channels | accepted | – |
//! | a frame number the channel already has | the first one wins, the new one ignored | `DuplicateFrame` |
//! | a frame numbered after the channel's closing frame | ignored (frames already held past a closing frame that arrives later are removed) | `FrameAfterClose` |
//! | a second closing frame with a lower number | ignored (the first close wins) | `ExtraClose` |
//! | a frame of a channel delivered or dropped within the last `channel_timeout` L1 blocks | ignored (it would only open a channel that can never complete) | `FinishedChannel` |
//! | channel incomplete at L1 block > `opened_at + channel_timeout` (default 300) | dropped, checked on every `ingest`/`advance` before reading | `ChannelDropped(TimedOut)` |
//! | complete channel whose bytes are not one valid zstd frame (bad magic, corrupt, bad checksum, truncated, trailing bytes, window > 16 MiB) | dropped | `ChannelDropped(Decompress(..))` |
//! | decompresses past `max_decompressed` (default 64 MiB) | dropped, decompression stops at the limit (no zip bombs) | `ChannelDropped(Decompress(TooLarge))` |
//! | decompressed bytes not an RLP list of `BlockEntry` (not RLP, wrong shape, non-canonical) | dropped | `ChannelDropped(Decode(..))` |
//! | bytes after the RLP list / an empty list | dropped | `ChannelDropped(TrailingRlp)` / `ChannelDropped(Empty)` |
//! | a new channel while `max_pending_channels` (default 32) are pending | the oldest pending channel is dropped | `ChannelDropped(Evicted(TooManyChannels))` |
//! | pending frames past `max_pending_bytes` (default 129 MiB; each frame counts data + 64) | oldest pending channels dropped until under | `ChannelDropped(Evicted(TooManyBytes))` |
//! | one frame alone costing more than `max_pending_bytes` | ignored | `FrameTooLarge` |
//!
//! "Oldest" is the order in which channels' first frames were seen. L1 block numbers passed
//! to the bank must not go down (a lower one counts as the highest seen); on an L1 reorg,
//! [`ChannelBank::reset`] and re-ingest. No input panics; pending memory never exceeds
//! `max_pending_bytes` between calls, decompression never more than `max_decompressed`.
//!
//! Block continuity (does entry N+1 follow N, and the previous channel's last block?) is the
//! caller's: [`check_consecutive`] checks a channel's entries.

pub mod block;
pub mod channel_bank;
pub mod channel_out;
pub mod compress;
pub mod frame;

#[cfg(test)]
mod tests;

pub use block::{BlockEntry, ContinuityError, check_consecutive};
pub use channel_bank::{
    ChannelBank, ChannelBankConfig, DEFAULT_CHANNEL_TIMEOUT, DEFAULT_MAX_FINISHED,
    DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_CHANNELS, DropReason, EvictCause,
    FRAME_MEMORY_OVERHEAD, Ignored, ReadyChannel, decode_channel,
};
pub use channel_out::{
    ChannelOut, CodecError, DEFAULT_MAX_CHANNEL_RLP, batch_payload, pack_payloads,
};
pub use compress::{DEFAULT_LEVEL, DecompressError};
pub use frame::{
    CHANNEL_ID_LEN, ChannelId, DEFAULT_MAX_FRAME_DATA, FRAME_OVERHEAD, Frame, FrameError,
    MAX_BATCH_PAYLOAD, MAX_FRAMES_PER_CHANNEL, PAYLOAD_VERSION_0, PayloadError, parse_payload,
};
