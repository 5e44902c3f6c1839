//! `/api/v1/openapi.json` describes the API that is served: every route is
//! in it, and schemathesis (PyPI, tests/peers/requirements.txt) fuzzes
//! every operation from the document with an admin token and finds no server
//! error, no undocumented status code and no answer outside its schema.

mod common;
use common::{LOOPBACK_TRUNK, Server, peers_python};
use std::process::Command;

#[test]
fn the_openapi_document_lists_every_route_and_schemathesis_finds_no_server_error() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    s.start();
    let (code, body) = s.http_get("/api/v1/openapi.json");
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, method) in [
        ("/rooms", "get"),
        ("/rooms/{room}/participants/{id}/kick", "post"),
        ("/rooms/{room}/participants/{id}/mute", "post"),
        ("/rooms/{room}/lock", "post"),
        ("/dialplan", "get"),
        ("/dialplan", "put"),
        ("/dialplan/versions", "get"),
        ("/dialplan/versions/{id}", "get"),
        ("/dialplan/versions/{id}/rollback", "post"),
        ("/dialplan/diff", "get"),
        ("/dialplan/simulate", "post"),
        ("/users", "get"),
        ("/users", "post"),
        ("/users/{name}", "delete"),
        ("/users/{name}/password", "put"),
        ("/meetings", "get"),
        ("/meetings", "post"),
        ("/meetings/{id}", "delete"),
        ("/registrations", "get"),
        ("/stats", "get"),
        ("/rooms/{room}/recording", "post"),
        ("/rooms/{room}/dial", "post"),
        ("/recordings", "get"),
        ("/recordings/{id}", "get"),
        ("/recordings/{id}", "delete"),
        ("/recordings/{id}/file", "get"),
        ("/recordings/{id}/files/{name}", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }

    let o = s.cli(&["token", "add", "fuzz", "--role", "admin"]);
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let st = peers_python().with_file_name("schemathesis");
    assert!(
        st.exists(),
        "{} is missing: run scripts/test.sh (it installs tests/peers/requirements.txt)",
        st.display()
    );
    let report = s.dir.path().join("schemathesis");
    let o = Command::new(&st)
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/api/v1/openapi.json", s.web_port))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            // addTrunk is left out: a generated registrar would make the
            // server register (and resolve names) anywhere, and tests send
            // traffic only to loopback. tests/trunks_added_by_the_api_take_calls.rs
            // and tests/trunk_registers_to_a_provider.rs cover it.
            "--exclude-operation-id",
            "addTrunk",
            "--report-dir",
        ])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (.schemathesis/) goes there too, not into the work tree.
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{out}");
    assert!(
        o.status.success(),
        "schemathesis:\n{out}\n--- server log:\n{}",
        s.log()
    );
    assert!(!s.log().contains("panicked"), "{}", s.log());
}
