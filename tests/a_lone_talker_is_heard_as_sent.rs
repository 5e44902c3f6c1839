//! Two Opus phones, each sending its own tone, dial a room: each hears the
//! other alone, so the server sends it the other phone's own packets rather
//! than a second encoding of the same audio (`dialroom_mixer_passed_on_total`
//! counts them), and each hears the other's tone and not its own. When a
//! third phone (PCMU) joins, every mix holds two talkers: everything is
//! encoded again and everyone hears both others.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, tone_amplitude, window};
use std::time::Duration;

const PASSED_ON: &str = "dialroom_mixer_passed_on_total";

#[test]
fn opus_talkers_who_hear_one_other_get_its_packets_and_its_tone() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    s.start();
    let room = format!("sip:5150@127.0.0.1:{}", s.sip_port);
    let mut alice = Baresip::start("alice", 440, "opus/48000/2", "");
    let mut bob = Baresip::start("bob", 700, "opus/48000/2", "");
    alice.dial(&room);
    bob.dial(&room);
    std::thread::sleep(Duration::from_secs(3));
    let p1 = s.metric(PASSED_ON).unwrap_or(0.0);
    std::thread::sleep(Duration::from_secs(2));
    let p2 = s.metric(PASSED_ON).unwrap_or(0.0);
    let mut carol = Baresip::start("carol", 1100, "pcmu", "");
    carol.dial(&room);
    std::thread::sleep(Duration::from_secs(3));
    let p3 = s.metric(PASSED_ON).unwrap_or(0.0);
    std::thread::sleep(Duration::from_secs(2));
    let p4 = s.metric(PASSED_ON).unwrap_or(0.0);
    alice.stop();
    bob.stop();
    carol.stop();
    let (xa, ra) = alice.received();
    let (xb, rb) = bob.received();
    let (xc, rc) = carol.received();
    let level = |x: &[i16], rate, from, to, f| tone_amplitude(window(x, rate, from, to), rate, f);
    let diag = format!(
        "passed on: {p1} at 3 s, {p2} at 5 s, {p3} at 8 s, {p4} at 10 s\n\
         alice [2-4.5 s]: 440={:.0} 700={:.0}; [8-10 s]: 700={:.0} 1100={:.0}\n\
         bob [2-4.5 s]: 440={:.0} 700={:.0}; [8-10 s]: 440={:.0} 1100={:.0}\n\
         carol [2.5-4.5 s of hers]: 440={:.0} 700={:.0} 1100={:.0}\n--- server log:\n{}",
        level(&xa, ra, 2.0, 4.5, 440.0),
        level(&xa, ra, 2.0, 4.5, 700.0),
        level(&xa, ra, 8.0, 10.0, 700.0),
        level(&xa, ra, 8.0, 10.0, 1100.0),
        level(&xb, rb, 2.0, 4.5, 440.0),
        level(&xb, rb, 2.0, 4.5, 700.0),
        level(&xb, rb, 8.0, 10.0, 440.0),
        level(&xb, rb, 8.0, 10.0, 1100.0),
        level(&xc, rc, 2.5, 4.5, 440.0),
        level(&xc, rc, 2.5, 4.5, 700.0),
        level(&xc, rc, 2.5, 4.5, 1100.0),
        s.log()
    );
    eprintln!("{diag}");
    // Two talkers, both hearing only the other: 2 x 50 packets a second
    // passed on (allow for the odd frame a jitter buffer conceals).
    assert!(
        p2 - p1 > 150.0,
        "two Opus talkers' packets are not passed on\n{diag}"
    );
    // Three talkers: every mix holds two of them, so nothing is passed on.
    assert!(
        p4 - p3 < 10.0,
        "packets passed on while every mix holds two talkers\n{diag}"
    );
    for (x, rate, own, other) in [(&xa, ra, 440.0, 700.0), (&xb, rb, 700.0, 440.0)] {
        let heard = level(x, rate, 2.0, 4.5, other);
        assert!(heard > 1000.0, "{own} Hz does not hear {other} Hz\n{diag}");
        assert!(
            level(x, rate, 2.0, 4.5, own) < 0.1 * heard,
            "{own} Hz hears itself\n{diag}"
        );
    }
    // Carol's recording starts when she does, 5 s after the others.
    for (x, rate, from, others) in [
        (&xa, ra, 8.0, [700.0, 1100.0]),
        (&xb, rb, 8.0, [440.0, 1100.0]),
        (&xc, rc, 2.5, [440.0, 700.0]),
    ] {
        for f in others {
            assert!(
                level(x, rate, from, from + 2.0, f) > 1000.0,
                "{f} Hz is not heard by all three\n{diag}"
            );
        }
    }
}
