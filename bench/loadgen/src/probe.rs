//! Readings taken at both ends of the measurement window: the server's
//! `/metrics`, CPU times from /proc (server, per server thread, this
//! process, everything else), the host's steal time and the kernel's UDP
//! error counters.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Prometheus text, flattened to `name{labels}` -> value.
/// A GET on the server's web port (with a bearer token if given): the
/// status line and the body.
fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<(String, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or((answer.as_str(), ""));
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

pub fn scrape(addr: SocketAddr) -> Result<HashMap<String, f64>, String> {
    let (_, text) = http_get(addr, "/metrics", None)?;
    let mut m = HashMap::new();
    for l in text.lines() {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if let Some((k, v)) = l.rsplit_once(' ')
            && let Ok(v) = v.trim().parse::<f64>()
        {
            m.insert(k.trim().to_string(), v);
        }
    }
    if m.is_empty() {
        return Err("no metrics in the answer".into());
    }
    Ok(m)
}

/// The rooms API's per-leg concealment counts, by (room, display).
pub fn concealed_by_leg(
    addr: SocketAddr,
    token: &str,
) -> Result<HashMap<(String, String), u64>, String> {
    let (status, json) = http_get(addr, "/api/v1/rooms", Some(token))?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(status);
    }
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let mut m = HashMap::new();
    for r in v["rooms"].as_array().into_iter().flatten() {
        let room = r["name"].as_str().unwrap_or("").to_string();
        for p in r["participants"].as_array().into_iter().flatten() {
            if let (Some(d), Some(c)) = (p["display"].as_str(), p["rtp"]["concealed"].as_u64()) {
                m.insert((room.clone(), d.to_string()), c);
            }
        }
    }
    Ok(m)
}

/// How dialroom shows a caller: "Phone …" and the last 4 letters or digits
/// of its number (conference::masked_phone).
pub fn masked_display(user: &str) -> String {
    let digits: Vec<char> = user.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("Phone …{tail}")
}

/// Ticks per second of /proc times.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// (comm, fields after the comm) of a /proc stat file.
fn stat_fields(path: &str) -> Option<(String, Vec<u64>)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<u64> = s[close + 2..]
        .split_whitespace()
        .skip(1) // state
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Some((comm, rest))
}

/// utime + stime of a process (all threads), seconds.
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let (_, f) = stat_fields(&format!("/proc/{pid}/stat"))?;
    // After state: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    Some((f[10] + f[11]) as f64 / clk_tck())
}

/// utime + stime per thread name of a process, seconds.
pub fn thread_cpu(pid: u32) -> HashMap<String, f64> {
    let mut m = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return m;
    };
    for e in dir.flatten() {
        let p = format!("{}/stat", e.path().display());
        if let Some((comm, f)) = stat_fields(&p) {
            *m.entry(comm).or_insert(0.0) += (f[10] + f[11]) as f64 / clk_tck();
        }
    }
    m
}

/// CPU of every process but `skip`: utime+stime+cutime+cstime, seconds.
pub fn others_cpu(skip: &[u32]) -> f64 {
    let mut t = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if skip.contains(&pid) {
            continue;
        }
        if let Some((_, f)) = stat_fields(&format!("/proc/{pid}/stat")) {
            t += f[10] + f[11] + f[12] + f[13];
        }
    }
    t as f64 / clk_tck()
}

/// (busy, steal, total) jiffies of the whole host from /proc/stat.
pub fn host_cpu() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let l = s.lines().next().unwrap_or("");
    let v: Vec<u64> = l
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if v.len() < 8 {
        return (0, 0, 0);
    }
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4];
    (total - idle, v[7], total)
}

/// UDP InErrors, RcvbufErrors, SndbufErrors.
pub fn udp_errors() -> [u64; 3] {
    let s = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (lines.next(), lines.next()) else {
        return [0; 3];
    };
    let h: Vec<&str> = h.split_whitespace().collect();
    let v: Vec<u64> = v
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |name: &str| {
        h.iter()
            .position(|&x| x == name)
            .and_then(|i| v.get(i).copied())
            .unwrap_or(0)
    };
    [get("InErrors"), get("RcvbufErrors"), get("SndbufErrors")]
}

/// Quantiles of a histogram from the deltas of its cumulative buckets:
/// the upper bound of the bucket the quantile falls in (`None` = +Inf).
pub fn hist_quantile(bounds: &[f64], cum_delta: &[f64], q: f64) -> Option<f64> {
    let total = *cum_delta.last()?;
    if total <= 0.0 {
        return Some(0.0);
    }
    let want = q * total;
    for (b, &c) in bounds.iter().zip(cum_delta) {
        if c >= want - 1e-9 {
            return if b.is_infinite() { None } else { Some(*b) };
        }
    }
    None
}
