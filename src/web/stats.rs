//! `GET /api/v1/stats`: calls, registrations, media legs and rooms now, and
//! one sample a minute for the last hour (the dashboard's chart). The
//! samples live in memory: a restart starts a new hour.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use super::AppState;
use super::api::ApiError;
use super::auth::principal;
use crate::server::Status;
use crate::store::unix_now;

/// How often a sample is taken, and how many are kept (one hour).
pub(super) const EVERY: Duration = Duration::from_secs(60);
const KEEP: usize = 60;

/// One moment's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Sample {
    /// Unix seconds.
    pub(crate) t: u64,
    pub(crate) calls: u64,
    pub(crate) registrations: u64,
    pub(crate) legs: u64,
    pub(crate) rooms: u64,
}

impl Sample {
    /// The numbers in `status` at `t`.
    pub(crate) fn of(status: &Status, t: u64) -> Sample {
        let media = &status.media;
        Sample {
            t,
            calls: status.calls.load(Ordering::Relaxed) as u64,
            registrations: status.registrations.load(Ordering::Relaxed) as u64,
            legs: media.legs.load(Ordering::Relaxed).max(0) as u64,
            rooms: media.rooms.load(Ordering::Relaxed).max(0) as u64,
        }
    }
}

/// The last hour of samples, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History(VecDeque<Sample>);

impl History {
    /// Adds a sample, dropping those older than an hour.
    pub(crate) fn push(&mut self, s: Sample) {
        self.0.push_back(s);
        while self.0.len() > KEEP {
            self.0.pop_front();
        }
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        self.0.iter().copied().collect()
    }
}

/// Samples `status` now and every [`EVERY`] into `history`.
pub(super) fn spawn_sampler(status: Arc<Status>, history: Arc<std::sync::Mutex<History>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = Sample::of(&status, unix_now());
            history
                .lock()
                .expect("the stats lock is never poisoned: pushing cannot panic")
                .push(s);
        }
    });
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}

async fn stats(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let now = Sample::of(&s.status, unix_now());
    let hour = s
        .admin
        .history
        .lock()
        .expect("the stats lock is never poisoned: pushing cannot panic")
        .samples();
    Ok(
        Json(json!({"now": now, "every_seconds": EVERY.as_secs(), "last_hour": hour}))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_keeps_the_last_hour() {
        let mut h = History::default();
        for t in 0..100 {
            h.push(Sample {
                t,
                calls: t,
                registrations: 0,
                legs: 0,
                rooms: 0,
            });
        }
        let s = h.samples();
        assert_eq!(s.len(), 60);
        assert_eq!((s[0].t, s[59].t), (40, 99));
    }
}
