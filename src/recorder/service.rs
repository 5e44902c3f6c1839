//! The recorder service: one tokio task that owns the recording jobs of
//! this worker. It takes start/stop commands from call control, makes the
//! rows in the `recordings` table, opens the files ([`Job::open`]), hands the
//! media worker its tap, records progress and heartbeats, and stores how
//! each job ended. On start (and every minute) it repairs and closes the
//! jobs a dead worker left in `pending`, `recording` or `finalizing`; every
//! hour it deletes recordings past `[recorder] retention_days`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::job::{Job, JobReport, JobSpec};
use super::ogg_opus;
use super::tap::Tap;
use crate::media::engine::MediaCommand;
use crate::media::worker::MediaEngine;
use crate::store::Store;
use crate::store::recordings::{Finished, RecordingRow, RecordingState, unix_ms};

/// A worker whose heartbeat is older than this is taken for dead.
pub const STALE: Duration = Duration::from_secs(15);

/// The recorder's settings: `[recorder]` and this worker's id.
#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// `[recorder]` as configured.
    pub config: crate::config::RecorderConfig,
    /// This worker's id in the table (`[recorder] worker_id` or its default).
    pub worker_id: String,
}

/// Call control -> recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecorderCommand {
    /// Start recording a room.
    Start {
        /// The new recording's id.
        id: String,
        /// The room.
        room: String,
        /// Who asked (`api:NAME`, `dtmf:LEG`, `dialplan:ROUTE`, `xmpp:JID`).
        by: String,
        /// Per-participant tracks (`None`: the configured default).
        tracks: Option<bool>,
    },
    /// Stop a recording.
    Stop {
        /// The recording.
        id: String,
        /// Its room.
        room: String,
        /// Why (`stopped by api:NAME`, `room empty`).
        reason: String,
    },
}

/// Recorder -> call control: a recording ended by itself (maximum length,
/// a write error) or was stopped; the room is no longer recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingEnded {
    /// The room.
    pub room: String,
    /// The recording.
    pub id: String,
}

/// A job this worker holds.
pub(crate) struct Active {
    /// Its room.
    pub room: String,
    /// Why it was stopped, once it was (set by whoever stops it).
    pub stop_reason: Arc<Mutex<Option<String>>>,
}

impl Active {
    pub(crate) fn new(room: String) -> Active {
        Active {
            room,
            stop_reason: Arc::default(),
        }
    }

    pub(crate) fn stop(&self, reason: String) {
        self.stop_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(reason);
    }
}

/// The jobs a worker holds, and how their reports reach the table (shared
/// by the in-process service and `dialroom recorder`).
pub(crate) struct Book {
    pub store: Store,
    pub active: HashMap<String, Active>,
}

impl Book {
    /// Stores what a job reports; a job that ended is returned with its room.
    pub(crate) async fn report(&mut self, r: JobReport) -> Option<RecordingEnded> {
        let store = &self.store;
        match r {
            JobReport::Progress {
                id,
                files,
                duration_ms,
                size_bytes,
            } => {
                if let Err(e) = store
                    .recording_progress(&id, &files, duration_ms, size_bytes)
                    .await
                {
                    tracing::warn!(%id, "recording progress: {e}");
                }
                None
            }
            JobReport::Finalizing { id } => {
                let _ = store
                    .set_recording_state(&id, RecordingState::Finalizing)
                    .await;
                None
            }
            JobReport::Ended {
                id,
                mut finished,
                started_at,
            } => {
                let a = self.active.remove(&id);
                if finished.reason.is_none() {
                    finished.reason = Some(
                        a.as_ref()
                            .and_then(|a| {
                                a.stop_reason
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .clone()
                            })
                            .unwrap_or_else(|| "room empty".into()),
                    );
                }
                if let Some(st) = started_at {
                    let _ = store.start_recording_time(&id, st).await;
                }
                tracing::info!(%id, state = finished.state.as_str(), reason = ?finished.reason,
                    duration_ms = finished.duration_ms, "recording ended");
                if let Err(e) = store.finish_recording(&id, &finished).await {
                    tracing::error!(%id, "recording row: {e}");
                }
                a.map(|a| RecordingEnded { room: a.room, id })
            }
        }
    }

    /// Stores that a job failed before it wrote anything.
    pub(crate) async fn fail(&self, id: &str, room: &str, reason: String) {
        tracing::error!(%id, %room, "recording failed: {reason}");
        let f = Finished {
            state: RecordingState::Failed,
            reason: Some(reason),
            files: Vec::new(),
            duration_ms: 0,
            size_bytes: 0,
            ended_at: Some(unix_ms()),
        };
        if let Err(e) = self.store.finish_recording(id, &f).await {
            tracing::error!(%id, "recording row: {e}");
        }
    }

    /// Retention: deletes what ended more than `days` ago (0: keep all).
    pub(crate) async fn expire_old(&self, dir: &Path, days: u64) {
        if days > 0 {
            let before = unix_ms() - (days * 86_400_000) as i64;
            match expire(&self.store, dir, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "recordings past retention deleted"),
                Err(e) => tracing::warn!("recording retention: {e}"),
            }
        }
    }
}

/// Starts the service; returns where to send commands and where endings arrive.
pub fn start(
    settings: RecorderSettings,
    store: Store,
    media: MediaEngine,
) -> (
    mpsc::UnboundedSender<RecorderCommand>,
    mpsc::UnboundedReceiver<RecordingEnded>,
) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(settings, store, media, cmd_rx, ended_tx));
    (cmd_tx, ended_rx)
}

async fn run(
    s: RecorderSettings,
    store: Store,
    media: MediaEngine,
    mut cmds: mpsc::UnboundedReceiver<RecorderCommand>,
    ended: mpsc::UnboundedSender<RecordingEnded>,
) {
    recover_logged(&store, &s.config.dir, &s.worker_id, true).await;
    let (report_tx, mut reports) = mpsc::unbounded_channel::<JobReport>();
    let mut book = Book {
        store: store.clone(),
        active: HashMap::new(),
    };
    let mut sweep = tokio::time::interval(Duration::from_secs(60));
    let mut retention = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None => return,
                Some(RecorderCommand::Start { id, room, by, tracks }) => {
                    let tracks = tracks.unwrap_or(s.config.tracks);
                    if let Err(e) = store.add_recording(&id, &room, &by, tracks, &s.worker_id).await {
                        tracing::error!(%room, "recording not started: {e}");
                        let _ = ended.send(RecordingEnded { room, id });
                        continue;
                    }
                    match open_job(job_spec(&s, &id, &room)).await {
                        Ok(job) => {
                            let files = job.files();
                            if let Err(e) = store.start_recording(&id, &files, unix_ms()).await {
                                tracing::warn!(%id, "recording row: {e}");
                            }
                            let (tap, rx) = Tap::new(&id, tracks, s.config.bitrate, s.config.complexity);
                            let report = report_tx.clone();
                            spawn_job(&id, move || job.run(rx, report));
                            media.send(MediaCommand::Record { room: room.clone(), tap: Some(tap) });
                            tracing::info!(%id, %room, %by, tracks, "recording started");
                            book.active.insert(id, Active::new(room));
                        }
                        Err(reason) => {
                            book.fail(&id, &room, reason).await;
                            let _ = ended.send(RecordingEnded { room, id });
                        }
                    }
                }
                Some(RecorderCommand::Stop { id, room, reason }) => {
                    if let Some(a) = book.active.get(&id) {
                        a.stop(reason);
                        media.send(MediaCommand::Record { room, tap: None });
                    }
                }
            },
            Some(r) = reports.recv() => {
                if let Some(e) = book.report(r).await {
                    let _ = ended.send(e);
                }
            }
            _ = sweep.tick() => recover_logged(&store, &s.config.dir, &s.worker_id, false).await,
            _ = retention.tick() => book.expire_old(&s.config.dir, s.config.retention_days).await,
        }
    }
}

/// What a job of this worker is asked to do.
pub(crate) fn job_spec(s: &RecorderSettings, id: &str, room: &str) -> JobSpec {
    JobSpec {
        id: id.to_string(),
        room: room.to_string(),
        dir: s.config.dir.clone(),
        max_frames: s.config.max_duration_s * 50,
        bitrate: s.config.bitrate,
    }
}

/// Opens a job's files off the async threads; an error is the job's
/// failure reason.
pub(crate) async fn open_job(spec: JobSpec) -> Result<Job, String> {
    match tokio::task::spawn_blocking(move || Job::open(spec)).await {
        Ok(r) => r,
        Err(e) => Err(format!("the recorder failed: {e}")),
    }
}

/// Runs a job's writer on a thread of its own.
pub(crate) fn spawn_job(id: &str, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(format!("rec-{}", &id[..8.min(id.len())]))
        .spawn(f)
        .expect("a recorder thread can be spawned");
}

pub(crate) async fn recover_logged(store: &Store, dir: &Path, worker: &str, mine_too: bool) {
    match recover(store, dir, worker, mine_too).await {
        Ok(rows) => {
            for (r, f) in rows {
                tracing::warn!(id = %r.id, room = %r.room, state = f.state.as_str(),
                    reason = ?f.reason, "recording left unfinished by a stopped worker closed");
            }
        }
        Err(e) => tracing::warn!("recovering recordings: {e}"),
    }
}

/// Closes the jobs a dead worker left unfinished: those of `worker` itself
/// (a previous run; when `mine_too`) and those whose worker's heartbeat is
/// older than [`STALE`]. Each file is cut back to its last complete page;
/// a job with a playable mix is `done`, one without is `failed`, both with
/// a reason. Returns what was closed.
pub async fn recover(
    store: &Store,
    dir: &Path,
    worker: &str,
    mine_too: bool,
) -> Result<Vec<(RecordingRow, Finished)>, crate::store::StoreError> {
    let stale = unix_ms() - STALE.as_millis() as i64;
    let me = if mine_too { worker } else { "\u{0}none" };
    let mut out = Vec::new();
    for r in store.orphaned_recordings(me, stale).await? {
        if !super::valid_id(&r.id) {
            continue;
        }
        let dir2 = dir.to_path_buf();
        let row = r.clone();
        let f = tokio::task::spawn_blocking(move || repair_job(&dir2, &row))
            .await
            .unwrap_or_else(|e| Finished {
                state: RecordingState::Failed,
                reason: Some(format!("repair failed: {e}")),
                files: Vec::new(),
                duration_ms: 0,
                size_bytes: 0,
                ended_at: None,
            });
        store.finish_recording(&r.id, &f).await?;
        out.push((r, f));
    }
    Ok(out)
}

/// Repairs one job's files (blocking file I/O).
fn repair_job(dir: &Path, r: &RecordingRow) -> Finished {
    let was = r.state.as_str();
    let mix = super::job::mix_name(&r.id);
    // Tracks found on disk (the row's list may lag by a second).
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{}-leg", r.id)) && n.ends_with(".opus"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.insert(0, mix.clone());
    let mut files = Vec::new();
    let mut size = 0i64;
    let mut mix_result = None;
    for n in &names {
        let path = dir.join(n);
        let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if let Ok(Some(rep)) = ogg_opus::repair(&mut f) {
            files.push(n.clone());
            size += rep.bytes as i64;
            if *n == mix {
                mix_result = Some(rep);
            }
        }
    }
    match mix_result {
        Some(rep) if rep.granule > 0 => Finished {
            state: RecordingState::Done,
            reason: Some(format!(
                "the worker stopped while {was}; recovered up to its last complete page ({} ms{})",
                rep.duration_ms(),
                if rep.cut > 0 {
                    format!(", {} bytes of a torn page cut", rep.cut)
                } else {
                    String::new()
                }
            )),
            files,
            duration_ms: rep.duration_ms() as i64,
            size_bytes: size,
            ended_at: r.started_at.map(|s| s + rep.duration_ms() as i64),
        },
        _ => Finished {
            state: RecordingState::Failed,
            reason: Some(format!(
                "the worker stopped while {was}, before any audio was written"
            )),
            files,
            duration_ms: 0,
            size_bytes: size,
            ended_at: None,
        },
    }
}

/// Deletes finished recordings that ended before `before` (Unix ms): files
/// first, then the row. Returns how many.
pub async fn expire(
    store: &Store,
    dir: &Path,
    before: i64,
) -> Result<usize, crate::store::StoreError> {
    let rows = store.expired_recordings(before).await?;
    let mut n = 0;
    for r in rows {
        delete_files(dir, &r);
        store.remove_recording(&r.id).await?;
        n += 1;
    }
    Ok(n)
}

/// Removes a recording's files (missing ones are fine).
pub fn delete_files(dir: &Path, r: &RecordingRow) {
    let mut names = r.files.clone();
    names.push(super::job::mix_name(&r.id));
    names.push(super::job::sidecar_name(&r.id));
    for n in names {
        if n.contains('/') || n.starts_with('.') {
            continue;
        }
        let _ = std::fs::remove_file(dir.join(n));
    }
}
