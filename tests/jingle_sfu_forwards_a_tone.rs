//! Browser-like participants nobody here wrote (slixmpp for XMPP, aiortc for
//! WebRTC; tests/peers/jingle_peer.py) join a room through the focus: each
//! gets session-initiate with the SFU's transport, answers with
//! session-accept, and completes ICE and DTLS-SRTP with the SFU's one UDP
//! port. A sends a 440 Hz tone and B a 1000 Hz tone as Opus; each must decode
//! the other's tone (Goertzel on the decoded PCM), not its own. A third
//! participant joining makes the first two receive its sources in
//! source-add, and leaving in source-remove. Malformed Jingle gets
//! bad-request and the server keeps serving.

mod common;
use common::{jingle_peer, with_sfu};
use serde_json::Value;

fn ssrcs(v: &Value) -> Vec<u64> {
    let mut s: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["ssrc"].as_u64().unwrap())
        .collect();
    s.sort();
    s
}

fn nums(v: &Value) -> Vec<u64> {
    let mut s: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    s.sort();
    s
}

fn owners(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["owner"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_participants_hear_each_others_tone_through_the_sfu_and_a_third_comes_and_goes() {
    let (mut s, port) = with_sfu();
    s.start();
    let v = jingle_peer(&s, "conference", &["--room", "tone", "--seconds", "4"]);
    let (a, b) = (&v["a"], &v["b"]);
    for p in [a, b] {
        assert_eq!(p["errors"], serde_json::json!([]), "{v}");
        assert_eq!(p["ice"], "connected", "{v}");
    }

    // B joined first, so A's offer carries B's sources (owner = B's nick).
    let init = &a["initiate_sources"];
    assert!(!init.as_array().unwrap().is_empty(), "{v}");
    assert_eq!(ssrcs(init), nums(&b["local_ssrcs"]), "{v}");
    assert!(owners(init).iter().all(|o| *o == b["nick"]), "{v}");
    // ... and B learned A's sources by source-add.
    assert_eq!(ssrcs(&b["source_add"][0]), nums(&a["local_ssrcs"]), "{v}");

    // The media: each hears the other's tone, loud and clean.
    let (at, bt) = (&v["a_tone"], &v["b_tone"]);
    let f = |t: &Value, k: &str| t[k].as_f64().unwrap();
    assert!(f(bt, "rms") > 300.0, "B heard (almost) nothing: {v}");
    assert!(f(at, "rms") > 300.0, "A heard (almost) nothing: {v}");
    for other in ["p660", "p1000", "p300"] {
        assert!(
            f(bt, "p440") > 100.0 * f(bt, other),
            "B: 440 Hz not dominant over {other}: {v}"
        );
    }
    for other in ["p440", "p660", "p300"] {
        assert!(
            f(at, "p1000") > 100.0 * f(at, other),
            "A: 1000 Hz not dominant over {other}: {v}"
        );
    }

    // Malformed Jingle: bad-request, and the session went on.
    assert_eq!(
        v["malformed"],
        serde_json::json!(["bad-request", "bad-request"]),
        "{v}"
    );

    // C came and went: A and B got its sources added, then removed.
    let c_ssrcs = nums(&v["c_ssrcs"]);
    assert!(!c_ssrcs.is_empty(), "{v}");
    for p in [a, b] {
        let added = p["source_add"].as_array().unwrap();
        let c_add = added
            .iter()
            .find(|x| owners(x).iter().any(|o| *o == v["c_nick"]))
            .unwrap_or_else(|| panic!("no source-add for C: {v}"));
        assert_eq!(ssrcs(c_add), c_ssrcs, "{v}");
        let removed = p["source_remove"].as_array().unwrap();
        let c_rm = removed
            .iter()
            .find(|x| owners(x).iter().any(|o| *o == v["c_nick"]))
            .unwrap_or_else(|| panic!("no source-remove for C: {v}"));
        assert_eq!(ssrcs(c_rm), c_ssrcs, "{v}");
    }

    // Still serving: the web server answers and the SFU port is still ours.
    assert!(s.is_running());
    assert_eq!(s.http_get("/health").0, 200);
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "the SFU no longer holds its port"
    );
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
}
