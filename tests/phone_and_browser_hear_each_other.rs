//! The phone-browser bridge: a baresip phone (1000 Hz) dials a room; a
//! browser-like participant nobody here wrote (slixmpp + aiortc,
//! tests/peers/jingle_peer.py `bridge`, 440 Hz) joins the same room through
//! the focus. The browser sees the caller as a MUC occupant in jigasi's shape
//! (masked number, jigasi feature, `audiomuted`), is offered the caller's
//! audio source in its session-initiate and decodes the phone's tone from
//! it; the phone's recording holds the browser's tone and not its own. The
//! browser (the room's moderator: callers never are) mutes the caller with
//! the focus's mute IQ and stops hearing it. While both are in, `/metrics`
//! counts the leg by codec, the participants by kind and the SIP responses
//! by code, and the live-room API lists the caller (talking) and the
//! browser. When the phone hangs up the browser gets the occupant's
//! unavailable presence and a source-remove for its source.

mod common;
use common::{
    Baresip, LOOPBACK_TRUNK, api_token, jingle_peer, tone_amplitude, window, with_sfu_and,
};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `kind talking=.. muted=..` of each participant of room-4321 in a
/// `/api/v1/rooms` answer.
fn participants(rooms: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(rooms).unwrap_or_else(|e| panic!("{e}: {rooms}"));
    v["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == "room-4321")
        .flat_map(|r| r["participants"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            format!(
                "{} talking={} muted={}",
                p["kind"].as_str().unwrap_or(""),
                p["talking"].as_bool().unwrap_or(false),
                p["muted"].as_bool().unwrap_or(false)
            )
        })
        .collect()
}

#[test]
fn a_phone_caller_and_a_browser_in_one_room_hear_each_other() {
    let (mut s, _port) = with_sfu_and(LOOPBACK_TRUNK);
    s.start();
    let mut phone = Baresip::start("5551234567", 1000, "pcmu", "");
    phone.dial(&format!("sip:4321@127.0.0.1:{}", s.sip_port));
    std::thread::sleep(Duration::from_secs(2));
    let viewer = api_token(&s, "look", "viewer");
    let ready = tempfile::NamedTempFile::new().unwrap();
    let ready_path = ready.path().to_path_buf();
    std::fs::remove_file(&ready_path).unwrap();
    let v: (Value, String, String, Option<String>) = std::thread::scope(|scope| {
        let peer = scope.spawn(|| {
            jingle_peer(
                &s,
                "bridge",
                &[
                    "--room",
                    "room-4321",
                    "--seconds",
                    "5",
                    "--linger",
                    "10",
                    "--ready-file",
                    ready_path.to_str().unwrap(),
                ],
            )
        });
        // The browser has heard the phone for 5 s: hang up (baresip writes
        // its recording and sends BYE).
        // Meanwhile the live-room API is read: the caller talking (a steady
        // tone) beside the browser, before the browser mutes it.
        let mut before_mute = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready_path.exists() && Instant::now() < deadline && !peer.is_finished() {
            let rooms = s.http("GET", "/api/v1/rooms", Some(&viewer), None).1;
            if before_mute.is_none()
                && participants(&rooms)
                    == [
                        "phone talking=true muted=false",
                        "browser talking=false muted=false",
                    ]
            {
                before_mute = Some(rooms);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Both are in the room now: /metrics and the live-room API say so.
        let metrics = s.http_get("/metrics").1;
        let rooms = s.http("GET", "/api/v1/rooms", Some(&viewer), None).1;
        phone.stop();
        (peer.join().unwrap(), metrics, rooms, before_mute)
    });
    let (v, metrics, rooms, before_mute) = v;
    let log = s.log();
    let (x, rate) = phone.received();
    let w = window(&x, rate, 3.0, 5.5);
    let (p440, p1000) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    let diag =
        format!("phone heard 440={p440:.0} 1000={p1000:.0}\npeer: {v}\n--- server log:\n{log}");
    let a = &v["a"];
    assert_eq!(a["errors"], serde_json::json!([]), "{diag}");
    assert_eq!(a["ice"], "connected", "{diag}");

    // The phone caller as a MUC occupant, in jigasi's shape.
    let presences = v["presences"].as_array().unwrap();
    let phone_p = presences
        .iter()
        .find(|p| {
            p["features"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "http://jitsi.org/protocol/jigasi"))
        })
        .unwrap_or_else(|| panic!("no phone occupant seen\n{diag}"));
    assert_eq!(phone_p["nick"], "Phone …4567", "{diag}");
    assert_eq!(phone_p["audiomuted"], "false", "{diag}");
    let occupant = phone_p["from"].as_str().unwrap();
    let owner = occupant.rsplit('/').next().unwrap();

    // Its audio source was in the offer, owned by that occupant.
    let offered = a["initiate_sources"].as_array().unwrap();
    let src = offered
        .iter()
        .find(|x| x["owner"] == owner)
        .unwrap_or_else(|| panic!("the phone's source was not offered\n{diag}"));
    let ssrc = src["ssrc"].as_u64().unwrap();

    // The browser decodes the phone's tone, not its own.
    let t = &v["a_tone"];
    let f = |k: &str| t[k].as_f64().unwrap();
    assert!(
        f("rms") > 300.0,
        "the browser heard (almost) nothing\n{diag}"
    );
    for other in ["p440", "p660", "p300"] {
        assert!(
            f("p1000") > 20.0 * f(other),
            "1000 Hz not dominant over {other} at the browser\n{diag}"
        );
    }

    // The browser, moderator of the room, muted the caller through the
    // focus: call control muted it (presence says so) and it went quiet.
    assert_eq!(v["mute"], "result", "{diag}");
    assert!(
        presences
            .iter()
            .any(|p| p["from"] == phone_p["from"] && p["audiomuted"] == "true"),
        "no muted presence for the phone\n{diag}"
    );
    // What arrived in the 2 s after: nothing, or silence.
    let muted = &v["a_muted"];
    assert!(
        muted["seconds"].as_f64().unwrap() < 0.3
            || muted["rms"].as_f64().unwrap() < 0.05 * f("rms"),
        "the muted caller is still heard\n{diag}"
    );

    // The phone hears the browser's tone, not its own.
    assert!(p440 > 1000.0, "the phone does not hear the browser\n{diag}");
    assert!(p1000 < 0.1 * p440, "the phone hears itself\n{diag}");

    // Hanging up: unavailable presence and source-remove for that source.
    assert!(
        presences
            .iter()
            .any(|p| p["from"] == occupant && p["type"] == "unavailable"),
        "no unavailable presence for the phone\n{diag}"
    );
    let removed: Vec<u64> = a["source_remove"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .filter(|x| x["owner"] == owner)
        .map(|x| x["ssrc"].as_u64().unwrap())
        .collect();
    assert_eq!(removed, vec![ssrc], "{diag}");
    // /metrics while both were in: one G.711 leg, one phone and one browser
    // participant, and the SIP responses sent (the 200 to the INVITE).
    for line in [
        "dialroom_media_legs_by_codec{codec=\"PCMU\"} 1\n",
        "dialroom_room_participants{kind=\"phone\"} 1\n",
        "dialroom_room_participants{kind=\"browser\"} 1\n",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    assert!(
        metrics.contains("dialroom_sip_responses_total{code=\"200\"} "),
        "{metrics}"
    );
    // The live-room API: the caller talking beside the browser before the
    // mute; muted and silent after it.
    assert!(
        before_mute.is_some(),
        "the caller was never listed talking beside the browser\n{diag}"
    );
    assert_eq!(
        participants(&rooms),
        [
            "phone talking=false muted=true",
            "browser talking=false muted=false"
        ],
        "{rooms}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
