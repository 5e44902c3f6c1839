//! WebRTC media for SIP calls from browser softphones (JsSIP, SIP.js over
//! SIP over WebSocket): their offers are DTLS-SRTP with ICE, which the SFU's
//! socket and str0m already speak. Call control answers with the SFU's
//! address, certificate and fresh ICE credentials (ICE-lite, DTLS passive),
//! puts an SFU endpoint for the leg alone in an SFU room of its own, and
//! gives the media worker a socketless leg: the browser's Opus reaches it
//! from the SFU by leg id (as browsers' audio does for the bridge), and the
//! leg's mix goes back to the SFU, which writes it on the one stream the
//! answer announced. To the room it is a phone leg like any other.

use std::net::SocketAddr;

use super::call::Call;
use super::endpoint::{Action, Endpoint};
use super::sdp::{self, Session, WebrtcLocal, WebrtcRemote};
use crate::bridge::sip_ep;
use crate::conference::LegId;
use crate::media::engine::{LegSpec, SfuLink};
use crate::sfu::{Command, SourceSpec};

/// What call control needs of the SFU to answer WebRTC offers.
#[derive(Debug, Clone)]
pub struct WebrtcConfig {
    /// The SFU's advertised host candidate.
    pub candidate: SocketAddr,
    /// `sha-256 AB:CD:..` of its certificate.
    pub fingerprint: String,
}

/// The SFU endpoint a WebRTC answer promised.
#[derive(Debug, Clone)]
pub(super) struct WebrtcSetup {
    local: WebrtcLocal,
    remote: WebrtcRemote,
    link: SfuLink,
}

/// The answer to a softphone's re-offer (hold, resume) on call `c`: the
/// same ICE and DTLS, the offer's direction; an ICE restart or an offer
/// that is not WebRTC is refused (the reason, for a 488).
pub(super) fn reanswer(c: &Call, offer: &Session) -> Result<(String, Option<LegSpec>), String> {
    let Some((w, ufrag)) = &c.webrtc else {
        return Err("not a WebRTC call".into());
    };
    if !sdp::is_webrtc(offer) {
        return Err("a WebRTC call takes only WebRTC offers".into());
    }
    let local = WebrtcLocal {
        version: c.local.version,
        ..w.clone()
    };
    let (r, body) = sdp::webrtc_answer(offer, &local).map_err(|e| e.to_string())?;
    if r.ufrag != *ufrag {
        return Err("an ICE restart is not supported".into());
    }
    let spec = c.spec.clone().map(|mut s| {
        s.direction = r.direction;
        s
    });
    Ok((body, spec))
}

/// Leg `leg`'s spec and SFU setup once both sides of a WebRTC
/// offer/answer are known (ours `local`, the browser's `remote`).
pub(super) fn answered(
    leg: LegId,
    local: WebrtcLocal,
    remote: WebrtcRemote,
) -> (LegSpec, WebrtcSetup) {
    let mut codec = sdp::offer_format("opus").expect("opus is a known codec");
    codec.pt = remote.opus_pt;
    let link = SfuLink {
        room: format!("sip-leg-{leg}"),
        ssrc: local.ssrc,
    };
    let spec = LegSpec {
        local: local.candidate,
        remote: None,
        codec,
        dtmf_pt: None,
        direction: remote.direction,
        srtp: None,
        sfu: Some(link.clone()),
    };
    (
        spec,
        WebrtcSetup {
            local,
            remote,
            link,
        },
    )
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Endpoint {
    /// Lets calls with WebRTC offers be answered through the SFU.
    pub fn set_webrtc(&mut self, cfg: Option<WebrtcConfig>) {
        self.calls.cfg.webrtc = cfg;
    }

    /// The web server's address: softphones registered over WebSocket
    /// (`/sip-ws`) are rung over their connection there.
    pub fn set_ws_local(&mut self, addr: SocketAddr) {
        self.calls.cfg.ws_local = Some(addr);
    }

    /// Our side of a new WebRTC leg (fresh ICE credentials and SSRC), if
    /// the SFU runs.
    pub(super) fn webrtc_local(&mut self) -> Option<WebrtcLocal> {
        let w = self.calls.cfg.webrtc.clone()?;
        Some(WebrtcLocal {
            candidate: w.candidate,
            fingerprint: w.fingerprint,
            ufrag: random_token(8),
            pwd: random_token(24),
            ssrc: rand::random::<u32>().max(1),
            session_id: self.next() >> 12,
            version: 1,
        })
    }

    /// The answer to a WebRTC offer for leg `leg`: its spec, the SDP, and
    /// what to tell the SFU once the leg is open; or why not (488).
    pub(super) fn webrtc_answer(
        &mut self,
        offer: &Session,
        leg: LegId,
    ) -> Result<(LegSpec, String, WebrtcSetup), String> {
        let Some(local) = self.webrtc_local() else {
            return Err(
                "WebRTC media (a browser softphone) needs the SFU: [xmpp] and [sfu] enabled".into(),
            );
        };
        let (remote, body) = sdp::webrtc_answer(offer, &local).map_err(|e| e.to_string())?;
        if remote.opus_pt != crate::xmpp::jingle::PT_OPUS {
            return Err(format!(
                "Opus must be payload type {} (the SFU's), not {}",
                crate::xmpp::jingle::PT_OPUS,
                remote.opus_pt
            ));
        }
        let (spec, setup) = answered(leg, local, remote);
        Ok((spec, body, setup))
    }

    /// The leg is open: its SFU endpoint, alone in its SFU room, expects
    /// the browser's audio and sends the leg's.
    pub(super) fn webrtc_start(&mut self, leg: LegId, s: WebrtcSetup, out: &mut Vec<Action>) {
        let ep = sip_ep(leg);
        let mut display = String::new();
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            display = c.display.clone();
            c.webrtc = Some((s.local.clone(), s.remote.ufrag.clone()));
        }
        tracing::info!(
            leg,
            ep,
            "WebRTC media through the SFU (ICE-lite, DTLS-SRTP)"
        );
        out.push(Action::Sfu(Command::Add {
            ep,
            room: s.link.room.clone(),
            name: display,
            local: str0m::IceCreds {
                ufrag: s.local.ufrag,
                pass: s.local.pwd,
            },
        }));
        out.push(Action::Sfu(Command::Accept {
            ep,
            remote: str0m::IceCreds {
                ufrag: s.remote.ufrag,
                pass: s.remote.pwd,
            },
            fingerprint: s.remote.fingerprint,
            sources: vec![SourceSpec {
                ssrc: s.remote.ssrc,
                rtx: None,
                video: false,
            }],
            candidates: Vec::new(),
        }));
        out.push(Action::Sfu(Command::Phone {
            room: s.link.room,
            ssrc: s.link.ssrc,
            present: true,
        }));
    }

    /// The call ended: its SFU endpoint goes.
    pub(super) fn webrtc_end(&mut self, leg: LegId, link: &SfuLink, out: &mut Vec<Action>) {
        out.push(Action::Sfu(Command::Remove { ep: sip_ep(leg) }));
        out.push(Action::Sfu(Command::Phone {
            room: link.room.clone(),
            ssrc: link.ssrc,
            present: false,
        }));
    }
}
