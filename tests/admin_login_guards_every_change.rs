//! Admin access against the real binary: accounts from `dialroom admin add`,
//! the login form (its own CSRF cookie), a session cookie that is HttpOnly
//! and SameSite=Strict, changes from a session only with its CSRF token, a
//! viewer who reads but cannot change anything (page and API), failed logins
//! limited per source address, and logout.

mod common;
use common::Server;

const PLAN: &str = "[[route]]\nname = \"only\"\nto = '^1$'\naction = \"reject\"\ncode = 486\n";

fn post_form(s: &Server, path: &str, cookie: &str, body: &str) -> common::HttpResponse {
    let h = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", cookie),
    ];
    s.request("POST", path, &h, body)
}

#[test]
fn only_logged_in_admins_with_the_csrf_token_change_things_and_viewers_only_read() {
    let mut s = Server::new("");
    // The login limit goes inside the harness's [web] table.
    let cfg = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        cfg.replacen(
            "[web]\n",
            "[web]\nlogin_attempts = 3\nlogin_window = 600\n",
            1,
        ),
    )
    .unwrap();
    s.start();

    // Accounts: a short password is refused; names are unique.
    let o = s.cli(&["admin", "add", "ann", "--password", "short"]);
    assert!(!o.status.success());
    s.add_admin("ann", "correct horse", "admin");
    s.add_admin("vic", "viewer pass", "viewer");
    assert!(
        !s.cli(&["admin", "add", "ann", "--password", "12345678"])
            .status
            .success()
    );
    let list = String::from_utf8(s.cli(&["admin", "list"]).stdout).unwrap();
    assert!(
        list.contains("ann\tadmin") && list.contains("vic\tviewer"),
        "{list}"
    );

    // Not logged in: pages send to the login form, the API says 401.
    let r = s.request("GET", "/admin/dialplan", &[], "");
    assert_eq!((r.code, r.header("location")), (303, Some("/admin/login")));
    let r = s.request("GET", "/api/v1/dialplan", &[], "");
    assert_eq!(r.code, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");

    // The login form without its CSRF token (or with another one) is refused.
    let page = s.request("GET", "/admin/login", &[], "");
    let login_csrf = page.set_cookie("dr_login_csrf").unwrap();
    assert!(
        page.body
            .contains(&format!("name=\"csrf\" value=\"{login_csrf}\""))
    );
    let cookie = format!("dr_login_csrf={login_csrf}");
    let r = post_form(
        &s,
        "/admin/login",
        &cookie,
        "name=ann&password=correct+horse",
    );
    assert_eq!(r.code, 403, "{}", r.body);
    let r = post_form(
        &s,
        "/admin/login",
        &cookie,
        "name=ann&password=correct+horse&csrf=0000",
    );
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(r.set_cookie("dr_session").is_none());

    // A good login: the session cookie is HttpOnly and SameSite=Strict.
    let r = post_form(
        &s,
        "/admin/login",
        &cookie,
        &format!("name=ann&password=correct+horse&csrf={login_csrf}"),
    );
    assert_eq!(r.code, 303, "{}", r.body);
    let set = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("dr_session="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "not Secure unless [web] secure_cookies: {set}"
    );

    let (ann, ann_csrf) = s.login("ann", "correct+horse");
    let (vic, vic_csrf) = s.login("vic", "viewer+pass");

    // An admin session changes things only with the session's CSRF header.
    let put = format!(
        "{{\"toml\": {}, \"comment\": \"first\"}}",
        serde_json::json!(PLAN)
    );
    let r = s.request(
        "PUT",
        "/api/v1/dialplan",
        &[("Cookie", &ann), ("Content-Type", "application/json")],
        &put,
    );
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "csrf_failed");
    let r = s.request(
        "PUT",
        "/api/v1/dialplan",
        &[("Cookie", &ann), ("X-CSRF-Token", &vic_csrf)],
        &put,
    );
    assert_eq!(
        r.json()["error"]["code"],
        "csrf_failed",
        "another session's token"
    );
    let r = s.request(
        "PUT",
        "/api/v1/dialplan",
        &[("Cookie", &ann), ("X-CSRF-Token", &ann_csrf)],
        &put,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["author"], "ann");

    // A viewer reads, and the page says so, but every change is 403.
    let r = s.request("GET", "/api/v1/dialplan", &[("Cookie", &vic)], "");
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["toml"], PLAN);
    let page = s.request("GET", "/admin/dialplan", &[("Cookie", &vic)], "");
    assert!(
        page.body
            .contains("<meta name=\"role\" content=\"viewer\">")
    );
    let r = s.request(
        "PUT",
        "/api/v1/dialplan",
        &[("Cookie", &vic), ("X-CSRF-Token", &vic_csrf)],
        &put,
    );
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    let r = s.request(
        "POST",
        "/api/v1/dialplan/versions/1/rollback",
        &[("Cookie", &vic), ("X-CSRF-Token", &vic_csrf)],
        "",
    );
    assert_eq!(r.code, 403, "{}", r.body);
    let r = s.request(
        "POST",
        "/api/v1/rooms/x/lock",
        &[("Cookie", &vic), ("X-CSRF-Token", &vic_csrf)],
        "{\"locked\": true}",
    );
    assert_eq!(r.code, 403, "{}", r.body);
    // Simulating changes nothing: a viewer may.
    let r = s.request(
        "POST",
        "/api/v1/dialplan/simulate",
        &[("Cookie", &vic)],
        "{\"to\": \"1\"}",
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["decision"]["code"], 486);

    // A viewer token is refused the same way.
    let o = s.cli(&["token", "add", "wall", "--role", "viewer"]);
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let (code, body) = s.http("PUT", "/api/v1/dialplan", Some(&token), Some(&put));
    assert_eq!(code, 403, "{body}");

    // Logout needs the session's token too; afterwards the cookie is dead.
    let r = post_form(&s, "/admin/logout", &ann, "");
    assert_eq!(r.code, 403, "{}", r.body);
    let r = post_form(&s, "/admin/logout", &ann, &format!("csrf={ann_csrf}"));
    assert_eq!((r.code, r.header("location")), (303, Some("/admin/login")));
    let r = s.request("GET", "/api/v1/dialplan", &[("Cookie", &ann)], "");
    assert_eq!(r.code, 401);

    // Failed logins from one address: after 3 the right password is refused too.
    let page = s.request("GET", "/admin/login", &[], "");
    let c = page.set_cookie("dr_login_csrf").unwrap();
    let cookie = format!("dr_login_csrf={c}");
    for _ in 0..3 {
        let r = post_form(
            &s,
            "/admin/login",
            &cookie,
            &format!("name=ann&password=guess&csrf={c}"),
        );
        assert_eq!(r.code, 401, "{}", r.body);
    }
    let r = post_form(
        &s,
        "/admin/login",
        &cookie,
        &format!("name=ann&password=correct+horse&csrf={c}"),
    );
    assert_eq!(r.code, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(r.set_cookie("dr_session").is_none());

    // Removing an account ends its sessions.
    assert!(s.cli(&["admin", "remove", "vic"]).status.success());
    let r = s.request("GET", "/api/v1/dialplan", &[("Cookie", &vic)], "");
    assert_eq!(r.code, 401);
}
