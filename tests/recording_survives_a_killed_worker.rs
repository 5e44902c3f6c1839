//! The recorder worker is killed (`kill -9`) in the middle of a recording:
//! the Ogg file on disk still decodes (with opusdec) up to about the kill;
//! after a restart the job is closed (`done` with the reason it was
//! recovered, or `failed` with a reason) and never stays `recording`. Once
//! as the in-process worker (killing the server that runs it), once as a
//! `dialroom recorder` process of its own, where the call goes on and the
//! server keeps running; and a job that no worker takes fails with a reason.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, Server, api_token, opusdec, tone_amplitude, window};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A copy of the killed job's mix decodes with opusdec, about up to the
/// kill (pages are flushed every second), with the caller's tone in it.
/// Returns its length and rate.
fn plays_up_to_the_kill(s: &Server, file: &std::path::Path, killed_after: f64) -> (f64, u32) {
    let copy = s.dir.path().join("copy.opus");
    std::fs::copy(file, &copy).unwrap();
    let (x, rate) = opusdec(&copy);
    let secs = x.len() as f64 / f64::from(rate);
    eprintln!("killed after {killed_after:.2} s; the file plays {secs:.2} s");
    assert!(
        secs > killed_after - 1.6 && secs <= killed_after + 0.1,
        "plays {secs:.2} s, killed after {killed_after:.2} s"
    );
    let w = window(&x, rate, 1.0, secs - 0.2);
    assert!(tone_amplitude(w, rate, 440.0) > 1000.0, "the tone is in it");
    (secs, rate)
}

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

#[test]
fn a_killed_worker_leaves_a_file_that_plays_and_a_restart_closes_the_job() {
    let mut s = Server::with(
        "",
        &format!("{LOOPBACK_TRUNK}[recorder]\ndir = \"recordings\"\n"),
    );
    s.write_dialplan(
        "[[route]]\nname = \"rec\"\nto = '^rec$'\naction = \"conference\"\nroom = \"rec\"\nrecord = true\n",
    );
    s.start();
    let token = api_token(&s, "ops", "admin");
    let uri = format!("sip:rec@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    a.dial(&uri);
    // Wait for the recording to be running.
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let (_, b) = s.http("GET", "/api/v1/recordings", Some(&token), None);
        if let Some(r) = json(&b)["recordings"].as_array().unwrap().first()
            && r["state"] == "recording"
        {
            break r["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no recording\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    s.kill9();
    let killed_after = started.elapsed().as_secs_f64();
    a.stop();

    // What is on disk decodes, up to about the kill (pages every second).
    let file = s.dir.path().join("recordings").join(format!("{id}.opus"));
    let (secs, rate) = plays_up_to_the_kill(&s, &file, killed_after);

    // Restart: the job is closed with a reason, never left `recording`.
    s.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let (code, b) = s.http(
            "GET",
            &format!("/api/v1/recordings/{id}"),
            Some(&token),
            None,
        );
        assert_eq!(code, 200, "{b}");
        let r = json(&b);
        if r["state"] == "done" || r["state"] == "failed" {
            break r;
        }
        assert!(Instant::now() < deadline, "still {r}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("{r}");
    assert_eq!(r["state"], "done", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("recovered"), "{reason}");
    let d = r["duration_ms"].as_i64().unwrap() as f64 / 1000.0;
    assert!(
        (d - secs).abs() < 0.05,
        "row says {d} s, file plays {secs} s"
    );
    // The repaired file still decodes.
    let (y, _) = opusdec(&file);
    assert!((y.len() as f64 / f64::from(rate) - secs).abs() < 0.05);
}

/// Waits for recording `id` to be done or failed; returns its row.
fn wait_closed(s: &Server, token: &str, id: &str, log: &dyn Fn() -> String) -> Value {
    common::wait_recording(s, token, id, 10, common::is_closed, log)
}

/// Waits for recording `id` to be written (`recording`).
fn wait_writing(s: &Server, token: &str, id: &str, log: &dyn Fn() -> String) {
    common::wait_recording(s, token, id, 10, |r| r["state"] == "recording", log);
}

/// Starts a recording of `room` through the API; returns its id.
fn start_recording(s: &Server, token: &str, room: &str) -> String {
    let (code, body) = s.http(
        "POST",
        &format!("/api/v1/rooms/{room}/recording"),
        Some(token),
        Some(r#"{"recording":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    json(&body)["id"].as_str().unwrap().to_string()
}

#[test]
fn a_killed_recorder_process_leaves_a_file_that_plays_and_its_restart_closes_the_job() {
    let mut s = Server::with(
        "",
        &format!(
            "{LOOPBACK_TRUNK}[recorder]\ndir = \"recordings\"\nin_process = false\nclaim_timeout_s = 2\n"
        ),
    );
    s.start();
    let token = api_token(&s, "ops", "admin");
    let uri = format!("sip:5555@127.0.0.1:{}", s.sip_port);
    let mut a = Baresip::start("alice", 440, "pcmu", "");
    a.dial(&uri);
    let deadline = Instant::now() + Duration::from_secs(10);
    let room = loop {
        let (_, b) = s.http("GET", "/api/v1/rooms", Some(&token), None);
        if let Some(r) = json(&b)["rooms"].as_array().unwrap().first() {
            break r["name"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no room\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let rec_path = s.dir.path().join("recorder.log");
    let rec_log = move || std::fs::read_to_string(&rec_path).unwrap_or_default();

    // No worker runs: the job fails after the claim timeout, with why.
    let lonely = start_recording(&s, &token, &room);
    let r = wait_closed(&s, &token, &lonely, &|| s.log());
    assert_eq!(r["state"], "failed", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("no recorder worker took the job"),
        "{r}"
    );

    // A worker takes the next one.
    let mut worker = s.start_recorder();
    let id = start_recording(&s, &token, &room);
    wait_writing(&s, &token, &id, &rec_log);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    worker.kill().unwrap();
    worker.wait().unwrap();
    let killed_after = started.elapsed().as_secs_f64();

    // The call goes on: the server runs, the caller is still in the room,
    // and the room is no longer marked as recorded.
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.is_running(), "the server died with its worker");
    let (_, b) = s.http("GET", "/api/v1/rooms", Some(&token), None);
    let rooms = json(&b);
    let live = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room.as_str())
        .unwrap_or_else(|| panic!("the room is gone: {rooms}"));
    assert_eq!(live["participants"].as_array().unwrap().len(), 1, "{live}");
    assert!(!b.contains(&id), "still marked as recorded: {b}");
    assert!(s.log().contains("the recorder worker closed the tap"));

    // What is on disk decodes, up to about the kill (pages every second).
    let file = s.dir.path().join("recordings").join(format!("{id}.opus"));
    let (secs, rate) = plays_up_to_the_kill(&s, &file, killed_after);

    // The restarted worker closes the job with a reason.
    let worker = s.start_recorder();
    let r = wait_closed(&s, &token, &id, &rec_log);
    eprintln!("{r}");
    assert_eq!(r["state"], "done", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("recovered"), "{reason}");
    let d = r["duration_ms"].as_i64().unwrap() as f64 / 1000.0;
    assert!(
        (d - secs).abs() < 0.05,
        "row says {d} s, file plays {secs} s"
    );
    let (y, _) = opusdec(&file);
    assert!((y.len() as f64 / f64::from(rate) - secs).abs() < 0.05);

    // And records the next one; stopping the worker (SIGTERM) closes it
    // properly, with that reason.
    let next = start_recording(&s, &token, &room);
    wait_writing(&s, &token, &next, &rec_log);
    std::thread::sleep(Duration::from_secs(2));
    common::terminate(worker);
    let r = wait_closed(&s, &token, &next, &rec_log);
    assert_eq!(r["state"], "done", "{r}");
    assert_eq!(r["reason"], "the recorder worker stopped", "{r}");
    let (z, _) = opusdec(&s.dir.path().join("recordings").join(format!("{next}.opus")));
    assert!(z.len() as f64 / f64::from(rate) > 1.5, "{r}");
    a.stop();
}
