//! A room with two baresip callers (440 Hz and 1000 Hz) is recorded through
//! the JSON API with per-participant tracks. The Ogg Opus file decodes with
//! opusdec; its length is the recorded span within 100 ms, where the span
//! is what the server reports: from the recording's first frame
//! (`started_at`) to its stop (`ended_at`); both tones are in the mix and
//! each track holds only its caller's tone; the same again with the worker
//! as a process of its own (`dialroom recorder`). Another test records a room
//! by its dialplan route (`record = true`) until the room empties.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, api_token, opusdec, tone_amplitude, window};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

fn room_size(s: &Server, token: &str, room: &str) -> usize {
    let (_, b) = s.http("GET", "/api/v1/rooms", Some(token), None);
    json(&b)["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room)
        .map_or(0, |r| r["participants"].as_array().unwrap().len())
}

fn wait_room(s: &Server, token: &str, room: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while room_size(s, token, room) != n {
        assert!(
            Instant::now() < deadline,
            "room {room} never had {n}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for a recording to reach a final state; returns its row.
pub fn wait_final(s: &Server, token: &str, id: &str) -> Value {
    common::wait_recording(s, token, id, 15, common::is_closed, &|| s.log())
}

/// GET a binary body with a bearer token (the body after the headers).
fn download(s: &Server, path: &str, token: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.web_port)).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = Vec::new();
    c.read_to_end(&mut r).unwrap();
    assert!(
        r.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&r[..r.len().min(300)])
    );
    let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    r[at..].to_vec()
}

fn rec_dir(s: &Server) -> PathBuf {
    s.dir.path().join("recordings")
}

#[test]
fn a_recorded_room_decodes_with_both_tones_and_one_track_per_caller() {
    record_two_callers(false);
}

/// The same, with the worker as a process of its own (`dialroom recorder`,
/// `[recorder] in_process = false`): it takes the job from the database and
/// the frames from the server's tap; the files and the row are the same.
#[test]
fn a_recorder_process_records_the_room_from_the_servers_tap() {
    record_two_callers(true);
}

fn record_two_callers(external: bool) {
    let mode = if external { "in_process = false\n" } else { "" };
    let mut s = Server::with(
        "",
        &format!("{LOOPBACK_TRUNK}[recorder]\ndir = \"recordings\"\n{mode}"),
    );
    s.start();
    let worker = external.then(|| s.start_recorder());
    let admin = api_token(&s, "ops", "admin");
    let room_uri = format!("sip:1234@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "pcmu", "");
    a.dial(&room_uri);
    b.dial(&room_uri);
    let (_, rooms) = s.http("GET", "/api/v1/rooms", Some(&admin), None);
    let _ = rooms;
    // The room's name as the API shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let room = loop {
        let (_, b) = s.http("GET", "/api/v1/rooms", Some(&admin), None);
        let v = json(&b);
        if let Some(r) = v["rooms"].as_array().unwrap().first()
            && r["participants"].as_array().unwrap().len() == 2
        {
            break r["name"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "callers never met\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    let path = format!("/api/v1/rooms/{room}/recording");
    let (code, body) = s.http(
        "POST",
        &path,
        Some(&admin),
        Some(r#"{"recording":true,"tracks":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let (_, rooms) = s.http("GET", "/api/v1/rooms", Some(&admin), None);
    assert!(rooms.contains(&id), "the room shows its recording: {rooms}");
    std::thread::sleep(Duration::from_secs(6));
    let (code, body) = s.http("POST", &path, Some(&admin), Some(r#"{"recording":false}"#));
    assert_eq!(code, 200, "{body}");
    let r = wait_final(&s, &admin, &id);
    a.stop();
    b.stop();
    if let Some(w) = worker {
        common::terminate(w);
        let log = std::fs::read_to_string(s.dir.path().join("recorder.log")).unwrap();
        assert!(log.contains("recording taken"), "{log}");
        assert!(s.log().contains("recorder worker opened the tap"));
        assert!(r["worker"].as_str().unwrap().contains(":recorder:"), "{r}");
    }
    assert_eq!(r["state"], "done", "{r}\n{}", s.log());
    assert_eq!(r["reason"], "stopped by api:ops", "{r}");
    assert_eq!(r["started_by"], "api:ops");
    let span = r["ended_at"].as_i64().unwrap() - r["started_at"].as_i64().unwrap();
    let files: Vec<String> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files[0], format!("{id}.opus"), "{r}");
    assert!(files.contains(&format!("{id}.json")), "{r}");

    // The mix: decoded length = the recorded span (within 100 ms), both tones.
    let (x, rate) = opusdec(&rec_dir(&s).join(&files[0]));
    let decoded_ms = x.len() as i64 * 1000 / i64::from(rate);
    let diag = format!("span {span} ms, decoded {decoded_ms} ms, row {r}");
    eprintln!("{diag}");
    assert!((decoded_ms - span).abs() <= 100, "{diag}");
    assert!(
        (decoded_ms - r["duration_ms"].as_i64().unwrap()).abs() <= 20,
        "{diag}"
    );
    assert!(span > 5500 && span < 7500, "{diag}");
    let w = window(&x, rate, 1.0, 5.0);
    let (a440, a1000) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    assert!(
        a440 > 1000.0 && a1000 > 1000.0,
        "mix 440={a440:.0} 1000={a1000:.0}\n{diag}"
    );

    // One track per caller, each with only its own tone.
    let tracks: Vec<&String> = files.iter().filter(|f| f.contains("-leg")).collect();
    assert_eq!(tracks.len(), 2, "{r}");
    let mut seen = Vec::new();
    for t in tracks {
        let (x, rate) = opusdec(&rec_dir(&s).join(t));
        let w = window(&x, rate, 1.0, 5.0);
        let (a440, a1000) = (
            tone_amplitude(w, rate, 440.0),
            tone_amplitude(w, rate, 1000.0),
        );
        eprintln!("{t}: 440={a440:.0} 1000={a1000:.0}");
        let (own, other) = if a440 > a1000 {
            (a440, a1000)
        } else {
            (a1000, a440)
        };
        assert!(
            own > 1000.0 && own > 10.0 * other.max(1.0),
            "{t}: 440={a440:.0} 1000={a1000:.0}"
        );
        seen.push(a440 > a1000);
    }
    seen.sort();
    assert_eq!(seen, [false, true], "one track per tone");

    // The sidecar says who joined and talked.
    let side: Value =
        json(&std::fs::read_to_string(rec_dir(&s).join(format!("{id}.json"))).unwrap());
    assert_eq!(side["participants"].as_array().unwrap().len(), 2, "{side}");
    assert!(
        side["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "joined")
            .count()
            == 2,
        "{side}"
    );
    assert!(!side["talk"].as_array().unwrap().is_empty(), "{side}");
    // ... by name: each caller's display name, on its track and its events.
    let names = side["names"].as_object().unwrap();
    assert_eq!(names.len(), 2, "{side}");
    for p in side["participants"].as_array().unwrap() {
        let leg = p["participant"].to_string();
        assert_eq!(p["name"], names[&leg], "{side}");
        assert!(!p["name"].as_str().unwrap().is_empty(), "{side}");
    }
    assert!(
        side["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"].is_string()),
        "{side}"
    );

    // Download, list, delete.
    let got = download(&s, &format!("/api/v1/recordings/{id}/file"), &admin);
    assert_eq!(
        got,
        std::fs::read(rec_dir(&s).join(&files[0])).unwrap(),
        "download = the file"
    );
    let (code, body) = s.http("GET", "/api/v1/recordings", Some(&admin), None);
    assert!(code == 200 && body.contains(&id), "{body}");
    let (code, _) = s.http(
        "DELETE",
        &format!("/api/v1/recordings/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 204);
    assert!(!rec_dir(&s).join(&files[0]).exists());
    let (code, _) = s.http(
        "GET",
        &format!("/api/v1/recordings/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 404);
}

#[test]
fn a_record_route_records_from_the_first_join_until_the_room_empties() {
    let mut s = Server::with(
        "",
        &format!("{LOOPBACK_TRUNK}[recorder]\ndir = \"recordings\"\n"),
    );
    s.write_dialplan(
        "[[route]]\nname = \"board\"\nto = '^board$'\naction = \"conference\"\nroom = \"board\"\nrecord = true\n",
    );
    s.start();
    let viewer = api_token(&s, "wall", "viewer");
    let uri = format!("sip:board@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    let mut b = Baresip::start("bob", 1000, "pcmu", "");
    a.dial(&uri);
    b.dial(&uri);
    wait_room(&s, &viewer, "board", 2);
    std::thread::sleep(Duration::from_secs(4));
    a.stop();
    b.stop();
    wait_room(&s, &viewer, "board", 0);
    let (_, body) = s.http("GET", "/api/v1/recordings", Some(&viewer), None);
    let list = json(&body)["recordings"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{body}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    let r = wait_final(&s, &viewer, &id);
    assert_eq!(r["state"], "done", "{r}\n{}", s.log());
    assert_eq!(r["started_by"], "dialplan:board");
    assert_eq!(r["reason"], "room empty");
    let (x, rate) = opusdec(&rec_dir(&s).join(format!("{id}.opus")));
    let w = window(&x, rate, 1.0, 3.5);
    assert!(tone_amplitude(w, rate, 440.0) > 1000.0 && tone_amplitude(w, rate, 1000.0) > 1000.0);
    assert!(s.log().contains("recording started"));
}
