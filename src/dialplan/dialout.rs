//! `[[dialout]]` rules: what a moderator or an operator may dial out of a
//! room, and through which trunk. Rules are tried in order and the first
//! whose conditions hold decides; a number no rule allows is refused, so a
//! dialplan without `[[dialout]]` tables allows no dial-out at all.
//!
//! ```toml
//! [[dialout]]
//! name = "national numbers"
//! to = '^0(\d{9,10})$'      # regex over the number asked for; $1.. below
//! room = '^(sales|support)-' # optional: regex over the room's name
//! action = "dial"
//! trunk = "provider"
//! number = "+49$1"           # optional rewrite (default: the number as asked)
//!
//! [[dialout]]
//! name = "no premium numbers"
//! to = '^0900'
//! action = "reject"
//! code = 403
//! reason = "Premium numbers are not allowed"
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use regex::Regex;
use toml::de::{DeTable, DeValue};

use super::model::{Piece, Template, default_reason};
use super::parse::{CaptureScope, Check, FileParser, Groups, Value, groups_of, suggest};

/// Every key a `[[dialout]]` may have.
const KEYS: &[&str] = &[
    "name", "to", "room", "action", "trunk", "number", "code", "reason",
];

/// One `[[dialout]]`.
#[derive(Debug, Clone)]
pub struct DialoutRule {
    /// Its `name` (default `FILE#dialout-N`).
    pub name: String,
    /// The file it was read from.
    pub file: String,
    /// The line of its `[[dialout]]` header (1-based).
    pub line: u32,
    to: Option<Regex>,
    room: Option<Regex>,
    action: DialAction,
}

#[derive(Debug, Clone)]
enum DialAction {
    Dial { trunk: String, number: Template },
    Reject { code: u16, reason: Template },
}

/// What the dialplan says of a dial-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialDecision {
    /// Call `number` through `trunk`.
    Dial {
        /// The trunk's name.
        trunk: String,
        /// The number to put in the Request-URI (after any rewrite).
        number: String,
    },
    /// Not allowed.
    Refuse {
        /// A SIP-like code (403 when no rule allows it).
        code: u16,
        /// Why, in words.
        reason: String,
    },
}

impl fmt::Display for DialDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialDecision::Dial { trunk, number } => {
                write!(f, "dial {number} through trunk \"{trunk}\"")
            }
            DialDecision::Refuse { code, reason } => write!(f, "refuse {code} {reason}"),
        }
    }
}

/// The rule that decided (its name; [`NO_DIALOUT_RULE`] when none matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialMatch<'a> {
    /// The rule's name.
    pub rule: &'a str,
    /// What to do.
    pub decision: DialDecision,
}

/// The rule name reported when no `[[dialout]]` rule matches.
pub const NO_DIALOUT_RULE: &str = "(no dialout rule matched)";

/// A number as dialled out: 1–32 characters of digits, `+`, `*` and `#`
/// (what a keypad or an E.164 number holds).
pub fn validate_number(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 32
        && n.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{n:.40?} is not a phone number: 1 to 32 digits, '+', '*' or '#'"
        ))
    }
}

impl super::Dialplan {
    /// May `number` be dialled out of `room`? The first `[[dialout]]` rule
    /// whose conditions hold decides; with none, it is refused (403).
    pub fn eval_dialout<'a>(&'a self, number: &str, room: &str) -> DialMatch<'a> {
        if let Err(e) = validate_number(number) {
            return DialMatch {
                rule: NO_DIALOUT_RULE,
                decision: DialDecision::Refuse {
                    code: 400,
                    reason: e,
                },
            };
        }
        for r in &self.dialouts {
            if r.room.as_ref().is_some_and(|re| !re.is_match(room)) {
                continue;
            }
            let caps: Vec<String> = match &r.to {
                Some(re) => match re.captures(number) {
                    Some(c) => c
                        .iter()
                        .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                        .collect(),
                    None => continue,
                },
                None => vec![number.to_string()],
            };
            let render = |t: &Template| -> String {
                t.0.iter()
                    .map(|p| match p {
                        Piece::Lit(s) => s.as_str(),
                        Piece::To(n) => caps.get(*n).map_or("", String::as_str),
                        _ => "",
                    })
                    .collect()
            };
            let decision = match &r.action {
                DialAction::Dial { trunk, number: t } => {
                    let n = render(t);
                    match validate_number(&n) {
                        Ok(()) => DialDecision::Dial {
                            trunk: trunk.clone(),
                            number: n,
                        },
                        Err(e) => DialDecision::Refuse {
                            code: 400,
                            reason: format!("the rewritten number {e}"),
                        },
                    }
                }
                DialAction::Reject { code, reason } => DialDecision::Refuse {
                    code: *code,
                    reason: render(reason),
                },
            };
            return DialMatch {
                rule: &r.name,
                decision,
            };
        }
        DialMatch {
            rule: NO_DIALOUT_RULE,
            decision: DialDecision::Refuse {
                code: 403,
                reason: "no dialout rule of the dialplan allows this number".into(),
            },
        }
    }
}

impl FileParser<'_> {
    /// The `dialout` key of a file: a list of tables.
    pub(super) fn dialouts(
        &mut self,
        key_span: Range<usize>,
        value: &Value<'_>,
        base: &str,
        out: &mut Vec<DialoutRule>,
    ) {
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                key_span,
                "write [[dialout]] (double brackets): dial-out rules are a list of tables",
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => {
                    if let Some(r) =
                        self.dialout(item.span(), t, &format!("{base}#dialout-{}", i + 1))
                    {
                        out.push(r);
                    }
                }
                other => self.error(
                    item.span(),
                    format!("each dialout must be a table, found {}", other.type_str()),
                ),
            }
        }
    }

    fn dialout(
        &mut self,
        span: Range<usize>,
        t: &DeTable<'_>,
        default_name: &str,
    ) -> Option<DialoutRule> {
        let before = self.errors_len();
        let mut fields: HashMap<&str, &Value<'_>> = HashMap::new();
        for (k, v) in t.iter() {
            let name: &str = k.get_ref();
            match KEYS.iter().find(|&&known| known == name) {
                Some(known) => {
                    fields.insert(known, v);
                }
                None => self.error(
                    k.span(),
                    format!("unknown key \"{name}\" in dialout{}", suggest(name, KEYS)),
                ),
            }
        }
        let name = fields
            .get("name")
            .and_then(|v| self.string("name", v))
            .unwrap_or_else(|| default_name.to_string());
        let to = fields.get("to").and_then(|v| self.regex("to", v));
        let room = fields.get("room").and_then(|v| self.regex("room", v));
        // Without `to`, `$0` is the whole number.
        let scope = CaptureScope {
            to: match (fields.contains_key("to"), &to) {
                (false, _) => Groups::Count(0),
                (true, re) => groups_of(re.as_ref()),
            },
            from: Groups::Absent,
            headers: &[],
        };
        let action = match fields.get("action").and_then(|v| self.string("action", v)) {
            Some(a) if a == "dial" => {
                for k in ["code", "reason"] {
                    if let Some(v) = fields.get(k) {
                        self.error(
                            v.span(),
                            format!("\"{k}\" does not apply to action \"dial\" (it belongs to \"reject\")"),
                        );
                    }
                }
                let trunk = match fields.get("trunk") {
                    Some(v) => self.string("trunk", v).filter(|s| {
                        let ok = !s.is_empty();
                        if !ok {
                            self.error(v.span(), "\"trunk\" must name a trunk");
                        }
                        ok
                    }),
                    None => {
                        self.error(
                            span.clone(),
                            "action \"dial\" needs \"trunk\", e.g. trunk = \"provider\"",
                        );
                        None
                    }
                };
                let number = match fields.get("number") {
                    Some(v) => self.template("number", v, &scope, Check::Number),
                    None => Some(Template(vec![Piece::To(0)])),
                };
                DialAction::Dial {
                    trunk: trunk?,
                    number: number?,
                }
            }
            Some(a) if a == "reject" => {
                for k in ["trunk", "number"] {
                    if let Some(v) = fields.get(k) {
                        self.error(
                            v.span(),
                            format!("\"{k}\" does not apply to action \"reject\" (it belongs to \"dial\")"),
                        );
                    }
                }
                let code = match fields.get("code") {
                    Some(v) => self.integer_in("code", v, 400, 699).map(|c| c as u16),
                    None => Some(403),
                };
                let reason = match fields.get("reason") {
                    Some(v) => self.template("reason", v, &scope, Check::Reason),
                    None => code.map(|c| Template(vec![Piece::Lit(default_reason(c).into())])),
                };
                DialAction::Reject {
                    code: code?,
                    reason: reason?,
                }
            }
            Some(other) => {
                let v = fields.get("action").expect("read above");
                self.error(
                    v.span(),
                    format!(
                        "unknown dialout action {other:?}: use dial or reject{}",
                        suggest(&other, &["dial", "reject"])
                    ),
                );
                return None;
            }
            None => {
                if !fields.contains_key("action") {
                    self.error(
                        span.clone(),
                        "dialout has no \"action\": add action = \"dial\" or \"reject\"",
                    );
                }
                return None;
            }
        };
        if self.errors_len() > before {
            return None;
        }
        Some(DialoutRule {
            name,
            file: self.file_name().to_string(),
            line: self.position(span.start).0,
            to,
            room,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::parse_str;

    const PLAN: &str = r#"
[[dialout]]
name = "no premium"
to = '^0900'
action = "reject"
reason = "Premium numbers are not allowed"

[[dialout]]
name = "national"
to = '^0(\d{6,10})$'
room = '^(sales|did)-'
action = "dial"
trunk = "prov"
number = "+49$1"

[[dialout]]
name = "internal"
to = '^7\d\d$'
action = "dial"
trunk = "pbx"
"#;

    #[test]
    fn the_first_matching_dialout_rule_decides_and_rewrites_the_number() {
        let p = parse_str("d.toml", PLAN).unwrap();
        let m = p.eval_dialout("0301234567", "sales-1");
        assert_eq!(m.rule, "national");
        assert_eq!(
            m.decision,
            DialDecision::Dial {
                trunk: "prov".into(),
                number: "+49301234567".into()
            }
        );
        let m = p.eval_dialout("701", "anything");
        assert_eq!(
            m.decision,
            DialDecision::Dial {
                trunk: "pbx".into(),
                number: "701".into()
            }
        );
        let m = p.eval_dialout("0900123456", "sales-1");
        assert_eq!(m.rule, "no premium");
        assert_eq!(
            m.decision,
            DialDecision::Refuse {
                code: 403,
                reason: "Premium numbers are not allowed".into()
            }
        );
    }

    #[test]
    fn numbers_no_rule_allows_are_refused() {
        let p = parse_str("d.toml", PLAN).unwrap();
        // Right number, wrong room.
        let m = p.eval_dialout("0301234567", "board");
        assert_eq!(m.rule, NO_DIALOUT_RULE);
        assert!(matches!(m.decision, DialDecision::Refuse { code: 403, .. }));
        // Not a number at all.
        let m = p.eval_dialout("sip:evil@example.com", "sales-1");
        assert!(matches!(m.decision, DialDecision::Refuse { code: 400, .. }));
        // A plan without [[dialout]] allows nothing.
        let p = parse_str("d.toml", "[[route]]\naction = \"ivr\"\n").unwrap();
        assert!(matches!(
            p.eval_dialout("701", "r").decision,
            DialDecision::Refuse { code: 403, .. }
        ));
    }

    #[test]
    fn dialout_mistakes_are_reported_with_line_and_column() {
        let errs = parse_str(
            "d.toml",
            "[[dialout]]\nto = '^(0'\naction = \"dial\"\ntrunk = \"p\"\n\n[[dialout]]\naction = \"diall\"\n\n[[dialout]]\naction = \"dial\"\nnumber = \"+1$2\"\ntrunk = \"p\"\nto = '^(\\d+)$'\n\n[[dialout]]\naction = \"dial\"\n",
        )
        .unwrap_err();
        let at: Vec<(u32, u32)> = errs.iter().map(|e| (e.line, e.column)).collect();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(at.contains(&(2, 8)), "the unclosed group: {text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("d.toml:7:10") && t.contains("did you mean \"dial\"")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("d.toml:11:")),
            "$2 of a one-group regex: {text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("d.toml:15:1") && t.contains("needs \"trunk\"")),
            "{text:#?}"
        );
    }
}
