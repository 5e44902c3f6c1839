//! The JSON API, `/api/v1` (live rooms here, dialplans in `dialplans`).
//! Scripts authenticate with `Authorization: Bearer TOKEN` (tokens from
//! `dialroom token add`), the admin pages with their session cookie and an
//! `X-CSRF-Token` header on changes (see `auth`);
//! a viewer token reads, an admin token also changes things. Every error
//! is JSON with a stable code: `{"error": {"code": "...", "message": "..."}}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::oneshot;

use super::AppState;

#[path = "recordings.rs"]
mod recordings;
use crate::sip::admin::{AdminError, AdminRequest};
use crate::sip::dialout::DialOutError;

/// The routes under `/api/v1`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/rooms", get(rooms))
        .route("/rooms/{room}/participants/{id}/kick", post(kick))
        .route("/rooms/{room}/participants/{id}/mute", post(mute))
        .route("/rooms/{room}/lock", post(lock))
        .route("/rooms/{room}/dial", post(dial))
        .route("/openapi.json", get(super::openapi))
        .merge(super::dialplans::routes())
        .merge(super::directory::routes())
        .merge(super::trunks::routes())
        .merge(super::stats::routes())
        .merge(recordings::routes())
}

/// An API error: status, stable code, message.
pub(super) struct ApiError(
    pub(super) StatusCode,
    pub(super) &'static str,
    pub(super) String,
);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.1, "message": self.2}}));
        if self.0 == StatusCode::UNAUTHORIZED {
            (self.0, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (self.0, body).into_response()
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let (status, code) = match e {
            AdminError::NoSuchRoom(_) => (StatusCode::NOT_FOUND, "room_not_found"),
            AdminError::NoSuchParticipant(..) => (StatusCode::NOT_FOUND, "participant_not_found"),
            AdminError::BrowserUnmute => (StatusCode::CONFLICT, "browser_unmute"),
        };
        ApiError(status, code, e.to_string())
    }
}

impl From<DialOutError> for ApiError {
    fn from(e: DialOutError) -> Self {
        let (status, code) = match &e {
            DialOutError::Refused { code: 400, .. } => (StatusCode::BAD_REQUEST, "bad_number"),
            DialOutError::Refused { .. } => (StatusCode::FORBIDDEN, "dialout_not_allowed"),
            DialOutError::BadNumber(_) => (StatusCode::BAD_REQUEST, "bad_number"),
            DialOutError::BadRoom(_) => (StatusCode::BAD_REQUEST, "bad_room"),
            DialOutError::Trunk(_) => (StatusCode::CONFLICT, "trunk_cannot_dial"),
            DialOutError::NoPorts => (StatusCode::SERVICE_UNAVAILABLE, "no_rtp_ports"),
        };
        ApiError(status, code, e.to_string())
    }
}

/// Checks the bearer token or the admin session (with its CSRF header when
/// `change`); `change` asks for the admin role.
async fn authorize(s: &AppState, headers: &HeaderMap, change: bool) -> Result<(), ApiError> {
    super::auth::principal(s, headers, change).await.map(drop)
}

/// Sends a request to the endpoint task and waits for its answer.
async fn ask<T>(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> AdminRequest,
) -> Result<T, ApiError> {
    let unavailable = || {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "sip_unavailable",
            "the SIP endpoint is not running".into(),
        )
    };
    let tx = s.status.admin.get().ok_or_else(unavailable)?;
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).await.map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

/// Reads a JSON body; a bad one is a 400 with the parser's words.
pub(super) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "bad_request", format!("body: {e}")))
}

/// A participant id from the path.
fn participant(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("participant id {id:?} is not a number"),
        )
    })
}

async fn rooms(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&s, &headers, false).await?;
    let mut rooms = ask(&s, AdminRequest::Rooms).await?;
    for p in rooms.iter_mut().flat_map(|r| r.participants.iter_mut()) {
        if p.kind == "phone" {
            p.talking = s.status.media.is_talking(p.id);
            p.rtp = s.status.media.leg_rtp(p.id);
        }
    }
    Ok(Json(json!({ "rooms": rooms })).into_response())
}

async fn kick(
    State(s): State<AppState>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    authorize(&s, &headers, true).await?;
    let leg = participant(&id)?;
    ask(&s, |reply| AdminRequest::Kick { room, leg, reply }).await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteBody {
    muted: bool,
}

async fn mute(
    State(s): State<AppState>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    authorize(&s, &headers, true).await?;
    let leg = participant(&id)?;
    let MuteBody { muted } = body(&bytes)?;
    ask(&s, |reply| AdminRequest::Mute {
        room,
        leg,
        muted,
        reply,
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    locked: bool,
}

async fn lock(
    State(s): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    authorize(&s, &headers, true).await?;
    let LockBody { locked } = body(&bytes)?;
    ask(&s, |reply| AdminRequest::Lock {
        room,
        locked,
        reply,
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DialBody {
    number: String,
}

/// Calls a number into the room (202: the call is placed; the callee is a
/// participant once it answers, listed under the room's `dialing` until then).
async fn dial(
    State(s): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let by = super::auth::principal(&s, &headers, true).await?.by();
    let DialBody { number } = body(&bytes)?;
    let started = ask(&s, |reply| AdminRequest::DialOut {
        room,
        number,
        by,
        reply,
    })
    .await??;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}
