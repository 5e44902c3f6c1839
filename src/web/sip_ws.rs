//! SIP over WebSocket (RFC 7118) at `/sip-ws` on the web port, for browser
//! softphones (JsSIP, SIP.js): the `sip` subprotocol is required and echoed;
//! each message is one SIP message, read with the same parser as UDP and
//! handed to the endpoint task like any connection's (Protocol::Ws, its own
//! connection id, so answers and calls to a contact registered over it go
//! back on this socket).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::sip::message;
use crate::sip::transport::{Flow, Inbound, Protocol, Transports};

/// What the web server needs to hand SIP messages to the endpoint.
#[derive(Debug, Clone)]
pub struct SipWs {
    /// The connection table (answers find the socket by connection id).
    pub transports: Arc<Transports>,
    /// The endpoint task's inbox.
    pub inbound: mpsc::Sender<Inbound>,
    /// The web server's address (the flow's local side).
    pub local: SocketAddr,
    /// Largest SIP message taken (`[sip] max_message_size`).
    pub max: usize,
}

/// The upgrade: refuses clients that do not offer `sip`.
pub fn upgrade(ws: WebSocketUpgrade, remote: SocketAddr, h: SipWs) -> Response {
    let ws = ws
        .protocols(["sip"])
        .max_message_size(h.max)
        .max_frame_size(h.max);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "SIP over WebSocket needs the 'sip' subprotocol (RFC 7118)",
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| connection(socket, remote, h))
}

async fn connection(mut ws: WebSocket, remote: SocketAddr, h: SipWs) {
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(256);
    let conn = h.transports.register(remote, Protocol::Ws, tx);
    let flow = Flow {
        protocol: Protocol::Ws,
        local: h.local,
        remote,
        conn,
    };
    tracing::debug!(%remote, conn, "SIP WebSocket connected");
    loop {
        tokio::select! {
            m = ws.recv() => {
                let bytes = match m {
                    Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    continue; // keep-alive
                }
                let message = message::parse(&bytes);
                if let Err(r) = &message {
                    tracing::info!(%remote, "refused SIP message over WebSocket: {}", r.reason);
                }
                if h.inbound.send(Inbound { flow, message }).await.is_err() {
                    break;
                }
            }
            out = rx.recv() => {
                let Some(bytes) = out else { break };
                let msg = match std::str::from_utf8(&bytes) {
                    Ok(s) => Message::Text(s.to_string().into()),
                    Err(_) => Message::Binary(bytes.to_vec().into()),
                };
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
    h.transports.unregister(conn);
    tracing::debug!(%remote, conn, "SIP WebSocket closed");
}
