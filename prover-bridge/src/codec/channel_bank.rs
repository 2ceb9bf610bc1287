//! The decoder: [`ChannelBank`] collects frames from batch payloads in L1 order and hands out
//! complete channels as blocks. The rules are in the [module doc](super).

use std::collections::{BTreeMap, HashMap, VecDeque};

use alloy_primitives::Bytes;
use alloy_rlp::Decodable;

use super::{
    block::BlockEntry,
    channel_out::DEFAULT_MAX_CHANNEL_RLP,
    compress::{DecompressError, decompress_limited},
    frame::{ChannelId, Frame, PayloadError, parse_payload},
};

/// Default [`ChannelBankConfig::channel_timeout`], in L1 blocks.
pub const DEFAULT_CHANNEL_TIMEOUT: u64 = 300;
/// Default [`ChannelBankConfig::max_pending_channels`].
pub const DEFAULT_MAX_PENDING_CHANNELS: usize = 32;
/// Default [`ChannelBankConfig::max_pending_bytes`]: room for two channels of the largest
/// (incompressible) size.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 2 * DEFAULT_MAX_CHANNEL_RLP + 1024 * 1024;
/// Default [`ChannelBankConfig::max_finished`].
pub const DEFAULT_MAX_FINISHED: usize = 4096;
/// What one pending frame costs in [`ChannelBank::pending_bytes`] on top of its data, so that
/// floods of empty frames are bounded too.
pub const FRAME_MEMORY_OVERHEAD: usize = 64;

/// Limits of a [`ChannelBank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelBankConfig {
    /// A channel not complete this many L1 blocks after the L1 block of its first frame is
    /// dropped: frames are accepted up to and including L1 block `opened_at + channel_timeout`.
    pub channel_timeout: u64,
    /// Largest decompressed (RLP) size of a channel; a channel past it is dropped.
    pub max_decompressed: usize,
    /// Most channels pending at once; a new channel past it evicts the oldest.
    pub max_pending_channels: usize,
    /// Most bytes held by pending frames (data plus [`FRAME_MEMORY_OVERHEAD`] each); past it
    /// the oldest channels are evicted. A single frame costing more is ignored.
    pub max_pending_bytes: usize,
    /// How many finished (delivered or dropped) channel ids are remembered, so that late or
    /// repeated frames of theirs are ignored instead of opening a channel anew. Each is
    /// remembered for `channel_timeout` L1 blocks at most.
    pub max_finished: usize,
}

impl Default for ChannelBankConfig {
    fn default() -> Self {
        Self {
            channel_timeout: DEFAULT_CHANNEL_TIMEOUT,
            max_decompressed: DEFAULT_MAX_CHANNEL_RLP,
            max_pending_channels: DEFAULT_MAX_PENDING_CHANNELS,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_finished: DEFAULT_MAX_FINISHED,
        }
    }
}

/// Why a pending channel was evicted to keep memory bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictCause {
    /// A new channel arrived while `max_pending_channels` were pending.
    TooManyChannels,
    /// Pending frames held more than `max_pending_bytes`.
    TooManyBytes,
}

/// Why a channel was dropped: it yields no blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Still incomplete after `channel_timeout` L1 blocks.
    #[error("timed out: opened at L1 block {opened_at}, incomplete at L1 block {l1_block}")]
    TimedOut {
        /// L1 block of the channel's first frame.
        opened_at: u64,
        /// L1 block at which it was found timed out.
        l1_block: u64,
    },
    /// Evicted, oldest first, to keep the bank within its limits.
    #[error("evicted ({0:?})")]
    Evicted(EvictCause),
    /// The channel's bytes are not a valid zstd frame, or decompress past the limit.
    #[error("decompression failed: {0}")]
    Decompress(DecompressError),
    /// The decompressed bytes are not an RLP list of block entries.
    #[error("RLP decoding failed: {0}")]
    Decode(alloy_rlp::Error),
    /// Bytes after the RLP list.
    #[error("{0} bytes after the RLP list of blocks")]
    TrailingRlp(usize),
    /// The list of blocks is empty.
    #[error("the channel holds no blocks")]
    Empty,
}

/// Something [`ChannelBank::ingest`] or [`ChannelBank::advance`] skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// The payload, or its tail from a malformed frame on, was skipped.
    #[error("payload: {0}")]
    Payload(PayloadError),
    /// The channel already has a frame with this number: the first one stays.
    #[error("channel {channel_id}: duplicate frame {frame_number}")]
    DuplicateFrame {
        /// The frame's channel.
        channel_id: ChannelId,
        /// The frame's number.
        frame_number: u16,
    },
    /// The frame's number is past the channel's closing frame (arriving after it, or removed
    /// when a closing frame with a lower number arrived).
    #[error("channel {channel_id}: frame {frame_number} is after the closing frame {last_frame}")]
    FrameAfterClose {
        /// The frame's channel.
        channel_id: ChannelId,
        /// The frame's number.
        frame_number: u16,
        /// The channel's closing frame number.
        last_frame: u16,
    },
    /// A second closing frame, with a lower number than the closing frame already held.
    #[error("channel {channel_id}: second closing frame {frame_number} (closed at {last_frame})")]
    ExtraClose {
        /// The frame's channel.
        channel_id: ChannelId,
        /// The frame's number.
        frame_number: u16,
        /// The channel's closing frame number.
        last_frame: u16,
    },
    /// A frame of a channel that was recently delivered or dropped.
    #[error("channel {channel_id}: frame {frame_number} of a finished channel")]
    FinishedChannel {
        /// The frame's channel.
        channel_id: ChannelId,
        /// The frame's number.
        frame_number: u16,
    },
    /// A frame costing more than `max_pending_bytes` alone.
    #[error("channel {channel_id}: frame {frame_number} of {size} bytes exceeds the bank")]
    FrameTooLarge {
        /// The frame's channel.
        channel_id: ChannelId,
        /// The frame's number.
        frame_number: u16,
        /// Its data length.
        size: usize,
    },
    /// A whole channel was dropped.
    #[error("channel {channel_id} dropped: {reason}")]
    ChannelDropped {
        /// The channel.
        channel_id: ChannelId,
        /// Why.
        reason: DropReason,
    },
}

/// A complete channel, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyChannel {
    /// The channel's id.
    pub channel_id: ChannelId,
    /// L1 block of its first frame.
    pub opened_at: u64,
    /// L1 block of the frame that completed it.
    pub completed_at: u64,
    /// Size of its compressed bytes.
    pub compressed_len: usize,
    /// Its blocks, in channel order.
    pub blocks: Vec<BlockEntry>,
}

#[derive(Debug)]
struct PendingChannel {
    id: ChannelId,
    opened_at: u64,
    frames: BTreeMap<u16, Bytes>,
    /// Number of the closing frame, once seen.
    last: Option<u16>,
    /// What this channel counts in `pending_bytes`.
    cost: usize,
}

impl PendingChannel {
    fn is_complete(&self) -> bool {
        self.last.is_some_and(|last| self.frames.len() == usize::from(last) + 1)
    }
}

/// Derivation's channel bank: feed it every batch payload in L1 order with
/// [`ingest`](Self::ingest), collect decoded channels with [`take_ready`](Self::take_ready).
///
/// Memory is bounded by [`ChannelBankConfig`] for pending data; channels waiting in the ready
/// queue (at most `max_decompressed` of blocks each) are the caller's to drain.
#[derive(Debug)]
pub struct ChannelBank {
    config: ChannelBankConfig,
    /// Pending channels, oldest (first frame seen earliest) first.
    pending: VecDeque<PendingChannel>,
    pending_bytes: usize,
    /// Finished channel ids and the L1 block they finished at, oldest first; mirrored in
    /// `finished_set` for lookups.
    finished: VecDeque<(ChannelId, u64)>,
    finished_set: HashMap<ChannelId, u64>,
    ready: VecDeque<ReadyChannel>,
    l1_head: u64,
}

impl Default for ChannelBank {
    fn default() -> Self {
        Self::new(ChannelBankConfig::default())
    }
}

impl ChannelBank {
    /// An empty bank with these limits.
    pub fn new(config: ChannelBankConfig) -> Self {
        Self {
            config,
            pending: VecDeque::new(),
            pending_bytes: 0,
            finished: VecDeque::new(),
            finished_set: HashMap::new(),
            ready: VecDeque::new(),
            l1_head: 0,
        }
    }

    /// The bank's limits.
    pub fn config(&self) -> &ChannelBankConfig {
        &self.config
    }

    /// Channels waiting for frames.
    pub fn pending_channels(&self) -> usize {
        self.pending.len()
    }

    /// Bytes held by pending frames (data plus [`FRAME_MEMORY_OVERHEAD`] per frame); never more
    /// than `max_pending_bytes` between calls.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Channels decoded and not yet taken.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// The highest L1 block number seen.
    pub fn l1_head(&self) -> u64 {
        self.l1_head
    }

    /// Forgets everything (for an L1 reorg: re-ingest from the new fork point).
    pub fn reset(&mut self) {
        *self = Self::new(self.config);
    }

    /// Takes the channels completed so far, in the order they completed.
    pub fn take_ready(&mut self) -> Vec<ReadyChannel> {
        self.ready.drain(..).collect()
    }

    /// Moves the bank to L1 block `l1_block` without a payload (an L1 block with no batch):
    /// times out channels. Returns what was dropped.
    pub fn advance(&mut self, l1_block: u64) -> Vec<Ignored> {
        let mut ignored = Vec::new();
        self.advance_into(l1_block, &mut ignored);
        ignored
    }

    /// Reads one batch payload found in L1 block `l1_block`. L1 block numbers must not go
    /// down; a lower one counts as the highest seen so far. Returns what was skipped or
    /// dropped, in the order it happened; complete channels go to [`take_ready`](Self::take_ready).
    pub fn ingest(&mut self, l1_block: u64, payload: &[u8]) -> Vec<Ignored> {
        let mut ignored = Vec::new();
        self.advance_into(l1_block, &mut ignored);
        let (frames, error) = parse_payload(payload);
        for frame in frames {
            self.ingest_frame(frame, &mut ignored);
        }
        if let Some(error) = error {
            ignored.push(Ignored::Payload(error));
        }
        ignored
    }

    /// Checks the bank's bookkeeping (tests only).
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let mut total = 0;
        for channel in &self.pending {
            let cost: usize =
                channel.frames.values().map(|d| d.len() + FRAME_MEMORY_OVERHEAD).sum();
            assert_eq!(cost, channel.cost);
            assert!(!channel.frames.is_empty());
            assert!(!channel.is_complete());
            if let Some(last) = channel.last {
                assert!(channel.frames.keys().all(|&n| n <= last));
            }
            assert!(!self.finished_set.contains_key(&channel.id));
            total += cost;
        }
        assert_eq!(total, self.pending_bytes);
        assert!(total <= self.config.max_pending_bytes);
        assert!(self.pending.len() <= self.config.max_pending_channels);
        assert!(self.finished.len() <= self.config.max_finished);
        assert!(self.finished_set.len() <= self.finished.len());
        for (id, at) in &self.finished_set {
            assert!(self.finished.contains(&(*id, *at)));
        }
    }

    fn advance_into(&mut self, l1_block: u64, ignored: &mut Vec<Ignored>) {
        self.l1_head = self.l1_head.max(l1_block);
        let now = self.l1_head;
        let timeout = self.config.channel_timeout;

        let mut kept = VecDeque::with_capacity(self.pending.len());
        for channel in std::mem::take(&mut self.pending) {
            if now > channel.opened_at.saturating_add(timeout) {
                self.pending_bytes -= channel.cost;
                self.remember_finished(channel.id);
                ignored.push(Ignored::ChannelDropped {
                    channel_id: channel.id,
                    reason: DropReason::TimedOut { opened_at: channel.opened_at, l1_block: now },
                });
            } else {
                kept.push_back(channel);
            }
        }
        self.pending = kept;

        while let Some(&(id, at)) = self.finished.front() {
            if now <= at.saturating_add(timeout) {
                break;
            }
            self.finished.pop_front();
            self.forget_finished(id, at);
        }
    }

    fn remember_finished(&mut self, id: ChannelId) {
        if self.config.max_finished == 0 {
            return;
        }
        while self.finished.len() >= self.config.max_finished {
            match self.finished.pop_front() {
                Some((old, at)) => self.forget_finished(old, at),
                None => break,
            }
        }
        self.finished.push_back((id, self.l1_head));
        self.finished_set.insert(id, self.l1_head);
    }

    /// Removes `id` from the lookup set unless a later entry for the same id replaced it.
    fn forget_finished(&mut self, id: ChannelId, at: u64) {
        if self.finished_set.get(&id) == Some(&at) {
            self.finished_set.remove(&id);
        }
    }

    fn evict_oldest(&mut self, cause: EvictCause, ignored: &mut Vec<Ignored>) {
        if let Some(channel) = self.pending.pop_front() {
            self.pending_bytes -= channel.cost;
            self.remember_finished(channel.id);
            ignored.push(Ignored::ChannelDropped {
                channel_id: channel.id,
                reason: DropReason::Evicted(cause),
            });
        }
    }

    fn ingest_frame(&mut self, frame: Frame, ignored: &mut Vec<Ignored>) {
        let channel_id = frame.channel_id();
        let frame_number = frame.number();
        if self.finished_set.contains_key(&channel_id) {
            ignored.push(Ignored::FinishedChannel { channel_id, frame_number });
            return;
        }
        let cost = frame.data().len().saturating_add(FRAME_MEMORY_OVERHEAD);
        if cost > self.config.max_pending_bytes {
            ignored.push(Ignored::FrameTooLarge {
                channel_id,
                frame_number,
                size: frame.data().len(),
            });
            return;
        }

        let index = match self.pending.iter().position(|c| c.id == channel_id) {
            Some(index) => index,
            None => {
                if self.config.max_pending_channels == 0 {
                    // Nothing may be pending: the channel is evicted as soon as it would open.
                    self.remember_finished(channel_id);
                    ignored.push(Ignored::ChannelDropped {
                        channel_id,
                        reason: DropReason::Evicted(EvictCause::TooManyChannels),
                    });
                    return;
                }
                while self.pending.len() >= self.config.max_pending_channels {
                    self.evict_oldest(EvictCause::TooManyChannels, ignored);
                }
                self.pending.push_back(PendingChannel {
                    id: channel_id,
                    opened_at: self.l1_head,
                    frames: BTreeMap::new(),
                    last: None,
                    cost: 0,
                });
                self.pending.len() - 1
            }
        };
        let Some(channel) = self.pending.get_mut(index) else { return };

        if channel.frames.contains_key(&frame_number) {
            ignored.push(Ignored::DuplicateFrame { channel_id, frame_number });
            return;
        }
        if let Some(last_frame) = channel.last {
            if frame_number > last_frame {
                ignored.push(Ignored::FrameAfterClose { channel_id, frame_number, last_frame });
                return;
            }
            if frame.is_last() {
                ignored.push(Ignored::ExtraClose { channel_id, frame_number, last_frame });
                return;
            }
        } else if frame.is_last() {
            // Frames already held past the closing one are dropped.
            let after = channel.frames.split_off(&frame_number);
            for (number, data) in after {
                let freed = data.len() + FRAME_MEMORY_OVERHEAD;
                channel.cost -= freed;
                self.pending_bytes -= freed;
                ignored.push(Ignored::FrameAfterClose {
                    channel_id,
                    frame_number: number,
                    last_frame: frame_number,
                });
            }
            channel.last = Some(frame_number);
        }

        let data = frame.data().clone();
        channel.frames.insert(frame_number, data);
        channel.cost += cost;
        self.pending_bytes += cost;

        if channel.is_complete() {
            if let Some(channel) = self.pending.remove(index) {
                self.pending_bytes -= channel.cost;
                self.finish(channel, ignored);
            }
            return;
        }
        while self.pending_bytes > self.config.max_pending_bytes && !self.pending.is_empty() {
            self.evict_oldest(EvictCause::TooManyBytes, ignored);
        }
    }

    fn finish(&mut self, channel: PendingChannel, ignored: &mut Vec<Ignored>) {
        self.remember_finished(channel.id);
        let mut data = Vec::with_capacity(channel.cost);
        for piece in channel.frames.values() {
            data.extend_from_slice(piece);
        }
        match decode_channel(&data, self.config.max_decompressed) {
            Ok(blocks) => self.ready.push_back(ReadyChannel {
                channel_id: channel.id,
                opened_at: channel.opened_at,
                completed_at: self.l1_head,
                compressed_len: data.len(),
                blocks,
            }),
            Err(reason) => ignored.push(Ignored::ChannelDropped { channel_id: channel.id, reason }),
        }
    }
}

/// Decodes a complete channel's bytes: one zstd frame decompressing to at most
/// `max_decompressed` bytes of an RLP list of at least one [`BlockEntry`], with nothing after.
pub fn decode_channel(data: &[u8], max_decompressed: usize) -> Result<Vec<BlockEntry>, DropReason> {
    let rlp = decompress_limited(data, max_decompressed).map_err(DropReason::Decompress)?;
    let mut buf = rlp.as_slice();
    let blocks = Vec::<BlockEntry>::decode(&mut buf).map_err(DropReason::Decode)?;
    if !buf.is_empty() {
        return Err(DropReason::TrailingRlp(buf.len()));
    }
    if blocks.is_empty() {
        return Err(DropReason::Empty);
    }
    Ok(blocks)
}
