//! `/api/v1/trunks`: IP-authenticated trunks (calls from their source
//! address blocks are taken without digest auth). The config file's
//! `[[trunk]]` entries are listed read-only; operators add and remove the
//! others, which the SIP core takes in within a second (the trunks poller).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use super::AppState;
use super::api::{ApiError, body};
use super::auth::principal;
use crate::store::StoreError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/trunks", get(list).post(add))
        .route("/trunks/{name}", axum::routing::delete(remove))
}

fn unprocessable(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trunk", m.into())
}

fn db(e: StoreError) -> ApiError {
    match e {
        StoreError::Exists(what) => ApiError(
            StatusCode::CONFLICT,
            "trunk_exists",
            format!("{what} already exists"),
        ),
        StoreError::Missing(what) => ApiError(
            StatusCode::NOT_FOUND,
            "trunk_not_found",
            format!("{what} does not exist"),
        ),
        e => {
            tracing::error!("trunks: {e}");
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database did not answer".into(),
            )
        }
    }
}

/// A trunk name: 1-64 of `[A-Za-z0-9._-]` (it appears in logs and in
/// dialplan conditions).
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let stored = s.store.list_trunks().await.map_err(db)?;
    let regs = s.status.trunk_registrations();
    let list: Vec<_> = s
        .admin
        .config_trunks
        .iter()
        .map(|t| {
            let mut v = json!({"name": t.name, "sources": t.sources, "origin": "config"});
            if let Some(r) = &t.registrar {
                let state = regs
                    .iter()
                    .find(|(n, _)| *n == t.name)
                    .map_or_else(|| json!({"state": "registering"}), |(_, st)| json!(st));
                v["registrar"] = json!(r);
                v["username"] = json!(t.username);
                v["registration"] = state;
            }
            v
        })
        .chain(
            stored
                .iter()
                .map(|t| json!({"name": t.name, "sources": t.sources, "origin": "database"})),
        )
        .collect();
    Ok(Json(json!({ "trunks": list })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTrunk {
    name: String,
    sources: Vec<String>,
}

async fn add(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    principal(&s, &headers, true).await?;
    let t: NewTrunk = body(&bytes)?;
    if !valid_name(&t.name) {
        return Err(unprocessable(
            "a trunk name is 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    if t.sources.is_empty() || t.sources.len() > 64 {
        return Err(unprocessable("a trunk needs 1 to 64 source address blocks"));
    }
    for c in &t.sources {
        if let Err(e) = crate::dialplan::parse_cidr(c) {
            return Err(unprocessable(format!("source {c:?}: {e}")));
        }
    }
    if s.admin.config_trunks.iter().any(|c| c.name == t.name) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "trunk_exists",
            format!("trunk {} is defined in the config file", t.name),
        ));
    }
    s.store.add_trunk(&t.name, &t.sources).await.map_err(db)?;
    tracing::info!(name = %t.name, sources = ?t.sources, "trunk added");
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": t.name, "sources": t.sources, "origin": "database"})),
    )
        .into_response())
}

async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal(&s, &headers, true).await?;
    if s.admin.config_trunks.iter().any(|c| c.name == name) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "trunk_in_config",
            format!("trunk {name} is defined in the config file: remove it there"),
        ));
    }
    s.store.remove_trunk(&name).await.map_err(db)?;
    tracing::info!(%name, "trunk removed");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn trunk_names_are_short_and_plain() {
        assert!(valid_name("carrier-1.eu_west"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
