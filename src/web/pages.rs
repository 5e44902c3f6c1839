//! The admin pages: one HTML shell per page (navigation, the session's
//! CSRF token and role in `<meta>` tags) and plain ES modules that call the
//! JSON API. Everything is embedded in the binary (`web/admin/`); no build step.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::auth::{esc, session};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/", get(dashboard))
        .route("/admin/static/{file}", get(asset))
        .route("/admin/{page}", get(page))
}

/// The pages: (path segment, title, module).
const PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    ("dialplan", "Dialplan"),
    ("rooms", "Live rooms"),
    ("users", "Users and meetings"),
    ("registrations", "Registrations"),
    ("trunks", "Trunks"),
    ("recordings", "Recordings"),
];

/// Embedded files: (name, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "admin.css",
        "text/css",
        include_str!("../../web/admin/admin.css"),
    ),
    (
        "api.js",
        "text/javascript",
        include_str!("../../web/admin/api.js"),
    ),
    (
        "dashboard.js",
        "text/javascript",
        include_str!("../../web/admin/dashboard.js"),
    ),
    (
        "dialplan.js",
        "text/javascript",
        include_str!("../../web/admin/dialplan.js"),
    ),
    (
        "rooms.js",
        "text/javascript",
        include_str!("../../web/admin/rooms.js"),
    ),
    (
        "users.js",
        "text/javascript",
        include_str!("../../web/admin/users.js"),
    ),
    (
        "registrations.js",
        "text/javascript",
        include_str!("../../web/admin/registrations.js"),
    ),
    (
        "trunks.js",
        "text/javascript",
        include_str!("../../web/admin/trunks.js"),
    ),
    (
        "recordings.js",
        "text/javascript",
        include_str!("../../web/admin/recordings.js"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    serve_asset(ASSETS, &file)
}

/// One of `assets` (name, content type, text) by name, or a 404.
pub(super) fn serve_asset(assets: &[(&str, &str, &'static str)], file: &str) -> Response {
    match assets.iter().find(|(n, _, _)| *n == file) {
        Some((_, ct, text)) => (
            [
                (header::CONTENT_TYPE, format!("{ct}; charset=utf-8")),
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn dashboard(s: State<AppState>, headers: HeaderMap) -> Response {
    render(&s, &headers, "dashboard").await
}

async fn page(s: State<AppState>, Path(page): Path<String>, headers: HeaderMap) -> Response {
    render(&s, &headers, &page).await
}

async fn render(s: &AppState, headers: &HeaderMap, page: &str) -> Response {
    let Some((slug, title)) = PAGES.iter().find(|(p, _)| *p == page) else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><title>Not found</title><p>No such page. <a href=\"/admin\">Admin</a></p>")).into_response();
    };
    let sess = match session(s, headers).await {
        Ok(Some(sess)) => sess,
        Ok(None) => return Redirect::to("/admin/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let nav: String = PAGES
        .iter()
        .map(|(p, t)| {
            let href = if *p == "dashboard" {
                "/admin".to_string()
            } else {
                format!("/admin/{p}")
            };
            let cur = if p == slug {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{cur}>{t}</a>")
        })
        .collect();
    let role = sess.role.as_str();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}"><meta name="role" content="{role}">
<title>{title} · dialroom admin</title><link rel="stylesheet" href="/admin/static/admin.css"></head>
<body class="role-{role}"><header><strong>dialroom</strong><nav>{nav}</nav>
<form method="post" action="/admin/logout" class="logout"><input type="hidden" name="csrf" value="{csrf}">
<span>{name} ({role})</span> <button type="submit">Log out</button></form></header>
<main id="app"><h1>{title}</h1><noscript>These pages need JavaScript (plain ES modules calling /api/v1).</noscript></main>
<script type="module" src="/admin/static/{slug}.js"></script></body></html>"#,
        csrf = esc(&sess.csrf),
        name = esc(&sess.admin),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}
