//! `*6` on the phone mutes the caller (the others stop hearing it) and
//! unmutes it again; `*1` and `#` only play prompts to the caller, so the
//! others keep hearing it throughout. `*1` says the right number: what the
//! caller hears matches the shipped "3" prompt, not the "2" or "4" one.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, tone_amplitude, window};
use std::time::Duration;

#[test]
fn star_six_mutes_then_unmutes_the_caller() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
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

/// 16 kHz mono prompt samples, as shipped.
fn prompt(name: &str) -> Vec<f64> {
    let path = common::root().join(format!("dialplans/prompts/{name}.wav"));
    let mut r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 16000);
    r.samples::<i16>().map(|s| f64::from(s.unwrap())).collect()
}

/// Averages pairs down to half the rate (a crude low-pass with it).
fn halve(x: &[f64]) -> Vec<f64> {
    x.chunks_exact(2).map(|p| (p[0] + p[1]) / 2.0).collect()
}

/// The best normalized cross-correlation of `needle` anywhere in `hay`.
fn best_match(hay: &[f64], needle: &[f64]) -> f64 {
    let nn: f64 = needle.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut best = 0.0f64;
    for lag in 0..hay.len().saturating_sub(needle.len()) {
        let w = &hay[lag..lag + needle.len()];
        let dot: f64 = w.iter().zip(needle).map(|(a, b)| a * b).sum();
        let wn: f64 = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        if wn > 0.0 {
            best = best.max(dot / (wn * nn));
        }
    }
    best
}

/// `*1` says how many are in the room: with three callers, what the one who
/// pressed it hears matches the shipped "3" prompt better than the "2" and
/// "4" ones (normalized cross-correlation at 4 kHz, over its recording).
#[test]
fn star_one_says_how_many_are_in_the_room() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    s.start();
    let room = format!("sip:4343@127.0.0.1:{}", s.sip_port);
    let mut alice = Baresip::start("alice", 440, "pcmu", "");
    let mut bob = Baresip::start("bob", 1000, "pcmu", "");
    let mut carol = Baresip::start("carol", 1500, "pcmu", "");
    for p in [&alice, &bob, &carol] {
        p.dial(&room);
    }
    std::thread::sleep(Duration::from_secs(5));
    alice.ctrl("sndcode", "*1");
    std::thread::sleep(Duration::from_secs(5));
    alice.stop();
    bob.stop();
    carol.stop();
    let (x, rate) = alice.received();
    assert_eq!(rate, 8000);
    let secs = x.len() as f64 / 8000.0;
    let heard: Vec<f64> = window(&x, rate, (secs - 6.5).max(0.0), secs)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let heard = halve(&heard);
    let score = |n: &str| best_match(&heard, &halve(&halve(&prompt(n))));
    let (two, three, four) = (score("count_2"), score("count_3"), score("count_4"));
    eprintln!("*1 with three in the room: count_2 {two:.3}, count_3 {three:.3}, count_4 {four:.3}");
    assert!(
        three > 0.25,
        "the count prompt is not heard: {three:.3}\n{}",
        s.log()
    );
    assert!(
        three > two + 0.08 && three > four + 0.08,
        "heard 2 {two:.3} / 3 {three:.3} / 4 {four:.3}"
    );
}
