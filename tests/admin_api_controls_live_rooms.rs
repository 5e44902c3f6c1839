//! The JSON API's live-room actions against the real binary and a SIPp
//! caller: an operator lists rooms, mutes and locks, and kicks the caller,
//! who then gets a BYE from the server (sipp-scenarios/kicked_by_operator.xml).
//! Tokens come from `dialroom token add`; a viewer token reads but cannot
//! change anything, and every refusal is JSON with a stable code.

mod common;
use common::{LOOPBACK_TRUNK, Server, sipp_args};
use serde_json::Value;
use std::time::{Duration, Instant};

fn token(s: &Server, name: &str, role: &str) -> String {
    let o = s.cli(&["token", "add", name, "--role", role]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(t.starts_with("drt_") && t.len() > 40, "token {t:?}");
    t
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

fn error_code(body: &str) -> String {
    json(body)["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The rooms as the API lists them.
fn rooms(s: &Server, token: &str) -> Vec<Value> {
    let (code, body) = s.http("GET", "/api/v1/rooms", Some(token), None);
    assert_eq!(code, 200, "{body}");
    json(&body)["rooms"].as_array().cloned().unwrap_or_default()
}

#[test]
fn an_operator_mutes_locks_and_kicks_a_caller_who_then_gets_a_bye() {
    // RTP timeout far beyond the scenario's 30 s: only the kick can end the call.
    let mut s = Server::with_media("", "rtp_timeout = 300", LOOPBACK_TRUNK);
    s.start();
    let admin = token(&s, "ops", "admin");
    let viewer = token(&s, "wallboard", "viewer");

    // No token, or a made-up one: 401 with a JSON error.
    let (code, body) = s.http("GET", "/api/v1/rooms", None, None);
    assert_eq!((code, error_code(&body).as_str()), (401, "unauthorized"));
    let (code, body) = s.http("GET", "/api/v1/rooms", Some("drt_made_up"), None);
    assert_eq!((code, error_code(&body).as_str()), (401, "unauthorized"));
    assert!(rooms(&s, &viewer).is_empty());

    let port = s.sip_port;
    let caller = std::thread::spawn(move || {
        sipp_args("kicked_by_operator.xml", "udp", port, &["-s", "1234"])
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let (room, id) = loop {
        let r = rooms(&s, &viewer);
        if let Some(room) = r.first() {
            let p = &room["participants"][0];
            break (
                room["name"].as_str().unwrap().to_string(),
                p["id"].as_u64().unwrap(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "the caller never showed up\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let p = &rooms(&s, &viewer)[0]["participants"][0];
    assert_eq!(p["kind"], "phone");
    assert_eq!(p["muted"], false);
    let base = format!("/api/v1/rooms/{room}");
    let kick = format!("{base}/participants/{id}/kick");
    let mute = format!("{base}/participants/{id}/mute");

    // A viewer cannot change anything.
    for (path, body) in [
        (kick.as_str(), None),
        (mute.as_str(), Some(r#"{"muted":true}"#)),
        (&format!("{base}/lock") as &str, Some(r#"{"locked":true}"#)),
    ] {
        let (code, b) = s.http("POST", path, Some(&viewer), body);
        assert_eq!(
            (code, error_code(&b).as_str()),
            (403, "forbidden"),
            "{path}"
        );
    }

    // Bad requests are 400/404 with their codes and change nothing.
    let (code, b) = s.http("POST", &mute, Some(&admin), Some(r#"{"muted":"yes"}"#));
    assert_eq!((code, error_code(&b).as_str()), (400, "bad_request"), "{b}");
    let (code, b) = s.http("POST", &mute, Some(&admin), Some("{"));
    assert_eq!((code, error_code(&b).as_str()), (400, "bad_request"), "{b}");
    let (code, b) = s.http(
        "POST",
        &format!("{base}/participants/{}/kick", id + 1000),
        Some(&admin),
        None,
    );
    assert_eq!(
        (code, error_code(&b).as_str()),
        (404, "participant_not_found")
    );
    let (code, b) = s.http(
        "POST",
        &format!("/api/v1/rooms/nowhere/participants/{id}/kick"),
        Some(&admin),
        None,
    );
    assert_eq!((code, error_code(&b).as_str()), (404, "room_not_found"));
    let (code, b) = s.http(
        "POST",
        &format!("{base}/participants/x/kick"),
        Some(&admin),
        None,
    );
    assert_eq!((code, error_code(&b).as_str()), (400, "bad_request"));
    assert_eq!(rooms(&s, &viewer)[0]["participants"][0]["muted"], false);

    // Mute and lock, as an admin.
    let (code, b) = s.http("POST", &mute, Some(&admin), Some(r#"{"muted":true}"#));
    assert_eq!(code, 204, "{b}");
    let (code, b) = s.http(
        "POST",
        &format!("{base}/lock"),
        Some(&admin),
        Some(r#"{"locked":true}"#),
    );
    assert_eq!(code, 204, "{b}");
    let r = rooms(&s, &viewer);
    assert_eq!(r[0]["participants"][0]["muted"], true);
    assert_eq!(r[0]["locked"], true);
    assert!(!caller.is_finished(), "the caller is still in the call");

    // The kick: the caller gets the server's BYE (the scenario checks it) at once.
    let t0 = Instant::now();
    let (code, b) = s.http("POST", &kick, Some(&admin), None);
    assert_eq!(code, 204, "{b}");
    let run = caller.join().unwrap();
    assert!(
        run.ok,
        "kicked_by_operator.xml failed:\n{}\n{}",
        run.output,
        s.log()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "BYE came {:?} after the kick",
        t0.elapsed()
    );
    assert!(s.log().contains("kicked by an operator"));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !rooms(&s, &viewer).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the room outlived its last caller"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Kicking again: the participant is gone.
    let (code, b) = s.http("POST", &kick, Some(&admin), None);
    assert_eq!((code, error_code(&b).as_str()), (404, "room_not_found"));
}
