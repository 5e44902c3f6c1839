//! Admin access: the login form, sessions, CSRF and roles.
//!
//! * `POST /admin/login` checks the name and argon2 password hash
//!   (`dialroom admin add`) and sets the session cookie `dr_session`
//!   (random, HttpOnly, SameSite=Strict, `Secure` with `[web]
//!   secure_cookies`; only its SHA-256 is stored). The login form carries a
//!   CSRF token that must equal the `dr_login_csrf` cookie set with it.
//! * Failed logins are counted per source address ([`LoginLimiter`]); past
//!   `[web] login_attempts` within `login_window` seconds the address gets
//!   429 without its password being looked at.
//! * Each session has a CSRF token. The pages send it as `X-CSRF-Token` on
//!   every changing `/api/v1` call, and as the `csrf` field of the logout
//!   form; a change without it is refused (403 `csrf_failed`).
//! * [`principal`] answers who a request is: a bearer token or a session,
//!   with its role. Viewers read; only admins change (403 `forbidden`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::api::ApiError;
use crate::store::admins::Session;
use crate::store::tokens::Role;

/// The session cookie.
pub(super) const SESSION_COOKIE: &str = "dr_session";
/// The login form's CSRF cookie.
const LOGIN_CSRF_COOKIE: &str = "dr_login_csrf";
/// The header the pages send the session's CSRF token in.
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
}

/// Who is asking.
#[derive(Debug, Clone)]
pub(super) struct Principal {
    /// Token or admin name.
    pub(super) name: String,
    /// What it may do.
    pub(super) role: Role,
    /// A session (true) or a bearer token.
    pub(super) session: bool,
}

impl Principal {
    /// How versions and logs name this principal: the admin's name, or `token:NAME`.
    pub(super) fn author(&self) -> String {
        if self.session {
            self.name.clone()
        } else {
            format!("token:{}", self.name)
        }
    }

    /// How room actions (recordings, dial-outs) name who asked:
    /// `admin:NAME` for the admin UI, `api:TOKEN` for scripts.
    pub(super) fn by(&self) -> String {
        let kind = if self.session { "admin" } else { "api" };
        format!("{kind}:{}", self.name)
    }
}

/// Failed logins per source address in fixed windows (sans-IO: the caller
/// passes the time).
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    max: u32,
    window: Duration,
    by_ip: HashMap<IpAddr, (Instant, u32)>,
}

impl LoginLimiter {
    /// At most `max` failures per `window` per address.
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        LoginLimiter {
            max: max.max(1),
            window,
            by_ip: HashMap::new(),
        }
    }

    /// How long `ip` must still wait, if it used up its attempts.
    pub(crate) fn blocked(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let (start, n) = *self.by_ip.get(&ip)?;
        let end = start + self.window;
        if now >= end {
            self.by_ip.remove(&ip);
            return None;
        }
        (n >= self.max).then(|| end - now)
    }

    /// Counts a failure from `ip`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.by_ip.len() > 10_000 {
            let w = self.window;
            self.by_ip.retain(|_, (start, _)| now < *start + w);
        }
        let e = self.by_ip.entry(ip).or_insert((now, 0));
        if now >= e.0 + self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    /// A good login clears the address's count.
    pub(crate) fn succeeded(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
    }
}

/// The value of cookie `name` in the request.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Equal strings, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn db_down(e: crate::store::StoreError) -> ApiError {
    tracing::error!("admin lookup failed: {e}");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database did not answer".into(),
    )
}

/// The session of the request's cookie, if it is live.
pub(super) async fn session(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ApiError> {
    match cookie(headers, SESSION_COOKIE) {
        None => Ok(None),
        Some(token) => s.store.find_session(token).await.map_err(db_down),
    }
}

/// Who the request is (bearer token, else session cookie); `change` asks
/// for the admin role and, for a session, the CSRF header.
pub(super) async fn principal(
    s: &AppState,
    headers: &HeaderMap,
    change: bool,
) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, "unauthorized", m.into());
    let p = if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthorized(
                    "send Authorization: Bearer TOKEN (make one with `dialroom token add NAME`)",
                )
            })?;
        let (name, role) = s
            .store
            .find_token(token)
            .await
            .map_err(db_down)?
            .ok_or_else(|| unauthorized("unknown token"))?;
        Principal {
            name,
            role,
            session: false,
        }
    } else if let Some(sess) = session(s, headers).await? {
        if change {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| same(t, &sess.csrf)) {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "a change from a browser session needs the session's X-CSRF-Token header"
                        .into(),
                ));
            }
        }
        Principal {
            name: sess.admin,
            role: sess.role,
            session: true,
        }
    } else {
        return Err(unauthorized(
            "send Authorization: Bearer TOKEN (make one with `dialroom token add NAME`) or log in at /admin/login",
        ));
    };
    if change && p.role == Role::Viewer {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {:?} is a viewer: it cannot change anything",
                if p.session { "admin" } else { "token" },
                p.name
            ),
        ));
    }
    Ok(p)
}

/// Escapes text for HTML.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `Set-Cookie` value with the flags every cookie here has.
pub(super) fn set_cookie(
    s: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if s.admin.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

fn login_form(s: &AppState, status: StatusCode, message: &str, name: &str) -> Response {
    let csrf = crate::store::admins::random_token();
    let note = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message))
    };
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dialroom admin: log in</title><link rel="stylesheet" href="/admin/static/admin.css"></head>
<body class="login"><main><h1>dialroom</h1>{note}
<form method="post" action="/admin/login">
<input type="hidden" name="csrf" value="{csrf}">
<label>Name <input name="name" autocomplete="username" required value="{name}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button></form></main></body></html>"#,
        name = esc(name)
    );
    (
        status,
        [
            (
                header::SET_COOKIE,
                set_cookie(s, LOGIN_CSRF_COOKIE, &csrf, "/admin/login", 3600),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Html(body),
    )
        .into_response()
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = session(&s, &headers).await {
        return Redirect::to("/admin").into_response();
    }
    login_form(&s, StatusCode::OK, "", "")
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let ip = peer.ip().to_canonical();
    let wait = s
        .admin
        .logins
        .lock()
        .expect("the login limiter lock is never poisoned: no code panics while holding it")
        .blocked(ip, Instant::now());
    if let Some(wait) = wait {
        tracing::warn!(%ip, "admin login refused: too many failed attempts");
        let mut r = login_form(
            &s,
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed logins from your address. Try again in {} s.",
                wait.as_secs().max(1)
            ),
            "",
        );
        if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let Ok(Form(f)) = form else {
        return login_form(&s, StatusCode::BAD_REQUEST, "Send the login form.", "");
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    if !expected.is_some_and(|c| same(c, &f.csrf)) {
        return login_form(
            &s,
            StatusCode::FORBIDDEN,
            "The form had expired (or cookies are off). Please log in again.",
            &f.name,
        );
    }
    let role = match s.store.check_admin_password(&f.name, &f.password).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("admin login: {e}");
            return login_form(
                &s,
                StatusCode::SERVICE_UNAVAILABLE,
                "The database did not answer.",
                &f.name,
            );
        }
    };
    let limiter = || {
        s.admin
            .logins
            .lock()
            .expect("the login limiter lock is never poisoned: no code panics while holding it")
    };
    if role.is_none() {
        limiter().failed(ip, Instant::now());
        tracing::warn!(%ip, name = %f.name, "admin login failed");
        return login_form(
            &s,
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.",
            &f.name,
        );
    }
    limiter().succeeded(ip);
    match s.store.create_session(&f.name, s.admin.session_secs).await {
        Ok((token, _csrf)) => {
            tracing::info!(%ip, name = %f.name, "admin logged in");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/admin".to_string()),
                    (
                        header::SET_COOKIE,
                        set_cookie(&s, SESSION_COOKIE, &token, "/", s.admin.session_secs),
                    ),
                ],
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("admin login: {e}");
            login_form(
                &s,
                StatusCode::SERVICE_UNAVAILABLE,
                "The database did not answer.",
                &f.name,
            )
        }
    }
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let sess = match session(&s, &headers).await {
        Ok(Some(sess)) => sess,
        Ok(None) => return Redirect::to("/admin/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let sent = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !same(&sent, &sess.csrf) {
        return ApiError(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the logout form needs the session's csrf field".into(),
        )
        .into_response();
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.store.end_session(token).await
    {
        return db_down(e).into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/admin/login".to_string()),
            (
                header::SET_COOKIE,
                set_cookie(&s, SESSION_COOKIE, "", "/", 0),
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let mut l = LoginLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.blocked(ip, t0), None, "attempt {i}");
            l.failed(ip, t0 + Duration::from_secs(i));
        }
        assert_eq!(
            l.blocked(ip, t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(l.blocked(other, t0), None, "per address");
        assert_eq!(l.blocked(ip, t0 + Duration::from_secs(60)), None);
        l.failed(ip, t0 + Duration::from_secs(61));
        l.succeeded(ip);
        assert_eq!(l.blocked(ip, t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; dr_session=abc".parse().unwrap());
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, "dr_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
