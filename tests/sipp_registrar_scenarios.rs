//! The SIPp scenarios in sipp-scenarios/ against the real binary, over UDP and TCP.

mod common;
use common::{Server, sipp};

/// One server per test, one user per test: tests run in parallel.
fn server_with(user: &str) -> Server {
    let mut s = Server::new("");
    s.add_user(user, "secret");
    s.start();
    s
}

fn both_transports(scenario: &str, pw: &str) {
    let s = server_with("alice");
    for t in ["udp", "tcp"] {
        let run = sipp(scenario, t, s.sip_port, "alice", pw);
        assert!(
            run.ok,
            "{scenario} over {t} failed:\n{}\n--- server log:\n{}",
            run.output,
            s.log()
        );
    }
}

#[test]
fn register_with_md5_digest() {
    both_transports("register_md5.xml", "secret");
}

#[test]
fn register_is_challenged_with_sha256_and_md5() {
    both_transports("register_sha256_challenge.xml", "secret");
}

#[test]
fn re_register_refreshes_the_binding() {
    both_transports("register_refresh.xml", "secret");
}

#[test]
fn unregister_one_contact() {
    both_transports("unregister.xml", "secret");
}

#[test]
fn unregister_all_with_star() {
    both_transports("unregister_all.xml", "secret");
}

#[test]
fn wrong_password_ends_in_403() {
    both_transports("register_wrong_password.xml", "not-the-password");
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires() {
    both_transports("register_interval_too_brief.xml", "secret");
}

#[test]
fn options_ping_is_answered_with_allow() {
    both_transports("options_ping.xml", "secret");
}

#[test]
fn a_scenario_fails_when_the_server_misbehaves() {
    // The checks can fail: the right password makes the 403 scenario fail.
    let s = server_with("alice");
    let run = sipp(
        "register_wrong_password.xml",
        "udp",
        s.sip_port,
        "alice",
        "secret",
    );
    assert!(
        !run.ok,
        "the wrong-password scenario passed with the right password"
    );
}

/// A registered UDP contact gets an OPTIONS keepalive every
/// `[sip] keepalive_s` (here 1 s), to the address it registered from.
#[test]
fn a_registered_contact_gets_keepalives() {
    let mut s = Server::new("keepalive_s = 1\n");
    s.add_user("alice", "secret");
    s.start();
    let run = sipp(
        "register_then_keepalive.xml",
        "udp",
        s.sip_port,
        "alice",
        "secret",
    );
    assert!(run.ok, "{}\n--- server log:\n{}", run.output, s.log());
}
