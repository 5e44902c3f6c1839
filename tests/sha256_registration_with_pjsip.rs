//! A real SIP stack nobody here wrote (pjsip, via pjsua2) registers with
//! SHA-256 digest (RFC 8760); a wrong password ends in 403.

mod common;
use common::{Server, peers_python, root};
use std::process::Command;

fn pjsua(s: &Server, transport: &str, pw: &str, expect: &str) -> (bool, String) {
    let py = peers_python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/test.sh (it installs tests/peers/requirements.txt)",
        py.display()
    );
    let o = Command::new(py)
        .arg(root().join("tests/peers/register_sha256.py"))
        .args(["--server", &format!("127.0.0.1:{}", s.sip_port)])
        .args([
            "--transport",
            transport,
            "--user",
            "alice",
            "--password",
            pw,
        ])
        .args(["--domain", "127.0.0.1", "--realm", "localhost"])
        .args([
            "--algorithm",
            "SHA-256",
            "--expect",
            expect,
            "--timeout",
            "15",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn pjsip_registers_with_sha256_over_udp_and_tcp() {
    let mut s = Server::new("");
    s.add_user("alice", "secret");
    s.start();
    for t in ["udp", "tcp"] {
        let (ok, out) = pjsua(&s, t, "secret", "200");
        assert!(ok, "{t}: {out}\n{}", s.log());
        assert!(out.contains("algorithm used: SHA-256"), "{out}");
    }
    // The location service writes behind ([sip] location_flush_ms, 200 ms
    // by default): the CLI, reading the database, sees the binding within
    // a flush or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let o = s.cli(&["registrations"]);
        let listed = String::from_utf8_lossy(&o.stdout).to_string();
        if listed.contains("alice") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alice is not listed: {listed}\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn pjsip_with_a_wrong_password_gets_403() {
    let mut s = Server::new("");
    s.add_user("alice", "secret");
    s.start();
    let (ok, out) = pjsua(&s, "udp", "wrong", "403");
    assert!(ok, "{out}");
}

#[test]
fn a_sha256_only_server_still_serves_pjsip() {
    let mut s = Server::new("digest_algorithms = [\"SHA-256\"]");
    s.add_user("alice", "secret");
    s.start();
    let (ok, out) = pjsua(&s, "udp", "secret", "200");
    assert!(ok, "{out}");
}
