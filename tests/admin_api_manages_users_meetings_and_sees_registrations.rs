//! Users, meeting ids and registrations through the JSON API: a user added
//! by the API registers with SIPp and shows up with its source address and
//! expiry; a reset password is the one SIP checks; removing the user ends
//! it; meeting ids are checked like `dialroom meeting add`.

mod common;
use common::{Server, sipp};
use serde_json::{Value, json};
use std::time::Duration;

fn api(s: &Server, t: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string());
    let (code, text) = s.http(method, path, Some(t), b.as_deref());
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {code} {text:?}"))
    };
    (code, v)
}

#[test]
fn users_added_by_the_api_register_and_meeting_ids_are_checked() {
    let mut s = Server::new("");
    s.start();
    let o = s.cli(&["token", "add", "ops", "--role", "admin"]);
    let t = String::from_utf8(o.stdout).unwrap().trim().to_string();

    let (code, v) = api(
        &s,
        &t,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "alice", "password": "first"})),
    );
    assert_eq!(code, 201, "{v}");
    let (code, v) = api(
        &s,
        &t,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "alice", "password": "x"})),
    );
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (409, Some("user_exists"))
    );
    let (code, v) = api(
        &s,
        &t,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "a b", "password": "x"})),
    );
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (_, v) = api(&s, &t, "GET", "/api/v1/users", None);
    assert_eq!(v["users"][0]["name"], "alice");

    // The password set through the API is the one SIP checks.
    let (code, _) = api(
        &s,
        &t,
        "PUT",
        "/api/v1/users/alice/password",
        Some(json!({"password": "secret"})),
    );
    assert_eq!(code, 204);
    std::thread::sleep(Duration::from_millis(1500));
    let run = sipp("register_md5.xml", "udp", s.sip_port, "alice", "secret");
    assert!(run.ok, "{}\n{}", run.output, s.log());
    std::thread::sleep(Duration::from_millis(600));
    let (_, v) = api(&s, &t, "GET", "/api/v1/registrations", None);
    let r = &v["registrations"][0];
    assert_eq!(r["user"], "alice", "{v}");
    assert!(r["received"].as_str().unwrap().contains("127.0.0.1"), "{v}");
    assert!(r["expires_in"].as_u64().unwrap() > 3000, "{v}");

    let (code, _) = api(&s, &t, "DELETE", "/api/v1/users/alice", None);
    assert_eq!(code, 204);
    let (code, v) = api(&s, &t, "DELETE", "/api/v1/users/alice", None);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let (_, v) = api(&s, &t, "GET", "/api/v1/registrations", None);
    assert_eq!(v["registrations"], json!([]));

    // Meeting ids.
    let (code, v) = api(
        &s,
        &t,
        "POST",
        "/api/v1/meetings",
        Some(json!({"id": "4711", "room": "standup", "pin": "1234"})),
    );
    assert_eq!(code, 201, "{v}");
    for bad in [
        json!({"id": "47a", "room": "x"}),
        json!({"id": "1", "room": "a b"}),
        json!({"id": "2", "room": "x", "moderator_pin": "9"}),
        json!({"id": "3", "room": "x", "pin": "9", "moderator_pin": "9"}),
    ] {
        let (code, v) = api(&s, &t, "POST", "/api/v1/meetings", Some(bad.clone()));
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    let (code, _) = api(
        &s,
        &t,
        "POST",
        "/api/v1/meetings",
        Some(json!({"id": "4711", "room": "x"})),
    );
    assert_eq!(code, 409);
    let o = s.cli(&["meeting", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("4711\troom standup\tpin 1234"));
    let (_, v) = api(&s, &t, "GET", "/api/v1/meetings", None);
    assert_eq!(v["meetings"][0]["room"], "standup");
    let (code, _) = api(&s, &t, "DELETE", "/api/v1/meetings/4711", None);
    assert_eq!(code, 204);
}
