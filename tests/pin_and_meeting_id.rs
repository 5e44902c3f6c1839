//! Menus by DTMF (RFC 4733 from baresip): a PIN room lets in whoever types
//! the right PIN and politely hangs up on three wrong ones; the `ivr` route
//! asks for a meeting id from the database, then its PIN. Admission is
//! checked by what the phones hear of each other.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, tone_amplitude, window};
use std::time::Duration;

const PLAN: &str = r#"
[[route]]
name = "board"
to = '^board$'
action = "conference"
room = "board"
pin = "4321"

[[route]]
name = "meeting id"
to = '^dialin$'
action = "ivr"
"#;

fn server() -> Server {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/test.toml"), PLAN).unwrap();
    s.start();
    s
}

fn heard(b: &Baresip, freq: f64, from: f64, to: f64) -> f64 {
    let (x, rate) = b.received();
    tone_amplitude(window(&x, rate, from, to), rate, freq)
}

#[test]
fn the_right_pin_joins_and_three_wrong_ones_hang_up() {
    let s = server();
    let uri = format!("sip:board@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "g722/16000/1", "");
    let mut c = Baresip::start("carol", 700, "pcmu", "");
    a.dial(&uri);
    b.dial(&uri);
    c.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    a.ctrl("sndcode", "4321#");
    b.ctrl("sndcode", "4321#");
    // baresip sends a digit every ~240 ms and drops the rest of a sequence
    // when a new one is asked for: leave each sequence time to finish.
    for _ in 0..3 {
        c.ctrl("sndcode", "1111#");
        std::thread::sleep(Duration::from_millis(3000));
    }
    std::thread::sleep(Duration::from_secs(3));
    a.stop();
    b.stop();
    c.stop();
    let log = s.log();
    assert_eq!(log.matches("wrong PIN").count(), 3, "{log}");
    assert_eq!(log.matches("joined").count(), 2, "{log}");
    // carol was hung up on: the server sent BYE
    assert!(
        c.log().contains("closed") || c.log().contains("terminated"),
        "{}",
        c.log()
    );
    // alice and bob hear each other (late in the call, after prompts), never carol
    let (a_bob, b_alice) = (heard(&a, 1000.0, 8.0, 10.0), heard(&b, 440.0, 8.0, 10.0));
    assert!(
        a_bob > 1000.0 && b_alice > 1000.0,
        "alice hears bob {a_bob:.0}, bob hears alice {b_alice:.0}\n{log}"
    );
    assert!(
        heard(&a, 700.0, 2.0, 10.0) < 100.0,
        "carol got into the room\n{log}"
    );
}

#[test]
fn a_meeting_id_from_the_database_leads_to_its_room_then_its_pin() {
    let s = server();
    let o = s.cli(&[
        "meeting", "add", "98765", "--room", "weekly", "--pin", "1212",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let uri = format!("sip:dialin@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "opus/48000/2", "");
    a.dial(&uri);
    b.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    // a wrong id first, then the right one, then the PIN
    // baresip sends a digit every ~240 ms and drops the rest of a sequence
    // when a new one is asked for: leave each sequence time to finish.
    a.ctrl("sndcode", "11111#");
    b.ctrl("sndcode", "98765#");
    std::thread::sleep(Duration::from_millis(3000));
    a.ctrl("sndcode", "98765#");
    b.ctrl("sndcode", "1212#");
    std::thread::sleep(Duration::from_millis(3000));
    a.ctrl("sndcode", "1212#");
    std::thread::sleep(Duration::from_secs(6));
    a.stop();
    b.stop();
    let log = s.log();
    assert_eq!(log.matches("unknown meeting id").count(), 1, "{log}");
    assert_eq!(log.matches("joined").count(), 2, "{log}");
    assert!(log.contains("room=weekly"), "{log}");
    let (a_bob, b_alice) = (heard(&a, 1000.0, 11.0, 13.0), heard(&b, 440.0, 11.0, 13.0));
    assert!(
        a_bob > 1000.0 && b_alice > 1000.0,
        "alice hears bob {a_bob:.0}, bob hears alice {b_alice:.0}\n{log}"
    );
}
