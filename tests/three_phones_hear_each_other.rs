//! Three baresip phones on three codecs (PCMU, G.722, Opus), each sending its
//! own tone, dial the same room. Each one's recording holds the other two
//! tones and not its own. Then one goes on hold (re-INVITE sendonly): the
//! others stop hearing it; it resumes and they hear it again.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, tone_amplitude, window};
use std::time::Duration;

fn hears(x: &[i16], rate: u32, freq: f64) -> f64 {
    tone_amplitude(x, rate, freq)
}

#[test]
fn three_codecs_mix_and_hold_takes_a_leg_out() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    s.start();
    let room = format!("sip:1234@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 700, "g722/16000/1", "");
    let mut c = Baresip::start("carol", 1100, "opus/48000/2", "");
    a.dial(&room);
    b.dial(&room);
    c.dial(&room);
    std::thread::sleep(Duration::from_secs(5));
    // t = 5 s: bob holds for 4 s
    let r = b.ctrl("hold", "");
    std::thread::sleep(Duration::from_secs(4));
    let r2 = b.ctrl("resume", "");
    std::thread::sleep(Duration::from_secs(4));
    a.stop();
    c.stop();
    b.stop();
    let log = s.log();
    let (xa, ra) = a.received();
    let (xb, rb) = b.received();
    let (xc, rc) = c.received();
    let report = |name: &str, x: &[i16], rate: u32, from: f64, to: f64| {
        let w = window(x, rate, from, to);
        format!(
            "{name} [{from}-{to}s]: 440={:.0} 700={:.0} 1100={:.0}",
            hears(w, rate, 440.0),
            hears(w, rate, 700.0),
            hears(w, rate, 1100.0)
        )
    };
    let diag = format!(
        "{}\n{}\n{}\n{}\n{}\nhold: {r}\nresume: {r2}\n--- server log:\n{log}",
        report("alice", &xa, ra, 2.0, 4.5),
        report("alice", &xa, ra, 6.0, 8.5),
        report("alice", &xa, ra, 10.0, 12.0),
        report("bob", &xb, rb, 2.0, 4.5),
        report("carol", &xc, rc, 2.0, 4.5),
    );
    eprintln!("{diag}");
    // Everyone hears the other two and not themselves.
    for (x, rate, own, others) in [
        (&xa, ra, 440.0, [700.0, 1100.0]),
        (&xb, rb, 700.0, [440.0, 1100.0]),
        (&xc, rc, 1100.0, [440.0, 700.0]),
    ] {
        let w = window(x, rate, 2.0, 4.5);
        for f in others {
            assert!(hears(w, rate, f) > 1000.0, "does not hear {f} Hz\n{diag}");
        }
        assert!(
            hears(w, rate, own) < 0.1 * hears(w, rate, others[0]),
            "hears itself at {own} Hz\n{diag}"
        );
    }
    // While bob is on hold, alice does not hear him but still hears carol.
    let held = window(&xa, ra, 6.0, 8.5);
    assert!(
        hears(held, ra, 700.0) < 100.0,
        "bob is heard while on hold\n{diag}"
    );
    assert!(
        hears(held, ra, 1100.0) > 1000.0,
        "carol is not heard while bob is on hold\n{diag}"
    );
    // After resume, alice hears bob again.
    let back = window(&xa, ra, 10.0, 12.0);
    assert!(
        hears(back, ra, 700.0) > 1000.0,
        "bob is not heard after resume\n{diag}"
    );
}
