//! `[recorder] dir` cannot be created (a regular file is in the way): the
//! recording started through the API fails with a reason that names the
//! directory, and the call goes on: the two callers still hear each other.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, api_token, tone_amplitude, window};
use serde_json::Value;
use std::time::{Duration, Instant};

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

#[test]
fn an_unwritable_directory_fails_the_recording_and_the_call_goes_on() {
    let mut s = Server::with(
        "",
        &format!("{LOOPBACK_TRUNK}[recorder]\ndir = \"blocked/recordings\"\n"),
    );
    std::fs::write(s.dir.path().join("blocked"), "a file, not a directory").unwrap();
    s.start();
    let token = api_token(&s, "ops", "admin");
    let uri = format!("sip:1234@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "pcmu", "");
    let t0 = Instant::now();
    a.dial(&uri);
    b.dial(&uri);
    let deadline = Instant::now() + Duration::from_secs(10);
    let room = loop {
        let (_, body) = s.http("GET", "/api/v1/rooms", Some(&token), None);
        let v = json(&body);
        if let Some(r) = v["rooms"].as_array().unwrap().first()
            && r["participants"].as_array().unwrap().len() == 2
        {
            break r["name"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "callers never met\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, body) = s.http(
        "POST",
        &format!("/api/v1/rooms/{room}/recording"),
        Some(&token),
        Some(r#"{"recording":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let failed_at = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let (_, b) = s.http(
            "GET",
            &format!("/api/v1/recordings/{id}"),
            Some(&token),
            None,
        );
        let r = json(&b);
        if r["state"] == "failed" || r["state"] == "done" {
            break r;
        }
        assert!(Instant::now() < deadline, "still {r}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(r["state"], "failed", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot create") && reason.contains("blocked"),
        "{reason}"
    );
    // The room is no longer shown as recorded, and the call goes on.
    std::thread::sleep(Duration::from_secs(4));
    let (_, body) = s.http("GET", "/api/v1/rooms", Some(&token), None);
    let rooms = json(&body);
    assert_eq!(
        rooms["rooms"][0]["participants"].as_array().unwrap().len(),
        2
    );
    assert!(rooms["rooms"][0]["recording"].is_null(), "{rooms}");
    a.stop();
    b.stop();
    let (x, rate) = b.received();
    // After the failed start (and its announcement), bob still hears alice.
    let w = window(&x, rate, failed_at + 1.5, failed_at + 3.5);
    let heard = tone_amplitude(w, rate, 440.0);
    assert!(
        heard > 1000.0,
        "bob hears alice after the failure: {heard:.0}"
    );
}
