//! Evaluation: call facts in, the first matching route's decision out. Pure:
//! no clock, no I/O, no locks; the caller passes the local weekday and time.

use std::net::IpAddr;

use super::model::{
    Action, CallFacts, Cidr, Decision, Dialplan, Match, NO_MATCH, Piece, RoomName, Route, Template,
    TimeWindow, default_reason, validate_pin, validate_target,
};
use crate::sip::registrar::Aor;

impl Dialplan {
    /// The first route whose conditions all hold decides; with none, the call
    /// is rejected `404 Not Found` (`route_index == routes.len()`).
    pub fn eval<'a>(&'a self, facts: &CallFacts<'_>) -> Match<'a> {
        for (i, route) in self.routes.iter().enumerate() {
            if let Some((captures, decision)) = route.try_match(facts) {
                return Match {
                    route_index: i,
                    route_name: &route.name,
                    captures,
                    decision,
                };
            }
        }
        Match {
            route_index: self.routes.len(),
            route_name: NO_MATCH,
            captures: Vec::new(),
            decision: Decision::Reject {
                code: 404,
                reason: default_reason(404).to_string(),
            },
        }
    }
}

/// The local weekday (0 = Monday) and minute of the day at `unix_secs`, in a
/// timezone `offset_minutes` east of UTC (`[dialplan] timezone_offset_minutes`).
pub fn local_clock(unix_secs: i64, offset_minutes: i32) -> (u8, u16) {
    let minutes = unix_secs.div_euclid(60) + i64::from(offset_minutes);
    let day = minutes.div_euclid(24 * 60);
    let minute = minutes.rem_euclid(24 * 60) as u16;
    // 1970-01-01 was a Thursday.
    let weekday = (day + 3).rem_euclid(7) as u8;
    (weekday, minute)
}

/// Parses a local time `DAY HH:MM` (e.g. `mon 09:30`; any day name that
/// starts with the three-letter abbreviation) into (weekday 0 = Monday,
/// minute of the day), as [`local_clock`] gives them.
pub fn parse_day_time(at: &str) -> Result<(u8, u16), String> {
    let bad = || format!("{at:?}: write 'DAY HH:MM', e.g. 'mon 09:30'");
    let (day, time) = at.trim().split_once(' ').ok_or_else(bad)?;
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| day.trim().to_ascii_lowercase().starts_with(d))
        .ok_or_else(bad)? as u8;
    let (h, m) = time.trim().split_once(':').ok_or_else(bad)?;
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((day, h * 60 + m))
}

/// The values capture references are filled from.
struct Captured<'a> {
    to: &'a [String],
    from: &'a [String],
    headers: &'a [Vec<String>],
}

fn groups(c: regex::Captures<'_>) -> Vec<String> {
    c.iter()
        .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
        .collect()
}

impl Route {
    fn try_match(&self, f: &CallFacts<'_>) -> Option<(Vec<String>, Decision)> {
        let c = &self.conditions;
        if !c.source.is_empty() && !c.source.iter().any(|n| n.contains(f.source)) {
            return None;
        }
        if !c.trunks.is_empty() && !f.trunk.is_some_and(|t| c.trunks.iter().any(|x| x == t)) {
            return None;
        }
        if !c.time.is_empty()
            && !c
                .time
                .iter()
                .any(|w| w.contains(f.weekday, f.minute_of_day))
        {
            return None;
        }
        let to = match &c.to {
            Some(re) => groups(re.captures(f.to_user)?),
            None => Vec::new(),
        };
        let from = match &c.from {
            Some(re) => groups(re.captures(f.from_user)?),
            None => Vec::new(),
        };
        let mut headers = Vec::with_capacity(c.headers.len());
        for h in &c.headers {
            let caps = f
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(&h.name))
                .find_map(|(_, value)| h.regex.captures(value))?;
            headers.push(groups(caps));
        }
        let decision = self.action.decide(&Captured {
            to: &to,
            from: &from,
            headers: &headers,
        });
        Some((to, decision))
    }
}

fn reject(code: u16, reason: &str) -> Decision {
    Decision::Reject {
        code,
        reason: reason.to_string(),
    }
}

impl Action {
    fn decide(&self, caps: &Captured<'_>) -> Decision {
        match self {
            Action::Conference {
                room,
                pin,
                moderator_pin,
                muted,
                max_members,
                record,
            } => {
                let Ok(room) = RoomName::parse(&room.render(caps)) else {
                    return reject(404, "Invalid Room Name");
                };
                let mut pins = [None, None];
                for (slot, t) in pins.iter_mut().zip([pin, moderator_pin]) {
                    if let Some(t) = t {
                        let p = t.render(caps);
                        if validate_pin(&p).is_err() {
                            return reject(404, "Invalid PIN");
                        }
                        *slot = Some(p);
                    }
                }
                let [pin, moderator_pin] = pins;
                Decision::Conference {
                    room,
                    pin,
                    moderator_pin,
                    muted: *muted,
                    max_members: *max_members,
                    record: *record,
                }
            }
            Action::Ivr => Decision::Ivr,
            Action::User { user, timeout } => {
                let user = user.render(caps);
                if Aor::parse(&user).is_err() {
                    return reject(404, "Invalid User");
                }
                Decision::User {
                    user,
                    timeout: *timeout,
                }
            }
            Action::Redirect { target } => {
                let target = target.render(caps);
                if validate_target(&target).is_err() {
                    return reject(404, "Invalid Redirect Target");
                }
                Decision::Redirect { target }
            }
            Action::Reject { code, reason } => {
                let text: String = reason
                    .render(caps)
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(128)
                    .collect();
                let text = text.trim();
                Decision::Reject {
                    code: *code,
                    reason: if text.is_empty() {
                        default_reason(*code).to_string()
                    } else {
                        text.to_string()
                    },
                }
            }
        }
    }
}

impl Template {
    fn render(&self, caps: &Captured<'_>) -> String {
        let get = |v: Option<&Vec<String>>, n: usize| -> String {
            v.and_then(|g| g.get(n)).cloned().unwrap_or_default()
        };
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::To(n) => out.push_str(caps.to.get(*n).map_or("", String::as_str)),
                Piece::From(n) => out.push_str(caps.from.get(*n).map_or("", String::as_str)),
                Piece::Header(h, n) => out.push_str(&get(caps.headers.get(*h), *n)),
            }
        }
        out
    }
}

impl Cidr {
    /// The address with the host bits cleared.
    pub(crate) fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.prefix)).into()),
        }
    }

    /// True when `ip` is in this block (IPv4 only in IPv4 blocks, IPv6 in IPv6;
    /// an IPv4-mapped IPv6 address `::ffff:a.b.c.d` counts as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                u32::from(n) & mask32(self.prefix) == u32::from(a) & mask32(self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                u128::from(n) & mask128(self.prefix) == u128::from(a) & mask128(self.prefix)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl TimeWindow {
    /// True at `minute` (0–1439) of `weekday` (0 = Monday). A window that runs
    /// past midnight (`end <= start`) covers the early part of the next day.
    pub(crate) fn contains(&self, weekday: u8, minute: u16) -> bool {
        let today = weekday % 7;
        let yesterday = (today + 6) % 7;
        let on = |d: u8| self.days & (1 << d) != 0;
        if self.start < self.end {
            on(today) && minute >= self.start && minute < self.end
        } else {
            (on(today) && minute >= self.start) || (on(yesterday) && minute < self.end)
        }
    }
}
