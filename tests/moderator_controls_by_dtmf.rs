//! In-room controls for a moderator on the phone (RFC 4733 from baresip):
//! `*7` mutes everyone else (the moderator stops hearing them), `*5` locks
//! the room (a caller with the right PIN is then turned away, another
//! moderator still gets in) and unlocks it again. The room's state is read back through the JSON API; what the
//! moderator hears is checked on its recording.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, tone_amplitude, window};
use serde_json::Value;
use std::time::{Duration, Instant};

const PLAN: &str = r#"
[[route]]
name = "board"
to = '^board$'
action = "conference"
room = "board"
pin = "4321"
moderator_pin = "8765"
"#;

fn board(s: &Server, token: &str) -> Option<Value> {
    let (code, body) = s.http("GET", "/api/v1/rooms", Some(token), None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "board")
        .cloned()
}

/// Waits up to 8 s for the board room to satisfy `cond`.
fn wait_for(s: &Server, token: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(r) = board(s, token)
            && cond(&r)
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: room is {:?}\n{}",
            board(s, token),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count(r: &Value) -> usize {
    r["participants"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_moderator_mutes_the_others_and_locks_the_room_by_dtmf() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/test.toml"), PLAN).unwrap();
    s.start();
    let o = s.cli(&["token", "add", "test", "--role", "viewer"]);
    assert!(o.status.success());
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();

    let uri = format!("sip:board@127.0.0.1:{}", s.sip_port);
    let mut m = Baresip::start("mod", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "pcmu", "");
    let t0 = Instant::now();
    m.dial(&uri);
    b.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    m.ctrl("sndcode", "8765#");
    b.ctrl("sndcode", "4321#");
    let r = wait_for(&s, &token, "both in the room", |r| count(r) == 2);
    let moderators: Vec<bool> = r["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["moderator"].as_bool().unwrap())
        .collect();
    assert_eq!(
        moderators.iter().filter(|&&x| x).count(),
        1,
        "one moderator: {r}"
    );
    assert_eq!(r["locked"], false);
    // Both talk for a while: the moderator hears bob.
    std::thread::sleep(Duration::from_secs(3));
    let before = t0.elapsed().as_secs_f64();

    m.ctrl("sndcode", "*7");
    let r = wait_for(&s, &token, "*7 mutes bob", |r| {
        r["participants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["muted"] == !p["moderator"].as_bool().unwrap())
    });
    let muted_at = t0.elapsed().as_secs_f64();
    assert_eq!(r["locked"], false, "{r}");
    std::thread::sleep(Duration::from_secs(3));

    m.ctrl("sndcode", "*5");
    wait_for(&s, &token, "*5 locks", |r| r["locked"] == true);
    // A caller with the right PIN is turned away from the locked room.
    let mut c = Baresip::start("carol", 700, "pcmu", "");
    c.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    c.ctrl("sndcode", "4321#");
    std::thread::sleep(Duration::from_secs(4));
    let r = board(&s, &token).unwrap();
    assert_eq!(count(&r), 2, "carol got into a locked room: {r}");
    assert!(
        s.log()
            .contains("join refused after the menu: the room is locked"),
        "{}",
        s.log()
    );

    // Another moderator still gets in (its PIN is checked before the lock).
    let mut d = Baresip::start("dave", 1500, "pcmu", "");
    d.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    d.ctrl("sndcode", "8765#");
    wait_for(&s, &token, "a moderator joins the locked room", |r| {
        count(r) == 3
    });

    m.ctrl("sndcode", "*5");
    wait_for(&s, &token, "*5 again unlocks", |r| r["locked"] == false);
    let end = t0.elapsed().as_secs_f64();
    m.stop();
    b.stop();
    c.stop();
    d.stop();

    // What the moderator heard (its recording starts when its call does, a
    // little after t0: windows are kept well inside each phase).
    let (x, rate) = m.received();
    let heard = |from: f64, to: f64| tone_amplitude(window(&x, rate, from, to), rate, 1000.0);
    let talking = heard(before - 2.0, before - 0.5);
    let silenced = heard(muted_at + 1.0, end - 1.5);
    assert!(
        talking > 500.0,
        "the moderator heard bob before *7: {talking:.0}"
    );
    assert!(
        silenced < talking / 20.0,
        "bob still heard after *7: {silenced:.0} (before: {talking:.0})"
    );
}
