//! PIN entry without RFC 4733 phones: digits by SIP INFO
//! (`application/dtmf-relay` and `application/dtmf`), by in-band tones the
//! server detects itself (a PCMU-only call), and, for comparison, by RFC 4733
//! events from SIPp's play_dtmf. The SIPp scenarios cannot hear whether the
//! PIN was taken, so these tests read the server log (`joined`,
//! `wrong PIN`) and SIPp's message trace.

mod common;
use common::{LOOPBACK_TRUNK, Server, SippTrace, sipp_trace_messages, sipp_traced};

const PLAN: &str = r#"
[[route]]
name = "board"
to = '^board$'
action = "conference"
room = "board"
pin = "4321"

[[route]]
name = "other"
to = '^other$'
action = "conference"
room = "other"
pin = "9999"
"#;

fn server() -> Server {
    let mut s = Server::with_media("", "", LOOPBACK_TRUNK);
    s.write_dialplan(PLAN);
    s.start();
    s
}

fn run(s: &Server, scenario: &str, transport: &str, service: &str) -> SippTrace {
    let r = sipp_traced(scenario, transport, s.sip_port, &["-s", service]);
    assert!(
        r.ok,
        "{scenario} over {transport} failed:\n{r}\n--- server log:\n{}",
        s.log()
    );
    r
}

/// Seconds from the last INFO we sent to the server's BYE.
fn bye_after_last_info(r: &SippTrace) -> f64 {
    let msgs = sipp_trace_messages(&r.messages);
    let info = msgs
        .iter()
        .rev()
        .find(|(_, m)| {
            m.lines().next().is_some_and(|l| l.contains("message sent")) && m.contains("\nINFO ")
        })
        .unwrap_or_else(|| panic!("no INFO sent:\n{r}"));
    let bye = msgs
        .iter()
        .find(|(_, m)| {
            m.lines()
                .next()
                .is_some_and(|l| l.contains("message received"))
                && m.contains("\nBYE ")
        })
        .unwrap_or_else(|| panic!("no BYE received:\n{r}"));
    bye.0 - info.0
}

#[test]
fn the_right_pin_by_info_dtmf_relay_joins_the_room() {
    let s = server();
    for t in ["udp", "tcp"] {
        run(&s, "pin_by_info.xml", t, "board");
    }
    let log = s.log();
    assert_eq!(log.matches("room=board position=1").count(), 2, "{log}");
    assert!(!log.contains("wrong PIN"), "{log}");
}

#[test]
fn three_wrong_pins_by_info_dtmf_get_a_goodbye_then_a_bye() {
    let s = server();
    for t in ["udp", "tcp"] {
        let r = run(&s, "pin_wrong_by_info.xml", t, "board");
        // "wrong PIN" and "goodbye" last 3.2 s: the BYE comes after them.
        let gap = bye_after_last_info(&r);
        assert!(
            (2.5..10.0).contains(&gap),
            "over {t} the BYE came {gap:.3} s after the last digit\n{r}\n{}",
            s.log()
        );
    }
    let log = s.log();
    assert_eq!(log.matches("wrong PIN").count(), 6, "{log}");
    assert_eq!(log.matches("tries=3").count(), 2, "{log}");
    assert!(!log.contains("joined"), "{log}");
}

/// The same three wrong PINs with the digits sent back to back (as a
/// gateway relaying a whole string would): the goodbye is cut off because a
/// PlayDone left over from an earlier stopped prompt reaches the endpoint
/// after the third wrong PIN and is taken for the end of the goodbye.
#[test]
fn three_wrong_pins_sent_at_once_still_get_the_goodbye() {
    let s = server();
    let xml = std::fs::read_to_string(common::root().join("sipp-scenarios/pin_wrong_by_info.xml"))
        .unwrap()
        .replace("<pause milliseconds=\"250\"/>", "");
    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("pin_wrong_by_info_fast.xml");
    std::fs::write(&fast, xml).unwrap();
    let r = run(&s, fast.to_str().unwrap(), "udp", "board");
    let gap = bye_after_last_info(&r);
    assert!(
        gap >= 2.5,
        "the BYE came {gap:.3} s after the last digit\n{r}\n{}",
        s.log()
    );
}

#[test]
fn the_right_pin_by_inband_tones_joins_the_room() {
    let s = server();
    run(&s, "pin_inband_dtmf.xml", "udp", "board");
    let log = s.log();
    assert!(log.contains("room=board position=1"), "{log}");
    assert!(!log.contains("wrong PIN"), "{log}");
}

#[test]
fn inband_tones_for_another_rooms_pin_are_a_wrong_pin() {
    // The tones say 4321#; this room's PIN is 9999.
    let s = server();
    run(&s, "pin_inband_dtmf.xml", "udp", "other");
    let log = s.log();
    assert_eq!(log.matches("wrong PIN").count(), 1, "{log}");
    assert!(!log.contains("joined"), "{log}");
}

#[test]
fn the_right_pin_by_rfc4733_events_joins_the_room() {
    let s = server();
    run(&s, "pin_rfc4733.xml", "udp", "board");
    let log = s.log();
    assert!(log.contains("room=board position=1"), "{log}");
    assert!(!log.contains("wrong PIN"), "{log}");
}
