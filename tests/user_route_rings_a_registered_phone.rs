//! The dialplan's `user` action rings the phone a user registered from:
//! baresip registers as bob (digest auth), alice calls bob, bob's phone
//! answers by itself, and the two hear each other (PCMU on one side, G.722
//! on the other: the mixer transcodes). Calling a user who is not
//! registered gets 480.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, sipp_args, tone_amplitude, window};
use std::time::{Duration, Instant};

const PLAN: &str = r#"
[[route]]
name = "people"
to = '^(bob|carol)$'
action = "user"
user = "$1"
timeout = 15
"#;

#[test]
fn calling_a_registered_user_rings_its_phone_and_connects_audio() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/people.toml"), PLAN).unwrap();
    s.add_user("bob", "secret");
    s.add_user("carol", "secret");
    s.start();
    let mut bob = Baresip::start_registered("bob", "secret", s.sip_port, 1000, "g722/16000/1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = s.cli(&["registrations"]);
        if String::from_utf8_lossy(&o.stdout).contains("bob\t") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob did not register:\n{}\n{}",
            bob.log(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut alice = Baresip::start("alice", 440, "pcmu", "");
    alice.dial(&format!("sip:bob@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(5));
    alice.stop();
    std::thread::sleep(Duration::from_millis(500));
    bob.stop();
    let log = s.log();
    assert!(log.contains("ringing"), "{log}");
    assert!(log.contains("answered"), "{log}");
    let (xa, ra) = alice.received();
    let (xb, rb) = bob.received();
    let a_hears = tone_amplitude(window(&xa, ra, 1.5, 3.5), ra, 1000.0);
    let b_hears = tone_amplitude(window(&xb, rb, 1.5, 3.5), rb, 440.0);
    assert!(
        a_hears > 1000.0 && b_hears > 1000.0,
        "alice hears bob {a_hears:.0}, bob hears alice {b_hears:.0}\n{log}"
    );
    // carol has no phone registered: 480
    let run = sipp_args(
        "call_user_unavailable.xml",
        "udp",
        s.sip_port,
        &["-s", "carol"],
    );
    assert!(run.ok, "{}\n{}", run.output, s.log());
}

/// A phone registered over TCP is rung over its own connection (it may be
/// reachable no other way), and the call connects audio both ways.
#[test]
fn a_phone_registered_over_tcp_is_rung_over_its_connection() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/people.toml"), PLAN).unwrap();
    s.add_user("carol", "secret");
    s.start();
    let mut carol =
        Baresip::start_registered_over("carol", "secret", s.sip_port, 1000, "pcmu", "tcp");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = String::from_utf8_lossy(&s.cli(&["registrations"]).stdout).into_owned();
        if o.contains("carol\t") {
            assert!(
                o.contains("tcp:"),
                "carol registered, but not over TCP: {o}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "carol did not register:\n{}\n{}",
            carol.log(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut alice = Baresip::start("alice", 440, "pcmu", "");
    alice.dial(&format!("sip:carol@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(5));
    alice.stop();
    std::thread::sleep(Duration::from_millis(500));
    carol.stop();
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.contains("ringing") && l.contains("transport=tcp")),
        "{log}"
    );
    let (xa, ra) = alice.received();
    let (xc, rc) = carol.received();
    let a_hears = tone_amplitude(window(&xa, ra, 1.5, 3.5), ra, 1000.0);
    let c_hears = tone_amplitude(window(&xc, rc, 1.5, 3.5), rc, 440.0);
    assert!(
        a_hears > 1000.0 && c_hears > 1000.0,
        "alice hears carol {a_hears:.0}, carol hears alice {c_hears:.0}\n{log}\n{}",
        carol.log()
    );
}
