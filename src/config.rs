//! `dialroom.toml`: every key has a default that runs on one machine, so the
//! binary starts with no file at all. docs/operations.md lists every key.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::sip::auth::Algorithm;
use crate::sip::transport::ListenSpec;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SIP signaling, registrar and authentication.
    pub sip: SipConfig,
    /// The HTTP server (admin UI, API, meeting page, health, metrics).
    pub web: WebConfig,
    /// Where state lives.
    pub database: DatabaseConfig,
    /// Media (RTP) settings.
    pub media: MediaConfig,
    /// Trunks: sources that may call in without authenticating.
    #[serde(rename = "trunk")]
    pub trunks: Vec<TrunkConfig>,
    /// Where the dialplan lives and which timezone its time windows use.
    pub dialplan: DialplanConfig,
    /// The embedded XMPP service (MUC and the Jitsi focus).
    pub xmpp: XmppConfig,
    /// The SFU (WebRTC media for browser participants, one UDP port).
    pub sfu: SfuConfig,
    pub recorder: RecorderConfig,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// The SIP domain served here; also the digest realm.
    pub domain: String,
    /// More host names that count as this domain (the listen addresses always do).
    pub aliases: Vec<String>,
    /// Sockets to listen on, `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT`.
    pub listen: Vec<ListenSpec>,
    /// PEM certificate chain for `tls:` listeners.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Shortest registration accepted, in seconds (shorter gets 423).
    pub min_expires: u32,
    /// Longest registration granted, in seconds (longer is cut down).
    pub max_expires: u32,
    /// Registration length when the client asks for none.
    pub default_expires: u32,
    /// Most contacts one user may have registered at once.
    pub max_contacts: usize,
    /// Digest algorithms challenged with, most preferred first (`MD5`, `SHA-256`).
    pub digest_algorithms: Vec<Algorithm>,
    /// Regexes over User-Agent: matching clients are challenged with MD5 only
    /// (they abort on a 401 that also offers SHA-256).
    pub md5_only_user_agents: Vec<String>,
    /// Address written in our Via and Contact instead of the socket's
    /// (behind NAT: the public one; the port stays the listener's).
    pub public_ip: Option<std::net::IpAddr>,
    /// Seconds a nonce stays valid; older ones are answered with `stale=true`.
    pub nonce_lifetime: u64,
    /// Failed authentications from one source address within `auth_failure_window` before it is blocked.
    pub auth_failure_limit: u32,
    /// Window, in seconds, over which failures are counted.
    pub auth_failure_window: u64,
    /// Seconds a source stays blocked; its requests needing authentication are dropped.
    pub auth_block_seconds: u64,
    /// RFC 3261 T1 in milliseconds (round-trip estimate).
    pub t1_ms: u64,
    /// RFC 3261 T2 in milliseconds (longest non-INVITE retransmit interval).
    pub t2_ms: u64,
    /// RFC 3261 T4 in milliseconds (longest time a message stays in the network).
    pub t4_ms: u64,
    /// Seconds between sweeps that drop expired registrations.
    pub housekeeping_interval: u64,
    /// Milliseconds the location writer waits to batch registration changes into one transaction.
    pub location_flush_ms: u64,
    /// Largest SIP message accepted, in bytes.
    pub max_message_size: usize,
    /// Session interval (RFC 4028) granted to callers that support session timers, seconds.
    pub session_expires: u32,
    /// Shortest session interval accepted (422 with Min-SE below), seconds.
    pub min_se: u32,
    /// Seconds between keepalives to registered contacts (an OPTIONS over
    /// UDP, a double CRLF over TCP/TLS), which keep NAT bindings open (0: none).
    pub keepalive_s: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            domain: "localhost".into(),
            aliases: Vec::new(),
            listen: vec![
                ListenSpec::from_str("udp:127.0.0.1:5060").expect("literal is valid"),
                ListenSpec::from_str("tcp:127.0.0.1:5060").expect("literal is valid"),
            ],
            tls_cert: None,
            tls_key: None,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            digest_algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            // baresip up to 1.x (libre 1.x): "Register: Function not implemented"
            // on a 401 that carries a SHA-256 challenge.
            md5_only_user_agents: vec!["^baresip v[01]\\.".into(), "^JsSIP ".into()],
            public_ip: None,
            nonce_lifetime: 300,
            auth_failure_limit: 10,
            auth_failure_window: 60,
            auth_block_seconds: 300,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            housekeeping_interval: 10,
            location_flush_ms: 200,
            max_message_size: 65_535,
            session_expires: 1800,
            min_se: 90,
            keepalive_s: 30,
        }
    }
}

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address of the HTTP server.
    pub listen: SocketAddr,
    /// Mark the admin session cookie `Secure` (set it when browsers reach the
    /// server over HTTPS, e.g. through a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// How long an admin login lasts, in hours.
    pub session_hours: u64,
    /// Failed admin logins from one source address within `login_window`
    /// before further attempts from it are refused (429) until the window ends.
    pub login_attempts: u32,
    /// Seconds over which failed admin logins are counted.
    pub login_window: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".parse().expect("literal is valid"),
            secure_cookies: false,
            session_hours: 12,
            login_attempts: 5,
            login_window: 300,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER:PW@HOST/DB`.
    pub url: String,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/dialroom.db".into(),
            max_connections: 8,
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// UDP ports for RTP (even) and RTCP (odd), as `"LOW-HIGH"`.
    pub rtp_ports: PortRange,
    /// Address media sockets bind to and SDP advertises; the SIP socket's address when unset.
    pub ip: Option<std::net::IpAddr>,
    /// Address SDP advertises instead of `ip` (behind NAT: the public one).
    pub public_ip: Option<std::net::IpAddr>,
    /// Audio codecs offered and accepted for phone legs, best first.
    pub codecs: Vec<String>,
    /// Seconds without RTP (when not on hold) before a call is hung up.
    pub rtp_timeout: u64,
    /// How many talkers are mixed at once (the loudest).
    pub talkers: usize,
    /// Media worker threads (each runs one 20 ms tick for all its rooms).
    pub workers: usize,
    /// Opus encoder complexity, 0 (cheapest) to 10.
    pub opus_complexity: u8,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: PortRange(16384..=32767),
            ip: None,
            public_ip: None,
            codecs: vec!["opus".into(), "G722".into(), "PCMU".into(), "PCMA".into()],
            rtp_timeout: 30,
            talkers: 3,
            workers: 2,
            opus_complexity: 5,
        }
    }
}

/// `[[trunk]]`: a peer (provider, SBC, PBX) allowed to call in by source address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs and the dialplan.
    pub name: String,
    /// Source address blocks, e.g. `["192.0.2.0/24", "127.0.0.1/32"]`.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Register to this provider registrar (`HOST:PORT`, `HOST` for 5060,
    /// or `sip:HOST[:PORT]`), over UDP from our UDP listener.
    #[serde(default)]
    pub registrar: Option<String>,
    /// The domain of the account's AOR and the REGISTER's Request-URI
    /// (default: the registrar's host).
    #[serde(default)]
    pub domain: Option<String>,
    /// The account name.
    #[serde(default)]
    pub username: Option<String>,
    /// The account's password (or `ha1` with `realm`).
    #[serde(default)]
    pub password: Option<String>,
    /// MD5(username:realm:password) in hex, instead of the password.
    #[serde(default)]
    pub ha1: Option<String>,
    /// SHA-256(username:realm:password) in hex, for SHA-256 challenges
    /// (RFC 7616), with or instead of `ha1`.
    #[serde(default)]
    pub ha1_sha256: Option<String>,
    /// The realm `ha1` is for.
    #[serde(default)]
    pub realm: Option<String>,
    /// Registration expiry asked for, seconds.
    #[serde(default = "default_reg_expires")]
    pub expires: u32,
    /// First back-off after a failed registration, seconds (doubles up to 600).
    #[serde(default = "default_reg_retry")]
    pub retry_s: u64,
    /// Send REGISTERs (and dial-outs) to this outbound proxy (`HOST:PORT`)
    /// instead of the registrar's address; the Request-URI stays the
    /// registrar's domain.
    #[serde(default)]
    pub proxy: Option<String>,
    /// CA certificates (PEM) trusted for a `sips:` registrar (default:
    /// Debian's bundle, `/etc/ssl/certs/ca-certificates.crt`).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
}

fn default_reg_expires() -> u32 {
    300
}

fn default_reg_retry() -> u64 {
    30
}

impl TrunkConfig {
    /// A trunk that calls are taken from by source address only.
    pub fn by_sources(name: String, sources: Vec<String>) -> TrunkConfig {
        TrunkConfig {
            name,
            sources,
            registrar: None,
            domain: None,
            username: None,
            password: None,
            ha1: None,
            ha1_sha256: None,
            realm: None,
            expires: default_reg_expires(),
            retry_s: default_reg_retry(),
            proxy: None,
            tls_ca: None,
        }
    }

    /// How we reach the registrar: TLS for `sips:` or `;transport=tls`,
    /// TCP for `;transport=tcp`, else UDP.
    pub fn registrar_transport(&self) -> crate::sip::transport::Protocol {
        use crate::sip::transport::Protocol;
        let r = self
            .registrar
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if r.starts_with("sips:") || r.contains(";transport=tls") {
            Protocol::Tls
        } else if r.contains(";transport=tcp") {
            Protocol::Tcp
        } else {
            Protocol::Udp
        }
    }

    /// The port a registrar has when none is written (5061 for TLS).
    fn default_port(&self) -> u16 {
        if self.registrar_transport() == crate::sip::transport::Protocol::Tls {
            5061
        } else {
            5060
        }
    }

    /// The registrar's host and port, when the trunk registers.
    pub fn registrar_host_port(&self) -> Option<Result<(String, u16), String>> {
        let r = self.registrar.as_deref()?.trim();
        let r = r
            .strip_prefix("sips:")
            .or_else(|| r.strip_prefix("sip:"))
            .unwrap_or(r);
        let r = r.split(';').next().unwrap_or(r);
        Some(host_port("registrar", r, self.default_port()))
    }

    /// The outbound proxy's host and port, when there is one.
    pub fn proxy_host_port(&self) -> Option<Result<(String, u16), String>> {
        let p = self.proxy.as_deref()?.trim();
        Some(host_port("proxy", p, self.default_port()))
    }

    /// The account's domain: `domain`, else the registrar's host (with its
    /// port unless it is the transport's usual one).
    pub fn domain_or_default(&self) -> Option<String> {
        if let Some(d) = &self.domain {
            return Some(d.clone());
        }
        let (host, port) = self.registrar_host_port()?.ok()?;
        Some(if port == self.default_port() {
            host
        } else {
            format!("{host}:{port}")
        })
    }
}

/// `HOST`, `HOST:PORT` or `[IPV6]:PORT` (`default_port` when none is
/// written); `what` names it in errors.
fn host_port(what: &str, s: &str, default_port: u16) -> Result<(String, u16), String> {
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => p
            .parse::<u16>()
            .map(|p| (h.trim_matches(['[', ']']).to_string(), p))
            .map_err(|e| format!("{what} {s:?}: port: {e}")),
        _ if s.is_empty() => Err(format!("{what} is empty")),
        _ => Ok((s.trim_matches(['[', ']']).to_string(), default_port)),
    }
}

/// `[dialplan]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    /// A directory whose `*.toml` files are loaded in file-name order (or one file).
    pub path: PathBuf,
    /// Minutes east of UTC that dialplan `time` windows are evaluated in (-840 to 840).
    pub timezone_offset_minutes: i32,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            path: PathBuf::from("dialplans"),
            timezone_offset_minutes: 0,
        }
    }
}

/// `[xmpp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XmppConfig {
    /// Whether the XMPP service runs (TCP listener and `/xmpp-websocket`).
    pub enabled: bool,
    /// Address of the client-to-server TCP listener.
    pub listen: SocketAddr,
    /// The XMPP domain; MUC is `conference.<domain>`, the focus `focus.<domain>`.
    pub domain: String,
    /// Whether SASL ANONYMOUS (guest logins) is offered.
    pub anonymous: bool,
    /// Largest stanza (or WebSocket message) accepted, in bytes.
    pub max_stanza_size: usize,
    /// PEM certificate chain for STARTTLS on the TCP listener (none: plain TCP only).
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// With a certificate: refuse SASL until the stream is encrypted.
    pub require_tls: bool,
}

impl Default for XmppConfig {
    fn default() -> Self {
        XmppConfig {
            enabled: true,
            listen: "127.0.0.1:5222".parse().expect("literal is valid"),
            domain: "localhost".into(),
            anonymous: true,
            max_stanza_size: 65_536,
            tls_cert: None,
            tls_key: None,
            require_tls: true,
        }
    }
}

/// `[sfu]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SfuConfig {
    /// Whether the SFU runs (it needs `[xmpp] enabled`: the focus signals it).
    pub enabled: bool,
    /// The one UDP port every browser participant's media uses.
    pub port: u16,
    /// The address the UDP socket binds to.
    pub listen_ip: std::net::IpAddr,
    /// The address put in the ICE host candidate (what browsers send to).
    pub public_ip: std::net::IpAddr,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            enabled: true,
            port: 10000,
            // Like every other listener: loopback unless configured.
            listen_ip: "127.0.0.1".parse().expect("literal is valid"),
            public_ip: "127.0.0.1".parse().expect("literal is valid"),
        }
    }
}

/// An inclusive port range written `"LOW-HIGH"`.
/// `[recorder]`: native recording of rooms (docs/operations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderConfig {
    /// Run the recorder worker inside `dialroom serve`.
    pub enabled: bool,
    /// Where recordings are written (relative to the config file's directory).
    pub dir: PathBuf,
    /// A recording stops by itself after this many seconds (0: no limit).
    pub max_duration_s: u64,
    /// Finished recordings older than this many days are deleted (0: kept forever).
    pub retention_days: u64,
    /// Also write one track per participant.
    pub tracks: bool,
    /// Opus bitrate of the recorded mix and tracks, in bit/s.
    pub bitrate: u32,
    /// Opus encoder complexity of the recordings, 0 (cheapest) to 10.
    pub complexity: u8,
    /// This worker's id in the recordings table (default: host name and web address).
    pub worker_id: Option<String>,
    /// `dialroom serve` records with a worker of its own (true), or leaves
    /// the jobs to `dialroom recorder` processes that claim them from the
    /// database and take the media from the server's tap (false).
    pub in_process: bool,
    /// With `in_process = false`: a job no worker has taken after this many
    /// seconds fails (and the room is no longer marked as recorded).
    pub claim_timeout_s: u64,
    /// With `in_process = false`: the base URL workers reach this server's
    /// web port at (default: `ws://` and the web listener, loopback when it
    /// listens on every address).
    pub tap_url: Option<String>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            enabled: true,
            dir: PathBuf::from("data/recordings"),
            max_duration_s: 4 * 3600,
            retention_days: 0,
            tracks: false,
            bitrate: 48_000,
            complexity: 1,
            worker_id: None,
            in_process: true,
            claim_timeout_s: 10,
            tap_url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("port range {s:?} is not LOW-HIGH"))?;
        let lo: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("port range {s:?}: bad low port"))?;
        let hi: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("port range {s:?}: bad high port"))?;
        if lo == 0 || lo >= hi {
            return Err(format!("port range {s:?}: need 0 < LOW < HIGH"));
        }
        Ok(PortRange(lo..=hi))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The file read when `--config` is not given (absent is fine).
pub const DEFAULT_CONFIG_FILE: &str = "dialroom.toml";

impl Config {
    /// Reads `path`, or the defaults when `path` is `None` and `dialroom.toml` does not exist.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, must_exist) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(Error::Config {
                    path,
                    message: e.to_string(),
                });
            }
        };
        let mut cfg = Config::parse(&text).map_err(|message| Error::Config {
            path: path.clone(),
            message,
        })?;
        if let Some(dir) = path.parent() {
            cfg.resolve_relative_to(dir);
        }
        Ok(cfg)
    }

    /// Relative paths in a config file are relative to the file's directory.
    fn resolve_relative_to(&mut self, dir: &Path) {
        if self.dialplan.path.is_relative() && !dir.as_os_str().is_empty() {
            self.dialplan.path = dir.join(&self.dialplan.path);
        }
        if self.recorder.dir.is_relative() && !dir.as_os_str().is_empty() {
            self.recorder.dir = dir.join(&self.recorder.dir);
        }
        let url = &self.database.url;
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return;
        };
        let (file, query) = match rest.split_once('?') {
            Some((f, q)) => (f, Some(q)),
            None => (rest, None),
        };
        if file == ":memory:" || Path::new(file).is_absolute() || dir.as_os_str().is_empty() {
            return;
        }
        let abs = dir.join(file);
        self.database.url = match query {
            Some(q) => format!("sqlite://{}?{q}", abs.display()),
            None => format!("sqlite://{}", abs.display()),
        };
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let s = &self.sip;
        if s.domain.trim().is_empty() {
            return Err("[sip] domain must not be empty".into());
        }
        if s.listen.is_empty() {
            return Err("[sip] listen needs at least one socket".into());
        }
        if s.digest_algorithms.is_empty() {
            return Err("[sip] digest_algorithms needs at least one algorithm".into());
        }
        if !(s.min_expires <= s.default_expires && s.default_expires <= s.max_expires) {
            return Err("[sip] needs min_expires <= default_expires <= max_expires".into());
        }
        if s.t1_ms == 0 || s.t2_ms < s.t1_ms {
            return Err("[sip] needs 0 < t1_ms <= t2_ms".into());
        }
        for re in &s.md5_only_user_agents {
            regex::Regex::new(re)
                .map_err(|e| format!("[sip] md5_only_user_agents: {re:?}: {e}"))?;
        }
        if s.max_contacts == 0 {
            return Err("[sip] max_contacts must be at least 1".into());
        }
        if s.min_se < 90 || s.session_expires < s.min_se {
            return Err("[sip] needs 90 <= min_se <= session_expires (RFC 4028)".into());
        }
        let m = &self.media;
        if m.codecs.is_empty() {
            return Err("[media] codecs needs at least one codec".into());
        }
        for c in &m.codecs {
            if crate::sip::sdp::offer_format(c).is_none() {
                return Err(format!(
                    "[media] codecs: unknown codec {c:?} (opus, G722, PCMU, PCMA)"
                ));
            }
        }
        if m.talkers == 0 || m.talkers > crate::media::mixer::MAX_TALKERS {
            return Err(format!(
                "[media] talkers must be 1..={}",
                crate::media::mixer::MAX_TALKERS
            ));
        }
        if m.workers == 0 || m.opus_complexity > 10 {
            return Err("[media] needs workers >= 1 and opus_complexity <= 10".into());
        }
        for t in &self.trunks {
            for src in &t.sources {
                crate::dialplan::parse_cidr(src)
                    .map_err(|e| format!("[[trunk]] {}: source {src:?}: {e}", t.name))?;
            }
            if let Some(r) = t.registrar_host_port() {
                r.map_err(|e| format!("[[trunk]] {}: {e}", t.name))?;
                if t.username.as_deref().is_none_or(str::is_empty) {
                    return Err(format!("[[trunk]] {}: registrar needs username", t.name));
                }
                if t.password.is_none() && (t.ha1.is_none() || t.realm.is_none()) {
                    return Err(format!(
                        "[[trunk]] {}: registrar needs password (or ha1 with realm)",
                        t.name
                    ));
                }
                if t.expires == 0 {
                    return Err(format!(
                        "[[trunk]] {}: expires must be at least 1 s",
                        t.name
                    ));
                }
            } else if t.sources.is_empty() {
                return Err(format!(
                    "[[trunk]] {}: give sources (calls taken by address) or registrar",
                    t.name
                ));
            }
        }
        let x = &self.xmpp;
        if jid::BareJid::new(&x.domain).map_or(true, |j| j.node().is_some()) {
            return Err(format!("[xmpp] domain {:?} is not a domain name", x.domain));
        }
        if x.max_stanza_size < 1024 {
            return Err("[xmpp] max_stanza_size must be at least 1024".into());
        }
        if x.tls_cert.is_some() != x.tls_key.is_some() {
            return Err("[xmpp] tls_cert and tls_key go together".into());
        }
        if self.sip.tls_cert.is_some() != self.sip.tls_key.is_some() {
            return Err("[sip] tls_cert and tls_key go together".into());
        }
        if self.sip.tls_cert.is_none()
            && let Some(l) = self
                .sip
                .listen
                .iter()
                .find(|l| l.protocol == crate::sip::transport::Protocol::Tls)
        {
            return Err(format!(
                "[sip] listen {l}: a TLS listener needs tls_cert and tls_key"
            ));
        }
        if self.sfu.public_ip.is_unspecified() {
            return Err(
                "[sfu] public_ip must be an address browsers can reach, not 0.0.0.0".into(),
            );
        }
        if self.web.session_hours == 0 || self.web.login_attempts == 0 || self.web.login_window == 0
        {
            return Err(
                "[web] session_hours, login_attempts and login_window must be at least 1".into(),
            );
        }
        if self.recorder.complexity > 10 {
            return Err("[recorder] complexity must be 0..=10".into());
        }
        if !(6_000..=256_000).contains(&self.recorder.bitrate) {
            return Err("[recorder] bitrate must be 6000..=256000 bit/s".into());
        }
        if self.dialplan.timezone_offset_minutes.unsigned_abs() > 14 * 60 {
            return Err("[dialplan] timezone_offset_minutes must be between -840 and 840".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_gives_defaults_that_run_on_loopback() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.sip.listen.len(), 2);
        assert_eq!(c.web.listen.to_string(), "127.0.0.1:8080");
        assert!(c.database.url.starts_with("sqlite://data/"));
    }

    #[test]
    fn unknown_keys_are_reported_with_their_place() {
        let e = Config::parse("[sip]\ndomian = \"x\"\n").unwrap_err();
        assert!(e.contains("domian"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn relative_sqlite_paths_follow_the_config_file() {
        let mut c = Config::default();
        c.resolve_relative_to(Path::new("/etc/dialroom"));
        assert_eq!(c.database.url, "sqlite:///etc/dialroom/data/dialroom.db");
        c.database.url = "sqlite:///var/lib/d.db".into();
        c.resolve_relative_to(Path::new("/etc/dialroom"));
        assert_eq!(c.database.url, "sqlite:///var/lib/d.db");
    }

    #[test]
    fn sfu_defaults_and_an_unspecified_public_ip() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.sfu.port, 10000);
        assert_eq!(c.sfu.public_ip.to_string(), "127.0.0.1");
        assert!(c.sfu.enabled);
        let c = Config::parse("[sfu]\nport = 20000\npublic_ip = \"192.0.2.7\"\n").unwrap();
        assert_eq!(
            (c.sfu.port, c.sfu.public_ip.to_string()),
            (20000, "192.0.2.7".into())
        );
        assert!(Config::parse("[sfu]\npublic_ip = \"0.0.0.0\"\n").is_err());
    }

    #[test]
    fn xmpp_defaults_and_a_bad_domain() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.xmpp.listen.to_string(), "127.0.0.1:5222");
        assert_eq!(c.xmpp.domain, "localhost");
        assert!(Config::parse("[xmpp]\ndomain = \"a@b\"\n").is_err());
        assert!(Config::parse("[xmpp]\nmax_stanza_size = 10\n").is_err());
    }

    #[test]
    fn listen_and_ports_parse() {
        let c = Config::parse(
            "[sip]\nlisten = [\"udp:127.0.0.1:5070\"]\n[media]\nrtp_ports = \"20000-20100\"\n",
        )
        .unwrap();
        assert_eq!(c.sip.listen[0].to_string(), "udp:127.0.0.1:5070");
        assert_eq!(c.media.rtp_ports, PortRange(20000..=20100));
        assert!(Config::parse("[media]\nrtp_ports = \"9-3\"\n").is_err());
        assert!(Config::parse("[sip]\nlisten = [\"sctp:1.2.3.4:5\"]\n").is_err());
    }
}
