//! Bad input closes only the session that sent it, with the RFC 6120 stream
//! error it deserves; a guest logged in on another connection keeps being
//! served. Raw TCP, because no real client sends garbage on purpose.

mod common;
use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HEAD: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

struct Raw {
    s: TcpStream,
    got: String,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Raw {
            s,
            got: String::new(),
        }
    }
    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).unwrap();
    }
    /// Reads until `needle` has arrived (after what earlier calls consumed); returns it all.
    fn until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while !self.got.contains(needle) {
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?}, got {:?}",
                self.got
            );
            match self.s.read(&mut buf) {
                Ok(0) => panic!("closed while waiting for {needle:?}; got {:?}", self.got),
                Ok(n) => self.got.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
        let at = self.got.find(needle).unwrap() + needle.len();
        let head: String = self.got.drain(..at).collect();
        head
    }
    /// True when the server closed the connection within 5 s.
    fn closed(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.got.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => {}
            }
        }
        false
    }
    fn guest(port: u16) -> Raw {
        let mut r = Raw::connect(port);
        r.send(HEAD);
        r.until("</stream:features>");
        r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
        r.until("<success");
        r.send(HEAD);
        let f = r.until("</stream:features>");
        assert!(f.contains("urn:ietf:params:xml:ns:xmpp-bind"), "{f}");
        r.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        let b = r.until("</iq>");
        assert!(b.contains("<jid>") && b.contains("@localhost/"), "{b}");
        r
    }
    fn ping(&mut self, id: &str) {
        self.send(&format!(
            "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        let r = self.until(&format!("id='{id}'"));
        let r = r + &self.until("/>");
        assert!(r.contains("type='result'"), "{r}");
    }
}

fn stream_error(r: &mut Raw, condition: &str) {
    let e = r.until("</stream:stream>");
    assert!(
        e.contains(&format!("<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")),
        "{e}"
    );
    assert!(
        r.closed(),
        "the server closes the session after a stream error"
    );
}

#[test]
fn malformed_xml_closes_only_that_session() {
    let mut s = Server::new("");
    s.start();
    let mut good = Raw::guest(s.xmpp_port);
    good.ping("p1");

    let mut bad = Raw::connect(s.xmpp_port);
    bad.send(HEAD);
    bad.until("</stream:features>");
    bad.send("<iq type='get'><<oops/></iq>");
    stream_error(&mut bad, "not-well-formed");

    let mut bad = Raw::connect(s.xmpp_port);
    bad.send("<!DOCTYPE lol [<!ENTITY lol 'lol'>]><stream:stream>");
    stream_error(&mut bad, "not-well-formed");

    // A bound guest that then sends garbage is closed too; the other is not.
    let mut bound_bad = Raw::guest(s.xmpp_port);
    bound_bad.send("<message><body>&nosuchentity;</body></message>");
    stream_error(&mut bound_bad, "not-well-formed");

    good.ping("p2");
    assert!(s.is_running());
}

#[test]
fn stanzas_out_of_order_or_too_big_get_their_stream_errors() {
    let mut s = Server::new("");
    s.start();
    // An IQ before authenticating.
    let mut r = Raw::connect(s.xmpp_port);
    r.send(HEAD);
    r.until("</stream:features>");
    r.send("<iq type='get' id='x' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    stream_error(&mut r, "not-authorized");

    // A message before binding a resource.
    let mut r = Raw::connect(s.xmpp_port);
    r.send(HEAD);
    r.until("</stream:features>");
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
    r.until("<success");
    r.send(HEAD);
    r.until("</stream:features>");
    r.send("<message to='localhost'><body>hi</body></message>");
    stream_error(&mut r, "not-authorized");

    // A stanza over [xmpp] max_stanza_size (64 KiB by default).
    let mut r = Raw::guest(s.xmpp_port);
    r.send(&format!(
        "<message to='localhost'><body>{}</body></message>",
        "x".repeat(70_000)
    ));
    stream_error(&mut r, "policy-violation");

    // A header for a domain we do not serve.
    let mut r = Raw::connect(s.xmpp_port);
    r.send(&HEAD.replace("to='localhost'", "to='example.org'"));
    stream_error(&mut r, "host-unknown");

    // An unknown IQ is a stanza error, and the session goes on.
    let mut g = Raw::guest(s.xmpp_port);
    g.send("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
    let e = g.until("</iq>");
    assert!(
        e.contains("type='error'")
            && e.contains("<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"),
        "{e}"
    );
    g.send("<iq type='get' id='v2' to='nobody@localhost/x'><ping xmlns='urn:xmpp:ping'/></iq>");
    let e = g.until("</iq>");
    assert!(e.contains("service-unavailable"), "{e}");
    g.ping("p3");
}
