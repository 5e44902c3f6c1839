//! `*6` on the phone mutes the caller (the others stop hearing it) and
//! unmutes it again; `*1` and `#` only play prompts to the caller, so the
//! others keep hearing it throughout.

mod common;
use common::{Baresip, Server, tone_amplitude, window};
use std::time::Duration;

const TRUNK: &str = "[[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n";

#[test]
fn star_six_mutes_then_unmutes_the_caller() {
    let mut s = Server::with("", TRUNK);
    s.start();
    let room = format!("sip:4242@127.0.0.1:{}", s.sip_port);
    let mut alice = Baresip::start("alice", 440, "pcmu", "");
    let mut bob = Baresip::start("bob", 1000, "pcmu", "");
    alice.dial(&room);
    bob.dial(&room);
    std::thread::sleep(Duration::from_secs(4));
    alice.ctrl("sndcode", "*1"); // a prompt for alice only
    std::thread::sleep(Duration::from_secs(2));
    alice.ctrl("sndcode", "*6"); // mute
    std::thread::sleep(Duration::from_secs(4));
    alice.ctrl("sndcode", "*6"); // unmute
    std::thread::sleep(Duration::from_secs(4));
    alice.stop();
    bob.stop();
    let (x, r) = bob.received();
    let at = |a: f64, b: f64| tone_amplitude(window(&x, r, a, b), r, 440.0);
    let (before, muted, after) = (at(2.0, 3.5), at(7.5, 9.5), at(11.5, 13.5));
    let log = s.log();
    assert!(
        before > 1000.0,
        "bob does not hear alice before *6: {before:.0}\n{log}"
    );
    assert!(
        muted < 100.0,
        "bob hears alice while she is muted: {muted:.0}\n{log}"
    );
    assert!(
        after > 1000.0,
        "bob does not hear alice after the second *6: {after:.0}\n{log}"
    );
}
