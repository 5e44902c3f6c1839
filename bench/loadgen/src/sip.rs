//! A minimal SIP UAC over UDP: INVITE (with an SDP offer) / 200 / ACK, and
//! BYE / 200. Retransmits INVITE and BYE on Timer A's schedule (T1 = 500 ms,
//! doubling), stops retransmitting an INVITE on any provisional answer, and
//! ACKs every 2xx it gets (the server retransmits 200 until it sees an ACK).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::signal::Codec;

/// What call setup produced for one leg.
#[derive(Debug, Clone)]
pub struct Answered {
    /// Where to send RTP (the answer's c= and m= port).
    pub rtp: SocketAddr,
    /// The payload type the answer chose.
    pub pt: u8,
}

#[derive(Debug)]
struct Call {
    leg: usize,
    call_id: String,
    from_tag: String,
    to_uri: String,
    to_tag: Option<String>,
    target: Option<String>,
    invite: Vec<u8>,
    sent: Instant,
    next_resend: Option<Instant>,
    interval: Duration,
    resends: u32,
    done: bool,
    bye: Option<(Vec<u8>, Instant, Duration, u32)>,
    bye_done: bool,
}

/// Call setup and teardown statistics.
#[derive(Debug, Default, Clone)]
pub struct SipStats {
    pub invites: usize,
    pub answered: usize,
    pub failed: usize,
    pub failures: HashMap<u16, usize>,
    pub invite_resends: usize,
    pub setup_ms: Vec<f64>,
    pub byes_ok: usize,
    pub bye_resends: usize,
    pub server_requests: usize,
}

pub struct Uac {
    sock: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    codec: Codec,
    calls: Vec<Call>,
    by_id: HashMap<String, usize>,
    buf: Vec<u8>,
    seq: u64,
    pub stats: SipStats,
}

fn header<'a>(head: &'a str, names: &[&str]) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        let n = n.trim();
        names
            .iter()
            .any(|x| n.eq_ignore_ascii_case(x))
            .then_some(v.trim())
    })
}

fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    // Parameters after the name-addr's '>' (or the whole value).
    let rest = v.rsplit_once('>').map_or(v, |x| x.1);
    rest.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then_some(val.trim())
    })
}

fn uri_of(v: &str) -> String {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if b > a => v[a + 1..b].to_string(),
        _ => v.split(';').next().unwrap_or(v).trim().to_string(),
    }
}

impl Uac {
    pub fn new(server: SocketAddr, codec: Codec) -> std::io::Result<Uac> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(2)))?;
        let local = sock.local_addr()?;
        Ok(Uac {
            sock,
            local,
            server,
            codec,
            calls: Vec::new(),
            by_id: HashMap::new(),
            buf: vec![0; 65536],
            seq: rand_u64(),
            stats: SipStats::default(),
        })
    }

    fn token(&mut self) -> String {
        self.seq = self
            .seq
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        format!("{:016x}", self.seq)
    }

    fn sdp(&self, rtp_port: u16) -> String {
        let fmt = match self.codec {
            Codec::Pcmu => "0 101\r\na=rtpmap:0 PCMU/8000".to_string(),
            Codec::Opus => {
                "111 101\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1".to_string()
            }
        };
        format!(
            "v=0\r\no=- {rtp_port} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP {fmt}\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        )
    }

    /// Sends the INVITE of `leg` into room number `room` from RTP port `rtp_port`.
    pub fn invite(&mut self, leg: usize, room: u32, rtp_port: u16) {
        let call_id = format!("{}@loadgen", self.token());
        let from_tag = self.token()[..10].to_string();
        let branch = self.token();
        let to_uri = format!("sip:{room:04}@{}", self.server);
        let body = self.sdp(rtp_port);
        let msg = format!(
            "INVITE {to_uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:leg{leg}@127.0.0.1>;tag={from_tag}\r\n\
             To: <{to_uri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:leg{leg}@{local}>\r\n\
             User-Agent: dialroom-loadgen\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len(),
            local = self.local,
        )
        .into_bytes();
        let _ = self.sock.send_to(&msg, self.server);
        let now = Instant::now();
        let idx = self.calls.len();
        self.by_id.insert(call_id.clone(), idx);
        self.calls.push(Call {
            leg,
            call_id,
            from_tag,
            to_uri,
            to_tag: None,
            target: None,
            invite: msg,
            sent: now,
            next_resend: Some(now + Duration::from_millis(500)),
            interval: Duration::from_millis(500),
            resends: 0,
            done: false,
            bye: None,
            bye_done: false,
        });
        self.stats.invites += 1;
    }

    fn in_dialog(&mut self, idx: usize, method: &str, cseq: u32) -> Vec<u8> {
        let branch = self.token();
        let c = &self.calls[idx];
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:leg{leg}@127.0.0.1>;tag={ft}\r\n\
             To: <{to}>;tag={tt}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            target = c.target.as_deref().unwrap_or(&c.to_uri),
            local = self.local,
            leg = c.leg,
            ft = c.from_tag,
            to = c.to_uri,
            tt = c.to_tag.as_deref().unwrap_or(""),
            cid = c.call_id,
        )
        .into_bytes()
    }

    /// Handles what arrived and the retransmission timers for `wait`;
    /// calls `on_answer(leg, answer)` for each newly answered call.
    pub fn poll(&mut self, wait: Duration, on_answer: &mut dyn FnMut(usize, Answered)) {
        let until = Instant::now() + wait;
        loop {
            match self.sock.recv_from(&mut self.buf) {
                Ok((n, src)) => {
                    let msg = self.buf[..n].to_vec();
                    self.on_message(&msg, src, on_answer);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {}
            }
            self.timers();
            if Instant::now() >= until {
                break;
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        for c in &mut self.calls {
            if let Some(t) = c.next_resend
                && now >= t
            {
                if c.resends >= 6 {
                    c.next_resend = None;
                    if !c.done {
                        c.done = true;
                        self.stats.failed += 1;
                        *self.stats.failures.entry(408).or_default() += 1;
                    }
                } else {
                    let _ = self.sock.send_to(&c.invite, self.server);
                    c.resends += 1;
                    self.stats.invite_resends += 1;
                    c.interval = (c.interval * 2).min(Duration::from_secs(4));
                    c.next_resend = Some(now + c.interval);
                }
            }
            if let Some((msg, at, iv, n)) = &mut c.bye
                && !c.bye_done
                && now >= *at
            {
                if *n >= 6 {
                    c.bye_done = true;
                } else {
                    let _ = self.sock.send_to(msg, self.server);
                    *n += 1;
                    self.stats.bye_resends += 1;
                    *iv = (*iv * 2).min(Duration::from_secs(4));
                    *at = now + *iv;
                }
            }
        }
    }

    fn on_message(
        &mut self,
        msg: &[u8],
        src: SocketAddr,
        on_answer: &mut dyn FnMut(usize, Answered),
    ) {
        let text = String::from_utf8_lossy(msg);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let first = head.lines().next().unwrap_or("");
        if !first.starts_with("SIP/2.0 ") {
            // A request from the server (BYE on RTP timeout, OPTIONS...): 200 it.
            self.stats.server_requests += 1;
            let mut resp = String::from("SIP/2.0 200 OK\r\n");
            for l in head.split("\r\n").skip(1) {
                let n = l
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if matches!(
                    n.as_str(),
                    "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq"
                ) {
                    resp.push_str(l);
                    resp.push_str("\r\n");
                }
            }
            resp.push_str("Content-Length: 0\r\n\r\n");
            let _ = self.sock.send_to(resp.as_bytes(), src);
            return;
        }
        let code: u16 = first
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let Some(cid) = header(head, &["Call-ID", "i"]) else {
            return;
        };
        let Some(&idx) = self.by_id.get(cid) else {
            return;
        };
        let cseq = header(head, &["CSeq"]).unwrap_or("");
        if cseq.ends_with("BYE") {
            if code >= 200 && !self.calls[idx].bye_done {
                self.calls[idx].bye_done = true;
                if (200..300).contains(&code) {
                    self.stats.byes_ok += 1;
                }
            }
            return;
        }
        if !cseq.ends_with("INVITE") {
            return;
        }
        if code < 200 {
            self.calls[idx].next_resend = None;
            return;
        }
        let to = header(head, &["To", "t"]).unwrap_or("");
        let tag = param(to, "tag").map(str::to_string);
        if (200..300).contains(&code) {
            let first_time = !self.calls[idx].done;
            {
                let c = &mut self.calls[idx];
                c.next_resend = None;
                if first_time {
                    c.done = true;
                    c.to_tag = tag;
                    c.target = header(head, &["Contact", "m"]).map(uri_of);
                }
            }
            // ACK every 2xx (a retransmitted 200 means our ACK was lost).
            let ack = self.in_dialog(idx, "ACK", 1);
            let _ = self.sock.send_to(&ack, self.server);
            if first_time {
                match parse_answer(body) {
                    Some(a) => {
                        self.stats.answered += 1;
                        self.stats
                            .setup_ms
                            .push(self.calls[idx].sent.elapsed().as_secs_f64() * 1000.0);
                        on_answer(self.calls[idx].leg, a);
                    }
                    None => {
                        self.stats.failed += 1;
                        *self.stats.failures.entry(606).or_default() += 1;
                    }
                }
            }
        } else {
            // Non-2xx: ACK in the same transaction (same branch as the INVITE).
            let c = &mut self.calls[idx];
            c.next_resend = None;
            if !c.done {
                c.done = true;
                self.stats.failed += 1;
                *self.stats.failures.entry(code).or_default() += 1;
            }
            let inv = String::from_utf8_lossy(&c.invite).to_string();
            let via = header(&inv, &["Via"]).unwrap_or("").to_string();
            let ack = format!(
                "ACK {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:leg{}@127.0.0.1>;tag={}\r\n\
                 To: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                c.to_uri, c.leg, c.from_tag, c.call_id
            );
            let _ = self.sock.send_to(ack.as_bytes(), self.server);
        }
    }

    /// Calls still waiting for a final answer.
    pub fn pending(&self) -> usize {
        self.calls.iter().filter(|c| !c.done).count()
    }

    /// Sends a BYE on every answered call, `rate` per second.
    pub fn hang_up_all(&mut self, rate: f64) {
        let start = Instant::now();
        let answered: Vec<usize> = (0..self.calls.len())
            .filter(|&i| self.calls[i].to_tag.is_some())
            .collect();
        for (k, idx) in answered.iter().copied().enumerate() {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            while Instant::now() < due {
                self.poll(Duration::from_millis(1), &mut |_, _| {});
            }
            let bye = self.in_dialog(idx, "BYE", 2);
            let _ = self.sock.send_to(&bye, self.server);
            self.calls[idx].bye = Some((
                bye,
                Instant::now() + Duration::from_millis(500),
                Duration::from_millis(500),
                0,
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && self.calls.iter().any(|c| c.bye.is_some() && !c.bye_done)
        {
            self.poll(Duration::from_millis(20), &mut |_, _| {});
        }
    }
}

/// The RTP address and payload type of an SDP answer.
pub fn parse_answer(body: &str) -> Option<Answered> {
    let mut ip = None;
    let mut media_ip = None;
    let mut port_pt = None;
    for l in body.lines() {
        let l = l.trim();
        if let Some(c) = l.strip_prefix("c=IN IP4 ") {
            let a = c.split('/').next()?.trim().parse().ok();
            if port_pt.is_some() {
                media_ip = a;
            } else {
                ip = a;
            }
        } else if let Some(m) = l.strip_prefix("m=audio ") {
            let mut it = m.split_whitespace();
            let port: u16 = it.next()?.parse().ok()?;
            let _proto = it.next()?;
            let pt: u8 = it.next()?.parse().ok()?;
            port_pt = Some((port, pt));
        }
    }
    let (port, pt) = port_pt?;
    let ip: std::net::Ipv4Addr = media_ip.or(ip)?;
    if port == 0 {
        return None;
    }
    Some(Answered {
        rtp: SocketAddr::new(ip.into(), port),
        pt,
    })
}

/// A random-enough seed (time and pid) without a crate for it.
pub fn rand_u64() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    t ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_headers_parse() {
        let a = parse_answer(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20002 RTP/AVP 0 101\r\n",
        )
        .unwrap();
        assert_eq!(a.rtp, "127.0.0.1:20002".parse().unwrap());
        assert_eq!(a.pt, 0);
        let head = "SIP/2.0 200 OK\r\nTo: <sip:1000@127.0.0.1:5060>;tag=abc\r\nContact: <sip:127.0.0.1:5060;transport=udp>";
        assert_eq!(
            param(header(head, &["To", "t"]).unwrap(), "tag"),
            Some("abc")
        );
        assert_eq!(
            uri_of(header(head, &["Contact"]).unwrap()),
            "sip:127.0.0.1:5060;transport=udp"
        );
    }
}
