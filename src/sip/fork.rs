//! The dialplan's `user` action: ring every registered contact of a user at
//! once (parallel forking), connect the caller to the first that answers,
//! cancel the others, and give up after the route's timeout (RFC 3261
//! §16.7-like behaviour, as a back-to-back user agent). The two halves are
//! media legs in a private two-party room, so the mixer does the bridging
//! and transcoding.

use std::time::Duration;

use super::call::{Call, CallTimer, Membership, Phase, contact_uri, leg_spec, user_of};
use super::endpoint::{Action, Answer, Endpoint, Now};
use super::message::{Request, Response};
use super::registrar::Aor;
use super::sdp::{self, Direction, Session};
use super::transaction::{Output, ResponseDisposition, TxKey};
use super::transport::Flow;
use crate::conference::{LegId, masked_phone};
use crate::media::engine::{LegSpec, MediaCommand};

/// One INVITE we sent to a contact.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    leg: LegId,
    key: TxKey,
    request_uri: String,
    via: String,
    from: String,
    to: String,
    call_id: String,
    tag: String,
    flow: Flow,
    answered: bool,
    done: bool,
}

/// A caller waiting for one of a user's contacts to answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fork {
    branches: Vec<Branch>,
    ringing_sent: bool,
    /// The best final answer seen so far, relayed when every branch failed.
    best: Option<u16>,
}

/// How good a final failure is to relay (RFC 3261 §16.7 step 6, simplified).
fn rank(code: u16) -> u16 {
    match code {
        486 | 600 => 0,
        603 => 1,
        480 | 408 => 3,
        _ => 2,
    }
}

/// The ACK for a non-2xx final of one of our INVITEs (same branch, RFC 3261 §17.1.1.3).
fn branch_ack(b: &Branch, resp: &Response) -> Vec<u8> {
    let to = resp.header("To").unwrap_or(&b.to);
    format!(
        "ACK {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        b.request_uri, b.via, b.from, b.tag, b.call_id
    )
    .into_bytes()
}

impl Endpoint {
    /// Starts ringing `user`'s contacts for the caller's INVITE.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ring_user(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        user: &str,
        timeout: Duration,
        offer: Option<&Session>,
        out: &mut Vec<Action>,
    ) {
        let Some(offer) = offer else {
            let a = Answer::new(488).warn("calls to users need an SDP offer");
            return self.send_answer(now, flow, key, req, a, out);
        };
        // Each contact is rung where its REGISTER came from, on the same
        // transport (over its connection for TCP and TLS: the phone may be
        // behind NAT and reachable only through it).
        let contacts: Vec<(String, Flow)> = Aor::parse(user)
            .map(|aor| self.bindings(&aor, now.unix))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| Some((b.contact.clone(), self.calls.cfg.flow_to(&b)?)))
            .collect();
        if contacts.is_empty() {
            let a = Answer::new(480).warn(format!("{user} is not registered"));
            return self.send_answer(now, flow, key, req, a, out);
        }
        // The caller's half: our answer to its offer, sent when someone answers.
        let codecs = self.calls.cfg.codecs.clone();
        let prefs: Vec<&str> = codecs.iter().map(String::as_str).collect();
        let Some(port) = self.calls.ports.take() else {
            let a = Answer::new(503)
                .header("Retry-After", "5")
                .warn("no free RTP ports");
            return self.send_answer(now, flow, key, req, a, out);
        };
        let local = self.local_media(&flow, port);
        let (neg, body) = match sdp::answer(offer, &prefs, &local) {
            Ok(x) => x,
            Err(e) => {
                self.calls.ports.give(port);
                return self.send_answer(
                    now,
                    flow,
                    key,
                    req,
                    Answer::new(488).warn(e.to_string()),
                    out,
                );
            }
        };
        let caller = self.calls.next_leg;
        self.calls.next_leg += 1;
        let local_tag = format!("{:x}", self.next());
        let from_user = user_of(req.header("From").unwrap_or(""));
        // The number the caller dialled stays in To (as a forwarding PBX or
        // a provider keeps it): the callee's Request-URI is its contact.
        let dialled = req.inner.uri.user().unwrap_or(user).to_string();
        let mut ok = Answer::new(200)
            .tag(&local_tag)
            .header("Contact", self.our_contact(&flow))
            .header("Allow", super::endpoint::ALLOW)
            .sdp(body);
        ok.to_tag = Some(local_tag.clone());
        let spec = leg_spec(&local, neg);
        let mut call =
            Call::from_invite(flow, key, req, &local_tag, local, masked_phone(&from_user));
        call.spec = Some(spec);
        call.pending_ok = Some(ok);
        self.calls
            .by_dialog
            .insert((call.call_id.clone(), local_tag), caller);
        self.calls.by_invite.insert(key.clone(), caller);
        self.calls.calls.insert(caller, call);
        self.calls
            .arm(caller, CallTimer::RingTimeout, now.mono + timeout);
        // One INVITE per contact, each with its own media leg and our full offer.
        let mut fork = Fork::default();
        for (contact, bflow) in contacts {
            let ours = self.calls.cfg.sent_by(bflow.local);
            // A softphone registered over WebSocket is offered WebRTC media
            // through the SFU.
            let webrtc = match bflow.protocol {
                super::transport::Protocol::Ws => match self.webrtc_local() {
                    Some(w) => Some(w),
                    None => {
                        tracing::info!(%contact, "not ringing a WebSocket contact: WebRTC media needs the SFU");
                        continue;
                    }
                },
                _ => None,
            };
            let Some(port) = self.calls.ports.take() else {
                break;
            };
            let callee = self.calls.next_leg;
            self.calls.next_leg += 1;
            let local = self.local_media(&bflow, port);
            let branch_id = format!("z9hG4bK{:x}", self.next());
            let tag = format!("{:x}", self.next());
            let call_id = format!("{:x}@dialroom", self.next());
            let domain = self.domain().to_string();
            let branch = Branch {
                leg: callee,
                key: TxKey::new(&branch_id, "", "INVITE"),
                request_uri: contact.clone(),
                via: format!(
                    "SIP/2.0/{} {ours};branch={branch_id};rport",
                    bflow.protocol.token()
                ),
                from: format!(
                    "<sip:{}@{domain}>",
                    if from_user.is_empty() {
                        "anonymous"
                    } else {
                        &from_user
                    }
                ),
                to: format!("<sip:{dialled}@{domain}>"),
                call_id: call_id.clone(),
                tag: tag.clone(),
                flow: bflow,
                answered: false,
                done: false,
            };
            let body = match &webrtc {
                Some(w) => sdp::webrtc_offer(w, crate::xmpp::jingle::PT_OPUS),
                None => sdp::offer(&prefs, &local, Direction::SendRecv),
            };
            let invite = format!(
                "INVITE {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: {}\r\nCall-ID: {call_id}\r\n\
                 CSeq: 1 INVITE\r\nContact: <sip:dialroom@{ours}{}>\r\nAllow: {}\r\nUser-Agent: {}\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                branch.request_uri,
                branch.via,
                branch.from,
                branch.to,
                bflow.protocol.uri_param(),
                super::endpoint::ALLOW,
                super::message::SERVER,
                body.len()
            );
            let mut callee_call = Call::outgoing(
                bflow,
                call_id,
                tag.clone(),
                branch.from.clone(),
                branch.to.clone(),
                contact,
                branch.key.clone(),
                branch.via.clone(),
                local,
                user.to_string(),
            );
            callee_call.webrtc = webrtc.map(|w| (w, String::new()));
            self.calls
                .by_dialog
                .insert((branch.call_id.clone(), tag), callee);
            self.calls.calls.insert(callee, callee_call);
            self.calls
                .branches
                .insert(branch.key.clone(), (caller, callee));
            self.calls.sent.insert(branch.key.clone(), branch.clone());
            self.send_request(
                now,
                branch.key.clone(),
                "INVITE",
                invite.into_bytes(),
                bflow,
                out,
            );
            tracing::info!(caller, callee, %user, to = %bflow.remote, transport = %bflow.protocol, "ringing");
            fork.branches.push(branch);
        }
        self.calls.forks.insert(caller, fork);
        // Let the caller know we are on it.
        let ringing = Answer::new(100);
        self.send_answer(now, flow, key, req, ringing, out);
    }

    /// A response to one of our client transactions (INVITE branches, CANCELs, BYEs).
    pub(super) fn on_response(&mut self, now: Now, resp: Response, out: &mut Vec<Action>) {
        let c = &resp.core;
        let key = TxKey::new(
            c.top_via.branch.as_deref().unwrap_or(""),
            "",
            &c.cseq_method,
        );
        let disposition = self.txs.on_response(now.mono, &key, resp.code());
        if disposition == ResponseDisposition::DeliverNeedsAck {
            // Every failure to one of our INVITEs is ACKed, whatever became of its caller.
            if let Some(b) = self.calls.sent.remove(&key) {
                let ack = branch_ack(&b, &resp);
                if let Some(Output::Transmit { dest, bytes }) = self.txs.ack(&key, ack) {
                    out.push(Action::Send(dest, bytes));
                }
            }
        }
        if let Some(leg) = self.dialing_leg(&key) {
            return self.on_dial_response(now, leg, &resp, disposition, out);
        }
        let Some(&(caller, callee)) = self.calls.branches.get(&key) else {
            if let ResponseDisposition::Absorbed(Some(Output::Transmit { dest, bytes })) =
                disposition
            {
                out.push(Action::Send(dest, bytes));
            }
            return;
        };
        let code = resp.code();
        match disposition {
            ResponseDisposition::Stray => {}
            ResponseDisposition::Absorbed(o) => self.absorbed(o, callee, &resp, out),
            ResponseDisposition::DeliverNeedsAck => {
                self.branch_failed(now, caller, callee, code, out)
            }
            ResponseDisposition::Deliver => {
                if (100..200).contains(&code) {
                    if code > 100 {
                        self.relay_ringing(now, caller, out);
                    }
                } else if (200..300).contains(&code) {
                    self.branch_answered(now, caller, callee, &resp, out);
                }
            }
        }
    }

    fn relay_ringing(&mut self, now: Now, caller: LegId, out: &mut Vec<Action>) {
        let Some(f) = self.calls.forks.get_mut(&caller) else {
            return;
        };
        if f.ringing_sent {
            return;
        }
        f.ringing_sent = true;
        let Some(c) = self.calls.calls.get(&caller) else {
            return;
        };
        let (flow, key, ctx, tag) = (
            c.flow,
            c.invite_key.clone(),
            c.invite_reply.clone(),
            c.local_tag.clone(),
        );
        self.send_answer_ctx(now, flow, &key, &ctx, Answer::new(180).tag(&tag), out);
    }

    /// A response our INVITE's transaction took (a retransmission): its
    /// ACK again for a failure, and for a 2xx our ACK (it got lost).
    pub(super) fn absorbed(
        &mut self,
        o: Option<Output<Flow>>,
        leg: LegId,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        if let Some(Output::Transmit { dest, bytes }) = o {
            out.push(Action::Send(dest, bytes));
        }
        if (200..300).contains(&resp.code()) {
            self.ack_2xx(leg, resp, out);
        }
    }

    /// The ACK for a 2xx (its own transaction, to the remote target).
    pub(super) fn ack_2xx(&mut self, callee: LegId, resp: &Response, out: &mut Vec<Action>) {
        let Some(c) = self.calls.calls.get(&callee) else {
            return;
        };
        let target = resp
            .header("Contact")
            .map(contact_uri)
            .unwrap_or_else(|| c.remote_target.clone());
        let to = resp.header("To").unwrap_or(&c.peer).to_string();
        // The ACK's CSeq number is the INVITE's (RFC 3261 §13.2.2.4).
        let cseq = c.invite_reply.cseq.split_whitespace().next().unwrap_or("1");
        let mut ack = format!(
            "ACK {target} SIP/2.0\r\nVia: SIP/2.0/{} {};branch=z9hG4bK{:x}a{cseq};rport\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\n\
             To: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\n",
            c.flow.protocol.token(),
            self.calls.cfg.sent_by(c.flow.local),
            callee,
            c.us,
            c.local_tag,
            c.call_id
        );
        // The route set of the 2xx (Record-Route, reversed).
        let mut rr: Vec<String> = resp
            .header("Record-Route")
            .map(super::message::split_list)
            .unwrap_or_default();
        rr.reverse();
        for r in rr {
            ack.push_str(&format!("Route: {r}\r\n"));
        }
        ack.push_str("Content-Length: 0\r\n\r\n");
        out.push(Action::Send(c.flow, ack.into_bytes().into()));
    }

    fn branch_answered(
        &mut self,
        now: Now,
        caller: LegId,
        callee: LegId,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        self.ack_2xx(callee, resp, out);
        let answered_already = self
            .calls
            .forks
            .get(&caller)
            .is_none_or(|f| f.branches.iter().any(|b| b.answered));
        let neg = self.callee_answer(callee, resp);
        if answered_already || neg.is_none() || !self.calls.calls.contains_key(&caller) {
            // Too late (someone else answered, or the caller gave up) or unusable: hang this one up.
            let reason = if neg.is_none() {
                "no usable SDP answer"
            } else {
                "another contact answered first"
            };
            tracing::info!(callee, "{reason}: hanging up this branch");
            self.confirm_callee(callee, resp, None);
            self.hang_up(now, callee, out);
            return;
        }
        let neg = neg.expect("checked above");
        tracing::info!(caller, callee, "answered");
        if let Some(f) = self.calls.forks.get_mut(&caller)
            && let Some(b) = f.branches.iter_mut().find(|b| b.leg == callee)
        {
            b.answered = true;
            b.done = true;
        }
        self.cancel_branches(now, caller, Some(callee), out);
        self.calls.forks.remove(&caller);
        self.calls.branches.retain(|_, (c, _)| *c != caller);
        let room = format!("call-{caller}");
        let (callee_spec, webrtc) = neg;
        self.confirm_callee(callee, resp, Some(callee_spec.clone()));
        // Both halves into one private room: the mixer bridges and transcodes.
        for (leg, other) in [(caller, callee), (callee, caller)] {
            if let Some(c) = self.calls.calls.get_mut(&leg) {
                c.pair = Some(other);
                c.membership = Some(Membership {
                    room: room.clone(),
                    muted: false,
                    max_members: Some(2),
                    record: None,
                });
            }
        }
        let caller_spec = self.calls.calls.get(&caller).and_then(|c| c.spec.clone());
        for (leg, spec) in [(caller, caller_spec), (callee, Some(callee_spec))] {
            if let Some(spec) = spec {
                self.media(
                    out,
                    MediaCommand::Open {
                        leg,
                        spec,
                        room: Some(room.clone()),
                    },
                );
            }
        }
        if let Some(setup) = webrtc {
            self.webrtc_start(callee, setup, out);
        }
        let ok = self
            .calls
            .calls
            .get_mut(&caller)
            .and_then(|c| c.pending_ok.take());
        if let Some(ok) = ok {
            self.calls.calls.get_mut(&caller).expect("present").timers
                [CallTimer::RingTimeout as usize] = None;
            self.answer_2xx(now, caller, None, ok, out);
        }
    }

    /// The callee's media from its 2xx: the leg's spec, and for a WebRTC
    /// callee what the SFU must be told; `None` when the answer is unusable.
    pub(super) fn callee_answer(
        &self,
        callee: LegId,
        resp: &Response,
    ) -> Option<(LegSpec, Option<super::webrtc::WebrtcSetup>)> {
        let c = self.calls.calls.get(&callee)?;
        let s = sdp::parse(&resp.inner.body).ok()?;
        match &c.webrtc {
            Some((w, _)) => {
                let (_, remote) = sdp::webrtc_remote(&s).ok()?;
                let (spec, setup) = super::webrtc::answered(callee, w.clone(), remote);
                Some((spec, Some(setup)))
            }
            None => {
                let neg = sdp::accept_answer(&s, &c.local).ok()?;
                Some((leg_spec(&c.local, neg), None))
            }
        }
    }

    /// Records the callee's dialog state from its 2xx.
    pub(super) fn confirm_callee(&mut self, callee: LegId, resp: &Response, spec: Option<LegSpec>) {
        let Some(c) = self.calls.calls.get_mut(&callee) else {
            return;
        };
        if let Some(to) = resp.header("To") {
            c.peer = to.to_string();
        }
        if let Some(contact) = resp.header("Contact") {
            c.remote_target = contact_uri(contact);
        }
        // Our route set is the Record-Route of the 2xx, reversed.
        let mut rr: Vec<String> = resp
            .header("Record-Route")
            .map(super::message::split_list)
            .unwrap_or_default();
        rr.reverse();
        c.route_set = rr;
        c.phase = Phase::Confirmed;
        if spec.is_some() {
            c.spec = spec;
        }
    }

    fn branch_failed(
        &mut self,
        now: Now,
        caller: LegId,
        callee: LegId,
        code: u16,
        out: &mut Vec<Action>,
    ) {
        tracing::info!(caller, callee, code, "branch failed");
        if let Some(c) = self.calls.calls.get_mut(&callee) {
            c.phase = Phase::Confirmed; // nothing to cancel any more
        }
        self.calls.branches.retain(|_, (_, l)| *l != callee);
        let mut all_failed = false;
        if let Some(f) = self.calls.forks.get_mut(&caller) {
            if let Some(b) = f.branches.iter_mut().find(|b| b.leg == callee) {
                b.done = true;
            }
            if f.best.is_none_or(|best| rank(code) < rank(best)) {
                f.best = Some(code);
            }
            all_failed = f.branches.iter().all(|b| b.done);
        }
        self.forget_leg(callee);
        if all_failed {
            let best = self
                .calls
                .forks
                .get(&caller)
                .and_then(|f| f.best)
                .unwrap_or(480);
            // Relay busy and declined as they are; anything else becomes 480.
            let code = if matches!(best, 486 | 600 | 603) {
                best
            } else {
                480
            };
            self.give_up_fork(now, caller, code, out);
        }
    }

    /// Ends the caller's attempt with `code` and cancels what still rings.
    pub(super) fn give_up_fork(
        &mut self,
        now: Now,
        caller: LegId,
        code: u16,
        out: &mut Vec<Action>,
    ) {
        self.cancel_branches(now, caller, None, out);
        self.calls.forks.remove(&caller);
        if matches!(
            self.calls.calls.get(&caller).map(|c| &c.phase),
            Some(Phase::Early)
        ) {
            self.final_to_invite(now, caller, code, out);
        }
        self.end_call(now, caller, out);
    }

    /// CANCELs every branch still ringing except `keep`.
    pub(super) fn cancel_branches(
        &mut self,
        now: Now,
        caller: LegId,
        keep: Option<LegId>,
        out: &mut Vec<Action>,
    ) {
        let Some(f) = self.calls.forks.get_mut(&caller) else {
            return;
        };
        let pending: Vec<Branch> = f
            .branches
            .iter_mut()
            .filter(|b| !b.done && Some(b.leg) != keep)
            .map(|b| {
                b.done = true;
                b.clone()
            })
            .collect();
        for b in pending {
            let tag = self
                .calls
                .calls
                .get(&b.leg)
                .map(|c| c.local_tag.clone())
                .unwrap_or_default();
            let cancel = format!(
                "CANCEL {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
                b.request_uri, b.via, b.from, b.to, b.call_id
            );
            let key = TxKey::new(&b.key.branch, "", "CANCEL");
            self.send_request(now, key, "CANCEL", cancel.into_bytes(), b.flow, out);
            // The branch's INVITE stays in `branches` so its 487 gets ACKed.
            self.forget_leg(b.leg);
        }
    }

    /// Drops a callee leg that never got media (its port goes back).
    fn forget_leg(&mut self, leg: LegId) {
        if let Some(c) = self.calls.calls.remove(&leg) {
            self.calls
                .by_dialog
                .remove(&(c.call_id.clone(), c.local_tag.clone()));
            self.calls.ports.give(c.local.port);
        }
    }
}
