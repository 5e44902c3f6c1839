//! With no config file at all, `dialroom serve` starts on the embedded
//! defaults: SQLite under ./data/, SIP on UDP and TCP 127.0.0.1:5060, web on
//! 127.0.0.1:8080, and says how to add a user.

mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn defaults_run_on_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .arg("serve")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let done = line == "ready";
            lines.push(line);
            if done {
                let _ = tx.send(lines.join("\n"));
                return;
            }
        }
        let _ = tx.send(lines.join("\n"));
    });
    let banner = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let health = std::net::TcpStream::connect("127.0.0.1:8080").map(|mut s| {
        write!(
            s,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.contains("SIP listening on udp:127.0.0.1:5060"),
        "{banner}"
    );
    assert!(
        banner.contains("SIP listening on tcp:127.0.0.1:5060"),
        "{banner}"
    );
    assert!(
        banner.contains("web listening on http://127.0.0.1:8080/"),
        "{banner}"
    );
    assert!(banner.contains("dialroom user add"), "{banner}");
    assert!(dir.path().join("data/dialroom.db").exists());
    let health = health.expect("the web server answers on 8080");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
}

#[test]
fn a_broken_config_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dialroom.toml");
    std::fs::write(
        &cfg,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nmin_expires = \"soon\"\n",
    )
    .unwrap();
    let o = Command::new(common::bin())
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("min_expires"), "{err}");
}
