//! Dial-out through a trunk, with a second dialroom playing the provider:
//! its registered user carol (a baresip answering by itself) has the number
//! 5550199 there, and the provider challenges every INVITE (no trunk by
//! source address), so our INVITE must answer the 401 with the trunk's
//! account. The dialplan's `[[dialout]]` rules say what may be dialled: a
//! premium number is refused, a national `0...` number goes through the
//! provider rewritten to `555...`, anything else is refused.
//!
//! * An operator (the admin API) calls carol into a room where a local
//!   caller is: carol hears the room and the room hears carol (tones), and
//!   the operator hangs her up again.
//! * A browser moderator (the meeting page in Chromium, Rayo `<dial>` to
//!   the focus) does the same: the page hears carol's tone and carol hears
//!   the page's; a refused number is shown as refused; the page hangs up.

mod common;
use common::{Baresip, Server, api_token, root, tone_amplitude, tone_wav, window};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIALOUT_RULES: &str = "[[dialout]]\nname = \"no premium\"\nto = '^0900'\naction = \"reject\"\nreason = \"Premium numbers are not allowed\"\n\n\
     [[dialout]]\nname = \"national through the provider\"\nto = '^0(\\d+)$'\naction = \"dial\"\ntrunk = \"prov\"\nnumber = \"555$1\"\n";

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

/// The provider (users acct and carol; 5550199 rings carol) and carol's
/// phone, registered there, sending `carol_hz`.
fn provider(carol_hz: u32) -> (Server, Baresip) {
    let mut p = Server::new("");
    p.write_dialplan(
        "[[route]]\nname = \"carol's number\"\nto = '^5550199$'\naction = \"user\"\nuser = \"carol\"\ntimeout = 20\n",
    );
    p.add_user("acct", "secret");
    p.add_user("carol", "pw");
    p.start();
    let carol = Baresip::start_registered("carol", "pw", p.sip_port, carol_hz, "pcmu");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&p.cli(&["registrations"]).stdout).contains("carol") {
        assert!(
            Instant::now() < deadline,
            "carol never registered:\n{}",
            carol.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (p, carol)
}

/// Our server's trunk to the provider.
fn trunk_to(p: &Server) -> String {
    format!(
        "[[trunk]]\nname = \"prov\"\nregistrar = \"127.0.0.1:{}\"\nusername = \"acct\"\npassword = \"secret\"\n\
         [[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n",
        p.sip_port
    )
}

fn wait_registered(d: &Server, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, b) = d.http("GET", "/api/v1/trunks", Some(token), None);
        if json(&b)["trunks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "prov" && t["registration"]["state"] == "registered")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never registered: {b}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The room as the API shows it (null when it is not live).
fn room(d: &Server, token: &str, name: &str) -> Value {
    let (_, b) = d.http("GET", "/api/v1/rooms", Some(token), None);
    json(&b)["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool, diag: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}\n{}", diag());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_operator_calls_a_phone_at_the_provider_into_a_room_and_hangs_it_up() {
    let (p, carol) = provider(440);
    let mut d = Server::with("", &trunk_to(&p));
    d.write_dialplan(&format!(
        "[[route]]\nname = \"rooms\"\nto = '^(room-\\d+)$'\naction = \"conference\"\nroom = \"$1\"\n\n{DIALOUT_RULES}"
    ));
    d.start();
    let token = api_token(&d, "ops", "admin");
    wait_registered(&d, &token);
    let diag = || format!("{}\n--- provider ---\n{}", d.log(), p.log());

    let mut bob = Baresip::start("bob", 1000, "pcmu", "");
    bob.dial(&format!("sip:room-1@127.0.0.1:{}", d.sip_port));
    let bob_start = Instant::now();
    wait_for(
        "bob never joined",
        10,
        || {
            room(&d, &token, "room-1")["participants"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        },
        diag,
    );

    // What the dialplan does not allow is refused, with why, as JSON.
    let dial = |number: &str| {
        d.http(
            "POST",
            "/api/v1/rooms/room-1/dial",
            Some(&token),
            Some(&format!("{{\"number\": \"{number}\"}}")),
        )
    };
    let (code, b) = dial("0900123456");
    assert_eq!(code, 403, "{b}");
    assert_eq!(json(&b)["error"]["code"], "dialout_not_allowed", "{b}");
    assert!(b.contains("Premium numbers are not allowed"), "{b}");
    let (code, b) = dial("4711");
    assert_eq!(code, 403, "no rule allows it: {b}");
    let (code, b) = dial("sip:x@evil.example");
    assert_eq!(code, 400, "{b}");
    assert_eq!(json(&b)["error"]["code"], "bad_number", "{b}");
    let (code, b) = d.http(
        "POST",
        "/api/v1/rooms/room-1/dial",
        Some(&token),
        Some("{\"nmber\": \"00199\"}"),
    );
    assert_eq!(code, 400, "{b}");

    // Carol is called through the provider (with digest auth) and joins.
    let (code, b) = dial("00199");
    assert_eq!(code, 202, "{b}");
    let started = json(&b);
    assert_eq!(started["number"], "5550199", "{b}");
    assert_eq!(started["trunk"], "prov", "{b}");
    assert_eq!(started["rule"], "national through the provider", "{b}");
    let id = started["id"].as_u64().unwrap();
    wait_for(
        "carol never joined the room",
        15,
        || {
            room(&d, &token, "room-1")["participants"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["id"] == id))
        },
        diag,
    );
    let answered = bob_start.elapsed().as_secs_f64();
    assert!(
        d.log().contains("dial-out challenged: sending credentials"),
        "{}",
        diag()
    );
    std::thread::sleep(Duration::from_secs(5));

    // The operator hangs her up: she leaves the room, the provider's call ends.
    let (code, b) = d.http(
        "POST",
        &format!("/api/v1/rooms/room-1/participants/{id}/kick"),
        Some(&token),
        None,
    );
    assert_eq!(code, 204, "{b}");
    let hung_up = bob_start.elapsed().as_secs_f64();
    let ptoken = api_token(&p, "ops", "admin");
    wait_for(
        "the provider's call did not end",
        10,
        || {
            let (_, b) = p.http("GET", "/api/v1/rooms", Some(&ptoken), None);
            json(&b)["rooms"].as_array().is_some_and(|a| a.is_empty())
        },
        diag,
    );
    let r = room(&d, &token, "room-1");
    assert_eq!(r["participants"].as_array().unwrap().len(), 1, "{r}");
    bob.stop();
    let mut carol = carol;
    carol.stop();

    // Both ways, by tone: carol hears bob (1000 Hz), bob hears carol (440 Hz).
    let (x, rate) = carol.received();
    let secs = x.len() as f64 / f64::from(rate);
    let w = window(&x, rate, (secs - 3.5).max(0.5), secs - 0.5);
    let (hear, own) = (
        tone_amplitude(w, rate, 1000.0),
        tone_amplitude(w, rate, 440.0),
    );
    eprintln!("carol ({secs:.1} s): 1000 Hz {hear:.0}, own 440 Hz {own:.0}");
    assert!(
        hear > 1000.0 && hear > 5.0 * own.max(1.0),
        "{hear} {own}\n{}",
        diag()
    );
    let (y, rate) = bob.received();
    let w = window(&y, rate, answered + 1.5, hung_up - 0.5);
    let (hear, own) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    eprintln!("bob: 440 Hz {hear:.0}, own 1000 Hz {own:.0}");
    assert!(
        hear > 1000.0 && hear > 5.0 * own.max(1.0),
        "{hear} {own}\n{}",
        diag()
    );
}

#[test]
fn a_browser_moderator_calls_a_phone_into_the_room_hears_it_and_hangs_it_up() {
    let (p, mut carol) = provider(1000);
    let (mut d, _port) = common::with_sfu_and(&trunk_to(&p));
    d.write_dialplan(&format!(
        "[[route]]\nname = \"rooms\"\nto = '^(room-\\d+)$'\naction = \"conference\"\nroom = \"$1\"\n\n{DIALOUT_RULES}"
    ));
    d.start();
    let token = api_token(&d, "ops", "admin");
    wait_registered(&d, &token);
    let wav = tone_wav(d.dir.path(), 440);
    let shot = match std::env::var_os("DIALROOM_SCREENSHOTS") {
        Some(dir) => root().join(dir).join("meet-dial.png"),
        None => d.dir.path().join("meet-dial.png"),
    };
    let o = Command::new("node")
        .arg(root().join("tests/browser/meet_dial.mjs"))
        .arg(format!("http://127.0.0.1:{}", d.web_port))
        .arg("room-7")
        .arg(&wav)
        .args(["00199", "0900123", "1000", "440"])
        .arg(&shot)
        .stdin(Stdio::null())
        .output()
        .expect("node (scripts/deps.sh test installs it)");
    carol.stop();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let diag = format!(
        "page: {stdout}\n{}\n--- server log:\n{}\n--- provider log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log(),
        p.log()
    );
    assert!(o.status.success(), "{diag}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {diag}"));
    assert_eq!(v["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(v["state"], "joined", "{diag}");
    assert_eq!(v["role"], "moderator", "{diag}");
    // The premium number is refused by the dialplan, and the page says so.
    assert_eq!(v["refused"], "not-allowed", "{diag}");
    assert!(
        v["banner"]
            .as_str()
            .unwrap_or("")
            .contains("Premium numbers are not allowed"),
        "{diag}"
    );
    // The call: a `<ref>` to an occupant, who shows up as a phone participant.
    let id = v["dialed"].as_str().unwrap_or("");
    assert!(id.starts_with("phone-"), "{diag}");
    assert_eq!(v["phone"]["id"], id, "{diag}");
    assert_eq!(v["phone"]["phone"], true, "{diag}");
    // The page hears carol's tone, not its own or an unused one.
    let lv = |k: &str| v["levels"][k].as_f64().unwrap_or(f64::NAN);
    assert!(lv("phone") > 0.2, "{diag}");
    assert!(lv("phone") > 20.0 * lv("own"), "{diag}");
    assert!(lv("phone") > 20.0 * lv("other"), "{diag}");
    // Hung up from the page: gone from the room.
    assert_eq!(v["hangup"], "result", "{diag}");
    assert_eq!(v["gone"], true, "{diag}");
    // Carol heard the page.
    let (x, rate) = carol.received();
    let secs = x.len() as f64 / f64::from(rate);
    let w = window(&x, rate, (secs - 3.0).max(0.5), secs - 0.5);
    let (hear, own) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    eprintln!("carol ({secs:.1} s): 440 Hz {hear:.0}, own 1000 Hz {own:.0}");
    assert!(
        hear > 1000.0 && hear > 5.0 * own.max(1.0),
        "{hear} {own}\n{diag}"
    );
    assert!(d.log().contains("xmpp:room-7@conference."), "{diag}");
}
