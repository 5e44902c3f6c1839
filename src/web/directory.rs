//! `/api/v1/users`, `/meetings`, `/registrations`: SIP users (add, reset
//! password, remove), meeting ids (add, remove) and who is registered from
//! where until when. The same rules as the `dialroom user` and `meeting`
//! commands; changes reach the SIP core through the users poller (users)
//! or the next lookup (meetings).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, put};
use serde_json::json;

use super::AppState;
use super::api::{ApiError, body};
use super::auth::principal;
use crate::dialplan::{RoomName, validate_meeting_id, validate_pin};
use crate::sip::auth::Credentials;
use crate::sip::registrar::Aor;
use crate::store::{StoreError, unix_now};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(users).post(add_user))
        .route("/users/{name}", axum::routing::delete(remove_user))
        .route("/users/{name}/password", put(set_password))
        .route("/meetings", get(meetings).post(add_meeting))
        .route("/meetings/{id}", axum::routing::delete(remove_meeting))
        .route("/registrations", get(registrations))
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request", m.into())
}

/// Store errors as API errors: `exists` / `missing` name the thing.
fn store_error(e: StoreError, exists: &'static str, missing: &'static str) -> ApiError {
    match e {
        StoreError::Exists(what) => ApiError(
            StatusCode::CONFLICT,
            exists,
            format!("{what} already exists"),
        ),
        StoreError::Missing(what) => ApiError(
            StatusCode::NOT_FOUND,
            missing,
            format!("{what} does not exist"),
        ),
        e => {
            tracing::error!("directory: {e}");
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database did not answer".into(),
            )
        }
    }
}

fn password(pw: &str) -> Result<(), ApiError> {
    if pw.is_empty() || pw.chars().count() > 128 || pw.chars().any(char::is_control) {
        return Err(bad(
            "a password is 1-128 characters without control characters",
        ));
    }
    Ok(())
}

async fn users(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let list = s
        .store
        .list_users()
        .await
        .map_err(|e| store_error(e, "user_exists", "user_not_found"))?;
    let list: Vec<_> = list
        .iter()
        .map(|u| json!({"name": u.name, "realm": u.realm, "created_at": u.created_at}))
        .collect();
    Ok(Json(json!({ "users": list })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
}

async fn add_user(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    principal(&s, &headers, true).await?;
    let NewUser { name, password: pw } = body(&bytes)?;
    let aor = Aor::parse(&name).map_err(bad)?;
    password(&pw)?;
    let realm = &s.admin.sip_domain;
    s.store
        .add_user(
            aor.as_str(),
            &Credentials::from_password(aor.as_str(), realm, &pw),
        )
        .await
        .map_err(|e| store_error(e, "user_exists", "user_not_found"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": aor.as_str(), "realm": realm, "created_at": unix_now()})),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    principal(&s, &headers, true).await?;
    let NewPassword { password: pw } = body(&bytes)?;
    password(&pw)?;
    let creds = Credentials::from_password(&name, &s.admin.sip_domain, &pw);
    s.store
        .set_user_credentials(&name, &creds)
        .await
        .map_err(|e| store_error(e, "user_exists", "user_not_found"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_user(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal(&s, &headers, true).await?;
    s.store
        .remove_user(&name)
        .await
        .map_err(|e| store_error(e, "user_exists", "user_not_found"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn meetings(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let list = s
        .store
        .list_meetings()
        .await
        .map_err(|e| store_error(e, "meeting_exists", "meeting_not_found"))?;
    let list: Vec<_> = list
        .iter()
        .map(|m| {
            json!({"id": m.id, "room": m.room.as_str(), "pin": m.pin,
                   "moderator_pin": m.moderator_pin, "created_at": m.created_at})
        })
        .collect();
    Ok(Json(json!({ "meetings": list })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMeeting {
    id: String,
    room: String,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    moderator_pin: Option<String>,
}

async fn add_meeting(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    principal(&s, &headers, true).await?;
    let m: NewMeeting = body(&bytes)?;
    validate_meeting_id(&m.id).map_err(bad)?;
    let room = RoomName::parse(&m.room).map_err(|e| bad(e.to_string()))?;
    let pin = m.pin.filter(|p| !p.is_empty());
    let moderator_pin = m.moderator_pin.filter(|p| !p.is_empty());
    for p in [&pin, &moderator_pin].into_iter().flatten() {
        validate_pin(p).map_err(bad)?;
    }
    if moderator_pin.is_some() && pin.is_none() {
        return Err(bad("a moderator PIN needs a PIN too"));
    }
    if pin.is_some() && pin == moderator_pin {
        return Err(bad("the moderator PIN must differ from the PIN"));
    }
    s.store
        .add_meeting(&m.id, &room, pin.as_deref(), moderator_pin.as_deref())
        .await
        .map_err(|e| store_error(e, "meeting_exists", "meeting_not_found"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": m.id, "room": room.as_str(), "pin": pin,
                    "moderator_pin": moderator_pin, "created_at": unix_now()})),
    )
        .into_response())
}

async fn remove_meeting(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal(&s, &headers, true).await?;
    s.store
        .remove_meeting(&id)
        .await
        .map_err(|e| store_error(e, "meeting_exists", "meeting_not_found"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn registrations(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let now = unix_now();
    let list = s
        .store
        .live_bindings(now)
        .await
        .map_err(|e| store_error(e, "-", "-"))?;
    let list: Vec<_> = list
        .iter()
        .map(|r| {
            json!({
                "user": r.aor,
                "contact": r.binding.contact,
                "expires_at": r.binding.expires_at,
                "expires_in": r.binding.expires_at.saturating_sub(now),
                "received": r.binding.received,
                "user_agent": r.binding.user_agent,
            })
        })
        .collect();
    Ok(Json(json!({ "registrations": list })).into_response())
}
