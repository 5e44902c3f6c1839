//! The store behaves the same on SQLite and PostgreSQL. The PostgreSQL URL
//! comes from DIALROOM_PG_URL, which scripts/test.sh sets after starting a
//! local server; without it these tests fail rather than pass unseen.

use dialroom::sip::auth::Credentials;
use dialroom::sip::registrar::{Aor, Binding, Change};
use dialroom::store::{Backend, Store, StoreError};

fn pg_url() -> String {
    std::env::var("DIALROOM_PG_URL")
        .expect("DIALROOM_PG_URL is not set: run scripts/test.sh, which starts a local PostgreSQL")
}

/// A fresh PostgreSQL database per test (tests run in parallel).
async fn pg_store(name: &str) -> Store {
    let admin = Store::connect(&pg_url(), 1)
        .await
        .expect("PostgreSQL is reachable");
    let db = format!("dialroom_test_{name}_{}", std::process::id());
    admin
        .execute_raw(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    admin
        .execute_raw(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let base = pg_url();
    let url = match base.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{db}"),
        None => panic!("DIALROOM_PG_URL needs a database path"),
    };
    let s = Store::connect(&url, 4).await.unwrap();
    s.migrate().await.unwrap();
    s
}

async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/dir/test.db", dir.path().display());
    let s = Store::connect(&url, 4).await.unwrap();
    s.migrate().await.unwrap();
    (dir, s)
}

fn binding(contact: &str, expires_at: u64) -> Binding {
    Binding {
        contact: contact.into(),
        q: 500,
        expires_at,
        call_id: "cid".into(),
        cseq: 7,
        received: Some("udp:192.0.2.1:5060".into()),
        user_agent: None,
    }
}

async fn users_roundtrip(s: &Store) {
    let creds = Credentials::from_password("alice", "example.com", "pw");
    let v0 = s.users_version().await.unwrap();
    s.add_user("alice", &creds).await.unwrap();
    assert!(matches!(
        s.add_user("alice", &creds).await,
        Err(StoreError::Exists(_))
    ));
    let listed = s.list_users().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "alice");
    let all = s.user_credentials().await.unwrap();
    assert_eq!(all[0].1, creds);
    assert_ne!(all[0].1.ha1_md5, "pw", "no clear passwords");
    assert!(s.users_version().await.unwrap() > v0);
    let new = Credentials::from_password("alice", "example.com", "pw2");
    s.set_user_credentials("alice", &new).await.unwrap();
    assert_eq!(s.user_credentials().await.unwrap()[0].1, new);
    assert!(matches!(
        s.remove_user("nobody").await,
        Err(StoreError::Missing(_))
    ));
}

async fn locations_roundtrip(s: &Store) {
    let alice = Aor::parse("alice").unwrap();
    s.apply_location_changes(&[
        Change::Upsert(alice.clone(), binding("sip:alice@10.0.0.1", 2000)),
        Change::Upsert(alice.clone(), binding("sip:alice@10.0.0.2", 500)),
    ])
    .await
    .unwrap();
    // upsert replaces
    let mut b = binding("sip:alice@10.0.0.1", 3000);
    b.cseq = 8;
    s.apply_location_changes(&[Change::Upsert(alice.clone(), b.clone())])
        .await
        .unwrap();
    let live = s.live_bindings(1000).await.unwrap();
    assert_eq!(live.len(), 1, "the expired one is not live");
    assert_eq!(live[0].binding, b);
    assert_eq!(s.purge_expired_bindings(1000).await.unwrap(), 1);
    s.apply_location_changes(&[Change::Remove(alice.clone(), "sip:alice@10.0.0.1".into())])
        .await
        .unwrap();
    assert!(s.live_bindings(0).await.unwrap().is_empty());
    // removing a user removes its bindings too
    s.apply_location_changes(&[Change::Upsert(
        alice.clone(),
        binding("sip:alice@10.0.0.3", 9000),
    )])
    .await
    .unwrap();
    s.remove_user("alice").await.unwrap();
    assert!(s.live_bindings(0).await.unwrap().is_empty());
    // migrations are idempotent
    s.migrate().await.unwrap();
}

/// API tokens: shown once, found by the token, stored only as a digest.
async fn tokens_roundtrip(s: &Store) {
    use dialroom::store::tokens::Role;
    let t = s.add_token("ops", Role::Admin).await.unwrap();
    let v = s.add_token("wall", Role::Viewer).await.unwrap();
    assert_ne!(t, v);
    assert!(matches!(
        s.add_token("ops", Role::Viewer).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        s.find_token(&t).await.unwrap(),
        Some(("ops".to_string(), Role::Admin))
    );
    assert_eq!(
        s.find_token(&v).await.unwrap(),
        Some(("wall".to_string(), Role::Viewer))
    );
    assert_eq!(s.find_token("drt_nope").await.unwrap(), None);
    let names: Vec<String> = s
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["ops", "wall"]);
    s.remove_token("ops").await.unwrap();
    assert_eq!(s.find_token(&t).await.unwrap(), None);
    assert!(matches!(
        s.remove_token("ops").await,
        Err(StoreError::Missing(_))
    ));
}

/// Admin accounts and sessions (argon2 hashes, session digests, the join on
/// admins), and dialplan versions (ids handed out as max + 1).
async fn admins_and_dialplans_roundtrip(s: &Store) {
    use dialroom::store::tokens::Role;
    s.add_admin("ann", "correct horse", Role::Admin)
        .await
        .unwrap();
    assert!(matches!(
        s.add_admin("ann", "x", Role::Viewer).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        s.check_admin_password("ann", "correct horse")
            .await
            .unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(s.check_admin_password("ann", "nope").await.unwrap(), None);
    let (token, csrf) = s.create_session("ann", 60).await.unwrap();
    let sess = s.find_session(&token).await.unwrap().unwrap();
    assert_eq!(
        (sess.admin.as_str(), sess.role, sess.csrf),
        ("ann", Role::Admin, csrf)
    );
    s.set_admin_password("ann", "battery staple").await.unwrap();
    assert_eq!(
        s.find_session(&token).await.unwrap(),
        None,
        "a new password ends sessions"
    );
    s.remove_admin("ann").await.unwrap();
    assert!(s.list_admins().await.unwrap().is_empty());

    assert_eq!(s.latest_dialplan_id("main").await.unwrap(), None);
    let a = s
        .add_dialplan_version("main", "a = 1", "files", "")
        .await
        .unwrap();
    let b = s
        .add_dialplan_version("main", "b = 2", "ann", "why")
        .await
        .unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(s.latest_dialplan_id("main").await.unwrap(), Some(2));
    assert_eq!(
        s.latest_dialplan_version("main").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(s.dialplan_version(1).await.unwrap(), Some(a.clone()));
    assert_eq!(s.list_dialplan_versions("main").await.unwrap(), [b, a]);
}

#[tokio::test]
async fn sqlite_admins_and_dialplan_versions() {
    let (_d, s) = sqlite_store().await;
    admins_and_dialplans_roundtrip(&s).await;
}

#[tokio::test]
async fn postgres_admins_and_dialplan_versions() {
    let s = pg_store("ad").await;
    admins_and_dialplans_roundtrip(&s).await;
}

#[tokio::test]
async fn sqlite_users_and_locations() {
    let (_d, s) = sqlite_store().await;
    users_roundtrip(&s).await;
    locations_roundtrip(&s).await;
    tokens_roundtrip(&s).await;
}

#[tokio::test]
async fn postgres_users_and_locations() {
    let s = pg_store("ul").await;
    users_roundtrip(&s).await;
    locations_roundtrip(&s).await;
    tokens_roundtrip(&s).await;
}

#[tokio::test]
async fn a_failed_batch_writes_nothing_on_sqlite() {
    let (_d, s) = sqlite_store().await;
    batch_is_atomic(&s).await;
}

#[tokio::test]
async fn a_failed_batch_writes_nothing_on_postgres() {
    let s = pg_store("atomic").await;
    batch_is_atomic(&s).await;
}

async fn batch_is_atomic(s: &Store) {
    let a = Aor::parse("alice").unwrap();
    // A guard makes the second row of the batch fail: nothing of the batch may remain.
    let guard = match s.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER guard BEFORE INSERT ON locations WHEN NEW.contact = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'bad contact'); END"
        }
        Backend::Postgres => "ALTER TABLE locations ADD CONSTRAINT guard CHECK (contact <> 'bad')",
    };
    s.execute_raw(guard).await.unwrap();
    let res = s
        .apply_location_changes(&[
            Change::Upsert(a.clone(), binding("sip:alice@10.0.0.9", 9000)),
            Change::Upsert(a.clone(), binding("bad", 9000)),
        ])
        .await;
    assert!(res.is_err());
    assert!(
        s.live_bindings(0).await.unwrap().is_empty(),
        "half a batch was written"
    );
}

/// Recording jobs: pending -> recording -> done, orphans of a dead or
/// restarted worker, retention, removal.
async fn recordings_roundtrip(s: &Store) {
    use dialroom::store::recordings::{Finished, RecordingState, unix_ms};
    let dir = tempfile::tempdir().unwrap();
    s.add_recording("00000000000000a1", "room-1", "api:ops", true, "w1")
        .await
        .unwrap();
    let r = s.recording("00000000000000a1").await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.tracks, r.files.len()),
        (RecordingState::Pending, true, 0)
    );
    let files = vec!["00000000000000a1.opus".to_string()];
    s.start_recording("00000000000000a1", &files, unix_ms())
        .await
        .unwrap();
    s.recording_progress("00000000000000a1", &files, 1000, 4096)
        .await
        .unwrap();
    let r = s.recording("00000000000000a1").await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.duration_ms, r.size_bytes),
        (RecordingState::Recording, 1000, 4096)
    );
    assert_eq!(r.files, files);
    // w1 restarted: its job is an orphan for w1 at once, for others only when stale.
    assert_eq!(s.orphaned_recordings("w1", 0).await.unwrap().len(), 1);
    assert!(s.orphaned_recordings("w2", 0).await.unwrap().is_empty());
    assert_eq!(
        s.orphaned_recordings("w2", unix_ms() + 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let done = Finished {
        state: RecordingState::Done,
        reason: Some("room empty".into()),
        files: files.clone(),
        duration_ms: 2000,
        size_bytes: 8000,
        ended_at: Some(1000),
    };
    s.finish_recording("00000000000000a1", &done).await.unwrap();
    let r = s.recording("00000000000000a1").await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.reason.as_deref(), r.ended_at),
        (RecordingState::Done, Some("room empty"), Some(1000))
    );
    assert!(
        s.orphaned_recordings("w1", unix_ms())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.list_recordings(10).await.unwrap().len(), 1);
    // Retention: rows (and files) older than the limit go together.
    std::fs::write(dir.path().join("00000000000000a1.opus"), b"x").unwrap();
    assert_eq!(
        dialroom::recorder::service::expire(s, dir.path(), 500)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        dialroom::recorder::service::expire(s, dir.path(), 2000)
            .await
            .unwrap(),
        1
    );
    assert!(!dir.path().join("00000000000000a1.opus").exists());
    assert!(s.recording("00000000000000a1").await.unwrap().is_none());
    assert!(matches!(
        s.remove_recording("00000000000000a1").await,
        Err(StoreError::Missing(_))
    ));
}

#[tokio::test]
async fn recordings_on_sqlite() {
    let (_d, s) = sqlite_store().await;
    recordings_roundtrip(&s).await;
}

#[tokio::test]
async fn recordings_on_postgres() {
    let s = pg_store("rec").await;
    recordings_roundtrip(&s).await;
}
