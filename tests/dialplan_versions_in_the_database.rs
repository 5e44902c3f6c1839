//! The dialplan lives in the database with its history: the files seed it,
//! a save through the API is checked first (422 with line and column,
//! nothing stored), every good save is a version with its author, any two
//! versions can be compared, a rollback is a new version, the simulator
//! tries a draft, and `dialroom dialplan export/import` move it to and from
//! files. A running server follows versions saved by another process.

mod common;
use common::Server;
use serde_json::{Value, json};
use std::time::Duration;

const ONE: &str = "[[route]]\nname = \"busy\"\nto = '^1$'\naction = \"reject\"\ncode = 486\n";

fn token(s: &Server) -> String {
    let o = s.cli(&["token", "add", "script", "--role", "admin"]);
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn api(s: &Server, t: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string());
    let (code, text) = s.http(method, path, Some(t), b.as_deref());
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {code} {text:?}"));
    (code, v)
}

#[test]
fn saves_are_checked_versioned_compared_rolled_back_and_simulated() {
    let mut s = Server::new("");
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/main.toml"), ONE).unwrap();
    s.start();
    let t = token(&s);

    // The files seeded version 1.
    let (code, cur) = api(&s, &t, "GET", "/api/v1/dialplan", None);
    assert_eq!(code, 200, "{cur}");
    assert_eq!(
        (cur["id"].as_i64(), cur["toml"].as_str()),
        (Some(1), Some(ONE))
    );
    assert_eq!(cur["author"], "files");
    assert_eq!(cur["routes"][0]["name"], "busy");

    // A broken draft: 422 with every error at its line and column; nothing saved.
    let broken = format!("{ONE}[[route]]\nname = \"x\"\nto = '^(2$'\naction = \"confrence\"\n");
    let (code, e) = api(
        &s,
        &t,
        "PUT",
        "/api/v1/dialplan",
        Some(json!({"toml": broken})),
    );
    assert_eq!(code, 422, "{e}");
    assert_eq!(e["error"]["code"], "invalid_dialplan");
    let errors = e["error"]["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{e}");
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["column"].as_u64()),
        (Some(8), Some(8))
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("regex"),
        "{e}"
    );
    assert_eq!(errors[1]["line"].as_u64(), Some(9));
    let (_, list) = api(&s, &t, "GET", "/api/v1/dialplan/versions", None);
    assert_eq!(list["versions"].as_array().unwrap().len(), 1);

    // The simulator tries the draft (errors for a broken one) without saving it.
    let two = format!(
        "{ONE}[[route]]\nname = \"rooms\"\nto = '^(\\d{{4}})$'\naction = \"conference\"\nroom = \"room-$1\"\n"
    );
    let (code, e) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(json!({"toml": broken, "to": "1"})),
    );
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("invalid_dialplan"))
    );
    let (code, sim) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(
            json!({"toml": two, "to": "4711", "from": "alice", "source": "192.0.2.7",
                    "headers": ["X-Room: a", {"name": "X-Other", "value": "b"}], "at": "mon 09:30"}),
        ),
    );
    assert_eq!(code, 200, "{sim}");
    assert_eq!(sim["plan"], "draft");
    assert_eq!(sim["route"]["name"], "rooms");
    assert_eq!(sim["route"]["line"], 6);
    assert_eq!(sim["captures"], json!(["4711", "4711"]));
    assert_eq!(sim["decision"]["action"], "conference");
    assert_eq!(sim["decision"]["room"], "room-4711");
    let (_, sim) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(json!({"to": "4711"})),
    );
    assert_eq!(
        (sim["plan"].as_str(), sim["matched"].as_bool()),
        (Some("running"), Some(false))
    );
    assert_eq!(sim["decision"]["code"], 404);
    let (code, e) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(json!({"to": "1", "source": "nowhere"})),
    );
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    // A good save is version 2, by the token, and runs.
    let (code, v) = api(
        &s,
        &t,
        "PUT",
        "/api/v1/dialplan",
        Some(json!({"toml": two, "comment": "rooms"})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        (
            v["id"].as_i64(),
            v["author"].as_str(),
            v["running"].as_bool()
        ),
        (Some(2), Some("token:script"), Some(true))
    );
    let (_, sim) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(json!({"to": "4711"})),
    );
    assert_eq!(sim["route"]["name"], "rooms");

    // The diff between 1 and 2: the added lines.
    let (code, d) = api(&s, &t, "GET", "/api/v1/dialplan/diff?from=1&to=2", None);
    assert_eq!(code, 200, "{d}");
    let inserted: Vec<&str> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["op"] == "insert")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        inserted,
        [
            "[[route]]",
            "name = \"rooms\"",
            "to = '^(\\d{4})$'",
            "action = \"conference\"",
            "room = \"room-$1\""
        ]
    );
    let (code, e) = api(&s, &t, "GET", "/api/v1/dialplan/diff?from=1&to=99", None);
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (404, Some("version_not_found"))
    );
    let (code, _) = api(&s, &t, "GET", "/api/v1/dialplan/diff?from=x&to=1", None);
    assert_eq!(code, 400);

    // Rollback to 1 is version 3 with version 1's text.
    let (code, v) = api(&s, &t, "POST", "/api/v1/dialplan/versions/1/rollback", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!((v["id"].as_i64(), v["toml"].as_str()), (Some(3), Some(ONE)));
    assert_eq!(v["comment"], "rollback to version 1");
    let (_, list) = api(&s, &t, "GET", "/api/v1/dialplan/versions", None);
    let ids: Vec<i64> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(list["versions"][0]["running"], true);
    let (code, _) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/versions/42/rollback",
        None,
    );
    assert_eq!(code, 404);
    let (code, v) = api(&s, &t, "GET", "/api/v1/dialplan/versions/2", None);
    assert_eq!((code, v["toml"].as_str()), (200, Some(two.as_str())));

    // Export and import: the CLI of a second process; the server follows.
    let out = s.dir.path().join("exported");
    std::fs::create_dir_all(&out).unwrap();
    let o = s.cli(&["dialplan", "export", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(out.join("main.toml")).unwrap(), ONE);
    let o = s.cli(&["dialplan", "export"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), ONE);
    std::fs::write(out.join("main.toml"), &two).unwrap();
    let o = s.cli(&[
        "dialplan",
        "import",
        out.to_str().unwrap(),
        "--comment",
        "from git",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "imported as dialplan version 4"
    );
    std::thread::sleep(Duration::from_millis(2000));
    let (_, sim) = api(
        &s,
        &t,
        "POST",
        "/api/v1/dialplan/simulate",
        Some(json!({"to": "4711"})),
    );
    assert_eq!(
        sim["route"]["name"],
        "rooms",
        "the server follows an import: {}",
        s.log()
    );
    // A broken import stores nothing and says where the mistake is.
    std::fs::write(out.join("main.toml"), "[[route]]\naction = \"nope\"\n").unwrap();
    let o = s.cli(&["dialplan", "import", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("main.toml:2:"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, list) = api(&s, &t, "GET", "/api/v1/dialplan/versions", None);
    assert_eq!(list["versions"].as_array().unwrap().len(), 4);
}

#[test]
fn without_a_dialplan_directory_the_built_in_default_is_version_one_and_stays_after_restart() {
    let mut s = Server::new("");
    s.start();
    let t = token(&s);
    let (_, cur) = api(&s, &t, "GET", "/api/v1/dialplan", None);
    assert_eq!(
        (cur["id"].as_i64(), cur["author"].as_str()),
        (Some(1), Some("built-in"))
    );
    let (code, _) = api(
        &s,
        &t,
        "PUT",
        "/api/v1/dialplan",
        Some(json!({"toml": ONE})),
    );
    assert_eq!(code, 200);
    s.stop();
    s.start();
    let (_, cur) = api(&s, &t, "GET", "/api/v1/dialplan", None);
    assert_eq!(
        (cur["id"].as_i64(), cur["toml"].as_str()),
        (Some(2), Some(ONE))
    );
}
