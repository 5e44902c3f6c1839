//! XMPP over WebSocket (RFC 7395) at `/xmpp-websocket` on the web port, as
//! Jitsi's client uses it: the `xmpp` subprotocol is echoed, `<open/>` is
//! answered with `<open/>` and features, SASL ANONYMOUS, restart, bind, ping,
//! `<close/>`. The client is tungstenite; what is tested is the server side.

mod common;
use common::Server;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const OPEN: &str =
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";

fn connect(port: u16, protocol: Option<&str>) -> Result<(WebSocket<TcpStream>, String), String> {
    let mut req = format!("ws://127.0.0.1:{port}/xmpp-websocket?room=standup")
        .into_client_request()
        .unwrap();
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match tungstenite::client(req, stream) {
        Ok((ws, resp)) => {
            let proto = resp
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            Ok((ws, proto))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn next(ws: &mut WebSocket<TcpStream>) -> String {
    loop {
        match ws.read().expect("a frame within 5 s") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Close(_) => return "<ws-close>".into(),
            _ => continue,
        }
    }
}

fn send(ws: &mut WebSocket<TcpStream>, text: &str) {
    ws.send(Message::Text(text.into())).unwrap();
}

#[test]
fn a_guest_logs_in_over_rfc7395_framing() {
    let mut s = Server::new("");
    s.start();
    let (mut ws, proto) = connect(s.web_port, Some("xmpp")).unwrap();
    assert_eq!(proto, "xmpp");

    send(&mut ws, OPEN);
    let open = next(&mut ws);
    assert!(
        open.starts_with("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"),
        "{open}"
    );
    assert!(
        open.contains("version='1.0'") && open.contains("from='localhost'"),
        "{open}"
    );
    let features = next(&mut ws);
    assert!(
        features.starts_with("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
        "{features}"
    );
    assert!(
        features.contains("<mechanism>ANONYMOUS</mechanism>"),
        "{features}"
    );

    send(
        &mut ws,
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>",
    );
    assert_eq!(
        next(&mut ws),
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    );
    send(&mut ws, OPEN);
    assert!(next(&mut ws).starts_with("<open "));
    let features = next(&mut ws);
    assert!(
        features.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"),
        "{features}"
    );
    assert!(
        !features.contains("xmpp-session"),
        "no legacy session: {features}"
    );

    send(
        &mut ws,
        "<iq xmlns='jabber:client' type='set' id='_bind_auth_2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    );
    let bound = next(&mut ws);
    assert!(
        bound.starts_with("<iq xmlns='jabber:client' type='result'")
            || bound.contains("type='result'"),
        "{bound}"
    );
    assert!(
        bound.contains("id='_bind_auth_2'") && bound.contains("@localhost/"),
        "{bound}"
    );

    send(
        &mut ws,
        "<iq xmlns='jabber:client' type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    let pong = next(&mut ws);
    assert!(
        pong.contains("type='result'") && pong.contains("id='ping1'"),
        "{pong}"
    );
    assert!(
        pong.starts_with("<iq xmlns='jabber:client'"),
        "each frame declares its namespace: {pong}"
    );

    send(
        &mut ws,
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
    );
    assert_eq!(
        next(&mut ws),
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
    );
}

#[test]
fn a_websocket_without_the_xmpp_subprotocol_is_refused() {
    let mut s = Server::new("");
    s.start();
    let Err(e) = connect(s.web_port, None) else {
        panic!("a WebSocket without the xmpp subprotocol was accepted")
    };
    assert!(e.contains("400"), "{e}");
}

#[test]
fn a_malformed_frame_gets_a_stream_error_and_close() {
    let mut s = Server::new("");
    s.start();
    let (mut ws, _) = connect(s.web_port, Some("xmpp")).unwrap();
    send(&mut ws, OPEN);
    next(&mut ws);
    next(&mut ws);
    send(&mut ws, "<iq xmlns='jabber:client'><unclosed></iq>");
    let e = next(&mut ws);
    assert_eq!(
        e,
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    );
    assert_eq!(
        next(&mut ws),
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
    );
}
