//! Stateless answers (RFC 3261 §8.2.7): the digest challenge to a REGISTER
//! that carries no credentials for our realm.
//!
//! §8.2.7 names this as the stateless UAS's main use: the challenge depends
//! only on the request, so no server transaction is kept for it (half of a
//! registrar's transactions), and the UDP readers answer it themselves on
//! every core without handing the request to the endpoint task. A
//! retransmission is answered by regenerating the response; to keep that
//! response byte-identical (clients such as SIPp recognise a retransmitted
//! 401 only by its bytes), the nonce salt and the To tag are derived from the
//! request's transaction identity and the nonce's issue time is rounded down
//! to a step of [`Stateless::time_step`] seconds.
//!
//! The sources blocked by the auth-failure limiter live here too, so that a
//! blocked source is not challenged by a reader behind the endpoint's back.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::RwLock;

use super::auth::DigestAuth;
use super::endpoint::{Answer, EndpointConfig};
use super::message::{Method, Request};
use super::registrar::{self, Aor, Contacts};
use super::transport::Flow;

/// What every part of the SIP stack may answer without state.
#[derive(Debug)]
pub struct Stateless {
    local_hosts: HashSet<String>,
    md5_only_agents: Vec<regex::Regex>,
    auth: DigestAuth,
    lifetime: u64,
    /// Keys the salt and To tag derived from a request.
    keyed: foldhash::fast::FixedState,
    /// Blocked source -> unix time the block ends.
    blocked: RwLock<HashMap<IpAddr, u64>>,
}

impl Stateless {
    /// From the endpoint settings; `secret` keys the nonces (the same secret
    /// as the endpoint's, so either one verifies what the other issued).
    pub fn new(cfg: &EndpointConfig, secret: [u8; 32]) -> Self {
        let mut local_hosts: HashSet<String> = cfg
            .local_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        local_hosts.insert(cfg.domain.to_ascii_lowercase());
        let seed = u64::from_le_bytes(secret[8..16].try_into().expect("8 bytes"));
        Stateless {
            local_hosts,
            md5_only_agents: cfg.md5_only_user_agents.clone(),
            auth: DigestAuth::new(
                secret,
                &cfg.domain,
                cfg.nonce_lifetime,
                cfg.algorithms.clone(),
            ),
            lifetime: cfg.nonce_lifetime,
            keyed: foldhash::fast::FixedState::with_seed(seed),
            blocked: RwLock::new(HashMap::new()),
        }
    }

    /// True when `host` (a host name or an IP, IPv6 with or without brackets) is us.
    pub fn is_local(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        self.local_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(bare) || h.eq_ignore_ascii_case(host))
    }

    /// Nonce issue times are rounded down to steps of this many seconds (at
    /// most a quarter of the nonce lifetime, so a nonce lives at least 3/4 of it).
    pub fn time_step(&self) -> u64 {
        (self.lifetime / 4).clamp(1, 60)
    }

    /// The challenge headers (one per algorithm) for a request.
    pub(super) fn challenge(&self, now: u64, salt: u64, stale: bool, req: &Request) -> Answer {
        // Some clients give up on a 401 that offers an algorithm they lack
        // instead of answering the one they know (RFC 8760 says to skip it).
        let md5_only = req
            .header("User-Agent")
            .is_some_and(|ua| self.md5_only_agents.iter().any(|re| re.is_match(ua)));
        let mut a = Answer::new(401);
        for c in self.auth.challenges(now, salt, stale, md5_only) {
            a = a.header("WWW-Authenticate", c);
        }
        a
    }

    /// The bytes of the stateless answer to `req`, if it has one: a 401
    /// challenge to a well-formed REGISTER for us without credentials for our
    /// realm, from a source that is not blocked. `None` means the request
    /// needs the endpoint (and its transaction).
    pub fn answer(&self, now: u64, flow: &Flow, req: &Request) -> Option<Vec<u8>> {
        if req.method() != Method::Register
            || self.is_blocked(flow.remote.ip(), now)
            || req.header("Require").is_some()
            || !self.is_local(&req.inner.uri.host_with_port.host.to_string())
            // Credentials, even for another realm: the endpoint decides.
            || req.header("Authorization").is_some()
            || register_target(self, req).is_err()
        {
            return None;
        }
        let salt = self.salt(req);
        // Each request's steps start at its own offset: a retransmission
        // straddling a step boundary is rare, and an overload does not make
        // every pending request's challenge change at the same second.
        let step = self.time_step();
        let issued = now.saturating_sub(now.wrapping_add(salt) % step);
        let answer = self.challenge(issued, salt, false, req);
        let tag = format!("{:x}", salt.rotate_left(32) ^ 0x5a5a_5a5a);
        Some(answer.print(&req.core.reply, &tag, flow.remote).0)
    }

    /// A salt that is the same for a request and its retransmissions.
    fn salt(&self, req: &Request) -> u64 {
        let c = &req.core;
        let mut h = self.keyed.build_hasher();
        h.write(c.top_via.branch.as_deref().unwrap_or("").as_bytes());
        h.write(c.top_via.host.as_bytes());
        h.write_u16(c.top_via.port.unwrap_or(0));
        h.write(c.call_id.as_bytes());
        h.write_u32(c.cseq);
        h.write(c.from_tag.as_deref().unwrap_or("").as_bytes());
        h.finish()
    }

    /// True while `ip` is blocked.
    pub fn is_blocked(&self, ip: IpAddr, now: u64) -> bool {
        let blocked = self
            .blocked
            .read()
            .expect("block list lock is never poisoned");
        !blocked.is_empty() && blocked.get(&ip).is_some_and(|until| *until > now)
    }

    /// Blocks `ip` until `until` (unix seconds).
    pub fn block(&self, ip: IpAddr, until: u64) {
        self.blocked
            .write()
            .expect("block list lock is never poisoned")
            .insert(ip, until);
    }

    /// Forgets blocks that have ended.
    pub fn sweep(&self, now: u64) {
        let mut blocked = self
            .blocked
            .write()
            .expect("block list lock is never poisoned");
        if !blocked.is_empty() {
            blocked.retain(|_, until| *until > now);
        }
    }
}

/// What a REGISTER is about: its address of record (ours) and its contacts,
/// or the answer that refuses it. Checked before the challenge: a malformed
/// request has nothing worth authenticating.
pub(super) fn register_target(
    st: &Stateless,
    req: &Request,
) -> Result<(Aor, Contacts), Box<Answer>> {
    let to_uri = req.header("To").and_then(|t| {
        let inner = match (t.find('<'), t.find('>')) {
            (Some(a), Some(b)) if a < b => &t[a + 1..b],
            _ => t.split(';').next().unwrap_or(t),
        };
        rsipstack::sip::parse_uri(inner).ok()
    });
    let Some(to_uri) = to_uri else {
        return Err(Box::new(Answer::new(400).warn("unreadable To URI")));
    };
    if !matches!(
        to_uri.scheme,
        Some(rsipstack::sip::Scheme::Sip | rsipstack::sip::Scheme::Sips)
    ) {
        return Err(Box::new(
            Answer::new(400).warn("the address of record must be a sip: or sips: URI"),
        ));
    }
    if !st.is_local(&to_uri.host_with_port.host.to_string()) {
        return Err(Box::new(
            Answer::new(403).warn("To domain is not served here"),
        ));
    }
    let aor = match to_uri.user().map(Aor::parse) {
        Some(Ok(a)) => a,
        Some(Err(e)) => return Err(Box::new(Answer::new(400).warn(e))),
        None => return Err(Box::new(Answer::new(400).warn("To URI has no user"))),
    };
    let contacts = registrar::parse_contacts(&req.header_list("Contact"))
        .map_err(|e| Box::new(Answer::new(400).warn(e)))?;
    Ok((aor, contacts))
}
