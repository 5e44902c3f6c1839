//! The meeting page `/meet/{room}` in Chromium (playwright-core,
//! tests/browser/meet.mjs), one browser process per participant, each with
//! its own fake microphone (a WAV tone written here) and Chromium's fake
//! camera, against the real binary with XMPP and the SFU. Alice (440 Hz) and
//! Bob (1000 Hz) join one room: each sees the other's video (not black) and
//! hears the other's tone, not its own or an unused one. Alice's chat
//! reaches Bob; Bob's mute shows in Alice's list and silences him, his
//! camera off turns his tile black; Carol (1500 Hz) joining through the
//! name prompt and leaving makes Alice's page record source-add then
//! source-remove with Carol's endpoint id. A phone caller (an XMPP occupant
//! with jigasi's presence and an audio-only session, as the phone bridge
//! presents one) shows as on the phone, muted, without video. Screenshots of
//! Alice's page (with Bob; then with the phone caller too) go to the test's
//! temp dir, or to docs/meet-page.png and docs/meet-page-phone.png with
//! `DIALROOM_SCREENSHOTS=docs`.

mod common;
use common::{root, tone_wav, with_sfu};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The phone caller's occupant resource (its endpoint id) and SSRC.
const PHONE_NICK: &str = "0fa4e123";
const PHONE_SSRC: u32 = 424_242;

/// A phone caller as the phone bridge presents one to the room (jitsi.md
/// §6): an XMPP client on the TCP port that joins the MUC with jigasi's
/// feature, a masked number as its nick and `<audiomuted>`, and answers
/// the focus's session-initiate with an audio-only session-accept (one
/// source). It never completes ICE: only its signalling is under test here.
struct FakePhone {
    s: std::net::TcpStream,
    buf: String,
}

impl FakePhone {
    fn read_until(&mut self, pat: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = [0u8; 8192];
        while !self.buf.contains(pat) {
            assert!(
                Instant::now() < deadline,
                "fake phone: no {pat:?} in {}",
                self.buf
            );
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("fake phone: closed before {pat:?}: {}", self.buf),
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("fake phone: {e}"),
            }
        }
        let end = self.buf.find(pat).unwrap() + pat.len();
        let head: String = self.buf.drain(..end).collect();
        head
    }

    fn send(&mut self, xml: &str) {
        self.s.write_all(xml.as_bytes()).unwrap();
    }

    fn join(port: u16, room: &str) -> FakePhone {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut p = FakePhone {
            s,
            buf: String::new(),
        };
        let header = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
        p.send(header);
        p.read_until("</stream:features>");
        p.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
        p.read_until("<success");
        p.send(header);
        p.read_until("</stream:features>");
        p.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        p.read_until("</iq>");
        p.send(&format!(
            "<presence to='{room}@conference.localhost/{PHONE_NICK}'>\
             <x xmlns='http://jabber.org/protocol/muc'/>\
             <nick xmlns='http://jabber.org/protocol/nick'>Phone \u{2026}1234</nick>\
             <features><feature var='http://jitsi.org/protocol/jigasi'/></features>\
             <audiomuted>true</audiomuted></presence>"
        ));
        // The focus offers a session; answer it with one audio source.
        let before = p.read_until("action='session-initiate'");
        let iq = &before[before.rfind("<iq").expect("session-initiate in an iq")..];
        let attr = |text: &str, name: &str| {
            let start = text.find(&format!("{name}='")).unwrap() + name.len() + 2;
            text[start..start + text[start..].find('\'').unwrap()].to_string()
        };
        let (id, from) = (attr(iq, "id"), attr(iq, "from"));
        let rest = p.read_until("</iq>");
        let sid = attr(&rest, "sid");
        p.send(&format!("<iq type='result' to='{from}' id='{id}'/>"));
        let fingerprint = vec!["AB"; 32].join(":");
        p.send(&format!(
            "<iq type='set' to='{from}' id='accept1'>\
             <jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'>\
             <content creator='responder' name='audio' senders='both'>\
             <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
             <payload-type id='111' name='opus' clockrate='48000' channels='2'/>\
             <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{PHONE_SSRC}'/><rtcp-mux/></description>\
             <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='phon' pwd='phonephonephonephone12'>\
             <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>{fingerprint}</fingerprint>\
             </transport></content></jingle></iq>"
        ));
        let answer = p.read_until("id='accept1'");
        let tail = p.read_until(">");
        assert!(
            (answer + &tail).contains("type='result'"),
            "the focus refused the phone's session-accept"
        );
        p
    }
}

/// A 48 kHz mono 16-bit WAV of `hz` for 5 s (a whole number of cycles, so
/// Chromium's looping of the file does not click).
fn shot_dir(s: &common::Server) -> PathBuf {
    match std::env::var_os("DIALROOM_SCREENSHOTS") {
        Some(d) => root().join(d),
        None => s.dir.path().to_path_buf(),
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn two_browsers_see_and_hear_each_other_and_a_third_comes_and_goes() {
    assert!(
        root()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run scripts/test.sh (npm ci in tests/browser)"
    );
    let (mut s, _sfu_port) = with_sfu();
    s.start();

    // The page and its assets.
    let (code, page) = s.http_get("/meet/StandUp");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("data-room=\"standup\""), "{page}");
    assert!(page.contains("data-domain=\"localhost\""), "{page}");
    assert!(page.contains("data-muc=\"conference.localhost\""), "{page}");
    assert_eq!(s.http_get("/meet/no%20spaces").0, 404);
    let (code, js) = s.http_get("/meet/static/meet.js");
    assert_eq!(code, 200);
    assert!(js.contains("window.meet"), "{js}");
    assert_eq!(s.http_get("/meet/static/nothing.js").0, 404);

    let tones = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tone_wav(tones.path(), 440),
        tone_wav(tones.path(), 1000),
        tone_wav(tones.path(), 1500),
    );
    let shots = shot_dir(&s);
    let mut node = Command::new("node")
        .arg(root().join("tests/browser/meet.mjs"))
        .arg(format!("http://127.0.0.1:{}", s.web_port))
        .arg("standup")
        .arg(&shots)
        .args([&a, &b, &c])
        .arg(PHONE_NICK)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (scripts/deps.sh test installs it)");
    // The script says `step: phone` when Alice and Bob are in: a phone
    // caller joins then (and stays to the end).
    // The browser log, read aside so that a chatty one never fills its pipe.
    let mut err_pipe = node.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut e = String::new();
        let _ = err_pipe.read_to_string(&mut e);
        e
    });
    let mut stdin = node.stdin.take().unwrap();
    let mut phone = None;
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "step: phone" {
            phone = Some(FakePhone::join(s.xmpp_port, "standup"));
            writeln!(stdin, "go").unwrap();
            stdin.flush().unwrap();
        } else {
            stdout.push_str(&line);
        }
    }
    drop(stdin);
    let status = node.wait().unwrap();
    drop(phone);
    let stderr = stderr.join().unwrap();
    assert!(
        status.success(),
        "meet.mjs failed ({status}): {stdout}\n{stderr}\n--- server log:\n{}",
        s.log()
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "meet.mjs printed no report ({e}): {stdout}\n{stderr}\n--- server log:\n{}",
            s.log()
        )
    });
    let ctx = format!("{v:#}\n--- browser log:\n{stderr}");
    assert_eq!(v["errors"], serde_json::json!([]), "{ctx}");

    let (alice_id, bob_id, carol_id) = (&v["alice_id"], &v["bob_id"], &v["carol_id"]);
    for id in [alice_id, bob_id, carol_id] {
        let id = id.as_str().unwrap_or_default();
        assert!(
            id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "endpoint ids are 8 hex digits: {ctx}"
        );
    }
    assert_ne!(alice_id, bob_id, "{ctx}");

    // Each sees the other (and nobody else yet) in the list and on video.
    for (me, other, name) in [("alice", bob_id, "Bob"), ("bob", alice_id, "Alice")] {
        let o = &v[me];
        assert_eq!(o["state"], "joined", "{me}: {ctx}");
        let ps = o["participants"].as_array().unwrap();
        assert_eq!(ps.len(), 1, "{me} sees exactly one other: {ctx}");
        assert_eq!(ps[0]["id"], *other, "{ctx}");
        assert_eq!(ps[0]["name"], name, "{ctx}");
        assert_eq!(ps[0]["phone"], false, "{ctx}");
        let video = o["video"].as_array().unwrap();
        let tile = video
            .iter()
            .find(|t| t["id"] == *other)
            .unwrap_or_else(|| panic!("{me} has no video tile of {name}: {ctx}"));
        assert!(f(&tile["width"]) > 0.0, "{me}: {ctx}");
        assert!(f(&tile["height"]) > 0.0, "{me}: {ctx}");
        assert_eq!(
            tile["notBlack"], true,
            "{me}: {name}'s video is black: {ctx}"
        );
    }

    // Each hears the other's tone, clearly above its own and an unused one.
    for (me, heard, own) in [("alice", "1000", "440"), ("bob", "440", "1000")] {
        let t = &v[me]["tones"];
        let (h, o, unused) = (f(&t[heard]), f(&t[own]), f(&t["660"]));
        assert!(h > 0.3, "{me} does not hear {heard} Hz: {ctx}");
        assert!(h > 20.0 * o, "{me} hears its own {own} Hz: {ctx}");
        assert!(h > 20.0 * unused, "{me} hears 660 Hz nobody sends: {ctx}");
    }

    // Alice came first: she is the moderator and has a mute button for Bob;
    // Bob has none.
    assert_eq!(v["alice"]["role"], "moderator", "{ctx}");
    assert_eq!(v["alice"]["muteButtons"], 1, "{ctx}");
    assert_eq!(v["bob"]["role"], "participant", "{ctx}");
    assert_eq!(v["bob"]["muteButtons"], 0, "{ctx}");

    // While the tone plays, the other one's talking ring is on.
    assert_eq!(v["alice"]["participants"][0]["talking"], true, "{ctx}");
    assert_eq!(v["bob"]["participants"][0]["talking"], true, "{ctx}");

    // Chat; Bob's mute (in Alice's list, and his tone and ring gone); his
    // camera off makes his tile's picture black for Alice (so the check
    // above can tell).
    assert_eq!(v["bob_chat"]["name"], "Alice", "{ctx}");
    assert_eq!(v["alice_sees_bob_muted"], true, "{ctx}");
    assert_eq!(v["alice_bob_quiet"]["talking"], false, "{ctx}");
    assert!(f(&v["alice_bob_quiet"]["level"]) < 0.1, "{ctx}");
    assert_eq!(v["alice_sees_bob_black"]["notBlack"], false, "{ctx}");
    assert_eq!(
        v["alice_sees_bob_again"]["notBlack"], true,
        "camera back on: {ctx}"
    );

    // The phone caller: listed as on the phone, muted, with its masked
    // number; its audio source came by source-add with its owner; no video tile.
    let ph = &v["alice_sees_phone"];
    assert_eq!(ph["id"], PHONE_NICK, "{ctx}");
    assert_eq!(ph["name"], "Phone \u{2026}1234", "{ctx}");
    assert_eq!(ph["phone"], true, "{ctx}");
    assert_eq!(ph["muted"], true, "{ctx}");
    assert_eq!(v["phone_tile"]["avatar"], true, "{ctx}");
    assert_eq!(
        v["phone_tile"]["label"], "Phone \u{2026}1234 · on the phone · muted",
        "{ctx}"
    );
    let events = v["alice_end"]["sourceEvents"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["action"] == "source-add"
            && e["owner"] == PHONE_NICK
            && e["ssrc"] == PHONE_SSRC),
        "{ctx}"
    );
    assert!(
        v["alice_end"]["video"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != PHONE_NICK),
        "{ctx}"
    );
    let bob_only = v["bob"]["participants"].as_array().unwrap();
    assert!(bob_only.iter().all(|p| p["phone"] == false), "{ctx}");

    // Carol came and went: source-add, then source-remove, with her owner.
    let first = |action: &str| {
        events
            .iter()
            .position(|e| e["action"] == action && e["owner"] == *carol_id)
    };
    let add = first("source-add").unwrap_or_else(|| panic!("no source-add for Carol: {ctx}"));
    let rm = first("source-remove").unwrap_or_else(|| panic!("no source-remove for Carol: {ctx}"));
    assert!(add < rm, "{ctx}");
    let ssrcs = |action: &str| {
        let mut s: Vec<u64> = events
            .iter()
            .filter(|e| e["action"] == action && e["owner"] == *carol_id)
            .filter_map(|e| e["ssrc"].as_u64())
            .collect();
        s.sort();
        s
    };
    assert!(!ssrcs("source-add").is_empty(), "{ctx}");
    assert_eq!(ssrcs("source-add"), ssrcs("source-remove"), "{ctx}");
    assert_eq!(
        v["carol_prompt"], "prompt",
        "without ?name= the page asks: {ctx}"
    );
    assert_eq!(v["carol_after_leave"], "prompt", "{ctx}");
    assert_eq!(v["alice_after_carol"], true, "Carol still listed: {ctx}");
    let mut left: Vec<&str> = v["alice_end"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    left.sort();
    let mut want = vec![bob_id.as_str().unwrap(), PHONE_NICK];
    want.sort();
    assert_eq!(left, want, "{ctx}");
    let end = &v["alice_end"];
    assert!(
        end["video"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != *carol_id),
        "Carol's tile outlived her: {ctx}"
    );

    assert!(shots.join("meet-page.png").exists());
    assert!(shots.join("meet-page-phone.png").exists());
    assert!(s.is_running());
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
}
