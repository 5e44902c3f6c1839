//! The sans-IO SFU: owns one str0m [`Rtc`] per participant, all behind one
//! UDP socket. Fed `(now, datagram)`, commands and timeouts; returns the
//! datagrams to send and the next timeout. Never reads the clock, never
//! touches a socket.
//!
//! Media is forwarded as RTP (str0m's RTP mode): each incoming packet from a
//! participant's declared SSRC is written, unchanged in payload, sequence
//! number and timestamp, to a send stream with the same SSRC on every other
//! participant of the room. str0m answers NACKs from its send buffers (RTX
//! with the sender's FID partner as the repair SSRC), sends NACKs on the
//! receive side, and a receiver's PLI/FIR becomes a keyframe request on the
//! sender's stream. Only the RFC 6464 audio level, abs-send-time and
//! transport-cc are in the extension map (no `mid`: Jitsi clients renumber
//! mids and demux by SSRC).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use str0m::config::DtlsCert;
use str0m::format::{Codec, CodecConfig, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc, RtcConfig};

use crate::xmpp::jingle as j;

/// A participant's handle in the SFU.
pub type EndpointId = u64;

/// One media source a participant sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSpec {
    /// The SSRC.
    pub ssrc: u32,
    /// Its RTX (FID partner), if any.
    pub rtx: Option<u32>,
    /// Audio or video.
    pub video: bool,
}

impl SourceSpec {
    /// What str0m calls its kind.
    fn kind(&self) -> MediaKind {
        if self.video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        }
    }
}

/// What the signaling side asks of the SFU.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A participant was offered a session with these local ICE credentials.
    Add {
        /// Its handle.
        ep: EndpointId,
        /// Its room (media goes only between endpoints of one room).
        room: String,
        /// The name it gave (recordings name its audio with it).
        name: String,
        /// The ufrag/pwd sent in session-initiate.
        local: IceCreds,
    },
    /// The participant accepted: its ICE credentials, fingerprint and sources.
    Accept {
        /// Its handle.
        ep: EndpointId,
        /// Remote ufrag/pwd.
        remote: IceCreds,
        /// `sha-256 AB:CD:..`
        fingerprint: String,
        /// What it sends.
        sources: Vec<SourceSpec>,
        /// Candidates it listed (ICE-lite learns addresses from checks anyway).
        candidates: Vec<SocketAddr>,
    },
    /// The participant's full set of sources changed (source-add/remove).
    Sources {
        /// Its handle.
        ep: EndpointId,
        /// Everything it now sends.
        sources: Vec<SourceSpec>,
    },
    /// More remote candidates (transport-info).
    Candidates {
        /// Its handle.
        ep: EndpointId,
        /// Addresses.
        candidates: Vec<SocketAddr>,
    },
    /// The participant left: free its Rtc.
    Remove {
        /// Its handle.
        ep: EndpointId,
    },
    /// A phone caller's audio source appears in (or leaves) a room: every
    /// browser there gets (or loses) a send stream for it
    /// ([`crate::bridge`]).
    Phone {
        /// The SFU room.
        room: String,
        /// The caller's browser-side SSRC.
        ssrc: u32,
        /// In the room (false: gone).
        present: bool,
    },
}

/// An audio packet a browser sent, for the phone mix.
#[derive(Debug, Clone)]
pub struct BridgeAudio {
    /// The sender.
    pub ep: EndpointId,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// RFC 6464 level (-dBov), when sent.
    pub level: Option<u8>,
    /// The Opus payload.
    pub payload: std::sync::Arc<[u8]>,
}

/// A datagram to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Bytes.
    pub data: Vec<u8>,
}

/// The latest RFC 6464 level seen on an audio source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// -dBov (0 loudest, 127 silence).
    pub level: i8,
    /// The voice-activity flag.
    pub voice: Option<bool>,
    /// When it arrived.
    pub at: Instant,
}

struct Endpoint {
    room: String,
    rtc: Rtc,
    sources: Vec<SourceSpec>,
    /// Forwarded send streams on this endpoint: original SSRC -> mid.
    tx: HashMap<u32, Mid>,
    /// Keyframe requests arrive by mid.
    tx_by_mid: HashMap<Mid, u32>,
    rx_mids: HashMap<u32, Mid>,
    next_mid: u32,
    /// When str0m next wants `Input::Timeout`.
    timeout: Option<Instant>,
    /// Has input or media to send since it was last polled: only dirty
    /// endpoints are polled (a datagram for one endpoint does not poll all).
    dirty: bool,
    connected: bool,
}

impl Endpoint {
    fn mid(&mut self, prefix: char) -> Mid {
        self.next_mid += 1;
        Mid::from(format!("{prefix}{}", self.next_mid).as_str())
    }
}

/// What one Rtc produced that touches others.
enum Fwd {
    Rtp {
        from: EndpointId,
        ssrc: u32,
        pt: Pt,
        seq: str0m::rtp::SeqNo,
        time: u32,
        marker: bool,
        ext: Box<str0m::rtp::ExtensionValues>,
        payload: std::sync::Arc<[u8]>,
        wallclock: Instant,
    },
    Keyframe {
        ssrc: u32,
        kind: str0m::media::KeyframeRequestKind,
    },
}

/// The SFU core.
pub struct Core {
    cert: DtlsCert,
    fingerprint: String,
    local: SocketAddr,
    endpoints: HashMap<EndpointId, Endpoint>,
    out: Vec<Transmit>,
    levels: HashMap<u32, AudioLevel>,
    gone: Vec<EndpointId>,
    /// Phone callers' SSRCs per room, with the extended sequence number of
    /// the last packet written for each.
    phones: HashMap<String, Vec<(u32, u64)>>,
    /// Browser audio for the phone mix, since the last take.
    bridge: Vec<BridgeAudio>,
    /// The endpoint each remote address last reached (checked with
    /// `Rtc::accepts` before use), so that a datagram does not ask every
    /// endpoint in turn.
    by_addr: HashMap<SocketAddr, EndpointId>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("local", &self.local)
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

/// The codec table offered in Jingle (same payload type numbers).
fn codecs() -> CodecConfig {
    let mut c = CodecConfig::empty();
    c.add_config(
        Pt::from(j::PT_OPUS),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..Default::default()
        },
    );
    c.add_config(
        Pt::from(j::PT_VP8),
        Some(Pt::from(j::PT_VP8_RTX)),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    c.add_h264(
        Pt::from(j::PT_H264),
        Some(Pt::from(j::PT_H264_RTX)),
        true,
        0x42e01f,
    );
    c
}

fn extensions() -> ExtensionMap {
    let mut e = ExtensionMap::empty();
    e.set(j::EXT_AUDIO_LEVEL, Extension::AudioLevel);
    e.set(j::EXT_ABS_SEND_TIME, Extension::AbsoluteSendTime);
    e.set(j::EXT_TWCC, Extension::TransportSequenceNumber);
    e
}

fn config(cert: &DtlsCert) -> RtcConfig {
    let mut cfg = RtcConfig::new()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_dtls_cert(cert.clone())
        .set_extension_map(extensions());
    *cfg.codec_config() = codecs();
    cfg
}

impl Core {
    /// A core whose endpoints all use `cert` and advertise `local` (the
    /// public address of the one UDP socket).
    pub fn new(cert: DtlsCert, local: SocketAddr, now: Instant) -> Core {
        let mut probe = config(&cert).build(now);
        let fingerprint = probe.direct_api().local_dtls_fingerprint().to_string();
        Core {
            cert,
            fingerprint,
            local,
            endpoints: HashMap::new(),
            out: Vec::new(),
            levels: HashMap::new(),
            gone: Vec::new(),
            phones: HashMap::new(),
            bridge: Vec::new(),
            by_addr: HashMap::new(),
        }
    }

    /// `sha-256 AB:CD:...`, the same for every endpoint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The advertised host candidate.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Endpoints alive.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The last audio level of an audio source (for dominant-speaker/bridge work).
    pub fn audio_level(&self, ssrc: u32) -> Option<AudioLevel> {
        self.levels.get(&ssrc).copied()
    }

    /// Endpoints whose Rtc died (ICE timeout, DTLS failure) since the last call.
    pub fn take_gone(&mut self) -> Vec<EndpointId> {
        std::mem::take(&mut self.gone)
    }

    /// Browser audio packets for the phone mix, in order.
    pub fn take_bridge_audio(&mut self) -> Vec<BridgeAudio> {
        std::mem::take(&mut self.bridge)
    }

    /// 20 ms of a phone caller: written to every connected browser of the
    /// room on the caller's send stream (declared by [`Command::Phone`]).
    pub fn write_phone(&mut self, now: Instant, p: &crate::bridge::PhoneRtp) {
        let Some(seq) = self.phones.get_mut(&*p.room).and_then(|v| {
            v.iter_mut().find(|(s, _)| *s == p.ssrc).map(|(_, seq)| {
                *seq += 1;
                *seq
            })
        }) else {
            return;
        };
        let ext = str0m::rtp::ExtensionValues {
            audio_level: Some(-(p.level.min(127) as i8)),
            voice_activity: Some(true),
            ..Default::default()
        };
        for e in self.endpoints.values_mut() {
            if *e.room != *p.room || !e.connected {
                continue;
            }
            let mut api = e.rtc.direct_api();
            let Some(tx) = api.stream_tx(&Ssrc::from(p.ssrc)) else {
                continue;
            };
            tx.write_rtp(
                RtpWrite::new(
                    Pt::from(j::PT_OPUS),
                    seq.into(),
                    p.ts,
                    now,
                    p.payload.clone(),
                )
                .marker(p.marker)
                .ext_vals(ext.clone()),
            );
            e.dirty = true;
        }
        self.drive(now);
    }

    /// Datagrams to send, in order.
    pub fn take_transmits(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.out)
    }

    /// The earliest time [`Core::timeout`] must be called.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.endpoints.values().filter_map(|e| e.timeout).min()
    }

    /// A signaling command.
    pub fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Add {
                ep, room, local, ..
            } => {
                let mut rtc = config(&self.cert).build(now);
                rtc.direct_api().set_local_ice_credentials(local);
                rtc.direct_api().set_ice_controlling(false);
                match Candidate::host(self.local, "udp") {
                    Ok(c) => {
                        rtc.add_local_candidate(c);
                    }
                    Err(e) => tracing::warn!("sfu: host candidate {}: {e}", self.local),
                }
                self.endpoints.insert(
                    ep,
                    Endpoint {
                        room,
                        rtc,
                        sources: Vec::new(),
                        tx: HashMap::new(),
                        tx_by_mid: HashMap::new(),
                        rx_mids: HashMap::new(),
                        next_mid: 0,
                        timeout: Some(now),
                        dirty: true,
                        connected: false,
                    },
                );
                self.sync_room_of(ep);
            }
            Command::Accept {
                ep,
                remote,
                fingerprint,
                sources,
                candidates,
            } => {
                let Some(e) = self.endpoints.get_mut(&ep) else {
                    return;
                };
                let fp = match fingerprint.parse::<str0m::config::Fingerprint>() {
                    Ok(f) => f,
                    Err(err) => {
                        tracing::info!(ep, "sfu: bad fingerprint {fingerprint:?}: {err}");
                        return;
                    }
                };
                let mut api = e.rtc.direct_api();
                api.set_remote_ice_credentials(remote);
                api.set_remote_fingerprint(fp);
                if let Err(err) = api.start_dtls(false) {
                    tracing::info!(ep, "sfu: starting DTLS failed: {err}");
                }
                add_candidates(&mut e.rtc, &candidates);
                e.sources = sources;
                e.dirty = true;
                self.sync_room_of(ep);
            }
            Command::Sources { ep, sources } => {
                if let Some(e) = self.endpoints.get_mut(&ep) {
                    e.sources = sources;
                    e.dirty = true;
                    self.sync_room_of(ep);
                }
            }
            Command::Candidates { ep, candidates } => {
                if let Some(e) = self.endpoints.get_mut(&ep) {
                    add_candidates(&mut e.rtc, &candidates);
                    e.dirty = true;
                }
            }
            Command::Remove { ep } => {
                self.by_addr.retain(|_, id| *id != ep);
                if let Some(mut e) = self.endpoints.remove(&ep) {
                    e.rtc.disconnect();
                    for s in &e.sources {
                        self.levels.remove(&s.ssrc);
                    }
                    self.sync_room(&e.room);
                }
            }
            Command::Phone {
                room,
                ssrc,
                present,
            } => {
                let v = self.phones.entry(room.clone()).or_default();
                v.retain(|(s, _)| *s != ssrc);
                if present {
                    // A random start within the first rollover: SRTP's
                    // rollover counter must start at 0 (RFC 3711 §3.3.1).
                    v.push((ssrc, u64::from(rand::random::<u16>() >> 1)));
                }
                if v.is_empty() {
                    self.phones.remove(&room);
                }
                self.sync_room(&room);
            }
        }
        self.drive(now);
    }

    /// A datagram arrived on the socket from `source`.
    pub fn receive(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        let cached = self.by_addr.get(&source).copied().filter(|id| {
            self.endpoints
                .get(id)
                .is_some_and(|e| e.rtc.accepts(&input))
        });
        let id = match cached {
            Some(id) => id,
            None => {
                let Some(id) = self
                    .endpoints
                    .iter()
                    .find(|(_, e)| e.rtc.accepts(&input))
                    .map(|(id, _)| *id)
                else {
                    tracing::trace!(%source, "sfu: datagram for no endpoint");
                    return;
                };
                self.by_addr.insert(source, id);
                id
            }
        };
        let e = self.endpoints.get_mut(&id).expect("found above");
        if let Err(err) = e.rtc.handle_input(input) {
            tracing::debug!(ep = id, "sfu: input refused: {err}");
        }
        e.dirty = true;
        self.drive(now);
    }

    /// Time passed.
    pub fn timeout(&mut self, now: Instant) {
        for e in self.endpoints.values_mut() {
            if e.timeout.is_some_and(|t| t <= now) {
                if let Err(err) = e.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!("sfu: timeout input refused: {err}");
                }
                e.dirty = true;
            }
        }
        self.drive(now);
    }

    /// Declares receive streams for each endpoint's own sources and send
    /// streams for every other endpoint's sources in the same room; removes
    /// what is no longer there.
    fn sync_room_of(&mut self, ep: EndpointId) {
        if let Some(room) = self.endpoints.get(&ep).map(|e| e.room.clone()) {
            self.sync_room(&room);
        }
    }

    fn sync_room(&mut self, room: &str) {
        let members: Vec<EndpointId> = self
            .endpoints
            .iter()
            .filter(|(_, e)| e.room == room)
            .map(|(id, _)| *id)
            .collect();
        // Phone callers' sources have no endpoint (owner 0, never an id).
        let phones = self.phones.get(room).map(Vec::as_slice).unwrap_or(&[]);
        let all: Vec<(EndpointId, SourceSpec)> = members
            .iter()
            .flat_map(|id| {
                let e = &self.endpoints[id];
                e.sources.iter().map(move |s| (*id, *s))
            })
            .chain(phones.iter().map(|(ssrc, _)| {
                (
                    0,
                    SourceSpec {
                        ssrc: *ssrc,
                        rtx: None,
                        video: false,
                    },
                )
            }))
            .collect();
        for id in &members {
            let e = self
                .endpoints
                .get_mut(id)
                .expect("member ids come from the map");
            e.dirty = true;
            // Receive side: its own sources.
            let own: Vec<SourceSpec> = e.sources.clone();
            let stale: Vec<u32> = e
                .rx_mids
                .keys()
                .filter(|s| !own.iter().any(|o| o.ssrc == **s))
                .copied()
                .collect();
            for s in stale {
                if let Some(mid) = e.rx_mids.remove(&s) {
                    e.rtc.direct_api().remove_media(mid);
                }
            }
            for s in own {
                if e.rx_mids.contains_key(&s.ssrc) {
                    continue;
                }
                let mid = e.mid('r');
                let mut api = e.rtc.direct_api();
                api.declare_media(mid, s.kind());
                api.expect_stream_rx(Ssrc::from(s.ssrc), s.rtx.map(Ssrc::from), mid, None);
                e.rx_mids.insert(s.ssrc, mid);
            }
            // Send side: everyone else's sources.
            let wanted: Vec<SourceSpec> = all
                .iter()
                .filter(|(owner, _)| owner != id)
                .map(|(_, s)| *s)
                .collect();
            let stale: Vec<u32> =
                e.tx.keys()
                    .filter(|s| !wanted.iter().any(|w| w.ssrc == **s))
                    .copied()
                    .collect();
            for s in stale {
                if let Some(mid) = e.tx.remove(&s) {
                    e.tx_by_mid.remove(&mid);
                    e.rtc.direct_api().remove_media(mid);
                }
            }
            for s in wanted {
                if e.tx.contains_key(&s.ssrc) {
                    continue;
                }
                let mid = e.mid('t');
                let mut api = e.rtc.direct_api();
                api.declare_media(mid, s.kind());
                api.declare_stream_tx(Ssrc::from(s.ssrc), s.rtx.map(Ssrc::from), mid, None);
                e.tx.insert(s.ssrc, mid);
                e.tx_by_mid.insert(mid, s.ssrc);
            }
        }
    }

    /// Polls every endpoint until it only has a timeout left, forwarding
    /// media between them, until nothing more happens.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut fwd: Vec<Fwd> = Vec::new();
            let mut dead = Vec::new();
            for (id, e) in self.endpoints.iter_mut() {
                if !e.dirty {
                    continue;
                }
                loop {
                    let o = match e.rtc.poll_output() {
                        Ok(o) => o,
                        Err(err) => {
                            tracing::info!(ep = id, "sfu: endpoint failed: {err}");
                            dead.push(*id);
                            break;
                        }
                    };
                    match o {
                        Output::Timeout(t) => {
                            e.timeout = Some(t);
                            e.dirty = false;
                            break;
                        }
                        Output::Transmit(t) => self.out.push(Transmit {
                            to: t.destination,
                            data: t.contents.to_vec(),
                        }),
                        Output::Event(ev) => on_event(
                            *id,
                            e,
                            ev,
                            now,
                            &mut fwd,
                            &mut self.levels,
                            &mut self.bridge,
                        ),
                    }
                }
                if !e.rtc.is_alive() {
                    dead.push(*id);
                }
            }
            for id in dead {
                self.by_addr.retain(|_, x| *x != id);
                if let Some(e) = self.endpoints.remove(&id) {
                    tracing::info!(ep = id, "sfu: endpoint gone (ICE or DTLS ended)");
                    self.gone.push(id);
                    self.sync_room(&e.room);
                }
            }
            if fwd.is_empty() {
                break;
            }
            self.forward(fwd);
        }
    }

    fn forward(&mut self, fwd: Vec<Fwd>) {
        for f in fwd {
            match f {
                Fwd::Rtp {
                    from,
                    ssrc,
                    pt,
                    seq,
                    time,
                    marker,
                    ext,
                    payload,
                    wallclock,
                } => {
                    let Some(room) = self.endpoints.get(&from).map(|e| e.room.clone()) else {
                        continue;
                    };
                    let video = self.endpoints[&from]
                        .sources
                        .iter()
                        .any(|s| s.ssrc == ssrc && s.video);
                    for (id, e) in self.endpoints.iter_mut() {
                        if *id == from || e.room != room || !e.connected {
                            continue;
                        }
                        let mut api = e.rtc.direct_api();
                        let Some(tx) = api.stream_tx(&Ssrc::from(ssrc)) else {
                            continue;
                        };
                        tx.write_rtp(
                            RtpWrite::new(pt, seq, time, wallclock, payload.clone())
                                .marker(marker)
                                .ext_vals((*ext).clone())
                                .nackable(video),
                        );
                        e.dirty = true;
                    }
                }
                Fwd::Keyframe { ssrc, kind } => {
                    for e in self.endpoints.values_mut() {
                        if !e.sources.iter().any(|s| s.ssrc == ssrc) {
                            continue;
                        }
                        if let Some(rx) = e.rtc.direct_api().stream_rx(&Ssrc::from(ssrc)) {
                            rx.request_keyframe(kind);
                            e.dirty = true;
                        }
                    }
                }
            }
        }
    }
}

fn add_candidates(rtc: &mut Rtc, addrs: &[SocketAddr]) {
    for a in addrs {
        if let Ok(c) = Candidate::host(*a, "udp") {
            rtc.add_remote_candidate(c);
        }
    }
}

fn on_event(
    id: EndpointId,
    e: &mut Endpoint,
    ev: Event,
    now: Instant,
    fwd: &mut Vec<Fwd>,
    levels: &mut HashMap<u32, AudioLevel>,
    bridge: &mut Vec<BridgeAudio>,
) {
    match ev {
        Event::Connected => {
            tracing::info!(ep = id, "sfu: endpoint connected (ICE + DTLS-SRTP)");
            e.connected = true;
        }
        Event::IceConnectionStateChange(s) => {
            tracing::debug!(ep = id, ?s, "sfu: ICE state");
        }
        Event::RtpPacket(p) => {
            let ssrc = *p.header.ssrc;
            if let Some(level) = p.header.ext_vals.audio_level {
                levels.insert(
                    ssrc,
                    AudioLevel {
                        level,
                        voice: p.header.ext_vals.voice_activity,
                        at: now,
                    },
                );
            }
            let audio = e.sources.iter().any(|s| s.ssrc == ssrc && !s.video);
            if audio && *p.header.payload_type == j::PT_OPUS {
                bridge.push(BridgeAudio {
                    ep: id,
                    seq: *p.seq_no as u16,
                    ts: p.header.timestamp,
                    level: p.header.ext_vals.audio_level.map(|l| l.unsigned_abs()),
                    payload: p.payload.clone(),
                });
            }
            fwd.push(Fwd::Rtp {
                from: id,
                ssrc,
                pt: p.header.payload_type,
                seq: p.seq_no,
                time: p.header.timestamp,
                marker: p.header.marker,
                // Only end-to-end extensions go on: the audio level and video
                // orientation (str0m writes the per-hop ones itself).
                ext: Box::new(str0m::rtp::ExtensionValues {
                    audio_level: p.header.ext_vals.audio_level,
                    voice_activity: p.header.ext_vals.voice_activity,
                    video_orientation: p.header.ext_vals.video_orientation,
                    ..Default::default()
                }),
                payload: p.payload,
                wallclock: p.timestamp,
            });
        }
        Event::KeyframeRequest(k) => {
            if let Some(ssrc) = e.tx_by_mid.get(&k.mid) {
                fwd.push(Fwd::Keyframe {
                    ssrc: *ssrc,
                    kind: k.kind,
                });
            }
        }
        _ => {}
    }
}
