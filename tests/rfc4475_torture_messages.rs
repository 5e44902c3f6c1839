//! RFC 4475 torture messages: valid ones parse, invalid ones are refused with
//! the answer the RFC asks for, and nothing panics. Data and expectations:
//! tests/data/rfc4475/ (MANIFEST.toml, byte-exact .dat files).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use dialroom::sip::auth::{Algorithm, Credentials};
use dialroom::sip::endpoint::{Action, Endpoint, EndpointConfig, Now};
use dialroom::sip::message::{self, Message};
use dialroom::sip::registrar::Limits;
use dialroom::sip::transaction::TimerConfig;
use dialroom::sip::transport::{Flow, Inbound, Protocol};

#[derive(serde::Deserialize)]
struct Manifest {
    message: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    file: String,
    expect: String,
    response: Option<u16>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475")
}

fn manifest() -> Vec<(Entry, Vec<u8>)> {
    let text = std::fs::read_to_string(data_dir().join("MANIFEST.toml")).unwrap();
    let m: Manifest = toml::from_str(&text).unwrap();
    m.message
        .into_iter()
        .map(|e| {
            let bytes = std::fs::read(data_dir().join(&e.file)).unwrap();
            (e, bytes)
        })
        .collect()
}

/// Answers a server that implements only REGISTER and OPTIONS may give in
/// place of the RFC's, and why.
fn also_acceptable(file: &str) -> &'static [u16] {
    match file {
        // RFC 4475 §3.1.2.16 lets either answer stand.
        "mismatch02.dat" => &[400],
        // §3.3.? an element may treat a bare magic-cookie branch as RFC 2543.
        "badbranch.dat" => &[405, 200, 401],
        // §3.1.2.9: elements that do not use Date need not reject it; the
        // INVITE then goes to the dialplan, which here has no route (404).
        "baddate.dat" => &[404],
        _ => &[],
    }
}

fn endpoint_for(hosts: Vec<String>) -> Endpoint {
    let cfg = EndpointConfig {
        domain: "example.com".into(),
        local_hosts: hosts,
        limits: Limits {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        },
        timers: TimerConfig::default(),
        algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        nonce_lifetime: 300,
        md5_only_user_agents: Vec::new(),
        auth_failure_limit: 100,
        auth_failure_window: 60,
        auth_block_seconds: 60,
        keepalive: None,
        // Calls from the test source come in as from a trunk (no digest), so
        // INVITE torture messages reach the call checks.
        calls: {
            let toml = "[sip]\n[[trunk]]\nname = \"t\"\nsources = [\"192.0.2.0/24\"]\n";
            let cfg = dialroom::config::Config::parse(toml).unwrap();
            let mut c = dialroom::sip::call::CallConfig::default();
            c.set_trunks(&cfg.trunks);
            c
        },
    };
    let mut ep = Endpoint::new(cfg, [1; 32]);
    let mut users = HashMap::new();
    users.insert(
        "user".to_string(),
        Credentials::from_password("user", "example.com", "pw"),
    );
    ep.set_users(users, &mut Vec::new());
    ep
}

fn answer(bytes: &[u8]) -> Option<u16> {
    // Serve every host named in the Request-URI, so domain checks do not mask the test.
    let host = std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.lines().next())
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|u| u.split('@').next_back())
        .map(|h| {
            h.split([';', ':', '?', '>'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let mut ep = endpoint_for(vec![host]);
    let flow = Flow {
        protocol: Protocol::Udp,
        local: "127.0.0.1:5060".parse().unwrap(),
        remote: "192.0.2.1:5060".parse().unwrap(),
        conn: 0,
    };
    let mut out = Vec::new();
    let now = Now {
        mono: Instant::now(),
        unix: 1_700_000_000,
    };
    ep.on_inbound(
        now,
        Inbound {
            flow,
            message: message::parse(bytes),
        },
        &mut out,
    );
    out.iter().find_map(|a| match a {
        Action::Send(_, b) => {
            let s = String::from_utf8_lossy(b);
            s.split(' ').nth(1).and_then(|c| c.parse().ok())
        }
        _ => None,
    })
}

#[test]
fn every_torture_message_is_present_and_pinned() {
    let all = manifest();
    assert_eq!(all.len(), 49);
    assert!(all.iter().all(|(_, b)| !b.is_empty()));
}

#[test]
fn valid_torture_messages_parse() {
    for (e, bytes) in manifest().iter().filter(|(e, _)| e.expect == "valid") {
        match message::parse(bytes) {
            Ok(_) => {}
            Err(r) => panic!("{} should parse: {}", e.file, r.reason),
        }
        assert_ne!(answer(bytes), Some(400), "{} is valid but got 400", e.file);
    }
}

#[test]
fn invalid_torture_messages_are_refused_with_the_rfc_answer() {
    for (e, bytes) in manifest().iter().filter(|(e, _)| e.expect == "invalid") {
        let parsed = message::parse(bytes);
        let got = answer(bytes);
        match e.response {
            Some(code) => assert!(
                got == Some(code) || also_acceptable(&e.file).contains(&got.unwrap_or(0)),
                "{}: expected {code}, got {got:?} (parse: {:?})",
                e.file,
                parsed.as_ref().err().map(|r| &r.reason)
            ),
            // A broken response: dropped without an answer.
            None => {
                assert!(parsed.is_err(), "{} should not parse", e.file);
                assert_eq!(got, None, "{}", e.file);
            }
        }
    }
}

#[test]
fn well_formed_but_refused_messages_get_their_specific_answer() {
    for (e, bytes) in manifest()
        .iter()
        .filter(|(e, _)| e.expect == "valid-but-refuse")
    {
        let got = answer(bytes);
        match e.response {
            Some(code) => assert!(
                got == Some(code) || also_acceptable(&e.file).contains(&got.unwrap_or(0)),
                "{}: expected {code}, got {got:?}",
                e.file
            ),
            None => {
                // A response we did not ask for: never answered.
                assert!(
                    matches!(message::parse(bytes), Ok(Message::Response(_)) | Err(_)),
                    "{}",
                    e.file
                );
                assert_eq!(got, None, "{}", e.file);
            }
        }
    }
}

#[test]
fn no_prefix_or_mutation_of_a_torture_message_panics() {
    for (_, bytes) in manifest() {
        for cut in (0..bytes.len()).step_by(7) {
            let _ = message::parse(&bytes[..cut]);
        }
        for i in (0..bytes.len()).step_by(11) {
            let mut m = bytes.clone();
            m[i] = m[i].wrapping_add(0x41);
            let _ = answer(&m);
        }
    }
}
