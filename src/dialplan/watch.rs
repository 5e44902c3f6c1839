//! Reloading: a poller that notices changed dialplan files (names, sizes,
//! modification times) and publishes the new plan, keeping the last good one
//! when the new one has errors. No inotify: one `stat` per file per interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::model::Dialplan;
use super::parse::{load, plan_files};

/// How often [`spawn_watcher`] looks at the files by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What the dialplan files looked like: changes when a file is added,
/// removed, resized or touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Fingerprint {
    /// Never looked (a plan built from text).
    #[default]
    None,
    /// The path could not be listed.
    Unreadable(String),
    /// Each file's path, size and modification time.
    Files(Vec<(PathBuf, u64, Option<SystemTime>)>),
}

impl Fingerprint {
    /// Looks at the files `path` stands for (see [`load`]).
    pub(crate) fn of(path: &Path) -> Fingerprint {
        let files = match plan_files(path) {
            Ok(f) => f,
            Err(e) => return Fingerprint::Unreadable(e.to_string()),
        };
        Fingerprint::Files(
            files
                .into_iter()
                .map(|f| {
                    let meta = std::fs::metadata(&f).ok();
                    let len = meta.as_ref().map_or(u64::MAX, |m| m.len());
                    let modified = meta.and_then(|m| m.modified().ok());
                    (f, len, modified)
                })
                .collect(),
        )
    }
}

/// Polls `path` every `interval`; when its files change, reloads them. A good
/// plan is sent on `on_change` (receivers pick it up for their next call;
/// calls in progress keep the plan they were routed with). A plan with
/// errors is not sent: every error is logged with `file:line:col` and the
/// previous plan stays. Runs until the returned task is aborted. Needs a
/// tokio runtime.
pub fn spawn_watcher(
    path: PathBuf,
    interval: Duration,
    on_change: watch::Sender<Arc<Dialplan>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = on_change.borrow().fingerprint.clone();
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let p = path.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || Fingerprint::of(&p)).await else {
                continue;
            };
            if now == seen {
                continue;
            }
            seen = now;
            let p = path.clone();
            let Ok(result) = tokio::task::spawn_blocking(move || load(&p)).await else {
                continue;
            };
            match result {
                Ok(plan) => {
                    seen = plan.fingerprint.clone();
                    tracing::info!(
                        path = %path.display(),
                        routes = plan.routes.len(),
                        files = plan.files.len(),
                        "dialplan reloaded"
                    );
                    on_change.send_replace(Arc::new(plan));
                }
                Err(errors) => {
                    for e in &errors {
                        tracing::error!("{e}");
                    }
                    tracing::error!(
                        path = %path.display(),
                        errors = errors.len(),
                        "dialplan not reloaded: keeping the previous plan"
                    );
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[[route]]\nname = \"a\"\naction = \"ivr\"\n";
    const GOOD2: &str =
        "[[route]]\nname = \"b\"\naction = \"reject\"\ncode = 603\n[[route]]\naction = \"ivr\"\n";

    async fn wait_for(rx: &mut watch::Receiver<Arc<Dialplan>>) -> bool {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn changed_files_are_reloaded_and_bad_ones_keep_the_last_good_plan() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("main.toml");
        std::fs::write(&file, GOOD).unwrap();
        let plan = load(dir.path()).unwrap();
        assert_eq!(plan.routes.len(), 1);
        let (tx, mut rx) = watch::channel(Arc::new(plan));
        let task = spawn_watcher(dir.path().to_path_buf(), Duration::from_millis(20), tx);

        std::fs::write(&file, GOOD2).unwrap();
        assert!(wait_for(&mut rx).await, "a good change is published");
        assert_eq!(rx.borrow_and_update().routes.len(), 2);

        std::fs::write(&file, "[[route]\nbroken").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.changed())
                .await
                .is_err(),
            "a broken plan is not published"
        );
        assert_eq!(rx.borrow().routes.len(), 2, "the last good plan stays");

        std::fs::write(dir.path().join("zz-more.toml"), GOOD).unwrap();
        std::fs::write(&file, GOOD).unwrap();
        assert!(wait_for(&mut rx).await, "fixing it publishes again");
        let plan = rx.borrow_and_update().clone();
        let names: Vec<&str> = plan.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "a"]);
        assert_eq!(plan.files.len(), 2);
        task.abort();
    }
}
