//! TOML text -> validated [`Dialplan`]. Every mistake is collected (not just
//! the first) with its file, line and column; see docs/dialplan.md.
//!
//! The TOML is read with `toml::de::DeTable`, which keeps the byte span of
//! every key and value, so a bad regex, CIDR or capture points at the value
//! (or the exact character inside it) rather than at the route.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::dialout::DialoutRule;
use super::model::{
    Action, Cidr, Conditions, Dialplan, DialplanError, HeaderCondition, Piece, RoomName, Route,
    Template, TimeWindow, default_reason, is_room_char, validate_pin, validate_reason,
    validate_target,
};
use super::watch::Fingerprint;
use crate::sip::registrar::Aor;

/// Largest compiled regex accepted (bytes); bigger ones are an error, not a memory hog.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Conditions a route may have.
const CONDITION_KEYS: &[&str] = &["to", "from", "source", "trunk", "header", "time"];

/// Each action and the keys that belong to it.
const ACTIONS: &[(&str, &[&str])] = &[
    (
        "conference",
        &[
            "room",
            "pin",
            "moderator_pin",
            "muted",
            "max_members",
            "record",
        ],
    ),
    ("ivr", &[]),
    ("user", &["user", "timeout"]),
    ("redirect", &["target"]),
    ("reject", &["code", "reason"]),
];

/// Every key a route may have.
const ROUTE_KEYS: &[&str] = &[
    "name",
    "action",
    "to",
    "from",
    "source",
    "trunk",
    "header",
    "time",
    "room",
    "pin",
    "moderator_pin",
    "muted",
    "max_members",
    "record",
    "user",
    "timeout",
    "target",
    "code",
    "reason",
];

/// Default `timeout` of the `user` action, in seconds.
const DEFAULT_USER_TIMEOUT: u64 = 30;

/// Loads a dialplan from a directory (every `*.toml` in it, in file-name
/// order, routes concatenated; names starting with `.` are skipped) or from
/// one file. Returns the plan, or every error found in every file.
pub fn load(path: &Path) -> Result<Dialplan, Vec<DialplanError>> {
    let source = path.display().to_string();
    // Taken before reading, so a change made while reading triggers another reload.
    let fingerprint = Fingerprint::of(path);
    let files = plan_files(path).map_err(|e| {
        vec![whole_file_error(
            &source,
            format!("cannot read the dialplan: {e}"),
        )]
    })?;
    let mut routes = Vec::new();
    let mut dialouts = Vec::new();
    let mut errors = Vec::new();
    let mut names = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        match std::fs::read(f) {
            Err(e) => errors.push(whole_file_error(&name, format!("cannot read: {e}"))),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => parse_file(&name, &text, &mut routes, &mut dialouts, &mut errors),
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
                    let mut p = FileParser::new(&name, valid);
                    p.error(at..at, "the file is not UTF-8 text");
                    errors.extend(p.errors);
                }
            },
        }
        names.push(name);
    }
    if errors.is_empty() {
        Ok(Dialplan {
            routes,
            dialouts,
            source,
            files: names,
            fingerprint,
        })
    } else {
        Err(errors)
    }
}

/// Parses the text of one dialplan file (named `file` in errors), e.g. what
/// an editor is about to save. Pure: reads nothing from disk.
pub fn parse_str(file: &str, text: &str) -> Result<Dialplan, Vec<DialplanError>> {
    let mut routes = Vec::new();
    let mut errors = Vec::new();
    let mut dialouts = Vec::new();
    parse_file(file, text, &mut routes, &mut dialouts, &mut errors);
    if errors.is_empty() {
        Ok(Dialplan {
            routes,
            dialouts,
            source: file.to_string(),
            files: vec![file.to_string()],
            fingerprint: Fingerprint::default(),
        })
    } else {
        Err(errors)
    }
}

/// The files a dialplan path stands for: the path itself if it is a file,
/// else the directory's `*.toml` files (not hidden ones) in file-name order.
pub(crate) fn plan_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        let p = entry.path();
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn whole_file_error(file: &str, message: String) -> DialplanError {
    DialplanError {
        file: file.to_string(),
        line: 0,
        column: 0,
        span: 0..0,
        message,
    }
}

fn parse_file(
    file: &str,
    text: &str,
    routes: &mut Vec<Route>,
    dialouts: &mut Vec<DialoutRule>,
    errors: &mut Vec<DialplanError>,
) {
    let mut p = FileParser::new(file, text);
    p.document(routes, dialouts);
    p.errors.sort_by_key(|e| (e.span.start, e.span.end));
    p.errors.dedup();
    errors.extend(p.errors);
}

/// How many groups a regex has, as far as templates are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Groups {
    /// The route has no such condition.
    Absent,
    /// The regex did not compile (already reported; don't pile on).
    Unknown,
    /// This many groups (`$1..$n`).
    Count(usize),
}

/// What the capture references in a route's templates may refer to.
pub(super) struct CaptureScope<'a> {
    pub(super) to: Groups,
    pub(super) from: Groups,
    pub(super) headers: &'a [(String, Groups)],
}

/// Extra checks on a template whose text is known at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    Room,
    Number,
    Pin,
    User,
    Target,
    Reason,
}

impl Check {
    fn apply(self, s: &str) -> Result<(), String> {
        match self {
            Check::Room => RoomName::parse(s).map(|_| ()).map_err(|e| e.to_string()),
            Check::Pin => validate_pin(s),
            Check::Number => super::dialout::validate_number(s),
            Check::User => Aor::parse(s).map(|_| ()),
            Check::Target => validate_target(s),
            Check::Reason if s.is_empty() => {
                Err("\"reason\" must not be empty (leave it out for the usual phrase)".into())
            }
            Check::Reason => validate_reason(s),
        }
    }
}

pub(super) struct FileParser<'t> {
    file: &'t str,
    text: &'t str,
    line_starts: Vec<usize>,
    errors: Vec<DialplanError>,
}

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

impl<'t> FileParser<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        FileParser {
            file,
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// 1-based (line, column) of a byte offset; columns count characters.
    pub(super) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = match self.text.get(start..offset) {
            Some(s) => s.chars().count(),
            None => offset - start,
        };
        (line as u32 + 1, col as u32 + 1)
    }

    pub(super) fn errors_len(&self) -> usize {
        self.errors.len()
    }

    pub(super) fn file_name(&self) -> &str {
        self.file
    }

    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(DialplanError {
            file: self.file.to_string(),
            line,
            column,
            span,
            message: message.into(),
        });
    }

    /// The span of `range` (bytes of the decoded string `value`) in the file:
    /// exact when the string is written without escapes, else the whole value.
    fn inner_span(
        &self,
        value_span: Range<usize>,
        value: &str,
        range: Range<usize>,
    ) -> Range<usize> {
        let raw = self.text.get(value_span.clone()).unwrap_or("");
        let q = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
            3
        } else {
            1
        };
        match raw.get(q..raw.len().saturating_sub(q)) {
            Some(inner) if raw.len() >= 2 * q && inner == value => {
                value_span.start + q + range.start..value_span.start + q + range.end
            }
            _ => value_span,
        }
    }

    fn document(&mut self, routes: &mut Vec<Route>, dialouts: &mut Vec<DialoutRule>) {
        let (root, syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            // The recovered tree is partial; checking it would report mistakes that are not there.
            for e in syntax {
                let span = e.span().unwrap_or(0..0);
                self.error(span, format!("TOML syntax: {}", e.message()));
            }
            return;
        }
        let base = Path::new(self.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(self.file)
            .to_string();
        let mut n = 0;
        for (key, value) in root.get_ref().iter() {
            let k: &str = key.get_ref();
            if k == "dialout" {
                self.dialouts(key.span(), value, &base, dialouts);
                continue;
            }
            if k != "route" {
                self.error(
                    key.span(),
                    format!(
                        "unknown top-level key \"{k}\": a dialplan file holds [[route]] and [[dialout]] tables{}",
                        suggest(k, &["route", "dialout"])
                    ),
                );
                continue;
            }
            match value.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        n += 1;
                        match item.get_ref() {
                            DeValue::Table(t) => {
                                if let Some(r) = self.route(item.span(), t, &format!("{base}#{n}"))
                                {
                                    routes.push(r);
                                }
                            }
                            other => self.error(
                                item.span(),
                                format!("each route must be a table, found {}", other.type_str()),
                            ),
                        }
                    }
                }
                DeValue::Table(_) => self.error(
                    key.span(),
                    "write [[route]] (double brackets): a dialplan is a list of routes",
                ),
                other => self.error(
                    value.span(),
                    format!(
                        "\"route\" must be a list of tables written [[route]], found {}",
                        other.type_str()
                    ),
                ),
            }
        }
    }

    /// One `[[route]]`; `None` (with errors recorded) when it is not valid.
    fn route(&mut self, span: Range<usize>, t: &DeTable<'_>, default_name: &str) -> Option<Route> {
        let errors_before = self.errors.len();
        let mut fields: HashMap<&str, (Range<usize>, &Value<'_>)> = HashMap::new();
        for (k, v) in t.iter() {
            let name: &str = k.get_ref();
            match ROUTE_KEYS.iter().find(|&&known| known == name) {
                Some(known) => {
                    fields.insert(known, (k.span(), v));
                }
                None => self.error(
                    k.span(),
                    format!(
                        "unknown key \"{name}\" in route{}",
                        suggest(name, ROUTE_KEYS)
                    ),
                ),
            }
        }

        let name = match fields.get("name") {
            Some((_, v)) => match self.string("name", v) {
                Some(s) if s.trim().is_empty() => {
                    self.error(v.span(), "\"name\" must not be empty");
                    String::new()
                }
                Some(s) => s,
                None => String::new(),
            },
            None => default_name.to_string(),
        };

        // Conditions.
        let mut conditions = Conditions::default();
        let mut to_groups = Groups::Absent;
        if let Some((_, v)) = fields.get("to") {
            conditions.to = self.regex("to", v);
            to_groups = groups_of(conditions.to.as_ref());
        }
        let mut from_groups = Groups::Absent;
        if let Some((_, v)) = fields.get("from") {
            conditions.from = self.regex("from", v);
            from_groups = groups_of(conditions.from.as_ref());
        }
        if let Some((_, v)) = fields.get("source") {
            for (s, sp) in self.string_list("source", v) {
                match parse_cidr(&s) {
                    Ok(c) => conditions.source.push(c),
                    Err(m) => self.error(sp, m),
                }
            }
        }
        if let Some((_, v)) = fields.get("trunk") {
            for (s, sp) in self.string_list("trunk", v) {
                if s.is_empty() {
                    self.error(sp, "trunk: a trunk name cannot be empty");
                } else {
                    conditions.trunks.push(s);
                }
            }
        }
        let mut header_groups = Vec::new();
        if let Some((_, v)) = fields.get("header") {
            match v.get_ref() {
                DeValue::Table(ht) => {
                    for (hk, hv) in ht.iter() {
                        let hname: &str = hk.get_ref();
                        if !is_header_name(hname) {
                            self.error(
                                hk.span(),
                                format!("{hname:?} is not a header name (letters, digits and -._!%*+`'~ only)"),
                            );
                            header_groups.push((hname.to_string(), Groups::Unknown));
                            continue;
                        }
                        let re = self.regex(&format!("header.{hname}"), hv);
                        header_groups.push((hname.to_string(), groups_of(re.as_ref())));
                        if let Some(regex) = re {
                            conditions.headers.push(HeaderCondition {
                                name: hname.to_string(),
                                regex,
                            });
                        }
                    }
                }
                other => self.error(
                    v.span(),
                    format!(
                        "\"header\" must be a table of header name = regex, e.g. header.X-Room-Name = '^(.+)$'; found {}",
                        other.type_str()
                    ),
                ),
            }
        }
        if let Some((_, v)) = fields.get("time") {
            for (s, sp) in self.string_list("time", v) {
                match parse_time_window(&s) {
                    Ok(w) => conditions.time.push(w),
                    Err(m) => self.error(sp, m),
                }
            }
        }

        // The action.
        let action_name = match fields.get("action") {
            None => {
                self.error(
                    span.clone(),
                    "route has no \"action\": add action = \"conference\", \"ivr\", \"user\", \"redirect\" or \"reject\"",
                );
                None
            }
            Some((_, v)) => match self.string("action", v) {
                Some(a) => match ACTIONS.iter().find(|(n, _)| *n == a) {
                    Some(found) => Some(*found),
                    None => {
                        let names: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
                        self.error(
                            v.span(),
                            format!(
                                "unknown action {a:?}: use conference, ivr, user, redirect or reject{}",
                                suggest(&a, &names)
                            ),
                        );
                        None
                    }
                },
                None => None,
            },
        };
        let (action_name, action_keys) = action_name?;
        // Keys of other actions are mistakes (a reject with a room, say).
        let mut stray: Vec<(&str, Range<usize>)> = fields
            .iter()
            .filter(|(k, _)| {
                !CONDITION_KEYS.contains(k)
                    && !matches!(**k, "name" | "action")
                    && !action_keys.contains(k)
            })
            .map(|(k, (ks, _))| (*k, ks.clone()))
            .collect();
        stray.sort_by_key(|(_, s)| s.start);
        for (k, ks) in stray {
            let owner = ACTIONS
                .iter()
                .find(|(_, keys)| keys.contains(&k))
                .map(|(n, _)| *n)
                .unwrap_or("another action");
            self.error(
                ks,
                format!(
                    "\"{k}\" does not apply to action \"{action_name}\" (it belongs to \"{owner}\")"
                ),
            );
        }

        let scope = CaptureScope {
            to: to_groups,
            from: from_groups,
            headers: &header_groups,
        };
        let action = match action_name {
            "conference" => {
                let room = match fields.get("room") {
                    Some((_, v)) => self.template("room", v, &scope, Check::Room),
                    None => {
                        self.error(
                            span.clone(),
                            "action \"conference\" needs \"room\", e.g. room = \"room-$1\"",
                        );
                        None
                    }
                };
                let pin = fields
                    .get("pin")
                    .and_then(|(_, v)| self.template("pin", v, &scope, Check::Pin));
                let moderator_pin = match fields.get("moderator_pin") {
                    Some((ks, v)) => {
                        if !fields.contains_key("pin") {
                            self.error(
                                ks.clone(),
                                "\"moderator_pin\" needs \"pin\" too: without a PIN callers are never asked for one",
                            );
                        }
                        let t = self.template("moderator_pin", v, &scope, Check::Pin);
                        if let (Some(m), Some(p)) = (&t, &pin)
                            && m.literal().is_some()
                            && m.literal() == p.literal()
                        {
                            self.error(v.span(), "\"moderator_pin\" must differ from \"pin\"");
                        }
                        t
                    }
                    None => None,
                };
                let muted = fields
                    .get("muted")
                    .and_then(|(_, v)| self.boolean("muted", v))
                    .unwrap_or(false);
                let record = fields
                    .get("record")
                    .and_then(|(_, v)| self.boolean("record", v))
                    .unwrap_or(false);
                let max_members = fields.get("max_members").and_then(|(_, v)| {
                    self.integer_in("max_members", v, 1, 100_000)
                        .map(|n| n as u32)
                });
                Action::Conference {
                    room: room?,
                    pin,
                    moderator_pin,
                    muted,
                    max_members,
                    record,
                }
            }
            "ivr" => Action::Ivr,
            "user" => {
                let user = match fields.get("user") {
                    Some((_, v)) => self.template("user", v, &scope, Check::User),
                    None => {
                        self.error(
                            span.clone(),
                            "action \"user\" needs \"user\", e.g. user = \"alice\" or user = \"$1\"",
                        );
                        None
                    }
                };
                let timeout = fields
                    .get("timeout")
                    .map(|(_, v)| self.integer_in("timeout", v, 1, 600))
                    .unwrap_or(Some(DEFAULT_USER_TIMEOUT as i64));
                Action::User {
                    user: user?,
                    timeout: Duration::from_secs(timeout? as u64),
                }
            }
            "redirect" => {
                let target = match fields.get("target") {
                    Some((_, v)) => self.template("target", v, &scope, Check::Target),
                    None => {
                        self.error(
                            span.clone(),
                            "action \"redirect\" needs \"target\", e.g. target = \"sip:$1@example.com\"",
                        );
                        None
                    }
                };
                Action::Redirect { target: target? }
            }
            _ => {
                // "reject"
                let code = match fields.get("code") {
                    Some((_, v)) => self.integer_in("code", v, 400, 699).and_then(|c| {
                        if c == 401 || c == 407 {
                            self.error(
                                v.span(),
                                "401 and 407 need an authentication challenge; use 403 to refuse",
                            );
                            None
                        } else {
                            Some(c as u16)
                        }
                    }),
                    None => {
                        self.error(
                            span.clone(),
                            "action \"reject\" needs \"code\" (400-699), e.g. code = 404",
                        );
                        None
                    }
                };
                let reason = match fields.get("reason") {
                    Some((_, v)) => self.template("reason", v, &scope, Check::Reason),
                    None => code.map(|c| Template(vec![Piece::Lit(default_reason(c).to_string())])),
                };
                Action::Reject {
                    code: code?,
                    reason: reason?,
                }
            }
        };

        if self.errors.len() > errors_before {
            return None;
        }
        Some(Route {
            name,
            file: self.file.to_string(),
            line: self.position(span.start).0,
            conditions,
            action,
        })
    }

    pub(super) fn string(&mut self, key: &str, v: &Value<'_>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.error(
                    v.span(),
                    format!("\"{key}\" must be a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Value<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.error(
                    v.span(),
                    format!(
                        "\"{key}\" must be true or false, found {}",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn integer_in(&mut self, key: &str, v: &Value<'_>, lo: i64, hi: i64) -> Option<i64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            other => {
                self.error(
                    v.span(),
                    format!("\"{key}\" must be an integer, found {}", other.type_str()),
                );
                return None;
            }
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                self.error(v.span(), format!("\"{key}\" must be between {lo} and {hi}"));
                None
            }
        }
    }

    /// A string, or a list of strings, with each one's span.
    fn string_list(&mut self, key: &str, v: &Value<'_>) -> Vec<(String, Range<usize>)> {
        let items: Vec<&Value<'_>> = match v.get_ref() {
            DeValue::String(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            other => {
                self.error(
                    v.span(),
                    format!(
                        "\"{key}\" must be a string or a list of strings, found {}",
                        other.type_str()
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.error(
                    item.span(),
                    format!("\"{key}\" must hold strings, found {}", other.type_str()),
                ),
            }
        }
        out
    }

    pub(super) fn regex(&mut self, key: &str, v: &Value<'_>) -> Option<Regex> {
        let s = self.string(key, v)?;
        match RegexBuilder::new(&s).size_limit(REGEX_SIZE_LIMIT).build() {
            Ok(re) => Some(re),
            Err(regex::Error::CompiledTooBig(limit)) => {
                self.error(
                    v.span(),
                    format!("regex in \"{key}\" is too big (more than {limit} bytes compiled)"),
                );
                None
            }
            Err(e) => {
                let precise = match regex_syntax::Parser::new().parse(&s) {
                    Err(regex_syntax::Error::Parse(pe)) => Some((
                        pe.span().start.offset..pe.span().end.offset,
                        pe.kind().to_string(),
                    )),
                    Err(regex_syntax::Error::Translate(te)) => Some((
                        te.span().start.offset..te.span().end.offset,
                        te.kind().to_string(),
                    )),
                    _ => None,
                };
                match precise {
                    Some((r, what)) => {
                        let sp = self.inner_span(v.span(), &s, r);
                        self.error(sp, format!("invalid regex in \"{key}\": {what}"));
                    }
                    None => {
                        let msg = e.to_string();
                        let last = msg.lines().last().unwrap_or("").trim();
                        let last = last.strip_prefix("error: ").unwrap_or(last);
                        self.error(v.span(), format!("invalid regex in \"{key}\": {last}"));
                    }
                }
                None
            }
        }
    }

    /// A string that may hold captures; checked against the route's regexes.
    pub(super) fn template(
        &mut self,
        key: &str,
        v: &Value<'_>,
        scope: &CaptureScope<'_>,
        check: Check,
    ) -> Option<Template> {
        let s = self.string(key, v)?;
        let (template, errs) = parse_template(&s, scope);
        if !errs.is_empty() {
            for (r, m) in errs {
                let sp = self.inner_span(v.span(), &s, r);
                self.error(sp, format!("in \"{key}\": {m}"));
            }
            return None;
        }
        if let Some(lit) = template.literal() {
            if let Err(m) = check.apply(lit) {
                self.error(v.span(), format!("\"{key}\": {m}"));
                return None;
            }
        } else if check == Check::Room {
            let bad = template.0.iter().find_map(|p| match p {
                Piece::Lit(l) => l.chars().find(|&c| !is_room_char(c)),
                _ => None,
            });
            if let Some(c) = bad {
                self.error(
                    v.span(),
                    format!(
                        "\"room\" has {c:?}: room names hold only letters, digits, '.', '_' and '-'"
                    ),
                );
                return None;
            }
        }
        Some(template)
    }
}

pub(super) fn groups_of(re: Option<&Regex>) -> Groups {
    match re {
        Some(re) => Groups::Count(re.captures_len() - 1),
        None => Groups::Unknown,
    }
}

/// An HTTP/SIP header name: a token.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._!%*+`'~".contains(c))
}

/// A capture reference inside a template.
enum Ref<'s> {
    To(usize),
    From(usize),
    Header(&'s str, usize),
}

/// Splits a template into literal text and capture references; returns the
/// errors as (byte range in `s`, message).
fn parse_template(s: &str, scope: &CaptureScope<'_>) -> (Template, Vec<(Range<usize>, String)>) {
    let mut pieces = Vec::new();
    let mut errs = Vec::new();
    let mut lit = String::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '$' {
            lit.push(c);
            continue;
        }
        let (reference, end) = match it.peek().copied() {
            Some((_, '$')) => {
                it.next();
                lit.push('$');
                continue;
            }
            Some((_, d)) if d.is_ascii_digit() => {
                it.next();
                (Some(Ref::To(d as usize - '0' as usize)), i + 2)
            }
            Some((_, '{')) => {
                let Some(close) = s[i..].find('}').map(|c| c + i) else {
                    errs.push((i..s.len(), "\"${\" is not closed with \"}\"".to_string()));
                    break;
                };
                while it.peek().is_some_and(|&(j, _)| j <= close) {
                    it.next();
                }
                let inner = &s[i + 2..close];
                (parse_reference(inner), close + 1)
            }
            _ => {
                errs.push((
                    i..i + 1,
                    "\"$\" must be followed by a digit or \"{\" (write \"$$\" for a dollar sign)"
                        .into(),
                ));
                continue;
            }
        };
        let written = &s[i..end];
        let Some(reference) = reference else {
            errs.push((
                i..end,
                format!("unknown capture {written:?}: use $1..$9, ${{to.N}}, ${{from.N}} or ${{header.Name.N}}"),
            ));
            continue;
        };
        let (piece, groups, what) = match reference {
            Ref::To(n) => (Piece::To(n), scope.to, "the \"to\" regex".to_string()),
            Ref::From(n) => (Piece::From(n), scope.from, "the \"from\" regex".to_string()),
            Ref::Header(name, n) => {
                match scope
                    .headers
                    .iter()
                    .position(|(h, _)| h.eq_ignore_ascii_case(name))
                {
                    Some(idx) => (
                        Piece::Header(idx, n),
                        scope.headers[idx].1,
                        format!("the \"header.{name}\" regex"),
                    ),
                    None => (
                        Piece::Header(0, n),
                        Groups::Absent,
                        format!("\"header.{name}\""),
                    ),
                }
            }
        };
        let n = match piece {
            Piece::To(n) | Piece::From(n) | Piece::Header(_, n) => n,
            Piece::Lit(_) => 0,
        };
        match groups {
            Groups::Absent => errs.push((
                i..end,
                format!("{written:?} refers to {what}, but this route has no such condition"),
            )),
            Groups::Count(g) if n > g => errs.push((
                i..end,
                format!(
                    "{written:?} refers to group {n}, but {what} has {}",
                    match g {
                        0 => "no groups".to_string(),
                        1 => "only 1 group".to_string(),
                        g => format!("only {g} groups"),
                    }
                ),
            )),
            _ => {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(piece);
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    (Template(pieces), errs)
}

/// The inside of `${...}`: `N`, `to.N`, `from.N` or `header.Name.N`.
fn parse_reference(inner: &str) -> Option<Ref<'_>> {
    let num = |s: &str| -> Option<usize> {
        if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if let Some(n) = num(inner) {
        return Some(Ref::To(n));
    }
    if let Some(rest) = inner.strip_prefix("to.") {
        return num(rest).map(Ref::To);
    }
    if let Some(rest) = inner.strip_prefix("from.") {
        return num(rest).map(Ref::From);
    }
    if let Some(rest) = inner.strip_prefix("header.") {
        let (name, n) = rest.rsplit_once('.')?;
        if name.is_empty() {
            return None;
        }
        return num(n).map(|n| Ref::Header(name, n));
    }
    None
}

/// `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7` = `/32`).
pub(crate) fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.trim().parse().map_err(|_| {
        format!("{s:?} is not an IP address or CIDR block (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")")
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max && p.trim().bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
    };
    let c = Cidr { addr, prefix };
    let net = c.network();
    if net != addr {
        return Err(format!(
            "{s:?} has host bits set; did you mean \"{net}/{prefix}\"?"
        ));
    }
    Ok(c)
}

const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

const WINDOW_SYNTAX: &str =
    "write \"DAYS HH:MM-HH:MM\", \"DAYS\" or \"HH:MM-HH:MM\", e.g. \"mon-fri 09:00-17:00\"";

/// A weekly window: `[DAYS] [HH:MM-HH:MM]` (at least one), see docs/dialplan.md.
pub(crate) fn parse_time_window(s: &str) -> Result<TimeWindow, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (days, hours) = match parts.as_slice() {
        [one] if one.contains(':') => (None, Some(*one)),
        [one] => (Some(*one), None),
        [d, h] => (Some(*d), Some(*h)),
        _ => return Err(format!("time window {s:?}: {WINDOW_SYNTAX}")),
    };
    let days = match days {
        None => 0x7f,
        Some(d) => parse_days(d).map_err(|m| format!("time window {s:?}: {m}"))?,
    };
    let (start, end) = match hours {
        None => (0, 24 * 60),
        Some(h) => {
            let (a, b) = h
                .split_once('-')
                .ok_or_else(|| format!("time window {s:?}: hours must be HH:MM-HH:MM"))?;
            let start = parse_hhmm(a).map_err(|m| format!("time window {s:?}: {m}"))?;
            let end = parse_hhmm(b).map_err(|m| format!("time window {s:?}: {m}"))?;
            if start == 24 * 60 {
                return Err(format!("time window {s:?}: a window cannot start at 24:00"));
            }
            if start == end {
                return Err(format!(
                    "time window {s:?} is empty (start = end); use 00:00-24:00 for the whole day"
                ));
            }
            (start, end)
        }
    };
    Ok(TimeWindow { days, start, end })
}

/// `mon`, `mon-fri`, `sat,sun`, `fri-mon` (wraps), full names too.
fn parse_days(s: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => {
                let d = day(part)?;
                (d, d)
            }
        };
        let mut d = a;
        loop {
            bits |= 1 << d;
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(bits)
}

fn day(s: &str) -> Result<u8, String> {
    let l = s.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|full| l.len() >= 3 && (*full == l || (l.len() == 3 && full.starts_with(&l))))
        .map(|d| d as u8)
        .ok_or_else(|| format!("unknown day {s:?} (use mon, tue, wed, thu, fri, sat, sun)"))
}

/// `HH:MM`, 00:00 to 24:00.
fn parse_hhmm(s: &str) -> Result<u16, String> {
    let bad = || format!("{s:?} is not a time HH:MM (00:00 to 24:00)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// `; did you mean "x"?` when a known word is close to `word`.
pub(super) fn suggest(word: &str, candidates: &[&str]) -> String {
    let w = word.to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&w, c), *c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= if c.len() >= 5 { 2 } else { 1 } => format!("; did you mean \"{c}\"?"),
        _ => String::new(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
