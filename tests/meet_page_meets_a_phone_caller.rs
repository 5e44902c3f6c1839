//! The meeting page and a phone in one room (issue: web participants,
//! first acceptance point): a baresip phone (1000 Hz, G.711) dials room
//! 4321; Chromium (playwright-core, tests/browser/meet_phone.mjs) opens
//! `/meet/room-4321` with a fake microphone playing 440 Hz. The page lists
//! the caller as on the phone with its number masked, and its WebAudio
//! analysis of the incoming audio finds the phone's tone (not its own, not
//! an unused one); the phone's recording holds the browser's tone and not
//! its own. The page (the room's moderator) then starts a recording through
//! the focus (Jitsi's jibri IQ): the recording indicator appears, a
//! recording started by that occupant exists, and stopping it takes the
//! indicator away.

mod common;
use common::{
    Baresip, LOOPBACK_TRUNK, api_token, opusdec, root, tone_amplitude, tone_wav, window,
    with_sfu_and,
};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_browser_and_a_phone_caller_hear_each_other_and_the_browser_records_the_room() {
    let (mut s, _port) = with_sfu_and(LOOPBACK_TRUNK);
    s.start();
    let mut phone = Baresip::start("5551234567", 1000, "pcmu", "");
    phone.dial(&format!("sip:4321@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(1));
    let wav = tone_wav(s.dir.path(), 440);
    let shot = s.dir.path().join("meet-phone.png");
    let o = Command::new("node")
        .arg(root().join("tests/browser/meet_phone.mjs"))
        .arg(format!("http://127.0.0.1:{}", s.web_port))
        .arg("room-4321")
        .arg(&wav)
        .args(["1000", "440"])
        .arg(&shot)
        .stdin(Stdio::null())
        .output()
        .expect("node (scripts/deps.sh test installs it)");
    phone.stop();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let log = s.log();
    let (x, rate) = phone.received();
    let w = window(&x, rate, 3.0, 6.0);
    let (p440, p1000) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    let diag = format!(
        "page: {stdout}\n{}\nphone heard 440={p440:.0} 1000={p1000:.0}\n--- server log:\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{diag}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {diag}"));
    assert_eq!(v["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(v["state"], "joined", "{diag}");

    // The page lists the caller, on the phone, number masked.
    assert_eq!(v["phone"]["phone"], true, "{diag}");
    assert_eq!(v["phone"]["name"], "Phone …4567", "{diag}");
    assert_eq!(v["talking"], true, "{diag}");

    // The page hears the phone's tone (G.711 and back: about half the
    // power lands on 1000 Hz), not its own or an unused frequency.
    let lv = |k: &str| v["levels"][k].as_f64().unwrap_or(f64::NAN);
    assert!(lv("phone") > 0.2, "{diag}");
    assert!(lv("phone") > 20.0 * lv("own"), "{diag}");
    assert!(lv("phone") > 20.0 * lv("other"), "{diag}");

    // The phone hears the browser's tone, not its own.
    assert!(p440 > 1000.0, "the phone does not hear the browser\n{diag}");
    assert!(p1000 < 0.1 * p440, "the phone hears itself\n{diag}");

    // Recording from the page: the indicator comes and goes, and the job
    // is the browser's.
    assert_eq!(v["role"], "moderator", "{diag}");
    assert_eq!(v["record_start"], "result", "{diag}");
    assert_eq!(v["recording_on"], true, "{diag}");
    assert_eq!(v["record_stop"], "result", "{diag}");
    assert_eq!(v["recording_off"], true, "{diag}");
    let token = api_token(&s, "t", "viewer");
    let (code, body) = s.http("GET", "/api/v1/recordings", Some(&token), None);
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let recs = list["recordings"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let rec = recs
        .iter()
        .find(|r| {
            r["room"] == "room-4321"
                && r["started_by"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("xmpp:room-4321@conference.localhost/"))
        })
        .unwrap_or_else(|| panic!("no recording started from the page: {body}\n{diag}"));
    // The recording (the room mix, decoded by opusdec) holds both the
    // browser's tone and the phone's: browser audio reaches the recorded mix.
    let file = rec["files"][0].as_str().unwrap();
    let (y, yrate) = opusdec(&s.dir.path().join("data/recordings").join(file));
    let seconds = y.len() as f64 / f64::from(yrate);
    let w = window(&y, yrate, 0.2, seconds - 0.2);
    let (r440, r1000) = (
        tone_amplitude(w, yrate, 440.0),
        tone_amplitude(w, yrate, 1000.0),
    );
    assert!(
        seconds > 1.0 && r440 > 1000.0 && r1000 > 1000.0,
        "the recording ({seconds:.1} s) holds 440={r440:.0} 1000={r1000:.0}\n{diag}"
    );
    if std::env::var_os("DIALROOM_SCREENSHOTS").is_some() {
        std::fs::copy(&shot, root().join("docs/meet-page-recording.png")).unwrap();
    }
    assert!(!log.contains("panicked"), "{log}");
}
