//! SIP over TLS (`tls:` in `[sip] listen`, `[sip] tls_cert`/`tls_key`): a
//! baresip phone that trusts only the test's CA calls a room over TLS, a
//! second phone calls it over UDP, and each hears the other's tone (plain
//! RTP, as that phone offers it). A phone over TLS that insists on SRTP
//! (SDES keys, `mediaenc=srtp-mand`) gets it and hears the room, and the
//! room hears it; the same phone over UDP is refused with 488, since its
//! keys would travel in clear. A plain-TCP client on the
//! TLS port fails the handshake without disturbing the call. (Whether a
//! client checks our certificate is the client's business: baresip 1.0
//! connects whatever it is given, so that is not tested here.)

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, free_port, tone_amplitude, window};
use std::io::Write;
use std::time::Duration;

#[test]
fn a_phone_over_tls_and_a_phone_over_udp_hear_each_other() {
    let (mut s, dir, ports) = common::with_tls(1, LOOPBACK_TRUNK);
    let tls_port = ports[0];
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
fn a_phone_over_tls_with_srtp_hears_the_room_and_sdes_in_clear_is_refused() {
    let (mut s, dir, ports) = common::with_tls(1, LOOPBACK_TRUNK);
    let tls_port = ports[0];
    s.start();
    let ca = dir.path().join("ca.pem");
    let mut alice = Baresip::start_trusting_with("alice", 440, "pcmu", &ca, ";mediaenc=srtp-mand");
    let mut bob = Baresip::start("bob", 1000, "opus/48000/2", "");
    let mut carol = Baresip::start("carol", 660, "pcmu", ";mediaenc=srtp-mand");
    alice.dial(&format!("sip:4243@127.0.0.1:{tls_port};transport=tls"));
    bob.dial(&format!("sip:4243@127.0.0.1:{}", s.sip_port));
    carol.dial(&format!("sip:4243@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(6));
    alice.stop();
    bob.stop();
    carol.stop();
    let log = s.log();
    assert!(
        log.contains("SRTP (SDES keys) on this leg") && log.contains("AES_CM_128_HMAC_SHA1_80"),
        "alice's leg is SRTP:\n{log}"
    );
    assert!(
        log.contains("offer refused (488): SRTP (RTP/SAVP) is answered only on SIP over TLS"),
        "carol's SDES over UDP is refused:\n{log}"
    );
    let (xa, ra) = alice.received();
    let (xb, rb) = bob.received();
    let a = window(&xa, ra, 2.0, 5.5);
    let b = window(&xb, rb, 2.0, 5.5);
    let (a_hears_b, a_own) = (tone_amplitude(a, ra, 1000.0), tone_amplitude(a, ra, 440.0));
    let (b_hears_a, b_own) = (tone_amplitude(b, rb, 440.0), tone_amplitude(b, rb, 1000.0));
    eprintln!(
        "alice (TLS+SRTP) hears bob {a_hears_b:.0} (own {a_own:.0}); bob hears alice {b_hears_a:.0} (own {b_own:.0})"
    );
    assert!(
        a_hears_b > 1000.0 && a_hears_b > 5.0 * a_own.max(1.0),
        "alice (SRTP) does not hear bob: {a_hears_b:.0}\n{log}\n{}",
        alice.log()
    );
    assert!(
        b_hears_a > 1000.0 && b_hears_a > 5.0 * b_own.max(1.0),
        "bob does not hear alice (SRTP): {b_hears_a:.0}\n{log}\n{}",
        alice.log()
    );
    // Nobody heard carol: her call never got in.
    assert!(tone_amplitude(b, rb, 660.0) < 200.0, "bob hears carol");
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
