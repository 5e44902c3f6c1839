//! Garbage datagrams, broken requests and half messages on TCP are answered
//! 400 where a response is possible or dropped, and never crash the server or
//! stall other traffic (checked with SIPp after each abuse).

mod common;
use common::{Server, root, sipp};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

fn udp_exchange(port: u16, data: &[u8]) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    s.send_to(data, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 65536];
    s.recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn healthy(s: &Server) {
    let run = sipp("options_ping.xml", "udp", s.sip_port, "alice", "x");
    assert!(
        run.ok,
        "server stopped answering:\n{}\n{}",
        run.output,
        s.log()
    );
}

#[test]
fn garbage_datagrams_are_dropped_and_the_server_keeps_answering() {
    let mut s = Server::new("");
    s.start();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0x1234_5678_u32;
    for i in 0..2000 {
        let len = (i % 1400) + 1;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        sock.send_to(&junk, ("127.0.0.1", s.sip_port)).unwrap();
    }
    sock.send_to(b"\r\n\r\n", ("127.0.0.1", s.sip_port))
        .unwrap();
    sock.send_to(&[0u8; 65000], ("127.0.0.1", s.sip_port))
        .unwrap();
    healthy(&s);
    assert!(s.is_running());
    // logged once per source, not once per datagram
    let refusals = s.log().matches("refused SIP message").count();
    assert!(refusals < 50, "{refusals} log lines for one source");
}

#[test]
fn broken_requests_over_udp_get_400_with_the_reason() {
    let mut s = Server::new("");
    s.start();
    let bad = format!(
        "OPTIONS sip:127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: bad1\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 500\r\n\r\nshort",
        p = s.sip_port
    );
    let r = udp_exchange(s.sip_port, bad.as_bytes()).expect("an answer");
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    assert!(r.contains("Warning: 399"), "{r}");
    // every invalid RFC 4475 request gets a 4xx/5xx or nothing, and the server lives on
    for f in [
        "badinv01",
        "clerr",
        "ncl",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "mismatch01",
        "multi01",
        "insuf",
        "mcl01",
    ] {
        let bytes = std::fs::read(root().join(format!("tests/data/rfc4475/{f}.dat"))).unwrap();
        if let Some(r) = udp_exchange(s.sip_port, &bytes) {
            let code: u16 = r.split(' ').nth(1).unwrap().parse().unwrap();
            assert!((400..600).contains(&code), "{f}: {r}");
        }
    }
    healthy(&s);
}

#[test]
fn a_half_message_on_tcp_does_not_block_other_clients() {
    let mut s = Server::new("");
    s.start();
    // A slow client sends half a request and then nothing.
    let mut slow = TcpStream::connect(("127.0.0.1", s.sip_port)).unwrap();
    slow.write_all(b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;bra")
        .unwrap();
    // Others are served meanwhile, over both transports.
    healthy(&s);
    assert!(sipp("options_ping.xml", "tcp", s.sip_port, "alice", "x").ok);
    // A stream without Content-Length gets 400 and is closed.
    let mut c = TcpStream::connect(("127.0.0.1", s.sip_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(
        b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKnocl\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: nocl\r\nCSeq: 1 OPTIONS\r\n\r\n",
    )
    .unwrap();
    let mut r = String::new();
    let _ = c.read_to_string(&mut r);
    assert!(r.starts_with("SIP/2.0 400"), "{r:?}");
    // A keep-alive ping gets a pong.
    let mut k = TcpStream::connect(("127.0.0.1", s.sip_port)).unwrap();
    k.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    k.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    k.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    drop(slow);
    healthy(&s);
}

#[test]
fn an_endless_tcp_head_is_cut_off() {
    let mut s = Server::new("max_message_size = 4096");
    s.start();
    let mut c = TcpStream::connect(("127.0.0.1", s.sip_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let _ = c.write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n");
    for _ in 0..200 {
        if c.write_all(line).is_err() {
            break;
        }
    }
    // the server closes the connection
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    healthy(&s);
}
