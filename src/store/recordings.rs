//! The `recordings` table: recordings of rooms as jobs (`src/recorder`).
//! A row is made `pending` when someone asks for a recording, becomes
//! `recording` once a worker has its files open (with the worker's id and
//! heartbeat), `finalizing` while the end pages and sidecar are written, and
//! ends `done` or `failed` with a reason. Times are Unix milliseconds.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// Asked for; no worker has its files open yet.
    Pending,
    /// A worker is writing it.
    Recording,
    /// The worker is closing its files.
    Finalizing,
    /// Finished; the files are complete.
    Done,
    /// Ended without a usable file, or with part of one; `reason` says why.
    Failed,
}

impl RecordingState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Pending => "pending",
            RecordingState::Recording => "recording",
            RecordingState::Finalizing => "finalizing",
            RecordingState::Done => "done",
            RecordingState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<RecordingState> {
        Some(match s {
            "pending" => RecordingState::Pending,
            "recording" => RecordingState::Recording,
            "finalizing" => RecordingState::Finalizing,
            "done" => RecordingState::Done,
            "failed" => RecordingState::Failed,
            _ => return None,
        })
    }

    /// Done or failed: nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(self, RecordingState::Done | RecordingState::Failed)
    }
}

/// One recording as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordingRow {
    /// Its id (also the stem of its file names).
    pub id: String,
    /// The room recorded.
    pub room: String,
    /// Who or what started it (`api:TOKEN-NAME`, `dtmf:LEG`, `dialplan:ROUTE`, `xmpp:JID`).
    pub started_by: String,
    /// Where it is in its life.
    pub state: RecordingState,
    /// Why it failed, or how it ended (`stopped by ...`, `room empty`, `max_duration`).
    pub reason: Option<String>,
    /// Per-participant tracks were asked for.
    pub tracks: bool,
    /// The worker holding it.
    pub worker: Option<String>,
    /// That worker's last sign of life (Unix ms).
    pub heartbeat_at: Option<i64>,
    /// File names in `[recorder] dir`: the room mix first, then tracks and the sidecar.
    pub files: Vec<String>,
    /// Audio written, in milliseconds.
    pub duration_ms: i64,
    /// Bytes written over all files.
    pub size_bytes: i64,
    /// When it was asked for (Unix ms).
    pub created_at: i64,
    /// When its first frame was taken (Unix ms).
    pub started_at: Option<i64>,
    /// When its last frame ended (Unix ms).
    pub ended_at: Option<i64>,
}

const COLUMNS: &str = "id, room, started_by, state, reason, tracks, worker, heartbeat_at, files, \
                       duration_ms, size_bytes, created_at, started_at, ended_at";

fn row(r: &AnyRow) -> Result<RecordingRow, StoreError> {
    let state: String = r.try_get(3)?;
    let files: String = r.try_get(8)?;
    let tracks: i64 = r.try_get(5)?;
    Ok(RecordingRow {
        id: r.try_get(0)?,
        room: r.try_get(1)?,
        started_by: r.try_get(2)?,
        state: RecordingState::parse(&state).unwrap_or(RecordingState::Failed),
        reason: r.try_get(4)?,
        tracks: tracks != 0,
        worker: r.try_get(6)?,
        heartbeat_at: r.try_get(7)?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        duration_ms: r.try_get(9)?,
        size_bytes: r.try_get(10)?,
        created_at: r.try_get(11)?,
        started_at: r.try_get(12)?,
        ended_at: r.try_get(13)?,
    })
}

/// Unix milliseconds now.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a recording ended, for [`Store::finish_recording`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// `Done` or `Failed`.
    pub state: RecordingState,
    /// Why it failed or how it ended.
    pub reason: Option<String>,
    /// The files written (names in the recorder's directory).
    pub files: Vec<String>,
    /// Audio written, in milliseconds.
    pub duration_ms: i64,
    /// Bytes over all files.
    pub size_bytes: i64,
    /// When the last frame ended (Unix ms); `None` keeps what is stored.
    pub ended_at: Option<i64>,
}

impl Store {
    /// Adds a `pending` recording of `room`.
    pub async fn add_recording(
        &self,
        id: &str,
        room: &str,
        started_by: &str,
        tracks: bool,
        worker: &str,
    ) -> Result<(), StoreError> {
        let now = unix_ms();
        sqlx::query(
            "INSERT INTO recordings (id, room, started_by, state, tracks, worker, heartbeat_at, files, \
             duration_ms, size_bytes, created_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, '[]', 0, 0, $7)",
        )
        .bind(id)
        .bind(room)
        .bind(started_by)
        .bind(i64::from(tracks))
        .bind(worker)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Adds a `pending` recording of `room` that no worker holds yet: a
    /// recorder worker in another process claims it ([`Store::claim_recordings`])
    /// and opens the tap at `tap_url` with `tap_key`.
    pub async fn add_unclaimed_recording(
        &self,
        id: &str,
        room: &str,
        started_by: &str,
        tracks: bool,
        tap_url: &str,
        tap_key: &str,
    ) -> Result<(), StoreError> {
        let now = unix_ms();
        sqlx::query(
            "INSERT INTO recordings (id, room, started_by, state, tracks, heartbeat_at, files, \
             duration_ms, size_bytes, created_at, tap_url, tap_key) \
             VALUES ($1, $2, $3, 'pending', $4, $5, '[]', 0, 0, $6, $7, $8)",
        )
        .bind(id)
        .bind(room)
        .bind(started_by)
        .bind(i64::from(tracks))
        .bind(now)
        .bind(now)
        .bind(tap_url)
        .bind(tap_key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims up to `limit` unclaimed pending recordings for `worker`
    /// (one conditional update each, so two workers never both get one);
    /// returns them with their tap URL and key.
    pub async fn claim_recordings(
        &self,
        worker: &str,
        limit: i64,
    ) -> Result<Vec<(RecordingRow, String, String)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, tap_url, tap_key FROM recordings WHERE state = 'pending' \
             AND worker IS NULL AND tap_url IS NOT NULL ORDER BY created_at LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let rec = row(r)?;
            let (url, key): (String, String) = (r.try_get(14)?, r.try_get(15)?);
            let n = sqlx::query(
                "UPDATE recordings SET worker = $2, heartbeat_at = $3 \
                 WHERE id = $1 AND state = 'pending' AND worker IS NULL",
            )
            .bind(&rec.id)
            .bind(worker)
            .bind(unix_ms())
            .execute(self.pool())
            .await?
            .rows_affected();
            if n == 1 {
                out.push((rec, url, key));
            }
        }
        Ok(out)
    }

    /// Fails a recording that is still `pending` (nobody took it, or whoever
    /// did never started); returns whether it was.
    pub async fn fail_pending_recording(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE recordings SET state = 'failed', reason = $2, ended_at = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(reason)
        .bind(unix_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A worker has the files open: `recording`, with its file names.
    pub async fn start_recording(
        &self,
        id: &str,
        files: &[String],
        started_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recordings SET state = 'recording', files = $2, started_at = $3, heartbeat_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(serde_json::to_string(files).unwrap_or_else(|_| "[]".into()))
        .bind(started_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The time of a recording's first frame (Unix ms), once known.
    pub async fn start_recording_time(&self, id: &str, started_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE recordings SET started_at = $2 WHERE id = $1")
            .bind(id)
            .bind(started_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Progress of one recording, and its worker's heartbeat.
    pub async fn recording_progress(
        &self,
        id: &str,
        files: &[String],
        duration_ms: i64,
        size_bytes: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recordings SET files = $2, duration_ms = $3, size_bytes = $4, heartbeat_at = $5 \
             WHERE id = $1 AND state IN ('recording', 'finalizing')",
        )
        .bind(id)
        .bind(serde_json::to_string(files).unwrap_or_else(|_| "[]".into()))
        .bind(duration_ms)
        .bind(size_bytes)
        .bind(unix_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets the state of a recording that is not final yet.
    pub async fn set_recording_state(
        &self,
        id: &str,
        state: RecordingState,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recordings SET state = $2, heartbeat_at = $3 \
             WHERE id = $1 AND state NOT IN ('done', 'failed')",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(unix_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a recording (`done` or `failed`) with what was written.
    pub async fn finish_recording(&self, id: &str, f: &Finished) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recordings SET state = $2, reason = $3, files = $4, duration_ms = $5, \
             size_bytes = $6, ended_at = COALESCE($7, ended_at, $8) WHERE id = $1",
        )
        .bind(id)
        .bind(f.state.as_str())
        .bind(f.reason.clone())
        .bind(serde_json::to_string(&f.files).unwrap_or_else(|_| "[]".into()))
        .bind(f.duration_ms)
        .bind(f.size_bytes)
        .bind(f.ended_at)
        .bind(unix_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One recording.
    pub async fn recording(&self, id: &str) -> Result<Option<RecordingRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recordings WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Recordings, newest first (at most `limit`).
    pub async fn list_recordings(&self, limit: i64) -> Result<Vec<RecordingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recordings ORDER BY created_at DESC, id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Recordings left unfinished by `worker` (a previous life of this
    /// worker) or by any worker whose heartbeat is older than `stale_before`.
    pub async fn orphaned_recordings(
        &self,
        worker: &str,
        stale_before: i64,
    ) -> Result<Vec<RecordingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recordings WHERE state IN ('pending', 'recording', 'finalizing') \
             AND (worker = $1 OR heartbeat_at IS NULL OR heartbeat_at < $2) ORDER BY created_at"
        )))
        .bind(worker)
        .bind(stale_before)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Finished recordings that ended (or were asked for) before `before`.
    pub async fn expired_recordings(&self, before: i64) -> Result<Vec<RecordingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recordings WHERE state IN ('done', 'failed') \
             AND COALESCE(ended_at, created_at) < $1 ORDER BY created_at"
        )))
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Removes a recording's row; [`StoreError::Missing`] if there is none.
    pub async fn remove_recording(&self, id: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM recordings WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("recording {id}")));
        }
        Ok(())
    }
}
