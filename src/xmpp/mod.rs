//! The embedded XMPP service: client streams over TCP (RFC 6120) and
//! WebSocket (RFC 7395), SASL ANONYMOUS and PLAIN, resource binding, ping,
//! disco, MUC at `conference.<domain>` and the Jitsi focus at `focus.<domain>`.
//!
//! Sans-IO cores ([`session::Session`] per connection, [`hub::Hub`] shared)
//! are driven by thin tokio shells: one task per connection reads, frames and
//! writes; one hub task owns every room and routes every stanza. See
//! docs/architecture.md ("XMPP") for why and for what is not done yet.

pub mod conductor;
pub mod connection;
pub mod disco;
pub mod focus;
pub mod framing;
pub mod hub;
pub mod jingle;
pub mod muc;
pub mod ns;
pub mod session;
pub mod stanza;
pub mod tcp;
pub mod websocket;
pub mod xml;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::store::Store;
use connection::{HubInput, ToSession};
use focus::Conductor;
use hub::{Delivery, Hub, SessionId};
pub use session::{SessionConfig, StartTls};

/// Per-session queue of stanzas waiting to be written; a session that lets
/// this fill up is too slow and is disconnected.
const SESSION_QUEUE: usize = 512;

/// What connections need: the hub's inbox, the session settings and the user table.
#[derive(Debug, Clone)]
pub struct Handle {
    hub: mpsc::Sender<HubInput>,
    cfg: SessionConfig,
    store: Store,
    next_id: Arc<AtomicU64>,
}

impl Handle {
    /// Session settings (domain, mechanisms, stanza limit).
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Tells the hub about a phone caller. Never blocks the caller: when
    /// the hub's queue is full the event waits in a task of its own.
    pub fn phone(&self, ev: crate::bridge::PhoneEvent) {
        if let Err(mpsc::error::TrySendError::Full(input)) = self.hub.try_send(HubInput::Phone(ev))
        {
            let hub = self.hub.clone();
            tokio::spawn(async move {
                let _ = hub.send(input).await;
            });
        }
    }

    fn next_session(&self) -> SessionId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Checks a SASL PLAIN password against the user table: the user's HA1 is
    /// recomputed for the stored realm and compared (passwords are never stored).
    async fn check_password(&self, user: &str, password: &str) -> bool {
        use crate::sip::auth::{Algorithm, ha1};
        let users = match self.store.user_credentials().await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("xmpp: reading users for a login failed: {e}");
                return false;
            }
        };
        let Some((_, creds)) = users.iter().find(|(name, _)| name == user) else {
            return false;
        };
        let mine = ha1(Algorithm::Sha256, user, &creds.realm, password);
        constant_time_eq(mine.as_bytes(), creds.ha1_sha256.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Starts the hub task; connections are accepted by [`tcp::serve`] and the
/// web server's `/xmpp-websocket` route. With an SFU the focus runs Jingle
/// sessions ([`conductor::JingleConductor`]); without one it only logs.
pub fn start(
    cfg: SessionConfig,
    store: Store,
    sfu: Option<crate::sfu::Sfu>,
    calls: Option<mpsc::Sender<crate::sip::admin::AdminRequest>>,
) -> Result<Handle, jid::Error> {
    let hub = Hub::new(&cfg.domain)?;
    let conductor: Box<dyn Conductor> = match sfu {
        Some(sfu) => {
            let f = focus::Focus::new(&cfg.domain)?;
            Box::new(conductor::JingleConductor::new(
                sfu,
                f.occupant_real.as_str(),
            ))
        }
        None => Box::new(focus::LogConductor),
    };
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(hub_loop(hub, rx, tx.clone(), conductor, calls));
    Ok(Handle {
        hub: tx,
        cfg,
        store,
        next_id: Arc::new(AtomicU64::new(1)),
    })
}

/// Hands a request from the browsers' side to call control (as the admin
/// API's room actions do). A jibri IQ is answered once call control has:
/// the answer comes back into the hub as [`HubInput::Send`].
fn to_calls(
    calls: Option<&mpsc::Sender<crate::sip::admin::AdminRequest>>,
    hub: &mpsc::Sender<HubInput>,
    r: crate::bridge::RoomRequest,
) {
    use crate::bridge::RoomRequest;
    use crate::sip::admin::AdminRequest;
    let Some(calls) = calls.cloned() else {
        tracing::debug!(?r, "xmpp: no call control to tell");
        return;
    };
    let hub = hub.clone();
    tokio::spawn(async move {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (req, done) = match r {
            RoomRequest::Mute { room, leg, muted } => (
                AdminRequest::Mute {
                    room,
                    leg,
                    muted,
                    reply,
                },
                Some(answer),
            ),
            RoomRequest::Kick { room, leg } => {
                (AdminRequest::Kick { room, leg, reply }, Some(answer))
            }
            RoomRequest::Browser(p) => (AdminRequest::Browser(p), None),
            RoomRequest::Dial {
                room,
                room_jid,
                number,
                by,
                iq,
                to,
            } => {
                let answer = ask(&calls, |reply| AdminRequest::DialOut {
                    room,
                    number,
                    by: format!("xmpp:{by}"),
                    reply,
                })
                .await;
                let el = answer.map(|a| match a {
                    Ok(d) => {
                        let r = minidom::Element::builder("ref", hub::NS_RAYO)
                            .attr(
                                stanza::n("uri"),
                                format!("xmpp:{room_jid}/{}", crate::bridge::phone_nick(d.id)),
                            )
                            .build();
                        Some(stanza::iq_result(&iq, Some(r)))
                    }
                    Err(e) => {
                        use crate::sip::dialout::DialOutError;
                        tracing::info!("xmpp: dial-out refused: {e}");
                        let (t, cond) = match &e {
                            DialOutError::Refused { code: 400, .. }
                            | DialOutError::BadNumber(_)
                            | DialOutError::BadRoom(_) => ("modify", "bad-request"),
                            DialOutError::Refused { .. } => ("cancel", "not-allowed"),
                            DialOutError::Trunk(_) => ("cancel", "service-unavailable"),
                            DialOutError::NoPorts => ("wait", "resource-constraint"),
                        };
                        stanza::error_reply_text(&iq, t, cond, &e.to_string())
                    }
                });
                return answer_iq(&hub, &iq, to, el).await;
            }
            RoomRequest::Record {
                room,
                on,
                by,
                iq,
                to,
            } => {
                let answer = ask(&calls, |reply| AdminRequest::Record {
                    room,
                    on,
                    by: format!("xmpp:{by}"),
                    tracks: None,
                    reply,
                })
                .await;
                let el = answer.map(|a| match a {
                    Ok(id) => {
                        let child = on.then(|| {
                            minidom::Element::builder("jibri", hub::NS_JIBRI)
                                .attr(stanza::n("session_id"), id.unwrap_or_default())
                                .build()
                        });
                        Some(stanza::iq_result(&iq, child))
                    }
                    Err(e) => {
                        tracing::info!("xmpp: recording request refused: {e}");
                        stanza::error_reply(&iq, "cancel", "item-not-found")
                    }
                });
                return answer_iq(&hub, &iq, to, el).await;
            }
        };
        if calls.send(req).await.is_err() {
            return;
        }
        if let Some(answer) = done {
            match answer.await {
                Ok(Ok(())) => tracing::info!("xmpp: done for a browser moderator"),
                Ok(Err(e)) => tracing::info!("xmpp: call control refused: {e}"),
                Err(_) => {}
            }
        }
    });
}

/// Sends call control a request and waits for its answer (`None`: call
/// control is gone or dropped it).
async fn ask<T>(
    calls: &mpsc::Sender<crate::sip::admin::AdminRequest>,
    make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> crate::sip::admin::AdminRequest,
) -> Option<T> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    calls.send(make(reply)).await.ok()?;
    answer.await.ok()
}

/// Answers `iq` (to `to`) with `el`; no answer from call control is an
/// `internal-server-error` to wait on.
async fn answer_iq(
    hub: &mpsc::Sender<HubInput>,
    iq: &minidom::Element,
    to: String,
    el: Option<Option<minidom::Element>>,
) {
    let el = el.unwrap_or_else(|| stanza::error_reply(iq, "wait", "internal-server-error"));
    if let Some(el) = el {
        let _ = hub.send(HubInput::Send { to, el }).await;
    }
}

async fn hub_loop(
    mut hub: Hub,
    mut rx: mpsc::Receiver<HubInput>,
    me: mpsc::Sender<HubInput>,
    mut conductor: Box<dyn Conductor>,
    calls: Option<mpsc::Sender<crate::sip::admin::AdminRequest>>,
) {
    let mut sessions: std::collections::HashMap<SessionId, mpsc::Sender<ToSession>> =
        Default::default();
    let mut out: Vec<Delivery> = Vec::new();
    while let Some(input) = rx.recv().await {
        match input {
            HubInput::Connect { sid, jid, tx } => {
                sessions.insert(sid, tx);
                hub.connect(sid, jid, &mut out);
            }
            HubInput::Stanza(sid, el) => hub.stanza(sid, el, &mut out),
            HubInput::Disconnect(sid) => {
                sessions.remove(&sid);
                hub.disconnect(sid, &mut out);
            }
            HubInput::Phone(ev) => hub.phone(ev, &mut out),
            HubInput::Send { to, el } => hub.deliver(vec![(to, el)], &mut out),
        }
        // Deliveries can make more (a slow session dropped leaves its rooms),
        // and so can focus events (Jingle to send).
        loop {
            let events = hub.take_events();
            if !events.is_empty() {
                let mut o = Vec::new();
                for e in events {
                    conductor.on_event(e, &mut o);
                }
                hub.deliver(o, &mut out);
            }
            for r in hub.take_requests() {
                to_calls(calls.as_ref(), &me, r);
            }
            if out.is_empty() {
                break;
            }
            for d in std::mem::take(&mut out) {
                let (sid, msg) = match d {
                    Delivery::Send(sid, el) => (sid, ToSession::Stanza(el)),
                    Delivery::Close(sid, cond) => (sid, ToSession::Close(cond)),
                };
                let Some(tx) = sessions.get(&sid) else {
                    continue;
                };
                if tx.try_send(msg).is_err() {
                    tracing::info!(sid, "xmpp: session too slow or gone; dropping it");
                    sessions.remove(&sid);
                    hub.disconnect(sid, &mut out);
                }
            }
        }
    }
}
