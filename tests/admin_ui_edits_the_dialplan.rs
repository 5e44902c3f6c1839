//! The admin UI in Chromium (playwright-core, tests/browser/admin_dialplan.mjs)
//! against the real binary, with SIPp calls between the steps: a broken
//! save shows its error at the line and the old dialplan keeps routing; the
//! fixed one, tried in the simulator and saved, routes the next call; a
//! rollback brings the old route back for the call after; on the live-room
//! page a caller is muted, the room recorded for a moment and the caller
//! kicked; the recordings page lists the recording as done, its file
//! downloads as Ogg, plays, and is deleted (row and files); a viewer sees no
//! control that changes anything. Screenshots of the dashboard, the editor
//! and a live room are taken; with `DIALROOM_SCREENSHOTS=docs` they replace
//! the ones in docs/ (otherwise they go to the test's temp directory, so a
//! test run leaves the work tree as it was).

mod common;
use common::{LOOPBACK_TRUNK, Server, root, sipp_args};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const OLD_PLAN: &str = "[[route]]\nname = \"five-rejected\"\nto = '^5555$'\naction = \"reject\"\ncode = 404\n\n\
[[route]]\nname = \"lobby\"\nto = '^7777$'\naction = \"conference\"\nroom = \"lobby\"\n\n\
[[route]]\nname = \"rest\"\naction = \"reject\"\ncode = 404\n";

/// True when a call to `number` is answered (a room), false when rejected 404.
fn answered(s: &Server, number: &str) -> bool {
    let a = sipp_args(
        "dialplan_route_answered.xml",
        "udp",
        s.sip_port,
        &["-s", number, "-set", "hold", "300"],
    );
    if a.ok {
        return true;
    }
    let r = sipp_args(
        "dialplan_route_rejected.xml",
        "udp",
        s.sip_port,
        &["-s", number],
    );
    assert!(
        r.ok,
        "neither answered nor rejected 404:\n{}\n{}",
        a.output, r.output
    );
    false
}

/// Where screenshots go: `$DIALROOM_SCREENSHOTS` (relative to the project
/// root, e.g. `docs`) or the server's temp directory.
fn shot_dir(s: &Server) -> std::path::PathBuf {
    match std::env::var_os("DIALROOM_SCREENSHOTS") {
        Some(d) => root().join(d),
        None => s.dir.path().to_path_buf(),
    }
}

/// The browser script, stepped over stdin/stdout.
struct Browser {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Browser {
    fn start(s: &Server) -> Browser {
        let mut child = Command::new("node")
            .arg(root().join("tests/browser/admin_dialplan.mjs"))
            .arg(format!("http://127.0.0.1:{}", s.web_port))
            .args(["ann", "correct horse"])
            .arg(shot_dir(s))
            .args(["vic", "viewer pass"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node (scripts/deps.sh test installs it)");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            stdin,
            lines,
        }
    }

    /// Waits until the script reaches `step: NAME`.
    fn reached(&mut self, name: &str, s: &Server) {
        let line = self.lines.next().and_then(Result::ok).unwrap_or_default();
        if line != format!("step: {name}") {
            let _ = self.child.kill();
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!(
                "browser script: expected step {name}, got {line:?}\n{err}\n--- server log:\n{}",
                s.log()
            );
        }
    }

    /// Lets the script go on.
    fn go(&mut self) {
        writeln!(self.stdin, "go").unwrap();
    }
}

#[test]
fn an_admin_breaks_fixes_simulates_saves_and_rolls_back_the_dialplan_in_the_browser() {
    assert!(
        root()
            .join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run scripts/test.sh (npm ci in tests/browser)"
    );
    let mut s = Server::with_media("", "rtp_timeout = 300", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/main.toml"), OLD_PLAN).unwrap();
    s.start();
    s.add_admin("ann", "correct horse", "admin");
    s.add_admin("vic", "viewer pass", "viewer");
    assert!(!answered(&s, "5555"), "the old plan rejects 5555");

    let mut b = Browser::start(&s);
    b.reached("broken", &s);
    assert!(
        !answered(&s, "5555"),
        "a broken save changes nothing: 5555 is still rejected"
    );
    b.go();
    b.reached("simulated", &s);
    assert!(!answered(&s, "5555"), "simulating a draft changes nothing");
    b.go();
    b.reached("saved", &s);
    assert!(answered(&s, "5555"), "the saved plan sends 5555 to a room");
    b.go();
    b.reached("rolled-back", &s);
    assert!(
        !answered(&s, "5555"),
        "after the rollback 5555 is rejected again"
    );
    // A caller in the lobby for the live-room page (the script waits for
    // it, mutes it and kicks it: SIPp expects the server's BYE).
    let port = s.sip_port;
    let caller = std::thread::spawn(move || {
        sipp_args("kicked_by_operator.xml", "udp", port, &["-s", "7777"])
    });
    b.go();
    b.reached("room", &s);
    b.go();
    let run = caller.join().unwrap();
    assert!(run.ok, "{}", run.output);
    // The recording page played, downloaded and deleted the recording:
    // its row and its files are gone.
    b.reached("recording", &s);
    b.go();
    let token = common::api_token(&s, "check", "viewer");
    let (code, body) = s.http("GET", "/api/v1/recordings", Some(&token), None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"recordings\":[]"), "{body}");
    let dir = s.dir.path().join("data/recordings");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left in {}: {left:?}", dir.display());
    drop(b.stdin);
    let out = b.child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shot in [
        "admin-dialplan-error.png",
        "admin-dialplan-editor.png",
        "admin-live-room.png",
        "admin-recordings.png",
        "admin-dashboard.png",
    ] {
        assert!(shot_dir(&s).join(shot).exists(), "{shot}");
    }
}
