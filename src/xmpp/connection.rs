//! The per-connection shell shared by TCP and WebSocket: feeds the wire into
//! a [`Session`], performs its outputs (writes, password checks, hub
//! registration) and writes what the hub delivers.

use jid::FullJid;
use minidom::Element;
use tokio::sync::mpsc;

use super::hub::SessionId;
use super::session::{Output, Session, Transport};
use super::{Handle, SESSION_QUEUE};

/// What the hub task receives.
#[derive(Debug)]
pub enum HubInput {
    /// A session bound a JID; `tx` reaches it.
    Connect {
        /// The session.
        sid: SessionId,
        /// Its bound JID.
        jid: FullJid,
        /// Where its deliveries go.
        tx: mpsc::Sender<ToSession>,
    },
    /// A stanza from a bound session.
    Stanza(SessionId, Element),
    /// The session ended.
    Disconnect(SessionId),
    /// A phone caller joined, muted or left a room (the bridge).
    Phone(crate::bridge::PhoneEvent),
    /// A stanza to a real JID, made outside the hub (an answer from call
    /// control).
    Send {
        /// The real JID.
        to: String,
        /// The stanza.
        el: Element,
    },
}

/// What the hub sends a session.
#[derive(Debug)]
pub enum ToSession {
    /// A stanza to write.
    Stanza(Element),
    /// Close with this stream error condition.
    Close(&'static str),
}

/// Input from the wire.
#[derive(Debug)]
pub enum Input {
    /// TCP bytes.
    Bytes(Vec<u8>),
    /// One WebSocket text message.
    Frame(String),
}

/// A connection's wire, TCP or WebSocket.
pub trait Wire: Send {
    /// The next input; `None` when the peer closed or the read failed.
    fn recv(&mut self) -> impl std::future::Future<Output = Option<Input>> + Send;
    /// Writes one piece of text (one WebSocket message).
    fn send(&mut self, text: String) -> impl std::future::Future<Output = bool> + Send;
    /// Ends the connection.
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Runs the server side of a TLS handshake on the connection (STARTTLS);
    /// false when it failed or the wire cannot do TLS.
    fn start_tls(&mut self) -> impl std::future::Future<Output = bool> + Send {
        async { false }
    }
}

/// Runs one connection to its end.
pub async fn drive<W: Wire>(handle: Handle, transport: Transport, mut wire: W) {
    let sid = handle.next_session();
    let mut session = Session::new(handle.cfg.clone(), transport, super::session::random_uuid());
    let (tx, mut rx) = mpsc::channel::<ToSession>(SESSION_QUEUE);
    let mut tx = Some(tx);
    let mut bound = false;
    let mut out: Vec<Output> = Vec::new();
    loop {
        tokio::select! {
            input = wire.recv() => match input {
                Some(Input::Bytes(b)) => session.on_bytes(&b, &mut out),
                Some(Input::Frame(f)) => session.on_frame(&f, &mut out),
                None => {
                    session.on_eof();
                    break;
                }
            },
            m = rx.recv(), if bound => match m {
                Some(ToSession::Stanza(el)) => out.push(Output::Write(session.print(&el))),
                Some(ToSession::Close(cond)) => session.close_with(cond, &mut out),
                None => session.close_with("policy-violation", &mut out),
            },
        }
        let mut closed = false;
        let mut i = 0;
        while i < out.len() {
            match out[i].clone() {
                Output::Write(text) => {
                    if !wire.send(text).await {
                        closed = true;
                        break;
                    }
                }
                Output::CheckPassword { user, password } => {
                    let ok = handle.check_password(&user, &password).await;
                    if !ok {
                        tracing::info!(user, "xmpp: SASL PLAIN failed");
                        // Slows down guessing on one connection.
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    session.password_checked(ok, &mut out);
                }
                Output::Bound(jid) => {
                    tracing::debug!(%jid, sid, "xmpp: bound");
                    if let Some(tx) = tx.take() {
                        let _ = handle.hub.send(HubInput::Connect { sid, jid, tx }).await;
                    }
                    bound = true;
                }
                Output::Stanza(el) => {
                    let _ = handle.hub.send(HubInput::Stanza(sid, el)).await;
                }
                Output::StartTls => {
                    if wire.start_tls().await {
                        tracing::debug!(sid, "xmpp: stream encrypted (STARTTLS)");
                        session.tls_started();
                    } else {
                        tracing::info!(sid, "xmpp: STARTTLS handshake failed");
                        closed = true;
                        break;
                    }
                }
                Output::Close => closed = true,
            }
            i += 1;
        }
        out.clear();
        if closed || session.is_closed() {
            break;
        }
    }
    if bound {
        let _ = handle.hub.send(HubInput::Disconnect(sid)).await;
    }
    wire.close().await;
}
