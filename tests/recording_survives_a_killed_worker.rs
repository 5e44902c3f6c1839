//! The in-process recorder worker is killed (`kill -9` of the server, which
//! runs it) in the middle of a recording: the Ogg file on disk still decodes
//! (with opusdec) up to about the kill; after a restart the job is closed
//! (`done` with the reason it was recovered, or `failed` with a reason) and
//! never stays `recording`.

mod common;
use common::{Baresip, Server, api_token, opusdec, tone_amplitude, window};
use serde_json::Value;
use std::time::{Duration, Instant};

const TRUNK: &str = "[[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n";

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

#[test]
fn a_killed_worker_leaves_a_file_that_plays_and_a_restart_closes_the_job() {
    let mut s = Server::with("", &format!("{TRUNK}[recorder]\ndir = \"recordings\"\n"));
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
    let copy = s.dir.path().join("copy.opus");
    std::fs::copy(&file, &copy).unwrap();
    let (x, rate) = opusdec(&copy);
    let secs = x.len() as f64 / f64::from(rate);
    eprintln!("killed after {killed_after:.2} s; the file plays {secs:.2} s");
    assert!(
        secs > killed_after - 1.6 && secs <= killed_after + 0.1,
        "plays {secs:.2} s, killed after {killed_after:.2} s"
    );
    let w = window(&x, rate, 1.0, secs - 0.2);
    assert!(tone_amplitude(w, rate, 440.0) > 1000.0, "the tone is in it");

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
