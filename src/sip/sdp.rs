//! SDP (RFC 4566) for SIP audio legs and the offer/answer rules of RFC 3264:
//! parse an offer, pick one audio codec by our preference (plus
//! telephone-event when offered), answer the direction correctly, and build
//! offers for INVITEs we send or answer without an offer.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::media::srtp::{Keys, MasterKey, Suite};

/// Why an SDP body is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not SDP at all, or a required line is wrong.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No audio stream with a codec we speak (488).
    #[error("no common audio codec")]
    NoCommonCodec,
    /// SRTP asked for where we cannot do it (488): keys over a transport
    /// that is not TLS, or no crypto suite we know.
    #[error("{0}")]
    Srtp(String),
}

/// One `a=crypto` line (RFC 4568) we can use: no MKI, one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Its tag (echoed in the answer).
    pub tag: u32,
    /// The suite.
    pub suite: Suite,
    /// The sender's master key and salt.
    pub key: MasterKey,
}

/// `a=crypto:TAG SUITE inline:KEY[|LIFETIME]` (session parameters
/// ignored); `None` for suites we do not do, MKIs and malformed lines.
fn parse_crypto(v: &str) -> Option<Crypto> {
    let mut f = v.split_whitespace();
    let tag = f.next()?.parse().ok()?;
    let suite = Suite::from_name(f.next()?)?;
    let params = f.next()?.strip_prefix("inline:")?;
    let mut parts = params.split('|');
    let key = MasterKey::from_inline(parts.next()?)?;
    // A lifetime is fine; an MKI (`n:len`) is not something we do.
    if parts.any(|p| p.contains(':')) {
        return None;
    }
    Some(Crypto { tag, suite, key })
}

/// Media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The offerer only sends (puts us on hold from its side: "music on hold").
    SendOnly,
    /// The offerer only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction an answerer uses for an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
    /// True when the side using this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    /// True when the side using this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One payload format of an m= line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as written (e.g. `PCMU`, `opus`).
    pub encoding: String,
    /// RTP clock rate.
    pub clock: u32,
    /// Channels (1 unless given).
    pub channels: u8,
    /// The a=fmtp parameters, if any.
    pub fmtp: Option<String>,
}

impl PayloadFormat {
    fn is(&self, name: &str) -> bool {
        self.encoding.eq_ignore_ascii_case(name)
    }
}

/// One m= section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// Port (0 = rejected/disabled).
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: String,
    /// Formats in order of the offerer's preference.
    pub formats: Vec<PayloadFormat>,
    /// Direction attribute (sendrecv when absent).
    pub direction: Direction,
    /// Media-level c= address.
    pub connection: Option<IpAddr>,
    /// a=ptime in ms.
    pub ptime: Option<u32>,
    /// The usable `a=crypto` lines, in the offerer's order.
    pub crypto: Vec<Crypto>,
    /// WebRTC: ICE credentials, DTLS fingerprint, mid and the first SSRC
    /// (media level; session-level values are in [`Session::webrtc`]).
    pub webrtc: WebrtcAttrs,
}

/// The WebRTC attributes of a session or media section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebrtcAttrs {
    /// `a=ice-ufrag`.
    pub ufrag: Option<String>,
    /// `a=ice-pwd`.
    pub pwd: Option<String>,
    /// `a=fingerprint` (`sha-256 AB:CD:..`).
    pub fingerprint: Option<String>,
    /// `a=mid`.
    pub mid: Option<String>,
    /// The first `a=ssrc` id.
    pub ssrc: Option<u32>,
}

impl WebrtcAttrs {
    /// Reads one attribute into these; false if it is not a WebRTC one.
    fn take(&mut self, name: &str, val: &str) -> bool {
        let v = val.trim();
        match name {
            "ice-ufrag" => self.ufrag = Some(v.to_string()),
            "ice-pwd" => self.pwd = Some(v.to_string()),
            "fingerprint" => self.fingerprint = Some(v.to_string()),
            "mid" => self.mid = Some(v.to_string()),
            "ssrc" => {
                if self.ssrc.is_none() {
                    self.ssrc = v.split_whitespace().next().and_then(|s| s.parse().ok());
                }
            }
            _ => return false,
        }
        true
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// o= session id.
    pub session_id: String,
    /// o= version.
    pub version: u64,
    /// Session-level c= address.
    pub connection: Option<IpAddr>,
    /// Session-level direction (applies to media without their own).
    pub direction: Option<Direction>,
    /// m= sections.
    pub media: Vec<Media>,
    /// Session-level WebRTC attributes (Firefox puts ICE and DTLS here).
    pub webrtc: WebrtcAttrs,
}

fn static_format(pt: u8) -> Option<(&'static str, u32, u8)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        _ => return None,
    })
}

fn parse_direction(s: &str) -> Option<Direction> {
    Some(match s {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        "inactive" => Direction::Inactive,
        _ => return None,
    })
}

fn parse_c(v: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1  (a multicast /ttl suffix is cut off)
    let mut it = v.split_whitespace();
    let (nt, at, addr) = (it.next(), it.next(), it.next());
    if nt != Some("IN") || !matches!(at, Some("IP4") | Some("IP6")) {
        return Err(SdpError::Malformed(format!("c={v}")));
    }
    let addr = addr.ok_or_else(|| SdpError::Malformed(format!("c={v}")))?;
    addr.split('/')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| SdpError::Malformed(format!("c= address {addr:.40}")))
}

/// Parses an SDP body.
pub fn parse(body: &[u8]) -> Result<Session, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
    let mut s = Session {
        session_id: String::new(),
        version: 0,
        connection: None,
        direction: None,
        media: Vec::new(),
        webrtc: WebrtcAttrs::default(),
    };
    let mut saw_v = false;
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| SdpError::Malformed(format!("line {line:.40}")))?;
        match (k, s.media.last_mut()) {
            ("v", _) => {
                if v != "0" {
                    return Err(SdpError::Malformed(format!("v={v}")));
                }
                saw_v = true;
            }
            ("o", None) => {
                let f: Vec<&str> = v.split_whitespace().collect();
                if f.len() != 6 {
                    return Err(SdpError::Malformed(format!("o={v:.60}")));
                }
                s.session_id = f[1].to_string();
                s.version = f[2].parse().unwrap_or(0);
            }
            ("c", None) => s.connection = Some(parse_c(v)?),
            ("c", Some(m)) => m.connection = Some(parse_c(v)?),
            ("a", None) => {
                if let Some(d) = parse_direction(v) {
                    s.direction = Some(d);
                } else {
                    let (name, val) = v.split_once(':').unwrap_or((v, ""));
                    s.webrtc.take(name, val);
                }
            }
            ("m", _) => {
                let f: Vec<&str> = v.split_whitespace().collect();
                if f.len() < 4 {
                    return Err(SdpError::Malformed(format!("m={v:.60}")));
                }
                let port: u16 = f[1]
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| SdpError::Malformed(format!("m= port {:.10}", f[1])))?;
                let mut formats = Vec::new();
                for pt in &f[3..] {
                    if let Ok(pt) = pt.parse::<u8>() {
                        if pt > 127 {
                            continue;
                        }
                        let (enc, clock, ch) = static_format(pt).unwrap_or(("", 0, 1));
                        formats.push(PayloadFormat {
                            pt,
                            encoding: enc.to_string(),
                            clock,
                            channels: ch,
                            fmtp: None,
                        });
                    }
                }
                s.media.push(Media {
                    kind: f[0].to_string(),
                    port,
                    proto: f[2].to_string(),
                    formats,
                    direction: s.direction.unwrap_or(Direction::SendRecv),
                    connection: None,
                    ptime: None,
                    crypto: Vec::new(),
                    webrtc: WebrtcAttrs::default(),
                });
            }
            ("a", Some(m)) => {
                let (name, val) = v.split_once(':').unwrap_or((v, ""));
                match name {
                    "rtpmap" => {
                        let (pt, rest) = val.split_once(' ').unwrap_or((val, ""));
                        let Ok(pt) = pt.trim().parse::<u8>() else {
                            continue;
                        };
                        let mut p = rest.trim().split('/');
                        let enc = p.next().unwrap_or("").to_string();
                        let clock = p.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                        let ch = p.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                        if let Some(f) = m.formats.iter_mut().find(|f| f.pt == pt) {
                            f.encoding = enc;
                            f.clock = clock;
                            f.channels = ch;
                        }
                    }
                    "fmtp" => {
                        let (pt, rest) = val.split_once(' ').unwrap_or((val, ""));
                        if let Ok(pt) = pt.trim().parse::<u8>()
                            && let Some(f) = m.formats.iter_mut().find(|f| f.pt == pt)
                        {
                            f.fmtp = Some(rest.trim().to_string());
                        }
                    }
                    "ptime" => m.ptime = val.trim().parse().ok(),
                    "crypto" => m.crypto.extend(parse_crypto(val)),
                    d => {
                        if let Some(d) = parse_direction(d) {
                            m.direction = d;
                        } else {
                            m.webrtc.take(d, val);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !saw_v {
        return Err(SdpError::Malformed("no v= line".into()));
    }
    Ok(s)
}

/// The outcome of negotiating one audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen audio format.
    pub codec: PayloadFormat,
    /// telephone-event payload type (same clock), if agreed.
    pub dtmf_pt: Option<u8>,
    /// Where to send RTP (None when the peer's address is 0.0.0.0 or port 0: hold).
    pub remote: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    /// Packet time in ms.
    pub ptime: u32,
    /// SRTP keys, when the stream is encrypted (SDES).
    pub srtp: Option<Keys>,
}

/// What we put in an SDP we write.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// Our media address (the sockets bind to it).
    pub ip: IpAddr,
    /// The address written in c= and o= instead (`[media] public_ip`).
    pub advertise: Option<IpAddr>,
    /// Our RTP port.
    pub port: u16,
    /// o= session id (stable per call).
    pub session_id: u64,
    /// o= version (bumped on every change).
    pub version: u64,
    /// Our SRTP master key: set on legs whose signaling is TLS (SDES keys
    /// travel in the SDP, RFC 4568 §8.3); `None` offers and answers plain RTP.
    pub key: Option<MasterKey>,
}

fn remote_addr(s: &Session, m: &Media) -> Option<SocketAddr> {
    let ip = m.connection.or(s.connection)?;
    if ip.is_unspecified() || m.port == 0 {
        return None;
    }
    Some(SocketAddr::new(ip, m.port))
}

/// Answers an offer: the first of our `prefs` (encoding names, best first)
/// that the offer's first usable audio stream carries. Returns the choice
/// and the answer SDP. Non-audio and extra streams are refused with port 0.
pub fn answer(
    offer: &Session,
    prefs: &[&str],
    local: &LocalMedia,
) -> Result<(Negotiated, String), SdpError> {
    let mut chosen: Option<(usize, Negotiated, Option<u32>)> = None;
    let mut srtp_refusal = None;
    for (i, m) in offer.media.iter().enumerate() {
        let savp = m.proto == "RTP/SAVP";
        if chosen.is_some() || m.kind != "audio" || m.port == 0 || !(m.proto == "RTP/AVP" || savp) {
            continue;
        }
        // SDES: the first suite we do, when our key may travel (TLS);
        // RTP/SAVP without one is refused, RTP/AVP falls back to plain RTP.
        let crypto = match (&local.key, m.crypto.first()) {
            (Some(ours), Some(c)) => Some((
                c.tag,
                Keys {
                    suite: c.suite,
                    ours: ours.clone(),
                    theirs: c.key.clone(),
                },
            )),
            _ => None,
        };
        if savp && crypto.is_none() {
            srtp_refusal = Some(if local.key.is_none() {
                "SRTP (RTP/SAVP) is answered only on SIP over TLS: the keys would travel in clear"
            } else {
                "no a=crypto line with a suite we do (AES_CM_128_HMAC_SHA1_80 or _32, no MKI)"
            });
            continue;
        }
        let pick = prefs.iter().find_map(|name| {
            m.formats
                .iter()
                .find(|f| f.is(name) && (f.clock == 8000 || f.is("opus")) && f.clock > 0)
        });
        let Some(codec) = pick else { continue };
        // telephone-event at the codec's clock; failing that any (baresip
        // offers telephone-event/8000 beside opus/48000): the receiver only
        // needs event codes and timestamps, not durations.
        let events = || m.formats.iter().filter(|f| f.is("telephone-event"));
        let dtmf_pt = events()
            .find(|f| f.clock == codec.clock)
            .or_else(|| events().next())
            .map(|f| f.pt);
        let (tag, srtp) = match crypto {
            Some((tag, keys)) => (Some(tag), Some(keys)),
            None => (None, None),
        };
        chosen = Some((
            i,
            Negotiated {
                codec: codec.clone(),
                dtmf_pt,
                remote: remote_addr(offer, m),
                direction: m.direction.answer(),
                ptime: 20,
                srtp,
            },
            tag,
        ));
    }
    let Some((idx, neg, tag)) = chosen else {
        return Err(match srtp_refusal {
            Some(why) => SdpError::Srtp(why.into()),
            None => SdpError::NoCommonCodec,
        });
    };
    let mut sdp = header(local);
    for (i, m) in offer.media.iter().enumerate() {
        if i == idx {
            let dtmf = neg.dtmf_pt.map(|pt| {
                let clock = m
                    .formats
                    .iter()
                    .find(|f| f.pt == pt)
                    .map_or(8000, |f| f.clock);
                (pt, clock)
            });
            write_audio(
                &mut sdp,
                local.port,
                &m.proto,
                &neg.codec,
                dtmf,
                neg.direction,
            );
            if let (Some(k), Some(t)) = (&neg.srtp, tag) {
                write_crypto(&mut sdp, t, k.suite, &k.ours);
            }
        } else {
            let first = m.formats.first().map(|f| f.pt).unwrap_or(0);
            let _ = write!(sdp, "m={} 0 {} {first}\r\n", m.kind, m.proto);
        }
    }
    Ok((neg, sdp))
}

fn header(local: &LocalMedia) -> String {
    let ip = local.advertise.unwrap_or(local.ip);
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=dialroom {} {} IN {fam} {ip}\r\ns=dialroom\r\nc=IN {fam} {ip}\r\nt=0 0\r\n",
        local.session_id, local.version,
    )
}

/// `a=crypto:TAG SUITE inline:KEY` (RFC 4568) with our key.
fn write_crypto(sdp: &mut String, tag: u32, suite: Suite, key: &MasterKey) {
    let _ = write!(
        sdp,
        "a=crypto:{tag} {} inline:{}\r\n",
        suite.name(),
        key.inline()
    );
}

fn write_audio(
    sdp: &mut String,
    port: u16,
    proto: &str,
    codec: &PayloadFormat,
    dtmf: Option<(u8, u32)>,
    dir: Direction,
) {
    let _ = write!(sdp, "m=audio {port} {proto} {}", codec.pt);
    if let Some((d, _)) = dtmf {
        let _ = write!(sdp, " {d}");
    }
    sdp.push_str("\r\n");
    if codec.channels > 1 {
        let _ = write!(
            sdp,
            "a=rtpmap:{} {}/{}/{}\r\n",
            codec.pt, codec.encoding, codec.clock, codec.channels
        );
    } else {
        let _ = write!(
            sdp,
            "a=rtpmap:{} {}/{}\r\n",
            codec.pt, codec.encoding, codec.clock
        );
    }
    if let Some(f) = &codec.fmtp {
        let _ = write!(sdp, "a=fmtp:{} {f}\r\n", codec.pt);
    }
    if let Some((d, clock)) = dtmf {
        let _ = write!(
            sdp,
            "a=rtpmap:{d} telephone-event/{clock}\r\na=fmtp:{d} 0-16\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", dir.attr());
}

/// The formats we offer for an encoding name, with their usual payload types.
pub fn offer_format(name: &str) -> Option<PayloadFormat> {
    let f = |pt, enc: &str, clock, channels, fmtp: Option<&str>| PayloadFormat {
        pt,
        encoding: enc.to_string(),
        clock,
        channels,
        fmtp: fmtp.map(str::to_string),
    };
    Some(match name.to_ascii_lowercase().as_str() {
        "pcmu" => f(0, "PCMU", 8000, 1, None),
        "pcma" => f(8, "PCMA", 8000, 1, None),
        "g722" => f(9, "G722", 8000, 1, None),
        "opus" => f(111, "opus", 48000, 2, Some("minptime=20;useinbandfec=1")),
        _ => return None,
    })
}

/// Builds an offer with every preferred codec plus telephone-event at 8 kHz and 48 kHz.
pub fn offer(prefs: &[&str], local: &LocalMedia, direction: Direction) -> String {
    let formats: Vec<PayloadFormat> = prefs.iter().filter_map(|p| offer_format(p)).collect();
    let mut sdp = header(local);
    let proto = if local.key.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let _ = write!(sdp, "m=audio {} {proto}", local.port);
    for f in &formats {
        let _ = write!(sdp, " {}", f.pt);
    }
    sdp.push_str(" 101 102\r\n");
    for f in &formats {
        if f.channels > 1 {
            let _ = write!(
                sdp,
                "a=rtpmap:{} {}/{}/{}\r\n",
                f.pt, f.encoding, f.clock, f.channels
            );
        } else {
            let _ = write!(sdp, "a=rtpmap:{} {}/{}\r\n", f.pt, f.encoding, f.clock);
        }
        if let Some(p) = &f.fmtp {
            let _ = write!(sdp, "a=fmtp:{} {p}\r\n", f.pt);
        }
    }
    sdp.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
    sdp.push_str("a=rtpmap:102 telephone-event/48000\r\na=fmtp:102 0-16\r\n");
    let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", direction.attr());
    if let Some(k) = &local.key {
        write_crypto(&mut sdp, 1, Suite::AesCm128HmacSha1_80, k);
    }
    sdp
}

/// Reads the answer to an offer we made with `local` (an SRTP offer needs
/// an answer with a key).
pub fn accept_answer(answer: &Session, local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let m = answer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0)
        .ok_or(SdpError::NoCommonCodec)?;
    let codec = m
        .formats
        .iter()
        .find(|f| !f.is("telephone-event") && f.clock > 0)
        .ok_or(SdpError::NoCommonCodec)?
        .clone();
    let dtmf_pt = m
        .formats
        .iter()
        .find(|f| f.is("telephone-event") && f.clock == codec.clock)
        .map(|f| f.pt);
    let srtp = match (&local.key, m.crypto.first()) {
        (Some(ours), Some(c)) => Some(Keys {
            suite: c.suite,
            ours: ours.clone(),
            theirs: c.key.clone(),
        }),
        (Some(_), None) => {
            return Err(SdpError::Srtp(
                "our SRTP offer was answered without a usable a=crypto".into(),
            ));
        }
        (None, _) => None,
    };
    // Their direction is from their side: ours is the mirror.
    Ok(Negotiated {
        codec,
        dtmf_pt,
        remote: remote_addr(answer, m),
        direction: m.direction.answer(),
        ptime: m.ptime.unwrap_or(20),
        srtp,
    })
}

/// True when an offer's first audio stream is WebRTC (DTLS-SRTP with
/// ICE: a browser softphone), which only the SFU's socket can answer.
pub fn is_webrtc(offer: &Session) -> bool {
    offer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0)
        .is_some_and(|m| m.proto.contains("TLS/RTP/SAVPF") || m.proto == "RTP/SAVPF")
}

/// Our side of a WebRTC answer: the SFU's host candidate and certificate,
/// this leg's ICE credentials and the SSRC we send the room's audio with.
#[derive(Debug, Clone)]
pub struct WebrtcLocal {
    /// The SFU's advertised address.
    pub candidate: SocketAddr,
    /// `sha-256 AB:CD:..` of the SFU's certificate.
    pub fingerprint: String,
    /// Our ICE ufrag.
    pub ufrag: String,
    /// Our ICE password.
    pub pwd: String,
    /// The SSRC of what we send.
    pub ssrc: u32,
    /// o= session id.
    pub session_id: u64,
    /// o= version (bumped for each new answer).
    pub version: u64,
}

/// What a WebRTC offer gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebrtcRemote {
    /// Its ICE ufrag.
    pub ufrag: String,
    /// Its ICE password.
    pub pwd: String,
    /// Its DTLS fingerprint.
    pub fingerprint: String,
    /// The SSRC it sends audio with.
    pub ssrc: u32,
    /// The Opus payload type it uses.
    pub opus_pt: u8,
    /// Our direction.
    pub direction: Direction,
}

/// The WebRTC attributes of the first audio stream of an offer or an
/// answer (ICE, DTLS, SSRC, Opus): index of that stream and what it says.
/// The direction is ours (the mirror of its).
pub fn webrtc_remote(sdp: &Session) -> Result<(usize, WebrtcRemote), SdpError> {
    let bad = |what: &str| SdpError::Malformed(format!("WebRTC description without {what}"));
    let idx = sdp
        .media
        .iter()
        .position(|m| m.kind == "audio" && m.port != 0)
        .ok_or(SdpError::NoCommonCodec)?;
    let m = &sdp.media[idx];
    let opus = m
        .formats
        .iter()
        .find(|f| f.is("opus") && f.clock == 48000)
        .ok_or(SdpError::NoCommonCodec)?;
    let pick = |f: fn(&WebrtcAttrs) -> &Option<String>| {
        f(&m.webrtc).clone().or_else(|| f(&sdp.webrtc).clone())
    };
    Ok((
        idx,
        WebrtcRemote {
            ufrag: pick(|w| &w.ufrag).ok_or_else(|| bad("a=ice-ufrag"))?,
            pwd: pick(|w| &w.pwd).ok_or_else(|| bad("a=ice-pwd"))?,
            fingerprint: pick(|w| &w.fingerprint).ok_or_else(|| bad("a=fingerprint"))?,
            ssrc: m.webrtc.ssrc.ok_or_else(|| bad("a=ssrc for its audio"))?,
            opus_pt: opus.pt,
            direction: m.direction.answer(),
        },
    ))
}

/// The session lines of a WebRTC description of ours (ICE-lite, one
/// bundled stream `mid`).
fn webrtc_session(local: &WebrtcLocal, mid: &str) -> String {
    let ip = local.candidate.ip();
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=dialroom {} {} IN {fam} {ip}\r\ns=dialroom\r\nt=0 0\r\na=ice-lite\r\n\
         a=group:BUNDLE {mid}\r\na=msid-semantic: WMS dialroom\r\n",
        local.session_id, local.version
    )
}

/// Our audio section: the SFU's candidate, our ICE and DTLS, Opus on `pt`,
/// the SSRC we send with.
fn webrtc_audio(
    sdp: &mut String,
    local: &WebrtcLocal,
    proto: &str,
    mid: &str,
    setup: &str,
    dir: Direction,
    pt: u8,
) {
    let ip = local.candidate.ip();
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let port = local.candidate.port();
    let _ = write!(
        sdp,
        "m=audio {port} {proto} {pt}\r\nc=IN {fam} {ip}\r\na=rtcp:{port} IN {fam} {ip}\r\n\
         a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:{setup}\r\n\
         a=mid:{mid}\r\na={}\r\na=rtcp-mux\r\na=rtpmap:{pt} opus/48000/2\r\n\
         a=fmtp:{pt} minptime=10;useinbandfec=1\r\n\
         a=ssrc:{ssrc} cname:dialroom\r\na=ssrc:{ssrc} msid:dialroom room-audio\r\n\
         a=candidate:1 1 udp 2130706431 {ip} {port} typ host\r\na=end-of-candidates\r\n",
        local.ufrag,
        local.pwd,
        local.fingerprint,
        dir.attr(),
        ssrc = local.ssrc,
    );
}

/// Answers a WebRTC offer: Opus only, ICE-lite on the SFU's address,
/// DTLS as the passive side, RTCP multiplexed, one audio stream bundled;
/// other streams are refused with port 0.
pub fn webrtc_answer(
    offer: &Session,
    local: &WebrtcLocal,
) -> Result<(WebrtcRemote, String), SdpError> {
    let (idx, remote) = webrtc_remote(offer)?;
    let mid = offer.media[idx]
        .webrtc
        .mid
        .clone()
        .unwrap_or_else(|| "0".into());
    let mut sdp = webrtc_session(local, &mid);
    for (i, other) in offer.media.iter().enumerate() {
        if i != idx {
            let first = other.formats.first().map(|f| f.pt).unwrap_or(0);
            let _ = write!(sdp, "m={} 0 {} {first}\r\n", other.kind, other.proto);
            if let Some(mid) = &other.webrtc.mid {
                let _ = write!(sdp, "a=mid:{mid}\r\n");
            }
            continue;
        }
        webrtc_audio(
            &mut sdp,
            local,
            &other.proto,
            &mid,
            "passive",
            remote.direction,
            remote.opus_pt,
        );
    }
    Ok((remote, sdp))
}

/// Our WebRTC offer (to a browser softphone we ring): Opus on `pt`, one
/// bundled audio stream, ICE-lite, DTLS `actpass` (the browser takes the
/// active side, as the SFU expects).
pub fn webrtc_offer(local: &WebrtcLocal, pt: u8) -> String {
    let mut sdp = webrtc_session(local, "0");
    webrtc_audio(
        &mut sdp,
        local,
        "UDP/TLS/RTP/SAVPF",
        "0",
        "actpass",
        Direction::SendRecv,
        pt,
    );
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 111 9 0 8 101\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 7,
            version: 1,
            key: None,
            advertise: None,
        }
    }

    #[test]
    fn our_preference_picks_one_codec_and_a_telephone_event() {
        let o = parse(OFFER.as_bytes()).unwrap();
        let (n, sdp) = answer(&o, &["PCMU", "opus"], &local()).unwrap();
        assert_eq!(n.codec.pt, 0);
        assert_eq!(n.dtmf_pt, Some(101));
        assert_eq!(n.remote, Some("192.0.2.5:4000".parse().unwrap()));
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{sdp}");
        assert!(sdp.contains("m=video 0 RTP/AVP 96\r\n"), "{sdp}");
        let (n, sdp) = answer(&o, &["opus", "PCMU"], &local()).unwrap();
        assert_eq!(n.codec.encoding, "opus");
        assert_eq!(
            n.dtmf_pt,
            Some(101),
            "telephone-event/8000 is taken beside opus/48000 when it is all there is"
        );
        assert!(
            sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
            "{sdp}"
        );
        assert!(
            sdp.contains("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"),
            "{sdp}"
        );
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let o = parse(OFFER.as_bytes()).unwrap();
        let (n, _) = answer(&o, &["G722"], &local()).unwrap();
        assert_eq!((n.codec.pt, n.codec.clock), (9, 8000));
    }

    #[test]
    fn nothing_in_common_is_an_error_for_488() {
        let o = parse(OFFER.replace("111 9 0 8 101", "3").as_bytes()).unwrap();
        assert_eq!(
            answer(&o, &["PCMU"], &local()).unwrap_err(),
            SdpError::NoCommonCodec
        );
    }

    #[test]
    fn hold_directions_are_answered_as_rfc_3264_says() {
        for (offer, ans) in [
            ("sendonly", "recvonly"),
            ("recvonly", "sendonly"),
            ("inactive", "inactive"),
        ] {
            let o = parse(
                OFFER
                    .replace("a=sendrecv", &format!("a={offer}"))
                    .as_bytes(),
            )
            .unwrap();
            let (n, sdp) = answer(&o, &["PCMU"], &local()).unwrap();
            assert!(sdp.contains(&format!("a={ans}\r\n")), "{sdp}");
            assert_eq!(n.direction.sends(), ans != "recvonly" && ans != "inactive");
        }
        // the old RFC 2543 hold: c=0.0.0.0
        let o = parse(
            OFFER
                .replace("c=IN IP4 192.0.2.5", "c=IN IP4 0.0.0.0")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(answer(&o, &["PCMU"], &local()).unwrap().0.remote, None);
    }

    #[test]
    fn our_offer_round_trips_through_an_answer() {
        let sdp = offer(
            &["opus", "G722", "PCMU", "PCMA"],
            &local(),
            Direction::SendRecv,
        );
        let o = parse(sdp.as_bytes()).unwrap();
        let (_, ans) = answer(&o, &["G722"], &local()).unwrap();
        let n = accept_answer(&parse(ans.as_bytes()).unwrap(), &local()).unwrap();
        assert_eq!(n.codec.encoding, "G722");
        assert_eq!(n.dtmf_pt, Some(101));
    }

    #[test]
    fn sdes_keys_are_answered_on_tls_legs_and_refused_in_clear() {
        let theirs = MasterKey::random();
        let savp = OFFER.replace("RTP/AVP 111", "RTP/SAVP 111").replace(
            "a=sendrecv\r\n",
            &format!(
                "a=sendrecv\r\na=crypto:3 AES_CM_256_HMAC_SHA1_80 inline:AAAA\r\na=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{}|2^31\r\n",
                theirs.inline()
            ),
        );
        let o = parse(savp.as_bytes()).unwrap();
        assert_eq!(o.media[0].crypto.len(), 1, "the 256-bit suite is skipped");
        // In clear: refused with why.
        assert!(matches!(
            answer(&o, &["PCMU"], &local()),
            Err(SdpError::Srtp(_))
        ));
        // Over TLS: our key, their tag and suite, the same profile.
        let ours = MasterKey::random();
        let tls = LocalMedia {
            key: Some(ours.clone()),
            ..local()
        };
        let (n, sdp) = answer(&o, &["PCMU"], &tls).unwrap();
        assert!(sdp.contains("m=audio 20000 RTP/SAVP 0 101\r\n"), "{sdp}");
        assert!(
            sdp.contains(&format!(
                "a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{}\r\n",
                ours.inline()
            )),
            "{sdp}"
        );
        let k = n.srtp.unwrap();
        assert_eq!(
            (k.suite, k.ours, k.theirs),
            (Suite::AesCm128HmacSha1_32, ours.clone(), theirs)
        );
        // Plain RTP/AVP without crypto on a TLS leg stays plain.
        let o = parse(OFFER.as_bytes()).unwrap();
        assert_eq!(answer(&o, &["PCMU"], &tls).unwrap().0.srtp, None);
        // Our own offer on TLS is SAVP with a key, and its answer must have one.
        let our_offer = offer(&["PCMU"], &tls, Direction::SendRecv);
        assert!(our_offer.contains("RTP/SAVP"), "{our_offer}");
        let peer = LocalMedia {
            key: Some(MasterKey::random()),
            ..local()
        };
        let (_, ans) = answer(&parse(our_offer.as_bytes()).unwrap(), &["PCMU"], &peer).unwrap();
        let n = accept_answer(&parse(ans.as_bytes()).unwrap(), &tls).unwrap();
        assert_eq!(n.srtp.unwrap().ours, ours);
        let plain = parse(OFFER.as_bytes()).unwrap();
        assert!(accept_answer(&plain, &tls).is_err());
    }

    /// What Chrome offers through JsSIP (abridged).
    const CHROME: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 126\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
a=ice-pwd:0123456789abcdef012345\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=mid:0\r\n\
a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:126 telephone-event/8000\r\na=ssrc:4242 cname:x\r\na=ssrc:4242 msid:s t\r\n";

    #[test]
    fn a_webrtc_offer_is_answered_ice_lite_on_the_sfu_with_opus_only() {
        let o = parse(CHROME.as_bytes()).unwrap();
        assert!(is_webrtc(&o));
        assert!(!is_webrtc(&parse(OFFER.as_bytes()).unwrap()));
        // The plain answerer does not take it (it would need DTLS and ICE).
        assert_eq!(
            answer(&o, &["opus"], &local()).unwrap_err(),
            SdpError::NoCommonCodec
        );
        let w = WebrtcLocal {
            candidate: "192.0.2.9:10000".parse().unwrap(),
            fingerprint: "sha-256 CC:DD".into(),
            ufrag: "uf".into(),
            pwd: "pw".into(),
            ssrc: 77,
            session_id: 5,
            version: 1,
        };
        let (r, sdp) = webrtc_answer(&o, &w).unwrap();
        assert_eq!(
            (
                r.ufrag.as_str(),
                r.pwd.as_str(),
                r.fingerprint.as_str(),
                r.ssrc,
                r.opus_pt
            ),
            ("abcd", "0123456789abcdef012345", "sha-256 AA:BB", 4242, 111)
        );
        for line in [
            "a=ice-lite",
            "a=group:BUNDLE 0",
            "m=audio 10000 UDP/TLS/RTP/SAVPF 111\r\n",
            "a=ice-ufrag:uf",
            "a=fingerprint:sha-256 CC:DD",
            "a=setup:passive",
            "a=rtcp-mux",
            "a=ssrc:77 cname:dialroom",
            "a=candidate:1 1 udp 2130706431 192.0.2.9 10000 typ host",
        ] {
            assert!(sdp.contains(line), "{line} missing:\n{sdp}");
        }
        // Session-level ICE and DTLS (Firefox) are taken too; no SSRC is an error.
        let ff = CHROME
            .replace(
                "a=group:BUNDLE 0\r\n",
                "a=group:BUNDLE 0\r\na=ice-ufrag:sess\r\n",
            )
            .replace("a=ice-ufrag:abcd\r\n", "");
        assert_eq!(
            webrtc_answer(&parse(ff.as_bytes()).unwrap(), &w)
                .unwrap()
                .0
                .ufrag,
            "sess"
        );
        // Our own offer (to a softphone we ring) reads back as what it says.
        let ours = parse(webrtc_offer(&w, 111).as_bytes()).unwrap();
        assert!(is_webrtc(&ours));
        let (_, back) = webrtc_remote(&ours).unwrap();
        assert_eq!(
            (back.ufrag.as_str(), back.ssrc, back.opus_pt),
            ("uf", 77, 111)
        );
        assert!(webrtc_offer(&w, 111).contains("a=setup:actpass"));
        let no_ssrc = CHROME.replace("a=ssrc:4242 cname:x\r\na=ssrc:4242 msid:s t\r\n", "");
        assert!(webrtc_answer(&parse(no_ssrc.as_bytes()).unwrap(), &w).is_err());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for g in [
            "",
            "x",
            "v=1\r\n",
            "v=0\r\nm=audio\r\n",
            "v=0\r\nc=IN IP4\r\n",
            "v=0\r\nm=audio 99999 RTP/AVP 0\r\n",
        ] {
            assert!(parse(g.as_bytes()).is_err(), "{g:?}");
        }
    }
}
