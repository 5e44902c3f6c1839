//! Calls into rooms driven by the SIPp scenarios in sipp-scenarios/, over
//! UDP and TCP: audio from a pcap reaches the server, the 200 is repeated
//! until the ACK, CANCEL before and after the answer, hold and resume by
//! re-INVITE and by UPDATE, 491 on a second offer, 481 outside a dialog, and
//! the server's own BYE when a call sends no RTP, session timers (RFC
//! 4028: 422 below Min-SE, a refresh by UPDATE, then the server's BYE before
//! the session expires). Calls come from
//! 127.0.0.1, which the config makes a trunk (no digest auth); 4-digit
//! numbers are rooms and `dialin` is the meeting-id IVR (the built-in plan).

mod common;
use common::{LOOPBACK_TRUNK, Server, SippTrace, sipp_trace_messages, sipp_traced};
use std::time::{Duration, Instant};

const RX: &str = "dialroom_rtp_packets_received_total";
const TX: &str = "dialroom_rtp_packets_sent_total";
const CONCEALED: &str = "dialroom_rtp_frames_concealed_total";

fn server() -> Server {
    let mut s = Server::with_media("", "", LOOPBACK_TRUNK);
    s.start();
    s
}

/// Runs `scenario` calling `service` and insists that it passes.
fn run(s: &Server, scenario: &str, transport: &str, service: &str) -> SippTrace {
    let r = sipp_traced(scenario, transport, s.sip_port, &["-s", service]);
    assert!(
        r.ok,
        "{scenario} over {transport} failed:\n{r}\n--- server log:\n{}",
        s.log()
    );
    r
}

/// Waits (up to 3 s) for the server to have no calls left.
fn no_calls_left(s: &Server) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while s.metric("dialroom_calls") != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "calls left: {:?}\n{}",
            s.metric("dialroom_calls"),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_call_into_a_room_sends_pcma_audio_that_the_server_receives() {
    let s = server();
    for t in ["udp", "tcp"] {
        let before = s.metric(RX).unwrap_or(0.0);
        run(&s, "call_room_pcap.xml", t, "1234");
        // g711a.pcap is 236 packets of PCMA
        let got = s.metric(RX).unwrap() - before;
        assert!(
            got > 100.0,
            "over {t} the server received {got} RTP packets\n{}",
            s.log()
        );
        no_calls_left(&s);
    }
    let log = s.log();
    assert_eq!(log.matches("joined leg=").count(), 2, "{log}");
    assert_eq!(log.matches("room=room-1234 position=1").count(), 2, "{log}");
    assert_eq!(log.matches("left leg=").count(), 2, "{log}");
}

#[test]
fn the_200_is_sent_again_until_the_ack_over_udp_only() {
    let s = server();
    for t in ["udp", "tcp"] {
        let r = run(&s, "invite_200_retransmitted_until_ack.xml", t, "1234");
        let msgs = sipp_trace_messages(&r.messages);
        let oks: Vec<f64> = msgs
            .iter()
            .filter(|(_, m)| m.contains("\nSIP/2.0 200 ") && m.contains("\nCSeq: 1 INVITE"))
            .map(|x| x.0)
            .collect();
        let ack = msgs
            .iter()
            .find(|(_, m)| m.contains("\nACK "))
            .map(|x| x.0)
            .unwrap_or_else(|| panic!("no ACK sent:\n{r}"));
        // The ACK goes out 2.5 s after the 200 (a second from either retransmission
        // time, so a loaded machine does not move one across it): copies at 0.5 s and 1.5 s
        // over UDP (T1 = 500 ms, doubling), none after the ACK, none over TCP.
        let want = if t == "udp" { 3 } else { 1 };
        assert!(
            oks.len() == want && oks.iter().all(|&x| x < ack),
            "over {t}: 200s at {oks:?}, ACK at {ack}\n{r}"
        );
        no_calls_left(&s);
    }
}

#[test]
fn requests_outside_any_dialog_get_481() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "unknown_dialog_481.xml", t, "1234");
    }
}

#[test]
fn cancel_during_early_media_gets_200_then_487_and_the_ack_stops_it() {
    let s = server();
    for t in ["udp", "tcp"] {
        let r = run(&s, "cancel_before_answer.xml", t, "dialin");
        // The scenario stays 2 s after its ACK: an unmatched ACK would show
        // as 487 retransmissions (every 500 ms over UDP).
        assert_eq!(
            r.messages.matches("SIP/2.0 487 ").count(),
            1,
            "over {t}, the 487 was sent again after the ACK:\n{r}"
        );
        no_calls_left(&s);
    }
    let log = s.log();
    assert_eq!(log.matches("INVITE routed").count(), 2, "{log}");
    assert!(!log.contains("joined"), "{log}");
}

#[test]
fn cancel_after_the_200_is_answered_200_and_the_call_stays_up_until_bye() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "cancel_after_answer.xml", t, "1234");
        no_calls_left(&s);
    }
    let log = s.log();
    assert_eq!(log.matches("joined leg=").count(), 2, "{log}");
    assert_eq!(log.matches("left leg=").count(), 2, "{log}");
}

/// The longest stretch of samples with one value: (start index, end index).
fn longest_flat(samples: &[(Instant, f64)]) -> (usize, usize) {
    let (mut best, mut start) = ((0, 0), 0);
    for i in 1..samples.len() {
        if samples[i].1 != samples[start].1 {
            start = i;
        }
        let (a, b) = best;
        if samples[i].0 - samples[start].0 > samples[b].0 - samples[a].0 {
            best = (start, i);
        }
    }
    best
}

#[test]
fn hold_by_reinvite_is_answered_recvonly_and_stops_our_rtp_until_resumed() {
    let s = server();
    // UDP, watching the RTP the server sends (its only call is ours).
    let port = s.sip_port;
    let call =
        std::thread::spawn(move || sipp_traced("reinvite_hold.xml", "udp", port, &["-s", "1234"]));
    let mut samples = Vec::new();
    while !call.is_finished() {
        samples.push((Instant::now(), s.metric(TX).unwrap_or(0.0)));
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = call.join().unwrap();
    assert!(r.ok, "reinvite_hold.xml over udp failed:\n{r}\n{}", s.log());
    // Held (sendonly, then inactive) for 2.5 s: no RTP to us, and RTP before and after.
    let (a, b) = longest_flat(&samples);
    let flat = samples[b].0 - samples[a].0;
    let series: Vec<f64> = samples.iter().map(|x| x.1).collect();
    assert!(
        flat >= Duration::from_millis(1800)
            && samples[0].1 < samples[a].1
            && b + 1 < samples.len()
            && samples[b + 1].1 > samples[b].1,
        "sent RTP every 100 ms: {series:?}\n{}",
        s.log()
    );
    run(&s, "reinvite_hold.xml", "tcp", "1234");
    let log = s.log();
    for d in [
        "direction=\"recvonly\" held=true",
        "direction=\"inactive\" held=true",
        "direction=\"sendrecv\" held=false",
    ] {
        assert_eq!(log.matches(d).count(), 2, "{d}\n{log}");
    }
    no_calls_left(&s);
}

#[test]
fn hold_and_resume_by_update_need_no_ack() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "update_hold.xml", t, "1234");
        no_calls_left(&s);
    }
    let log = s.log();
    assert_eq!(
        log.matches("direction=\"recvonly\" held=true").count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("direction=\"sendrecv\" held=false").count(),
        2,
        "{log}"
    );
}

#[test]
fn a_reinvite_while_another_is_unacknowledged_gets_491() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "reinvite_glare_491.xml", t, "1234");
        no_calls_left(&s);
    }
}

#[test]
fn a_call_that_sends_no_rtp_gets_a_bye_from_the_server() {
    let mut s = Server::with_media("", "rtp_timeout = 3", LOOPBACK_TRUNK);
    s.start();
    for t in ["udp", "tcp"] {
        let t0 = Instant::now();
        run(&s, "server_bye_on_rtp_timeout.xml", t, "1234");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(2500) && took < Duration::from_millis(6500),
            "over {t} the server's BYE came after {took:?} (rtp_timeout = 3)\n{}",
            s.log()
        );
        no_calls_left(&s);
    }
    // A call that sends audio for 7 s is not timed out (an early BYE fails it).
    run(&s, "call_room_pcap.xml", "udp", "1234");
    let log = s.log();
    assert_eq!(log.matches("no RTP: ending the call").count(), 2, "{log}");
}

#[test]
fn a_session_interval_below_min_se_gets_422() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "session_timer_too_small_422.xml", t, "1234");
        no_calls_left(&s);
    }
}

/// About 90 s: the refresh comes after 30 s, the BYE 60 s later (RFC 4028 §10:
/// 90 - min(32, 90 / 3)). No RTP is sent, so the RTP timeout is set longer.
#[test]
fn a_refreshed_session_is_ended_by_the_server_when_the_refreshes_stop() {
    let mut s = Server::with_media("", "rtp_timeout = 600", LOOPBACK_TRUNK);
    s.start();
    let t0 = Instant::now();
    // Longer than the harness's 30 s SIPp timeout (the later option wins).
    let args = ["-s", "1234", "-timeout", "120s"];
    let r = sipp_traced("session_timer_refresh.xml", "udp", s.sip_port, &args);
    let took = t0.elapsed();
    assert!(r.ok, "session_timer_refresh.xml failed:\n{r}\n{}", s.log());
    assert!(
        took >= Duration::from_secs(88) && took < Duration::from_secs(95),
        "the server's BYE came {took:?} after the INVITE (expected 30 + 60 s)\n{}",
        s.log()
    );
    assert!(
        s.log()
            .contains("session timer expired without a refresh: ending the call"),
        "{}",
        s.log()
    );
    no_calls_left(&s);
}

#[test]
fn the_scenarios_fail_when_the_server_does_not_do_what_they_expect() {
    let s = server();
    // A room answers 200 at once: no 183 to cancel.
    let r = sipp_traced(
        "cancel_before_answer.xml",
        "udp",
        s.sip_port,
        &["-s", "1234"],
    );
    assert!(
        !r.ok,
        "cancel_before_answer.xml passed against a room:\n{r}"
    );
    // 404: no 200 to check.
    let r = sipp_traced("call_room_pcap.xml", "udp", s.sip_port, &["-s", "12345"]);
    assert!(!r.ok, "call_room_pcap.xml passed against a 404:\n{r}");
    // rtp_timeout is 30 s by default: no BYE within the scenario's 6 s.
    let r = sipp_traced(
        "server_bye_on_rtp_timeout.xml",
        "udp",
        s.sip_port,
        &["-s", "1234"],
    );
    assert!(
        !r.ok,
        "server_bye_on_rtp_timeout.xml passed without an RTP timeout:\n{r}"
    );
}

/// While a caller plays audio into a room, the rooms API shows what the
/// server received from it: packets, loss, jitter and concealment, and
/// what it sent back.
#[test]
fn a_callers_receive_counts_show_in_the_rooms_api() {
    let s = server();
    let viewer = common::api_token(&s, "wallboard", "viewer");
    let port = s.sip_port;
    let caller =
        std::thread::spawn(move || sipp_traced("call_room_pcap.xml", "udp", port, &["-s", "1234"]));
    let deadline = Instant::now() + Duration::from_secs(8);
    let rtp = loop {
        let (code, body) = s.http("GET", "/api/v1/rooms", Some(&viewer), None);
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rtp = v["rooms"][0]["participants"][0]["rtp"].clone();
        if rtp["received"].as_u64().unwrap_or(0) > 100 {
            break rtp;
        }
        assert!(
            Instant::now() < deadline,
            "no receive counts in the API: {body}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // SIPp replays the pcap on loopback: nothing lost, little jitter; the
    // server answers every tick.
    assert_eq!(
        (rtp["lost"].as_u64(), rtp["late"].as_u64()),
        (Some(0), Some(0)),
        "{rtp}"
    );
    let jitter = rtp["jitter_us"].as_u64().unwrap();
    assert!(jitter < 20_000, "{rtp}");
    assert!(rtp["buffer_ms"].as_u64().unwrap() >= 20, "{rtp}");
    assert!(rtp["sent"].as_u64().unwrap() > 100, "{rtp}");
    assert!(rtp["concealed"].as_u64().is_some(), "{rtp}");
    let r = caller.join().unwrap();
    assert!(r.ok, "{r}\n{}", s.log());
    no_calls_left(&s);
    // A closed leg's counts are gone with it.
    let (_, body) = s.http("GET", "/api/v1/rooms", Some(&viewer), None);
    assert!(!body.contains("\"rtp\""), "{body}");
}

/// g711a.pcap sends 30 ms packets (240 bytes of PCMA each) while the server
/// plays one packet per 20 ms tick and decodes at most 160 samples of it:
/// the last 10 ms of every packet are dropped and a third of the ticks are
/// concealed (7 s of audio: ~117 concealed frames instead of ~0).
#[test]
fn audio_in_30_ms_packets_is_played_without_concealment() {
    let s = server();
    let before = s.metric(CONCEALED).unwrap_or(0.0);
    run(&s, "call_room_pcap.xml", "udp", "1234");
    // The end of the stream (0.45 s before our BYE) is concealed for up to
    // 25 ticks; a 20 ms stream of the same audio conceals about 21 in all.
    let concealed = s.metric(CONCEALED).unwrap() - before;
    assert!(
        concealed < 40.0,
        "{concealed} frames concealed\n{}",
        s.log()
    );
}
