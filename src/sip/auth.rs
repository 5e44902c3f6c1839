//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 8760): MD5 and
//! SHA-256, `qop=auth`, stateless nonces with a lifetime (`stale=true` when
//! old) and a per-nonce nonce-count check against replays.
//!
//! Passwords are never stored: the user table keeps HA1 = H(user:realm:pw)
//! for each algorithm. Sans-IO: every call takes `now` as Unix seconds.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use md5::Md5;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617), what most phones speak.
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token used on the wire.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
    /// Hex digest of `data`.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(format!("unsupported digest algorithm {s:?} (MD5, SHA-256)"))
        }
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// HA1 = H(username:realm:password).
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash(format!("{user}:{realm}:{password}").as_bytes())
}

/// What is stored for a user: HA1 per algorithm for one realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The realm the HA1 values were computed for.
    pub realm: String,
    /// H(user:realm:password) with MD5.
    pub ha1_md5: String,
    /// H(user:realm:password) with SHA-256.
    pub ha1_sha256: String,
}

impl Credentials {
    /// Computes both HA1 values from a password (the password is then dropped).
    pub fn from_password(user: &str, realm: &str, password: &str) -> Self {
        Credentials {
            realm: realm.to_string(),
            ha1_md5: ha1(Algorithm::Md5, user, realm, password),
            ha1_sha256: ha1(Algorithm::Sha256, user, realm, password),
        }
    }
    fn ha1(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// The parameters of an `Authorization: Digest ...` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestResponse {
    /// username
    pub username: String,
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// digest-uri
    pub uri: String,
    /// response (hex)
    pub response: String,
    /// algorithm (absent means MD5)
    pub algorithm: Option<String>,
    /// cnonce
    pub cnonce: Option<String>,
    /// qop
    pub qop: Option<String>,
    /// nonce-count (hex)
    pub nc: Option<String>,
    /// opaque
    pub opaque: Option<String>,
}

/// Parses `Digest k=v, k="v", ...`; `None` if it is not a usable Digest header.
pub fn parse_authorization(value: &str) -> Option<DigestResponse> {
    let v = value.trim();
    let (scheme, rest) = v.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut out = DigestResponse::default();
    let mut rest = rest;
    while let Some((k, val, tail)) = next_param(rest)? {
        rest = tail;
        match k.len() {
            8 if k.eq_ignore_ascii_case("username") => out.username = val.into_owned(),
            5 if k.eq_ignore_ascii_case("realm") => out.realm = val.into_owned(),
            5 if k.eq_ignore_ascii_case("nonce") => out.nonce = val.into_owned(),
            3 if k.eq_ignore_ascii_case("uri") => out.uri = val.into_owned(),
            8 if k.eq_ignore_ascii_case("response") => out.response = val.to_ascii_lowercase(),
            9 if k.eq_ignore_ascii_case("algorithm") => out.algorithm = Some(val.into_owned()),
            6 if k.eq_ignore_ascii_case("cnonce") => out.cnonce = Some(val.into_owned()),
            3 if k.eq_ignore_ascii_case("qop") => out.qop = Some(val.into_owned()),
            2 if k.eq_ignore_ascii_case("nc") => out.nc = Some(val.into_owned()),
            6 if k.eq_ignore_ascii_case("opaque") => out.opaque = Some(val.into_owned()),
            _ => {}
        }
    }
    if out.username.is_empty() || out.nonce.is_empty() || out.response.is_empty() {
        return None;
    }
    Some(out)
}

/// The next `k=v` or `k="quoted, \"escaped\""` of a comma-separated list:
/// `Some(None)` at the end, `None` if malformed. Unescapes only when needed.
pub(super) fn next_param(s: &str) -> Option<Option<(&str, std::borrow::Cow<'_, str>, &str)>> {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
    if s.is_empty() {
        return Some(None);
    }
    let key_end = s
        .find(|c: char| c == '=' || c == ',' || c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let key = &s[..key_end];
    let s = s[key_end..].trim_start().strip_prefix('=')?.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let bytes = q.as_bytes();
        let mut i = 0;
        let mut escaped = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                    continue;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        if i >= bytes.len() {
            return None; // no closing quote (or a trailing backslash)
        }
        let raw = &q[..i];
        let val = if escaped {
            let mut v = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                v.push(if c == '\\' { chars.next()? } else { c });
            }
            std::borrow::Cow::Owned(v)
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        Some(Some((key, val, &q[i + 1..])))
    } else {
        let end = s
            .find(|c: char| c == ',' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        Some(Some((
            key,
            std::borrow::Cow::Borrowed(&s[..end]),
            &s[end..],
        )))
    }
}

/// The outcome of checking an Authorization header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The response is right: the request is authenticated.
    Ok,
    /// Right credentials but an old (or replayed) nonce: challenge with `stale=true`.
    Stale,
    /// Not ours (other realm, unknown nonce, unsupported algorithm): challenge again.
    Rechallenge,
    /// Wrong password (or unknown user): answer 403.
    Wrong,
}

/// Issues and checks nonces.
#[derive(Debug)]
pub struct DigestAuth {
    secret: [u8; 32],
    realm: String,
    lifetime: u64,
    algorithms: Vec<Algorithm>,
    /// Highest nonce-count seen per nonce, with the nonce's issue time.
    seen: HashMap<String, (u64, u32)>,
}

impl DigestAuth {
    /// A verifier for `realm` issuing nonces valid `lifetime` seconds.
    pub fn new(secret: [u8; 32], realm: &str, lifetime: u64, algorithms: Vec<Algorithm>) -> Self {
        DigestAuth {
            secret,
            realm: realm.to_string(),
            lifetime,
            algorithms,
            seen: HashMap::new(),
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, ts: u64, salt: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        h.update(salt.to_be_bytes());
        hex::encode(&h.finalize()[..12])
    }

    /// A fresh nonce: issue time, salt and a MAC over both.
    pub fn nonce(&self, now: u64, salt: u64) -> String {
        format!("{now:016x}{salt:016x}{}", self.mac(now, salt))
    }

    /// `Some(issue time)` if we issued this nonce.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 56 || !nonce.is_ascii() {
            return None;
        }
        let ts = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let salt = u64::from_str_radix(&nonce[16..32], 16).ok()?;
        (self.mac(ts, salt) == nonce[32..]).then_some(ts)
    }

    /// WWW-Authenticate values, one per configured algorithm, sharing one nonce.
    pub fn challenges(&self, now: u64, salt: u64, stale: bool, md5_only: bool) -> Vec<String> {
        let nonce = self.nonce(now, salt);
        self.algorithms
            .iter()
            .filter(|alg| !md5_only || **alg == Algorithm::Md5)
            .map(|alg| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    alg.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks a digest response for `method` against the user's credentials
    /// (`None` for an unknown user: answered like a wrong password).
    pub fn verify(
        &mut self,
        now: u64,
        method: &str,
        d: &DigestResponse,
        creds: Option<&Credentials>,
    ) -> Verdict {
        let alg = match d.algorithm.as_deref().map(Algorithm::from_str) {
            None => Algorithm::Md5,
            Some(Ok(a)) if self.algorithms.contains(&a) => a,
            Some(_) => return Verdict::Rechallenge,
        };
        if d.realm != self.realm {
            return Verdict::Rechallenge;
        }
        let Some(issued) = self.nonce_time(&d.nonce) else {
            return Verdict::Rechallenge;
        };
        let Some(creds) = creds.filter(|c| c.realm == self.realm) else {
            return Verdict::Wrong;
        };
        let ha2 = alg.hash(format!("{method}:{}", d.uri).as_bytes());
        let ha1 = creds.ha1(alg);
        let expected = match (&d.qop, &d.nc, &d.cnonce) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => {
                alg.hash(format!("{ha1}:{}:{nc}:{cn}:{q}:{ha2}", d.nonce).as_bytes())
            }
            (None, _, _) => alg.hash(format!("{ha1}:{}:{ha2}", d.nonce).as_bytes()),
            _ => return Verdict::Rechallenge,
        };
        if !constant_time_eq(expected.as_bytes(), d.response.as_bytes()) {
            return Verdict::Wrong;
        }
        if now.saturating_sub(issued) > self.lifetime || issued > now + 5 {
            return Verdict::Stale;
        }
        if let Some(nc) = &d.nc {
            let Ok(nc) = u32::from_str_radix(nc, 16) else {
                return Verdict::Rechallenge;
            };
            let entry = self.seen.entry(d.nonce.clone()).or_insert((issued, 0));
            if nc <= entry.1 {
                return Verdict::Stale;
            }
            entry.1 = nc;
        }
        Verdict::Ok
    }

    /// Forgets nonce counts of nonces that have expired.
    pub fn sweep(&mut self, now: u64) {
        let lifetime = self.lifetime;
        self.seen
            .retain(|_, (issued, _)| now.saturating_sub(*issued) <= lifetime);
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        DigestAuth::new(
            [7; 32],
            "example.com",
            300,
            vec![Algorithm::Sha256, Algorithm::Md5],
        )
    }

    fn answer(alg: Algorithm, nonce: &str, pw: &str, nc: &str) -> DigestResponse {
        let ha1 = ha1(alg, "alice", "example.com", pw);
        let ha2 = alg.hash(b"REGISTER:sip:example.com");
        DigestResponse {
            username: "alice".into(),
            realm: "example.com".into(),
            nonce: nonce.into(),
            uri: "sip:example.com".into(),
            response: alg.hash(format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}").as_bytes()),
            algorithm: Some(alg.token().into()),
            cnonce: Some("abc".into()),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            opaque: None,
        }
    }

    #[test]
    fn the_rfc_2617_example_response_is_reproduced() {
        // RFC 2617 §3.5 (HTTP, but the same arithmetic).
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let ha2 = Algorithm::Md5.hash(b"GET:/dir/index.html");
        let r = Algorithm::Md5.hash(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}")
                .as_bytes(),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn one_challenge_per_algorithm_with_one_nonce() {
        let c = auth().challenges(1000, 1, false, false);
        assert_eq!(auth().challenges(1000, 1, false, true).len(), 1);
        assert_eq!(c.len(), 2);
        assert!(c[0].contains("algorithm=SHA-256"));
        assert!(c[1].contains("algorithm=MD5"));
        let n0 = c[0]
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(c[1].contains(n0));
    }

    #[test]
    fn right_password_passes_with_both_algorithms_and_wrong_fails() {
        let mut a = auth();
        let creds = Credentials::from_password("alice", "example.com", "pw");
        let n = a.nonce(1000, 9);
        for (alg, nc) in [
            (Algorithm::Md5, "00000001"),
            (Algorithm::Sha256, "00000002"),
        ] {
            assert_eq!(
                a.verify(1001, "REGISTER", &answer(alg, &n, "pw", nc), Some(&creds)),
                Verdict::Ok
            );
            assert_eq!(
                a.verify(
                    1001,
                    "REGISTER",
                    &answer(alg, &n, "nope", "00000009"),
                    Some(&creds)
                ),
                Verdict::Wrong
            );
        }
        assert_eq!(
            a.verify(
                1001,
                "REGISTER",
                &answer(Algorithm::Md5, &n, "pw", "00000005"),
                None
            ),
            Verdict::Wrong
        );
    }

    #[test]
    fn an_old_nonce_is_stale_and_a_forged_one_rechallenged() {
        let mut a = auth();
        let creds = Credentials::from_password("alice", "example.com", "pw");
        let n = a.nonce(1000, 9);
        assert_eq!(
            a.verify(
                1400,
                "REGISTER",
                &answer(Algorithm::Md5, &n, "pw", "00000001"),
                Some(&creds)
            ),
            Verdict::Stale
        );
        let forged = format!("{}0", &n[..55]);
        assert_eq!(
            a.verify(
                1001,
                "REGISTER",
                &answer(Algorithm::Md5, &forged, "pw", "00000001"),
                Some(&creds)
            ),
            Verdict::Rechallenge
        );
    }

    #[test]
    fn a_replayed_nonce_count_is_stale() {
        let mut a = auth();
        let creds = Credentials::from_password("alice", "example.com", "pw");
        let n = a.nonce(1000, 9);
        let r = answer(Algorithm::Md5, &n, "pw", "00000001");
        assert_eq!(a.verify(1001, "REGISTER", &r, Some(&creds)), Verdict::Ok);
        assert_eq!(a.verify(1002, "REGISTER", &r, Some(&creds)), Verdict::Stale);
    }

    #[test]
    fn authorization_header_parses_quoted_commas_and_garbage_is_none() {
        let d = parse_authorization(
            r#"Digest username="alice", realm="a,b", nonce="n", uri="sip:x", response="ABC", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c""#,
        )
        .unwrap();
        assert_eq!(d.realm, "a,b");
        assert_eq!(d.response, "abc");
        assert_eq!(d.algorithm.as_deref(), Some("SHA-256"));
        for g in [
            "",
            "Digest",
            "Basic abc",
            "Digest username=\"x",
            "Digest =,=,",
        ] {
            assert!(parse_authorization(g).is_none(), "{g}");
        }
    }
}
