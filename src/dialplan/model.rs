//! The validated dialplan: routes with compiled conditions and actions, the
//! facts about a call the evaluator reads, and the decision it returns.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use regex::Regex;

use super::dialout::DialoutRule;

/// A conference room's name: 1–64 characters of `[A-Za-z0-9._-]`, case-sensitive.
///
/// Built only by [`RoomName::parse`], so holding one proves it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Why a string is not a [`RoomName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// Nothing at all.
    #[error("a room name must not be empty")]
    Empty,
    /// Longer than 64 characters.
    #[error("room name {0:.70?}... is longer than 64 characters")]
    TooLong(String),
    /// A character outside `[A-Za-z0-9._-]`.
    #[error("room name {name:?} has {ch:?}: only letters, digits, '.', '_' and '-' are allowed")]
    BadChar {
        /// The whole name.
        name: String,
        /// The first character that is not allowed.
        ch: char,
    },
}

impl RoomName {
    /// Longest room name, in characters.
    pub const MAX_LEN: usize = 64;

    /// Parses a room name: 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Result<RoomName, RoomNameError> {
        if s.is_empty() {
            return Err(RoomNameError::Empty);
        }
        if let Some(ch) = s.chars().find(|&c| !is_room_char(c)) {
            return Err(RoomNameError::BadChar {
                name: s.to_string(),
                ch,
            });
        }
        if s.len() > Self::MAX_LEN {
            return Err(RoomNameError::TooLong(s.to_string()));
        }
        Ok(RoomName(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True for the characters a room name may hold.
pub(crate) fn is_room_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RoomName {
    type Err = RoomNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoomName::parse(s)
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks a PIN: 1–12 digits (callers type it on a keypad).
pub fn validate_pin(pin: &str) -> Result<(), String> {
    if pin.is_empty() || pin.len() > 12 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("PIN {pin:.20?} must be 1 to 12 digits"));
    }
    Ok(())
}

/// Checks a meeting id: 1–20 digits (callers type it on a keypad).
pub fn validate_meeting_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("meeting id {id:.30?} must be 1 to 20 digits"));
    }
    Ok(())
}

/// Checks a redirect target: a `sip:`, `sips:` or `tel:` URI of printable
/// ASCII without spaces, quotes or angle brackets, at most 256 characters.
pub fn validate_target(target: &str) -> Result<(), String> {
    let lower = target.get(..5).unwrap_or(target).to_ascii_lowercase();
    let rest = ["sip:", "sips:", "tel:"]
        .iter()
        .find(|s| lower.starts_with(**s))
        .map(|s| &target[s.len()..]);
    let ok = match rest {
        Some(rest) => {
            !rest.is_empty()
                && target.len() <= 256
                && target
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"'))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "redirect target {target:.80?} must be a sip:, sips: or tel: URI without spaces, quotes or <>"
        ))
    }
}

/// Checks a reason phrase: printable text without control characters, at most 128 characters.
pub(crate) fn validate_reason(reason: &str) -> Result<(), String> {
    if reason.chars().any(char::is_control) {
        return Err("a reason phrase must not hold control characters (line breaks, tabs)".into());
    }
    if reason.chars().count() > 128 {
        return Err("a reason phrase must be at most 128 characters".into());
    }
    Ok(())
}

/// The usual reason phrase of a SIP status code (RFC 3261 §21 and friends).
pub fn default_reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ if code < 500 => "Request Failure",
        _ if code < 600 => "Server Failure",
        _ => "Global Failure",
    }
}

/// What to do with a call: the dialplan's answer, consumed by the SIP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Put the caller into a room.
    Conference {
        /// The room.
        room: RoomName,
        /// Callers must enter this PIN (1–12 digits) first.
        pin: Option<String>,
        /// Entering this PIN instead makes the caller a moderator.
        moderator_pin: Option<String>,
        /// The caller joins muted.
        muted: bool,
        /// The room takes at most this many members; more are refused.
        max_members: Option<u32>,
        /// Record the room.
        record: bool,
    },
    /// Answer, ask for a meeting id (then its PIN if it has one) and join its room.
    Ivr,
    /// Ring every registered contact of a user.
    User {
        /// The user name (as in `dialroom user add`).
        user: String,
        /// Give up (480) after this long.
        timeout: Duration,
    },
    /// Answer `302 Moved Temporarily` with this Contact.
    Redirect {
        /// A `sip:`, `sips:` or `tel:` URI.
        target: String,
    },
    /// Refuse the call with this final response.
    Reject {
        /// 400–699.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

impl fmt::Display for Decision {
    /// The decision in plain words, e.g. `conference room "room-1234" (pin required)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Conference {
                room,
                pin,
                moderator_pin,
                muted,
                max_members,
                record,
            } => {
                write!(f, "conference room \"{room}\"")?;
                let mut notes = Vec::new();
                if pin.is_some() {
                    notes.push("pin required".to_string());
                }
                if moderator_pin.is_some() {
                    notes.push("moderator pin set".to_string());
                }
                if *muted {
                    notes.push("joins muted".to_string());
                }
                if let Some(n) = max_members {
                    notes.push(format!("at most {n} members"));
                }
                if *record {
                    notes.push("recorded".to_string());
                }
                if !notes.is_empty() {
                    write!(f, " ({})", notes.join(", "))?;
                }
                Ok(())
            }
            Decision::Ivr => f.write_str("IVR: ask for a meeting id, then its PIN if it has one"),
            Decision::User { user, timeout } => {
                write!(
                    f,
                    "ring user \"{user}\" for {} s (480 if nobody answers)",
                    timeout.as_secs()
                )
            }
            Decision::Redirect { target } => write!(f, "redirect (302) to {target}"),
            Decision::Reject { code, reason } => write!(f, "reject {code} {reason}"),
        }
    }
}

/// What the evaluator knows about a call. The SIP layer fills it in; the
/// clock is read by the caller ([`super::local_clock`]), never by the evaluator.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    /// The Request-URI's user part (the number or name dialled).
    pub to_user: &'a str,
    /// The From URI's user part.
    pub from_user: &'a str,
    /// The address the request came from.
    pub source: IpAddr,
    /// The trunk it came from (by source address or by our registration to
    /// it), if any.
    pub trunk: Option<&'a str>,
    /// The request's headers as (name, value), in order; names compare case-insensitively.
    pub headers: &'a [(String, String)],
    /// Local day of the week, 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Local minutes since midnight, 0–1439.
    pub minute_of_day: u16,
}

/// The result of evaluating a dialplan: which route matched and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    /// Index of the route in [`Dialplan::routes`]; `routes.len()` when none matched.
    pub route_index: usize,
    /// The route's name; [`NO_MATCH`] when none matched.
    pub route_name: &'a str,
    /// The `to` regex's groups: `captures[0]` is the whole match (`$0`), `captures[n]` is `$n`
    /// (empty when the group did not take part). Empty when the route has no `to`.
    pub captures: Vec<String>,
    /// What to do.
    pub decision: Decision,
}

impl Match<'_> {
    /// True when a route matched (false for the implicit final 404).
    pub fn matched(&self) -> bool {
        self.route_name != NO_MATCH
    }
}

/// The route name reported when no route matches (the call is rejected 404).
pub const NO_MATCH: &str = "(no route matched)";

/// A loaded, validated dialplan.
#[derive(Debug, Clone, Default)]
pub struct Dialplan {
    /// The routes, in evaluation order (files in name order, routes in file order).
    pub routes: Vec<Route>,
    /// The `[[dialout]]` rules, in evaluation order: what may be dialled
    /// out of a room, and through which trunk.
    pub dialouts: Vec<DialoutRule>,
    /// What was loaded: the directory or file path.
    pub source: String,
    /// The files read, in order.
    pub files: Vec<String>,
    /// The files' names, sizes and modification times when they were read.
    pub(crate) fingerprint: super::watch::Fingerprint,
}

impl Dialplan {
    /// A plan with no routes: every call is rejected 404.
    pub fn empty(source: impl Into<String>) -> Dialplan {
        Dialplan {
            source: source.into(),
            ..Dialplan::default()
        }
    }
}

/// One `[[route]]`.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its `name` (default `FILE#N`, N counting routes in the file from 1).
    pub name: String,
    /// The file it was read from.
    pub file: String,
    /// The line of its `[[route]]` header (1-based).
    pub line: u32,
    pub(crate) conditions: Conditions,
    pub(crate) action: Action,
}

/// A route's conditions; all present ones must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub(crate) to: Option<Regex>,
    pub(crate) from: Option<Regex>,
    pub(crate) source: Vec<Cidr>,
    /// `trunk`: the call came from one of these trunks.
    pub(crate) trunks: Vec<String>,
    pub(crate) headers: Vec<HeaderCondition>,
    pub(crate) time: Vec<TimeWindow>,
}

/// `header.<Name> = 'regex'`.
#[derive(Debug, Clone)]
pub(crate) struct HeaderCondition {
    /// As written; compared case-insensitively.
    pub(crate) name: String,
    pub(crate) regex: Regex,
}

/// An address block, `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

/// A weekly window: the days it starts on and `[start, end)` in minutes of
/// the day. `end <= start` means it runs past midnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWindow {
    /// Bit `d` set when the window starts on weekday `d` (0 = Monday).
    pub(crate) days: u8,
    pub(crate) start: u16,
    pub(crate) end: u16,
}

/// What a matching route does; strings may hold `$n` captures.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Conference {
        room: Template,
        pin: Option<Template>,
        moderator_pin: Option<Template>,
        muted: bool,
        max_members: Option<u32>,
        record: bool,
    },
    Ivr,
    User {
        user: Template,
        timeout: Duration,
    },
    Redirect {
        target: Template,
    },
    Reject {
        code: u16,
        reason: Template,
    },
}

/// A string with capture references, split into pieces at parse time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Template(pub(crate) Vec<Piece>);

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Lit(String),
    /// `$n` / `${to.n}`: group n of the `to` regex.
    To(usize),
    /// `${from.n}`.
    From(usize),
    /// `${header.Name.n}`: group n of the header condition at this index.
    Header(usize, usize),
}

impl Template {
    /// The text when it holds no captures.
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

/// A mistake in a dialplan file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialplanError {
    /// The file (or directory, for errors reading it).
    pub file: String,
    /// 1-based line; 0 when the error is about the file as a whole (it cannot be read).
    pub line: u32,
    /// 1-based column, counted in characters; 0 with `line` 0.
    pub column: u32,
    /// Byte range in the file the error is about (empty when unknown), for underlining.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DialplanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for DialplanError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_parsed_not_validated() {
        assert_eq!(RoomName::parse("room-1234").unwrap().as_str(), "room-1234");
        assert_eq!(RoomName::parse("a.b_c-D9").unwrap().to_string(), "a.b_c-D9");
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert!(matches!(
            RoomName::parse("a b"),
            Err(RoomNameError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            RoomName::parse("é"),
            Err(RoomNameError::BadChar { ch: 'é', .. })
        ));
        assert!(RoomName::parse(&"x".repeat(64)).is_ok());
        assert!(matches!(
            RoomName::parse(&"x".repeat(65)),
            Err(RoomNameError::TooLong(_))
        ));
    }

    #[test]
    fn pins_and_meeting_ids_are_digits() {
        assert!(validate_pin("0").is_ok());
        assert!(validate_pin("123456789012").is_ok());
        assert!(validate_pin("1234567890123").is_err());
        assert!(validate_pin("").is_err());
        assert!(validate_pin("12a").is_err());
        assert!(validate_meeting_id("1234").is_ok());
        assert!(validate_meeting_id("12 34").is_err());
        assert!(validate_meeting_id(&"1".repeat(21)).is_err());
    }

    #[test]
    fn redirect_targets_are_sip_or_tel_uris_without_injection() {
        assert!(validate_target("sip:alice@example.com").is_ok());
        assert!(validate_target("SIPS:bob@example.com;transport=tls").is_ok());
        assert!(validate_target("tel:+15551234").is_ok());
        assert!(validate_target("http://x").is_err());
        assert!(validate_target("sip:").is_err());
        assert!(validate_target("sip:a@b\r\nX: y").is_err());
        assert!(validate_target("sip:a@b>;x").is_err());
    }

    #[test]
    fn decisions_read_as_plain_words() {
        let d = Decision::Conference {
            room: RoomName::parse("board").unwrap(),
            pin: Some("4321".into()),
            moderator_pin: None,
            muted: true,
            max_members: Some(10),
            record: false,
        };
        assert_eq!(
            d.to_string(),
            "conference room \"board\" (pin required, joins muted, at most 10 members)"
        );
        let d = Decision::Reject {
            code: 404,
            reason: "Not Found".into(),
        };
        assert_eq!(d.to_string(), "reject 404 Not Found");
    }
}
