//! Calls on the UAS side (RFC 3261 §13–15, RFC 3264, RFC 4028): INVITE to
//! a room by the dialplan, 2xx retransmission until ACK, BYE either way,
//! CANCEL (and its race with 200), re-INVITE and UPDATE for hold, resume and
//! codec changes (491 on glare), session timers, SIP INFO DTMF, and the
//! conference membership of each call. Sans-IO like the rest of the endpoint:
//! media is driven through [`MediaCommand`]s and answers with [`MediaEvent`]s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::{Action, Answer, Endpoint, Now};
use super::message::{Method, ReplyContext, Request};
use super::sdp::{self, Direction, LocalMedia, Negotiated};
use super::transaction::{Output, TxKey};
use super::transport::Flow;
use crate::bridge::PhoneEvent;
use crate::conference::{JoinError, LegId, Participant, Rooms, masked_phone};
use crate::dialplan::{CallFacts, Cidr, Decision, Dialplan};
use crate::media::engine::{LegSpec, MediaCommand, MediaEvent, Sound};
use crate::recorder::RecorderCommand;

/// Call settings (from `[sip]`, `[media]` and `[[trunk]]`).
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Codec preference, best first (`opus`, `G722`, `PCMU`, `PCMA`).
    pub codecs: Vec<String>,
    /// Sources allowed to call without authenticating, by trunk name.
    pub(crate) trunks: Vec<(String, Vec<Cidr>)>,
    /// UDP ports for RTP (even) and RTCP (odd).
    pub rtp_ports: RangeInclusive<u16>,
    /// Address for media sockets and SDP; the SIP socket's address when `None`.
    pub media_ip: Option<IpAddr>,
    /// Session-Expires we ask for when the caller supports timers (seconds).
    pub session_expires: u32,
    /// Shortest session interval accepted (422 below).
    pub min_se: u32,
    /// The SFU, when browser softphones' WebRTC media can be answered.
    pub webrtc: Option<super::webrtc::WebrtcConfig>,
    /// The web server's address (SIP over WebSocket connections' local side).
    pub ws_local: Option<SocketAddr>,
    /// `[sip] public_ip`: the address in our Via and Contact (behind NAT).
    pub public_ip: Option<IpAddr>,
    /// `[media] public_ip`: the address in our SDP (sockets still bind to
    /// `media_ip` or the SIP socket's address).
    pub media_public_ip: Option<IpAddr>,
    /// Dialplan clock offset from UTC, minutes.
    pub timezone_offset_minutes: i32,
    /// Our UDP listen address, used to ring registered users.
    pub udp_local: Option<SocketAddr>,
    /// Our TCP and TLS listen addresses: users registered over a connection
    /// are rung over it.
    pub stream_local: Vec<(super::transport::Protocol, SocketAddr)>,
}

impl CallConfig {
    /// The flow that reaches a registered contact: from our listener of
    /// the transport its REGISTER came over to the address it came from
    /// (over that connection for TCP and TLS; `None` when we have no such
    /// listener or the binding does not say).
    pub(super) fn flow_to(&self, b: &super::registrar::Binding) -> Option<super::transport::Flow> {
        use super::transport::Protocol;
        let (proto, addr) = b.received.as_deref()?.split_once(':')?;
        let protocol = match proto {
            "udp" => Protocol::Udp,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            "ws" => Protocol::Ws,
            _ => return None,
        };
        let local = match protocol {
            Protocol::Udp => self.udp_local,
            Protocol::Ws => self.ws_local,
            p => self
                .stream_local
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, a)| *a),
        }?;
        Some(super::transport::Flow {
            protocol,
            local,
            remote: addr.parse().ok()?,
            conn: 0,
        })
    }

    /// Takes the `[[trunk]]` entries of a (validated) config.
    pub fn set_trunks(&mut self, trunks: &[crate::config::TrunkConfig]) {
        self.trunks = trunks
            .iter()
            .map(|t| {
                let nets = t
                    .sources
                    .iter()
                    .filter_map(|c| crate::dialplan::parse_cidr(c).ok())
                    .collect();
                (t.name.clone(), nets)
            })
            .collect();
    }
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            codecs: vec!["opus".into(), "G722".into(), "PCMU".into(), "PCMA".into()],
            trunks: Vec::new(),
            rtp_ports: 16384..=32767,
            media_ip: None,
            session_expires: 1800,
            min_se: 90,
            timezone_offset_minutes: 0,
            udp_local: None,
            stream_local: Vec::new(),
            webrtc: None,
            ws_local: None,
            public_ip: None,
            media_public_ip: None,
        }
    }
}

impl CallConfig {
    /// What we write as our address in Via and Contact for a socket bound
    /// to `local`: `[sip] public_ip` with its port, else `local`.
    pub(super) fn sent_by(&self, local: SocketAddr) -> SocketAddr {
        self.public_ip
            .map_or(local, |ip| SocketAddr::new(ip, local.port()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum CallTimer {
    /// Retransmit the 2xx to an INVITE (T1 doubling to T2).
    Resend2xx,
    /// No ACK within 64*T1: end the call.
    AckTimeout,
    /// The session interval passed without a refresh.
    SessionExpired,
    /// Nobody answered a `user` route in time.
    RingTimeout,
}

#[derive(Debug)]
pub(super) enum Phase {
    /// INVITE received, no final answer yet.
    Early,
    /// 2xx sent, waiting for ACK.
    Answered { ok: Arc<[u8]>, interval: Duration },
    /// ACK received.
    Confirmed,
}

#[derive(Debug, Clone)]
pub(super) struct Membership {
    pub(super) room: String,
    pub(super) muted: bool,
    pub(super) max_members: Option<u32>,
    /// The dialplan route that asked for the room to be recorded (`record = true`).
    pub(super) record: Option<String>,
}

/// Where a caller is in the voice menus.
#[derive(Debug, Clone)]
pub(super) enum Stage {
    /// Typing a meeting id (the `ivr` action).
    MeetingId { tries: u8 },
    /// Waiting for the meeting-id lookup.
    LookingUp { tries: u8, id: String },
    /// Typing the PIN of a room.
    Pin {
        tries: u8,
        pin: Option<String>,
        moderator_pin: Option<String>,
        target: Membership,
    },
    /// In the room: `*6`, `*1`, `*5`, `*7`, `*8`, `#`.
    InRoom,
    /// Saying goodbye; hang up when the prompt ends.
    Leaving,
}

/// Wrong PINs or meeting ids before a polite hang-up.
const MAX_TRIES: u8 = 3;
/// Longest meeting id or PIN typed.
const MAX_DIGITS: usize = 32;

#[derive(Debug)]
pub(super) struct Call {
    pub(super) flow: Flow,
    pub(super) call_id: String,
    pub(super) local_tag: String,
    /// The INVITE's From (the peer) and To (us) as written.
    pub(super) peer: String,
    pub(super) us: String,
    pub(super) remote_target: String,
    pub(super) route_set: Vec<String>,
    pub(super) local_cseq: u32,
    pub(super) remote_cseq: u32,
    pub(super) invite_key: TxKey,
    pub(super) invite_reply: ReplyContext,
    pub(super) phase: Phase,
    pub(super) local: LocalMedia,
    pub(super) spec: Option<LegSpec>,
    /// The 2xx carried our offer: the answer comes in the ACK.
    pub(super) offer_in_2xx: bool,
    /// A re-INVITE of ours is... never sent; a peer's re-INVITE is pending.
    pub(super) reinvite_pending: bool,
    pub(super) membership: Option<Membership>,
    /// The 200 to send when the early-media welcome ends.
    pub(super) pending_ok: Option<Answer>,
    /// The playback whose end we act on (the welcome, or the goodbye).
    pub(super) waiting_play: Option<u64>,
    pub(super) stage: Stage,
    pub(super) digits: String,
    pub(super) star: bool,
    pub(super) moderator: bool,
    pub(super) display: String,
    pub(super) session: Option<Duration>,
    /// The other half of a two-party call (the `user` action).
    pub(super) pair: Option<LegId>,
    /// A WebRTC leg (a browser softphone): our side of its answer and the
    /// browser's ICE ufrag, for answering its re-offers (hold).
    pub(super) webrtc: Option<(sdp::WebrtcLocal, String)>,
    pub(super) timers: [Option<Instant>; 4],
}

impl Call {
    /// The UAS half of a call from its initial INVITE, before any answer.
    pub(super) fn from_invite(
        flow: Flow,
        key: &TxKey,
        req: &Request,
        local_tag: &str,
        local: LocalMedia,
        display: String,
    ) -> Call {
        // Our side is the INVITE's To, the peer's its From.
        let mut c = Call::outgoing(
            flow,
            req.core.call_id.clone(),
            local_tag.to_string(),
            req.core.reply.to.clone(),
            req.core.reply.from.clone(),
            contact_uri(req.header("Contact").unwrap_or("")),
            key.clone(),
            String::new(),
            local,
            display,
        );
        c.route_set = req.header_list("Record-Route");
        c.remote_cseq = req.core.cseq;
        c.invite_reply = req.core.reply.clone();
        c
    }
}

impl Call {
    /// The UAC half of a call we place (a `user` route's branch, a
    /// dial-out): `from` is us, `to` the callee, before any answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn outgoing(
        flow: Flow,
        call_id: String,
        tag: String,
        from: String,
        to: String,
        target: String,
        key: TxKey,
        via: String,
        local: LocalMedia,
        display: String,
    ) -> Call {
        Call {
            flow,
            invite_reply: ReplyContext {
                vias: vec![via],
                from: from.clone(),
                to: to.clone(),
                call_id: call_id.clone(),
                cseq: "1 INVITE".into(),
            },
            call_id,
            local_tag: tag,
            peer: to,
            us: from,
            remote_target: target,
            route_set: Vec::new(),
            local_cseq: 1,
            remote_cseq: 0,
            invite_key: key,
            phase: Phase::Early,
            local,
            spec: None,
            offer_in_2xx: false,
            reinvite_pending: false,
            membership: None,
            pending_ok: None,
            waiting_play: None,
            stage: Stage::InRoom,
            digits: String::new(),
            star: false,
            moderator: false,
            display,
            session: None,
            pair: None,
            webrtc: None,
            timers: [None; 4],
        }
    }
}

impl Call {
    /// The first lines of a request of our INVITE's transaction (the
    /// INVITE itself, its CANCEL, the ACK of a failure): Request-URI, the
    /// INVITE's Via and CSeq number, `to` as To; the rest is the caller's.
    pub(super) fn invite_head(&self, method: &str, to: &str) -> String {
        format!(
            "{method} {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {to}\r\n\
             Call-ID: {}\r\nCSeq: {} {method}\r\n",
            self.remote_target,
            self.invite_reply.vias[0],
            self.us,
            self.local_tag,
            self.call_id,
            self.local_cseq
        )
    }
}

fn slot(t: CallTimer) -> usize {
    t as usize
}

/// Free RTP ports (even numbers of the range).
#[derive(Debug)]
pub(super) struct PortPool {
    range: RangeInclusive<u16>,
    next: u16,
    used: HashSet<u16>,
}

impl PortPool {
    pub(super) fn take(&mut self) -> Option<u16> {
        let (lo, hi) = (*self.range.start() & !1, *self.range.end());
        let span = (hi.saturating_sub(lo) / 2).max(1);
        for _ in 0..span {
            let p = self.next;
            self.next = if p + 2 >= hi { lo } else { p + 2 };
            if !self.used.contains(&p) {
                self.used.insert(p);
                return Some(p);
            }
        }
        None
    }
    pub(super) fn give(&mut self, p: u16) {
        self.used.remove(&p);
    }
}

/// Every call of the endpoint, and the rooms they are in.
#[derive(Debug)]
pub struct Calls {
    pub(super) cfg: CallConfig,
    pub(super) calls: HashMap<LegId, Call>,
    pub(super) by_dialog: HashMap<(String, String), LegId>,
    pub(super) by_invite: HashMap<TxKey, LegId>,
    pub(super) heap: BinaryHeap<Reverse<(Instant, CallTimer, LegId)>>,
    pub(super) ports: PortPool,
    pub(super) next_leg: LegId,
    pub(super) rooms: Rooms,
    pub(super) dialplan: Arc<Dialplan>,
    /// Callers of `user` routes whose callees are still ringing.
    pub(super) forks: HashMap<LegId, super::fork::Fork>,
    /// Our outgoing INVITEs: client transaction -> (caller, callee leg).
    pub(super) branches: HashMap<TxKey, (LegId, LegId)>,
    /// The last prompt playback id handed out.
    pub(super) next_play: u64,
    /// What is needed to ACK a failure to each INVITE we sent.
    pub(super) sent: HashMap<TxKey, super::fork::Branch>,
    /// Dial-outs by leg, until their call ends.
    pub(super) dialing: HashMap<LegId, super::dialout::Dialing>,
}

impl Calls {
    /// No calls yet.
    pub fn new(cfg: CallConfig) -> Self {
        let start = *cfg.rtp_ports.start() & !1;
        Calls {
            ports: PortPool {
                range: cfg.rtp_ports.clone(),
                next: start.max(2),
                used: HashSet::new(),
            },
            cfg,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_invite: HashMap::new(),
            heap: BinaryHeap::new(),
            next_leg: 1,
            rooms: Rooms::default(),
            dialplan: Arc::new(Dialplan::empty("(none)")),
            forks: HashMap::new(),
            branches: HashMap::new(),
            sent: HashMap::new(),
            dialing: HashMap::new(),
            next_play: 0,
        }
    }

    /// Live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is up.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The live rooms.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    pub(super) fn arm(&mut self, leg: LegId, t: CallTimer, at: Instant) {
        if let Some(c) = self.calls.get_mut(&leg) {
            c.timers[slot(t)] = Some(at);
            self.heap.push(Reverse((at, t, leg)));
        }
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, t, leg))) = self.heap.peek() {
            if self
                .calls
                .get(leg)
                .is_some_and(|c| c.timers[slot(*t)] == Some(*at))
            {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }
}

/// The user part of a name-addr or addr-spec.
pub(super) fn user_of(v: &str) -> String {
    let uri = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v),
    };
    rsipstack::sip::parse_uri(uri)
        .ok()
        .and_then(|u| u.user().map(str::to_string))
        .unwrap_or_default()
}

/// The URI inside `<>` of a Contact value (or the bare URI).
pub(super) fn contact_uri(v: &str) -> String {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v.split(';').next().unwrap_or(v).trim().to_string(),
    }
}

/// A DTMF digit from a SIP INFO body (application/dtmf-relay or application/dtmf).
pub fn info_digit(content_type: &str, body: &[u8]) -> Option<char> {
    let body = std::str::from_utf8(body).ok()?;
    let ct = content_type.to_ascii_lowercase();
    let raw = if ct.starts_with("application/dtmf-relay") {
        body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| v.trim().to_string())
        })?
    } else if ct.starts_with("application/dtmf") {
        body.trim().to_string()
    } else {
        return None;
    };
    let c = match raw.as_str() {
        "10" => '*',
        "11" => '#',
        s if s.len() == 1 => s.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

impl Endpoint {
    /// Installs a new dialplan; calls already up keep what they were given.
    pub fn set_dialplan(&mut self, plan: Arc<Dialplan>) {
        self.calls.dialplan = plan;
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The live rooms and who is in them.
    pub fn rooms(&self) -> &Rooms {
        self.calls.rooms()
    }

    /// When the call timers next need [`Endpoint::handle_timeout`].
    pub(super) fn call_timeout(&mut self) -> Option<Instant> {
        self.calls.next_timeout()
    }

    pub(super) fn handle_call_timers(&mut self, now: Now, out: &mut Vec<Action>) {
        while let Some(Reverse((at, t, leg))) = self.calls.heap.peek().copied() {
            if at > now.mono {
                break;
            }
            self.calls.heap.pop();
            let live = self
                .calls
                .calls
                .get(&leg)
                .is_some_and(|c| c.timers[slot(t)] == Some(at));
            if !live {
                continue;
            }
            if let Some(c) = self.calls.calls.get_mut(&leg) {
                c.timers[slot(t)] = None;
            }
            match t {
                CallTimer::Resend2xx => {
                    let t2 = self.timers.t2;
                    let Some(c) = self.calls.calls.get_mut(&leg) else {
                        continue;
                    };
                    if let Phase::Answered { ok, interval } = &mut c.phase {
                        out.push(Action::Send(c.flow, ok.clone()));
                        *interval = (*interval * 2).min(t2);
                        let next = now.mono + *interval;
                        self.calls.arm(leg, CallTimer::Resend2xx, next);
                    }
                }
                CallTimer::AckTimeout => {
                    tracing::info!(leg, "no ACK for our 2xx: ending the call");
                    self.hang_up(now, leg, out);
                }
                CallTimer::RingTimeout => {
                    tracing::info!(leg, "nobody answered");
                    if self.calls.dialing.contains_key(&leg) {
                        self.cancel_dialing(now, leg, out);
                    } else {
                        self.give_up_fork(now, leg, 480, out);
                    }
                }
                CallTimer::SessionExpired => {
                    tracing::info!(
                        leg,
                        "session timer expired without a refresh: ending the call"
                    );
                    self.hang_up(now, leg, out);
                }
            }
        }
    }

    /// Tells the media workers; room membership and mute changes also go to
    /// the browsers of the room (the bridge shows phone callers there).
    pub(super) fn media(&self, out: &mut Vec<Action>, cmd: MediaCommand) {
        let display = |leg: LegId| {
            self.calls
                .calls
                .get(&leg)
                .map_or_else(|| "Phone".to_string(), |c| c.display.clone())
        };
        if let MediaCommand::Open { leg, spec, .. } | MediaCommand::Update { leg, spec } = &cmd
            && let Some(k) = &spec.srtp
        {
            tracing::info!(leg, suite = k.suite.name(), "SRTP (SDES keys) on this leg");
        }
        let phone = match &cmd {
            MediaCommand::Join { leg, room, muted } => Some(PhoneEvent::Joined {
                leg: *leg,
                room: room.clone(),
                display: display(*leg),
                muted: *muted,
            }),
            MediaCommand::Open {
                leg,
                room: Some(room),
                ..
            } => Some(PhoneEvent::Joined {
                leg: *leg,
                room: room.clone(),
                display: display(*leg),
                muted: false,
            }),
            MediaCommand::Mute { leg, muted } => Some(PhoneEvent::Muted {
                leg: *leg,
                muted: *muted,
            }),
            MediaCommand::Leave { leg } | MediaCommand::Close { leg } => {
                Some(PhoneEvent::Left { leg: *leg })
            }
            _ => None,
        };
        out.push(Action::Media(cmd));
        if let Some(ev) = phone {
            // The caller's name for recordings too (after the join: the leg
            // is placed by then).
            if let PhoneEvent::Joined { leg, display, .. } = &ev {
                out.push(Action::Media(MediaCommand::Name {
                    leg: *leg,
                    name: display.clone(),
                }));
            }
            out.push(Action::Phone(ev));
        }
    }

    fn find_dialog(&self, req: &Request) -> Option<LegId> {
        let tag = req.core.to_tag.as_deref()?;
        self.calls
            .by_dialog
            .get(&(req.core.call_id.clone(), tag.to_string()))
            .copied()
    }

    /// Requests that belong to calls: INVITE, BYE, CANCEL, UPDATE, INFO and
    /// anything else inside a dialog.
    pub(super) fn on_call_request(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        let method = req.method();
        if method == Method::Cancel {
            self.on_cancel(now, flow, key, req, out);
            return;
        }
        if req.core.to_tag.is_none() {
            let answer = match method {
                Method::Invite => return self.on_invite(now, flow, key, req, out),
                _ => Answer::new(481).warn("no such dialog"),
            };
            self.send_answer(now, flow, key, req, answer, out);
            return;
        }
        let Some(leg) = self.find_dialog(req) else {
            self.send_answer(
                now,
                flow,
                key,
                req,
                Answer::new(481).warn("no such dialog"),
                out,
            );
            return;
        };
        let tag = self.calls.calls[&leg].local_tag.clone();
        {
            let c = self.calls.calls.get_mut(&leg).expect("found by dialog");
            if req.core.cseq <= c.remote_cseq && method != Method::Ack {
                let answer = Answer::new(500)
                    .tag(&tag)
                    .header("Retry-After", "1")
                    .warn("CSeq out of order");
                self.send_answer(now, flow, key, req, answer, out);
                return;
            }
            c.remote_cseq = req.core.cseq;
        }
        let answer = match method {
            Method::Bye => {
                self.send_answer(now, flow, key, req, Answer::new(200).tag(&tag), out);
                self.end_call(now, leg, out);
                return;
            }
            Method::Invite | Method::Update => {
                return self.on_reoffer(now, flow, key, req, leg, out);
            }
            Method::Info => {
                let ct = req.header("Content-Type").unwrap_or("");
                match info_digit(ct, &req.inner.body) {
                    Some(d) => {
                        self.on_digit(now, leg, d, out);
                        Answer::new(200)
                    }
                    None if req.inner.body.is_empty() => Answer::new(200),
                    None => Answer::new(415)
                        .header("Accept", "application/dtmf-relay, application/dtmf"),
                }
            }
            Method::Options => Answer::new(200).header("Allow", super::endpoint::ALLOW),
            _ => Answer::new(405).header("Allow", super::endpoint::ALLOW),
        };
        self.send_answer(now, flow, key, req, answer.tag(&tag), out);
    }

    fn trunk_of(&self, ip: IpAddr) -> Option<&str> {
        self.calls
            .cfg
            .trunks
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(ip)))
            .map(|(name, _)| name.as_str())
    }

    fn on_invite(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        // Who is calling: a trunk by source address, a provider we are
        // registered to (from its registrar's address, to our account),
        // else a user by digest.
        let by_registration = self.registered_trunk_of(flow, req);
        let trunk = by_registration
            .clone()
            .or_else(|| self.trunk_of(flow.remote.ip()).map(str::to_string));
        let caller_auth = match &trunk {
            Some(t) => t.clone(),
            None => match self.authenticate(now, flow, req) {
                Ok(user) => user,
                Err(answer) => return self.send_answer(now, flow, key, req, *answer, out),
            },
        };
        let host = req.inner.uri.host_with_port.host.to_string();
        if !self.is_local(&host) {
            let a = Answer::new(404).warn(format!("domain {host} is not served here"));
            return self.send_answer(now, flow, key, req, a, out);
        }
        // We speak SDP only (RFC 3261 §21.4.13 415, §21.4.7 406).
        if !req.inner.body.is_empty() {
            let ct = req.header("Content-Type").unwrap_or("");
            if !ct
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/sdp")
            {
                let a = Answer::new(415).header("Accept", "application/sdp");
                return self.send_answer(now, flow, key, req, a, out);
            }
        }
        let accept = req.header_list("Accept");
        if !accept.is_empty()
            && !accept.iter().any(|a| {
                let a = a
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                a == "application/sdp" || a == "application/*" || a == "*/*"
            })
        {
            let a = Answer::new(406).header("Accept", "application/sdp");
            return self.send_answer(now, flow, key, req, a, out);
        }
        // Session timers (RFC 4028).
        let supports_timer = req
            .header_list("Supported")
            .iter()
            .chain(req.header_list("Require").iter())
            .any(|t| t.eq_ignore_ascii_case("timer"));
        let asked_se = req
            .header("Session-Expires")
            .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok());
        if let Some(se) = asked_se
            && se < self.calls.cfg.min_se
        {
            let a = Answer::new(422).header("Min-SE", self.calls.cfg.min_se.to_string());
            return self.send_answer(now, flow, key, req, a, out);
        }
        // The offer, if any.
        let offer = if req.inner.body.is_empty() {
            None
        } else {
            match sdp::parse(&req.inner.body) {
                Ok(s) => Some(s),
                Err(e) => {
                    return self.send_answer(
                        now,
                        flow,
                        key,
                        req,
                        Answer::new(400).warn(e.to_string()),
                        out,
                    );
                }
            }
        };
        // Route it. A call a provider sends to our registered Contact has
        // our account in its Request-URI; the number dialled is in To.
        let to_user = if by_registration.is_some() {
            user_of(req.header("To").unwrap_or(""))
        } else {
            req.inner.uri.user().unwrap_or("").to_string()
        };
        let from_user = user_of(req.header("From").unwrap_or(""));
        let headers: Vec<(String, String)> = req
            .inner
            .headers
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let (weekday, minute) =
            crate::dialplan::local_clock(now.unix as i64, self.calls.cfg.timezone_offset_minutes);
        let facts = CallFacts {
            to_user: &to_user,
            from_user: &from_user,
            source: flow.remote.ip(),
            trunk: trunk.as_deref(),
            headers: &headers,
            weekday,
            minute_of_day: minute,
        };
        let plan = self.calls.dialplan.clone();
        let m = plan.eval(&facts);
        tracing::info!(to = %to_user, from = %from_user, caller = %caller_auth, transport = %flow.protocol, route = m.route_name, "INVITE routed");
        let (membership, stage) = match m.decision {
            Decision::Reject { code, reason } => {
                return self.send_answer(now, flow, key, req, Answer::new(code).warn(reason), out);
            }
            Decision::Redirect { target } => {
                let a = Answer::new(302).header("Contact", format!("<{target}>"));
                return self.send_answer(now, flow, key, req, a, out);
            }
            Decision::Conference {
                room,
                pin,
                moderator_pin,
                muted,
                max_members,
                record,
            } => {
                let target = Membership {
                    room: room.as_str().to_string(),
                    muted,
                    max_members,
                    record: record.then(|| m.route_name.to_string()),
                };
                if pin.is_some() || moderator_pin.is_some() {
                    (
                        None,
                        Stage::Pin {
                            tries: 0,
                            pin,
                            moderator_pin,
                            target,
                        },
                    )
                } else {
                    (Some(target), Stage::InRoom)
                }
            }
            Decision::Ivr => (None, Stage::MeetingId { tries: 0 }),
            Decision::User { user, timeout } => {
                return self.ring_user(now, flow, key, req, &user, timeout, offer.as_ref(), out);
            }
        };
        // A locked or full room turns callers away at once, unless they may
        // still turn out to be a moderator (a moderator PIN is asked for):
        // those are checked after the PIN.
        let target_room = match (&membership, &stage) {
            (Some(m), _) => Some(m.clone()),
            (
                None,
                Stage::Pin {
                    target,
                    moderator_pin: None,
                    ..
                },
            ) => Some(target.clone()),
            _ => None,
        };
        if let Some(m) = &target_room
            && let Some(refusal) = self.refuse_join(&m.room, m.max_members, false)
        {
            tracing::info!(room = %m.room, code = refusal.code, "join refused at the INVITE");
            return self.send_answer(now, flow, key, req, refusal, out);
        }
        // Media: a port pair and the answer (or our offer).
        let Some(port) = self.calls.ports.take() else {
            return self.send_answer(
                now,
                flow,
                key,
                req,
                Answer::new(503)
                    .header("Retry-After", "5")
                    .warn("no free RTP ports"),
                out,
            );
        };
        let local = self.local_media(&flow, port);
        let ip = local.ip;
        let codecs = self.calls.cfg.codecs.clone();
        let prefs: Vec<&str> = codecs.iter().map(String::as_str).collect();
        let webrtc_answer = match &offer {
            Some(o) if sdp::is_webrtc(o) => Some(self.webrtc_answer(o, self.calls.next_leg)),
            _ => None,
        };
        let mut webrtc_setup = None;
        let (spec, body, offer_in_2xx) = match (&offer, webrtc_answer) {
            (_, Some(Ok((spec, body, setup)))) => {
                webrtc_setup = Some(setup);
                (Some(spec), body, false)
            }
            (_, Some(Err(why))) => {
                self.calls.ports.give(port);
                tracing::info!(transport = %flow.protocol, "WebRTC offer refused (488): {why}");
                let a = Answer::new(488).warn(why);
                return self.send_answer(now, flow, key, req, a, out);
            }
            (Some(o), None) => match sdp::answer(o, &prefs, &local) {
                Ok((neg, body)) => (Some(leg_spec(&local, neg)), body, false),
                Err(e) => {
                    self.calls.ports.give(port);
                    tracing::info!(transport = %flow.protocol, "offer refused (488): {e}");
                    let a = Answer::new(488).warn(e.to_string());
                    return self.send_answer(now, flow, key, req, a, out);
                }
            },
            (None, None) => (None, sdp::offer(&prefs, &local, Direction::SendRecv), true),
        };
        let leg = self.calls.next_leg;
        self.calls.next_leg += 1;
        let local_tag = format!("{:x}", self.next());
        let mut call =
            Call::from_invite(flow, key, req, &local_tag, local, masked_phone(&from_user));
        call.spec = spec.clone();
        call.offer_in_2xx = offer_in_2xx;
        call.membership = membership;
        call.stage = stage.clone();
        self.calls
            .by_dialog
            .insert((call.call_id.clone(), local_tag.clone()), leg);
        self.calls.by_invite.insert(key.clone(), leg);
        self.calls.calls.insert(leg, call);
        let spec = spec.unwrap_or_else(|| LegSpec {
            local: SocketAddr::new(ip, port),
            remote: None,
            codec: sdp::offer_format(prefs.first().copied().unwrap_or("PCMU"))
                .expect("configured codecs are known"),
            dtmf_pt: None,
            direction: Direction::Inactive,
            srtp: None,
            sfu: None,
        });
        let room = self.calls.calls[&leg]
            .membership
            .as_ref()
            .map(|m| m.room.clone());
        self.media(out, MediaCommand::Open { leg, spec, room });
        if let Some(setup) = webrtc_setup {
            self.webrtc_start(leg, setup, out);
        }
        // Answer now: the room is ready as soon as the leg is.
        let mut a = Answer::new(200)
            .tag(&local_tag)
            .header("Contact", self.our_contact(&flow))
            .header("Allow", super::endpoint::ALLOW)
            .header("Supported", "timer")
            .sdp(body);
        if supports_timer || asked_se.is_some() {
            let se = asked_se
                .unwrap_or(self.calls.cfg.session_expires)
                .max(self.calls.cfg.min_se);
            a = a
                .header("Session-Expires", format!("{se};refresher=uac"))
                .header("Require", "timer");
            let c = self.calls.calls.get_mut(&leg).expect("inserted above");
            c.session = Some(Duration::from_secs(u64::from(se)));
        }
        if matches!(stage, Stage::InRoom) {
            self.answer_2xx(now, leg, Some(req), a, out);
            self.join_room(now, leg, false, out);
            return;
        }
        // Menus start with a welcome as early media (183); the call is
        // answered when it ends, then the menu asks for the PIN or meeting id.
        let mut ringing = a.clone();
        ringing.code = 183;
        self.send_answer(now, flow, key, req, ringing, out);
        let id = self.play_id(leg, &["welcome"], out);
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            c.pending_ok = Some(a);
            c.waiting_play = Some(id);
        }
    }

    /// Why a room cannot take one more caller, as an answer (None: it can).
    fn refuse_join(&self, room: &str, max_members: Option<u32>, moderator: bool) -> Option<Answer> {
        let r = self.calls.rooms.get(room)?;
        if r.locked && !moderator {
            return Some(Answer::new(403).warn("the room is locked"));
        }
        if let Some(max) = max_members.or(r.max_members)
            && (r.participants.len() + r.browsers.len()) as u32 >= max
        {
            return Some(Answer::new(486).warn("the room is full"));
        }
        None
    }

    /// Plays prompts to a leg.
    pub(super) fn play(&mut self, leg: LegId, prompts: &[&str], out: &mut Vec<Action>) {
        self.play_id(leg, prompts, out);
    }

    /// Plays prompts to a leg; returns the id its `PlayDone` will carry.
    fn play_id(&mut self, leg: LegId, prompts: &[&str], out: &mut Vec<Action>) -> u64 {
        self.calls.next_play += 1;
        let id = self.calls.next_play;
        let prompts = prompts.iter().map(|p| p.to_string()).collect();
        self.media(out, MediaCommand::Play { leg, prompts, id });
        id
    }

    /// Plays `prompts`, then hangs up.
    fn goodbye(&mut self, leg: LegId, prompts: &[&str], out: &mut Vec<Action>) {
        self.media(out, MediaCommand::StopPlay { leg });
        let id = self.play_id(leg, prompts, out);
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            c.stage = Stage::Leaving;
            c.waiting_play = Some(id);
        }
    }

    pub(super) fn our_contact(&self, flow: &Flow) -> String {
        format!(
            "<sip:dialroom@{}{}>",
            self.calls.cfg.sent_by(flow.local),
            flow.protocol.uri_param()
        )
    }

    /// Our media description for a new leg on `flow` with RTP port `port`:
    /// an SRTP key when the signaling is TLS (SDES, RFC 4568 §8.3).
    pub(super) fn local_media(&mut self, flow: &Flow, port: u16) -> LocalMedia {
        LocalMedia {
            ip: self.calls.cfg.media_ip.unwrap_or(flow.local.ip()),
            advertise: self.calls.cfg.media_public_ip,
            port,
            session_id: self.next() >> 12,
            version: 1,
            key: (flow.protocol == super::transport::Protocol::Tls)
                .then(crate::media::srtp::MasterKey::random),
        }
    }

    /// Sends a 2xx through the INVITE transaction and retransmits it until ACK.
    pub(super) fn answer_2xx(
        &mut self,
        now: Now,
        leg: LegId,
        req: Option<&Request>,
        a: Answer,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let flow = c.flow;
        let (key, ctx) = match req {
            Some(r) => (req_key(r, c), r.core.reply.clone()),
            None => (c.invite_key.clone(), c.invite_reply.clone()),
        };
        let mark = out.len();
        self.send_answer_ctx(now, flow, &key, &ctx, a, out);
        let ok: Option<Arc<[u8]>> = out[mark..].iter().find_map(|a| match a {
            Action::Send(_, b) => Some(b.clone()),
            _ => None,
        });
        let Some(ok) = ok else { return };
        let t1 = self.timers.t1;
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            c.phase = Phase::Answered { ok, interval: t1 };
        }
        if !flow.protocol.is_reliable() {
            self.calls.arm(leg, CallTimer::Resend2xx, now.mono + t1);
        }
        self.calls
            .arm(leg, CallTimer::AckTimeout, now.mono + t1 * 64);
    }

    pub(super) fn join_room(
        &mut self,
        now: Now,
        leg: LegId,
        send_join: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        let Some(m) = c.membership.clone() else {
            return;
        };
        c.stage = Stage::InRoom;
        let p = Participant {
            leg,
            display: c.display.clone(),
            muted: m.muted,
            moderator: c.moderator,
        };
        match self.calls.rooms.join(&m.room, p, m.max_members) {
            Ok(position) => {
                tracing::info!(leg, room = %m.room, position, "joined");
                if send_join {
                    self.media(
                        out,
                        MediaCommand::Join {
                            leg,
                            room: m.room.clone(),
                            muted: m.muted,
                        },
                    );
                } else if m.muted {
                    self.media(out, MediaCommand::Mute { leg, muted: true });
                }
                if position > 1 {
                    self.media(
                        out,
                        MediaCommand::RoomSound {
                            room: m.room.clone(),
                            sound: Sound::Join,
                        },
                    );
                }
                let pos = if position <= 20 {
                    format!("position_{position}")
                } else {
                    "position_many".into()
                };
                let mut prompts = vec![pos.as_str()];
                if m.muted {
                    prompts.push("muted");
                }
                let recorded = self
                    .calls
                    .rooms
                    .get(&m.room)
                    .is_some_and(|r| r.recording.is_some());
                if recorded {
                    prompts.push("recorded");
                }
                self.play(leg, &prompts, out);
                // `record = true`: the first caller's join starts the recording.
                if let Some(route) = &m.record
                    && position == 1
                    && !recorded
                {
                    self.start_recording(&m.room, format!("dialplan:{route}"), None, out);
                }
            }
            Err(e) => {
                tracing::info!(leg, room = %m.room, "join refused: {e}");
                let prompt = if e == JoinError::Locked {
                    "room_locked"
                } else {
                    "room_full"
                };
                self.goodbye(leg, &[prompt], out);
                let _ = now;
            }
        }
    }

    /// After a menu: into the room, or a goodbye if it is locked or full.
    fn enter_room(
        &mut self,
        now: Now,
        leg: LegId,
        target: Membership,
        moderator: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(refusal) = self.refuse_join(&target.room, target.max_members, moderator) {
            tracing::info!(
                leg,
                room = %target.room,
                code = refusal.code,
                "join refused after the menu: the room is {}",
                if refusal.code == 403 { "locked" } else { "full" }
            );
            let prompt = if refusal.code == 403 {
                "room_locked"
            } else {
                "room_full"
            };
            self.goodbye(leg, &[prompt], out);
            return;
        }
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            c.membership = Some(target);
        }
        self.join_room(now, leg, true, out);
    }

    /// Collects a digit of a PIN or meeting id; returns what was typed on `#`.
    fn collect_digit(&mut self, leg: LegId, digit: char, out: &mut Vec<Action>) -> Option<String> {
        let c = self.calls.calls.get_mut(&leg)?;
        if digit == '#' {
            return Some(std::mem::take(&mut c.digits));
        }
        // Typing cuts the prompt short, except the welcome that answers the call.
        let stop = c.digits.is_empty() && c.pending_ok.is_none();
        if c.digits.len() < MAX_DIGITS {
            c.digits.push(digit);
        }
        if stop {
            self.media(out, MediaCommand::StopPlay { leg });
        }
        None
    }

    /// A digit from RFC 4733, SIP INFO or in-band detection.
    fn on_digit(&mut self, now: Now, leg: LegId, digit: char, out: &mut Vec<Action>) {
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        tracing::debug!(leg, %digit, "DTMF");
        match c.stage.clone() {
            Stage::Leaving | Stage::LookingUp { .. } => {}
            Stage::MeetingId { tries } => {
                let Some(id) = self.collect_digit(leg, digit, out) else {
                    return;
                };
                let c = self.calls.calls.get_mut(&leg).expect("present");
                if id.is_empty() {
                    self.play(leg, &["enter_meeting_id"], out);
                    return;
                }
                c.stage = Stage::LookingUp {
                    tries,
                    id: id.clone(),
                };
                out.push(Action::LookupMeeting { leg, id });
            }
            Stage::Pin {
                tries,
                pin,
                moderator_pin,
                target,
            } => {
                let Some(typed) = self.collect_digit(leg, digit, out) else {
                    return;
                };
                let c = self.calls.calls.get_mut(&leg).expect("present");
                let as_moderator = moderator_pin.as_deref().is_some_and(|m| m == typed);
                // A room with only a moderator PIN lets others in with an empty entry.
                let as_member = pin.as_deref().map_or(typed.is_empty(), |p| p == typed);
                if as_moderator || as_member {
                    c.moderator = as_moderator;
                    self.enter_room(now, leg, target, as_moderator, out);
                    return;
                }
                let tries = tries + 1;
                tracing::info!(leg, tries, "wrong PIN");
                if tries >= MAX_TRIES {
                    self.goodbye(leg, &["bad_pin", "goodbye"], out);
                } else {
                    c.stage = Stage::Pin {
                        tries,
                        pin,
                        moderator_pin,
                        target,
                    };
                    self.play(leg, &["bad_pin", "enter_pin"], out);
                }
            }
            Stage::InRoom => self.room_control(leg, digit, out),
        }
    }

    /// In-room keys: `*6` mute, `*1` count, `*5` lock, `*7` mute others,
    /// `*8` start/stop recording, `#` menu.
    fn room_control(&mut self, leg: LegId, digit: char, out: &mut Vec<Action>) {
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        if !c.star {
            match digit {
                '*' => c.star = true,
                '#' => self.play(leg, &["menu"], out),
                _ => {}
            }
            return;
        }
        c.star = false;
        let moderator = c.moderator;
        let Some(room) = self.calls.rooms.room_of(leg).map(str::to_string) else {
            return;
        };
        match digit {
            '6' => {
                let Some(p) = self.calls.rooms.participant_mut(leg) else {
                    return;
                };
                p.muted = !p.muted;
                let muted = p.muted;
                self.media(out, MediaCommand::Mute { leg, muted });
                self.play(leg, &[if muted { "muted" } else { "unmuted" }], out);
            }
            '1' => {
                let n = self
                    .calls
                    .rooms
                    .get(&room)
                    .map_or(1, |r| r.participants.len() + r.browsers.len());
                let prompt = if n <= 20 {
                    format!("count_{n}")
                } else {
                    "count_many".into()
                };
                self.play(leg, &[prompt.as_str()], out);
            }
            '5' | '7' | '8' if !moderator => self.play(leg, &["not_moderator"], out),
            '8' => {
                let on = self
                    .calls
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.recording.is_none());
                let by = format!("dtmf:{leg}");
                tracing::info!(leg, %room, on, "recording toggled by *8");
                if on {
                    self.start_recording(&room, by, None, out);
                } else {
                    self.stop_recording(&room, &format!("stopped by {by}"), out);
                }
            }
            '5' => {
                let locked = self.calls.rooms.toggle_lock(&room).unwrap_or(false);
                tracing::info!(leg, %room, locked, "room lock changed");
                self.play(leg, &[if locked { "locked" } else { "unlocked" }], out);
            }
            '7' => {
                let others: Vec<LegId> = self
                    .calls
                    .rooms
                    .get(&room)
                    .map(|r| {
                        r.participants
                            .iter()
                            .map(|p| p.leg)
                            .filter(|&l| l != leg)
                            .collect()
                    })
                    .unwrap_or_default();
                for other in others {
                    if let Some(p) = self.calls.rooms.participant_mut(other) {
                        p.muted = true;
                    }
                    self.media(
                        out,
                        MediaCommand::Mute {
                            leg: other,
                            muted: true,
                        },
                    );
                }
                self.play(leg, &["all_muted"], out);
            }
            '*' => self.calls.calls.get_mut(&leg).expect("present").star = true,
            _ => {}
        }
    }

    /// The answer to an [`Action::LookupMeeting`].
    pub fn on_meeting(
        &mut self,
        now: Now,
        leg: LegId,
        found: Option<(String, Option<String>, Option<String>)>,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        let Stage::LookingUp { tries, id } = c.stage.clone() else {
            return;
        };
        match found {
            Some((room, pin, moderator_pin)) => {
                let target = Membership {
                    room,
                    muted: false,
                    max_members: None,
                    record: None,
                };
                if pin.is_some() || moderator_pin.is_some() {
                    c.stage = Stage::Pin {
                        tries: 0,
                        pin,
                        moderator_pin,
                        target,
                    };
                    self.play(leg, &["enter_pin"], out);
                } else {
                    self.enter_room(now, leg, target, false, out);
                }
            }
            None => {
                let tries = tries + 1;
                tracing::info!(leg, tries, %id, "unknown meeting id");
                if tries >= MAX_TRIES {
                    self.goodbye(leg, &["bad_meeting_id", "goodbye"], out);
                } else {
                    c.stage = Stage::MeetingId { tries };
                    self.play(leg, &["bad_meeting_id", "enter_meeting_id"], out);
                }
            }
        }
    }

    /// A 2xx ACK (its own transaction): confirms the call, maybe carries the answer.
    pub(super) fn on_ack(&mut self, now: Now, _flow: Flow, req: &Request, out: &mut Vec<Action>) {
        let Some(leg) = self.find_dialog(req) else {
            return;
        };
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        if !matches!(c.phase, Phase::Answered { .. }) {
            return;
        }
        c.phase = Phase::Confirmed;
        c.timers[slot(CallTimer::Resend2xx)] = None;
        c.timers[slot(CallTimer::AckTimeout)] = None;
        if let Some(se) = c.session {
            let at = now.mono + bye_after(se);
            self.calls.arm(leg, CallTimer::SessionExpired, at);
        }
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        if c.offer_in_2xx {
            c.offer_in_2xx = false;
            let neg = sdp::parse(&req.inner.body)
                .ok()
                .and_then(|s| sdp::accept_answer(&s, &c.local).ok());
            match neg {
                Some(neg) => {
                    let spec = leg_spec(&c.local, neg);
                    c.spec = Some(spec.clone());
                    self.media(out, MediaCommand::Update { leg, spec });
                }
                None => {
                    tracing::info!(leg, "ACK without a usable SDP answer: ending the call");
                    self.hang_up(now, leg, out);
                }
            }
        }
    }

    fn on_cancel(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        let invite_key = TxKey::new(&key.branch, &key.sent_by, "INVITE");
        let leg = self.calls.by_invite.get(&invite_key).copied();
        let invite_live = self.txs.state(&invite_key).is_some();
        if leg.is_none() && !invite_live {
            self.send_answer(now, flow, key, req, Answer::new(481), out);
            return;
        }
        // The 200 carries the same To tag as the INVITE's answers (RFC 3261 §9.2).
        let tag = leg
            .and_then(|l| self.calls.calls.get(&l))
            .map(|c| c.local_tag.clone());
        let ok = match &tag {
            Some(t) => Answer::new(200).tag(t),
            None => Answer::new(200),
        };
        self.send_answer(now, flow, key, req, ok, out);
        // Only an INVITE still without a final answer is cancelled; once the
        // 200 is out (the CANCEL/200 race) the caller ends the call with BYE.
        if let Some(leg) = leg
            && matches!(
                self.calls.calls.get(&leg).map(|c| &c.phase),
                Some(Phase::Early)
            )
        {
            self.final_to_invite(now, leg, 487, out);
            self.end_call(now, leg, out);
        }
    }

    /// Answers a call's INVITE from outside the request (487 after CANCEL, 480 on hang-up).
    pub(super) fn final_to_invite(
        &mut self,
        now: Now,
        leg: LegId,
        code: u16,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let bytes = super::message::ResponseBuilder::new(&c.invite_reply, code)
            .to_tag(&c.local_tag)
            .source(c.flow.remote)
            .build();
        let key = c.invite_key.clone();
        if let Some(Output::Transmit { dest, bytes }) =
            self.txs.respond(now.mono, &key, code, bytes)
        {
            out.push(Action::Send(dest, bytes));
        }
    }

    /// re-INVITE or UPDATE inside a dialog: hold, resume, codec change, refresh.
    fn on_reoffer(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        leg: LegId,
        out: &mut Vec<Action>,
    ) {
        let is_invite = req.method() == Method::Invite;
        let prefs: Vec<String> = self.calls.cfg.codecs.clone();
        let c = self.calls.calls.get_mut(&leg).expect("caller checked");
        let tag = c.local_tag.clone();
        if c.reinvite_pending || matches!(c.phase, Phase::Answered { .. }) && is_invite {
            let a = Answer::new(491)
                .tag(&tag)
                .warn("another offer is in progress");
            return self.send_answer(now, flow, key, req, a, out);
        }
        if let Some(se) = c.session {
            // Any refresh restarts the session timer.
            let at = now.mono + bye_after(se);
            self.calls.arm(leg, CallTimer::SessionExpired, at);
        }
        let c = self.calls.calls.get_mut(&leg).expect("caller checked");
        c.local.version += 1;
        let (answer, new_spec) = if req.inner.body.is_empty() {
            if !is_invite {
                // An UPDATE without SDP is a pure session refresh.
                (Answer::new(200), None)
            } else {
                let pref: Vec<&str> = prefs.iter().map(String::as_str).collect();
                c.offer_in_2xx = true;
                (
                    Answer::new(200).sdp(sdp::offer(&pref, &c.local, Direction::SendRecv)),
                    None,
                )
            }
        } else {
            match sdp::parse(&req.inner.body) {
                Err(e) => (Answer::new(400).warn(e.to_string()), None),
                Ok(o) if c.webrtc.is_some() => match super::webrtc::reanswer(c, &o) {
                    Ok((body, spec)) => (Answer::new(200).sdp(body), spec),
                    Err(why) => (Answer::new(488).warn(why), None),
                },
                Ok(o) => {
                    // Keep the current codec when it is still offered.
                    let mut order: Vec<&str> = Vec::new();
                    if let Some(s) = &c.spec {
                        order.push(&s.codec.encoding);
                    }
                    order.extend(prefs.iter().map(String::as_str));
                    match sdp::answer(&o, &order, &c.local) {
                        Ok((neg, body)) => {
                            (Answer::new(200).sdp(body), Some(leg_spec(&c.local, neg)))
                        }
                        Err(e) => (Answer::new(488).warn(e.to_string()), None),
                    }
                }
            }
        };
        if let Some(spec) = new_spec {
            // (a WebRTC leg has no address of its own: the SFU sends)
            let held = spec.direction != Direction::SendRecv
                || (spec.remote.is_none() && spec.sfu.is_none());
            tracing::info!(leg, direction = spec.direction.attr(), held, codec = %spec.codec.encoding, "session changed");
            c.spec = Some(spec.clone());
            self.media(out, MediaCommand::Update { leg, spec });
        }
        let mut answer = answer.tag(&tag).header("Contact", self.our_contact(&flow));
        if let Some(se) = self.calls.calls[&leg].session {
            answer = answer.header("Session-Expires", format!("{};refresher=uac", se.as_secs()));
        }
        if is_invite && answer.code == 200 {
            self.answer_2xx(now, leg, Some(req), answer, out);
        } else {
            self.send_answer(now, flow, key, req, answer, out);
        }
    }

    /// Media events from the workers.
    pub fn on_media_event(&mut self, now: Now, ev: MediaEvent, out: &mut Vec<Action>) {
        match ev {
            MediaEvent::Dtmf { leg, digit } => self.on_digit(now, leg, digit, out),
            MediaEvent::PlayDone { leg, id } => {
                let Some(c) = self.calls.calls.get_mut(&leg) else {
                    return;
                };
                if c.waiting_play != Some(id) {
                    return; // a playback that was stopped or replaced
                }
                c.waiting_play = None;
                if matches!(c.stage, Stage::Leaving) {
                    self.hang_up(now, leg, out);
                } else if let Some(ok) = c.pending_ok.take() {
                    // The welcome (early media) is over: answer, then ask,
                    // unless the caller already typed (or got in) meanwhile.
                    let next = match c.stage {
                        Stage::Pin { .. } if c.digits.is_empty() => Some("enter_pin"),
                        Stage::MeetingId { .. } if c.digits.is_empty() => Some("enter_meeting_id"),
                        _ => None,
                    };
                    self.answer_2xx(now, leg, None, ok, out);
                    if let Some(next) = next {
                        self.play(leg, &[next], out);
                    }
                }
            }
            MediaEvent::RtpTimeout { leg } => {
                tracing::info!(leg, "no RTP: ending the call");
                self.hang_up(now, leg, out);
            }
            MediaEvent::OpenFailed { leg, reason } => {
                tracing::warn!(leg, "media could not start: {reason}");
                self.hang_up(now, leg, out);
            }
        }
    }

    /// Ends a call from our side: BYE (or 480 if it was never answered).
    pub fn hang_up(&mut self, now: Now, leg: LegId, out: &mut Vec<Action>) {
        if self
            .calls
            .dialing
            .get(&leg)
            .is_some_and(super::dialout::Dialing::early)
        {
            // A dial-out not answered yet is CANCELled instead.
            return self.cancel_dialing(now, leg, out);
        }
        let salt = self.next();
        let Some(c) = self.calls.calls.get_mut(&leg) else {
            return;
        };
        if matches!(c.phase, Phase::Early) {
            // Not answered yet: the INVITE gets a final answer instead of a BYE.
            self.final_to_invite(now, leg, 480, out);
        } else {
            c.local_cseq += 1;
            // Branches unique across space and time (RFC 3261 §8.1.1.7).
            let branch = format!("z9hG4bK{salt:x}{leg:x}{:x}", c.local_cseq);
            let bye = build_bye(c, &branch, self.calls.cfg.sent_by(c.flow.local));
            let flow = c.flow;
            let key = TxKey::new(&branch, "", "BYE");
            self.send_request(now, key, "BYE", bye, flow, out);
        }
        self.end_call(now, leg, out);
    }

    /// Forgets a call and releases its media and room place.
    pub(super) fn end_call(&mut self, now: Now, leg: LegId, out: &mut Vec<Action>) {
        let Some(c) = self.calls.calls.remove(&leg) else {
            return;
        };
        self.calls
            .by_dialog
            .remove(&(c.call_id.clone(), c.local_tag.clone()));
        self.calls.by_invite.remove(&c.invite_key);
        self.calls.dialing.remove(&leg);
        self.calls.ports.give(c.local.port);
        self.calls.branches.retain(|_, (_, callee)| *callee != leg);
        if self.calls.forks.contains_key(&leg) {
            self.cancel_branches(now, leg, None, out);
            self.calls.forks.remove(&leg);
        }
        let recording = self
            .calls
            .rooms
            .room_of(leg)
            .and_then(|r| self.calls.rooms.get(r))
            .and_then(|r| r.recording.clone());
        if let Some((room, left)) = self.calls.rooms.leave(leg) {
            tracing::info!(leg, %room, left, "left");
            if left == 0
                && let Some(id) = recording
            {
                out.push(Action::Recorder(RecorderCommand::Stop {
                    id,
                    room: room.clone(),
                    reason: "room empty".into(),
                }));
            }
            if left > 0 {
                self.media(
                    out,
                    MediaCommand::RoomSound {
                        room,
                        sound: Sound::Leave,
                    },
                );
            }
        }
        self.media(out, MediaCommand::Close { leg });
        if let Some(link) = c.spec.as_ref().and_then(|s| s.sfu.as_ref()) {
            self.webrtc_end(leg, link, out);
        }
        if let Some(other) = c.pair {
            // One half of a two-party call hung up: end the other half.
            self.hang_up(now, other, out);
        }
    }
}

/// When the side that does not refresh gives up on a session interval `se`
/// (RFC 4028 §10): slightly before it expires, by the smaller of 32 s and a
/// third of the interval.
fn bye_after(se: Duration) -> Duration {
    se - (se / 3).min(Duration::from_secs(32))
}

fn req_key(req: &Request, c: &Call) -> TxKey {
    if req.method() == Method::Invite && req.core.to_tag.is_none() {
        c.invite_key.clone()
    } else {
        let top = &req.core.top_via;
        TxKey::new(
            top.branch.as_deref().unwrap_or(""),
            &top.sent_by(),
            &req.method().to_string(),
        )
    }
}

pub(super) fn leg_spec(local: &LocalMedia, neg: Negotiated) -> LegSpec {
    LegSpec {
        local: SocketAddr::new(local.ip, local.port),
        remote: neg.remote,
        codec: neg.codec,
        dtmf_pt: neg.dtmf_pt,
        direction: neg.direction,
        srtp: neg.srtp,
        sfu: None,
    }
}

/// A BYE inside the dialog, from our side.
pub(super) fn build_bye(c: &Call, branch: &str, sent_by: SocketAddr) -> Vec<u8> {
    let proto = c.flow.protocol.token();
    let mut s = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/{proto} {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
        if c.remote_target.is_empty() {
            "sip:unknown@invalid"
        } else {
            &c.remote_target
        },
        sent_by
    );
    // Our side of the dialog is the INVITE's To, with our tag; theirs is its From.
    s.push_str(&format!(
        "From: {};tag={}\r\nTo: {}\r\n",
        c.us, c.local_tag, c.peer
    ));
    for r in &c.route_set {
        s.push_str(&format!("Route: {r}\r\n"));
    }
    s.push_str(&format!(
        "Call-ID: {}\r\nCSeq: {} BYE\r\nUser-Agent: {}\r\nContent-Length: 0\r\n\r\n",
        c.call_id,
        c.local_cseq,
        super::message::SERVER
    ));
    s.into_bytes()
}
