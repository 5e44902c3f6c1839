//! SASL PLAIN checks the password against the users table (HA1 recomputed
//! for the stored realm): a user added with `dialroom user add` logs in with
//! slixmpp, a wrong password and an unknown user get a SASL failure, and
//! ANONYMOUS can be turned off.

mod common;
use common::{Server, slixmpp};

#[test]
fn a_user_from_the_table_logs_in_with_plain_and_a_wrong_password_fails() {
    let mut s = Server::new("");
    s.add_user("alice", "s3cret");
    s.start();
    let v = slixmpp(&s, "login", &["--user", "alice", "--password", "s3cret"]);
    let bound = v["bound"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}\n{}", s.log()));
    assert!(bound.starts_with("alice@localhost/"), "{v}");
    assert_eq!(v["ping"], "result", "{v}");

    for (user, pw) in [("alice", "wrong"), ("mallory", "s3cret")] {
        let v = slixmpp(
            &s,
            "login",
            &["--user", user, "--password", pw, "--timeout", "8"],
        );
        assert!(v["bound"].is_null(), "{user}: {v}");
        assert!(
            v["failure"]
                .as_str()
                .unwrap_or("")
                .contains("not-authorized"),
            "{user}: {v}"
        );
    }
}

#[test]
fn with_anonymous_off_a_guest_cannot_log_in() {
    let mut s = Server::with_xmpp("anonymous = false");
    s.start();
    let v = slixmpp(&s, "login", &["--timeout", "5"]);
    assert!(v["bound"].is_null(), "{v}");
    assert!(!v["failure"].is_null(), "slixmpp reports why: {v}");
}
