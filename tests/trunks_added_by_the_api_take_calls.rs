//! Trunks added by operators (the JSON API, as the admin page does): a call
//! from 127.0.0.1 is challenged while no trunk covers it; once a trunk for
//! 127.0.0.0/8 is added the next call is taken without auth (the SIP core
//! reads the trunks within a second), and after it is removed calls are
//! challenged again. The config file's trunk is listed read-only; bad
//! names and address blocks get 422 with a JSON error, a duplicate 409.

mod common;
use common::{Server, api_token, sipp_args};
use std::time::{Duration, Instant};

const CONFIG_TRUNK: &str = "[[trunk]]\nname = \"carrier\"\nsources = [\"192.0.2.0/24\"]\n";

/// True when a call to room 1234 is answered, false when it is challenged.
fn answered(s: &Server) -> bool {
    let a = sipp_args(
        "dialplan_route_answered.xml",
        "udp",
        s.sip_port,
        &["-s", "1234", "-set", "hold", "200"],
    );
    if a.ok {
        return true;
    }
    let c = sipp_args("call_challenged.xml", "udp", s.sip_port, &["-s", "1234"]);
    assert!(
        c.ok,
        "neither answered nor challenged:\n{}\n{}",
        a.output, c.output
    );
    false
}

/// Waits up to 5 s (the trunks poller reads every second) for `want`.
fn until_answered(s: &Server, want: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = answered(s);
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_trunk_added_by_the_api_takes_calls_until_it_is_removed() {
    let mut s = Server::with("", CONFIG_TRUNK);
    s.start();
    let admin = api_token(&s, "ops", "admin");
    let viewer = api_token(&s, "look", "viewer");
    assert!(!answered(&s), "127.0.0.1 is no trunk yet");

    let (code, body) = s.http("GET", "/api/v1/trunks", Some(&viewer), None);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(r#"{"name":"carrier","origin":"config","sources":["192.0.2.0/24"]}"#),
        "{body}"
    );

    // Refused: a viewer, a bad block, a bad name, a config trunk's name.
    let add = |token: &str, b: &str| s.http("POST", "/api/v1/trunks", Some(token), Some(b));
    assert_eq!(
        add(&viewer, r#"{"name":"lo","sources":["127.0.0.0/8"]}"#).0,
        403
    );
    let (code, body) = add(&admin, r#"{"name":"lo","sources":["127.0.0.300/8"]}"#);
    assert_eq!(
        (code, body.contains("invalid_trunk")),
        (422, true),
        "{body}"
    );
    let (code, body) = add(&admin, r#"{"name":"a b","sources":["127.0.0.0/8"]}"#);
    assert_eq!(
        (code, body.contains("invalid_trunk")),
        (422, true),
        "{body}"
    );
    assert_eq!(
        add(&admin, r#"{"name":"carrier","sources":["127.0.0.0/8"]}"#).0,
        409
    );
    assert!(!answered(&s), "nothing refused took effect");

    // Added: the next calls are taken.
    let (code, body) = add(&admin, r#"{"name":"lo","sources":["127.0.0.0/8"]}"#);
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        add(&admin, r#"{"name":"lo","sources":["10.0.0.0/8"]}"#).0,
        409
    );
    assert!(
        until_answered(&s, true),
        "the new trunk takes calls\n{}",
        s.log()
    );

    // A config trunk cannot be removed here; the added one can.
    let del = |name: &str| {
        s.http(
            "DELETE",
            &format!("/api/v1/trunks/{name}"),
            Some(&admin),
            None,
        )
    };
    assert_eq!(del("carrier").0, 409);
    assert_eq!(del("nope").0, 404);
    assert_eq!(del("lo").0, 204);
    assert!(
        !until_answered(&s, false),
        "removed: calls are challenged again"
    );
}
