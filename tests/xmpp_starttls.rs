//! STARTTLS on the XMPP TCP listener (RFC 6120 §5) when `[xmpp] tls_cert`
//! and `tls_key` are set: slixmpp, trusting only a CA made for the test,
//! upgrades the stream, verifies the certificate for the domain, then logs
//! in with PLAIN over TLS. With TLS required (the default), a client that
//! will not encrypt gets no SASL mechanism and no session.

mod common;
use common::{Server, make_certificate, slixmpp};
use std::path::Path;

fn server_with_tls(dir: &Path, extra: &str) -> Server {
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let mut s = Server::with_xmpp(&format!(
        "tls_cert = {:?}\ntls_key = {:?}\n{extra}",
        cert.to_str().unwrap(),
        key.to_str().unwrap()
    ));
    s.add_user("alice", "s3cret");
    s.start();
    s
}

#[test]
fn a_client_upgrades_with_starttls_verifies_the_certificate_and_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let ca = dir.path().join("ca.pem");
    let s = server_with_tls(dir.path(), "");
    assert!(
        s.log().contains("STARTTLS required"),
        "the log says how XMPP listens:\n{}",
        s.log()
    );
    let v = slixmpp(
        &s,
        "login",
        &[
            "--user",
            "alice",
            "--password",
            "s3cret",
            "--tls-ca",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(v["encrypted"], true, "{v}\n{}", s.log());
    let bound = v["bound"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}\n{}", s.log()));
    assert!(bound.starts_with("alice@localhost/"), "{v}");
    assert_eq!(v["ping"], "result", "{v}");
}

#[test]
fn with_tls_required_a_client_that_will_not_encrypt_gets_no_session() {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let s = server_with_tls(dir.path(), "");
    let v = slixmpp(
        &s,
        "login",
        &["--user", "alice", "--password", "s3cret", "--timeout", "5"],
    );
    assert!(v["bound"].is_null(), "logged in without TLS: {v}");
    assert_eq!(v["encrypted"], false, "{v}");
}

#[test]
fn with_tls_optional_a_plain_client_still_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let s = server_with_tls(dir.path(), "require_tls = false");
    let v = slixmpp(&s, "login", &["--user", "alice", "--password", "s3cret"]);
    assert!(v["bound"].as_str().is_some(), "{v}\n{}", s.log());
    assert_eq!(v["encrypted"], false, "{v}");
}

#[test]
fn a_missing_certificate_file_stops_the_server_with_a_clear_error() {
    let s = Server::with_xmpp(
        "tls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
    );
    let o = s.cli(&["serve"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tls_cert") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}
