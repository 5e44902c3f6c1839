//! XMPP over WebSocket (RFC 7395) at `/xmpp-websocket` on the web port: the
//! `xmpp` subprotocol is required and echoed; each text message holds one
//! element (`<open/>`, a stanza, `<close/>`).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Handle;
use super::connection::{self, Input, Wire};
use super::session::Transport;

struct WsWire {
    ws: WebSocket,
}

impl Wire for WsWire {
    async fn recv(&mut self) -> Option<Input> {
        loop {
            match self.ws.recv().await? {
                Ok(Message::Text(t)) => return Some(Input::Frame(t.as_str().to_string())),
                // RFC 7395 §3.2: binary messages are not XMPP; treat as text if UTF-8.
                Ok(Message::Binary(b)) => {
                    return Some(Input::Frame(String::from_utf8_lossy(&b).into_owned()));
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => return None,
            }
        }
    }
    async fn send(&mut self, text: String) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }
    async fn close(&mut self) {
        let _ = self.ws.send(Message::Close(None)).await;
    }
}

/// The upgrade handler: refuses clients that do not offer `xmpp`.
pub fn upgrade(ws: WebSocketUpgrade, handle: Handle) -> Response {
    let max = handle.config().max_stanza;
    let ws = ws
        .protocols(["xmpp"])
        .max_message_size(max)
        .max_frame_size(max);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "XMPP over WebSocket needs the 'xmpp' subprotocol (RFC 7395)",
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| {
        connection::drive(handle, Transport::WebSocket, WsWire { ws: socket })
    })
}
