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

/// A trunk as the API shows it; a registering one with its state among
/// `regs` (`registering` until the SIP core reports one).
fn trunk_json(
    t: &crate::config::TrunkConfig,
    origin: &str,
    regs: &[(String, crate::sip::outbound::RegState)],
) -> serde_json::Value {
    let mut v = json!({"name": t.name, "sources": t.sources, "origin": origin});
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
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let stored = s.store.list_trunks().await.map_err(db)?;
    let regs = s.status.trunk_registrations();
    let list: Vec<_> = s
        .admin
        .config_trunks
        .iter()
        .map(|t| trunk_json(t, "config", &regs))
        .chain(stored.iter().map(|t| trunk_json(t, "database", &regs)))
        .collect();
    Ok(Json(json!({ "trunks": list })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTrunk {
    name: String,
    #[serde(default)]
    sources: Vec<String>,
    /// Register to this provider (`HOST[:PORT]`, `sip:`/`sips:` URI).
    #[serde(default)]
    registrar: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    username: Option<String>,
    /// Turned into HA1 digests for `realm`; never stored.
    #[serde(default)]
    password: Option<String>,
    /// The realm the provider challenges with (default: the registrar's host).
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    expires: Option<u32>,
}

/// Printable text without spaces or control characters, 1 to 128 bytes.
fn token_ok(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic())
}

/// The trunk to store: sources and, with a registrar, the account with its
/// password turned into HA1 digests for the realm.
fn validate(t: NewTrunk) -> Result<crate::config::TrunkConfig, ApiError> {
    if !valid_name(&t.name) {
        return Err(unprocessable(
            "a trunk name is 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    if t.sources.len() > 64 || (t.sources.is_empty() && t.registrar.is_none()) {
        return Err(unprocessable(
            "a trunk needs 1 to 64 source address blocks, or a registrar to register to",
        ));
    }
    for c in &t.sources {
        if let Err(e) = crate::dialplan::parse_cidr(c) {
            return Err(unprocessable(format!("source {c:?}: {e}")));
        }
    }
    let mut out = crate::config::TrunkConfig::by_sources(t.name, t.sources);
    let Some(registrar) = t.registrar else {
        if t.username.is_some() || t.password.is_some() {
            return Err(unprocessable("username and password go with a registrar"));
        }
        return Ok(out);
    };
    out.registrar = Some(registrar.trim().to_string());
    let (host, _) = match out.registrar_host_port() {
        Some(Ok(hp)) => hp,
        Some(Err(e)) => return Err(unprocessable(e)),
        None => return Err(unprocessable("registrar is empty")),
    };
    for (what, v) in [
        ("registrar", out.registrar.as_deref()),
        ("domain", t.domain.as_deref()),
        ("realm", t.realm.as_deref()),
        ("proxy", t.proxy.as_deref()),
    ] {
        if let Some(v) = v
            && !token_ok(v)
        {
            return Err(unprocessable(format!(
                "{what} must be 1 to 128 printable characters without spaces"
            )));
        }
    }
    let user = t.username.unwrap_or_default();
    if crate::sip::registrar::Aor::parse(&user).is_err() || !token_ok(&user) {
        return Err(unprocessable(
            "a registering trunk needs a username (its account)",
        ));
    }
    let Some(password) = t.password.filter(|p| !p.is_empty() && p.len() <= 256) else {
        return Err(unprocessable(
            "a registering trunk needs the account's password",
        ));
    };
    out.domain = t.domain;
    out.proxy = t.proxy;
    if let Some(Err(e)) = out.proxy_host_port() {
        return Err(unprocessable(e));
    }
    out.domain = out.domain_or_default();
    let realm = t.realm.unwrap_or(host);
    use crate::sip::auth::{Algorithm, ha1};
    out.ha1 = Some(ha1(Algorithm::Md5, &user, &realm, &password));
    out.ha1_sha256 = Some(ha1(Algorithm::Sha256, &user, &realm, &password));
    out.realm = Some(realm);
    out.username = Some(user);
    if let Some(e) = t.expires {
        if !(10..=86_400).contains(&e) {
            return Err(unprocessable("expires must be 10 to 86400 seconds"));
        }
        out.expires = e;
    }
    Ok(out)
}

async fn add(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    principal(&s, &headers, true).await?;
    let t = validate(body(&bytes)?)?;
    if s.admin.config_trunks.iter().any(|c| c.name == t.name) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "trunk_exists",
            format!("trunk {} is defined in the config file", t.name),
        ));
    }
    s.store.add_trunk(&t).await.map_err(db)?;
    tracing::info!(name = %t.name, sources = ?t.sources, registrar = ?t.registrar, "trunk added");
    let v = trunk_json(&t, "database", &[]);
    Ok((StatusCode::CREATED, Json(v)).into_response())
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
