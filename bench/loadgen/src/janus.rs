//! The same legs against Janus AudioBridge (the side-by-side peer), set up
//! through Janus's HTTP API instead of SIP: one session, one handle that
//! creates the rooms, one handle per leg that joins with a plain-RTP
//! endpoint (`"rtp": {ip, port}`), Janus's own RTP port coming back in the
//! `joined` event on the long poll. Recipe: shared/testing/janus-audiobridge.md.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::signal::Codec;

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(40))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut r = String::new();
    s.read_to_string(&mut r).map_err(|e| e.to_string())?;
    Ok(r.split_once("\r\n\r\n")
        .map_or(r.clone(), |x| x.1.to_string()))
}

/// The number after `"key":` at or after `from`.
fn num_after(s: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let i = s.find(&pat)? + pat.len();
    let digits: String = s[i..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Splits a JSON array of objects (or one object) into the objects' text.
fn objects(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut in_str, mut esc) = (0i32, None, false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0
                    && let Some(st) = start.take()
                {
                    out.push(&s[st..=i]);
                }
            }
            _ => {}
        }
    }
    out
}

pub struct Janus {
    addr: SocketAddr,
    session: u64,
    admin: u64,
    tx: u64,
    /// handle -> leg
    handles: Arc<Mutex<HashMap<u64, usize>>>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
    pub joined: Arc<Mutex<Vec<(usize, SocketAddr)>>>,
}

impl Janus {
    fn post(&mut self, path: &str, body: String) -> Result<String, String> {
        self.tx += 1;
        http(self.addr, "POST", path, &body)
    }

    fn attach(&mut self) -> Result<u64, String> {
        let t = self.tx;
        let r = self.post(
            &format!("/janus/{}", self.session),
            format!(
                r#"{{"janus":"attach","plugin":"janus.plugin.audiobridge","transaction":"a{t}"}}"#
            ),
        )?;
        num_after(&r, "id").ok_or_else(|| format!("attach: {r}"))
    }

    /// A session, an admin handle and a long-poll thread that reports joins.
    pub fn connect(addr: SocketAddr) -> Result<Janus, String> {
        let r = http(
            addr,
            "POST",
            "/janus",
            r#"{"janus":"create","transaction":"c0"}"#,
        )?;
        let session = num_after(&r, "id").ok_or_else(|| format!("create: {r}"))?;
        let mut j = Janus {
            addr,
            session,
            admin: 0,
            tx: 1,
            handles: Arc::new(Mutex::new(HashMap::new())),
            stop: Arc::new(AtomicBool::new(false)),
            poller: None,
            joined: Arc::new(Mutex::new(Vec::new())),
        };
        j.admin = j.attach()?;
        let (handles, stop, joined) = (j.handles.clone(), j.stop.clone(), j.joined.clone());
        j.poller = Some(std::thread::spawn(move || {
            // The long poll also keeps the session alive.
            while !stop.load(Ordering::Relaxed) {
                let Ok(r) = http(addr, "GET", &format!("/janus/{session}?maxev=100"), "") else {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                for ev in objects(&r) {
                    if !ev.contains("\"joined\"") {
                        continue;
                    }
                    let Some(sender) = num_after(ev, "sender") else {
                        continue;
                    };
                    let Some(rtp_at) = ev.find("\"rtp\":") else {
                        continue;
                    };
                    let Some(port) = num_after(&ev[rtp_at..], "port") else {
                        continue;
                    };
                    let leg = handles.lock().expect("lock").get(&sender).copied();
                    if let Some(leg) = leg {
                        joined
                            .lock()
                            .expect("lock")
                            .push((leg, SocketAddr::from(([127, 0, 0, 1], port as u16))));
                    }
                }
            }
        }));
        Ok(j)
    }

    /// Creates room `room` for `codec` (PCMU: 16 kHz mixing, Janus's default; Opus: 48 kHz).
    pub fn create_room(&mut self, room: u32, codec: Codec) -> Result<(), String> {
        let rate = match codec {
            Codec::Pcmu => 16_000,
            Codec::Opus => 48_000,
        };
        let t = self.tx;
        let r = self.post(
            &format!("/janus/{}/{}", self.session, self.admin),
            format!(
                r#"{{"janus":"message","transaction":"r{t}","body":{{"request":"create","room":{room},"sampling_rate":{rate},"allow_rtp_participants":true,"audiolevel_ext":false,"audiolevel_event":false}}}}"#
            ),
        )?;
        if r.contains("\"created\"") {
            Ok(())
        } else {
            Err(format!("create room {room}: {r}"))
        }
    }

    /// Joins `leg` into `room` with its RTP at 127.0.0.1:`port`.
    pub fn join(&mut self, leg: usize, room: u32, port: u16, codec: Codec) -> Result<(), String> {
        let h = self.attach()?;
        self.handles.lock().expect("lock").insert(h, leg);
        let codec_json = match codec {
            // Opus encoder complexity 5 ("quality"), as dialroom's default.
            Codec::Opus => r#""codec":"opus","quality":5,"#,
            Codec::Pcmu => r#""codec":"pcmu","#,
        };
        let pt = match codec {
            Codec::Opus => r#","payload_type":111"#,
            Codec::Pcmu => "",
        };
        let t = self.tx;
        let r = self.post(
            &format!("/janus/{}/{h}", self.session),
            format!(
                r#"{{"janus":"message","transaction":"j{t}","body":{{"request":"join","room":{room},"display":"leg{leg}",{codec_json}"rtp":{{"ip":"127.0.0.1","port":{port}{pt}}}}}}}"#
            ),
        )?;
        if r.contains("\"ack\"") || r.contains("\"joined\"") {
            Ok(())
        } else {
            Err(format!("join: {r}"))
        }
    }

    /// Joined legs not yet taken.
    pub fn take_joined(&self) -> Vec<(usize, SocketAddr)> {
        std::mem::take(&mut *self.joined.lock().expect("lock"))
    }

    /// Destroys the rooms (kicking everyone) and the session.
    pub fn teardown(mut self, rooms: &[u32]) {
        let admin = self.admin;
        for &room in rooms {
            let t = self.tx;
            let _ = self.post(
                &format!("/janus/{}/{admin}", self.session),
                format!(r#"{{"janus":"message","transaction":"d{t}","body":{{"request":"destroy","room":{room}}}}}"#),
            );
        }
        let _ = self.post(
            &format!("/janus/{}", self.session),
            r#"{"janus":"destroy","transaction":"x"}"#.into(),
        );
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let deadline = Instant::now() + Duration::from_secs(35);
            while !p.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_and_ports_read() {
        let r = r#"[{"janus":"event","sender":77,"plugindata":{"data":{"audiobridge":"joined","participants":[{"id":1,"display":"x}"}],"rtp":{"ip":"127.0.0.1","port":40002,"payload_type":0}}}},{"janus":"keepalive"}]"#;
        let o = objects(r);
        assert_eq!(o.len(), 2);
        assert_eq!(num_after(o[0], "sender"), Some(77));
        let at = o[0].find("\"rtp\":").unwrap();
        assert_eq!(num_after(&o[0][at..], "port"), Some(40002));
    }
}
