//! Browser-like SFU load for bench/sfu.sh.
//!
//! Each participant is a thread that joins a room the way a browser does:
//! XMPP over WebSocket (RFC 7395, SASL ANONYMOUS), the focus's conference IQ,
//! the MUC join, then the focus's Jingle `session-initiate`, answered with a
//! `session-accept`; ICE (controlling, against the SFU's ICE-lite), DTLS
//! (active) and SRTP with str0m, the same stack the SFU uses. Every
//! participant then sends one audio stream at 50 packets/s (80-byte Opus-sized
//! payloads whose RFC 6464 level says silence, as a browser's microphone does
//! in a meeting where someone else talks) and counts the SRTP packets the
//! SFU forwards to it, without decrypting them.
//!
//! Usage: dialroom-sfuload --web HOST:PORT --rooms R --size N --seconds S
//!        [--domain localhost] [--pid SERVER_PID] [--warmup SECONDS]
//!
//! Prints one JSON object: participants connected, packets sent and
//! received per second over the window, the server's CPU (whole process and
//! its threads by name) and this generator's, and forwarded packets per
//! second per core of server CPU.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use minidom::Element;
use str0m::change::DirectApi;
use str0m::format::{Codec, CodecConfig, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, RtcConfig};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const PT_OPUS: u8 = 111;
const NS_JINGLE: &str = "urn:xmpp:jingle:1";
const NS_ICE: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";

#[derive(Clone, Debug)]
struct Args {
    web: String,
    domain: String,
    rooms: usize,
    size: usize,
    seconds: f64,
    warmup: f64,
    pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        web: "127.0.0.1:8080".into(),
        domain: "localhost".into(),
        rooms: 10,
        size: 10,
        seconds: 20.0,
        warmup: 3.0,
        pid: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--web" => a.web = val,
            "--domain" => a.domain = val,
            "--rooms" => a.rooms = val.parse().expect("--rooms N"),
            "--size" => a.size = val.parse().expect("--size N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds S"),
            "--warmup" => a.warmup = val.parse().expect("--warmup S"),
            "--pid" => a.pid = Some(val.parse().expect("--pid PID")),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(5);
            }
        }
        i += 2;
    }
    a
}

#[derive(Default)]
struct Counters {
    tx: AtomicU64,
    rx: AtomicU64,
    connected: AtomicUsize,
    failed: AtomicUsize,
}

type Ws = WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// One XMPP-over-WebSocket client: one stanza per message.
struct Xmpp {
    ws: Ws,
    next_id: u64,
}

impl Xmpp {
    fn connect(web: &str) -> Result<Xmpp, String> {
        let mut req = format!("ws://{web}/xmpp-websocket")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "xmpp".parse().expect("a header value"),
        );
        let (ws, _) = tungstenite::connect(req).map_err(|e| format!("websocket: {e}"))?;
        Ok(Xmpp { ws, next_id: 1 })
    }

    fn send(&mut self, s: String) -> Result<(), String> {
        self.ws
            .send(Message::text(s))
            .map_err(|e| format!("send: {e}"))
    }

    fn recv(&mut self) -> Result<Element, String> {
        loop {
            match self.ws.read().map_err(|e| format!("read: {e}"))? {
                Message::Text(t) => {
                    return t
                        .as_str()
                        .parse::<Element>()
                        .map_err(|e| format!("bad XML from the server: {e}: {t}"));
                }
                Message::Close(_) => return Err("closed by the server".into()),
                _ => {}
            }
        }
    }

    /// Reads until `pred` holds; IQ sets on the way (source-add, ...) are
    /// answered with a result.
    fn wait(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Result<Element, String> {
        loop {
            let el = self.recv()?;
            if pred(&el) {
                return Ok(el);
            }
            if el.name() == "iq" && el.attr("type") == Some("set") {
                self.result(&el)?;
            } else if el.name() == "iq" && el.attr("type") == Some("error") {
                return Err(format!(
                    "error while waiting for {what}: {}",
                    String::from(&el)
                ));
            }
        }
    }

    fn result(&mut self, iq: &Element) -> Result<(), String> {
        let (id, from) = (iq.attr("id").unwrap_or(""), iq.attr("from").unwrap_or(""));
        self.send(format!(
            "<iq xmlns='jabber:client' type='result' id='{id}' to='{from}'/>"
        ))
    }

    fn iq(&mut self, to: &str, body: &str) -> Result<Element, String> {
        let id = format!("q{}", self.next_id);
        self.next_id += 1;
        self.send(format!(
            "<iq xmlns='jabber:client' type='set' id='{id}' to='{to}'>{body}</iq>"
        ))?;
        self.wait(&id, |e| {
            e.name() == "iq"
                && e.attr("id") == Some(id.as_str())
                && e.attr("type") == Some("result")
        })
    }
}

/// What the focus offered.
struct Offer {
    sid: String,
    focus: String,
    ufrag: String,
    pwd: String,
    fingerprint: String,
    candidate: SocketAddr,
}

fn parse_offer(iq: &Element) -> Result<Offer, String> {
    let j = iq.get_child("jingle", NS_JINGLE).ok_or("no jingle")?;
    let tr = j
        .children()
        .filter(|c| c.name() == "content")
        .find_map(|c| c.get_child("transport", NS_ICE))
        .ok_or("no transport")?;
    let fp = tr
        .get_child("fingerprint", NS_DTLS)
        .ok_or("no fingerprint")?;
    let cand = tr
        .children()
        .find(|c| c.name() == "candidate")
        .ok_or("no candidate")?;
    let addr = format!(
        "{}:{}",
        cand.attr("ip").unwrap_or(""),
        cand.attr("port").unwrap_or("")
    );
    Ok(Offer {
        sid: j.attr("sid").unwrap_or("").to_string(),
        focus: iq.attr("from").unwrap_or("").to_string(),
        ufrag: tr.attr("ufrag").unwrap_or("").to_string(),
        pwd: tr.attr("pwd").unwrap_or("").to_string(),
        fingerprint: format!(
            "{} {}",
            fp.attr("hash").unwrap_or("sha-256"),
            fp.text().trim()
        ),
        candidate: addr.parse().map_err(|e| format!("candidate {addr}: {e}"))?,
    })
}

fn rtc_config() -> RtcConfig {
    let mut c = CodecConfig::empty();
    c.add_config(
        Pt::from(PT_OPUS),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..Default::default()
        },
    );
    let mut e = ExtensionMap::empty();
    e.set(1, Extension::AudioLevel);
    let mut cfg = RtcConfig::new().set_rtp_mode(true).set_extension_map(e);
    *cfg.codec_config() = c;
    cfg
}

/// Joins, answers, connects, then sends and counts until `stop`.
fn participant(a: &Args, room: &str, counters: &Counters, stop: &AtomicBool) -> Result<(), String> {
    let mut x = Xmpp::connect(&a.web)?;
    let open = format!(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{}' version='1.0'/>",
        a.domain
    );
    x.send(open.clone())?;
    x.wait("features", |e| e.name() == "features")?;
    x.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>".into())?;
    x.wait("success", |e| e.name() == "success")?;
    x.send(open)?;
    x.wait("features", |e| e.name() == "features")?;
    let bound = x.iq("", "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>");
    let bound = match bound {
        Ok(b) => b,
        Err(e) => return Err(format!("bind: {e}")),
    };
    let jid = bound
        .children()
        .next()
        .and_then(|b| b.children().next())
        .map(|j| j.text())
        .ok_or("no bound jid")?;
    let nick: String = jid.chars().take(8).collect();
    let muc = format!("{room}@conference.{}", a.domain);
    x.iq(
        &format!("focus.{}", a.domain),
        &format!(
            "<conference xmlns='http://jitsi.org/protocol/focus' room='{muc}' machine-uid='{nick}'/>"
        ),
    )?;
    x.send(format!(
        "<presence xmlns='jabber:client' to='{muc}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ))?;
    let init = x.wait("session-initiate", |e| {
        e.name() == "iq"
            && e.get_child("jingle", NS_JINGLE)
                .is_some_and(|j| j.attr("action") == Some("session-initiate"))
    })?;
    x.result(&init)?;
    let offer = parse_offer(&init)?;

    // A 1 MiB receive buffer: 200 threads share two cores with the server,
    // and a thread that waits for the CPU must not lose what was forwarded.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .map_err(|e| e.to_string())?;
    let _ = sock.set_recv_buffer_size(1 << 20);
    sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .map_err(|e| e.to_string())?;
    let sock: UdpSocket = sock.into();
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = rtc_config().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    rtc.add_remote_candidate(Candidate::host(offer.candidate, "udp").map_err(|e| e.to_string())?);
    let ssrc: u32 = (std::process::id() << 16) ^ (local.port() as u32) ^ 0x5a5a_0000;
    let mid = Mid::from("a0");
    let (creds, fp) = {
        let mut api: DirectApi = rtc.direct_api();
        api.set_ice_controlling(true);
        api.set_remote_ice_credentials(IceCreds {
            ufrag: offer.ufrag.clone(),
            pass: offer.pwd.clone(),
        });
        api.set_remote_fingerprint(
            offer
                .fingerprint
                .parse()
                .map_err(|e| format!("fingerprint: {e:?}"))?,
        );
        api.start_dtls(true).map_err(|e| e.to_string())?;
        api.declare_media(mid, MediaKind::Audio);
        api.declare_stream_tx(Ssrc::from(ssrc), None, mid, None);
        (
            api.local_ice_credentials(),
            api.local_dtls_fingerprint().to_string(),
        )
    };
    let (hash, value) = fp.split_once(' ').unwrap_or(("sha-256", fp.as_str()));
    x.iq(
        &offer.focus,
        &format!(
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}' responder='{jid}'>\
             <content creator='responder' name='audio' senders='both'>\
             <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
             <payload-type id='111' name='opus' clockrate='48000' channels='2'/>\
             <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{ssrc}'/><rtcp-mux/></description>\
             <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='{u}' pwd='{p}'>\
             <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='{hash}' setup='active'>{value}</fingerprint>\
             <candidate component='1' foundation='1' generation='0' id='c1' ip='127.0.0.1' port='{port}' \
             priority='2130706431' protocol='udp' type='host'/></transport></content></jingle>",
            sid = offer.sid,
            u = creds.ufrag,
            p = creds.pass,
            port = local.port(),
        ),
    )?;

    // Media.
    let payload: Arc<[u8]> = Arc::from(vec![0x48u8; 80]);
    let mut seq: u64 = u64::from(rand_u16() >> 1);
    let mut ts: u32 = u32::from(rand_u16()) << 8;
    let mut connected = false;
    let mut next_send = Instant::now();
    let mut buf = vec![0u8; 2048];
    let mut timeout = Instant::now();
    let started = Instant::now();
    while !stop.load(Relaxed) {
        let now = Instant::now();
        if now >= timeout {
            rtc.handle_input(Input::Timeout(now))
                .map_err(|e| e.to_string())?;
        }
        if connected && now >= next_send {
            if let Some(tx) = rtc.direct_api().stream_tx(&Ssrc::from(ssrc)) {
                tx.write_rtp(
                    RtpWrite::new(Pt::from(PT_OPUS), seq.into(), ts, now, payload.clone())
                        .ext_vals(ExtensionValues {
                            audio_level: Some(-127),
                            voice_activity: Some(false),
                            ..Default::default()
                        }),
                );
                counters.tx.fetch_add(1, Relaxed);
            }
            seq += 1;
            ts = ts.wrapping_add(960);
            next_send += Duration::from_millis(20);
            if next_send + Duration::from_millis(200) < now {
                next_send = now;
            }
        }
        loop {
            match rtc.poll_output().map_err(|e| e.to_string())? {
                Output::Timeout(t) => {
                    timeout = t;
                    break;
                }
                Output::Transmit(t) => {
                    let _ = sock.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    connected = true;
                    next_send = Instant::now();
                    counters.connected.fetch_add(1, Relaxed);
                }
                Output::Event(_) => {}
            }
        }
        if !connected && started.elapsed() > Duration::from_secs(30) {
            return Err("ICE/DTLS did not connect in 30 s".into());
        }
        let deadline = if connected {
            timeout.min(next_send)
        } else {
            timeout
        };
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_micros(500), Duration::from_millis(50));
        let _ = sock.set_read_timeout(Some(wait));
        if let Ok((n, src)) = sock.recv_from(&mut buf) {
            let d = &buf[..n];
            // RFC 5761/7983 demultiplexing: forwarded SRTP is counted,
            // not decrypted; STUN and DTLS (and SRTCP) go to str0m.
            if connected && n >= 12 && d[0] >> 6 == 2 && !(192..=223).contains(&d[1]) {
                counters.rx.fetch_add(1, Relaxed);
                continue;
            }
            if let Ok(contents) = d.try_into() {
                let _ = rtc.handle_input(Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source: src,
                        destination: local,
                        contents,
                    },
                ));
            }
        }
    }
    let _ = x.ws.close(None);
    Ok(())
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    (t ^ (t >> 16)) as u16
}

/// CPU seconds (user + system) of a process or thread stat file.
fn cpu_of(stat: &str) -> Option<f64> {
    let s = std::fs::read_to_string(stat).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of each thread of `pid`, summed by thread name.
fn threads_of(pid: u32) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let p = t.path();
            let name = std::fs::read_to_string(p.join("comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let name = if name.starts_with("media-") {
                "media".to_string()
            } else if name.starts_with("tokio-runtime") {
                "tokio".to_string()
            } else {
                name
            };
            if let Some(c) = cpu_of(&p.join("stat").to_string_lossy()) {
                *out.entry(name).or_insert(0.0) += c;
            }
        }
    }
    out
}

fn main() {
    let a = args();
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let total = a.rooms * a.size;
    let mut handles = Vec::new();
    let run_id = rand_u16();
    for r in 0..a.rooms {
        for _ in 0..a.size {
            let (a2, c, s) = (a.clone(), counters.clone(), stop.clone());
            let room = format!("bench-{run_id:04x}-{r}");
            handles.push(
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        if let Err(e) = participant(&a2, &room, &c, &s) {
                            eprintln!("participant in {room}: {e}");
                            c.failed.fetch_add(1, Relaxed);
                        }
                    })
                    .expect("a thread"),
            );
            std::thread::sleep(Duration::from_millis(15));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while counters.connected.load(Relaxed) + counters.failed.load(Relaxed) < total
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs_f64(a.warmup));
    let server = |pid: Option<u32>| pid.and_then(|p| cpu_of(&format!("/proc/{p}/stat")));
    let (t0, tx0, rx0) = (
        Instant::now(),
        counters.tx.load(Relaxed),
        counters.rx.load(Relaxed),
    );
    let (s0, th0, me0) = (
        server(a.pid),
        a.pid.map(threads_of).unwrap_or_default(),
        cpu_of("/proc/self/stat"),
    );
    std::thread::sleep(Duration::from_secs_f64(a.seconds));
    let wall = t0.elapsed().as_secs_f64();
    let (tx1, rx1) = (counters.tx.load(Relaxed), counters.rx.load(Relaxed));
    let (s1, th1, me1) = (
        server(a.pid),
        a.pid.map(threads_of).unwrap_or_default(),
        cpu_of("/proc/self/stat"),
    );
    stop.store(true, Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let rx_pps = (rx1 - rx0) as f64 / wall;
    let tx_pps = (tx1 - tx0) as f64 / wall;
    let server_cores = match (s0, s1) {
        (Some(a), Some(b)) => Some((b - a) / wall),
        _ => None,
    };
    let mut threads: Vec<(String, f64)> = th1
        .iter()
        .map(|(k, v)| (k.clone(), (v - th0.get(k).copied().unwrap_or(0.0)) / wall))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    threads.sort_by(|x, y| y.1.total_cmp(&x.1));
    let me = match (me0, me1) {
        (Some(a), Some(b)) => (b - a) / wall,
        _ => 0.0,
    };
    // Expected: every sender's packets reach the other size-1 of its room.
    let expected = tx_pps * (a.size as f64 - 1.0);
    let per_core = server_cores
        .filter(|c| *c > 0.0)
        .map(|c| rx_pps / c)
        .unwrap_or(0.0);
    let threads_json: Vec<String> = threads
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v:.4}"))
        .collect();
    println!(
        "{{\"participants\":{total},\"connected\":{},\"failed\":{},\"window_s\":{wall:.2},\
         \"sent_pps\":{tx_pps:.0},\"forwarded_pps\":{rx_pps:.0},\"expected_pps\":{expected:.0},\
         \"server_cores\":{},\"server_threads\":{{{}}},\"generator_cores\":{me:.3},\
         \"forwarded_pps_per_server_core\":{per_core:.0}}}",
        counters.connected.load(Relaxed),
        counters.failed.load(Relaxed),
        server_cores.map_or("null".into(), |c| format!("{c:.3}")),
        threads_json.join(","),
    );
}
