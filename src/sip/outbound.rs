//! Outbound registration: dialroom registers to a provider's registrar (a
//! `[[trunk]]` with `registrar`), as a phone or jigasi registers to its SIP
//! account. Sans-IO: [`Outbound`] says when to send which REGISTER and reads
//! the answers; the endpoint carries its requests in client transactions.
//!
//! Life of one registration: REGISTER; a 401/407 is answered once per nonce
//! with digest credentials (RFC 7616: MD5 or SHA-256, qop=auth); a 423 takes
//! the registrar's Min-Expires; a 200 gives the expiry the registrar granted
//! (the Contact's `expires`, else Expires), and the registration is refreshed
//! at about 80 % of it (at least 5 s before the end). A refusal, a challenge
//! after credentials (wrong password) or no answer at all makes it `failed`
//! with the reason, and it is tried again after a back-off that doubles from
//! `retry_s` up to 10 minutes.

use std::time::{Duration, Instant};

use super::auth::{Algorithm, ha1};

/// A trunk's registration settings (`[[trunk]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// The trunk's name.
    pub trunk: String,
    /// The registrar's domain (the Request-URI and the AOR's host).
    pub domain: String,
    /// The account.
    pub username: String,
    /// The password, or none when `ha1` is given.
    pub password: Option<String>,
    /// MD5(user:realm:password) for `realm`, instead of the password.
    pub ha1: Option<String>,
    /// SHA-256(user:realm:password) for `realm`, instead of the password.
    pub ha1_sha256: Option<String>,
    /// The realm `ha1` is for (a challenge for another realm is refused).
    pub realm: Option<String>,
    /// Asked-for expiry, seconds.
    pub expires: u32,
    /// First back-off after a failure.
    pub retry: Duration,
}

/// Where a registration is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RegState {
    /// Not tried yet, or a REGISTER is out.
    Registering,
    /// The registrar took it until `expires_at` (Unix seconds).
    Registered {
        /// Unix seconds.
        expires_at: u64,
    },
    /// The last attempt failed; the next is at `retry_at` (Unix seconds).
    Failed {
        /// Why, in words.
        reason: String,
        /// The registrar's status code, if it answered.
        code: Option<u16>,
        /// Unix seconds.
        retry_at: u64,
    },
}

/// A parsed `WWW-Authenticate`/`Proxy-Authenticate: Digest ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// opaque
    pub opaque: Option<String>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// qop offers `auth`.
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired, the credentials were right.
    pub stale: bool,
}

/// Parses a Digest challenge; `None` if it is not one we can answer.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let v = value.trim();
    let (scheme, mut rest) = v.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut c = Challenge {
        realm: String::new(),
        nonce: String::new(),
        opaque: None,
        algorithm: Algorithm::Md5,
        qop_auth: false,
        stale: false,
    };
    while let Some((k, val, tail)) = super::auth::next_param(rest)? {
        rest = tail;
        let k = k.to_ascii_lowercase();
        match k.as_str() {
            "realm" => c.realm = val.into_owned(),
            "nonce" => c.nonce = val.into_owned(),
            "opaque" => c.opaque = Some(val.into_owned()),
            "algorithm" => c.algorithm = val.parse().ok()?,
            "qop" => {
                c.qop_auth = val
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            }
            "stale" => c.stale = val.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    (!c.nonce.is_empty()).then_some(c)
}

/// The `Authorization` value answering `ch` for `method uri`.
pub fn authorization(
    ch: &Challenge,
    user: &str,
    ha1_hex: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let alg = ch.algorithm;
    let ha2 = alg.hash(format!("{method}:{uri}").as_bytes());
    let mut s = format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm={}",
        ch.realm,
        ch.nonce,
        alg.token()
    );
    let response = if ch.qop_auth {
        let r = alg.hash(format!("{ha1_hex}:{}:{nc:08x}:{cnonce}:auth:{ha2}", ch.nonce).as_bytes());
        s.push_str(&format!(", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\""));
        r
    } else {
        alg.hash(format!("{ha1_hex}:{}:{ha2}", ch.nonce).as_bytes())
    };
    s.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = &ch.opaque {
        s.push_str(&format!(", opaque=\"{o}\""));
    }
    s
}

/// What the endpoint must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The branch (a new client transaction each time).
    pub branch: String,
    /// The REGISTER without Via (the endpoint adds it, it knows the flow).
    pub request: RegisterParts,
}

/// A REGISTER's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterParts {
    /// Request-URI.
    pub uri: String,
    /// From/To AOR.
    pub aor: String,
    /// From tag.
    pub tag: String,
    /// Call-ID (the same for every refresh, RFC 3261 §10.2.4).
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Expires asked for (0: unregister).
    pub expires: u32,
    /// Authorization or Proxy-Authorization, with its value.
    pub auth: Option<(&'static str, String)>,
}

/// One trunk's registration.
#[derive(Debug)]
pub struct Outbound {
    cfg: OutboundConfig,
    call_id: String,
    tag: String,
    cseq: u32,
    expires: u32,
    /// The challenge answered last (not answered twice with the same nonce).
    answered: Option<String>,
    challenge: Option<(bool, Challenge)>,
    nc: u32,
    pending: Option<String>,
    due: Option<Instant>,
    backoff: Duration,
    state: RegState,
}

const MAX_BACKOFF: Duration = Duration::from_secs(600);

impl Outbound {
    /// A registration that is due at once; `salt` makes its Call-ID and tag.
    pub fn new(cfg: OutboundConfig, now: Instant, salt: u64) -> Outbound {
        Outbound {
            call_id: format!("{salt:016x}-reg-{}", cfg.trunk),
            tag: format!("{:x}", salt.rotate_left(17)),
            cseq: 0,
            expires: cfg.expires,
            answered: None,
            challenge: None,
            nc: 0,
            pending: None,
            due: Some(now),
            backoff: cfg.retry,
            state: RegState::Registering,
            cfg,
        }
    }

    /// Its trunk.
    pub fn trunk(&self) -> &str {
        &self.cfg.trunk
    }

    /// Its settings.
    pub fn config(&self) -> &OutboundConfig {
        &self.cfg
    }

    /// Its account (the user part of its Contact).
    pub fn username(&self) -> &str {
        &self.cfg.username
    }

    /// Where it is.
    pub fn state(&self) -> &RegState {
        &self.state
    }

    /// The branch of the REGISTER out, if one is.
    pub fn pending(&self) -> Option<&str> {
        self.pending.as_deref()
    }

    /// When [`Outbound::poll`] has something to send.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The REGISTER to send now, if one is due; `salt` makes its branch
    /// and cnonce.
    pub fn poll(&mut self, now: Instant, salt: u64) -> Option<Send> {
        if self.due.is_none_or(|d| d > now) {
            return None;
        }
        self.due = None;
        self.cseq += 1;
        let uri = format!("sip:{}", self.cfg.domain);
        let auth = match self.challenge.clone() {
            Some((proxy, ch)) => {
                let key = self.ha1_for(&ch.realm, ch.algorithm)?;
                self.nc += 1;
                let v = authorization(
                    &ch,
                    &self.cfg.username,
                    &key,
                    "REGISTER",
                    &uri,
                    &format!("{salt:016x}"),
                    self.nc,
                );
                Some((
                    if proxy {
                        "Proxy-Authorization"
                    } else {
                        "Authorization"
                    },
                    v,
                ))
            }
            None => None,
        };
        let branch = format!("z9hG4bK-reg-{salt:x}");
        self.pending = Some(branch.clone());
        Some(Send {
            branch,
            request: RegisterParts {
                uri,
                aor: format!("sip:{}@{}", self.cfg.username, self.cfg.domain),
                tag: self.tag.clone(),
                call_id: self.call_id.clone(),
                cseq: self.cseq,
                expires: self.expires,
                auth,
            },
        })
    }

    fn ha1_for(&self, realm: &str, alg: Algorithm) -> Option<String> {
        if let Some(pw) = self.cfg.password.as_deref() {
            return Some(ha1(alg, &self.cfg.username, realm, pw));
        }
        if self.cfg.realm.as_deref().is_some_and(|r| r != realm) {
            return None;
        }
        let h = match alg {
            Algorithm::Md5 => self.cfg.ha1.as_ref(),
            Algorithm::Sha256 => self.cfg.ha1_sha256.as_ref(),
        }?;
        Some(h.to_ascii_lowercase())
    }

    /// The first of `challenges` (in the server's order of preference)
    /// these credentials can answer, else the first.
    pub fn pick(&self, challenges: Vec<(bool, Challenge)>) -> Option<(bool, Challenge)> {
        let i = challenges
            .iter()
            .position(|(_, c)| self.ha1_for(&c.realm, c.algorithm).is_some())
            .unwrap_or(0);
        challenges.into_iter().nth(i)
    }

    /// The account's answer to `ch` for `method uri` (the INVITE of a
    /// dial-out through this trunk); `None` when its credentials are for
    /// another realm.
    pub fn answer(&self, ch: &Challenge, method: &str, uri: &str, cnonce: &str) -> Option<String> {
        let key = self.ha1_for(&ch.realm, ch.algorithm)?;
        Some(authorization(
            ch,
            &self.cfg.username,
            &key,
            method,
            uri,
            cnonce,
            1,
        ))
    }

    /// The account's domain (the host of its AOR).
    pub fn domain(&self) -> &str {
        &self.cfg.domain
    }

    fn fail(&mut self, now: Instant, unix: u64, reason: String, code: Option<u16>) {
        self.pending = None;
        self.challenge = None;
        self.answered = None;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.due = Some(now + wait);
        self.state = RegState::Failed {
            reason,
            code,
            retry_at: unix + wait.as_secs(),
        };
    }

    /// A final response to the pending REGISTER: `contact_expires` is the
    /// expiry the registrar gave our Contact (or its Expires header),
    /// `challenge` the parsed WWW-/Proxy-Authenticate (true for proxy),
    /// `min_expires` a 423's Min-Expires.
    pub fn on_response(
        &mut self,
        now: Instant,
        unix: u64,
        code: u16,
        contact_expires: Option<u32>,
        challenge: Option<(bool, Challenge)>,
        min_expires: Option<u32>,
    ) {
        if code < 200 {
            return;
        }
        self.pending = None;
        match code {
            200..=299 => {
                let granted = contact_expires.unwrap_or(self.expires).max(1);
                // Refresh at 80 %, at least 5 s before the end.
                let at = (u64::from(granted) * 4 / 5).min(u64::from(granted).saturating_sub(5));
                self.due = Some(now + Duration::from_secs(at.max(1)));
                self.backoff = self.cfg.retry;
                self.answered = None;
                self.state = RegState::Registered {
                    expires_at: unix + u64::from(granted),
                };
            }
            401 | 407 => {
                let Some((proxy, ch)) = challenge else {
                    return self.fail(
                        now,
                        unix,
                        format!("{code} without a Digest challenge we can answer"),
                        Some(code),
                    );
                };
                let seen = self.answered.as_deref() == Some(ch.nonce.as_str());
                if seen && !ch.stale {
                    return self.fail(
                        now,
                        unix,
                        format!(
                            "{code}: the registrar refused the credentials of {}",
                            self.cfg.username
                        ),
                        Some(code),
                    );
                }
                if self.cfg.password.is_none()
                    && self.cfg.realm.as_deref().is_some_and(|r| r != ch.realm)
                {
                    return self.fail(
                        now,
                        unix,
                        format!(
                            "challenged for realm {:?}; ha1 is for another realm",
                            ch.realm
                        ),
                        Some(code),
                    );
                }
                self.answered = Some(ch.nonce.clone());
                self.nc = 0;
                self.challenge = Some((proxy, ch));
                self.due = Some(now);
            }
            423 => match min_expires {
                Some(m) if m > self.expires => {
                    self.expires = m;
                    self.due = Some(now);
                }
                _ => self.fail(
                    now,
                    unix,
                    "423 without a usable Min-Expires".into(),
                    Some(423),
                ),
            },
            403 if self.challenge.is_some() => self.fail(
                now,
                unix,
                format!(
                    "403: the registrar refused the credentials of {}",
                    self.cfg.username
                ),
                Some(code),
            ),
            _ => self.fail(
                now,
                unix,
                format!("the registrar answered {code}"),
                Some(code),
            ),
        }
    }

    /// The pending REGISTER got no answer (timer F).
    pub fn on_timeout(&mut self, now: Instant, unix: u64) {
        self.fail(now, unix, "no answer from the registrar".into(), None);
    }

    /// The REGISTER could not be sent at all.
    pub fn on_send_error(&mut self, now: Instant, unix: u64, reason: String) {
        self.fail(now, unix, reason, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> OutboundConfig {
        OutboundConfig {
            trunk: "prov".into(),
            domain: "sip.example.net".into(),
            username: "acct".into(),
            password: Some("secret".into()),
            ha1: None,
            ha1_sha256: None,
            realm: None,
            expires: 300,
            retry: Duration::from_secs(30),
        }
    }

    fn ch(nonce: &str) -> Challenge {
        parse_challenge(&format!(
            "Digest realm=\"sip.example.net\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5, opaque=\"o\""
        ))
        .unwrap()
    }

    #[test]
    fn stored_digests_pick_the_challenge_of_their_algorithm() {
        let sha = parse_challenge(
            "Digest realm=\"sip.example.net\", nonce=\"n\", qop=\"auth\", algorithm=SHA-256",
        )
        .unwrap();
        let both = vec![(false, sha.clone()), (false, ch("n"))];
        // A password answers the server's first choice.
        let o = Outbound::new(cfg(), Instant::now(), 1);
        assert_eq!(o.pick(both.clone()).unwrap().1.algorithm, Algorithm::Sha256);
        // Only the MD5 digest: the MD5 challenge, and its answer is right.
        let md5 = OutboundConfig {
            password: None,
            ha1: Some(ha1(Algorithm::Md5, "acct", "sip.example.net", "secret")),
            realm: Some("sip.example.net".into()),
            ..cfg()
        };
        let o = Outbound::new(md5, Instant::now(), 1);
        let picked = o.pick(both.clone()).unwrap().1;
        assert_eq!(picked.algorithm, Algorithm::Md5);
        let with_pw = Outbound::new(cfg(), Instant::now(), 1);
        assert_eq!(
            o.answer(&picked, "REGISTER", "sip:x", "c"),
            with_pw.answer(&picked, "REGISTER", "sip:x", "c")
        );
        // Only the SHA-256 digest: the SHA-256 one.
        let sha_only = OutboundConfig {
            password: None,
            ha1_sha256: Some(ha1(Algorithm::Sha256, "acct", "sip.example.net", "secret")),
            realm: Some("sip.example.net".into()),
            ..cfg()
        };
        let o = Outbound::new(sha_only, Instant::now(), 1);
        assert_eq!(o.pick(both).unwrap().1.algorithm, Algorithm::Sha256);
    }

    #[test]
    fn a_challenge_is_parsed_with_its_qop_algorithm_and_opaque() {
        let c = ch("n1");
        assert_eq!(
            (c.realm.as_str(), c.nonce.as_str()),
            ("sip.example.net", "n1")
        );
        assert!(c.qop_auth && !c.stale);
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert_eq!(parse_challenge("Basic realm=\"x\""), None);
        assert_eq!(parse_challenge("Digest realm=\"x\""), None);
        assert_eq!(
            parse_challenge("Digest nonce=\"x\", algorithm=MD5-sess"),
            None
        );
    }

    #[test]
    fn the_authorization_is_what_our_own_registrar_accepts() {
        // RFC 2617 §3.5's worked example (qop=auth, MD5).
        let c = Challenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let v = authorization(&c, "Mufasa", &h, "GET", "/dir/index.html", "0a4f113b", 1);
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(
            v.contains("nc=00000001") && v.contains("cnonce=\"0a4f113b\""),
            "{v}"
        );
        let parsed = super::super::auth::parse_authorization(&v).unwrap();
        assert_eq!(parsed.username, "Mufasa");
        assert_eq!(
            parsed.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
    }

    #[test]
    fn challenge_then_ok_registers_and_refreshes_before_expiry() {
        let t0 = Instant::now();
        let mut o = Outbound::new(cfg(), t0, 7);
        let s = o.poll(t0, 1).unwrap();
        assert_eq!(s.request.auth, None);
        assert_eq!(s.request.cseq, 1);
        o.on_response(t0, 1000, 401, None, Some((false, ch("n1"))), None);
        let s = o.poll(t0, 2).unwrap();
        let (h, v) = s.request.auth.unwrap();
        assert_eq!(h, "Authorization");
        assert!(v.contains("nonce=\"n1\""));
        assert_eq!(s.request.cseq, 2);
        assert_eq!(s.request.call_id, o.call_id);
        o.on_response(t0, 1000, 200, Some(120), None, None);
        assert_eq!(o.state(), &RegState::Registered { expires_at: 1120 });
        assert!(o.poll(t0 + Duration::from_secs(95), 3).is_none());
        let s = o.poll(t0 + Duration::from_secs(96), 3).unwrap();
        // The refresh reuses the last challenge (next nonce count).
        assert!(s.request.auth.unwrap().1.contains("nc=00000002"));
    }

    #[test]
    fn a_second_challenge_for_the_same_nonce_is_a_refusal_with_back_off() {
        let t0 = Instant::now();
        let mut o = Outbound::new(cfg(), t0, 7);
        o.poll(t0, 1).unwrap();
        o.on_response(t0, 1000, 401, None, Some((false, ch("n1"))), None);
        o.poll(t0, 2).unwrap();
        o.on_response(t0, 1000, 401, None, Some((false, ch("n1"))), None);
        let RegState::Failed {
            reason,
            code,
            retry_at,
        } = o.state().clone()
        else {
            panic!("{:?}", o.state())
        };
        assert!(reason.contains("refused the credentials"), "{reason}");
        assert_eq!((code, retry_at), (Some(401), 1030));
        assert!(o.poll(t0 + Duration::from_secs(29), 3).is_none());
        let s = o.poll(t0 + Duration::from_secs(30), 3).unwrap();
        assert_eq!(s.request.auth, None, "a fresh start after the back-off");
        o.on_timeout(t0 + Duration::from_secs(62), 1062);
        let RegState::Failed { retry_at, .. } = o.state().clone() else {
            panic!()
        };
        assert_eq!(retry_at, 1122, "the back-off doubled");
    }

    #[test]
    fn a_423_takes_the_registrars_min_expires() {
        let t0 = Instant::now();
        let mut o = Outbound::new(
            OutboundConfig {
                expires: 10,
                ..cfg()
            },
            t0,
            7,
        );
        o.poll(t0, 1).unwrap();
        o.on_response(t0, 1000, 423, None, None, Some(60));
        assert_eq!(o.poll(t0, 2).unwrap().request.expires, 60);
        o.on_response(t0, 1000, 403, None, None, None);
        assert!(matches!(
            o.state(),
            RegState::Failed {
                code: Some(403),
                ..
            }
        ));
    }
}

// ------------------------------------------------------------ the endpoint

use super::endpoint::{Action, Endpoint, Now};
use super::message::Response;
use super::transaction::TxKey;
use super::transport::Flow;

/// A trunk registration and the flow its REGISTERs go on.
#[derive(Debug)]
pub struct TrunkRegistration {
    /// The state machine.
    pub reg: Outbound,
    /// From our UDP listener to the registrar.
    pub flow: Flow,
}

/// Branches of our REGISTERs start with this (responses are told apart by it).
pub const BRANCH_PREFIX: &str = "z9hG4bK-reg-";

/// Builds one REGISTER.
fn register_bytes(
    p: &RegisterParts,
    branch: &str,
    flow: &Flow,
    sent_by: std::net::SocketAddr,
    user: &str,
) -> Vec<u8> {
    let proto = flow.protocol.token();
    let mut s = format!(
        "REGISTER {} SIP/2.0\r\nVia: SIP/2.0/{proto} {};branch={branch};rport\r\nMax-Forwards: 70\r\n\
         From: <{}>;tag={}\r\nTo: <{}>\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n\
         Contact: <sip:{user}@{}{}>\r\nExpires: {}\r\n",
        p.uri,
        sent_by,
        p.aor,
        p.tag,
        p.aor,
        p.call_id,
        p.cseq,
        sent_by,
        flow.protocol.uri_param(),
        p.expires
    );
    if let Some((h, v)) = &p.auth {
        s.push_str(&format!("{h}: {v}\r\n"));
    }
    s.push_str(&format!(
        "User-Agent: {}\r\nContent-Length: 0\r\n\r\n",
        super::message::SERVER
    ));
    s.into_bytes()
}

/// The expiry a 200 to our REGISTER gave our own Contact (`expires`
/// parameter), else its Expires header.
fn granted_expiry(resp: &Response, sent_by: std::net::SocketAddr) -> Option<u32> {
    let ours = format!("@{sent_by}");
    let from_contact = resp.header_list("Contact").iter().find_map(|c| {
        if !c.contains(&ours) {
            return None;
        }
        c.split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("expires"))
            .and_then(|(_, v)| v.trim().parse().ok())
    });
    from_contact.or_else(|| resp.header("Expires").and_then(|v| v.trim().parse().ok()))
}

/// The Digest challenges of a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`, true) we can parse, in the server's order.
pub(super) fn challenges_in(resp: &Response) -> Vec<(bool, Challenge)> {
    let (header, proxy) = match resp.code() {
        401 => ("WWW-Authenticate", false),
        407 => ("Proxy-Authenticate", true),
        _ => return Vec::new(),
    };
    resp.header_values(header)
        .iter()
        .filter_map(|v| parse_challenge(v))
        .map(|c| (proxy, c))
        .collect()
}

impl Endpoint {
    /// Sets the trunks this endpoint registers to. A registration whose
    /// trunk, settings and flow are unchanged is kept as it is (its state,
    /// its refresh timer); new ones start at once; the others are dropped
    /// (their bindings at the provider expire).
    pub fn set_trunk_registrations(&mut self, regs: Vec<TrunkRegistration>) {
        let mut old = std::mem::take(&mut self.outbound);
        for r in regs {
            let same = old
                .iter()
                .position(|o| o.reg.config() == r.reg.config() && o.flow == r.flow);
            match same {
                Some(i) => self.outbound.push(old.swap_remove(i)),
                None => {
                    tracing::info!(trunk = r.reg.trunk(), registrar = %r.flow.remote, transport = %r.flow.protocol, "registering to the provider");
                    self.outbound.push(r);
                }
            }
        }
        for o in old {
            tracing::info!(
                trunk = o.reg.trunk(),
                "no longer registering to the provider"
            );
        }
    }

    /// Registers to at least one provider.
    pub fn has_trunk_registrations(&self) -> bool {
        !self.outbound.is_empty()
    }

    /// Each registering trunk and where it is.
    pub fn trunk_registrations(&self) -> Vec<(String, RegState)> {
        self.outbound
            .iter()
            .map(|t| (t.reg.trunk().to_string(), t.reg.state().clone()))
            .collect()
    }

    /// The trunk a request comes from by our registration: sent from its
    /// registrar's address to its account's user part.
    pub(super) fn registered_trunk_of(
        &self,
        flow: Flow,
        req: &super::message::Request,
    ) -> Option<String> {
        let user = req.inner.uri.user()?;
        self.outbound
            .iter()
            .find(|t| t.flow.remote == flow.remote && t.reg.username() == user)
            .map(|t| t.reg.trunk().to_string())
    }

    /// The earliest time a REGISTER is due.
    pub(super) fn outbound_due(&self) -> Option<Instant> {
        self.outbound.iter().filter_map(|t| t.reg.due()).min()
    }

    /// Sends the REGISTERs that are due.
    pub(super) fn poll_outbound(&mut self, now: Now, out: &mut Vec<Action>) {
        for i in 0..self.outbound.len() {
            let salt = self.next();
            let t = &mut self.outbound[i];
            let Some(send) = t.reg.poll(now.mono, salt) else {
                continue;
            };
            let sent_by = self.calls.cfg.sent_by(t.flow.local);
            let bytes = register_bytes(
                &send.request,
                &send.branch,
                &t.flow,
                sent_by,
                t.reg.username(),
            );
            let key = TxKey::new(&send.branch, "", "REGISTER");
            let flow = t.flow;
            tracing::debug!(
                trunk = t.reg.trunk(),
                cseq = send.request.cseq,
                "REGISTER to the provider"
            );
            self.send_request(now, key, "REGISTER", bytes, flow, out);
        }
    }

    /// A response to one of our REGISTERs (its branch has [`BRANCH_PREFIX`]).
    pub(super) fn on_register_response(
        &mut self,
        now: Now,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        let branch = resp.core.top_via.branch.as_deref().unwrap_or("");
        let key = TxKey::new(branch, "", "REGISTER");
        let disposition = self.txs.on_response(now.mono, &key, resp.code());
        if disposition != super::transaction::ResponseDisposition::Deliver {
            return;
        }
        let Some(t) = self
            .outbound
            .iter_mut()
            .find(|t| t.reg.pending() == Some(branch))
        else {
            return;
        };
        let code = resp.code();
        let challenge = t.reg.pick(challenges_in(resp));
        let min = resp
            .header("Min-Expires")
            .and_then(|v| v.trim().parse().ok());
        let granted = granted_expiry(resp, self.calls.cfg.sent_by(t.flow.local));
        let before = t.reg.state().clone();
        t.reg
            .on_response(now.mono, now.unix, code, granted, challenge, min);
        log_change(t.reg.trunk(), &before, t.reg.state());
        self.poll_outbound(now, out);
    }

    /// A connection to a registrar could not be opened (refused, or its TLS
    /// handshake failed): the registration waiting for it fails with why.
    pub fn on_transport_error(&mut self, now: Now, e: &super::transport::TransportError) {
        for t in self
            .outbound
            .iter_mut()
            .filter(|t| t.flow.remote == e.remote && t.flow.protocol == e.protocol)
        {
            if t.reg.pending().is_none() {
                continue;
            }
            let before = t.reg.state().clone();
            t.reg.on_send_error(now.mono, now.unix, e.reason.clone());
            log_change(t.reg.trunk(), &before, t.reg.state());
        }
    }

    /// A client transaction of ours timed out: a REGISTER's is a failure.
    pub(super) fn on_register_timeout(&mut self, now: Now, key: &TxKey) {
        if let Some(t) = self
            .outbound
            .iter_mut()
            .find(|t| t.reg.pending() == Some(key.branch.as_str()))
        {
            let before = t.reg.state().clone();
            t.reg.on_timeout(now.mono, now.unix);
            log_change(t.reg.trunk(), &before, t.reg.state());
        }
    }
}

fn log_change(trunk: &str, before: &RegState, now: &RegState) {
    if before == now {
        return;
    }
    match now {
        RegState::Registered { expires_at } => {
            if !matches!(before, RegState::Registered { .. }) {
                tracing::info!(trunk, expires_at, "registered to the provider");
            } else {
                tracing::debug!(trunk, expires_at, "registration refreshed");
            }
        }
        RegState::Failed {
            reason,
            code,
            retry_at,
        } => {
            tracing::warn!(
                trunk,
                ?code,
                retry_at,
                "registration to the provider failed: {reason}"
            )
        }
        RegState::Registering => {}
    }
}
