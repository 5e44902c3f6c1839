//! The tap: how a media worker hands a recorded room's frames to a writer.
//! Items are fixed-size (no allocation per frame) and go through a bounded
//! `std::sync::mpsc::sync_channel`, whose ring is allocated once; the media
//! thread only ever `try_send`s, so a slow writer loses frames (counted)
//! instead of stalling the mixer.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::conference::LegId;

/// The largest Opus packet a tap carries (the encoder is capped to it).
pub const MAX_FRAME: usize = 400;

/// The longest display name a tap carries (bytes of UTF-8; longer ones are
/// cut at a character boundary).
pub const MAX_NAME: usize = 64;

/// Items a tap queue holds: about 4 s of a room's mix with a few tracks.
pub const QUEUE: usize = 512;

/// Which stream of a recording a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The room mix (everyone, no mix-minus).
    Mix,
    /// One participant's own audio.
    Leg(LegId),
}

/// Something that happened in a recorded room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapEvent {
    /// A participant is in the room (at the start, or joined).
    Joined(LegId),
    /// A participant left.
    Left(LegId),
    /// A participant became one of the mixed talkers.
    TalkStart(LegId),
    /// A participant stopped being a mixed talker.
    TalkStop(LegId),
}

/// One item from the media worker. `index` counts 20 ms ticks from the
/// start of the recording (a gap means frames were lost).
// Every item is as large as a frame on purpose: the queue's ring is
// allocated once, and a boxed frame would be an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
pub enum TapItem {
    /// 20 ms of Opus.
    Audio {
        /// Tick since the start.
        index: u64,
        /// Whose.
        stream: Stream,
        /// Bytes used in `data`.
        len: u16,
        /// The packet.
        data: [u8; MAX_FRAME],
    },
    /// A room event.
    Event {
        /// Tick since the start.
        index: u64,
        /// What happened.
        event: TapEvent,
    },
    /// A participant's display name (when it joins, or when it is known).
    Name {
        /// Tick since the start.
        index: u64,
        /// Whose.
        leg: LegId,
        /// Bytes used in `name`.
        len: u8,
        /// UTF-8.
        name: [u8; MAX_NAME],
    },
}

impl TapItem {
    /// A name item; `name` is cut to [`MAX_NAME`] bytes at a character boundary.
    pub fn name(index: u64, leg: LegId, name: &str) -> TapItem {
        let mut end = name.len().min(MAX_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; MAX_NAME];
        buf[..end].copy_from_slice(&name.as_bytes()[..end]);
        TapItem::Name {
            index,
            leg,
            len: end as u8,
            name: buf,
        }
    }
}

impl std::fmt::Debug for TapItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TapItem::Audio {
                index, stream, len, ..
            } => write!(f, "Audio({index}, {stream:?}, {len} bytes)"),
            TapItem::Event { index, event } => write!(f, "Event({index}, {event:?})"),
            TapItem::Name {
                index,
                leg,
                len,
                name,
            } => write!(
                f,
                "Name({index}, {leg}, {:?})",
                String::from_utf8_lossy(&name[..usize::from(*len)])
            ),
        }
    }
}

/// The media worker's end of a recording.
#[derive(Clone)]
pub struct Tap {
    /// The recording's id (identity of the tap).
    pub id: Arc<str>,
    /// Where frames go.
    pub tx: SyncSender<TapItem>,
    /// Also send each participant's own audio.
    pub tracks: bool,
    /// Opus bitrate for the recording's encoders.
    pub bitrate: u32,
    /// Opus complexity for the recording's encoders (`[recorder] complexity`).
    pub complexity: u8,
    /// Frames this tap dropped because its queue was full.
    pub lost: Arc<AtomicU64>,
}

impl Tap {
    /// A tap and the writer's end of its queue.
    pub fn new(id: &str, tracks: bool, bitrate: u32, complexity: u8) -> (Tap, Receiver<TapItem>) {
        let (tx, rx) = sync_channel(QUEUE);
        (
            Tap {
                id: id.into(),
                tx,
                tracks,
                bitrate,
                complexity,
                lost: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("id", &self.id)
            .field("tracks", &self.tracks)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tap {
    fn eq(&self, other: &Tap) -> bool {
        self.id == other.id
    }
}
