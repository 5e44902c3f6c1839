//! The location service's rules (RFC 3261 §10.3): adding, refreshing and
//! removing contact bindings of an address-of-record, expiry, q-values and
//! `Contact: *`. Sans-IO: it returns the [`Change`]s a shell persists.

use std::collections::HashMap;

use rsipstack::sip as rsip;

use super::message::split_list;

/// An address-of-record: the user part of `sip:user@domain` (one domain is served).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor(String);

impl Aor {
    /// Parses a user name: 1–64 characters of the SIP `user` unreserved set.
    pub fn parse(user: &str) -> Result<Aor, String> {
        let b = user.as_bytes();
        let escapes_ok = b.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || (i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
        });
        let ok = !user.is_empty()
            && user.len() <= 64
            && escapes_ok
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/%".contains(c));
        if ok {
            Ok(Aor(user.to_string()))
        } else {
            Err(format!("{user:?} is not a valid user name"))
        }
    }
    /// The user name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Aor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI as the client wrote it.
    pub contact: String,
    /// q-value in thousandths (1000 = 1.0).
    pub q: u16,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Where the REGISTER really came from (`udp:IP:PORT`), for NAT.
    pub received: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
}

/// A binding change for the persistence shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert or replace.
    Upsert(Aor, Binding),
    /// Delete one contact.
    Remove(Aor, String),
}

impl Change {
    fn key(&self) -> (&Aor, &str) {
        match self {
            Change::Upsert(aor, b) => (aor, b.contact.as_str()),
            Change::Remove(aor, contact) => (aor, contact.as_str()),
        }
    }
}

/// Keeps only the last change per (AOR, contact) of a batch, in order.
/// Each change replaces or deletes that one row, so the last one alone
/// gives the same database: a phone that refreshed three times since the
/// last write costs one row write, not three.
pub fn coalesce(batch: &mut Vec<Change>) {
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![false; batch.len()];
    for (i, c) in batch.iter().enumerate().rev() {
        let (aor, contact) = c.key();
        keep[i] = seen.insert((aor.clone(), contact.to_string()));
    }
    let mut i = 0;
    batch.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// The contacts a REGISTER asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Contacts {
    /// No Contact header: a query.
    Query,
    /// `Contact: *` (only valid with `Expires: 0`).
    Star,
    /// Contacts with their own expires and q parameters.
    List(Vec<ContactSpec>),
}

/// One Contact header element.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSpec {
    /// The URI text.
    pub uri: String,
    /// `expires=` parameter.
    pub expires: Option<u32>,
    /// `q=` in thousandths.
    pub q: Option<u16>,
}

fn parse_q(v: &str) -> Option<u16> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => {}
        "1" if thousandths == 0 => thousandths = 1000,
        _ => return None,
    }
    Some(thousandths)
}

/// Parses the Contact header values of a REGISTER.
pub fn parse_contacts(values: &[String]) -> Result<Contacts, String> {
    let items: Vec<String> = values.iter().flat_map(|v| split_list(v)).collect();
    if items.is_empty() {
        return Ok(Contacts::Query);
    }
    if items.iter().any(|i| i == "*") {
        if items.len() != 1 {
            return Err("Contact: * must be the only contact".into());
        }
        return Ok(Contacts::Star);
    }
    let mut out = Vec::new();
    for item in items {
        let (uri, params) = match item.find('<') {
            Some(lt) => {
                let gt = item[lt..].find('>').ok_or("Contact: '<' without '>'")? + lt;
                (&item[lt + 1..gt], &item[gt + 1..])
            }
            None => {
                let (uri, params) = match item.find(';') {
                    Some(i) => (&item[..i], &item[i..]),
                    None => (item.as_str(), ""),
                };
                // RFC 3261 §20: a URI with ',', '?' or ';' must be in angle brackets.
                if uri.contains(['?', ',']) {
                    return Err(format!("Contact URI {uri:.60} must be in angle brackets"));
                }
                (uri, params)
            }
        };
        let parsed = rsip::parse_uri(uri).map_err(|e| format!("Contact URI {uri:.60}: {e}"))?;
        if parsed.scheme.is_none() {
            return Err(format!("Contact URI {uri:.60} has no scheme"));
        }
        let mut spec = ContactSpec {
            uri: uri.trim().to_string(),
            expires: None,
            q: None,
        };
        for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "expires" => {
                    spec.expires = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| format!("Contact expires={v:.12} is not a number"))?,
                    )
                }
                "q" => {
                    spec.q =
                        Some(parse_q(v).ok_or_else(|| format!("Contact q={v:.12} is not 0..1"))?)
                }
                _ => {}
            }
        }
        out.push(spec);
    }
    Ok(Contacts::List(out))
}

/// A REGISTER, after authentication.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// The AOR (the To user, which authenticated as itself).
    pub aor: Aor,
    /// The Contact header.
    pub contacts: Contacts,
    /// The Expires header.
    pub expires: Option<u32>,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Source as `proto:IP:PORT`.
    pub received: String,
    /// User-Agent.
    pub user_agent: Option<String>,
}

/// Why a REGISTER was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// 423 with Min-Expires.
    IntervalTooBrief(u32),
    /// 400 with a reason.
    BadRequest(String),
    /// 500: a CSeq not above the last one for the same Call-ID (RFC 3261 §10.3 step 7).
    OutOfOrder,
    /// 403: too many contacts for one user.
    TooManyContacts(usize),
}

/// Registration limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// 423 below this.
    pub min_expires: u32,
    /// Cut down to this.
    pub max_expires: u32,
    /// When the client says nothing.
    pub default_expires: u32,
    /// Contacts per AOR.
    pub max_contacts: usize,
}

/// All bindings, by AOR.
#[derive(Debug)]
pub struct Registrar {
    limits: Limits,
    map: HashMap<Aor, Vec<Binding>>,
}

/// Contact identity for matching (RFC 3261 §19.1.4, approximately: scheme
/// and host case-insensitive, user and parameters as written).
fn same_contact(a: &str, b: &str) -> bool {
    // A refresh repeats its Contact byte for byte: no need to parse.
    if a == b {
        return true;
    }
    match (rsip::parse_uri(a), rsip::parse_uri(b)) {
        (Ok(x), Ok(y)) => {
            x.scheme == y.scheme
                && x.user() == y.user()
                && x.host_with_port
                    .to_string()
                    .eq_ignore_ascii_case(&y.host_with_port.to_string())
                && x.host_with_port.port == y.host_with_port.port
                && x.params == y.params
        }
        _ => a == b,
    }
}

impl Registrar {
    /// An empty location service.
    pub fn new(limits: Limits) -> Self {
        Registrar {
            limits,
            map: HashMap::new(),
        }
    }

    /// Restores a binding read from the database.
    pub fn load(&mut self, aor: Aor, b: Binding) {
        self.map.entry(aor).or_default().push(b);
    }

    /// Every binding that has not expired, with its AOR.
    pub fn live(&self, now: u64) -> impl Iterator<Item = (&Aor, &Binding)> {
        self.map
            .iter()
            .flat_map(|(aor, list)| list.iter().map(move |b| (aor, b)))
            .filter(move |(_, b)| b.expires_at > now)
    }

    /// Number of live bindings.
    pub fn count(&self) -> usize {
        self.map.values().map(Vec::len).sum()
    }

    /// The live bindings of an AOR, highest q first.
    pub fn bindings(&self, aor: &Aor, now: u64) -> Vec<Binding> {
        let mut v: Vec<Binding> = self
            .map
            .get(aor)
            .map(|bs| bs.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|b| std::cmp::Reverse(b.q));
        v
    }

    /// Applies a REGISTER; on success returns the AOR's bindings afterwards.
    pub fn register(
        &mut self,
        now: u64,
        req: RegisterRequest,
        changes: &mut Vec<Change>,
    ) -> Result<Vec<Binding>, RegisterError> {
        let lim = self.limits;
        let aor = req.aor.clone();
        match req.contacts {
            Contacts::Query => {}
            Contacts::Star => {
                if req.expires != Some(0) {
                    return Err(RegisterError::BadRequest(
                        "Contact: * needs Expires: 0".into(),
                    ));
                }
                let list = self.map.entry(aor.clone()).or_default();
                // Step 6: a * removal with an older CSeq for the same Call-ID is refused.
                if list
                    .iter()
                    .any(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
                {
                    return Err(RegisterError::OutOfOrder);
                }
                for b in list.drain(..) {
                    changes.push(Change::Remove(aor.clone(), b.contact));
                }
            }
            Contacts::List(specs) => {
                // Validate everything before changing anything.
                let mut plan = Vec::with_capacity(specs.len());
                for s in &specs {
                    let asked = s.expires.or(req.expires).unwrap_or(lim.default_expires);
                    if asked != 0 && asked < lim.min_expires {
                        return Err(RegisterError::IntervalTooBrief(lim.min_expires));
                    }
                    plan.push((s, asked.min(lim.max_expires)));
                }
                let list = self.map.entry(aor.clone()).or_default();
                list.retain(|b| b.expires_at > now);
                for (s, _) in &plan {
                    if let Some(b) = list.iter().find(|b| same_contact(&b.contact, &s.uri))
                        && b.call_id == req.call_id
                        && req.cseq <= b.cseq
                    {
                        return Err(RegisterError::OutOfOrder);
                    }
                }
                let adding = plan
                    .iter()
                    .filter(|(s, e)| {
                        *e > 0 && !list.iter().any(|b| same_contact(&b.contact, &s.uri))
                    })
                    .count();
                let removing = plan.iter().filter(|(_, e)| *e == 0).count();
                if list.len() + adding > lim.max_contacts + removing {
                    return Err(RegisterError::TooManyContacts(lim.max_contacts));
                }
                for (s, expires) in plan {
                    let pos = list.iter().position(|b| same_contact(&b.contact, &s.uri));
                    if expires == 0 {
                        if let Some(i) = pos {
                            let b = list.remove(i);
                            changes.push(Change::Remove(aor.clone(), b.contact));
                        }
                        continue;
                    }
                    let b = Binding {
                        contact: pos
                            .map(|i| list[i].contact.clone())
                            .unwrap_or_else(|| s.uri.clone()),
                        q: s.q.unwrap_or(1000),
                        expires_at: now + u64::from(expires),
                        call_id: req.call_id.clone(),
                        cseq: req.cseq,
                        received: Some(req.received.clone()),
                        user_agent: req.user_agent.clone(),
                    };
                    changes.push(Change::Upsert(aor.clone(), b.clone()));
                    match pos {
                        Some(i) => list[i] = b,
                        None => list.push(b),
                    }
                }
            }
        }
        if self.map.get(&aor).is_some_and(Vec::is_empty) {
            self.map.remove(&aor);
        }
        Ok(self.bindings(&aor, now))
    }

    /// Drops expired bindings.
    pub fn expire(&mut self, now: u64, changes: &mut Vec<Change>) {
        self.map.retain(|aor, list| {
            list.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    changes.push(Change::Remove(aor.clone(), b.contact.clone()));
                }
                live
            });
            !list.is_empty()
        });
    }

    /// Drops every binding of users that no longer exist.
    pub fn retain_users(&mut self, exists: impl Fn(&Aor) -> bool, changes: &mut Vec<Change>) {
        self.map.retain(|aor, list| {
            if exists(aor) {
                return true;
            }
            for b in list.drain(..) {
                changes.push(Change::Remove(aor.clone(), b.contact));
            }
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_only_the_last_change_per_contact() {
        let aor = |u: &str| Aor::parse(u).unwrap();
        let b = |contact: &str, expires_at: u64| Binding {
            contact: contact.into(),
            expires_at,
            q: 1000,
            call_id: "c".into(),
            cseq: 1,
            received: None,
            user_agent: None,
        };
        let mut batch = vec![
            Change::Upsert(aor("alice"), b("sip:a@1", 100)),
            Change::Upsert(aor("bob"), b("sip:b@1", 100)),
            Change::Upsert(aor("alice"), b("sip:a@1", 200)),
            Change::Remove(aor("bob"), "sip:b@1".into()),
            Change::Upsert(aor("alice"), b("sip:a@2", 300)),
            Change::Upsert(aor("alice"), b("sip:a@1", 400)),
        ];
        coalesce(&mut batch);
        assert_eq!(
            batch,
            vec![
                Change::Remove(aor("bob"), "sip:b@1".into()),
                Change::Upsert(aor("alice"), b("sip:a@2", 300)),
                Change::Upsert(aor("alice"), b("sip:a@1", 400)),
            ]
        );
    }

    const LIM: Limits = Limits {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 3600,
        max_contacts: 3,
    };

    fn req(contacts: &[&str], expires: Option<u32>, cseq: u32) -> RegisterRequest {
        let values: Vec<String> = contacts.iter().map(|s| s.to_string()).collect();
        RegisterRequest {
            aor: Aor::parse("alice").unwrap(),
            contacts: parse_contacts(&values).unwrap(),
            expires,
            call_id: "c1".into(),
            cseq,
            received: "udp:192.0.2.1:5060".into(),
            user_agent: None,
        }
    }

    #[test]
    fn several_contacts_with_q_values_are_listed_best_first() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        let b = r
            .register(
                1000,
                req(&["<sip:a@1.1.1.1>;q=0.5, <sip:a@2.2.2.2>;q=1.0"], None, 1),
                &mut ch,
            )
            .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].contact, "sip:a@2.2.2.2");
        assert_eq!(b[1].q, 500);
        assert_eq!(b[0].expires_at, 1000 + 3600);
        assert_eq!(ch.len(), 2);
    }

    #[test]
    fn too_brief_is_423_and_too_long_is_cut() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        assert_eq!(
            r.register(0, req(&["<sip:a@1.1.1.1>"], Some(10), 1), &mut ch),
            Err(RegisterError::IntervalTooBrief(60))
        );
        let b = r
            .register(
                0,
                req(&["<sip:a@1.1.1.1>;expires=99999"], Some(10), 2),
                &mut ch,
            )
            .unwrap();
        assert_eq!(b[0].expires_at, 3600);
    }

    #[test]
    fn refresh_replaces_and_expires_zero_removes() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        r.register(0, req(&["<sip:a@1.1.1.1>"], Some(100), 1), &mut ch)
            .unwrap();
        let b = r
            .register(50, req(&["<sip:a@1.1.1.1>"], Some(100), 2), &mut ch)
            .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].expires_at, 150);
        let b = r
            .register(60, req(&["<sip:a@1.1.1.1>"], Some(0), 3), &mut ch)
            .unwrap();
        assert!(b.is_empty());
        assert!(matches!(ch.last(), Some(Change::Remove(_, c)) if c == "sip:a@1.1.1.1"));
    }

    #[test]
    fn an_old_cseq_on_the_same_call_id_is_refused() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        r.register(0, req(&["<sip:a@1.1.1.1>"], None, 5), &mut ch)
            .unwrap();
        assert_eq!(
            r.register(0, req(&["<sip:a@1.1.1.1>"], None, 5), &mut ch),
            Err(RegisterError::OutOfOrder)
        );
    }

    #[test]
    fn star_removes_all_but_only_with_expires_zero() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        r.register(
            0,
            req(&["<sip:a@1.1.1.1>", "<sip:a@2.2.2.2>"], None, 1),
            &mut ch,
        )
        .unwrap();
        assert!(matches!(
            r.register(0, req(&["*"], Some(5), 2), &mut ch),
            Err(RegisterError::BadRequest(_))
        ));
        assert!(
            r.register(0, req(&["*"], Some(0), 2), &mut ch)
                .unwrap()
                .is_empty()
        );
        assert_eq!(r.count(), 0);
        assert!(parse_contacts(&["*, <sip:a@b>".to_string()]).is_err());
    }

    #[test]
    fn the_contact_limit_holds() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        r.register(
            0,
            req(
                &["<sip:a@1.1.1.1>", "<sip:a@2.2.2.2>", "<sip:a@3.3.3.3>"],
                None,
                1,
            ),
            &mut ch,
        )
        .unwrap();
        assert_eq!(
            r.register(0, req(&["<sip:a@4.4.4.4>"], None, 2), &mut ch),
            Err(RegisterError::TooManyContacts(3))
        );
    }

    #[test]
    fn expiry_housekeeping_drops_old_bindings() {
        let mut r = Registrar::new(LIM);
        let mut ch = Vec::new();
        r.register(0, req(&["<sip:a@1.1.1.1>"], Some(60), 1), &mut ch)
            .unwrap();
        ch.clear();
        r.expire(61, &mut ch);
        assert_eq!(ch.len(), 1);
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn q_values_parse_strictly() {
        assert_eq!(parse_q("0.7"), Some(700));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
    }
}
