//! Media workers: plain threads, each running one 20 ms tick for all of its
//! legs and rooms (DESIGN.md §5). A tick drains every socket, plays one frame
//! per leg out of its jitter buffer, decodes and resamples to 48 kHz, mixes
//! each room once, encodes each distinct mix once per codec and sends it to
//! every leg that hears it, with the leg's own RTP header.
//!
//! Nothing here is shared with the signaling task: commands arrive on a
//! channel, events leave on another. Buffers are allocated when a leg or
//! room is created, not per packet.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, TrySendError, channel};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::codec::dtmf::DtmfReceiver;
use super::codec::opus::{OpusConfig, OpusEncoder, OpusReceiver};
use super::codec::{Codec, Decoder, Encoder};
use super::dtmf_detect::DtmfDetector;
use super::engine::{LegSpec, MediaCommand, MediaEvent, Sound};
use super::jitter::{JitterBuffer, Pop};
use super::mixer::{FRAME, Hears, MAX_TALKERS, Mixer, level};
use super::prompts::{self, Prompt};
use super::resample::Resampler;
use super::rtp::{self, RtpHeader};
use super::tones::Chime;
use crate::bridge::{self, BrowserRtp, PhoneRtp};
use crate::conference::LegId;
use crate::recorder::tap::{MAX_FRAME, Stream, Tap, TapEvent, TapItem};
use crate::sip::sdp::Direction;

/// Tick length.
pub const TICK: Duration = Duration::from_millis(20);

/// Phases of a worker's tick. Each room is mixed in one of them, SLOT
/// apart: a room waits only for the rooms of its own phase before it is
/// read, mixed and sent, not for every room of the worker (at 150 Opus legs
/// a worker's whole tick is ~11 ms of work, which the last room's callers
/// heard as delay). New rooms take the phase with the fewest callers.
const SLOTS: usize = 4;
/// Time between phases.
const SLOT: Duration = Duration::from_millis(5);
const _: () = assert!(SLOT.as_micros() * SLOTS as u128 == TICK.as_micros());

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Talkers mixed at once.
    pub talkers: usize,
    /// RTP silence before a timeout event.
    pub rtp_timeout: Duration,
    /// Opus complexity.
    pub opus_complexity: u8,
    /// Shared counters.
    pub stats: std::sync::Arc<super::stats::MediaStats>,
    /// Where phone callers' audio for browsers goes (the SFU), if it runs.
    pub to_browsers: Option<UnboundedSender<PhoneRtp>>,
}

/// Level (RMS) below which a participant is not talking.
const TALK_THRESHOLD: u32 = 150;

/// Ticks between RTCP sender reports (5 s, RFC 3550's minimum interval).
const RTCP_TICKS: u64 = 250;

/// Ticks between reads of a leg's RTCP socket (peers send every few
/// seconds; the socket buffer holds them meanwhile, and each read is a syscall).
const RTCP_POLL_TICKS: u64 = 25;

/// A worker further behind its schedule than this gives up catching up
/// (counting the ticks it skips) instead of running a long burst of ticks.
const MAX_BEHIND: Duration = Duration::from_millis(200);

/// Samples of the longest packet we decode (120 ms of Opus at 48 kHz).
const MAX_DECODED: usize = 5760;

/// Largest RTP packet we build.
const MAX_PACKET: usize = 1500;

/// The handle the signaling side holds.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    workers: Vec<Sender<MediaCommand>>,
    /// Each worker's inbox for browser audio (bridge legs).
    bridges: Vec<Sender<BrowserRtp>>,
    placement: std::sync::Arc<std::sync::Mutex<Placement>>,
}

/// Which worker holds each leg and room. A room lives on one worker; a leg
/// that joins a room elsewhere is moved there (closed and reopened).
#[derive(Debug, Default)]
struct Placement {
    legs: HashMap<LegId, (usize, LegSpec, Option<String>)>,
    rooms: HashMap<String, (usize, usize)>,
    load: Vec<usize>,
    /// Display names, sent again to the new worker when a leg moves.
    names: HashMap<LegId, String>,
}

impl Placement {
    fn room_worker(&mut self, room: &str, preferred: usize) -> usize {
        let e = self.rooms.entry(room.to_string()).or_insert((preferred, 0));
        e.1 += 1;
        e.0
    }
    fn leave_room(&mut self, room: &str) {
        if let Some(e) = self.rooms.get_mut(room) {
            e.1 -= 1;
            if e.1 == 0 {
                self.rooms.remove(room);
            }
        }
    }
    fn least_loaded(&self) -> usize {
        (0..self.load.len())
            .min_by_key(|&i| self.load[i])
            .unwrap_or(0)
    }
}

impl MediaEngine {
    /// Starts `n` worker threads; events go to `events`.
    pub fn start(n: usize, cfg: WorkerConfig, events: UnboundedSender<MediaEvent>) -> MediaEngine {
        let mut workers = Vec::new();
        let mut bridges = Vec::new();
        let n = n.max(1);
        let start = Instant::now();
        for i in 0..n {
            let (tx, rx) = channel();
            let (btx, brx) = channel();
            let cfg = cfg.clone();
            let events = events.clone();
            // Workers' phases interleave: two workers do not wake on the
            // same instant to contend for the same cores.
            let first = start + SLOT * i as u32 / n as u32;
            std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || Worker::new(cfg, rx, brx, events).run(first))
                .expect("a media thread can be spawned");
            workers.push(tx);
            bridges.push(btx);
        }
        let placement = Placement {
            load: vec![0; workers.len()],
            ..Placement::default()
        };
        MediaEngine {
            workers,
            bridges,
            placement: std::sync::Arc::new(std::sync::Mutex::new(placement)),
        }
    }

    fn to(&self, w: usize, cmd: MediaCommand) {
        let _ = self.workers[w].send(cmd);
    }

    /// Where a bridge leg's browser audio goes: the inbox of the worker
    /// that holds it (asked once per browser, not per packet).
    pub fn bridge_sender(&self, leg: LegId) -> Option<Sender<BrowserRtp>> {
        let p = self
            .placement
            .lock()
            .expect("placement lock is never poisoned");
        p.legs.get(&leg).map(|e| self.bridges[e.0].clone())
    }

    /// Routes a command to the worker that owns the leg or room. Room names
    /// are case-insensitive ([`bridge::muc_node`]): a room's phones and its
    /// browsers meet in one mix.
    pub fn send(&self, cmd: MediaCommand) {
        let cmd = normalize(cmd);
        let mut p = self
            .placement
            .lock()
            .expect("placement lock is never poisoned");
        match cmd {
            MediaCommand::OpenBridge { leg, room } => {
                let pref = p.least_loaded();
                let w = p.room_worker(&room, pref);
                p.load[w] += 1;
                p.legs.insert(leg, (w, bridge_spec(), Some(room.clone())));
                self.to(w, MediaCommand::OpenBridge { leg, room });
            }
            MediaCommand::Open { leg, spec, room } => {
                let pref = p.least_loaded();
                let w = match &room {
                    Some(r) => p.room_worker(r, pref),
                    None => pref,
                };
                p.load[w] += 1;
                p.legs.insert(leg, (w, spec.clone(), room.clone()));
                self.to(w, MediaCommand::Open { leg, spec, room });
            }
            MediaCommand::Join { leg, room, muted } => {
                let Some((w, spec, old)) = p.legs.get(&leg).cloned() else {
                    return;
                };
                if let Some(old) = old {
                    p.leave_room(&old);
                }
                let rw = p.room_worker(&room, w);
                p.legs.insert(leg, (rw, spec.clone(), Some(room.clone())));
                if rw == w {
                    self.to(w, MediaCommand::Join { leg, room, muted });
                } else {
                    // Move the leg to the room's worker.
                    p.load[w] -= 1;
                    p.load[rw] += 1;
                    self.to(w, MediaCommand::Close { leg });
                    self.to(
                        rw,
                        MediaCommand::Open {
                            leg,
                            spec,
                            room: Some(room),
                        },
                    );
                    if muted {
                        self.to(rw, MediaCommand::Mute { leg, muted });
                    }
                    if let Some(name) = p.names.get(&leg) {
                        let name = name.clone();
                        self.to(rw, MediaCommand::Name { leg, name });
                    }
                }
            }
            MediaCommand::Update { leg, spec } => {
                let Some(e) = p.legs.get_mut(&leg) else {
                    return;
                };
                e.1 = spec.clone();
                let w = e.0;
                self.to(w, MediaCommand::Update { leg, spec });
            }
            MediaCommand::Leave { leg } => {
                let Some(e) = p.legs.get_mut(&leg) else {
                    return;
                };
                let (w, old) = (e.0, e.2.take());
                if let Some(old) = old {
                    p.leave_room(&old);
                }
                self.to(w, MediaCommand::Leave { leg });
            }
            MediaCommand::Close { leg } => {
                p.names.remove(&leg);
                let Some((w, _, room)) = p.legs.remove(&leg) else {
                    return;
                };
                if let Some(r) = room {
                    p.leave_room(&r);
                }
                p.load[w] -= 1;
                self.to(w, MediaCommand::Close { leg });
            }
            MediaCommand::RoomSound { room, sound } => {
                if let Some(&(w, _)) = p.rooms.get(&room) {
                    self.to(w, MediaCommand::RoomSound { room, sound });
                }
            }
            MediaCommand::Record { room, tap } => {
                // A room not (or no longer) placed has no audio: dropping the
                // tap here ends its recording at once.
                if let Some(&(w, _)) = p.rooms.get(&room) {
                    self.to(w, MediaCommand::Record { room, tap });
                }
            }
            MediaCommand::Name { leg, name } => {
                if let Some(&(w, _, _)) = p.legs.get(&leg) {
                    p.names.insert(leg, name.clone());
                    self.to(w, MediaCommand::Name { leg, name });
                }
            }
            cmd @ (MediaCommand::Mute { leg, .. }
            | MediaCommand::Play { leg, .. }
            | MediaCommand::StopPlay { leg }) => {
                if let Some(&(w, _, _)) = p.legs.get(&leg) {
                    self.to(w, cmd);
                }
            }
        }
    }
}

/// Room names as the workers key them.
fn normalize(cmd: MediaCommand) -> MediaCommand {
    match cmd {
        MediaCommand::Open { leg, spec, room } => MediaCommand::Open {
            leg,
            spec,
            room: room.map(|r| bridge::muc_node(&r)),
        },
        MediaCommand::Join { leg, room, muted } => MediaCommand::Join {
            leg,
            room: bridge::muc_node(&room),
            muted,
        },
        MediaCommand::OpenBridge { leg, room } => MediaCommand::OpenBridge {
            leg,
            room: bridge::muc_node(&room),
        },
        MediaCommand::RoomSound { room, sound } => MediaCommand::RoomSound {
            room: bridge::muc_node(&room),
            sound,
        },
        MediaCommand::Record { room, tap } => MediaCommand::Record {
            room: bridge::muc_node(&room),
            tap,
        },
        other => other,
    }
}

/// A bridge leg's setup: Opus in, nothing sent (it has no socket).
fn bridge_spec() -> LegSpec {
    LegSpec {
        local: SocketAddr::from(([0, 0, 0, 0], 0)),
        remote: None,
        codec: crate::sip::sdp::offer_format("opus").expect("opus is a known codec"),
        dtmf_pt: Some(126),
        direction: Direction::SendRecv,
        srtp: None,
        sfu: None,
    }
}

/// The resampler from a codec's rate to the mixer's 48 kHz (none at 48 kHz).
fn upsampler(codec: Codec) -> Option<Resampler> {
    let rate = codec.native_rate();
    (rate != 48_000)
        .then(|| Resampler::new(rate, 48_000).ok())
        .flatten()
}

/// Encodes 48 kHz frames for one codec: resampler and encoder state.
struct EncodeChain {
    codec: Codec,
    down: Option<Resampler>,
    native: Vec<i16>,
    enc: Encoder,
    out: Vec<u8>,
    len: usize,
    /// The tick this chain last encoded (encode once per tick).
    tick: u64,
}

impl EncodeChain {
    fn new(codec: Codec, complexity: u8) -> Option<EncodeChain> {
        let rate = codec.native_rate();
        Some(EncodeChain {
            codec,
            down: if rate == 48_000 {
                None
            } else {
                Some(Resampler::new(48_000, rate).ok()?)
            },
            native: vec![0; codec.samples_per_frame()],
            enc: Encoder::new(codec, complexity).ok()?,
            out: vec![0; MAX_PACKET],
            len: 0,
            tick: u64::MAX,
        })
    }

    fn encode(&mut self, tick: u64, pcm: &[i16; FRAME], stats: &super::stats::MediaStats) -> &[u8] {
        if self.tick != tick {
            if self.tick != u64::MAX && self.tick.wrapping_add(1) != tick {
                // Not encoded last tick (its listeners were sent a talker's
                // own packets, or it was not heard): start afresh rather
                // than from the audio it last encoded.
                self.enc.reset();
                if let Some(r) = &mut self.down {
                    r.reset();
                }
            }
            self.tick = tick;
            stats
                .encodes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let native: &[i16] = match &mut self.down {
                Some(r) => {
                    r.process(pcm, &mut self.native);
                    &self.native
                }
                None => pcm,
            };
            self.len = self.enc.encode(native, &mut self.out).unwrap_or(0);
        }
        &self.out[..self.len]
    }
}

struct Leg {
    id: LegId,
    /// Its display name, once call control or the SFU said it.
    name: Option<Box<str>>,
    /// `None` for a browser's bridge leg (its packets come from the SFU).
    sock: Option<UdpSocket>,
    /// The last RFC 6464 level a browser sent (bridge legs; 127 silence).
    browser_level: u8,
    /// This caller's stream to the room's browsers, while it talks.
    to_browsers: Option<BrowserStream>,
    rtcp: Option<UdpSocket>,
    /// SRTP (SDES on a TLS leg): what arrives is checked and decrypted,
    /// what leaves encrypted and tagged; `None` for plain RTP.
    srtp: Option<super::srtp::Context>,
    /// A WebRTC leg's audio out: through the SFU (room, SSRC), not a socket.
    sfu_out: Option<(std::sync::Arc<str>, u32)>,
    spec: LegSpec,
    codec: Codec,
    remote: Option<SocketAddr>,
    latched: bool,
    /// The worker skipped ticks: drop what their frames left in the buffer.
    catch_up: bool,
    room: Option<String>,
    muted: bool,
    jitter: JitterBuffer,
    dec: Decoder,
    up: Option<Resampler>,
    /// This tick's frame at the codec's rate.
    native: Vec<i16>,
    /// Decoded audio not played yet (packets longer than 20 ms).
    fifo: Vec<i16>,
    /// One decoded packet (up to 120 ms at 48 kHz).
    decoded: Vec<i16>,
    /// `native` holds a frame for the mix this tick.
    has_frame: bool,
    /// This tick's frame is the whole of the packet its jitter buffer played
    /// last (one 20 ms packet of a codec that may be passed on,
    /// [`Codec::passes_on`]): a listener who hears only this leg may be
    /// sent that packet unchanged.
    whole_packet: bool,
    /// What the leg's Opus fmtp asks of the packets it is sent.
    opus_rx: OpusReceiver,
    /// The recent average bitrate of the whole packets it sent us (bit/s),
    /// held against a listener's `maxaveragebitrate`.
    packet_bitrate: u32,
    /// Its level (RMS at the codec's rate).
    level: u32,
    /// The tick `up` last resampled: only talkers are resampled, so a gap
    /// means the resampler's history is stale and is reset first.
    up_tick: u64,
    /// Spreads this leg's RTCP work over the ticks.
    phase: u64,
    dtmf: DtmfReceiver,
    inband: Option<DtmfDetector>,
    /// Private encoder for when this leg hears its own mix (a talker).
    private: Option<EncodeChain>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    last_rtp: Instant,
    timed_out: bool,
    sent_packets: u64,
    sent_octets: u64,
    /// What we know of the stream we receive (for RTCP receiver reports).
    rx_stats: rtp::ReceptionStats,
    /// Where the peer's RTCP comes from (RTP port + 1 until we hear it).
    rtcp_remote: Option<SocketAddr>,
    /// Prompts still to play, and how far into the first one we are.
    playing: std::collections::VecDeque<Prompt>,
    play_pos: usize,
    /// The id of the last `Play` (reported in its `PlayDone`).
    play_id: u64,
}

impl Leg {
    /// In the mix: only a leg that both sends and receives. A held leg
    /// (sendonly, recvonly or inactive) is out of the mix and not sent to.
    fn receiving(&self) -> bool {
        self.spec.direction == Direction::SendRecv
    }
    fn sending(&self) -> bool {
        self.spec.direction == Direction::SendRecv
            && (self.sfu_out.is_some() || (self.remote.is_some() && self.sock.is_some()))
    }
    /// Whether this leg may be sent `packet`, another leg's `codec` packet
    /// from a stream averaging `bitrate`, unchanged instead of our encoding
    /// of the same audio.
    fn takes_unchanged(&self, codec: Codec, packet: &[u8], bitrate: u32) -> bool {
        codec == self.codec
            && !packet.is_empty()
            && packet.len() <= codec.max_payload_len()
            && (codec != Codec::Opus || self.opus_rx.takes(packet, bitrate))
    }
}

/// A browser's audio quieter than this (-dBov) is not decoded: it cannot be
/// one of the loudest talkers (Chrome's levels: speech 20-45, silence 127).
const BROWSER_QUIET_DBOV: u8 = 60;

/// A phone caller's own audio, encoded for the browsers of its room.
struct BrowserStream {
    enc: OpusEncoder,
    ssrc: u32,
    ts0: u32,
    /// The tick of the last packet (a gap starts a talkspurt: marker).
    last: u64,
    buf: [u8; MAX_FRAME],
}

impl BrowserStream {
    fn new(leg: LegId, complexity: u8) -> Option<BrowserStream> {
        Some(BrowserStream {
            enc: OpusEncoder::new(OpusConfig {
                bitrate: 32_000,
                complexity,
                inband_fec: true,
                packet_loss_percent: 5,
            })
            .ok()?,
            ssrc: bridge::phone_ssrc(leg),
            ts0: rand::random(),
            last: u64::MAX,
            buf: [0; MAX_FRAME],
        })
    }

    fn packet(
        &mut self,
        room: &std::sync::Arc<str>,
        tick: u64,
        level: u32,
        pcm: &[i16; FRAME],
    ) -> Option<PhoneRtp> {
        let n = self
            .enc
            .encode(pcm, &mut self.buf)
            .ok()
            .filter(|&n| n > 0)?;
        let marker = self.last.wrapping_add(1) != tick;
        self.last = tick;
        Some(PhoneRtp {
            room: room.clone(),
            ssrc: self.ssrc,
            ts: self
                .ts0
                .wrapping_add((tick as u32).wrapping_mul(FRAME as u32)),
            marker,
            level: bridge::dbov(level),
            payload: std::sync::Arc::from(&self.buf[..n]),
        })
    }
}

/// A talker's packet of this tick, kept for passing on unchanged.
struct TalkerPacket {
    codec: Codec,
    /// Empty when the talker's frame was not one whole packet.
    bytes: Vec<u8>,
    /// The talker's stream's recent average bitrate (bit/s).
    bitrate: u32,
}

struct RoomState {
    /// The room's name (also its SFU room, for browsers).
    name: std::sync::Arc<str>,
    /// The phase of the tick it is mixed in (`0..SLOTS`).
    slot: usize,
    legs: Vec<LegId>,
    /// Browser participants (bridge legs) among `legs`: while there are
    /// any, talking phone callers are encoded for them.
    browsers: usize,
    mixer: Mixer,
    common: HashMap<Codec, EncodeChain>,
    /// This tick's talkers' packets (by talker slot), for listeners who
    /// hear one of them alone ([`Mixer::only_source`]).
    packets: Vec<TalkerPacket>,
    sounds: Vec<Chime>,
    overlay: Box<[i16; FRAME]>,
    /// The room's recording tap, when it is recorded.
    rec: Option<RoomRec>,
}

/// Time this thread has spent runnable but waiting for a core, in ns
/// (`/proc/thread-self/schedstat`'s second field; 0 where there is none).
fn run_queue_wait_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The phase of the tick with the fewest callers (then the fewest rooms),
/// for a new room, given each room's (phase, callers).
fn quietest_slot(rooms: impl Iterator<Item = (usize, usize)>) -> usize {
    let mut load = [(0usize, 0usize); SLOTS];
    for (slot, legs) in rooms {
        load[slot % SLOTS].0 += legs;
        load[slot % SLOTS].1 += 1;
    }
    (0..SLOTS).min_by_key(|&i| load[i]).unwrap_or(0)
}

/// A recorded room's encoders: the room mix (everyone, no mix-minus, no
/// chimes or prompts) and, when asked, each participant's own audio. All
/// allocated when the recording starts or a participant first appears.
struct RoomRec {
    tap: Tap,
    /// The worker tick of frame 0.
    start: u64,
    mix: OpusEncoder,
    tracks: HashMap<LegId, OpusEncoder>,
    /// Last tick's talkers (talk spans in the sidecar).
    talking: Vec<LegId>,
    buf: [u8; MAX_FRAME],
    silence: Box<[i16; FRAME]>,
    complexity: u8,
}

impl RoomRec {
    fn encoder(bitrate: u32, complexity: u8) -> Option<OpusEncoder> {
        OpusEncoder::new(OpusConfig {
            bitrate,
            complexity,
            inband_fec: false,
            packet_loss_percent: 0,
        })
        .ok()
    }

    fn new(tap: Tap, start: u64, complexity: u8) -> Option<RoomRec> {
        Some(RoomRec {
            mix: Self::encoder(tap.bitrate, complexity)?,
            tap,
            start,
            tracks: HashMap::new(),
            talking: Vec::with_capacity(MAX_TALKERS),
            buf: [0; MAX_FRAME],
            silence: Box::new([0; FRAME]),
            complexity,
        })
    }

    fn event(&self, tick: u64, event: TapEvent, stats: &super::stats::MediaStats) -> bool {
        let index = tick.saturating_sub(self.start);
        send_item(&self.tap, TapItem::Event { index, event }, stats)
    }

    /// A participant is in the room: its event, and its name when known.
    fn joined(&self, tick: u64, leg: LegId, name: Option<&str>, stats: &super::stats::MediaStats) {
        self.event(tick, TapEvent::Joined(leg), stats);
        if let Some(n) = name {
            self.name(tick, leg, n, stats);
        }
    }

    /// A participant's display name.
    fn name(&self, tick: u64, leg: LegId, name: &str, stats: &super::stats::MediaStats) {
        let index = tick.saturating_sub(self.start);
        send_item(&self.tap, TapItem::name(index, leg, name), stats);
    }

    /// This tick's frames: the mix, each participant's track (a talker's
    /// own 48 kHz input; silence for one below the talk threshold or
    /// muted, who is not resampled), talk spans. False when the writer has
    /// gone.
    fn tick(
        &mut self,
        tick: u64,
        legs: &[LegId],
        mixer: &Mixer,
        stats: &super::stats::MediaStats,
    ) -> bool {
        let index = tick.saturating_sub(self.start);
        let RoomRec {
            tap,
            mix,
            tracks,
            talking,
            buf,
            silence,
            complexity,
            ..
        } = self;
        let common = mixer.output(Hears::Common);
        if let Some(item) = encode_item(mix, buf, index, Stream::Mix, common)
            && !send_item(tap, item, stats)
        {
            return false;
        }
        if tap.tracks {
            for &leg in legs {
                let pcm: &[i16; FRAME] = match mixer.talkers().iter().position(|&t| t == leg) {
                    Some(slot) => mixer.input_frame(slot),
                    None => silence,
                };
                let enc = match tracks.entry(leg) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        match Self::encoder(tap.bitrate, *complexity) {
                            Some(e) => v.insert(e),
                            None => continue,
                        }
                    }
                };
                if let Some(item) = encode_item(enc, buf, index, Stream::Leg(leg), pcm)
                    && !send_item(tap, item, stats)
                {
                    return false;
                }
            }
        }
        let now = mixer.talkers();
        for &t in now.iter() {
            if !talking.contains(&t) {
                send_item(
                    tap,
                    TapItem::Event {
                        index,
                        event: TapEvent::TalkStart(t),
                    },
                    stats,
                );
            }
        }
        for &t in talking.iter() {
            if !now.contains(&t) {
                send_item(
                    tap,
                    TapItem::Event {
                        index,
                        event: TapEvent::TalkStop(t),
                    },
                    stats,
                );
            }
        }
        talking.clear();
        talking.extend_from_slice(now);
        true
    }
}

/// Encodes 20 ms for a tap.
fn encode_item(
    enc: &mut OpusEncoder,
    buf: &mut [u8; MAX_FRAME],
    index: u64,
    stream: Stream,
    pcm: &[i16; FRAME],
) -> Option<TapItem> {
    let len = enc.encode(pcm, &mut buf[..]).unwrap_or(0);
    (len > 0).then_some(TapItem::Audio {
        index,
        stream,
        len: len as u16,
        data: *buf,
    })
}

/// Queues an item; false when the writer has gone. A full queue drops the
/// item and counts it: the mixer never waits for a recorder.
fn send_item(tap: &Tap, item: TapItem, stats: &super::stats::MediaStats) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    match tap.tx.try_send(item) {
        Ok(()) => {
            if matches!(item, TapItem::Audio { .. }) {
                stats.rec_frames.fetch_add(1, Relaxed);
            }
            true
        }
        Err(TrySendError::Full(_)) => {
            stats.rec_lost.fetch_add(1, Relaxed);
            tap.lost.fetch_add(1, Relaxed);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

struct Worker {
    cfg: WorkerConfig,
    rx: Receiver<MediaCommand>,
    /// Browser audio from the SFU.
    bridge_rx: Receiver<BrowserRtp>,
    events: UnboundedSender<MediaEvent>,
    legs: HashMap<LegId, Leg>,
    /// In the order they were created, which is the order a tick mixes
    /// them in: a room's place in the tick (and so the delay its callers
    /// get) does not move when other rooms are added.
    rooms: indexmap::IndexMap<String, RoomState>,
    buf: Vec<u8>,
    pkt: Vec<u8>,
    reader: super::udp::Reader,
    tick: u64,
    epoch: Instant,
    /// Opens waiting for their port to be released.
    pending: Vec<(LegId, LegSpec, Option<String>, u32)>,
    /// Legs and rooms last added to the shared gauges.
    reported: (i64, i64),
    /// Phone legs by codec, phone and browser participants, last added to
    /// the shared gauges (recounted once a second).
    reported_kinds: [i64; 6],
}

impl Worker {
    fn new(
        cfg: WorkerConfig,
        rx: Receiver<MediaCommand>,
        bridge_rx: Receiver<BrowserRtp>,
        events: UnboundedSender<MediaEvent>,
    ) -> Worker {
        Worker {
            cfg,
            rx,
            bridge_rx,
            events,
            legs: HashMap::new(),
            rooms: indexmap::IndexMap::new(),
            buf: vec![0; 2048],
            pkt: vec![0; MAX_PACKET],
            reader: super::udp::Reader::default(),
            tick: 0,
            epoch: Instant::now(),
            pending: Vec::new(),
            reported: (0, 0),
            reported_kinds: [0; 6],
        }
    }

    /// Runs a tick every 20 ms on a fixed schedule, in [`SLOTS`] phases
    /// [`SLOT`] apart (each mixes its rooms; the first also takes commands
    /// and serves legs outside rooms). A late phase is made up (the next
    /// ones run back to back) so that every leg still gets 50 frames a
    /// second and no delay builds up in the jitter buffers; only a worker
    /// more than [`MAX_BEHIND`] behind drops the schedule and counts the
    /// ticks it skipped.
    fn run(mut self, first: Instant) {
        let stats = self.cfg.stats.clone();
        let mut due = first;
        // With debug logging: how long the thread waited for a core since
        // the last phase began (the kernel's schedstat), for phases that
        // start late. Work that overran and a thread kept off its core
        // look alike in the lateness alone.
        let diagnose = tracing::enabled!(tracing::Level::DEBUG);
        let mut queued_ns = if diagnose { run_queue_wait_ns() } else { 0 };
        loop {
            let mut work = Duration::ZERO;
            // Phases with no room are not woken for (rooms come and go in
            // the first phase, with the commands).
            let mut occupied = [true; SLOTS];
            for slot in 0..SLOTS {
                if !occupied[slot] {
                    continue;
                }
                let slot_due = due + SLOT * slot as u32;
                let now = Instant::now();
                if slot_due > now {
                    std::thread::sleep(slot_due - now);
                }
                let started = Instant::now();
                let late = started.saturating_duration_since(slot_due);
                stats.tick_lateness.observe(late);
                if diagnose {
                    let was = std::mem::replace(&mut queued_ns, run_queue_wait_ns());
                    if late > SLOT {
                        tracing::debug!(
                            tick = self.tick,
                            slot,
                            late_us = late.as_micros() as u64,
                            work_us = work.as_micros() as u64,
                            waited_for_a_core_us = queued_ns.saturating_sub(was) / 1000,
                            "tick phase started late"
                        );
                    }
                }
                if slot == 0 {
                    loop {
                        match self.rx.try_recv() {
                            Ok(cmd) => self.command(cmd),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => return,
                        }
                    }
                    for (leg, spec, room, tries) in std::mem::take(&mut self.pending) {
                        self.open(leg, spec, room, tries);
                    }
                    occupied = [false; SLOTS];
                    occupied[0] = true;
                    for r in self.rooms.values() {
                        occupied[r.slot] = true;
                    }
                }
                self.receive_from_sfu();
                self.mix_and_send(slot, self.ms_since_epoch(slot_due));
                work += started.elapsed();
            }
            self.tick += 1;
            let now = Instant::now();
            stats.tick_work.observe(work);
            let (legs, rooms) = (self.legs.len() as i64, self.rooms.len() as i64);
            stats
                .legs
                .fetch_add(legs - self.reported.0, std::sync::atomic::Ordering::Relaxed);
            stats.rooms.fetch_add(
                rooms - self.reported.1,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.reported = (legs, rooms);
            if self.tick.is_multiple_of(50) {
                self.report_kinds();
            }
            if self.tick.is_multiple_of(10) {
                let talkers = self
                    .rooms
                    .values()
                    .flat_map(|r| r.mixer.talkers().iter().copied());
                stats.set_talking(talkers, now);
            }
            due += TICK;
            let behind = now.saturating_duration_since(due);
            if behind > MAX_BEHIND {
                let skipped = (behind.as_micros() / TICK.as_micros()) as u64;
                stats
                    .ticks_skipped
                    .fetch_add(skipped, std::sync::atomic::Ordering::Relaxed);
                due += TICK * skipped as u32;
                // Tick numbers follow the schedule: a recording sees the gap.
                self.tick += skipped;
                // The frames of the skipped ticks are waiting in the sockets
                // and will be read: left in the jitter buffers they would be
                // delay that only the slow drain gives back.
                for l in self.legs.values_mut() {
                    l.catch_up = true;
                }
            }
        }
    }

    /// Recounts phone legs by codec and room participants by kind into the
    /// shared gauges (each worker adds what changed since its last count).
    fn report_kinds(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut now = [0i64; 6];
        for l in self.legs.values() {
            if bridge::is_bridge_leg(l.id) {
                now[5] += i64::from(l.room.is_some());
                continue;
            }
            if let Some(i) = Codec::ALL.iter().position(|&c| c == l.codec) {
                now[i] += 1;
            }
            now[4] += i64::from(l.room.is_some());
        }
        let s = &self.cfg.stats;
        for ((gauge, n), was) in s.legs_by_codec.iter().zip(&now).zip(&self.reported_kinds) {
            gauge.fetch_add(n - was, Relaxed);
        }
        s.set_leg_rtp(
            self.legs
                .values()
                .filter(|l| !bridge::is_bridge_leg(l.id))
                .map(|l| {
                    let j = l.jitter.stats();
                    let rtp = super::stats::LegRtp {
                        received: j.received,
                        lost: j.lost,
                        late: j.late,
                        concealed: j.concealed,
                        drained: j.drained,
                        jitter_us: (j.jitter_ms * 1000.0) as u64,
                        buffer_ms: j.depth as u64 * TICK.as_millis() as u64,
                        sent: l.sent_packets,
                    };
                    (l.id, rtp)
                }),
        );
        s.phone_participants
            .fetch_add(now[4] - self.reported_kinds[4], Relaxed);
        s.browser_participants
            .fetch_add(now[5] - self.reported_kinds[5], Relaxed);
        self.reported_kinds = now;
    }

    /// Reads a leg's RTCP socket (every [`RTCP_POLL_TICKS`]) and sends it a
    /// sender report with a receiver block (every [`RTCP_TICKS`]), each leg
    /// at its own phase so that reports do not bunch up in one tick.
    fn rtcp(l: &mut Leg, tick: u64, buf: &mut [u8], pkt: &mut [u8]) {
        let Some(sock) = &l.rtcp else {
            return;
        };
        let t = tick.wrapping_add(l.phase);
        if t.is_multiple_of(RTCP_POLL_TICKS) {
            while let Ok((n, src)) = sock.recv_from(buf) {
                if let Some(s) = &mut l.srtp
                    && s.unprotect_rtcp(&mut buf[..n]).is_err()
                {
                    continue;
                }
                l.rtcp_remote = Some(src);
            }
        }
        let Some(remote) = l.remote else {
            return;
        };
        if !t.is_multiple_of(RTCP_TICKS) {
            return;
        }
        let dest = l
            .rtcp_remote
            .unwrap_or_else(|| SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)));
        let jitter_ts =
            (l.jitter.stats().jitter_ms * f64::from(l.spec.codec.clock) / 1000.0) as u32;
        let mut n = rtp::write_sender_report(
            pkt,
            l.ssrc,
            rtp::ntp_now(),
            l.ts,
            l.sent_packets as u32,
            l.sent_octets as u32,
            Some(&mut l.rx_stats),
            jitter_ts,
        );
        if let Some(s) = &mut l.srtp {
            match s.protect_rtcp(pkt, n) {
                Ok(m) => n = m,
                Err(_) => return,
            }
        }
        let _ = sock.send_to(&pkt[..n], dest);
    }

    fn event(&self, ev: MediaEvent) {
        let _ = self.events.send(ev);
    }

    fn open(&mut self, leg: LegId, spec: LegSpec, room: Option<String>, tries: u32) {
        let Some(codec) = Codec::from_sdp(&spec.codec.encoding, spec.codec.clock) else {
            self.event(MediaEvent::OpenFailed {
                leg,
                reason: format!("codec {} not supported", spec.codec.encoding),
            });
            return;
        };
        if spec.sfu.is_some() {
            // WebRTC: the SFU's socket carries it.
            self.add_leg(leg, spec, codec, None, None, room);
            return;
        }
        let bind = |addr: SocketAddr| -> std::io::Result<UdpSocket> {
            let s = UdpSocket::bind(addr)?;
            s.set_nonblocking(true)?;
            if let Err(e) = super::udp::stamp_arrivals(&s) {
                // Playout then goes by the tick the packet was read in.
                tracing::debug!(%addr, "no kernel receive timestamps: {e}");
            }
            Ok(s)
        };
        let sock = match bind(spec.local) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 25 => {
                // A leg moving here from another worker: its old socket closes
                // on that worker's next tick. Try again then.
                self.pending.push((leg, spec, room, tries + 1));
                return;
            }
            Err(e) => {
                self.event(MediaEvent::OpenFailed {
                    leg,
                    reason: format!("binding {}: {e}", spec.local),
                });
                return;
            }
        };
        let rtcp = bind(SocketAddr::new(spec.local.ip(), spec.local.port() + 1)).ok();
        self.add_leg(leg, spec, codec, Some(sock), rtcp, room);
    }

    /// A browser's receive-only leg in `room`: its packets come from the SFU.
    fn open_bridge(&mut self, leg: LegId, room: String) {
        self.add_leg(leg, bridge_spec(), Codec::Opus, None, None, Some(room));
    }

    fn add_leg(
        &mut self,
        leg: LegId,
        spec: LegSpec,
        codec: Codec,
        sock: Option<UdpSocket>,
        rtcp: Option<UdpSocket>,
        room: Option<String>,
    ) {
        let Ok(dec) = Decoder::new(codec) else {
            self.event(MediaEvent::OpenFailed {
                leg,
                reason: "decoder".into(),
            });
            return;
        };
        let up = upsampler(codec);
        let srtp = match &spec.srtp {
            Some(k) => match super::srtp::Context::from_keys(k) {
                Some(c) => Some(c),
                None => {
                    self.event(MediaEvent::OpenFailed {
                        leg,
                        reason: "SRTP keys".into(),
                    });
                    return;
                }
            },
            None => None,
        };
        let sfu_out = spec
            .sfu
            .as_ref()
            .map(|s| (std::sync::Arc::from(s.room.as_str()), s.ssrc));
        let l = Leg {
            id: leg,
            name: None,
            srtp,
            sfu_out,
            sock,
            browser_level: 127,
            to_browsers: None,
            rtcp,
            remote: spec.remote,
            latched: false,
            catch_up: false,
            codec,
            room: None,
            muted: false,
            jitter: JitterBuffer::new(spec.codec.clock),
            dec,
            up,
            native: vec![0; codec.samples_per_frame()],
            fifo: Vec::with_capacity(2 * MAX_DECODED),
            decoded: vec![0; MAX_DECODED],
            has_frame: false,
            whole_packet: false,
            opus_rx: OpusReceiver::parse(spec.codec.fmtp.as_deref()),
            packet_bitrate: 0,
            level: 0,
            up_tick: u64::MAX,
            phase: rand::random::<u64>() % RTCP_TICKS,
            dtmf: DtmfReceiver::new(),
            inband: spec
                .dtmf_pt
                .is_none()
                .then(|| DtmfDetector::new(codec.native_rate())),
            private: None,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            last_rtp: Instant::now(),
            timed_out: false,
            sent_packets: 0,
            sent_octets: 0,
            playing: std::collections::VecDeque::new(),
            play_pos: 0,
            play_id: 0,
            rx_stats: rtp::ReceptionStats::default(),
            rtcp_remote: None,
            spec,
        };
        self.legs.insert(leg, l);
        if let Some(room) = room {
            self.join(leg, room, false);
        }
    }

    fn join(&mut self, leg: LegId, room: String, muted: bool) {
        self.leave(leg);
        let talkers = self.cfg.talkers;
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.room = Some(room.clone());
        l.muted = muted;
        let slot = if self.rooms.contains_key(&room) {
            0
        } else {
            quietest_slot(self.rooms.values().map(|r| (r.slot, r.legs.len())))
        };
        let r = self.rooms.entry(room.clone()).or_insert_with(|| RoomState {
            name: std::sync::Arc::from(room.as_str()),
            slot,
            browsers: 0,
            legs: Vec::new(),
            mixer: Mixer::new(talkers, TALK_THRESHOLD),
            common: HashMap::new(),
            packets: (0..talkers.clamp(1, MAX_TALKERS))
                .map(|_| TalkerPacket {
                    codec: Codec::Pcmu,
                    bytes: Vec::with_capacity(MAX_PACKET),
                    bitrate: 0,
                })
                .collect(),
            sounds: Vec::new(),
            overlay: Box::new([0; FRAME]),
            rec: None,
        });
        r.legs.push(leg);
        if bridge::is_bridge_leg(leg) {
            r.browsers += 1;
        }
        if let Some(rec) = &r.rec {
            rec.joined(self.tick, leg, l.name.as_deref(), &self.cfg.stats);
        }
    }

    fn leave(&mut self, leg: LegId) {
        let Some(room) = self.legs.get_mut(&leg).and_then(|l| l.room.take()) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&room) {
            r.legs.retain(|&x| x != leg);
            if bridge::is_bridge_leg(leg) {
                r.browsers = r.browsers.saturating_sub(1);
            }
            if let Some(rec) = &mut r.rec {
                rec.event(self.tick, TapEvent::Left(leg), &self.cfg.stats);
                rec.tracks.remove(&leg);
            }
            if r.legs.is_empty() {
                self.rooms.shift_remove(&room);
            }
        }
    }

    fn command(&mut self, cmd: MediaCommand) {
        match cmd {
            MediaCommand::OpenBridge { leg, room } => self.open_bridge(leg, room),
            MediaCommand::Open { leg, spec, room } => {
                self.pending.retain(|p| p.0 != leg);
                self.open(leg, spec, room, 0)
            }
            MediaCommand::Update { leg, spec } => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    return;
                };
                let new_codec = Codec::from_sdp(&spec.codec.encoding, spec.codec.clock);
                if let Some(c) = new_codec
                    && c != l.codec
                {
                    // A codec change: new decoder chain, fresh buffer.
                    if let Ok(d) = Decoder::new(c) {
                        l.dec = d;
                        l.codec = c;
                        l.up = upsampler(c);
                        l.native = vec![0; c.samples_per_frame()];
                        l.up_tick = u64::MAX;
                        l.fifo.clear();
                        l.jitter = JitterBuffer::new(spec.codec.clock);
                        l.private = None;
                        l.inband = spec
                            .dtmf_pt
                            .is_none()
                            .then(|| DtmfDetector::new(c.native_rate()));
                    }
                }
                if spec.remote != l.spec.remote {
                    l.remote = spec.remote;
                    l.latched = false;
                }
                if spec.srtp != l.spec.srtp {
                    // New keys in a re-offer (RFC 4568 §7.1.4): a fresh context.
                    l.srtp = spec.srtp.as_ref().and_then(super::srtp::Context::from_keys);
                }
                l.last_rtp = Instant::now();
                l.timed_out = false;
                l.opus_rx = OpusReceiver::parse(spec.codec.fmtp.as_deref());
                l.spec = spec;
            }
            MediaCommand::Join { leg, room, muted } => self.join(leg, room, muted),
            MediaCommand::Leave { leg } => self.leave(leg),
            MediaCommand::Play {
                leg,
                prompts: names,
                id,
            } => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    return;
                };
                l.playing
                    .extend(names.iter().filter_map(|n| prompts::get(n)));
                l.play_id = id;
                if l.playing.is_empty() {
                    let _ = self.events.send(MediaEvent::PlayDone { leg, id });
                }
            }
            MediaCommand::StopPlay { leg } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.playing.clear();
                    l.play_pos = 0;
                }
            }
            MediaCommand::Mute { leg, muted } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.muted = muted;
                }
            }
            MediaCommand::Name { leg, name } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    let rec = l
                        .room
                        .as_ref()
                        .and_then(|r| self.rooms.get(r))
                        .and_then(|r| r.rec.as_ref());
                    if let Some(rec) = rec {
                        rec.name(self.tick, leg, &name, &self.cfg.stats);
                    }
                    l.name = Some(name.into());
                }
            }
            MediaCommand::RoomSound { room, sound } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.sounds.push(match sound {
                        Sound::Join => Chime::join(48_000, -18.0),
                        Sound::Leave => Chime::leave(48_000, -18.0),
                    });
                }
            }
            MediaCommand::Record { room, tap } => {
                let tick = self.tick;
                let stats = self.cfg.stats.clone();
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.rec = tap.and_then(|t| {
                        let complexity = t.complexity;
                        RoomRec::new(t, tick, complexity)
                    });
                    if let Some(rec) = &r.rec {
                        for &leg in &r.legs {
                            let name = self.legs.get(&leg).and_then(|l| l.name.as_deref());
                            rec.joined(tick, leg, name, &stats);
                        }
                    }
                }
            }
            MediaCommand::Close { leg } => {
                self.pending.retain(|p| p.0 != leg);
                self.leave(leg);
                if self.legs.remove(&leg).is_some() {
                    self.cfg.stats.forget_leg(leg);
                }
            }
        }
    }

    /// Takes what the SFU sent for browsers' legs into their jitter buffers.
    fn receive_from_sfu(&mut self) {
        let now = Instant::now();
        let now_ms = self.ms_since_epoch(now);
        while let Ok(b) = self.bridge_rx.try_recv() {
            let Some(l) = self.legs.get_mut(&b.leg) else {
                continue;
            };
            // No level from the browser: assume it may be talking.
            l.browser_level = b.level.unwrap_or(0);
            l.last_rtp = now;
            l.rx_stats.packet(0, b.seq);
            l.jitter.push(now_ms, b.seq, b.ts, &b.payload[..]);
            self.cfg
                .stats
                .rtp_in
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn ms_since_epoch(&self, t: Instant) -> f64 {
        ms_since(self.epoch, t)
    }

    /// Drains one leg's sockets into its jitter buffer and DTMF receiver,
    /// right before the leg's room is mixed (so that what arrived while
    /// earlier rooms were mixed still makes this tick).
    fn receive_leg(l: &mut Leg, io: &mut ReceiveCtx<'_>) {
        let now = Instant::now();
        let now_ms = ms_since(io.epoch, now);
        let Some(sock) = &l.sock else {
            // A bridge leg: fed by receive_from_sfu; a browser that mutes
            // sends nothing, which is not a timeout.
            return;
        };
        while let Some(d) = io.reader.recv(sock, io.buf) {
            let (n, src) = (d.len, d.src);
            if rtp::is_rtcp(&io.buf[..n]) {
                continue;
            }
            let arrival_ms = match d.arrived.map(|t| t.duration_since(std::time::UNIX_EPOCH)) {
                Some(Ok(wall)) => (wall.as_secs_f64() * 1000.0 - io.wall_offset_ms).min(now_ms),
                _ => now_ms,
            };
            let n = match &mut l.srtp {
                // Unauthenticated or replayed: dropped, and no latching onto its source.
                Some(s) => match s.unprotect_rtp(&mut io.buf[..n]) {
                    Ok(m) => m,
                    Err(_) => continue,
                },
                None => n,
            };
            let pkt = &io.buf[..n];
            let Some((h, payload)) = rtp::parse(pkt) else {
                continue;
            };
            // Symmetric RTP: answer where the media really comes from.
            if !l.latched || l.remote != Some(src) {
                l.remote = Some(src);
                l.latched = true;
            }
            l.last_rtp = now;
            l.timed_out = false;
            let payload = &pkt[payload];
            if Some(h.pt) == l.spec.dtmf_pt {
                tracing::trace!(leg = l.id, ts = h.ts, marker = h.marker, payload = ?payload, "telephone-event");
                if let Some(d) = l.dtmf.push(h.ts, h.marker, payload) {
                    io.events.push(MediaEvent::Dtmf {
                        leg: l.id,
                        digit: d,
                    });
                }
            } else if h.pt == l.spec.codec.pt {
                l.rx_stats.packet(h.ssrc, h.seq);
                l.jitter.push(arrival_ms, h.seq, h.ts, payload);
                io.stats
                    .rtp_in
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Self::rtcp(l, io.tick, io.buf, io.pkt);
        if l.receiving() && !l.timed_out && now.duration_since(l.last_rtp) > io.timeout {
            l.timed_out = true;
            io.events.push(MediaEvent::RtpTimeout { leg: l.id });
        }
    }

    /// Pops and decodes one frame for a leg into `l.native` (at the codec's
    /// rate) and takes its level; runs in-band DTMF. `due_ms`: when this
    /// tick was due, in ms since `epoch`.
    fn pull(
        l: &mut Leg,
        due_ms: f64,
        events: &mut Vec<MediaEvent>,
        stats: &super::stats::MediaStats,
    ) {
        l.has_frame = false;
        l.level = 0;
        l.whole_packet = false;
        if l.sock.is_none() && l.browser_level > BROWSER_QUIET_DBOV {
            // A quiet browser: play its frame out of the buffer undecoded
            // (decode only what may be mixed; Opus recovers on the next
            // frame it decodes).
            let _ = l.jitter.pop();
            l.fifo.clear();
            return;
        }
        let before = l.jitter.stats();
        // Phone legs' packets carry kernel arrival times: a stream starts
        // only with a frame that came GUARD_MS before the tick was due, and
        // every read comes at or after that, however much the rooms mixed
        // before this one had to do. The SFU's packets are stamped when read.
        let at = if l.sock.is_some() {
            due_ms
        } else {
            f64::INFINITY
        };
        if std::mem::take(&mut l.catch_up) {
            // Counted as drained below.
            l.jitter.catch_up(at);
        }
        // Packets may hold more or less than 20 ms (ptime 10, 30, 40, 60):
        // decode whole packets into a FIFO and take one 20 ms frame a tick.
        let need = l.native.len();
        let mut whole = l.fifo.is_empty() && l.codec.passes_on();
        while l.fifo.len() < need {
            let n = match l.jitter.pop_at(at) {
                Pop::Frame(p) => {
                    let n = l.dec.decode(p, &mut l.decoded).unwrap_or(0);
                    // Only while this frame is exactly this packet.
                    l.whole_packet = std::mem::take(&mut whole) && n == need;
                    if l.whole_packet {
                        // An average over ~8 packets (20 ms each).
                        let bits = (p.len() * 8 * 50) as u32;
                        l.packet_bitrate = if l.packet_bitrate == 0 {
                            bits
                        } else {
                            l.packet_bitrate - l.packet_bitrate / 8 + bits / 8
                        };
                    }
                    n
                }
                Pop::Lost => {
                    stats
                        .concealed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(
                        leg = l.id,
                        due_ms,
                        last_arrival_ms = l.jitter.last_arrival_ms(),
                        "frame missing when due: concealed"
                    );
                    l.whole_packet = false;
                    whole = false;
                    l.dec.conceal(&mut l.decoded[..need])
                }
                Pop::Idle => 0,
            };
            if n == 0 {
                break;
            }
            l.fifo.extend_from_slice(&l.decoded[..n]);
        }
        let n = if l.fifo.len() >= need {
            l.native.copy_from_slice(&l.fifo[..need]);
            l.fifo.drain(..need);
            need
        } else {
            // The stream paused mid-packet: drop the remainder, play nothing.
            l.fifo.clear();
            0
        };
        let after = l.jitter.stats();
        let (lost, drained) = (after.lost - before.lost, after.drained - before.drained);
        if lost > 0 {
            stats
                .lost
                .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
        }
        if drained > 0 {
            stats
                .drained
                .fetch_add(drained, std::sync::atomic::Ordering::Relaxed);
        }
        if n == 0 {
            return;
        }
        if let Some(det) = &mut l.inband
            && let Some(d) = det.push(&l.native[..n])
        {
            events.push(MediaEvent::Dtmf {
                leg: l.id,
                digit: d,
            });
        }
        l.has_frame = l.receiving() && !l.muted;
        if l.has_frame {
            l.level = level(&l.native);
        }
    }

    /// A talker's frame at 48 kHz into `out`.
    fn upsample(l: &mut Leg, tick: u64, out: &mut [i16; FRAME]) {
        match &mut l.up {
            Some(up) => {
                if l.up_tick.wrapping_add(1) != tick {
                    // Not resampled last tick (not a talker then): start
                    // from silence rather than from a stale history.
                    up.reset();
                }
                l.up_tick = tick;
                up.process(&l.native, &mut out[..]);
            }
            None => {
                let m = FRAME.min(l.native.len());
                out[..m].copy_from_slice(&l.native[..m]);
                out[m..].fill(0);
            }
        }
    }

    /// One phase of a tick's audio: every leg of the rooms mixed in `slot`
    /// yields its frame; each room chooses its talkers, resamples only
    /// theirs, mixes once, encodes each distinct mix once per codec and
    /// sends it to the room's legs. In the first phase legs in no room (the
    /// IVR) get their prompts or silence. `due_ms`: when the phase was
    /// due, in ms since `epoch`.
    fn mix_and_send(&mut self, slot: usize, due_ms: f64) {
        let stats = self.cfg.stats.clone();
        let tick = self.tick;
        let complexity = self.cfg.opus_complexity;
        let mut events = Vec::new();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let wall_offset_ms = wall.as_secs_f64() * 1000.0 - self.ms_since_epoch(Instant::now());
        let mut io = ReceiveCtx {
            reader: &mut self.reader,
            buf: &mut self.buf[..],
            pkt: &mut self.pkt[..],
            epoch: self.epoch,
            wall_offset_ms,
            tick,
            timeout: self.cfg.rtp_timeout,
            stats: &stats,
            events: &mut events,
        };
        let legs = &mut self.legs;
        for r in self.rooms.values_mut().filter(|r| r.slot == slot) {
            for id in &r.legs {
                if let Some(l) = legs.get_mut(id) {
                    Self::receive_leg(l, &mut io);
                    Self::pull(l, due_ms, io.events, &stats);
                }
            }
            let pkt = &mut *io.pkt;
            let events = &mut *io.events;
            let n = r
                .mixer
                .select(
                    r.legs
                        .iter()
                        .filter_map(|id| legs.get(id))
                        .filter(|l| l.has_frame)
                        .map(|l| (l.id, l.level)),
                )
                .len();
            for talker in 0..n {
                let id = r.mixer.talkers()[talker];
                let kept = &mut r.packets[talker];
                kept.bytes.clear();
                if let Some(l) = legs.get_mut(&id) {
                    Self::upsample(l, tick, r.mixer.input(talker));
                    kept.codec = l.codec;
                    kept.bitrate = l.packet_bitrate;
                    if l.whole_packet {
                        kept.bytes
                            .extend_from_slice(l.jitter.last_played().unwrap_or_default());
                    }
                }
            }
            r.mixer.mix_selected();
            if r.browsers > 0
                && let Some(tx) = &self.cfg.to_browsers
            {
                // Each talking caller to the room's browsers, as its own source.
                for talker in 0..n {
                    let id = r.mixer.talkers()[talker];
                    if bridge::is_bridge_leg(id) {
                        continue;
                    }
                    let Some(l) = legs.get_mut(&id) else { continue };
                    if l.to_browsers.is_none() {
                        l.to_browsers = BrowserStream::new(id, complexity);
                    }
                    let level = l.level;
                    if let Some(p) = l
                        .to_browsers
                        .as_mut()
                        .and_then(|b| b.packet(&r.name, tick, level, r.mixer.input_frame(talker)))
                    {
                        let _ = tx.send(p);
                    }
                }
            }
            // The recording takes the mix before chimes and prompts.
            if let Some(rec) = &mut r.rec
                && !rec.tick(tick, &r.legs, &r.mixer, &stats)
            {
                r.rec = None;
            }
            if !r.sounds.is_empty() {
                r.overlay.fill(0);
                for snd in &mut r.sounds {
                    snd.add_to(&mut r.overlay[..]);
                }
                r.sounds.retain(|snd| !snd.is_finished());
                r.mixer.overlay(&r.overlay);
            }
            for id in &r.legs {
                let Some(l) = legs.get_mut(id) else {
                    continue;
                };
                let hears = r.mixer.hears(l.id);
                // Hearing one talker alone, on the same codec: its own
                // packet, not a second generation of the same audio.
                let unchanged = r
                    .mixer
                    .only_source(hears)
                    .map(|talker| &r.packets[talker])
                    .filter(|p| l.takes_unchanged(p.codec, &p.bytes, p.bitrate))
                    .map(|p| &p.bytes[..]);
                let shared = match hears {
                    Hears::Common => match r.common.entry(l.codec) {
                        std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            EncodeChain::new(l.codec, complexity).map(|c| v.insert(c))
                        }
                    },
                    Hears::MinusSelf(_) => None,
                };
                let out = SendCtx {
                    tick,
                    complexity,
                    stats: &stats,
                    pkt: &mut *pkt,
                    events: &mut *events,
                    to_sfu: self.cfg.to_browsers.as_ref(),
                };
                Self::send_leg(l, r.mixer.output(hears), unchanged, shared, out);
            }
        }
        let silence = [0i16; FRAME];
        let alone = legs.values_mut().filter(|l| slot == 0 && l.room.is_none());
        for l in alone {
            Self::receive_leg(l, &mut io);
            Self::pull(l, due_ms, io.events, &stats);
            let out = SendCtx {
                tick,
                complexity,
                stats: &stats,
                pkt: &mut *io.pkt,
                events: &mut *io.events,
                to_sfu: self.cfg.to_browsers.as_ref(),
            };
            // Alone (in the IVR, between prompts): keep RTP flowing with silence.
            Self::send_leg(l, &silence, None, None, out);
        }
        for e in events {
            self.event(e);
        }
    }

    /// Encodes and sends this tick's frame to one leg. `base` is what the
    /// leg hears (its room's mix, or silence); `unchanged` a talker's own
    /// packet of exactly that audio, sent instead of encoding it; `shared`
    /// the room's encoder of the common mix when that is what the leg
    /// hears. A prompt playing to the leg is laid over `base` and encoded
    /// for it alone.
    fn send_leg(
        l: &mut Leg,
        base: &[i16; FRAME],
        unchanged: Option<&[u8]>,
        shared: Option<&mut EncodeChain>,
        out: SendCtx<'_>,
    ) {
        if !l.sending() {
            return;
        }
        let SendCtx {
            tick,
            complexity,
            stats,
            pkt,
            events,
            to_sfu,
        } = out;
        let mixed: [i16; FRAME];
        let (pcm, shared, unchanged) = match l.playing.front().cloned() {
            Some(prompt) => {
                let part = &prompt[l.play_pos..l.play_pos + FRAME];
                let mut m = [0i16; FRAME];
                for ((m, &b), &p) in m.iter_mut().zip(base.iter()).zip(part.iter()) {
                    *m = (i32::from(b) / 2 + i32::from(p)).clamp(-32768, 32767) as i16;
                }
                mixed = m;
                l.play_pos += FRAME;
                if l.play_pos >= prompt.len() {
                    l.playing.pop_front();
                    l.play_pos = 0;
                    if l.playing.is_empty() {
                        events.push(MediaEvent::PlayDone {
                            leg: l.id,
                            id: l.play_id,
                        });
                    }
                }
                (&mixed, None, None)
            }
            None => (base, shared, unchanged),
        };
        let passed_on = unchanged.is_some();
        let payload = match (unchanged, shared) {
            (Some(packet), _) => packet,
            (None, Some(chain)) => chain.encode(tick, pcm, stats),
            (None, None) => {
                if l.private.as_ref().is_none_or(|p| p.codec != l.codec) {
                    l.private = EncodeChain::new(l.codec, complexity);
                }
                match &mut l.private {
                    Some(p) => p.encode(tick, pcm, stats),
                    None => return,
                }
            }
        };
        if payload.is_empty() {
            return;
        }
        if let Some((room, ssrc)) = &l.sfu_out {
            // A WebRTC leg: the SFU writes it on the leg's stream (its own
            // sequence numbers and SRTP); we keep time.
            if let Some(tx) = to_sfu {
                let _ = tx.send(PhoneRtp {
                    room: room.clone(),
                    ssrc: *ssrc,
                    ts: l.ts,
                    marker: l.sent_packets == 0,
                    level: 30,
                    payload: std::sync::Arc::from(payload),
                });
                if passed_on {
                    stats
                        .passed_on
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            l.ts = l.ts.wrapping_add(l.codec.rtp_ticks_per_frame());
            l.sent_packets += 1;
            l.sent_octets += payload.len() as u64;
            return;
        }
        let h = RtpHeader {
            pt: l.spec.codec.pt,
            marker: l.sent_packets == 0,
            seq: l.seq,
            ts: l.ts,
            ssrc: l.ssrc,
        };
        rtp::write_header(pkt, &h);
        let plen = payload.len();
        let mut n = 12 + plen;
        let Some(body) = pkt.get_mut(12..n) else {
            return;
        };
        body.copy_from_slice(payload);
        if let Some(s) = &mut l.srtp {
            match s.protect_rtp(pkt, n) {
                Ok(m) => n = m,
                Err(_) => return,
            }
        }
        if let (Some(remote), Some(sock)) = (l.remote, &l.sock) {
            let _ = sock.send_to(&pkt[..n], remote);
            if passed_on {
                stats
                    .passed_on
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        l.seq = l.seq.wrapping_add(1);
        l.ts = l.ts.wrapping_add(l.codec.rtp_ticks_per_frame());
        l.sent_packets += 1;
        stats
            .rtp_out
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        l.sent_octets += plen as u64;
    }
}

/// `t` in milliseconds since `epoch` (the jitter buffers' clock).
fn ms_since(epoch: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(epoch).as_secs_f64() * 1000.0
}

/// What [`Worker::receive_leg`] needs besides the leg.
struct ReceiveCtx<'a> {
    reader: &'a mut super::udp::Reader,
    buf: &'a mut [u8],
    /// For RTCP reports.
    pkt: &'a mut [u8],
    epoch: Instant,
    /// Wall-clock ms minus ms since `epoch` (kernel stamps are wall-clock).
    wall_offset_ms: f64,
    tick: u64,
    timeout: Duration,
    stats: &'a super::stats::MediaStats,
    events: &'a mut Vec<MediaEvent>,
}

/// What [`Worker::send_leg`] needs besides the leg.
struct SendCtx<'a> {
    tick: u64,
    complexity: u8,
    stats: &'a super::stats::MediaStats,
    pkt: &'a mut [u8],
    events: &'a mut Vec<MediaEvent>,
    /// The SFU's inbox, for WebRTC legs.
    to_sfu: Option<&'a UnboundedSender<PhoneRtp>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_room_takes_the_phase_with_the_fewest_callers() {
        assert_eq!(quietest_slot(std::iter::empty()), 0);
        assert_eq!(
            quietest_slot([(0, 10), (1, 10), (2, 3), (3, 10)].into_iter()),
            2
        );
        // As many callers: the phase with fewer rooms.
        assert_eq!(
            quietest_slot([(0, 4), (0, 4), (1, 8), (2, 8), (3, 4), (3, 4)].into_iter()),
            1
        );
        // Rooms of the same size fill the phases in turn.
        let mut rooms: Vec<(usize, usize)> = Vec::new();
        for _ in 0..2 * SLOTS {
            let slot = quietest_slot(rooms.iter().copied());
            rooms.push((slot, 10));
        }
        let slots: Vec<usize> = rooms.iter().map(|r| r.0).collect();
        assert_eq!(slots, [0, 1, 2, 3, 0, 1, 2, 3]);
    }
}
