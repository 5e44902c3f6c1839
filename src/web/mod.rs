//! The HTTP server (axum): `/health`, `/metrics`, the admin UI at `/admin`
//! (`auth` for logins, sessions and CSRF, `pages` for the HTML and ES
//! modules), the JSON API at `/api/v1` (`api`, `dialplans`) and XMPP over
//! WebSocket, and the meeting page at `/meet/{room}` (`meet`).

mod api;
mod auth;
mod dialplans;
mod directory;
mod meet;
mod pages;
pub mod sip_ws;
mod stats;
mod trunks;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use serde_json::json;

use crate::server::Status;
use crate::store::Store;

#[derive(Clone)]
struct AppState {
    store: Store,
    status: Arc<Status>,
    xmpp: Option<crate::xmpp::Handle>,
    admin: Admin,
}

/// What the admin UI and its API need besides the store: the running
/// dialplan and the `[web]` login settings.
#[derive(Clone, Debug)]
pub struct Admin {
    plan: crate::dialplan::LivePlan,
    secure_cookies: bool,
    session_secs: u64,
    timezone_offset_minutes: i32,
    sip_domain: String,
    logins: Arc<std::sync::Mutex<auth::LoginLimiter>>,
    history: Arc<std::sync::Mutex<stats::History>>,
    media_ticks: Arc<std::sync::Mutex<MediaWatch>>,
    /// The config file's `[[trunk]]` entries (listed read-only).
    config_trunks: Arc<Vec<crate::config::TrunkConfig>>,
}

/// The media workers' tick count as `/health` last saw it, and when it last grew.
#[derive(Debug, Default)]
struct MediaWatch {
    ticks: u64,
    grew: Option<std::time::Instant>,
}

impl MediaWatch {
    /// True when the workers ticked within the last second (they tick every
    /// 20 ms, with or without calls).
    fn alive(&mut self, ticks: u64, now: std::time::Instant) -> bool {
        if ticks != self.ticks {
            self.ticks = ticks;
            self.grew = Some(now);
        }
        self.grew
            .is_some_and(|t| now.saturating_duration_since(t) < std::time::Duration::from_secs(1))
    }
}

impl Admin {
    /// From the running plan and the configuration.
    pub fn new(plan: crate::dialplan::LivePlan, cfg: &crate::config::Config) -> Admin {
        Admin {
            plan,
            secure_cookies: cfg.web.secure_cookies,
            session_secs: cfg.web.session_hours.saturating_mul(3600),
            timezone_offset_minutes: cfg.dialplan.timezone_offset_minutes,
            sip_domain: cfg.sip.domain.clone(),
            logins: Arc::new(std::sync::Mutex::new(auth::LoginLimiter::new(
                cfg.web.login_attempts,
                std::time::Duration::from_secs(cfg.web.login_window),
            ))),
            history: Arc::default(),
            media_ticks: Arc::default(),
            config_trunks: Arc::new(cfg.trunks.clone()),
        }
    }
}

/// Builds the router (`xmpp`: the XMPP service, when enabled, for `/xmpp-websocket`).
pub fn router(
    store: Store,
    status: Arc<Status>,
    xmpp: Option<crate::xmpp::Handle>,
    admin: Admin,
) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/xmpp-websocket", get(xmpp_websocket))
        .route("/sip-ws", get(sip_websocket))
        .route("/recorder/tap/{id}", get(recorder_tap))
        .nest("/api/v1", api::routes())
        .merge(auth::routes())
        .merge(pages::routes())
        .merge(meet::routes())
        .fallback(not_found)
        .with_state(AppState {
            store,
            status,
            xmpp,
            admin,
        })
}

/// Serves until the listener fails. Handlers see the peer address (the
/// admin login limit counts failures per source address).
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    status: Arc<Status>,
    xmpp: Option<crate::xmpp::Handle>,
    admin: Admin,
) {
    stats::spawn_sampler(status.clone(), admin.history.clone());
    let app = router(store, status, xmpp, admin)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("web server stopped: {e}");
    }
}

async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><title>dialroom</title><h1>dialroom</h1>",
        "<p>SIP registrar running. Health: <a href=\"/health\">/health</a>. ",
        "Admin: <a href=\"/admin\">/admin</a>. ",
        "Meetings: <code>/meet/ROOM</code>.</p>"
    ))
}

async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let sip = s.status.sip_up.load(Ordering::Relaxed);
    let db = s.store.ping().await;
    let media = s
        .admin
        .media_ticks
        .lock()
        .expect("the media watch lock is never poisoned: alive() cannot panic")
        .alive(
            s.status.media.tick_lateness.count(),
            std::time::Instant::now(),
        );
    let up = sip && db && media;
    let body = Json(json!({
        "status": if up { "ok" } else { "unavailable" },
        "sip": sip,
        "media": media,
        "database": db,
        "registrations": s.status.registrations.load(Ordering::Relaxed),
    }));
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let mut out = String::new();
    let g = |out: &mut String, name: &str, help: &str, v: usize| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    g(
        &mut out,
        "dialroom_registrations",
        "Live registrations.",
        s.status.registrations.load(Ordering::Relaxed),
    );
    g(
        &mut out,
        "dialroom_sip_transactions",
        "Live SIP transactions.",
        s.status.transactions.load(Ordering::Relaxed),
    );
    g(
        &mut out,
        "dialroom_calls",
        "Live calls.",
        s.status.calls.load(Ordering::Relaxed),
    );
    crate::sip::stats::RESPONSES.render(&mut out);
    let regs = s.status.trunk_registrations();
    if !regs.is_empty() {
        out.push_str(
            "# HELP dialroom_trunk_registered 1 while the trunk is registered to its provider\n\
             # TYPE dialroom_trunk_registered gauge\n",
        );
        for (name, st) in &regs {
            let up = matches!(st, crate::sip::outbound::RegState::Registered { .. });
            let _ = writeln!(
                out,
                "dialroom_trunk_registered{{trunk=\"{}\"}} {}",
                name.replace(['\\', '"', '\n'], "_"),
                u8::from(up)
            );
        }
    }
    s.status.media.render(&mut out);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}

/// SIP over WebSocket (RFC 7118, subprotocol `sip`).
async fn sip_websocket(
    State(s): State<AppState>,
    axum::extract::ConnectInfo(remote): axum::extract::ConnectInfo<std::net::SocketAddr>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    match s.status.sip_ws.get() {
        Some(h) => sip_ws::upgrade(ws, remote, h.clone()),
        None => not_found().await.into_response(),
    }
}

/// XMPP over WebSocket (RFC 7395, subprotocol `xmpp`).
async fn xmpp_websocket(
    State(s): State<AppState>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    match s.xmpp {
        Some(h) => crate::xmpp::websocket::upgrade(ws, h),
        None => not_found().await.into_response(),
    }
}

/// A recorder worker's tap (`dialroom recorder`; `src/recorder/remote.rs`):
/// refused with a JSON error before the upgrade when the id is not waiting
/// for a worker or the key is wrong.
async fn recorder_tap(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    let Some(hub) = s.status.recorder_taps.get().cloned() else {
        return not_found().await.into_response();
    };
    let key = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let refusal = if crate::recorder::valid_id(&id) {
        match hub.open(&id, key).await {
            Ok(grant) => {
                return ws
                    .on_upgrade(move |socket| crate::recorder::remote::pump(socket, id, grant));
            }
            Err(r) => r,
        }
    } else {
        crate::recorder::remote::TapRefusal::Unknown
    };
    let (code, error, message) = refusal.answer();
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({"error": {"code": error, "message": message}})),
    )
        .into_response()
}

/// The OpenAPI 3.0 document of `/api/v1` (hand-written, `web/openapi.json`;
/// `tests/api_matches_its_openapi_document.rs` holds it to the server).
async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../web/openapi.json"),
    )
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "not_found", "message": "no such page"}})),
    )
}

#[cfg(test)]
mod tests {
    use super::MediaWatch;
    use std::time::{Duration, Instant};

    #[test]
    fn media_is_up_while_the_workers_tick() {
        let mut w = MediaWatch::default();
        let t0 = Instant::now();
        assert!(!w.alive(0, t0), "no tick yet");
        assert!(w.alive(5, t0));
        assert!(w.alive(5, t0 + Duration::from_millis(900)), "between polls");
        assert!(!w.alive(5, t0 + Duration::from_millis(1100)), "stalled");
        assert!(w.alive(6, t0 + Duration::from_millis(1200)));
    }
}
