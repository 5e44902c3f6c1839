//! The recorder service: one tokio task that owns the recording jobs of
//! this worker. It takes start/stop commands from call control, makes the
//! rows in the `recordings` table, opens the files ([`Job::open`]), hands the
//! media worker its tap, records progress and heartbeats, and stores how
//! each job ended. On start (and every minute) it repairs and closes the
//! jobs a dead worker left in `pending`, `recording` or `finalizing`; every
//! hour it deletes recordings past `[recorder] retention_days`.

use std::collections::HashMap;
use std::path::Path;
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

struct Active {
    room: String,
    stop_reason: Option<String>,
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
    let mut active: HashMap<String, Active> = HashMap::new();
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
                    let spec = JobSpec {
                        id: id.clone(),
                        room: room.clone(),
                        dir: s.config.dir.clone(),
                        max_frames: s.config.max_duration_s * 50,
                        bitrate: s.config.bitrate,
                    };
                    match tokio::task::spawn_blocking(move || Job::open(spec)).await {
                        Ok(Ok(job)) => {
                            let files = job.files();
                            if let Err(e) = store.start_recording(&id, &files, unix_ms()).await {
                                tracing::warn!(%id, "recording row: {e}");
                            }
                            let (tap, rx) = Tap::new(&id, tracks, s.config.bitrate, s.config.complexity);
                            let report = report_tx.clone();
                            std::thread::Builder::new()
                                .name(format!("rec-{}", &id[..8.min(id.len())]))
                                .spawn(move || job.run(rx, report))
                                .expect("a recorder thread can be spawned");
                            media.send(MediaCommand::Record { room: room.clone(), tap: Some(tap) });
                            tracing::info!(%id, %room, %by, tracks, "recording started");
                            active.insert(id, Active { room, stop_reason: None });
                        }
                        r => {
                            let reason = match r {
                                Ok(Err(e)) => e,
                                Err(e) => format!("the recorder failed: {e}"),
                                Ok(Ok(_)) => unreachable!("matched above"),
                            };
                            tracing::error!(%id, %room, "recording failed: {reason}");
                            let f = Finished {
                                state: RecordingState::Failed,
                                reason: Some(reason),
                                files: Vec::new(),
                                duration_ms: 0,
                                size_bytes: 0,
                                ended_at: Some(unix_ms()),
                            };
                            if let Err(e) = store.finish_recording(&id, &f).await {
                                tracing::error!(%id, "recording row: {e}");
                            }
                            let _ = ended.send(RecordingEnded { room, id });
                        }
                    }
                }
                Some(RecorderCommand::Stop { id, room, reason }) => {
                    if let Some(a) = active.get_mut(&id) {
                        a.stop_reason.get_or_insert(reason);
                        media.send(MediaCommand::Record { room, tap: None });
                    }
                }
            },
            Some(r) = reports.recv() => match r {
                JobReport::Progress { id, files, duration_ms, size_bytes } => {
                    if let Err(e) = store.recording_progress(&id, &files, duration_ms, size_bytes).await {
                        tracing::warn!(%id, "recording progress: {e}");
                    }
                }
                JobReport::Finalizing { id } => {
                    let _ = store.set_recording_state(&id, RecordingState::Finalizing).await;
                }
                JobReport::Ended { id, mut finished, started_at } => {
                    let a = active.remove(&id);
                    if finished.reason.is_none() {
                        finished.reason = Some(
                            a.as_ref()
                                .and_then(|a| a.stop_reason.clone())
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
                    if let Some(a) = a {
                        let _ = ended.send(RecordingEnded { room: a.room, id });
                    }
                }
            },
            _ = sweep.tick() => recover_logged(&store, &s.config.dir, &s.worker_id, false).await,
            _ = retention.tick() => {
                if s.config.retention_days > 0 {
                    let before = unix_ms() - (s.config.retention_days * 86_400_000) as i64;
                    match expire(&store, &s.config.dir, before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "recordings past retention deleted"),
                        Err(e) => tracing::warn!("recording retention: {e}"),
                    }
                }
            }
        }
    }
}

async fn recover_logged(store: &Store, dir: &Path, worker: &str, mine_too: bool) {
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
