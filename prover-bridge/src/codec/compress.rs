//! zstd, pinned down for consensus: what a channel's compressed bytes must be.
//!
//! A channel's bytes are exactly one zstd frame in the current format (magic `28 B5 2F FD`):
//! no legacy (v0.1–0.7) frames, no skippable frames, nothing after the frame. The window the
//! frame declares may be at most 2^[`WINDOW_LOG_MAX`] bytes (levels 1–19 stay within 2^23), and
//! the decompressed size is capped by the reader. This makes what a node accepts independent of
//! the zstd build's optional features and bounds its memory.

use std::io;

use zstd::stream::raw::{CParameter, DParameter, Decoder, InBuffer, Operation, OutBuffer};

/// Magic number that starts every current-format zstd frame (little-endian `0xFD2FB528`).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Largest window (as a power of two) a channel's zstd frame may declare: 16 MiB.
pub const WINDOW_LOG_MAX: u32 = 24;
/// zstd levels a [`ChannelOut`](super::ChannelOut) accepts. Levels 20–22 ("ultra") use windows
/// past [`WINDOW_LOG_MAX`] and are refused.
pub const LEVELS: std::ops::RangeInclusive<i32> = 1..=19;
/// Default compression level; the module doc of [`codec`](super) has the measurements.
pub const DEFAULT_LEVEL: i32 = 9;

/// Why a channel's bytes did not decompress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The bytes do not start with [`ZSTD_MAGIC`].
    #[error("not a zstd frame (bad magic)")]
    BadMagic,
    /// The zstd library rejected the data (corrupt, bad checksum, window too large, ...).
    #[error("zstd: {0}")]
    Zstd(String),
    /// The data ends before the frame does.
    #[error("zstd frame is truncated")]
    Truncated,
    /// Bytes follow the end of the zstd frame.
    #[error("{0} bytes after the end of the zstd frame")]
    TrailingBytes(usize),
    /// The frame decompresses to more than the limit.
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was passed.
        limit: usize,
    },
}

/// Compresses `data` into one zstd frame at `level`, with a content checksum.
pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.set_parameter(CParameter::ChecksumFlag(true))?;
    compressor.compress(data)
}

/// Decompresses exactly one zstd frame, refusing anything that would produce more than
/// `limit` bytes. Never allocates more than `limit` plus a 128 KiB buffer for the output.
pub fn decompress_limited(data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    if !data.starts_with(&ZSTD_MAGIC) {
        return Err(DecompressError::BadMagic);
    }
    let zstd_err = |e: io::Error| DecompressError::Zstd(e.to_string());
    let mut decoder = Decoder::new().map_err(zstd_err)?;
    decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX)).map_err(zstd_err)?;

    let mut input = InBuffer::around(data);
    let mut chunk = vec![0u8; 128 * 1024];
    let mut out = Vec::new();
    loop {
        let mut output = OutBuffer::around(chunk.as_mut_slice());
        let hint = decoder.run(&mut input, &mut output).map_err(zstd_err)?;
        let produced = output.pos();
        if produced > limit.saturating_sub(out.len()) {
            return Err(DecompressError::TooLarge { limit });
        }
        out.extend_from_slice(chunk.get(..produced).unwrap_or_default());
        if hint == 0 {
            // The frame is complete and flushed.
            let left = data.len() - input.pos();
            if left != 0 {
                return Err(DecompressError::TrailingBytes(left));
            }
            return Ok(out);
        }
        // An output buffer that was not filled means zstd flushed all it could: it needs
        // more input, and there is none.
        if input.pos() == data.len() && produced < chunk.len() {
            return Err(DecompressError::Truncated);
        }
    }
}
