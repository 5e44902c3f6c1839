//! `*8` from a moderator on the phone starts and stops the room's
//! recording (a member's `*8` does nothing); a recording stops by itself at
//! `[recorder] max_duration_s`, and the file then holds that much audio.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, api_token, opusdec};
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

fn get(s: &Server, token: &str, path: &str) -> Value {
    let (code, b) = s.http("GET", path, Some(token), None);
    assert_eq!(code, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap()
}

fn board_recording(s: &Server, token: &str) -> Option<Value> {
    get(s, token, "/api/v1/rooms")["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "board")
        .map(|r| r["recording"].clone())
}

fn wait<T>(s: &Server, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_moderator_records_by_star8_and_the_maximum_length_stops_it() {
    let mut s = Server::with(
        "",
        &format!("{LOOPBACK_TRUNK}[recorder]\ndir = \"recordings\"\nmax_duration_s = 3\n"),
    );
    s.write_dialplan(PLAN);
    s.start();
    let token = api_token(&s, "wall", "viewer");
    let uri = format!("sip:board@127.0.0.1:{}", s.sip_port);
    let mut m = Baresip::start("mod", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "pcmu", "");
    m.dial(&uri);
    b.dial(&uri);
    std::thread::sleep(Duration::from_millis(2500));
    m.ctrl("sndcode", "8765#");
    b.ctrl("sndcode", "4321#");
    wait(&s, "both in the room", || {
        let r = get(&s, &token, "/api/v1/rooms");
        (r["rooms"][0]["participants"].as_array().map_or(0, Vec::len) == 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));

    // A member's *8 records nothing.
    b.ctrl("sndcode", "*8");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(board_recording(&s, &token), Some(Value::Null));

    // The moderator's *8 starts one; it stops by itself after 3 s.
    m.ctrl("sndcode", "*8");
    let first = wait(&s, "*8 starts a recording", || {
        board_recording(&s, &token).and_then(|r| r.as_str().map(str::to_string))
    });
    let r = wait(&s, "max_duration ends it", || {
        let r = get(&s, &token, &format!("/api/v1/recordings/{first}"));
        (r["state"] == "done").then_some(r)
    });
    assert_eq!(r["reason"], "max_duration reached", "{r}");
    assert!(
        r["started_by"].as_str().unwrap().starts_with("dtmf:"),
        "{r}"
    );
    let (x, rate) = opusdec(
        &s.dir
            .path()
            .join("recordings")
            .join(format!("{first}.opus")),
    );
    let secs = x.len() as f64 / f64::from(rate);
    assert!((secs - 3.0).abs() < 0.05, "max 3 s, plays {secs:.3} s");
    wait(&s, "the room is no longer recorded", || {
        (board_recording(&s, &token) == Some(Value::Null)).then_some(())
    });

    // *8 again starts a new one, and *8 once more stops it.
    m.ctrl("sndcode", "*8");
    let second = wait(&s, "*8 starts another", || {
        board_recording(&s, &token).and_then(|r| r.as_str().map(str::to_string))
    });
    assert_ne!(first, second);
    std::thread::sleep(Duration::from_millis(1500));
    m.ctrl("sndcode", "*8");
    let r = wait(&s, "*8 stops it", || {
        let r = get(&s, &token, &format!("/api/v1/recordings/{second}"));
        (r["state"] == "done").then_some(r)
    });
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped by dtmf:"),
        "{r}"
    );
    m.stop();
    b.stop();
}
