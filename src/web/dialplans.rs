//! `/api/v1/dialplan...`: the running dialplan, its versions, diffs between
//! them, rollback, and the call simulator (the evaluator `dialroom dialplan
//! test` uses, run against a draft or the running plan).

use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::AppState;
use super::api::{ApiError, body};
use super::auth::principal;
use crate::dialplan::{
    CallFacts, Decision, Dialplan, DialplanError, PLAN_NAME, SaveError, local_clock,
    parse_day_time, parse_version,
};
use crate::store::{DialplanVersion, StoreError, unix_now};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dialplan", get(current).put(save))
        .route("/dialplan/versions", get(versions))
        .route("/dialplan/versions/{id}", get(version))
        .route("/dialplan/versions/{id}/rollback", post(rollback))
        .route("/dialplan/diff", get(diff))
        .route("/dialplan/simulate", post(simulate))
}

fn db(e: StoreError) -> ApiError {
    tracing::error!("dialplan storage: {e}");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database did not answer".into(),
    )
}

/// The errors of a dialplan text as JSON: `[{line, column, message, span}]`.
fn errors_json(errors: &[DialplanError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| {
                json!({
                    "line": e.line,
                    "column": e.column,
                    "message": e.message,
                    "span": [e.span.start, e.span.end],
                })
            })
            .collect(),
    )
}

/// 422 `invalid_dialplan` with every error.
fn invalid(errors: &[DialplanError]) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": {
            "code": "invalid_dialplan",
            "message": format!("the dialplan has {} error{}; nothing was saved", errors.len(), if errors.len() == 1 { "" } else { "s" }),
            "errors": errors_json(errors),
        }})),
    )
        .into_response()
}

fn version_json(v: &DialplanVersion, running: Option<i64>, with_text: bool) -> Value {
    let mut o = json!({
        "id": v.id,
        "name": v.name,
        "author": v.author,
        "created_at": v.created_at,
        "comment": v.comment,
        "running": running == Some(v.id),
    });
    if with_text {
        o["toml"] = Value::String(v.toml.clone());
    }
    o
}

fn not_found(id: i64) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "version_not_found",
        format!("no dialplan version {id}"),
    )
}

fn version_id(id: &str) -> Result<i64, ApiError> {
    id.parse().ok().filter(|n: &i64| *n > 0).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("version id {id:?} is not a positive number"),
        )
    })
}

async fn current(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let running = s.admin.plan.running_id().await;
    let v = match running {
        Some(id) => s.store.dialplan_version(id).await.map_err(db)?,
        None => None,
    };
    let v = v.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "dialplan_not_found",
            "no dialplan has been saved yet".into(),
        )
    })?;
    let mut o = version_json(&v, running, true);
    if let Ok(plan) = parse_version(&v.toml) {
        o["routes"] = routes_json(&plan);
    }
    Ok(Json(o).into_response())
}

fn routes_json(plan: &Dialplan) -> Value {
    Value::Array(
        plan.routes
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"index": i, "name": r.name, "line": r.line}))
            .collect(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    toml: String,
    #[serde(default)]
    comment: String,
}

fn save_result(r: Result<DialplanVersion, SaveError>, running: Option<i64>) -> Response {
    match r {
        Ok(v) => Json(version_json(&v, running, true)).into_response(),
        Err(SaveError::Invalid(errors)) => invalid(&errors),
        Err(SaveError::NoSuchVersion(id)) => not_found(id).into_response(),
        Err(SaveError::Store(e)) => db(e).into_response(),
    }
}

async fn save(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = principal(&s, &headers, true).await?;
    let SaveBody { toml, comment } = body(&bytes)?;
    if comment.chars().count() > 500 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the comment is longer than 500 characters".into(),
        ));
    }
    let r = s
        .admin
        .plan
        .save(&toml, &who.author(), comment.trim())
        .await;
    let running = s.admin.plan.running_id().await;
    Ok(save_result(r, running))
}

async fn versions(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let running = s.admin.plan.running_id().await;
    let list = s
        .store
        .list_dialplan_versions(PLAN_NAME)
        .await
        .map_err(db)?;
    let list: Vec<Value> = list
        .iter()
        .map(|v| version_json(v, running, false))
        .collect();
    Ok(Json(json!({ "versions": list })).into_response())
}

async fn version(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let id = version_id(&id)?;
    let running = s.admin.plan.running_id().await;
    let v = s
        .store
        .dialplan_version(id)
        .await
        .map_err(db)?
        .filter(|v| v.name == PLAN_NAME)
        .ok_or_else(|| not_found(id))?;
    Ok(Json(version_json(&v, running, true)).into_response())
}

async fn rollback(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = principal(&s, &headers, true).await?;
    let id = version_id(&id)?;
    let r = s.admin.plan.rollback(id, &who.author()).await;
    let running = s.admin.plan.running_id().await;
    Ok(save_result(r, running))
}

#[derive(serde::Deserialize)]
struct DiffQuery {
    from: String,
    to: String,
}

/// A line diff: `[{op: "equal"|"delete"|"insert", old_line, new_line, text}]`.
pub(crate) fn line_diff(old: &str, new: &str) -> Vec<Value> {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .map(|c| {
            let op = match c.tag() {
                ChangeTag::Equal => "equal",
                ChangeTag::Delete => "delete",
                ChangeTag::Insert => "insert",
            };
            let text = c.value();
            json!({
                "op": op,
                "old_line": c.old_index().map(|i| i + 1),
                "new_line": c.new_index().map(|i| i + 1),
                "text": text.strip_suffix('\n').unwrap_or(text),
            })
        })
        .collect()
}

async fn diff(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let Query(q) = q.map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give two versions: ?from=ID&to=ID".into(),
        )
    })?;
    let (a, b) = (version_id(&q.from)?, version_id(&q.to)?);
    let get = async |id| {
        s.store
            .dialplan_version(id)
            .await
            .map_err(db)?
            .filter(|v| v.name == PLAN_NAME)
            .ok_or_else(|| not_found(id))
    };
    let (old, new) = (get(a).await?, get(b).await?);
    let lines = line_diff(&old.toml, &new.toml);
    let changed = lines.iter().filter(|l| l["op"] != "equal").count();
    Ok(Json(json!({"from": a, "to": b, "changed_lines": changed, "lines": lines})).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateBody {
    /// A draft; without it the running plan.
    #[serde(default)]
    toml: Option<String>,
    to: String,
    #[serde(default = "anonymous")]
    from: String,
    #[serde(default = "loopback")]
    source: String,
    #[serde(default)]
    headers: Vec<HeaderLine>,
    /// `DAY HH:MM`; default now in the configured timezone.
    #[serde(default)]
    at: Option<String>,
    /// The trunk the call comes from.
    #[serde(default)]
    trunk: Option<String>,
}

fn anonymous() -> String {
    "anonymous".into()
}

fn loopback() -> String {
    "127.0.0.1".into()
}

/// `{"name": "X", "value": "y"}` or `"X: y"`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum HeaderLine {
    Pair { name: String, value: String },
    Line(String),
}

fn bad(m: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request", m)
}

/// The decision as JSON: `action` plus its fields, and `description` in words.
pub(crate) fn decision_json(d: &Decision) -> Value {
    let mut o = match d {
        Decision::Conference {
            room,
            pin,
            moderator_pin,
            muted,
            max_members,
            record,
        } => json!({
            "action": "conference", "room": room.as_str(), "pin": pin,
            "moderator_pin": moderator_pin, "muted": muted,
            "max_members": max_members, "record": record,
        }),
        Decision::Ivr => json!({"action": "ivr"}),
        Decision::User { user, timeout } => {
            json!({"action": "user", "user": user, "timeout": timeout.as_secs()})
        }
        Decision::Redirect { target } => json!({"action": "redirect", "target": target}),
        Decision::Reject { code, reason } => {
            json!({"action": "reject", "code": code, "reason": reason})
        }
    };
    o["description"] = Value::String(d.to_string());
    o
}

async fn simulate(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    principal(&s, &headers, false).await?;
    let b: SimulateBody = body(&bytes)?;
    let source: IpAddr = b
        .source
        .trim()
        .parse()
        .map_err(|_| bad(format!("source {:?} is not an IP address", b.source)))?;
    let mut hs = Vec::new();
    for h in b.headers {
        let (n, v) = match h {
            HeaderLine::Pair { name, value } => (name, value),
            HeaderLine::Line(l) => match l.split_once(':') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => return Err(bad(format!("header {l:?}: write it as 'Name: Value'"))),
            },
        };
        if n.trim().is_empty() {
            return Err(bad("a header needs a name".into()));
        }
        hs.push((n.trim().to_string(), v.trim().to_string()));
    }
    let (weekday, minute_of_day) = match b.at.as_deref().map(str::trim) {
        Some(at) if !at.is_empty() => parse_day_time(at).map_err(|e| bad(format!("at {e}")))?,
        _ => local_clock(unix_now() as i64, s.admin.timezone_offset_minutes),
    };
    let draft = b.toml.is_some();
    let plan = match b.toml {
        Some(text) => match parse_version(&text) {
            Ok(p) => std::sync::Arc::new(p),
            Err(errors) => return Ok(invalid(&errors)),
        },
        None => s.admin.plan.subscribe().borrow().clone(),
    };
    let m = plan.eval(&CallFacts {
        to_user: b.to.trim(),
        from_user: b.from.trim(),
        source,
        trunk: b.trunk.as_deref().map(str::trim).filter(|t| !t.is_empty()),
        headers: &hs,
        weekday,
        minute_of_day,
    });
    let route = plan
        .routes
        .get(m.route_index)
        .map(|r| json!({"index": m.route_index, "name": r.name, "line": r.line}));
    Ok(Json(json!({
        "plan": if draft { "draft" } else { "running" },
        "matched": m.matched(),
        "route": route,
        "captures": m.captures,
        "decision": decision_json(&m.decision),
    }))
    .into_response())
}
