//! Repeated authentication failures from one source get it blocked for a
//! while (`[sip] auth_failure_limit`, `auth_block_seconds`): its REGISTERs are
//! dropped, while other requests and other sources are still served.

mod common;
use common::{Server, sipp};

#[test]
fn after_the_limit_a_source_gets_no_more_challenges() {
    let mut s = Server::new("auth_failure_limit = 3\nauth_block_seconds = 600");
    s.add_user("alice", "secret");
    s.start();
    for i in 0..3 {
        let run = sipp(
            "register_wrong_password.xml",
            "udp",
            s.sip_port,
            "alice",
            "guess",
        );
        assert!(run.ok, "attempt {i} should end in 403:\n{}", run.output);
    }
    // Blocked: even the right password gets no answer now.
    let run = sipp("register_md5.xml", "udp", s.sip_port, "alice", "secret");
    assert!(!run.ok, "a blocked source was still answered");
    assert!(
        s.log().contains("too many failed authentications"),
        "{}",
        s.log()
    );
    // OPTIONS is still answered.
    assert!(sipp("options_ping.xml", "udp", s.sip_port, "alice", "x").ok);
}
