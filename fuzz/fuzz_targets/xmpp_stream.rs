//! Any byte stream, cut anywhere, into a TCP session (framing, STARTTLS, SASL, bind,
//! stanza checks), and any text as an RFC 7395 frame: never a panic, and a
//! session that reports an error has closed.
#![no_main]
use dialroom::xmpp::framing::read_frame;
use dialroom::xmpp::session::{Output, Session, SessionConfig, StartTls, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = SessionConfig {
        domain: "localhost".into(),
        anonymous: true,
        max_stanza: 4096,
        starttls: StartTls::Offered,
    };
    let cut = data.first().copied().unwrap_or(1).max(1) as usize;
    let mut s = Session::new(cfg.clone(), Transport::Tcp, "fuzz".into());
    let mut out = Vec::new();
    for chunk in data.chunks(cut) {
        s.on_bytes(chunk, &mut out);
        // Answer password checks both ways, alternating.
        let checks = out
            .iter()
            .filter(|o| matches!(o, Output::CheckPassword { .. }))
            .count();
        for i in 0..checks {
            s.password_checked(i % 2 == 0, &mut out);
        }
        // A STARTTLS handshake "succeeds": the stream restarts.
        if out.contains(&Output::StartTls) {
            s.tls_started();
        }
        if out.contains(&Output::Close) {
            assert!(s.is_closed());
        }
        out.clear();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_frame(text, 4096);
        let mut w = Session::new(cfg, Transport::WebSocket, "fuzz".into());
        w.on_frame(text, &mut out);
    }
});
