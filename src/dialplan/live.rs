//! The running dialplan, kept in the database with its whole history.
//!
//! * The newest version (table `dialplan_versions`, name [`PLAN_NAME`]) is
//!   the running plan. Saving (web editor, API, `dialroom dialplan import`,
//!   a changed file) validates the text first: a plan with errors is never
//!   stored. A rollback stores an old text again as a new version.
//! * The files in `[dialplan] path` are one more writer: at start, and
//!   whenever they change while the server runs, their text becomes a new
//!   version if it differs from the last text taken from them (author
//!   [`FILES_AUTHOR`]). With an empty table, that seeds it; without the
//!   directory, the built-in default does.
//! * [`LivePlan::spawn_sync`] polls the table (another process may have
//!   saved: the CLI, a second server on the same PostgreSQL) and the files
//!   every interval and publishes each new good plan on the `watch` channel
//!   the SIP endpoint reads for its next call.
//!
//! The rules are documented in docs/dialplan.md ("Storage and versions").

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use super::model::{Dialplan, DialplanError};
use super::parse::{load, parse_str, plan_files};
use super::watch::Fingerprint;
use crate::store::{DialplanVersion, Store, StoreError};

/// The name the running dialplan is stored under.
pub const PLAN_NAME: &str = "main";

/// The file name the stored text is checked (and exported) as: errors and
/// default route names (`main.toml#2`) use it.
pub const PLAN_FILE: &str = "main.toml";

/// The author of versions taken from the files in `[dialplan] path`.
pub const FILES_AUTHOR: &str = "files";

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The text has mistakes; nothing was stored.
    #[error("the dialplan has {} error(s)", .0.len())]
    Invalid(Vec<DialplanError>),
    /// No version with this id.
    #[error("no dialplan version {0}")]
    NoSuchVersion(i64),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The running dialplan and its writers; cheap to clone.
#[derive(Clone)]
pub struct LivePlan {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tx: watch::Sender<Arc<Dialplan>>,
    /// The id of the version running now; the lock also orders saves.
    running: Mutex<Option<i64>>,
}

impl std::fmt::Debug for LivePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePlan").finish_non_exhaustive()
    }
}

/// Parses a stored text as the running plan.
pub fn parse_version(text: &str) -> Result<Dialplan, Vec<DialplanError>> {
    parse_str(PLAN_FILE, text)
}

/// The text of the files `path` stands for, as one document: one file's
/// text as it is; several files in load order, each after a
/// `# --- file NAME ---` comment line. Checked with [`load`] first, so the
/// errors (if any) name the files and their own lines.
pub fn files_text(path: &Path) -> Result<String, Vec<DialplanError>> {
    load(path)?;
    let source = path.display().to_string();
    let whole = |message: String| {
        vec![DialplanError {
            file: source.clone(),
            line: 0,
            column: 0,
            span: 0..0,
            message,
        }]
    };
    let files = plan_files(path).map_err(|e| whole(format!("cannot read the dialplan: {e}")))?;
    let mut texts = Vec::new();
    for f in &files {
        let t = std::fs::read_to_string(f)
            .map_err(|e| whole(format!("{}: cannot read: {e}", f.display())))?;
        texts.push((f, t));
    }
    let text = match texts.as_slice() {
        [(_, t)] => t.clone(),
        _ => {
            let mut out = String::new();
            for (f, t) in &texts {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("?");
                out.push_str(&format!("# --- file {name} ---\n"));
                out.push_str(t);
                if !t.ends_with('\n') {
                    out.push('\n');
                }
            }
            out
        }
    };
    // Each file is good on its own; as one text they must be too.
    parse_version(&text).map_err(|errors| {
        whole(format!(
            "the files are good one by one but not joined into one text ({}): keep only [[route]] tables in them",
            errors
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        ))
    })?;
    Ok(text)
}

fn log_errors(what: &str, errors: &[DialplanError]) {
    for e in errors {
        tracing::error!("{e}");
    }
    tracing::error!(errors = errors.len(), "{what}: keeping the previous plan");
}

impl LivePlan {
    /// Loads the running plan from the database, first taking in the files
    /// at `path` (or the built-in default text when `path` does not exist
    /// and the table is empty). Returns the plan handle and the channel the
    /// SIP endpoint reads.
    pub async fn start(
        store: Store,
        path: &Path,
        built_in: &str,
    ) -> Result<(LivePlan, watch::Receiver<Arc<Dialplan>>), StoreError> {
        let (tx, rx) = watch::channel(Arc::new(Dialplan::empty(PLAN_FILE)));
        let live = LivePlan {
            inner: Arc::new(Inner {
                store,
                tx,
                running: Mutex::new(None),
            }),
        };
        if path.exists() {
            live.take_files(path).await?;
        } else if live
            .inner
            .store
            .latest_dialplan_id(PLAN_NAME)
            .await?
            .is_none()
        {
            tracing::info!(path = %path.display(), "no dialplan directory: seeding the built-in default dialplan");
            match live
                .save(built_in, "built-in", "the shipped dialplans/default.toml")
                .await
            {
                Ok(_) => {}
                Err(SaveError::Store(e)) => return Err(e),
                Err(e) => tracing::error!("the built-in dialplan was refused: {e}"),
            }
        }
        live.start_from_newest_good().await?;
        Ok((live, rx))
    }

    /// At start: the newest version that parses (a newer one that does not,
    /// e.g. written by another release, is logged and skipped).
    async fn start_from_newest_good(&self) -> Result<(), StoreError> {
        let mut running = self.inner.running.lock().await;
        for v in self.inner.store.list_dialplan_versions(PLAN_NAME).await? {
            match parse_version(&v.toml) {
                Ok(plan) => {
                    tracing::info!(
                        version = v.id,
                        routes = plan.routes.len(),
                        "dialplan loaded"
                    );
                    self.inner.tx.send_replace(Arc::new(plan));
                    *running = Some(v.id);
                    return Ok(());
                }
                Err(errors) => {
                    log_errors(&format!("dialplan version {} is not valid", v.id), &errors)
                }
            }
        }
        tracing::error!("no valid dialplan stored: every call gets 404 until one is saved");
        Ok(())
    }

    /// A new receiver of the running plan.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Dialplan>> {
        self.inner.tx.subscribe()
    }

    /// The database this plan lives in.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The id of the running version (None before the first save).
    pub async fn running_id(&self) -> Option<i64> {
        *self.inner.running.lock().await
    }

    /// Validates `text` and, if good, stores it as the newest version and
    /// runs it from the next call on. Text equal to the running version's is
    /// not stored again: that version is returned.
    pub async fn save(
        &self,
        text: &str,
        author: &str,
        comment: &str,
    ) -> Result<DialplanVersion, SaveError> {
        let plan = parse_version(text).map_err(SaveError::Invalid)?;
        let mut running = self.inner.running.lock().await;
        let store = &self.inner.store;
        if let Some(latest) = store.latest_dialplan_version(PLAN_NAME).await?
            && latest.toml == text
            && *running == Some(latest.id)
        {
            return Ok(latest);
        }
        let v = store
            .add_dialplan_version(PLAN_NAME, text, author, comment)
            .await?;
        tracing::info!(version = v.id, %author, routes = plan.routes.len(), "dialplan saved: new calls follow it");
        self.inner.tx.send_replace(Arc::new(plan));
        *running = Some(v.id);
        Ok(v)
    }

    /// Stores version `id`'s text again as the newest version.
    pub async fn rollback(&self, id: i64, author: &str) -> Result<DialplanVersion, SaveError> {
        let old = self
            .inner
            .store
            .dialplan_version(id)
            .await?
            .filter(|v| v.name == PLAN_NAME)
            .ok_or(SaveError::NoSuchVersion(id))?;
        self.save(&old.toml, author, &format!("rollback to version {id}"))
            .await
    }

    /// Publishes the newest stored version if another process saved it.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let Some(latest) = store.latest_dialplan_id(PLAN_NAME).await? else {
            return Ok(());
        };
        let mut running = self.inner.running.lock().await;
        if *running == Some(latest) {
            return Ok(());
        }
        let Some(v) = store.dialplan_version(latest).await? else {
            return Ok(());
        };
        match parse_version(&v.toml) {
            Ok(plan) => {
                tracing::info!(version = v.id, author = %v.author, "dialplan version saved elsewhere: new calls follow it");
                self.inner.tx.send_replace(Arc::new(plan));
            }
            Err(errors) => log_errors(&format!("dialplan version {} is not valid", v.id), &errors),
        }
        // Either way, this version has been looked at.
        *running = Some(latest);
        Ok(())
    }

    /// Takes in the files at `path` if their text differs from the last
    /// text taken from them. Errors are logged with `file:line:column`.
    async fn take_files(&self, path: &Path) -> Result<(), StoreError> {
        let p = path.to_path_buf();
        let text = match tokio::task::spawn_blocking(move || files_text(&p)).await {
            Ok(Ok(t)) => t,
            Ok(Err(errors)) => {
                log_errors(
                    &format!("dialplan files in {} not taken in", path.display()),
                    &errors,
                );
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        let last = self
            .inner
            .store
            .list_dialplan_versions(PLAN_NAME)
            .await?
            .into_iter()
            .find(|v| v.author == FILES_AUTHOR);
        if last.is_some_and(|v| v.toml == text) {
            return Ok(());
        }
        match self
            .save(&text, FILES_AUTHOR, &format!("from {}", path.display()))
            .await
        {
            Ok(_) => Ok(()),
            Err(SaveError::Store(e)) => Err(e),
            Err(e) => {
                tracing::error!("dialplan files not taken in: {e}");
                Ok(())
            }
        }
    }

    /// Polls the database and the files at `path` every `interval` (see the
    /// module docs). Runs until the task is aborted.
    pub fn spawn_sync(&self, path: PathBuf, interval: Duration) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            let p = path.clone();
            let mut seen = tokio::task::spawn_blocking(move || Fingerprint::of(&p))
                .await
                .unwrap_or_default();
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = live.sync().await {
                    tracing::warn!("reading dialplan versions: {e}");
                }
                if !path.exists() {
                    continue;
                }
                let p = path.clone();
                let Ok(now) = tokio::task::spawn_blocking(move || Fingerprint::of(&p)).await else {
                    continue;
                };
                if now == seen {
                    continue;
                }
                seen = now;
                if let Err(e) = live.take_files(&path).await {
                    tracing::warn!("saving the changed dialplan files: {e}");
                }
            }
        })
    }
}
