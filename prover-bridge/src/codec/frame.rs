//! Frames and batch payloads: the wire layer.
//!
//! ```text
//! frame   = channel_id (16) ‖ frame_number (u16 BE) ‖ data_len (u32 BE) ‖ data ‖ is_last (u8: 0|1)
//! payload = version (u8 = 0x00) ‖ frame ‖ frame ‖ …          (at least one frame)
//! ```

use alloy_primitives::{B128, Bytes};

/// A channel's identifier: 16 random bytes chosen by the batcher ([`B128::random`]).
pub type ChannelId = B128;

/// Length of a [`ChannelId`].
pub const CHANNEL_ID_LEN: usize = 16;
/// Bytes a frame adds around its data: id (16) + number (2) + data length (4) + `is_last` (1).
pub const FRAME_OVERHEAD: usize = CHANNEL_ID_LEN + 2 + 4 + 1;
/// The only payload version there is: the first byte of every batch payload.
pub const PAYLOAD_VERSION_0: u8 = 0x00;
/// Default cap on one batch payload (the `bytes` of `submitBatch`), so that the whole L1
/// transaction (selector, ABI head and padding, signature, fees) stays under the 128 KiB that
/// L1 transaction pools accept.
pub const MAX_BATCH_PAYLOAD: usize = 120_000;
/// Default `max_frame_data`: one full frame plus the version byte fill [`MAX_BATCH_PAYLOAD`].
pub const DEFAULT_MAX_FRAME_DATA: usize = MAX_BATCH_PAYLOAD - 1 - FRAME_OVERHEAD;
/// Frame numbers are `u16`, so a channel has at most this many frames.
pub const MAX_FRAMES_PER_CHANNEL: usize = u16::MAX as usize + 1;

/// Why bytes could not be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes end inside the fixed part of the frame.
    #[error("truncated frame: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field that did not fit.
        field: &'static str,
        /// Bytes that field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// `data_len` runs past the end of the bytes (the `is_last` byte included).
    #[error("frame data length {data_len} runs past the end ({available} bytes left)")]
    DataPastEnd {
        /// The declared data length.
        data_len: u32,
        /// Bytes left after the frame header.
        available: usize,
    },
    /// The `is_last` byte is neither 0 nor 1.
    #[error("is_last byte is {0}, not 0 or 1")]
    BadIsLast(u8),
    /// Frame data longer than `data_len` (a `u32`) can say.
    #[error("frame data of {0} bytes is longer than a u32 length allows")]
    DataTooLong(usize),
}

/// One frame: a numbered piece of a channel's compressed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    channel_id: ChannelId,
    number: u16,
    data: Bytes,
    is_last: bool,
}

impl Frame {
    /// A frame; fails only if `data` is longer than `u32::MAX`.
    pub fn new(
        channel_id: ChannelId,
        number: u16,
        data: impl Into<Bytes>,
        is_last: bool,
    ) -> Result<Self, FrameError> {
        let data = data.into();
        if u32::try_from(data.len()).is_err() {
            return Err(FrameError::DataTooLong(data.len()));
        }
        Ok(Self { channel_id, number, data, is_last })
    }

    /// The channel this frame belongs to.
    pub fn channel_id(&self) -> ChannelId {
        self.channel_id
    }

    /// Position of this frame in its channel, from 0.
    pub fn number(&self) -> u16 {
        self.number
    }

    /// This frame's piece of the channel's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Whether this is the channel's closing frame.
    pub fn is_last(&self) -> bool {
        self.is_last
    }

    /// Length of [`Frame::encode`]'s output: `FRAME_OVERHEAD + data.len()`.
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + self.data.len()
    }

    /// The frame's wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_to(&mut out);
        out
    }

    /// Appends the frame's wire bytes to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        // `new` guarantees the length fits a u32.
        let data_len = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        out.reserve(self.encoded_len());
        out.extend_from_slice(self.channel_id.as_slice());
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&data_len.to_be_bytes());
        out.extend_from_slice(&self.data);
        out.push(u8::from(self.is_last));
    }

    /// Reads one frame from the start of `buf`; returns it and the number of bytes it took.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), FrameError> {
        let mut rest = buf;
        let id = take::<CHANNEL_ID_LEN>(&mut rest, "channel_id")?;
        let number = u16::from_be_bytes(take::<2>(&mut rest, "frame_number")?);
        let data_len = u32::from_be_bytes(take::<4>(&mut rest, "data_len")?);
        // data and the is_last byte must both fit.
        let len = usize::try_from(data_len).unwrap_or(usize::MAX);
        if len >= rest.len() {
            return Err(FrameError::DataPastEnd { data_len, available: rest.len() });
        }
        let (data, tail) = rest.split_at(len);
        let is_last = match tail[0] {
            0 => false,
            1 => true,
            other => return Err(FrameError::BadIsLast(other)),
        };
        let used = FRAME_OVERHEAD + len;
        let frame = Self {
            channel_id: ChannelId::from(id),
            number,
            data: Bytes::copy_from_slice(data),
            is_last,
        };
        Ok((frame, used))
    }
}

fn take<const N: usize>(rest: &mut &[u8], field: &'static str) -> Result<[u8; N], FrameError> {
    match rest.split_first_chunk::<N>() {
        Some((head, tail)) => {
            *rest = tail;
            Ok(*head)
        }
        None => Err(FrameError::Truncated { field, needed: N, available: rest.len() }),
    }
}

/// Why (part of) a batch payload was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// A zero-length payload: nothing to read, not even a version.
    #[error("empty payload")]
    Empty,
    /// The version byte is not [`PAYLOAD_VERSION_0`]: the whole payload is skipped.
    #[error("unknown payload version {0:#04x}")]
    UnknownVersion(u8),
    /// A version byte and nothing after it.
    #[error("payload has a version byte but no frames")]
    NoFrames,
    /// Frame `index` (from 0), at byte `offset` of the payload, is malformed: it and everything
    /// after it are skipped; the frames before it are kept.
    #[error("frame {index} at payload offset {offset} is malformed: {error}")]
    BadFrame {
        /// Byte offset of the bad frame in the payload (the version byte is offset 0).
        offset: usize,
        /// How many good frames came before it.
        index: usize,
        /// What was wrong.
        error: FrameError,
    },
}

/// Splits a batch payload into frames. Returns the frames that were read and, if something
/// was skipped, why: an empty payload, an unknown version or a version-only payload gives no
/// frames; a malformed frame ends the reading, the frames before it are returned.
pub fn parse_payload(payload: &[u8]) -> (Vec<Frame>, Option<PayloadError>) {
    let Some((&version, mut rest)) = payload.split_first() else {
        return (Vec::new(), Some(PayloadError::Empty));
    };
    if version != PAYLOAD_VERSION_0 {
        return (Vec::new(), Some(PayloadError::UnknownVersion(version)));
    }
    if rest.is_empty() {
        return (Vec::new(), Some(PayloadError::NoFrames));
    }
    let mut frames = Vec::new();
    let mut offset = 1;
    while !rest.is_empty() {
        match Frame::decode(rest) {
            Ok((frame, used)) => {
                frames.push(frame);
                offset += used;
                rest = rest.get(used..).unwrap_or_default();
            }
            Err(error) => {
                let index = frames.len();
                return (frames, Some(PayloadError::BadFrame { offset, index, error }));
            }
        }
    }
    (frames, None)
}
