//! @xmpp/client (npm; tests/browser/xmpp_client.mjs) over `/xmpp-websocket`
//! against the real binary with the SFU: it logs in anonymously, sends the
//! focus's conference IQ (answered ready), joins the MUC and receives a
//! Jingle session-initiate whose audio and video contents carry ICE
//! credentials, the SFU's host candidate and the DTLS fingerprint (and, in
//! a room with a phone caller in it, that caller's source). Malformed
//! stanzas get errors and the session goes on.

mod common;
use common::{Baresip, LOOPBACK_TRUNK, root, with_sfu_and};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn xmpp_client_from_npm_joins_and_is_offered_the_sfus_transport_and_the_rooms_sources() {
    let (mut s, sfu_port) = with_sfu_and(LOOPBACK_TRUNK);
    s.start();
    let phone = Baresip::start("5550001111", 1000, "pcmu", "");
    phone.dial(&format!("sip:2468@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(1));
    let o = Command::new("node")
        .arg(root().join("tests/browser/xmpp_client.mjs"))
        .arg(format!("ws://127.0.0.1:{}/xmpp-websocket", s.web_port))
        .arg("localhost")
        .arg("room-2468")
        .stdin(Stdio::null())
        .output()
        .expect("node (scripts/deps.sh test installs it)");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let diag = format!(
        "{stdout}\n{}\n--- server log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        s.log()
    );
    assert!(o.status.success(), "{diag}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {diag}"));
    assert_eq!(v["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(v["anonymous"], true, "{diag}");
    assert_eq!(v["conference"]["ready"], "true", "{diag}");
    assert_eq!(
        v["conference"]["focusjid"], "focus@auth.localhost",
        "{diag}"
    );

    let init = &v["initiate"];
    assert_eq!(
        init["from"], "room-2468@conference.localhost/focus",
        "{diag}"
    );
    let contents = init["contents"]
        .as_array()
        .unwrap_or_else(|| panic!("{diag}"));
    let media: Vec<&str> = contents
        .iter()
        .map(|c| c["media"].as_str().unwrap())
        .collect();
    assert_eq!(media, ["audio", "video"], "{diag}");
    for c in contents {
        assert!(c["ufrag"].as_str().is_some_and(|u| u.len() >= 4), "{diag}");
        assert!(c["pwd"].as_str().is_some_and(|p| p.len() >= 22), "{diag}");
        assert_eq!(c["fingerprint"]["hash"], "sha-256", "{diag}");
        assert_eq!(
            c["fingerprint"]["value"].as_str().unwrap().len(),
            95,
            "{diag}"
        );
        assert_eq!(
            c["candidates"][0],
            format!("udp 127.0.0.1:{sfu_port} host"),
            "{diag}"
        );
    }
    assert!(
        contents[0]["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "opus"),
        "{diag}"
    );
    assert!(
        contents[1]["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "VP8"),
        "{diag}"
    );
    // The phone caller already in the room is offered as a source.
    assert_eq!(
        contents[0]["sources"].as_array().unwrap().len(),
        1,
        "{diag}"
    );

    assert_eq!(
        v["malformed"],
        serde_json::json!(["bad-request", "bad-request", "service-unavailable"]),
        "{diag}"
    );
    assert_eq!(v["ping_after"], true, "{diag}");
    assert!(s.is_running());
}

/// An operator mutes and kicks a browser participant through the admin API:
/// the browser (@xmpp/client) gets the focus's mute IQ and then leaves the
/// room with status 307; unmuting it is refused (it unmutes itself).
#[test]
fn an_operator_mutes_and_kicks_a_browser_participant_with_the_api() {
    use std::io::{BufRead, BufReader, Read};
    let (mut s, _) = with_sfu_and("");
    s.start();
    let token = common::api_token(&s, "ops", "admin");
    let mut node = Command::new("node")
        .arg(root().join("tests/browser/xmpp_client.mjs"))
        .arg(format!("ws://127.0.0.1:{}/xmpp-websocket", s.web_port))
        .arg("localhost")
        .arg("web-only")
        .arg("stay")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (scripts/deps.sh test installs it)");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("joined "), "{first}\n{}", s.log());
    // Call control learns of the browser from the hub.
    let mut id = None;
    for _ in 0..50 {
        let (_, body) = s.http("GET", "/api/v1/rooms", Some(&token), None);
        let v: Value = serde_json::from_str(&body).unwrap();
        id = v["rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == "web-only")
            .flat_map(|r| r["participants"].as_array().cloned().unwrap_or_default())
            .find(|p| p["kind"] == "browser")
            .and_then(|p| p["id"].as_u64());
        if id.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = id.unwrap_or_else(|| panic!("the browser is not listed\n{}", s.log()));
    let path = |what: &str| format!("/api/v1/rooms/web-only/participants/{id}/{what}");
    let (code, body) = s.http(
        "POST",
        &path("mute"),
        Some(&token),
        Some(r#"{"muted":false}"#),
    );
    assert_eq!(
        (code, body.contains("browser_unmute")),
        (409, true),
        "{body}"
    );
    let (code, body) = s.http(
        "POST",
        &path("mute"),
        Some(&token),
        Some(r#"{"muted":true}"#),
    );
    assert_eq!(code, 204, "{body}");
    let (code, body) = s.http("POST", &path("kick"), Some(&token), None);
    assert_eq!(code, 204, "{body}");
    let rest: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    let mut err = String::new();
    let _ = node.stderr.take().unwrap().read_to_string(&mut err);
    let _ = node.wait();
    let v: Value =
        serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest}\n{err}"));
    assert_eq!(
        v["mute"]["from"], "web-only@conference.localhost/focus",
        "{v}"
    );
    assert_eq!(v["mute"]["value"], "true", "{v}");
    assert!(
        v["kicked"]["codes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "307")),
        "{v}"
    );
    // Gone from the room, which has emptied.
    let (_, body) = s.http("GET", "/api/v1/rooms", Some(&token), None);
    assert!(!body.contains("web-only"), "{body}");
}
