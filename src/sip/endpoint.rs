//! The SIP endpoint core: transactions, dispatch by method, the registrar
//! with digest authentication, and the auth-failure limiter. Sans-IO: the
//! shell in `crate::server` feeds it [`Inbound`] messages and timer ticks with
//! the current time and carries out the [`Action`]s it returns.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::auth::{self, Algorithm, Credentials, DigestAuth, Verdict};
use super::call::{CallConfig, Calls};
use super::message::{Message, Method, Reject, Request, ResponseBuilder};
use super::registrar::{Aor, Binding, Change, Limits, RegisterError, RegisterRequest, Registrar};
use super::stateless::{self, Stateless};
use super::transaction::{Output, RequestDisposition, TimerConfig, Transactions, TxKey};
use super::transport::{Flow, Inbound};
use crate::media::engine::MediaCommand;

/// The methods this endpoint implements (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, UPDATE, INFO, OPTIONS, REGISTER";

/// The current time, both clocks: monotonic for timers, wall for expiry.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time for transaction timers.
    pub mono: Instant,
    /// Unix seconds for registration expiry (persisted).
    pub unix: u64,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send bytes on a flow.
    Send(Flow, Arc<[u8]>),
    /// Persist a location change.
    Persist(Change),
    /// Tell the media workers.
    Media(MediaCommand),
    /// Tell the browsers of a room about a phone caller (the bridge).
    Phone(crate::bridge::PhoneEvent),
    /// Tell the recorder (start or stop a room's recording).
    Recorder(crate::recorder::RecorderCommand),
    /// Tell the SFU (the WebRTC media of browser softphones' calls).
    Sfu(crate::sfu::Command),
    /// Look a meeting id up; answer with [`Endpoint::on_meeting`].
    LookupMeeting {
        /// The call asking.
        leg: crate::conference::LegId,
        /// The digits typed.
        id: String,
    },
}

/// Endpoint settings (from `[sip]`).
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our domain and digest realm.
    pub domain: String,
    /// Host names and addresses that are us.
    pub local_hosts: Vec<String>,
    /// Registration limits.
    pub limits: Limits,
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Challenge algorithms, preferred first.
    pub algorithms: Vec<Algorithm>,
    /// Nonce lifetime in seconds.
    pub nonce_lifetime: u64,
    /// Failures before a source is blocked.
    pub auth_failure_limit: u32,
    /// Calls: codecs, trunks, RTP ports, session timers.
    pub calls: CallConfig,
    /// User-Agent patterns of clients that get only the MD5 challenge.
    pub md5_only_user_agents: Vec<regex::Regex>,
    /// Failure counting window (seconds).
    pub auth_failure_window: u64,
    /// Block length (seconds).
    pub auth_block_seconds: u64,
    /// Keepalives to registered contacts this often (`None`: never).
    pub keepalive: Option<std::time::Duration>,
}

#[derive(Debug, Default)]
struct FailureCount {
    window_start: u64,
    count: u32,
    blocked_until: u64,
}

/// Counts authentication failures per source address and blocks repeat offenders.
#[derive(Debug)]
struct AuthLimiter {
    limit: u32,
    window: u64,
    block: u64,
    sources: HashMap<IpAddr, FailureCount>,
}

impl AuthLimiter {
    /// Returns when the block ends if this failure starts one.
    fn fail(&mut self, ip: IpAddr, now: u64) -> Option<u64> {
        let f = self.sources.entry(ip).or_default();
        if now.saturating_sub(f.window_start) > self.window {
            f.window_start = now;
            f.count = 0;
        }
        f.count += 1;
        if f.count >= self.limit && f.blocked_until <= now {
            f.blocked_until = now + self.block;
            f.count = 0;
            return Some(f.blocked_until);
        }
        None
    }
    fn sweep(&mut self, now: u64) {
        let window = self.window;
        self.sources
            .retain(|_, f| f.blocked_until > now || now.saturating_sub(f.window_start) <= window);
    }
}

/// The SIP endpoint core.
#[derive(Debug)]
pub struct Endpoint {
    stateless: Arc<Stateless>,
    pub(super) txs: Transactions<Flow>,
    pub(super) timers: TimerConfig,
    pub(super) calls: Calls,
    registrar: Registrar,
    auth: DigestAuth,
    users: HashMap<String, Credentials>,
    limiter: AuthLimiter,
    counter: u64,
    /// Trunks we register to (`[[trunk]]` with a registrar).
    pub(super) outbound: Vec<super::outbound::TrunkRegistration>,
    keepalive: Option<std::time::Duration>,
    next_keepalive: Option<Instant>,
}

impl Endpoint {
    /// A core with no users and no bindings; `secret` keys the nonces.
    pub fn new(cfg: EndpointConfig, secret: [u8; 32]) -> Self {
        Endpoint {
            stateless: Arc::new(Stateless::new(&cfg, secret)),
            txs: Transactions::new(cfg.timers),
            timers: cfg.timers,
            calls: Calls::new(cfg.calls.clone()),
            registrar: Registrar::new(cfg.limits),
            auth: DigestAuth::new(
                secret,
                &cfg.domain,
                cfg.nonce_lifetime,
                cfg.algorithms.clone(),
            ),
            users: HashMap::new(),
            limiter: AuthLimiter {
                limit: cfg.auth_failure_limit.max(1),
                window: cfg.auth_failure_window,
                block: cfg.auth_block_seconds,
                sources: HashMap::new(),
            },
            counter: u64::from_le_bytes(secret[..8].try_into().expect("8 bytes")),
            outbound: Vec::new(),
            keepalive: cfg.keepalive,
            next_keepalive: None,
        }
    }

    /// The trunks calls are taken from without digest auth (the config
    /// file's and the database's, as the trunks poller reads them).
    pub fn set_trunks(&mut self, trunks: &[crate::config::TrunkConfig]) {
        self.calls.cfg.set_trunks(trunks);
    }

    /// Replaces the user directory (name -> credentials).
    pub fn set_users(&mut self, users: HashMap<String, Credentials>, out: &mut Vec<Action>) {
        self.users = users;
        let mut changes = Vec::new();
        let users = &self.users;
        self.registrar
            .retain_users(|aor| users.contains_key(aor.as_str()), &mut changes);
        out.extend(changes.into_iter().map(Action::Persist));
    }

    /// Restores a binding from the database.
    pub fn load_binding(&mut self, aor: Aor, b: Binding) {
        self.registrar.load(aor, b);
    }

    /// Live bindings of a user.
    pub fn bindings(&self, aor: &Aor, now: u64) -> Vec<Binding> {
        self.registrar.bindings(aor, now)
    }

    /// Our SIP domain.
    pub fn domain(&self) -> &str {
        self.auth.realm()
    }

    /// Number of live bindings.
    pub fn binding_count(&self) -> usize {
        self.registrar.count()
    }

    /// Number of live transactions.
    pub fn transaction_count(&self) -> usize {
        self.txs.len()
    }

    pub(super) fn next(&mut self) -> u64 {
        // splitmix64: unique, unpredictable-enough tags and nonce salts.
        self.counter = self.counter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.counter;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// When [`Endpoint::handle_timeout`] should run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.txs.poll_timeout(),
            self.call_timeout(),
            self.outbound_due(),
            self.next_keepalive,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Starts a client transaction for `bytes` (a request of ours) on
    /// `flow` and sends its first transmission.
    pub(super) fn send_request(
        &mut self,
        now: Now,
        key: TxKey,
        method: &str,
        bytes: Vec<u8>,
        flow: Flow,
        out: &mut Vec<Action>,
    ) {
        let o = self.txs.send_request(
            now.mono,
            key,
            method,
            bytes,
            flow.protocol.is_reliable(),
            flow,
        );
        if let Output::Transmit { dest, bytes } = o {
            out.push(Action::Send(dest, bytes));
        }
    }

    /// Runs due transaction timers.
    pub fn handle_timeout(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut outputs = Vec::new();
        self.txs.handle_timeout(now.mono, &mut outputs);
        for o in outputs {
            match o {
                Output::Transmit { dest, bytes } => out.push(Action::Send(dest, bytes)),
                Output::Timeout { key, .. }
                    if key.branch.starts_with(super::outbound::BRANCH_PREFIX) =>
                {
                    self.on_register_timeout(now, &key)
                }
                Output::Timeout { key, .. }
                    if key.branch.starts_with(super::dialout::BRANCH_PREFIX) =>
                {
                    self.on_dial_timeout(now, &key, out)
                }
                _ => {}
            }
        }
        self.handle_call_timers(now, out);
        self.poll_outbound(now, out);
        self.keepalives(now, out);
    }

    /// Keepalives to every registered contact, when due (RFC 5626 §4.4 in
    /// spirit): an OPTIONS to the address a UDP contact registered from,
    /// with its registration's Call-ID (so a phone can tell what it is
    /// about; the answer is a stray response, dropped), a double CRLF on the
    /// connection of a TCP/TLS one. Keeps NAT bindings open so that calls
    /// reach phones.
    fn keepalives(&mut self, now: Now, out: &mut Vec<Action>) {
        let Some(every) = self.keepalive else {
            return;
        };
        match self.next_keepalive {
            Some(t) if t <= now.mono => self.next_keepalive = Some(now.mono + every),
            _ => return,
        }
        let targets: Vec<(String, String, Flow)> = self
            .registrar
            .live(now.unix)
            .filter_map(|(_, b)| {
                Some((
                    b.contact.clone(),
                    b.call_id.clone(),
                    self.calls.cfg.flow_to(b)?,
                ))
            })
            .collect();
        tracing::debug!(
            contacts = targets.len(),
            "keepalives to registered contacts"
        );
        for (contact, call_id, flow) in targets {
            if flow.protocol.is_reliable() {
                out.push(Action::Send(flow, std::sync::Arc::from(&b"\r\n\r\n"[..])));
                continue;
            }
            let n = self.next();
            let domain = self.domain();
            let bytes = format!(
                "OPTIONS {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-ka-{n:x};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:dialroom@{domain}>;tag={n:x}\r\nTo: <{contact}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {} OPTIONS\r\nUser-Agent: {}\r\nContent-Length: 0\r\n\r\n",
                self.calls.cfg.sent_by(flow.local),
                n % 1_000_000 + 1,
                super::message::SERVER
            );
            out.push(Action::Send(flow, bytes.into_bytes().into()));
        }
    }

    /// Periodic sweep: expired bindings, old nonces, old failure counts.
    pub fn housekeeping(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut changes = Vec::new();
        self.registrar.expire(now.unix, &mut changes);
        out.extend(changes.into_iter().map(Action::Persist));
        self.auth.sweep(now.unix);
        self.limiter.sweep(now.unix);
        self.stateless.sweep(now.unix);
    }

    /// Handles one message from the network.
    pub fn on_inbound(&mut self, now: Now, inbound: Inbound, out: &mut Vec<Action>) {
        if self.next_keepalive.is_none()
            && let Some(every) = self.keepalive
        {
            // The keepalive clock starts with the first message.
            self.next_keepalive = Some(now.mono + every);
        }
        let flow = inbound.flow;
        match inbound.message {
            Err(reject) => self.refuse(flow, reject, out),
            Ok(Message::Response(resp))
                if resp
                    .core
                    .top_via
                    .branch
                    .as_deref()
                    .is_some_and(|b| b.starts_with(super::outbound::BRANCH_PREFIX)) =>
            {
                self.on_register_response(now, &resp, out)
            }
            Ok(Message::Response(resp)) => self.on_response(now, resp, out),
            Ok(Message::Request(req)) => self.on_request(now, flow, req, out),
        }
    }

    fn refuse(&mut self, flow: Flow, r: Reject, out: &mut Vec<Action>) {
        let (Some(status), Some(ctx)) = (r.status, r.reply) else {
            return;
        };
        if ctx.cseq.split_whitespace().nth(1) == Some("ACK") {
            return; // never answer an ACK
        }
        let tag = format!("{:x}", self.next());
        let bytes = ResponseBuilder::new(&ctx, status)
            .to_tag(&tag)
            .source(flow.remote)
            .header(
                "Warning",
                format!("399 dialroom \"{}\"", r.reason.replace('"', "'")),
            )
            .build();
        out.push(Action::Send(flow, bytes.into()));
    }

    fn tx_key(req: &Request) -> TxKey {
        let c = &req.core;
        let method = req.method().to_string();
        if c.top_via.has_rfc3261_branch() {
            TxKey::new(
                c.top_via.branch.as_deref().unwrap_or(""),
                &c.top_via.sent_by(),
                &method,
            )
        } else {
            // RFC 2543 matching (§17.2.3): Request-URI, From tag, Call-ID, CSeq, top Via.
            let branch = format!(
                "2543|{}|{}|{}|{}|{}",
                req.inner.uri,
                c.from_tag.as_deref().unwrap_or(""),
                c.call_id,
                c.cseq,
                c.reply.vias[0]
            );
            TxKey::new(&branch, &c.top_via.sent_by(), &method)
        }
    }

    fn on_request(&mut self, now: Now, flow: Flow, req: Request, out: &mut Vec<Action>) {
        let method = req.method();
        // A blocked source gets no answer to what would need authentication.
        if method == Method::Register {
            if self.stateless.is_blocked(flow.remote.ip(), now.unix) {
                return;
            }
            // A challenge needs no transaction (RFC 3261 §8.2.7); the UDP
            // readers normally answer these before they get here.
            if let Some(bytes) = self.stateless.answer(now.unix, &flow, &req) {
                out.push(Action::Send(flow, bytes.into()));
                return;
            }
        }
        let key = Self::tx_key(&req);
        let method_s = method.to_string();
        match self
            .txs
            .on_request(now.mono, &key, &method_s, flow.protocol.is_reliable(), flow)
        {
            RequestDisposition::New => {}
            RequestDisposition::Retransmission(Some(Output::Transmit { dest, bytes })) => {
                out.push(Action::Send(dest, bytes));
                return;
            }
            RequestDisposition::AckForTu => {
                self.on_ack(now, flow, &req, out);
                return;
            }
            RequestDisposition::Retransmission(_) | RequestDisposition::AckAbsorbed => {
                return;
            }
        }
        if matches!(
            method,
            Method::Invite | Method::Bye | Method::Cancel | Method::Update | Method::Info
        ) || (req.core.to_tag.is_some() && method != Method::Register)
        {
            self.on_call_request(now, flow, &key, &req, out);
            return;
        }
        let answer = self.answer(now, flow, &req);
        self.send_answer(now, flow, &key, &req, answer, out);
    }

    /// Sends a final or provisional answer through the request's server transaction.
    pub(super) fn send_answer(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        req: &Request,
        answer: Answer,
        out: &mut Vec<Action>,
    ) {
        self.send_answer_ctx(now, flow, key, &req.core.reply, answer, out);
    }

    /// Like [`Endpoint::send_answer`], from the request's saved headers.
    pub(super) fn send_answer_ctx(
        &mut self,
        now: Now,
        flow: Flow,
        key: &TxKey,
        ctx: &super::message::ReplyContext,
        answer: Answer,
        out: &mut Vec<Action>,
    ) {
        let tag = answer
            .to_tag
            .clone()
            .unwrap_or_else(|| format!("{:x}", self.next()));
        let code = answer.code;
        let (bytes, changes) = answer.print(ctx, &tag, flow.remote);
        if let Some(Output::Transmit { dest, bytes }) = self.txs.respond(now.mono, key, code, bytes)
        {
            out.push(Action::Send(dest, bytes));
        }
        out.extend(changes.into_iter().map(Action::Persist));
    }

    pub(super) fn is_local(&self, host: &str) -> bool {
        self.stateless.is_local(host)
    }

    /// What the transports may answer without the endpoint (shared).
    pub fn stateless(&self) -> Arc<Stateless> {
        self.stateless.clone()
    }

    fn answer(&mut self, now: Now, flow: Flow, req: &Request) -> Answer {
        let method = req.method();
        if let Some(req_ext) = req.header("Require") {
            let tags: Vec<String> = super::message::split_list(req_ext);
            if !tags.is_empty() && !matches!(method, Method::Cancel | Method::Ack) {
                return Answer::new(420).header("Unsupported", tags.join(", "));
            }
        }
        let host = req.inner.uri.host_with_port.host.to_string();
        if !self.is_local(&host) {
            let code = if method == Method::Register { 403 } else { 404 };
            return Answer::new(code).warn(format!("domain {host} is not served here"));
        }
        match method {
            Method::Register => self.register(now, flow, req),
            Method::Options => Answer::new(200)
                .header("Allow", ALLOW)
                .header("Accept", "application/sdp")
                .header("Accept-Encoding", "identity")
                .header("Accept-Language", "en")
                .header("Supported", ""),
            Method::Cancel => Answer::new(481),
            _ => Answer::new(405).header("Allow", ALLOW),
        }
    }

    /// Checks the request's digest credentials for our realm: the user name,
    /// or the answer to send (401 challenge, 403 for wrong credentials).
    pub(super) fn authenticate(
        &mut self,
        now: Now,
        flow: Flow,
        req: &Request,
    ) -> Result<String, Box<Answer>> {
        let realm = self.auth.realm().to_string();
        let digest = req
            .inner
            .headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("Authorization"))
            .filter_map(|h| auth::parse_authorization(h.value()))
            .find(|d| d.realm == realm);
        let Some(digest) = digest else {
            return Err(Box::new(self.challenge(now, req, false)));
        };
        let creds = self.users.get(&digest.username).cloned();
        let method = req.method().to_string();
        match self.auth.verify(now.unix, &method, &digest, creds.as_ref()) {
            Verdict::Ok => Ok(digest.username),
            Verdict::Stale => Err(Box::new(self.challenge(now, req, true))),
            Verdict::Rechallenge => Err(Box::new(self.challenge(now, req, false))),
            Verdict::Wrong => {
                if let Some(until) = self.limiter.fail(flow.remote.ip(), now.unix) {
                    self.stateless.block(flow.remote.ip(), until);
                    tracing::warn!(source = %flow.remote.ip(), "too many failed authentications: blocking this source");
                }
                Err(Box::new(Answer::new(403).warn("wrong credentials")))
            }
        }
    }

    fn challenge(&mut self, now: Now, req: &Request, stale: bool) -> Answer {
        let salt = self.next();
        self.stateless.challenge(now.unix, salt, stale, req)
    }

    fn register(&mut self, now: Now, flow: Flow, req: &Request) -> Answer {
        let (aor, contacts) = match stateless::register_target(&self.stateless, req) {
            Ok(t) => t,
            Err(answer) => return *answer,
        };
        let user = match self.authenticate(now, flow, req) {
            Ok(u) => u,
            Err(answer) => return *answer,
        };
        if user != aor.as_str() {
            return Answer::new(403).warn("authenticated user may not register this address");
        }
        let expires = match req.header("Expires").map(|e| e.trim().parse::<u32>()) {
            None => None,
            Some(Ok(e)) => Some(e),
            Some(Err(_)) => Some(u32::MAX), // ten-digit values beyond u32: the longest we grant
        };
        let rr = RegisterRequest {
            aor,
            contacts,
            expires,
            call_id: req.core.call_id.clone(),
            cseq: req.core.cseq,
            received: format!("{}:{}", flow.protocol, flow.remote),
            user_agent: req.header("User-Agent").map(str::to_string),
        };
        let mut changes = Vec::new();
        match self.registrar.register(now.unix, rr, &mut changes) {
            Ok(bindings) => {
                let mut a = Answer::new(200);
                for b in &bindings {
                    let left = b.expires_at.saturating_sub(now.unix);
                    let q = if b.q == 1000 {
                        String::new()
                    } else {
                        format!(";q=0.{:03}", b.q)
                    };
                    a = a.header("Contact", format!("<{}>;expires={left}{q}", b.contact));
                }
                a = a.header("Date", http_date(now.unix));
                a.changes = changes;
                a
            }
            Err(RegisterError::IntervalTooBrief(min)) => {
                Answer::new(423).header("Min-Expires", min.to_string())
            }
            Err(RegisterError::BadRequest(e)) => Answer::new(400).warn(e),
            Err(RegisterError::OutOfOrder) => {
                Answer::new(500).warn("CSeq is not above the last one for this Call-ID")
            }
            Err(RegisterError::TooManyContacts(n)) => {
                Answer::new(403).warn(format!("at most {n} contacts per user"))
            }
        }
    }
}

/// An answer being assembled.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub(super) code: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) warning: Option<String>,
    pub(super) changes: Vec<Change>,
    pub(super) body: Vec<u8>,
    pub(super) to_tag: Option<String>,
}

impl Answer {
    /// The response bytes to the request whose headers are `ctx`, from
    /// `source`, with our To `tag`; and the location changes it carries.
    pub(super) fn print(
        self,
        ctx: &super::message::ReplyContext,
        tag: &str,
        source: std::net::SocketAddr,
    ) -> (Vec<u8>, Vec<Change>) {
        let mut b = ResponseBuilder::new(ctx, self.code)
            .to_tag(tag)
            .source(source);
        for (n, v) in self.headers {
            b = b.header(n, v);
        }
        if let Some(w) = self.warning {
            b = b.header("Warning", format!("399 dialroom \"{w}\""));
        }
        (b.body(self.body).build(), self.changes)
    }

    pub(super) fn new(code: u16) -> Self {
        Answer {
            code,
            headers: Vec::new(),
            warning: None,
            changes: Vec::new(),
            body: Vec::new(),
            to_tag: None,
        }
    }
    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub(super) fn warn(mut self, w: impl Into<String>) -> Self {
        self.warning = Some(w.into().replace('"', "'"));
        self
    }
    pub(super) fn tag(mut self, t: &str) -> Self {
        self.to_tag = Some(t.to_string());
        self
    }
    pub(super) fn sdp(mut self, body: String) -> Self {
        self.headers
            .push(("Content-Type", "application/sdp".into()));
        self.body = body.into_bytes();
        self
    }
}

/// RFC 1123 date for the Date header.
pub fn http_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;
    use crate::sip::transport::Protocol;

    fn cfg() -> EndpointConfig {
        EndpointConfig {
            domain: "example.com".into(),
            local_hosts: vec!["127.0.0.1".into()],
            limits: Limits {
                min_expires: 60,
                max_expires: 3600,
                default_expires: 3600,
                max_contacts: 5,
            },
            timers: TimerConfig::default(),
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            nonce_lifetime: 300,
            auth_failure_limit: 3,
            auth_failure_window: 60,
            auth_block_seconds: 300,
            keepalive: None,
            calls: crate::sip::call::CallConfig::default(),
            md5_only_user_agents: Vec::new(),
        }
    }

    fn flow() -> Flow {
        Flow {
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "192.0.2.9:5070".parse().unwrap(),
            conn: 0,
        }
    }

    fn ep() -> Endpoint {
        let mut e = Endpoint::new(cfg(), [3; 32]);
        let mut users = HashMap::new();
        users.insert(
            "alice".to_string(),
            Credentials::from_password("alice", "example.com", "pw"),
        );
        e.set_users(users, &mut Vec::new());
        e
    }

    fn now(unix: u64) -> Now {
        Now {
            mono: Instant::now(),
            unix,
        }
    }

    fn register(branch: &str, cseq: u32, auth: Option<&str>, extra: &str) -> Inbound {
        let a = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let s = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5070;branch={branch};rport\r\n\
From: <sip:alice@example.com>;tag=f\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg1\r\nCSeq: {cseq} REGISTER\r\n\
Contact: <sip:alice@10.0.0.5:5070>\r\n{a}{extra}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        Inbound {
            flow: flow(),
            message: parse(s.as_bytes()),
        }
    }

    fn reply(out: &[Action]) -> String {
        out.iter()
            .find_map(|a| match a {
                Action::Send(_, b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .expect("a response was sent")
    }

    #[test]
    fn behind_nat_our_contact_and_sdp_carry_the_public_addresses() {
        let mut c = cfg();
        c.calls.public_ip = Some("203.0.113.5".parse().unwrap());
        c.calls.media_public_ip = Some("198.51.100.7".parse().unwrap());
        c.calls.set_trunks(&[crate::config::TrunkConfig::by_sources(
            "t".into(),
            vec!["192.0.2.0/24".into()],
        )]);
        let mut e = Endpoint::new(c, [3; 32]);
        e.set_dialplan(std::sync::Arc::new(
            crate::dialplan::parse_str(
                "d.toml",
                "[[route]]\naction = \"conference\"\nroom = \"r\"\n",
            )
            .unwrap(),
        ));
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
        let invite = format!(
            "INVITE sip:1234@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKnat1\r\n\
             From: <sip:bob@example.com>;tag=b\r\nTo: <sip:1234@example.com>\r\nCall-ID: nat1\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:bob@192.0.2.9:5070>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let mut out = Vec::new();
        e.on_inbound(
            now(1000),
            Inbound {
                flow: flow(),
                message: parse(invite.as_bytes()),
            },
            &mut out,
        );
        let ok = out
            .iter()
            .find_map(|a| match a {
                Action::Send(_, b) if b.starts_with(b"SIP/2.0 200") => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                _ => None,
            })
            .expect("a 200");
        assert!(
            ok.contains("Contact: <sip:dialroom@203.0.113.5:5060>"),
            "{ok}"
        );
        assert!(ok.contains("c=IN IP4 198.51.100.7"), "{ok}");
        // The media socket still binds to the local address.
        let bound = out.iter().find_map(|a| match a {
            Action::Media(crate::media::engine::MediaCommand::Open { spec, .. }) => {
                Some(spec.local)
            }
            _ => None,
        });
        assert_eq!(
            bound.map(|a| a.ip().to_string()).as_deref(),
            Some("127.0.0.1")
        );
    }

    fn digest_for(challenge: &str, alg: Algorithm, pw: &str) -> String {
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let ha1 = auth::ha1(alg, "alice", "example.com", pw);
        let ha2 = alg.hash(b"REGISTER:sip:example.com");
        let resp = alg.hash(format!("{ha1}:{nonce}:00000001:cn:auth:{ha2}").as_bytes());
        format!(
            "Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"{resp}\", algorithm={alg}, qop=auth, nc=00000001, cnonce=\"cn\""
        )
    }

    #[test]
    fn register_is_challenged_then_accepted_with_both_algorithms() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let mut e = ep();
            let mut out = Vec::new();
            e.on_inbound(now(1000), register("z9hG4bK1", 1, None, ""), &mut out);
            let r = reply(&out);
            assert!(r.starts_with("SIP/2.0 401"), "{r}");
            assert_eq!(r.matches("WWW-Authenticate:").count(), 2);
            assert!(r.contains("received=192.0.2.9;rport=5070"), "{r}");
            let mut out = Vec::new();
            let auth = digest_for(&r, alg, "pw");
            e.on_inbound(
                now(1001),
                register("z9hG4bK2", 2, Some(&auth), ""),
                &mut out,
            );
            let r = reply(&out);
            assert!(r.starts_with("SIP/2.0 200"), "{alg}: {r}");
            assert!(
                r.contains("Contact: <sip:alice@10.0.0.5:5070>;expires=3600"),
                "{r}"
            );
            assert!(
                out.iter()
                    .any(|a| matches!(a, Action::Persist(Change::Upsert(..))))
            );
            assert_eq!(e.binding_count(), 1);
        }
    }

    #[test]
    fn wrong_password_gets_403_and_repeated_failures_block_the_source() {
        let mut e = ep();
        let mut out = Vec::new();
        e.on_inbound(now(1000), register("z9hG4bK1", 1, None, ""), &mut out);
        let ch = reply(&out);
        for i in 0..3 {
            let mut out = Vec::new();
            let auth = digest_for(&ch, Algorithm::Md5, "bad");
            e.on_inbound(
                now(1001),
                register(&format!("z9hG4bKw{i}"), 2 + i, Some(&auth), ""),
                &mut out,
            );
            assert!(reply(&out).starts_with("SIP/2.0 403"));
        }
        // blocked now: nothing is answered
        let mut out = Vec::new();
        e.on_inbound(now(1002), register("z9hG4bKx", 9, None, ""), &mut out);
        assert!(out.is_empty());
        // OPTIONS still works
        let s = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKo\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let mut out = Vec::new();
        e.on_inbound(
            now(1002),
            Inbound {
                flow: flow(),
                message: parse(s.as_bytes()),
            },
            &mut out,
        );
        let r = reply(&out);
        assert!(
            r.starts_with("SIP/2.0 200") && r.contains(&format!("Allow: {ALLOW}")),
            "{r}"
        );
        // after the block, challenges come again
        let mut out = Vec::new();
        e.on_inbound(now(1400), register("z9hG4bKy", 10, None, ""), &mut out);
        assert!(reply(&out).starts_with("SIP/2.0 401"));
    }

    #[test]
    fn a_challenge_keeps_no_transaction_and_a_retransmission_gets_the_same_bytes() {
        let mut e = ep();
        let mut out = Vec::new();
        e.on_inbound(now(1000), register("z9hG4bK1", 1, None, ""), &mut out);
        let first = reply(&out);
        assert!(first.starts_with("SIP/2.0 401"), "{first}");
        assert_eq!(e.transaction_count(), 0, "a challenge is stateless");
        // Half a second later (RFC 3261 §8.2.7: regenerated, byte for byte).
        let mut out = Vec::new();
        e.on_inbound(now(1001), register("z9hG4bK1", 1, None, ""), &mut out);
        assert_eq!(reply(&out), first);
        // Another request gets another nonce and another tag.
        let mut out = Vec::new();
        e.on_inbound(now(1001), register("z9hG4bK2", 2, None, ""), &mut out);
        assert_ne!(reply(&out), first);
    }

    #[test]
    fn retransmitted_authenticated_register_gets_the_same_response_from_the_transaction() {
        let mut e = ep();
        let mut out = Vec::new();
        e.on_inbound(now(1000), register("z9hG4bK1", 1, None, ""), &mut out);
        let challenge = reply(&out);
        let auth = digest_for(&challenge, Algorithm::Md5, "pw");
        let mut out = Vec::new();
        e.on_inbound(
            now(1000),
            register("z9hG4bK2", 2, Some(&auth), ""),
            &mut out,
        );
        let first = reply(&out);
        assert!(first.starts_with("SIP/2.0 200"), "{first}");
        assert_eq!(e.transaction_count(), 1);
        let mut out = Vec::new();
        e.on_inbound(
            now(1001),
            register("z9hG4bK2", 2, Some(&auth), ""),
            &mut out,
        );
        assert_eq!(reply(&out), first);
    }

    #[test]
    fn foreign_domains_and_unknown_methods_are_refused() {
        let mut e = ep();
        let s = "MESSAGE sip:bob@elsewhere.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKm\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@elsewhere.org>\r\nCall-ID: m\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
        let mut out = Vec::new();
        e.on_inbound(
            now(1),
            Inbound {
                flow: flow(),
                message: parse(s.as_bytes()),
            },
            &mut out,
        );
        assert!(reply(&out).starts_with("SIP/2.0 404"));
        let s = s
            .replace("elsewhere.org", "example.com")
            .replace("z9hG4bKm", "z9hG4bKm2");
        let mut out = Vec::new();
        e.on_inbound(
            now(1),
            Inbound {
                flow: flow(),
                message: parse(s.as_bytes()),
            },
            &mut out,
        );
        let r = reply(&out);
        assert!(r.starts_with("SIP/2.0 405") && r.contains("Allow:"), "{r}");
        let s = s
            .replace("MESSAGE", "FOO")
            .replace("z9hG4bKm2", "z9hG4bKm3");
        let mut out = Vec::new();
        e.on_inbound(
            now(1),
            Inbound {
                flow: flow(),
                message: parse(s.as_bytes()),
            },
            &mut out,
        );
        assert!(reply(&out).starts_with("SIP/2.0 501"));
    }

    #[test]
    fn the_date_header_is_rfc_1123() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 GMT");
    }
}
