//! The meeting page `/meet/{room}`: one HTML shell that carries the room
//! name, the XMPP domain and the MUC domain in `data-` attributes, and the
//! plain ES modules under `web/meet/` (embedded; no build step) that join
//! the room over `/xmpp-websocket` and turn the focus's Jingle into SDP for
//! the browser's `RTCPeerConnection`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::auth::esc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/meet/{room}", get(page))
        .route("/meet/static/{file}", get(asset))
}

/// Embedded files: (name, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "meet.css",
        "text/css",
        include_str!("../../web/meet/meet.css"),
    ),
    (
        "meet.js",
        "text/javascript",
        include_str!("../../web/meet/meet.js"),
    ),
    (
        "xmpp.js",
        "text/javascript",
        include_str!("../../web/meet/xmpp.js"),
    ),
    (
        "jingle.js",
        "text/javascript",
        include_str!("../../web/meet/jingle.js"),
    ),
    (
        "audio.js",
        "text/javascript",
        include_str!("../../web/meet/audio.js"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    super::pages::serve_asset(ASSETS, &file)
}

/// A room name as the page accepts it: 1 to 64 of `[a-z0-9._-]` after
/// lower-casing (a MUC node, like Jitsi's lower-cased room names).
fn room_name(raw: &str) -> Option<String> {
    let name = raw.to_ascii_lowercase();
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    ok.then_some(name)
}

fn message_page(code: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · dialroom</title>\
         <link rel=\"stylesheet\" href=\"/meet/static/meet.css\"></head>\
         <body><main class=\"notice\"><h1>{t}</h1><p>{x}</p></main></body></html>",
        t = esc(title),
        x = esc(text)
    );
    (code, Html(body)).into_response()
}

async fn page(State(s): State<AppState>, Path(room): Path<String>) -> Response {
    let Some(room) = room_name(&room) else {
        return message_page(
            StatusCode::NOT_FOUND,
            "No such meeting",
            "A meeting name is 1 to 64 letters, digits, dots, dashes or underscores.",
        );
    };
    let Some(xmpp) = s.xmpp.as_ref() else {
        return message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Meetings are off",
            "The meeting page needs the XMPP service ([xmpp] enabled = true).",
        );
    };
    let domain = &xmpp.config().domain;
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{room} · dialroom meeting</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/meet/static/meet.css"></head>
<body data-room="{room}" data-domain="{domain}" data-muc="conference.{domain}" data-focus="focus.{domain}">
<noscript>The meeting page needs JavaScript (plain ES modules, WebRTC and WebSocket).</noscript>
<main id="app"></main>
<script type="module" src="/meet/static/meet.js"></script></body></html>"#,
        room = esc(&room),
        domain = esc(domain),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::room_name;

    #[test]
    fn room_names_are_lower_cased_muc_nodes() {
        assert_eq!(room_name("StandUp").as_deref(), Some("standup"));
        assert_eq!(room_name("a.b_c-1").as_deref(), Some("a.b_c-1"));
        for bad in ["", ".x", "a b", "a@b", "a/b", "ä", &"x".repeat(65)] {
            assert_eq!(room_name(bad), None, "{bad:?}");
        }
    }
}
