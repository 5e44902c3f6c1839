//! SIP over TLS (`tls:` in `[sip] listen`, `[sip] tls_cert`/`tls_key`): a
//! baresip phone that trusts only the test's CA calls a room over TLS, a
//! second phone calls it over UDP, and each hears the other's tone (the
//! media is plain RTP; SRTP comes with issue 7). A plain-TCP client on the
//! TLS port fails the handshake without disturbing the call. (Whether a
//! client checks our certificate is the client's business: baresip 1.0
//! connects whatever it is given, so that is not tested here.)

mod common;
use common::{Baresip, Server, free_port, make_certificate, tone_amplitude, window};
use std::io::Write;
use std::time::Duration;

const TRUNK: &str = "[[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n";

#[test]
fn a_phone_over_tls_and_a_phone_over_udp_hear_each_other() {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let tls_port = free_port();
    let mut s = Server::with_listeners(
        &[&format!("tls:127.0.0.1:{tls_port}")],
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}",
            dir.path().join("server.pem").to_str().unwrap(),
            dir.path().join("server.key").to_str().unwrap()
        ),
        TRUNK,
    );
    s.start();
    let mut alice = Baresip::start_trusting("alice", 440, "pcmu", &dir.path().join("ca.pem"));
    let mut bob = Baresip::start("bob", 1000, "pcmu", "");
    alice.dial(&format!("sip:4242@127.0.0.1:{tls_port};transport=tls"));
    bob.dial(&format!("sip:4242@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(3));
    // Garbage and a plain SIP request on the TLS port: refused, nothing else changes.
    if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", tls_port)) {
        let _ = c.write_all(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n");
    }
    std::thread::sleep(Duration::from_secs(3));
    alice.stop();
    bob.stop();
    let log = s.log();
    assert!(
        log.contains("SIP TLS handshake failed"),
        "the plain connection is refused at the handshake:\n{log}"
    );
    let (xa, ra) = alice.received();
    let (xb, rb) = bob.received();
    let a_hears_b = tone_amplitude(window(&xa, ra, 2.0, 5.5), ra, 1000.0);
    let b_hears_a = tone_amplitude(window(&xb, rb, 2.0, 5.5), rb, 440.0);
    assert!(
        a_hears_b > 1000.0,
        "alice (TLS) does not hear bob: {a_hears_b:.0}\n{log}\n{}",
        alice.log()
    );
    assert!(
        b_hears_a > 1000.0,
        "bob does not hear alice (TLS): {b_hears_a:.0}\n{log}\n{}",
        alice.log()
    );
    assert!(
        log.lines().any(|l| l.contains("INVITE routed")
            && l.contains("from=alice")
            && l.contains("transport=tls")),
        "alice's call came over TLS:\n{log}"
    );
}

#[test]
fn a_tls_listener_without_a_certificate_is_a_config_error() {
    let port = free_port();
    let s = Server::with_listeners(&[&format!("tls:127.0.0.1:{port}")], "", "");
    let o = s.cli(&["serve"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs tls_cert and tls_key"), "{err}");
}
