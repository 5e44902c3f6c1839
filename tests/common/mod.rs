//! Test harness: the real `dialroom` binary on random loopback ports, its CLI,
//! and the real peers (SIPp, pjsua2) pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Config for a trunk that lets every caller on 127.0.0.0/8 in without
/// registering (pass as `Server::with`'s `more`).
pub const LOOPBACK_TRUNK: &str = "[[trunk]]\nname = \"loopback\"\nsources = [\"127.0.0.0/8\"]\n";

/// The binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dialroom")
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port free for both UDP and TCP on 127.0.0.1, picked at random.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let p: u16 = rand::random_range(20_000..60_000);
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port found");
}

/// A dialroom server in its own directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub sip_port: u16,
    pub web_port: u16,
    /// The XMPP client-to-server port (`[xmpp] listen`).
    pub xmpp_port: u16,
    child: Option<Child>,
}

impl Server {
    /// Writes a config (SIP on UDP+TCP, web, SQLite in the temp dir) plus `extra` TOML lines
    /// for `[sip]` (appended inside the [sip] table).
    pub fn new(sip_extra: &str) -> Server {
        Server::with(sip_extra, "")
    }

    /// Like [`Server::new`], with more TOML tables appended (e.g. `[[trunk]]`, `[media]`).
    pub fn with(sip_extra: &str, more: &str) -> Server {
        Server::with_listeners(&[], sip_extra, more)
    }

    /// Like [`Server::with`], with more `[sip] listen` entries (e.g. `tls:127.0.0.1:PORT`).
    pub fn with_listeners(listen: &[&str], sip_extra: &str, more: &str) -> Server {
        let extra_listen: String = listen.iter().map(|l| format!(", \"{l}\"")).collect();
        let dir = tempfile::tempdir().unwrap();
        let sip_port = free_port();
        let web_port = free_port();
        let xmpp_port = free_port();
        // Each server its own RTP range, above Linux's ephemeral ports
        // (baresip phones use 20000-29999).
        let (rtp, rtp_hi) = private_rtp_range();
        // The SFU on a port of its own too (not the default 10000), unless
        // the test configures it.
        let sfu = if more.contains("[sfu]") {
            String::new()
        } else {
            format!(
                "[sfu]\nport = {}\nlisten_ip = \"127.0.0.1\"\n",
                free_udp_port()
            )
        };
        let config = dir.path().join("dialroom.toml");
        std::fs::write(
            &config,
            format!(
                "[sip]\nlisten = [\"udp:127.0.0.1:{sip_port}\", \"tcp:127.0.0.1:{sip_port}\"{extra_listen}]\n{sip_extra}\n\
                 [web]\nlisten = \"127.0.0.1:{web_port}\"\n\
                 [database]\nurl = \"sqlite://data/dialroom.db\"\n\
                 [xmpp]\nlisten = \"127.0.0.1:{xmpp_port}\"\n\
                 [media]\nrtp_ports = \"{rtp}-{rtp_hi}\"\n{sfu}{more}\n"
            ),
        )
        .unwrap();
        Server {
            dir,
            config,
            sip_port,
            web_port,
            xmpp_port,
            child: None,
        }
    }

    /// Starts it and waits for "ready".
    pub fn start(&mut self) -> &mut Self {
        self.child = Some(self.launch("serve", "server.log"));
        self
    }

    /// Starts `dialroom recorder` on this server's config (its log in
    /// `recorder.log`) and waits for "ready".
    pub fn start_recorder(&self) -> Child {
        self.launch("recorder", "recorder.log")
    }

    /// Runs `dialroom COMMAND` on this config, logging to `log`, and waits
    /// for it to print "ready".
    fn launch(&self, command: &str, log: &str) -> Child {
        let log_path = self.dir.path().join(log);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .arg(command)
            .env(
                "RUST_LOG",
                std::env::var("DIALROOM_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line == "ready" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!(
                "dialroom {command} did not start:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        child
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGTERM and wait (the server flushes its registrations).
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Runs a CLI command with this server's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// `dialroom user add NAME --password PW`, then waits for the server to reload users.
    pub fn add_user(&self, name: &str, pw: &str) {
        let o = self.cli(&["user", "add", name, "--password", pw]);
        assert!(
            o.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if self.child.is_some() {
            std::thread::sleep(Duration::from_millis(1500));
        }
    }

    /// An HTTP request to the web port with an optional bearer token and
    /// JSON body; returns (status, body).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.web_port)).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        if let Some(t) = token {
            req += &format!("Authorization: Bearer {t}\r\n");
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            req += "Content-Type: application/json\r\n";
        }
        req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let code = r
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = r.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (code, body)
    }

    /// GET a path on the web port; returns (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.web_port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let code = r
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = r.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (code, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// SIGTERM, then SIGKILL after 10 s.
pub fn terminate(mut c: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if c.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// Result of one SIPp run.
pub struct SippRun {
    pub ok: bool,
    pub output: String,
}

/// Runs a scenario from sipp-scenarios/ once against the server, as `user`/`pw`.
pub fn sipp(scenario: &str, transport: &str, port: u16, user: &str, pw: &str) -> SippRun {
    sipp_args(
        scenario,
        transport,
        port,
        &["-s", user, "-au", user, "-ap", pw],
    )
}

/// Runs a scenario with extra SIPp arguments.
pub fn sipp_args(scenario: &str, transport: &str, port: u16, extra: &[&str]) -> SippRun {
    let path: PathBuf = if Path::new(scenario).is_absolute() {
        scenario.into()
    } else {
        root().join("sipp-scenarios").join(scenario)
    };
    let t = match transport {
        "udp" => "u1",
        "tcp" => "t1",
        other => other,
    };
    let o = Command::new("sipp")
        .arg("-sf")
        .arg(&path)
        .args([
            "-m",
            "1",
            "-t",
            t,
            "-i",
            "127.0.0.1",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(["-p", &free_port().to_string()])
        .args(extra)
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .expect("sipp (Debian package sip-tester) is installed: run scripts/test.sh");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    SippRun {
        ok: o.status.success(),
        output,
    }
}

/// The Python with the test peers installed (scripts/test.sh makes it).
pub fn peers_python() -> PathBuf {
    std::env::var_os("DIALROOM_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-test/bin/python"))
}

/// A baresip phone (Debian baresip-core) with a sine source and a recorder.
pub struct Baresip {
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub ctrl_port: u16,
    child: Option<Child>,
}

/// A port `p` with `p + 1` free too (baresip binds TLS on sip port + 1).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < 65000
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port pair");
}

impl Baresip {
    /// Starts a phone whose microphone is a `freq` Hz sine, forced to `codec`
    /// (`pcmu`, `pcma`, `g722/16000/1`, `opus/48000/2`), with extra account params.
    pub fn start(user: &str, freq: u32, codec: &str, account_extra: &str) -> Baresip {
        Baresip::start_with(user, None, freq, codec, account_extra, "")
    }

    /// Like [`Baresip::start`], trusting the CA certificate `ca` (PEM) for SIP over TLS.
    pub fn start_trusting(user: &str, freq: u32, codec: &str, ca: &Path) -> Baresip {
        Baresip::start_trusting_with(user, freq, codec, ca, "")
    }

    /// Like [`Baresip::start_trusting`], with extra account params (e.g.
    /// `;mediaenc=srtp-mand` for SRTP with SDES keys).
    pub fn start_trusting_with(
        user: &str,
        freq: u32,
        codec: &str,
        ca: &Path,
        account_extra: &str,
    ) -> Baresip {
        let config = format!("sip_cafile {}\n", ca.display());
        Baresip::start_with(user, None, freq, codec, account_extra, &config)
    }

    /// A phone registered as `user` (password `pw`) to the server on `server_port`,
    /// answering calls by itself.
    pub fn start_registered(
        user: &str,
        pw: &str,
        server_port: u16,
        freq: u32,
        codec: &str,
    ) -> Baresip {
        let extra = format!(";auth_pass={pw};answermode=auto");
        Baresip::start_with(user, Some((server_port, "")), freq, codec, &extra, "")
    }

    /// Like [`Baresip::start_registered`], registering over `transport`
    /// (`tcp`): the server reaches it only over that connection.
    pub fn start_registered_over(
        user: &str,
        pw: &str,
        server_port: u16,
        freq: u32,
        codec: &str,
        transport: &str,
    ) -> Baresip {
        let extra = format!(";auth_pass={pw};answermode=auto");
        let params = format!(";transport={transport}");
        Baresip::start_with(user, Some((server_port, &params)), freq, codec, &extra, "")
    }

    fn start_with(
        user: &str,
        registrar: Option<(u16, &str)>,
        freq: u32,
        codec: &str,
        account_extra: &str,
        config_extra: &str,
    ) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let sip_port = free_port_pair();
        let ctrl_port = free_port();
        let rtp = 20_000 + (rand::random_range(0..100u16)) * 100;
        let rec = dir.path().join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        let config = format!(
            "sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\naudio_source ausine,{freq}\n\
             ausrc_srate 48000\nausrc_channels 2\nrtp_ports {rtp}-{}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule g722.so\nmodule opus.so\nmodule ausine.so\nmodule sndfile.so\nmodule srtp.so\n\
             snd_path {}\nmodule_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\nstatmode_default off\ndns_server 127.0.0.1:53\n{config_extra}",
            rtp + 99,
            rec.display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let account = match registrar {
            Some((p, params)) => format!(
                "<sip:{user}@127.0.0.1:{p}{params}>;regint=60;audio_codecs={codec}{account_extra}\n"
            ),
            None => format!(
                "<sip:{user}@127.0.0.1:{sip_port}>;regint=0;audio_codecs={codec}{account_extra}\n"
            ),
        };
        std::fs::write(dir.path().join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip (Debian baresip-core) is installed: run scripts/test.sh");
        let b = Baresip {
            dir,
            sip_port,
            ctrl_port,
            child: Some(child),
        };
        // Wait for ctrl_tcp.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", ctrl_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "baresip did not start:\n{}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    /// baresip's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends a ctrl_tcp command (netstring JSON) and returns the response text.
    pub fn ctrl(&self, command: &str, params: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.ctrl_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = format!(
            "{{\"command\":\"{command}\",\"params\":\"{}\",\"token\":\"t\"}}",
            params.replace('\\', "\\\\").replace('"', "\\\"")
        );
        write!(s, "{}:{},", msg.len(), msg).unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !got.contains("\"response\"") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        got
    }

    /// Dials a URI.
    pub fn dial(&self, uri: &str) {
        self.ctrl("dial", uri);
    }

    /// Stops baresip (SIGTERM: BYE and the WAV header are written) and waits.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }

    /// What this phone received: (first channel samples, sample rate), from sndfile's *-dec.wav.
    pub fn received(&self) -> (Vec<i16>, u32) {
        let rec = self.dir.path().join("rec");
        let wav = std::fs::read_dir(&rec)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no recording in {}:\n{}", rec.display(), self.log()));
        let mut r = hound::WavReader::open(&wav).unwrap();
        let spec = r.spec();
        let ch = usize::from(spec.channels);
        let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).step_by(ch).collect();
        (s, spec.sample_rate)
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Amplitude of `freq` in `x` (Goertzel), comparable to the peak of a sine.
pub fn tone_amplitude(x: &[i16], rate: u32, freq: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = (s1 * s1 + s2 * s2 - k * s1 * s2) / (x.len() as f64 * x.len() as f64);
    2.0 * p.max(0.0).sqrt()
}

/// The part of a recording between two times, in seconds.
pub fn window(x: &[i16], rate: u32, from: f64, to: f64) -> &[i16] {
    let a = ((from * f64::from(rate)) as usize).min(x.len());
    let b = ((to * f64::from(rate)) as usize).min(x.len());
    &x[a..b]
}

// Helpers for the call scenarios (tests/sipp_call_scenarios.rs,
// tests/dtmf_by_info_and_inband.rs).

impl Server {
    /// Like [`Server::with`], with `media_extra` TOML lines written inside the
    /// `[media]` table (e.g. `rtp_timeout = 3`); `more` must not have a `[media]` table.
    pub fn with_media(sip_extra: &str, media_extra: &str, more: &str) -> Server {
        let s = Server::with(sip_extra, more);
        let config = std::fs::read_to_string(&s.config).unwrap();
        assert!(config.contains("[media]\n"), "{config}");
        let config = config.replacen("[media]\n", &format!("[media]\n{media_extra}\n"), 1);
        std::fs::write(&s.config, config).unwrap();
        s
    }

    /// Writes `dialplans/test.toml` in the server's directory (call before `start`).
    pub fn write_dialplan(&self, toml: &str) {
        let dir = self.dir.path().join("dialplans");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("test.toml"), toml).unwrap();
    }

    /// The value of a metric without labels on `/metrics` (None if absent).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (code, body) = self.http_get("/metrics");
        assert_eq!(code, 200, "/metrics: {body}");
        body.lines().find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok())?
        })
    }
}

impl Server {
    /// Like [`Server::new`], with `xmpp_extra` TOML lines written inside the
    /// `[xmpp]` table (e.g. `anonymous = false`).
    pub fn with_xmpp(xmpp_extra: &str) -> Server {
        let s = Server::new("");
        let config = std::fs::read_to_string(&s.config).unwrap();
        let config = config.replacen("[xmpp]\n", &format!("[xmpp]\n{xmpp_extra}\n"), 1);
        std::fs::write(&s.config, config).unwrap();
        s
    }
}

/// 200 UDP ports, free now, at a random even start in 61000-65497: above
/// Linux's ephemeral ports (32768-60999), where a test server's RTP port
/// could be taken by someone's outgoing socket.
fn private_rtp_range() -> (u16, u16) {
    for _ in 0..200 {
        let lo: u16 = 61_000 + 2 * rand::random_range(0..2_150u16);
        let hi = lo + 199;
        if (lo..=hi).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return (lo, hi);
        }
    }
    panic!("no free RTP range in 61000-65497");
}

/// A SIPp run with its message trace (`-trace_msg`) and error log (`-trace_err`).
pub struct SippTrace {
    pub ok: bool,
    /// SIPp's screen output, then its error log.
    pub output: String,
    /// Every SIP message SIPp sent and received, with timestamps.
    pub messages: String,
}

impl std::fmt::Display for SippTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n--- SIPp messages:\n{}", self.output, self.messages)
    }
}

/// Runs a scenario like [`sipp_args`], keeping SIPp's message trace and error log.
pub fn sipp_traced(scenario: &str, transport: &str, port: u16, extra: &[&str]) -> SippTrace {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("messages.log");
    let err = dir.path().join("errors.log");
    let mut args: Vec<&str> = extra.to_vec();
    let (m, e) = (msg.to_str().unwrap(), err.to_str().unwrap());
    args.extend([
        "-trace_msg",
        "-message_file",
        m,
        "-trace_err",
        "-error_file",
        e,
    ]);
    let run = sipp_args(scenario, transport, port, &args);
    let errors = std::fs::read_to_string(&err).unwrap_or_default();
    SippTrace {
        ok: run.ok,
        output: format!("{}\n--- SIPp errors:\n{errors}", run.output),
        messages: std::fs::read_to_string(&msg).unwrap_or_default(),
    }
}

/// The messages of a SIPp `-trace_msg` log: (seconds since midnight, the
/// block's text: "UDP message sent (N bytes):" or "... received ...", then
/// the message).
pub fn sipp_trace_messages(trace: &str) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String)> = Vec::new();
    for line in trace.lines() {
        if line.starts_with("-----") {
            let time = line.split_whitespace().nth(2).unwrap_or("");
            let secs = time
                .split(':')
                .map(|x| x.parse::<f64>().unwrap_or(0.0))
                .fold(0.0, |acc, x| acc * 60.0 + x);
            out.push((secs, String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    out
}

/// Runs `tests/peers/SCRIPT COMMAND --port <xmpp port> ARGS` with the
/// peers' venv and returns the JSON it printed.
fn python_peer(s: &Server, script: &str, command: &str, args: &[&str]) -> serde_json::Value {
    let py = peers_python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/test.sh (it installs tests/peers/requirements.txt)",
        py.display()
    );
    let o = Command::new(py)
        .arg(root().join("tests/peers").join(script))
        .arg(command)
        .args(["--port", &s.xmpp_port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{script} {command} failed:\n{stdout}\n{}\n--- server log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        s.log()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Runs `tests/peers/xmpp_client.py COMMAND --port <xmpp port> ARGS` (slixmpp)
/// and returns the JSON it printed.
pub fn slixmpp(s: &Server, command: &str, args: &[&str]) -> serde_json::Value {
    python_peer(s, "xmpp_client.py", command, args)
}

/// Like [`Server::new`] with the SFU on a random UDP port on 127.0.0.1
/// (`[sfu] port`); returns the server and that port.
pub fn with_sfu() -> (Server, u16) {
    with_sfu_and("")
}

/// Like [`with_sfu`], with more config (e.g. a `[[trunk]]`).
pub fn with_sfu_and(more: &str) -> (Server, u16) {
    let port = free_udp_port();
    let s = Server::with(
        "",
        &format!(
            "[sfu]\nport = {port}\nlisten_ip = \"127.0.0.1\"\npublic_ip = \"127.0.0.1\"\n{more}"
        ),
    );
    (s, port)
}

/// A UDP port free on 127.0.0.1 right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `tests/peers/jingle_peer.py COMMAND --port <xmpp port> ARGS`
/// (slixmpp + aiortc) and returns the JSON it printed.
pub fn jingle_peer(s: &Server, command: &str, args: &[&str]) -> serde_json::Value {
    python_peer(s, "jingle_peer.py", command, args)
}

/// A server with `tls:` listeners on `n` free ports (besides the usual
/// UDP and TCP ones), its certificate from a fresh test CA kept in the
/// returned directory (`ca.pem` there, for clients to trust), and `more`
/// config. Returns the server (not started), the directory and the ports.
pub fn with_tls(n: usize, more: &str) -> (Server, tempfile::TempDir, Vec<u16>) {
    let dir = tempfile::tempdir().unwrap();
    make_certificate(dir.path());
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let listen: Vec<String> = ports.iter().map(|p| format!("tls:127.0.0.1:{p}")).collect();
    let listen: Vec<&str> = listen.iter().map(String::as_str).collect();
    let s = Server::with_listeners(
        &listen,
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}",
            dir.path().join("server.pem").to_str().unwrap(),
            dir.path().join("server.key").to_str().unwrap()
        ),
        more,
    );
    (s, dir, ports)
}

/// A CA and a certificate for `localhost` (and 127.0.0.1) signed by it, as
/// PEM files in `dir`: `ca.pem`, `server.pem`, `server.key`.
pub fn make_certificate(dir: &Path) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/deps.sh)");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
    ca.extend(["-subj", "/CN=dialroom test CA"]);
    run(&ca);
    let mut req = vec!["req"];
    req.extend(ec);
    req.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&req);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// An HTTP response: status, headers (names lower-case), body.
pub struct HttpResponse {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name` set by this response (`Set-Cookie`).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .find_map(|(_, v)| {
                let first = v.split(';').next()?;
                let (k, val) = first.split_once('=')?;
                (k.trim() == name).then(|| val.trim().to_string())
            })
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", self.code, self.body))
    }
}

impl Server {
    /// An HTTP request with any headers and body; returns status, headers and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.web_port)).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (n, v) in headers {
            req += &format!("{n}: {v}\r\n");
        }
        req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap_or((&r, ""));
        let mut lines = head.split("\r\n");
        let code = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        HttpResponse {
            code,
            headers,
            body: body.to_string(),
        }
    }

    /// `dialroom admin add NAME --password PW --role ROLE`.
    pub fn add_admin(&self, name: &str, pw: &str, role: &str) {
        let o = self.cli(&["admin", "add", name, "--password", pw, "--role", role]);
        assert!(
            o.status.success(),
            "admin add: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Logs in through the form; returns (session cookie, CSRF token of the session).
    pub fn login(&self, name: &str, pw: &str) -> (String, String) {
        let page = self.request("GET", "/admin/login", &[], "");
        assert_eq!(page.code, 200, "{}", page.body);
        let form_csrf = page.set_cookie("dr_login_csrf").expect("login csrf cookie");
        let r = self.request(
            "POST",
            "/admin/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &format!("dr_login_csrf={form_csrf}")),
            ],
            &format!("name={name}&password={pw}&csrf={form_csrf}"),
        );
        assert_eq!(r.code, 303, "login as {name}: {}", r.body);
        let session = r.set_cookie("dr_session").expect("session cookie");
        let cookie = format!("dr_session={session}");
        let admin = self.request("GET", "/admin", &[("Cookie", &cookie)], "");
        assert_eq!(admin.code, 200, "{}", admin.body);
        let csrf = admin
            .body
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("csrf meta tag")
            .to_string();
        (cookie, csrf)
    }
}

/// Decodes an Ogg Opus file with opus-tools' `opusdec` (a decoder nobody
/// here wrote) to 48 kHz 16-bit WAV; returns (first channel samples, rate).
pub fn opusdec(path: &Path) -> (Vec<i16>, u32) {
    let wav = path.with_extension("decoded.wav");
    let o = Command::new("opusdec")
        .args(["--quiet", "--rate", "48000"])
        .arg(path)
        .arg(&wav)
        .output()
        .expect("opusdec (Debian opus-tools) is installed: run scripts/deps.sh test");
    assert!(
        o.status.success(),
        "opusdec {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut r = hound::WavReader::open(&wav).unwrap();
    let spec = r.spec();
    let ch = usize::from(spec.channels);
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).step_by(ch).collect();
    (s, spec.sample_rate)
}

/// `dialroom token add NAME --role ROLE`; returns the token.
pub fn api_token(s: &Server, name: &str, role: &str) -> String {
    let o = s.cli(&["token", "add", name, "--role", role]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A 5 s mono 48 kHz WAV of a `hz` sine at -10 dBFS in `dir` (a fake
/// microphone for Chromium's `--use-file-for-fake-audio-capture`).
pub fn tone_wav(dir: &Path, hz: u32) -> PathBuf {
    let path = dir.join(format!("tone-{hz}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..48_000 * 5 {
        let t = f64::from(i) / 48_000.0;
        let v = 0.3 * (2.0 * std::f64::consts::PI * f64::from(hz) * t).sin();
        w.write_sample((v * f64::from(i16::MAX)) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// Polls `GET /api/v1/recordings/{id}` until `done` holds for the row (at
/// most `secs` seconds; `log` says what went on when it never does).
pub fn wait_recording(
    s: &Server,
    token: &str,
    id: &str,
    secs: u64,
    done: impl Fn(&serde_json::Value) -> bool,
    log: &dyn Fn() -> String,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (code, b) = s.http(
            "GET",
            &format!("/api/v1/recordings/{id}"),
            Some(token),
            None,
        );
        assert_eq!(code, 200, "{b}");
        let r: serde_json::Value = serde_json::from_str(&b).unwrap();
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "still {r}\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A recording's row is final: `done` or `failed`.
pub fn is_closed(r: &serde_json::Value) -> bool {
    r["state"] == "done" || r["state"] == "failed"
}
