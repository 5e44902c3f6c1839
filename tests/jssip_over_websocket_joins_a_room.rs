//! A browser softphone and a secure desk phone in one room: JsSIP (npm) in
//! Chromium registers over SIP over WebSocket (RFC 7118, `/sip-ws` on the
//! web port) with digest auth and calls room 4244 with WebRTC media (ICE,
//! DTLS-SRTP, through the SFU's socket); a baresip calls the same room over
//! TLS with SRTP (SDES keys). The browser hears the phone's tone (not its
//! own, not an unused one) and the phone hears the browser's. And a
//! softphone registered over WebSocket is rung by a `user` route with a
//! WebRTC offer, answers, and hears the desk phone that called it.

mod common;
use common::{Baresip, free_udp_port, root, tone_amplitude, tone_wav, window};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Instant;

/// JsSIP in Chromium as alice (password s3cret) whose microphone plays
/// `wav`, calling `target` (or `-answer`: waiting to be rung), listening for
/// 1000 Hz for `listen_s` seconds (tests/browser/jssip_phone.mjs).
fn softphone(s: &common::Server, target: &str, wav: &std::path::Path, listen_s: &str) -> Command {
    let mut c = Command::new("node");
    c.arg(root().join("tests/browser/jssip_phone.mjs"))
        .arg(format!("http://127.0.0.1:{}", s.web_port))
        .args(["alice", "s3cret", target])
        .arg(wav)
        .args(["1000", "440", listen_s])
        .stdin(Stdio::null());
    c
}

/// bob (1000 Hz) heard the browser's 440 Hz, not his own tone, while it
/// listened: the 2.5 s before the last 2 s of the browser's run, which
/// ended `browser_done` seconds into bob's call.
fn assert_bob_hears_the_browser(bob: &Baresip, browser_done: f64, diag: &str) {
    let (x, rate) = bob.received();
    let w = window(&x, rate, (browser_done - 4.5).max(0.5), browser_done - 2.0);
    let (hear, own) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    eprintln!("bob hears the browser: 440 Hz {hear:.0}, own 1000 Hz {own:.0}");
    assert!(
        hear > 1000.0 && hear > 5.0 * own.max(1.0),
        "{hear} {own}\n{diag}"
    );
}

#[test]
fn jssip_over_websocket_and_a_phone_over_tls_with_srtp_hear_each_other() {
    let sfu_port = free_udp_port();
    let (mut s, dir, ports) = common::with_tls(
        1,
        &format!(
            "[sfu]\nport = {sfu_port}\nlisten_ip = \"127.0.0.1\"\npublic_ip = \"127.0.0.1\"\n\
             [[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n"
        ),
    );
    let tls_port = ports[0];
    s.add_user("alice", "s3cret");
    s.start();
    let mut bob = Baresip::start_trusting_with(
        "bob",
        1000,
        "pcmu",
        &dir.path().join("ca.pem"),
        ";mediaenc=srtp-mand",
    );
    bob.dial(&format!("sip:4244@127.0.0.1:{tls_port};transport=tls"));
    let bob_start = Instant::now();
    let wav = tone_wav(s.dir.path(), 440);
    let o = softphone(&s, "4244", &wav, "4")
        .output()
        .expect("node (scripts/deps.sh test installs it)");
    let browser_done = bob_start.elapsed().as_secs_f64();
    bob.stop();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let log = s.log();
    let diag = format!(
        "page: {stdout}\n{}\n--- server log:\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{diag}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {diag}"));
    assert_eq!(v["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(v["registered"], true, "{diag}");
    assert_eq!(v["call"], "confirmed", "{diag}");
    let answer = v["answer_sdp"].as_str().unwrap_or("");
    assert!(
        answer.contains("UDP/TLS/RTP/SAVPF") && answer.contains("a=fingerprint:sha-256"),
        "a WebRTC answer: {diag}"
    );
    assert!(
        log.contains("SRTP (SDES keys) on this leg"),
        "bob's leg is SRTP: {diag}"
    );
    // The browser hears the phone's tone, not its own or an unused one.
    let lv = |k: &str| v["levels"][k].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "browser (JsSIP) hears: {} (inbound {})",
        v["levels"], v["inbound"]
    );
    assert!(lv("peer") > 0.2, "{diag}");
    assert!(lv("peer") > 20.0 * lv("own"), "{diag}");
    assert!(lv("peer") > 20.0 * lv("other"), "{diag}");
    // The phone heard the browser while it listened.
    assert_bob_hears_the_browser(&bob, browser_done, &diag);
    // Hold and resume are answered (re-INVITEs on the WebRTC leg), the call
    // leaves the mix and comes back, and the browser hears the phone again.
    assert_eq!(v["hold"], "ok", "{diag}");
    eprintln!(
        "on hold the browser hears RMS {}, after the resume 1000 Hz at {}",
        v["held_rms"], v["after_resume"]
    );
    assert!(
        v["held_rms"].as_f64().is_some_and(|x| x < 0.01),
        "silence on hold: {diag}"
    );
    assert_eq!(v["resume"], "ok", "{diag}");
    assert!(v["after_resume"].as_f64().unwrap_or(0.0) > 0.2, "{diag}");
    assert!(
        log.contains("direction=\"recvonly\" held=true")
            && log.contains("direction=\"sendrecv\" held=false"),
        "{diag}"
    );
    // alice's call came over the WebSocket (she registered there first).
    assert!(
        log.lines().any(|l| l.contains("INVITE routed")
            && l.contains("from=alice")
            && l.contains("transport=ws")),
        "{diag}"
    );
}

#[test]
fn a_softphone_registered_over_websocket_is_rung_by_a_user_route() {
    let sfu_port = free_udp_port();
    let mut s = common::Server::with(
        "",
        &format!(
            "[sfu]\nport = {sfu_port}\nlisten_ip = \"127.0.0.1\"\npublic_ip = \"127.0.0.1\"\n\
             [[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n"
        ),
    );
    s.write_dialplan(
        "[[route]]\nname = \"alice's number\"\nto = '^2000$'\naction = \"user\"\nuser = \"alice\"\ntimeout = 20\n",
    );
    s.add_user("alice", "s3cret");
    s.start();
    let wav = tone_wav(s.dir.path(), 440);
    // The softphone registers and waits to be rung.
    let page = softphone(&s, "-answer", &wav, "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (scripts/deps.sh test installs it)");
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !String::from_utf8_lossy(&s.cli(&["registrations"]).stdout).contains("alice") {
        assert!(
            Instant::now() < deadline,
            "alice never registered:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let regs = String::from_utf8_lossy(&s.cli(&["registrations"]).stdout).into_owned();
    assert!(regs.contains("ws:"), "registered over WebSocket: {regs}");
    // A desk phone dials alice's number: the server rings her over her
    // WebSocket with a WebRTC offer.
    let mut bob = Baresip::start("bob", 1000, "pcmu", "");
    bob.dial(&format!("sip:2000@127.0.0.1:{}", s.sip_port));
    let bob_start = Instant::now();
    let o = page.wait_with_output().unwrap();
    let browser_done = bob_start.elapsed().as_secs_f64();
    bob.stop();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let log = s.log();
    let diag = format!(
        "page: {stdout}\n{}\n--- server log:\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {diag}"));
    assert_eq!(v["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(v["call"], "confirmed", "{diag}");
    let lv = |k: &str| v["levels"][k].as_f64().unwrap_or(f64::NAN);
    eprintln!("softphone hears: {}", v["levels"]);
    assert!(lv("peer") > 0.2, "{diag}");
    assert!(lv("peer") > 20.0 * lv("own"), "{diag}");
    assert_bob_hears_the_browser(&bob, browser_done, &diag);
    assert!(
        log.contains("transport=ws"),
        "rung over the WebSocket: {diag}"
    );
}
