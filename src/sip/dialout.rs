//! Dial-out: a room calls a phone number through a trunk (a browser
//! moderator's Rayo `<dial>`, or the admin API). The dialplan's
//! `[[dialout]]` rules say whether the number may be called from the room
//! and through which trunk; the INVITE goes to the trunk's registrar with
//! the account as From, and a 401/407 is answered once with the account's
//! credentials (RFC 3261 §22.2). When the callee answers it joins the room
//! like any caller: media leg, mix, join tone, a phone occupant for the
//! browsers. Until then it is listed with the room as `dialing`, and a
//! hang-up CANCELs it.

use std::time::Duration;

use serde::Serialize;

use super::call::{Call, CallTimer, Membership, Phase};
use super::endpoint::{Action, Endpoint, Now};
use super::message::Response;
use super::outbound::challenges_in;
use super::sdp::{self, Direction};
use super::transaction::{Output, ResponseDisposition, TxKey};
use super::transport::Flow;
use crate::conference::{LegId, masked_phone};
use crate::dialplan::{DialDecision, RoomName};
use crate::media::engine::MediaCommand;

/// Branches of our dial-out INVITEs start with this.
pub const BRANCH_PREFIX: &str = "z9hG4bK-dial-";

/// How long a dial-out rings before we give up (CANCEL).
const RING_TIMEOUT: Duration = Duration::from_secs(60);

/// A dial-out that was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialOutStarted {
    /// The callee's participant id (its media leg), also after it answers.
    pub id: LegId,
    /// The room it joins.
    pub room: String,
    /// The number called (after the dialplan's rewrite).
    pub number: String,
    /// Through this trunk.
    pub trunk: String,
    /// The `[[dialout]]` rule that allowed it.
    pub rule: String,
}

/// Why a dial-out was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialOutError {
    /// The dialplan does not allow it (`code`: 403, or 400 for a bad number).
    #[error("{reason} (dialout rule: {rule})")]
    Refused {
        /// 400–699.
        code: u16,
        /// Why.
        reason: String,
        /// The rule that refused it.
        rule: String,
    },
    /// Not a phone number.
    #[error("{0}")]
    BadNumber(String),
    /// The room name is not one.
    #[error("{0}")]
    BadRoom(String),
    /// The rule names a trunk this server cannot send calls through.
    #[error("{0}")]
    Trunk(String),
    /// No RTP ports left.
    #[error("no free RTP ports")]
    NoPorts,
}

/// A dial-out's own state; its INVITE (transaction key, CSeq, Via,
/// Request-URI) is the call's (`invite_key`, `local_cseq`,
/// `invite_reply`, `remote_target`).
#[derive(Debug, Clone)]
pub(super) struct Dialing {
    /// The trunk's name.
    trunk: String,
    number: String,
    /// The SDP offer (sent again with credentials).
    body: String,
    /// Credentials were sent: a second challenge is a refusal.
    authed: bool,
    /// Provisional answers seen (180/183).
    ringing: bool,
    /// Hung up before the answer: CANCEL sent, waiting for the final.
    cancelled: bool,
    /// Answered (kept to ACK a retransmitted 2xx; gone with the call).
    answered: bool,
}

impl Dialing {
    /// Sent and neither answered nor hung up.
    fn waiting(&self) -> bool {
        !self.cancelled && !self.answered
    }

    /// Still before the answer (a hang-up CANCELs it).
    pub(super) fn early(&self) -> bool {
        !self.answered
    }
}

/// A ringing dial-out as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialingView {
    /// Its participant id.
    pub id: LegId,
    /// The number called.
    pub number: String,
    /// Through this trunk.
    pub trunk: String,
    /// `calling` (sent) or `ringing` (the callee's phone rings).
    pub state: &'static str,
}

impl Endpoint {
    /// Calls `number` into `room` if the dialplan allows it; the callee
    /// joins the room when it answers.
    pub fn dial_out(
        &mut self,
        now: Now,
        room: &str,
        number: &str,
        by: &str,
        out: &mut Vec<Action>,
    ) -> Result<DialOutStarted, DialOutError> {
        let room = RoomName::parse(room)
            .map_err(|e| DialOutError::BadRoom(e.to_string()))?
            .to_string();
        crate::dialplan::validate_number(number).map_err(DialOutError::BadNumber)?;
        let m = self.calls.dialplan.eval_dialout(number, &room);
        let rule = m.rule.to_string();
        let (trunk, number) = match m.decision {
            DialDecision::Dial { trunk, number } => (trunk, number),
            DialDecision::Refuse { code, reason } => {
                tracing::info!(%room, number = %masked_phone(number), %by, %rule, code, "dial-out refused: {reason}");
                return Err(DialOutError::Refused { code, reason, rule });
            }
        };
        let Some(t) = self.outbound.iter().find(|t| t.reg.trunk() == trunk) else {
            let why = if self.calls.cfg.trunks.iter().any(|(n, _)| *n == trunk) {
                format!(
                    "trunk {trunk:?} takes calls by source address only; dial-out needs a trunk with a registrar and an account"
                )
            } else {
                format!("the dialout rule {rule:?} names trunk {trunk:?}, which is not configured")
            };
            return Err(DialOutError::Trunk(why));
        };
        let (flow, domain, user) = (
            t.flow,
            t.reg.domain().to_string(),
            t.reg.username().to_string(),
        );
        let Some(port) = self.calls.ports.take() else {
            return Err(DialOutError::NoPorts);
        };
        let local = self.local_media(&flow, port);
        let codecs = self.calls.cfg.codecs.clone();
        let prefs: Vec<&str> = codecs.iter().map(String::as_str).collect();
        let body = sdp::offer(&prefs, &local, Direction::SendRecv);
        let leg = self.calls.next_leg;
        self.calls.next_leg += 1;
        let tag = format!("{:x}", self.next());
        let call_id = format!("{:x}-dial@dialroom", self.next());
        let branch = format!("{BRANCH_PREFIX}{:x}", self.next());
        let request_uri = format!("sip:{number}@{domain}");
        let from = format!("<sip:{user}@{domain}>");
        let to = format!("<{request_uri}>");
        let via = format!(
            "SIP/2.0/{} {};branch={branch};rport",
            flow.protocol.token(),
            self.calls.cfg.sent_by(flow.local)
        );
        let mut call = Call::outgoing(
            flow,
            call_id.clone(),
            tag.clone(),
            from,
            to,
            request_uri,
            TxKey::new(&branch, "", "INVITE"),
            via,
            local,
            masked_phone(&number),
        );
        call.membership = Some(Membership {
            room: room.clone(),
            muted: false,
            max_members: None,
            record: None,
        });
        self.calls.by_dialog.insert((call_id, tag), leg);
        self.calls.calls.insert(leg, call);
        self.calls
            .arm(leg, CallTimer::RingTimeout, now.mono + RING_TIMEOUT);
        let d = Dialing {
            trunk: trunk.clone(),
            number: number.clone(),
            body,
            authed: false,
            ringing: false,
            cancelled: false,
            answered: false,
        };
        self.send_dial_invite(now, leg, &d, None, out);
        self.calls.dialing.insert(leg, d);
        tracing::info!(leg, %room, number = %masked_phone(&number), %trunk, %rule, %by, "dialling out");
        Ok(DialOutStarted {
            id: leg,
            room,
            number,
            trunk,
            rule,
        })
    }

    /// The dial-outs of `room` still waiting for an answer.
    pub fn dialing_in(&self, room: &str) -> Vec<DialingView> {
        let mut v: Vec<DialingView> = self
            .calls
            .dialing
            .iter()
            .filter(|(_, d)| d.waiting())
            .filter(|(leg, _)| {
                self.calls
                    .calls
                    .get(leg)
                    .and_then(|c| c.membership.as_ref())
                    .is_some_and(|m| m.room == room)
            })
            .map(|(leg, d)| DialingView {
                id: *leg,
                number: d.number.clone(),
                trunk: d.trunk.clone(),
                state: if d.ringing { "ringing" } else { "calling" },
            })
            .collect();
        v.sort_by_key(|d| d.id);
        v
    }

    /// Rooms with a dial-out ringing (they are live even with nobody in them yet).
    pub(super) fn dialing_rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .calls
            .dialing
            .iter()
            .filter(|(_, d)| d.waiting())
            .filter_map(|(leg, _)| self.calls.calls.get(leg)?.membership.as_ref())
            .map(|m| m.room.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// True when `leg` is a dial-out of `room` that has not been answered.
    pub(super) fn is_dialing(&self, room: &str, leg: LegId) -> bool {
        self.calls.dialing.get(&leg).is_some_and(Dialing::waiting)
            && self
                .calls
                .calls
                .get(&leg)
                .and_then(|c| c.membership.as_ref())
                .is_some_and(|m| m.room == room)
    }

    fn send_dial_invite(
        &mut self,
        now: Now,
        leg: LegId,
        d: &Dialing,
        auth: Option<(&str, String)>,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let (flow, key) = (c.flow, c.invite_key.clone());
        let transport = flow.protocol.uri_param();
        let user = super::call::user_of(&c.us);
        let mut s = c.invite_head("INVITE", &c.peer);
        s.push_str(&format!(
            "Contact: <sip:{user}@{}{transport}>\r\nAllow: {}\r\nSupported: timer\r\nUser-Agent: {}\r\n",
            self.calls.cfg.sent_by(flow.local),
            super::endpoint::ALLOW,
            super::message::SERVER,
        ));
        if let Some((h, v)) = auth {
            s.push_str(&format!("{h}: {v}\r\n"));
        }
        s.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
            d.body.len(),
            d.body
        ));
        self.send_request(now, key, "INVITE", s.into_bytes(), flow, out);
    }

    /// The dial-out whose INVITE transaction is `key`.
    pub(super) fn dialing_leg(&self, key: &TxKey) -> Option<LegId> {
        self.calls
            .dialing
            .keys()
            .find(|leg| {
                self.calls
                    .calls
                    .get(leg)
                    .is_some_and(|c| c.invite_key == *key)
            })
            .copied()
    }

    /// A response to a dial-out's INVITE.
    pub(super) fn on_dial_response(
        &mut self,
        now: Now,
        leg: LegId,
        resp: &Response,
        disposition: ResponseDisposition<Flow>,
        out: &mut Vec<Action>,
    ) {
        let code = resp.code();
        match disposition {
            ResponseDisposition::Stray => {}
            ResponseDisposition::Absorbed(o) => self.absorbed(o, leg, resp, out),
            ResponseDisposition::DeliverNeedsAck => {
                self.ack_dial_failure(leg, resp, out);
                self.dial_failed(now, leg, resp, out);
            }
            ResponseDisposition::Deliver if code < 200 => {
                if code > 100
                    && let Some(d) = self.calls.dialing.get_mut(&leg)
                    && !d.ringing
                {
                    d.ringing = true;
                    tracing::info!(leg, code, "dial-out ringing");
                }
            }
            ResponseDisposition::Deliver => self.dial_answered(now, leg, resp, out),
        }
    }

    /// The ACK for a failure (same branch and CSeq number, RFC 3261 §17.1.1.3).
    fn ack_dial_failure(&mut self, leg: LegId, resp: &Response, out: &mut Vec<Action>) {
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let to = resp.header("To").unwrap_or(&c.peer);
        let ack = c.invite_head("ACK", to) + "Content-Length: 0\r\n\r\n";
        if let Some(Output::Transmit { dest, bytes }) =
            self.txs.ack(&c.invite_key, ack.into_bytes())
        {
            out.push(Action::Send(dest, bytes));
        }
    }

    fn dial_failed(&mut self, now: Now, leg: LegId, resp: &Response, out: &mut Vec<Action>) {
        let code = resp.code();
        let Some(d) = self.calls.dialing.get(&leg).cloned() else {
            return;
        };
        // A challenge: answer it once with the trunk's account.
        let cnonce = format!("{:016x}", self.next());
        let branch = format!("{BRANCH_PREFIX}{:x}", self.next());
        if !d.cancelled
            && !d.authed
            && let Some(t) = self.outbound.iter().find(|t| t.reg.trunk() == d.trunk)
            && let Some((proxy, ch)) = t.reg.pick(challenges_in(resp))
            && let Some(c) = self.calls.calls.get_mut(&leg)
            && let Some(v) = t.reg.answer(&ch, "INVITE", &c.remote_target, &cnonce)
        {
            // The same INVITE again as a new transaction: new branch, CSeq + 1.
            let header = if proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            let sent_by = self.calls.cfg.sent_by(c.flow.local);
            c.local_cseq += 1;
            c.invite_key = TxKey::new(&branch, "", "INVITE");
            c.invite_reply.vias = vec![format!(
                "SIP/2.0/{} {sent_by};branch={branch};rport",
                c.flow.protocol.token()
            )];
            c.invite_reply.cseq = format!("{} INVITE", c.local_cseq);
            let mut next = d;
            next.authed = true;
            tracing::info!(leg, code, "dial-out challenged: sending credentials");
            self.send_dial_invite(now, leg, &next, Some((header, v)), out);
            self.calls.dialing.insert(leg, next);
            return;
        }
        let why = match code {
            401 | 407 if d.authed => format!("{code}: the trunk refused the credentials"),
            401 | 407 => format!("{code}: a challenge the trunk's account cannot answer"),
            487 if d.cancelled => "cancelled".to_string(),
            _ => format!("{code} {}", crate::dialplan::default_reason(code)),
        };
        if d.cancelled {
            tracing::info!(leg, "dial-out ended before the answer: {why}");
        } else {
            tracing::warn!(leg, trunk = %d.trunk, number = %masked_phone(&d.number), "dial-out failed: {why}");
        }
        self.calls.dialing.remove(&leg);
        self.end_unanswered(now, leg, out);
    }

    /// Forgets a dial-out that never got media (its port goes back).
    fn end_unanswered(&mut self, now: Now, leg: LegId, out: &mut Vec<Action>) {
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            // Not in a room and no media yet: end_call only releases.
            c.membership = None;
            c.phase = Phase::Confirmed;
        }
        self.end_call(now, leg, out);
    }

    fn dial_answered(&mut self, now: Now, leg: LegId, resp: &Response, out: &mut Vec<Action>) {
        self.ack_2xx(leg, resp, out);
        let Some(d) = self.calls.dialing.get_mut(&leg) else {
            return;
        };
        if d.answered {
            return;
        }
        d.answered = true;
        let d = d.clone();
        let answer = self.callee_answer(leg, resp);
        let Some((spec, _)) = answer.filter(|_| !d.cancelled) else {
            let why = if d.cancelled {
                "answered after the hang-up"
            } else {
                "no usable SDP answer"
            };
            tracing::info!(leg, "dial-out {why}: hanging up");
            self.confirm_callee(leg, resp, None);
            if let Some(c) = self.calls.calls.get_mut(&leg) {
                c.membership = None;
            }
            self.hang_up(now, leg, out);
            return;
        };
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let room = c.membership.as_ref().map(|m| m.room.clone());
        self.confirm_callee(leg, resp, Some(spec.clone()));
        if let Some(c) = self.calls.calls.get_mut(&leg) {
            c.timers[CallTimer::RingTimeout as usize] = None;
        }
        tracing::info!(leg, trunk = %d.trunk, "dial-out answered: joining the room");
        self.media(out, MediaCommand::Open { leg, spec, room });
        self.join_room(now, leg, false, out);
    }

    /// Hangs up a dial-out before its answer: CANCEL (RFC 3261 §9.1); the
    /// final answer to the INVITE (487) ends it.
    pub(super) fn cancel_dialing(&mut self, now: Now, leg: LegId, out: &mut Vec<Action>) {
        let Some(d) = self.calls.dialing.get_mut(&leg) else {
            return;
        };
        if d.cancelled {
            return;
        }
        d.cancelled = true;
        let Some(c) = self.calls.calls.get(&leg) else {
            return;
        };
        let cancel = c.invite_head("CANCEL", &c.peer) + "Content-Length: 0\r\n\r\n";
        let flow = c.flow;
        let key = TxKey::new(&c.invite_key.branch, "", "CANCEL");
        self.send_request(now, key, "CANCEL", cancel.into_bytes(), flow, out);
        tracing::info!(leg, "dial-out cancelled");
    }

    /// The INVITE of a dial-out got no answer at all (timer B).
    pub(super) fn on_dial_timeout(&mut self, now: Now, key: &TxKey, out: &mut Vec<Action>) {
        let Some(leg) = self.dialing_leg(key) else {
            return;
        };
        if let Some(d) = self.calls.dialing.remove(&leg) {
            tracing::warn!(leg, trunk = %d.trunk, "dial-out failed: no answer from the trunk");
        }
        self.end_unanswered(now, leg, out);
    }
}
