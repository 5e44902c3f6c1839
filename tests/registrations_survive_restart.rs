//! Registrations live in the database: they are still listed after a clean
//! restart and after the server is killed (once the write-back interval passed).

mod common;
use common::{Server, sipp};
use std::time::Duration;

fn listed(s: &Server) -> String {
    let o = s.cli(&["registrations"]);
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_registration_is_listed_after_a_clean_restart() {
    let mut s = Server::new("");
    s.add_user("alice", "secret");
    s.start();
    // Before registering, a query lists nothing (the scenario needs a Contact).
    assert!(!sipp("register_query.xml", "udp", s.sip_port, "alice", "secret").ok);
    let run = sipp("register_md5.xml", "udp", s.sip_port, "alice", "secret");
    assert!(run.ok, "{}", run.output);
    s.stop();
    assert!(
        listed(&s).contains("alice\tsip:alice@127.0.0.1:"),
        "{}",
        listed(&s)
    );
    s.start();
    let run = sipp("register_query.xml", "udp", s.sip_port, "alice", "secret");
    assert!(
        run.ok,
        "after restart the registrar lost the binding:\n{}\n{}",
        run.output,
        s.log()
    );
}

#[test]
fn a_registration_survives_kill_9() {
    let mut s = Server::new("location_flush_ms = 50");
    s.add_user("bob", "pw");
    s.start();
    let run = sipp("register_md5.xml", "tcp", s.sip_port, "bob", "pw");
    assert!(run.ok, "{}", run.output);
    std::thread::sleep(Duration::from_millis(500));
    s.kill9();
    s.start();
    let run = sipp("register_query.xml", "tcp", s.sip_port, "bob", "pw");
    assert!(
        run.ok,
        "after kill -9 the registrar lost the binding:\n{}",
        run.output
    );
}

#[test]
fn an_unregistered_contact_stays_gone_after_restart() {
    let mut s = Server::new("");
    s.add_user("carol", "pw");
    s.start();
    assert!(sipp("unregister.xml", "udp", s.sip_port, "carol", "pw").ok);
    s.stop();
    assert!(!listed(&s).contains("carol"), "{}", listed(&s));
    s.start();
    assert!(!sipp("register_query.xml", "udp", s.sip_port, "carol", "pw").ok);
}
