//! `dialroom recorder`: the recorder worker as a process of its own.
//!
//! It shares the server's database. Every quarter second it claims pending
//! recordings ([`Store::claim_recordings`]), opens each one's tap on the
//! server ([`super::remote`]) and writes what arrives with the same [`Job`]
//! the in-process worker uses: a reader thread turns wire messages into tap
//! items, the job's thread writes the files. On start (and every minute) it
//! closes what it left unfinished in a previous life and what stale workers
//! left; it applies the retention period. SIGTERM or Ctrl-C closes every
//! open recording properly (reason `the recorder worker stopped`).

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::job::JobReport;
use super::service::{
    Active, Book, RecorderSettings, job_spec, open_job, recover_logged, spawn_job,
};
use super::tap::{QUEUE, TapItem};
use crate::store::Store;
use crate::store::recordings::unix_ms;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// How often pending recordings are looked for.
const POLL: Duration = Duration::from_millis(250);

/// Runs the worker until `stop` resolves; then closes its recordings and
/// waits (at most ten seconds) for their files to be finalized.
pub async fn run(
    s: RecorderSettings,
    store: Store,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), crate::store::StoreError> {
    recover_logged(&store, &s.config.dir, &s.worker_id, true).await;
    let (report_tx, mut reports) = mpsc::unbounded_channel::<JobReport>();
    let mut book = Book {
        store: store.clone(),
        active: std::collections::HashMap::new(),
    };
    let quit = Arc::new(AtomicBool::new(false));
    let mut poll = tokio::time::interval(POLL);
    let mut sweep = tokio::time::interval(Duration::from_secs(60));
    let mut retention = tokio::time::interval(Duration::from_secs(3600));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = poll.tick() => {
                let claimed = match store.claim_recordings(&s.worker_id, 16).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("looking for recordings to take: {e}");
                        continue;
                    }
                };
                for (row, url, key) in claimed {
                    let (id, room) = (row.id.clone(), row.room.clone());
                    if !super::valid_id(&id) {
                        book.fail(&id, &room, "not a valid recording id".into()).await;
                        continue;
                    }
                    tracing::info!(%id, %room, %url, "recording taken");
                    match start_job(&s, &store, &id, &room, &url, &key, &report_tx, &quit).await {
                        Ok(a) => {
                            book.active.insert(id, a);
                        }
                        Err(reason) => book.fail(&id, &room, reason).await,
                    }
                }
            }
            Some(r) = reports.recv() => {
                book.report(r).await;
            }
            _ = sweep.tick() => recover_logged(&store, &s.config.dir, &s.worker_id, false).await,
            _ = retention.tick() => book.expire_old(&s.config.dir, s.config.retention_days).await,
        }
    }
    // Close what is open: every reader sees the flag within its read timeout.
    for a in book.active.values() {
        a.stop("the recorder worker stopped".into());
    }
    quit.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !book.active.is_empty() {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(r)) => {
                book.report(r).await;
            }
            _ => break,
        }
    }
    Ok(())
}

/// Opens the tap, then the files; runs the reader and the writer.
#[allow(clippy::too_many_arguments)]
async fn start_job(
    s: &RecorderSettings,
    store: &Store,
    id: &str,
    room: &str,
    url: &str,
    key: &str,
    report: &mpsc::UnboundedSender<JobReport>,
    quit: &Arc<AtomicBool>,
) -> Result<Active, String> {
    let (url2, key2) = (url.to_string(), key.to_string());
    let ws = tokio::task::spawn_blocking(move || connect(&url2, &key2))
        .await
        .map_err(|e| format!("the recorder failed: {e}"))??;
    let job = open_job(job_spec(s, id, room)).await?;
    if let Err(e) = store.start_recording(id, &job.files(), unix_ms()).await {
        tracing::warn!(%id, "recording row: {e}");
    }
    let active = Active::new(room.to_string());
    let (tx, rx) = sync_channel(QUEUE);
    let reason = active.stop_reason.clone();
    let quit = quit.clone();
    let id2 = id.to_string();
    std::thread::Builder::new()
        .name(format!("tap-{}", &id[..8.min(id.len())]))
        .spawn(move || read(ws, tx, reason, quit, &id2))
        .map_err(|e| format!("no thread for the tap: {e}"))?;
    let report = report.clone();
    spawn_job(id, move || job.run(rx, report));
    Ok(active)
}

/// Connects to the server's tap (blocking), with a read timeout so the
/// reader can notice a stop.
fn connect(url: &str, key: &str) -> Result<Socket, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot open the server's tap at {url}: {e}");
    let mut req = url.into_client_request().map_err(|e| fail(&e))?;
    let auth = format!("Bearer {key}")
        .parse()
        .map_err(|e: tungstenite::http::header::InvalidHeaderValue| fail(&e))?;
    req.headers_mut()
        .insert(tungstenite::http::header::AUTHORIZATION, auth);
    let (ws, _) = match tungstenite::connect(req) {
        Ok(x) => x,
        Err(tungstenite::Error::Http(r)) => {
            let body = r
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            return Err(fail(&format!("HTTP {}: {body}", r.status())));
        }
        Err(e) => return Err(fail(&e)),
    };
    if let MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(|e| fail(&e))?;
    }
    Ok(ws)
}

/// Reads the tap until the server stops it, the socket breaks, the job
/// stops taking items (its maximum length) or the worker quits. Dropping
/// `tx` ends the job; dropping the socket tells the server.
fn read(
    mut ws: Socket,
    tx: SyncSender<TapItem>,
    reason: Arc<Mutex<Option<String>>>,
    quit: Arc<AtomicBool>,
    id: &str,
) {
    let set = |r: String| {
        reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(r);
    };
    let mut bad = 0u64;
    loop {
        if quit.load(Ordering::Relaxed) {
            let _ = ws.close(None);
            let _ = ws.flush();
            break;
        }
        match ws.read() {
            Ok(Message::Binary(b)) => match super::wire::decode(&b) {
                Ok(item) => {
                    if tx.send(item).is_err() {
                        // The job ended by itself (maximum length, a write error).
                        let _ = ws.close(None);
                        let _ = ws.flush();
                        break;
                    }
                }
                Err(e) => {
                    bad += 1;
                    if bad == 1 || bad.is_power_of_two() {
                        tracing::warn!(%id, bad, "a tap message was skipped: {e}");
                    }
                }
            },
            Ok(Message::Text(t)) => {
                if let Some(r) = super::wire::stop_reason(&t) {
                    set(r);
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => {
                set(format!("the server's tap broke off: {e}"));
                break;
            }
        }
    }
}
