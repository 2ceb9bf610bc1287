//! The encoder: [`ChannelOut`] turns blocks into frames, [`pack_payloads`] frames into
//! batch payloads.

use alloy_primitives::Bytes;
use alloy_rlp::{Encodable, Header};

use super::{
    block::BlockEntry,
    compress::{self, DEFAULT_LEVEL, LEVELS},
    frame::{ChannelId, FRAME_OVERHEAD, Frame, MAX_FRAMES_PER_CHANNEL, PAYLOAD_VERSION_0},
};

/// Default cap on a channel's decompressed (RLP) size: what a [`ChannelBank`](super::ChannelBank)
/// accepts by default, so the encoder never builds a channel derivation would drop.
pub const DEFAULT_MAX_CHANNEL_RLP: usize = 64 * 1024 * 1024;

/// The longest RLP list header: one byte plus an up-to-8-byte length.
const HEADER_ROOM: usize = 9;

/// Errors of the encoding side.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// `add_block` or `close` on a channel that is already closed.
    #[error("the channel is closed")]
    ChannelClosed,
    /// `frames` on a channel that is not closed yet.
    #[error("the channel is still open: close it first")]
    ChannelOpen,
    /// `close` on a channel without blocks.
    #[error("the channel has no blocks")]
    EmptyChannel,
    /// Adding the block would take the channel's RLP past its limit; the block was not added.
    #[error("the channel's RLP would be {size} bytes, over its limit of {limit}")]
    ChannelFull {
        /// RLP size with the block.
        size: usize,
        /// The channel's limit.
        limit: usize,
    },
    /// A compression level outside [`LEVELS`].
    #[error("zstd level {0} is outside 1..=19")]
    BadLevel(i32),
    /// `max_frame_data` of 0.
    #[error("max_frame_data must be at least 1")]
    ZeroFrameData,
    /// The channel needs more frames than a `u16` frame number can count.
    #[error("the channel needs {needed} frames, more than 65536")]
    TooManyFrames {
        /// Frames needed at the given `max_frame_data`.
        needed: usize,
    },
    /// A frame does not fit a payload of the given size, even alone.
    #[error("a frame of {frame} bytes does not fit a payload of at most {max_payload} bytes")]
    FrameTooLarge {
        /// Encoded size of the frame.
        frame: usize,
        /// The payload limit.
        max_payload: usize,
    },
    /// A frame's data too long for its `u32` length (cannot come from [`ChannelOut`]).
    #[error(transparent)]
    Frame(#[from] super::FrameError),
    /// zstd failed to compress.
    #[error("zstd compression failed: {0}")]
    Compress(#[from] std::io::Error),
}

/// Builds one channel: blocks go in with [`add_block`](Self::add_block), [`close`](Self::close)
/// compresses them, [`frames`](Self::frames) cuts the result.
///
/// The blocks' RLP is kept uncompressed until `close` (the RLP list header needs the total
/// length); [`rlp_len`](Self::rlp_len) tells a batcher how full the channel is.
#[derive(Debug, Clone)]
pub struct ChannelOut {
    id: ChannelId,
    level: i32,
    max_rlp: usize,
    /// [`HEADER_ROOM`] bytes left for the list header, then the concatenated RLP of the
    /// blocks (the list's payload), so that `close` compresses in place without a copy.
    body: Vec<u8>,
    /// Length of the list's payload, kept when `close` frees `body`.
    body_len: usize,
    blocks: usize,
    /// Set by `close`: the compressed channel bytes.
    compressed: Option<Bytes>,
}

impl ChannelOut {
    /// An open channel with id `id`, [`DEFAULT_LEVEL`] and [`DEFAULT_MAX_CHANNEL_RLP`].
    pub fn new(id: ChannelId) -> Self {
        Self {
            id,
            level: DEFAULT_LEVEL,
            max_rlp: DEFAULT_MAX_CHANNEL_RLP,
            body: vec![0; HEADER_ROOM],
            body_len: 0,
            blocks: 0,
            compressed: None,
        }
    }

    /// An open channel with a fresh random id.
    pub fn random() -> Self {
        Self::new(ChannelId::random())
    }

    /// Sets the zstd level (1..=19).
    pub fn with_level(mut self, level: i32) -> Result<Self, CodecError> {
        if !LEVELS.contains(&level) {
            return Err(CodecError::BadLevel(level));
        }
        self.level = level;
        Ok(self)
    }

    /// Sets the cap on the channel's RLP size (keep it at or under the derivation side's
    /// `max_decompressed`).
    pub fn with_max_rlp(mut self, max_rlp: usize) -> Self {
        self.max_rlp = max_rlp;
        self
    }

    /// The channel's id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Blocks added so far.
    pub fn block_count(&self) -> usize {
        self.blocks
    }

    /// Whether [`close`](Self::close) has run.
    pub fn is_closed(&self) -> bool {
        self.compressed.is_some()
    }

    /// The channel's uncompressed size so far: the RLP list of its blocks, header included.
    pub fn rlp_len(&self) -> usize {
        Header { list: true, payload_length: self.body_len }.length_with_payload()
    }

    /// The compressed size, once closed.
    pub fn compressed_len(&self) -> Option<usize> {
        self.compressed.as_ref().map(|c| c.len())
    }

    /// The compressed channel bytes, once closed.
    pub fn compressed(&self) -> Option<&Bytes> {
        self.compressed.as_ref()
    }

    /// Compression ratio, once closed: RLP bytes in / compressed bytes out.
    pub fn ratio(&self) -> Option<f64> {
        let out = self.compressed_len()?;
        // Sizes are far below 2^52: the conversions are exact.
        Some(self.rlp_len() as f64 / out.max(1) as f64)
    }

    /// Appends `block`. Fails, leaving the channel as it was, if the channel is closed or the
    /// block would take it past its RLP limit.
    pub fn add_block(&mut self, block: &BlockEntry) -> Result<(), CodecError> {
        if self.is_closed() {
            return Err(CodecError::ChannelClosed);
        }
        let payload_length = self.body_len.saturating_add(block.length());
        let size = Header { list: true, payload_length }.length_with_payload();
        if size > self.max_rlp {
            return Err(CodecError::ChannelFull { size, limit: self.max_rlp });
        }
        block.encode(&mut self.body);
        self.body_len = self.body.len() - HEADER_ROOM;
        self.blocks += 1;
        Ok(())
    }

    /// Closes the channel and compresses it. No blocks can be added afterwards.
    pub fn close(&mut self) -> Result<(), CodecError> {
        if self.is_closed() {
            return Err(CodecError::ChannelClosed);
        }
        if self.blocks == 0 {
            return Err(CodecError::EmptyChannel);
        }
        let mut header = Vec::with_capacity(HEADER_ROOM);
        Header { list: true, payload_length: self.body_len }.encode(&mut header);
        // The header goes right before the payload, in the room kept for it.
        let start = HEADER_ROOM - header.len();
        self.body[start..HEADER_ROOM].copy_from_slice(&header);
        let compressed = compress::compress(&self.body[start..], self.level)?;
        self.compressed = Some(compressed.into());
        // Only the size is needed from here on.
        self.body = Vec::new();
        Ok(())
    }

    /// Cuts the closed channel into frames of at most `max_frame_data` data bytes each,
    /// numbered from 0, the last one marked `is_last`.
    pub fn frames(&self, max_frame_data: usize) -> Result<Vec<Frame>, CodecError> {
        let data = self.compressed.as_ref().ok_or(CodecError::ChannelOpen)?;
        if max_frame_data == 0 {
            return Err(CodecError::ZeroFrameData);
        }
        let needed = data.len().div_ceil(max_frame_data).max(1);
        if needed > MAX_FRAMES_PER_CHANNEL {
            return Err(CodecError::TooManyFrames { needed });
        }
        let mut frames = Vec::with_capacity(needed);
        for (number, start) in (0..needed).zip((0usize..).step_by(max_frame_data)) {
            let end = start.saturating_add(max_frame_data).min(data.len());
            let number = u16::try_from(number).map_err(|_| CodecError::TooManyFrames { needed })?;
            let is_last = usize::from(number) + 1 == needed;
            frames.push(Frame::new(self.id, number, data.slice(start..end), is_last)?);
        }
        Ok(frames)
    }
}

/// One batch payload holding all `frames`: `0x00 ‖ frame ‖ frame ‖ …`, with no size limit.
pub fn batch_payload(frames: &[Frame]) -> Bytes {
    let mut out = Vec::with_capacity(1 + frames.iter().map(Frame::encoded_len).sum::<usize>());
    out.push(PAYLOAD_VERSION_0);
    for frame in frames {
        frame.encode_to(&mut out);
    }
    out.into()
}

/// Packs `frames`, in order, into as few payloads of at most `max_payload` bytes as a greedy
/// fill gives (each payload: version byte, then whole frames). Frames are never split: with
/// frames cut at `max_payload - 1 - FRAME_OVERHEAD` data bytes, each full frame gets its own
/// payload and small ones share.
pub fn pack_payloads(frames: &[Frame], max_payload: usize) -> Result<Vec<Bytes>, CodecError> {
    let mut payloads = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for frame in frames {
        let len = frame.encoded_len();
        if len.saturating_add(1) > max_payload {
            return Err(CodecError::FrameTooLarge { frame: len, max_payload });
        }
        if !current.is_empty() && current.len() + len > max_payload {
            payloads.push(std::mem::take(&mut current).into());
        }
        if current.is_empty() {
            current.reserve(max_payload.min(1 + len + FRAME_OVERHEAD));
            current.push(PAYLOAD_VERSION_0);
        }
        frame.encode_to(&mut current);
    }
    if !current.is_empty() {
        payloads.push(current.into());
    }
    Ok(payloads)
}
