//! Outbound registration to a provider, with a second dialroom playing the
//! provider: dialroom registers with digest auth (after the provider's 423
//! takes its Min-Expires), refreshes before expiry, shows the state in the
//! API and the metrics; wrong credentials and an unreachable registrar are
//! reported with their reasons and touch nothing else. A call the provider
//! sends to the registered account is taken as from the trunk, routed by
//! the dialplan's `trunk` condition on the number dialled (To), and lands in
//! the room it names, where a local caller hears the provider's caller and
//! the other way round. When the provider goes away the registration fails
//! ("no answer") and comes back by itself once the provider is up again.

mod common;
use common::{Baresip, Server, api_token, free_port, tone_amplitude, window};
use serde_json::Value;
use std::time::{Duration, Instant};

const LOOPBACK: &str = "[[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n";

fn json(b: &str) -> Value {
    serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

/// The trunk's registration as the API shows it.
fn registration(s: &Server, token: &str, trunk: &str) -> Value {
    let (code, b) = s.http("GET", "/api/v1/trunks", Some(token), None);
    assert_eq!(code, 200, "{b}");
    json(&b)["trunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == trunk)
        .unwrap_or_else(|| panic!("no trunk {trunk}: {b}"))["registration"]
        .clone()
}

fn wait_state(s: &Server, token: &str, trunk: &str, state: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = registration(s, token, trunk);
        if r["state"] == state {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{trunk} never {state}: {r}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs tests/browser/admin_trunks.mjs as admin "ann" (adds the trunks given
/// as `+NAME=...`, waits for each `TRUNK=TEXT`); what the page showed.
fn trunks_page(d: &Server, shot: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("node")
        .arg(common::root().join("tests/browser/admin_trunks.mjs"))
        .arg(format!("http://127.0.0.1:{}", d.web_port))
        .args(["ann", "correct horse"])
        .arg(shot)
        .args(args)
        .output()
        .expect("node (scripts/deps.sh test installs it)");
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn provider_bindings(p: &Server) -> String {
    String::from_utf8_lossy(&p.cli(&["registrations"]).stdout).into_owned()
}

/// The provider's bindings once they mention `who`, or as they are after
/// 5 s: a registrar writes its bindings to the database in batches
/// (`location_flush_ms`), a moment after its 200 OK.
fn provider_bindings_with(p: &Server, who: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let b = provider_bindings(p);
        if b.contains(who) || Instant::now() > deadline {
            return b;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dialroom_registers_to_its_provider_takes_its_calls_and_recovers_after_a_restart() {
    // The provider: accounts with passwords, 10 s minimum expiry, and a
    // route that sends 555... to whoever registered as acct.
    let mut p = Server::with("min_expires = 10\n", LOOPBACK);
    p.write_dialplan(
        "[[route]]\nname = \"dids\"\nto = '^555\\d+$'\naction = \"user\"\nuser = \"acct\"\ntimeout = 10\n",
    );
    p.add_user("acct", "secret");
    p.add_user("acct2", "right");
    p.start();

    // Ours: three trunks registering (one right, one with a wrong password,
    // one to nobody); short T1 so that "no answer" takes 3.2 s.
    let nowhere = free_port();
    let trunks = format!(
        "[[trunk]]\nname = \"prov\"\nregistrar = \"127.0.0.1:{pp}\"\nusername = \"acct\"\npassword = \"secret\"\nexpires = 5\nretry_s = 1\n\
         [[trunk]]\nname = \"badprov\"\nregistrar = \"127.0.0.1:{pp}\"\nusername = \"acct2\"\npassword = \"wrong\"\nretry_s = 1\n\
         [[trunk]]\nname = \"nowhere\"\nregistrar = \"sip:127.0.0.1:{nowhere}\"\nusername = \"x\"\npassword = \"y\"\nretry_s = 1\n{LOOPBACK}",
        pp = p.sip_port
    );
    let mut d = Server::with("t1_ms = 50\n", &trunks);
    d.write_dialplan(
        "[[route]]\nname = \"provider numbers\"\ntrunk = \"prov\"\nto = '^555(\\d+)$'\naction = \"conference\"\nroom = \"did-$1\"\n\n\
         [[route]]\nname = \"rooms\"\nto = '^did-(\\d+)$'\naction = \"conference\"\nroom = \"did-$1\"\n\n\
         [[route]]\nname = \"not from the provider\"\nto = '^555'\naction = \"reject\"\ncode = 403\n",
    );
    d.start();
    let token = api_token(&d, "ops", "admin");

    // Registered (after a 401 and a 423), and the provider has the binding.
    let r = wait_state(&d, &token, "prov", "registered", 15);
    let first = r["expires_at"].as_u64().unwrap();
    let b = provider_bindings_with(&p, "acct");
    assert!(
        b.contains("acct") && b.contains(&format!("127.0.0.1:{}", d.sip_port)),
        "{b}"
    );
    assert_eq!(
        d.metric("dialroom_trunk_registered{trunk=\"prov\"}"),
        Some(1.0)
    );

    // Wrong password and no registrar: failed, with why, and retried.
    let bad = wait_state(&d, &token, "badprov", "failed", 15);
    // (dialroom answers a wrong password with 403, others with 401 again)
    assert!(bad["code"] == 403 || bad["code"] == 401, "{bad}");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("refused the credentials"),
        "{bad}"
    );
    let gone = wait_state(&d, &token, "nowhere", "failed", 15);
    assert_eq!(gone["reason"], "no answer from the registrar", "{gone}");
    assert_eq!(
        d.metric("dialroom_trunk_registered{trunk=\"badprov\"}"),
        Some(0.0)
    );
    // The trunks page shows the same, in a browser.
    d.add_admin("ann", "correct horse", "admin");
    let shot = match std::env::var_os("DIALROOM_SCREENSHOTS") {
        Some(dir) => common::root().join(dir).join("admin-trunks.png"),
        None => d.dir.path().join("admin-trunks.png"),
    };
    let seen = trunks_page(
        &d,
        &shot,
        &[
            "prov=registered until",
            "badprov=refused the credentials of acct2",
            "nowhere=no answer from the registrar",
        ],
    );
    eprintln!("trunks page: {seen}");
    let log = d.log();
    assert!(log.contains("registration to the provider failed"), "{log}");
    assert!(log.contains("badprov"), "{log}");

    // Refreshed before it expires (the provider granted 10 s).
    std::thread::sleep(Duration::from_secs(7));
    let r = registration(&d, &token, "prov");
    assert_eq!(r["state"], "registered", "{r}");
    assert!(
        r["expires_at"].as_u64().unwrap() > first,
        "{r} (first {first})"
    );

    // A call through the provider: its caller dials 5550100 there; the
    // provider rings our account; our dialplan puts it in room did-0100,
    // where a local caller is.
    let mut local = Baresip::start("bob", 1000, "pcmu", "");
    local.dial(&format!("sip:did-0100@127.0.0.1:{}", d.sip_port));
    let mut remote = Baresip::start("alice", 440, "pcmu", "");
    remote.dial(&format!("sip:5550100@127.0.0.1:{}", p.sip_port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, b) = d.http("GET", "/api/v1/rooms", Some(&token), None);
        let v = json(&b);
        let n = v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "did-0100")
            .map_or(0, |r| r["participants"].as_array().unwrap().len());
        if n == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the provider's call never arrived: {b}\n{}\n--- provider ---\n{}",
            d.log(),
            p.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        d.log().contains("route=\"provider numbers\""),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(6));
    local.stop();
    remote.stop();
    let (x, rate) = remote.received();
    let secs = x.len() as f64 / f64::from(rate);
    // The last seconds: the call through the provider is up by then.
    let w = window(&x, rate, (secs - 3.5).max(0.5), secs - 0.5);
    let (hear, own) = (
        tone_amplitude(w, rate, 1000.0),
        tone_amplitude(w, rate, 440.0),
    );
    eprintln!(
        "provider's caller: {:.1} s recorded, 1000 Hz {hear:.0}, own 440 Hz {own:.0}",
        x.len() as f64 / f64::from(rate)
    );
    assert!(hear > 1000.0 && hear > 5.0 * own.max(1.0), "{hear} {own}");
    let (y, rate) = local.received();
    let secs = y.len() as f64 / f64::from(rate);
    // The last seconds: the call through the provider is up by then.
    let w = window(&y, rate, (secs - 3.5).max(0.5), secs - 0.5);
    let (hear, own) = (
        tone_amplitude(w, rate, 440.0),
        tone_amplitude(w, rate, 1000.0),
    );
    eprintln!("local caller: 440 Hz {hear:.0}, own 1000 Hz {own:.0}");
    assert!(hear > 1000.0 && hear > 5.0 * own.max(1.0), "{hear} {own}");

    // The provider goes away: the next refresh gets no answer.
    p.stop();
    let r = wait_state(&d, &token, "prov", "failed", 20);
    assert_eq!(r["reason"], "no answer from the registrar", "{r}");
    // It comes back: registered again by itself (the back-off is short).
    p.start();
    wait_state(&d, &token, "prov", "registered", 30);
    assert!(provider_bindings_with(&p, "acct").contains("acct"));

    // A registering trunk added on the trunks page (kept in the database,
    // its password only as digests): it registers too, and goes when removed.
    // (the provider's realm is its domain, "localhost")
    let add = format!("+uiprov=127.0.0.1:{}|acct2|right|localhost", p.sip_port);
    trunks_page(
        &d,
        &d.dir.path().join("trunks-added.png"),
        &[add.as_str(), "uiprov=registered until"],
    );
    let b = provider_bindings_with(&p, "acct2");
    assert!(b.contains("acct2"), "{b}");
    let (code, body) = d.http("DELETE", "/api/v1/trunks/uiprov", Some(&token), None);
    assert_eq!(code, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while d
        .log()
        .matches("no longer registering to the provider")
        .count()
        == 0
    {
        assert!(Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Bad input gets a clear answer, and nothing is stored.
    let (code, body) = d.http(
        "POST",
        "/api/v1/trunks",
        Some(&token),
        Some("{\"name\": \"x\", \"registrar\": \"127.0.0.1:5060\", \"username\": \"u\"}"),
    );
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("password"), "{body}");
}

#[test]
fn a_trunk_registers_over_tls_and_an_untrusted_certificate_is_reported() {
    // The provider takes SIP over TLS with a certificate from its CA; one
    // of our trunks trusts that CA, the other trusts only another one.
    let other_ca = tempfile::tempdir().unwrap();
    common::make_certificate(other_ca.path());
    // Two TLS listeners: one connection per trunk (connections are per
    // address, and these two trunks trust different CAs).
    let (mut p, ca, ports) = common::with_tls(2, "");
    let (ptls, ptls2) = (ports[0], ports[1]);
    p.add_user("acct", "secret");
    p.add_user("acct2", "secret2");
    p.start();
    let trunks = format!(
        "[[trunk]]\nname = \"sprov\"\nregistrar = \"sips:127.0.0.1:{ptls}\"\nusername = \"acct\"\npassword = \"secret\"\n\
         tls_ca = {:?}\n\
         [[trunk]]\nname = \"untrusted\"\nregistrar = \"sips:127.0.0.1:{ptls2}\"\nusername = \"acct2\"\npassword = \"secret2\"\n\
         tls_ca = {:?}\nretry_s = 1\n{LOOPBACK}",
        ca.path().join("ca.pem").to_str().unwrap(),
        other_ca.path().join("ca.pem").to_str().unwrap(),
    );
    let mut d = Server::with("", &trunks);
    d.start();
    let token = api_token(&d, "ops", "admin");
    // A call in a room all along: nothing below touches it.
    let mut local = Baresip::start("bob", 1000, "pcmu", "");
    local.dial(&format!("sip:4321@127.0.0.1:{}", d.sip_port));

    // Registered over TLS: the provider has the binding, over TLS.
    wait_state(&d, &token, "sprov", "registered", 15);
    let b = provider_bindings_with(&p, "acct");
    assert!(b.contains("acct") && b.contains("transport=tls"), "{b}");
    // The untrusted certificate: failed, saying why, in the API and the log.
    let bad = wait_state(&d, &token, "untrusted", "failed", 15);
    let reason = bad["reason"].as_str().unwrap();
    assert!(
        reason.contains("TLS handshake with") && reason.contains("certificate"),
        "{bad}"
    );
    assert!(
        d.log().contains("connection failed: TLS handshake with"),
        "{}",
        d.log()
    );
    // The trunks page says so too.
    d.add_admin("ann", "correct horse", "admin");
    trunks_page(
        &d,
        &d.dir.path().join("trunks-tls.png"),
        &["sprov=registered until", "untrusted=TLS handshake with"],
    );
    // It is retried (and fails again), and the call is still up.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(registration(&d, &token, "untrusted")["state"], "failed");
    assert_eq!(registration(&d, &token, "sprov")["state"], "registered");
    let (_, rooms) = d.http("GET", "/api/v1/rooms", Some(&token), None);
    assert!(
        rooms.contains("room-4321") && rooms.contains("\"kind\":\"phone\""),
        "{rooms}"
    );
    local.stop();
}
