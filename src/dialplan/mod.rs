//! Dialplans: ordered TOML routes that decide what happens to a call.
//!
//! * [`load`] reads a directory of `*.toml` files (or one file) into a
//!   validated [`Dialplan`], or returns every [`DialplanError`] with its
//!   `file:line:column`; [`parse_str`] does the same for text in memory.
//! * [`Dialplan::eval`] is pure: [`CallFacts`] in (the dialled user part,
//!   From user, source address, headers, local weekday and minute, which the
//!   caller computes with [`local_clock`]), a [`Match`] with the
//!   [`Decision`] out. The first route whose conditions all hold wins; none
//!   gives `404`.
//! * [`spawn_watcher`] polls the files and publishes each good new plan on a
//!   `tokio::sync::watch` channel, keeping the last good plan on errors.
//! * [`LivePlan`] keeps the running plan in the database with its version
//!   history; the files seed it and a changed file is saved as a version.
//!
//! * [`Dialplan::eval_dialout`] says whether a number may be dialled out of
//!   a room and through which trunk (`[[dialout]]` rules; none allows nothing).
//!
//! The file format is documented in docs/dialplan.md.

mod dialout;
mod eval;
mod live;
mod model;
mod parse;
mod watch;

pub use dialout::{DialDecision, DialMatch, DialoutRule, NO_DIALOUT_RULE, validate_number};
pub use eval::{local_clock, parse_day_time};
pub use live::{
    FILES_AUTHOR, LivePlan, PLAN_FILE, PLAN_NAME, SaveError, files_text, parse_version,
};
pub use model::{
    CallFacts, Decision, Dialplan, DialplanError, Match, NO_MATCH, RoomName, RoomNameError, Route,
    default_reason, validate_meeting_id, validate_pin, validate_target,
};
pub use parse::{load, parse_str};
// Used by call control for trunk source addresses.
pub(crate) use model::Cidr;
pub(crate) use parse::parse_cidr;
pub use watch::{DEFAULT_INTERVAL, spawn_watcher};

#[cfg(test)]
mod tests;
