//! Recorder workers in other processes: the server's side.
//!
//! With `[recorder] in_process = false`, `dialroom serve` writes no files.
//! A recording it is asked for becomes a `pending` row with a tap URL on the
//! web port and a one-time key. A `dialroom recorder` process claims the row
//! from the database and opens `GET /recorder/tap/{id}` (a WebSocket, with
//! `Authorization: Bearer KEY`); only then does the room's media worker get
//! a tap, whose frames go out in [`super::wire`] messages. Stopping the
//! recording closes the tap: the socket gets `{"stop": REASON}` and a close.
//! A worker that goes away (killed, or done at its maximum length) closes
//! the socket, and the room is no longer recorded. A job nobody takes within
//! `claim_timeout_s` fails with that reason.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::service::{RecorderCommand, RecorderSettings, RecordingEnded};
use super::tap::{Tap, TapItem};
use crate::media::engine::MediaCommand;
use crate::media::worker::MediaEngine;
use crate::store::Store;

/// What a worker that opened a tap gets.
#[derive(Debug)]
pub struct TapGrant {
    /// The room's frames, as the media worker sends them.
    pub rx: Receiver<TapItem>,
    /// Why the recording was stopped, once it was.
    pub stop_reason: Arc<Mutex<Option<String>>>,
    /// Tells the hub the tap is closed when the grant goes (also when the
    /// upgrade never completes).
    _closer: Closer,
}

#[derive(Debug)]
struct Closer {
    hub: mpsc::UnboundedSender<Msg>,
    id: String,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.hub.send(Msg::Closed {
            id: std::mem::take(&mut self.id),
        });
    }
}

/// Why a tap is not opened (an HTTP status and a JSON error for the worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapRefusal {
    /// No pending recording has that id.
    Unknown,
    /// The key is not the recording's.
    BadKey,
    /// Another worker has the tap open.
    Taken,
}

impl TapRefusal {
    /// The HTTP status, the error code and a message.
    pub fn answer(self) -> (u16, &'static str, &'static str) {
        match self {
            TapRefusal::Unknown => (
                404,
                "not_found",
                "no recording waits for a worker under that id (stopped, failed or never asked for)",
            ),
            TapRefusal::BadKey => (401, "unauthorized", "wrong or missing tap key"),
            TapRefusal::Taken => (409, "taken", "another worker has this recording's tap open"),
        }
    }
}

enum Msg {
    Open {
        id: String,
        key: String,
        reply: oneshot::Sender<Result<TapGrant, TapRefusal>>,
    },
    Closed {
        id: String,
    },
}

/// The web server's handle on the taps.
#[derive(Debug, Clone)]
pub struct TapHub(mpsc::UnboundedSender<Msg>);

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Open { id, .. } => write!(f, "Open({id})"),
            Msg::Closed { id } => write!(f, "Closed({id})"),
        }
    }
}

impl TapHub {
    /// Opens the tap of recording `id` for the worker that presents `key`.
    pub async fn open(&self, id: &str, key: &str) -> Result<TapGrant, TapRefusal> {
        let (reply, rx) = oneshot::channel();
        let _ = self.0.send(Msg::Open {
            id: id.to_string(),
            key: key.to_string(),
            reply,
        });
        rx.await.unwrap_or(Err(TapRefusal::Unknown))
    }
}

struct Waiting {
    room: String,
    tracks: bool,
    key: String,
    since: Instant,
    open: bool,
    /// Set when the recording is stopped (so the tap closing is expected).
    stop_reason: Arc<Mutex<Option<String>>>,
}

impl Waiting {
    fn stopped(&self) -> bool {
        self.stop_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Starts the server's side (`tap_base`: the URL workers reach the web port
/// at, without a trailing slash); returns where call control sends commands,
/// where endings arrive, and the web server's handle.
pub fn start(
    settings: RecorderSettings,
    store: Store,
    media: MediaEngine,
    tap_base: String,
) -> (
    mpsc::UnboundedSender<RecorderCommand>,
    mpsc::UnboundedReceiver<RecordingEnded>,
    TapHub,
) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    let (hub_tx, hub_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(
        settings,
        store,
        media,
        tap_base,
        cmd_rx,
        (hub_tx.clone(), hub_rx),
        ended_tx,
    ));
    (cmd_tx, ended_rx, TapHub(hub_tx))
}

async fn run(
    s: RecorderSettings,
    store: Store,
    media: MediaEngine,
    tap_base: String,
    mut cmds: mpsc::UnboundedReceiver<RecorderCommand>,
    (hub_tx, mut hub): (mpsc::UnboundedSender<Msg>, mpsc::UnboundedReceiver<Msg>),
    ended: mpsc::UnboundedSender<RecordingEnded>,
) {
    let mut jobs: HashMap<String, Waiting> = HashMap::new();
    let timeout = Duration::from_secs(s.config.claim_timeout_s.max(1));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None => return,
                Some(RecorderCommand::Start { id, room, by, tracks }) => {
                    let tracks = tracks.unwrap_or(s.config.tracks);
                    let key = hex::encode(rand::random::<[u8; 16]>());
                    let url = format!("{tap_base}/recorder/tap/{id}");
                    match store.add_unclaimed_recording(&id, &room, &by, tracks, &url, &key).await {
                        Ok(()) => {
                            tracing::info!(%id, %room, %by, "recording waits for a recorder worker");
                            jobs.insert(id, Waiting {
                                room, tracks, key, since: Instant::now(), open: false,
                                stop_reason: Arc::default(),
                            });
                        }
                        Err(e) => {
                            tracing::error!(%room, "recording not started: {e}");
                            let _ = ended.send(RecordingEnded { room, id });
                        }
                    }
                }
                Some(RecorderCommand::Stop { id, room, reason }) => {
                    let Some(w) = jobs.get_mut(&id) else { continue };
                    if w.open {
                        w.stop_reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
                        media.send(MediaCommand::Record { room, tap: None });
                    } else {
                        jobs.remove(&id);
                        let why = format!("{reason} before a recorder worker took the job");
                        if let Err(e) = store.fail_pending_recording(&id, &why).await {
                            tracing::warn!(%id, "recording row: {e}");
                        }
                        let _ = ended.send(RecordingEnded { room, id });
                    }
                }
            },
            Some(m) = hub.recv() => match m {
                Msg::Open { id, key, reply } => {
                    let answer = match jobs.get_mut(&id) {
                        None => Err(TapRefusal::Unknown),
                        Some(w) if w.key != key => Err(TapRefusal::BadKey),
                        Some(w) if w.open => Err(TapRefusal::Taken),
                        Some(w) => {
                            w.open = true;
                            let (tap, rx) = Tap::new(&id, w.tracks, s.config.bitrate, s.config.complexity);
                            media.send(MediaCommand::Record { room: w.room.clone(), tap: Some(tap) });
                            tracing::info!(%id, room = %w.room, "recorder worker opened the tap");
                            Ok(TapGrant {
                                rx,
                                stop_reason: w.stop_reason.clone(),
                                _closer: Closer { hub: hub_tx.clone(), id: id.clone() },
                            })
                        }
                    };
                    if let Err(r) = &answer {
                        tracing::warn!(%id, ?r, "recorder tap refused");
                    }
                    let _ = reply.send(answer);
                }
                Msg::Closed { id } => {
                    let Some(w) = jobs.remove(&id) else { continue };
                    if !w.stopped() {
                        // The worker went away (killed, or at its maximum length).
                        tracing::warn!(%id, room = %w.room, "the recorder worker closed the tap");
                        media.send(MediaCommand::Record { room: w.room.clone(), tap: None });
                    }
                    let _ = ended.send(RecordingEnded { room: w.room, id });
                }
            },
            _ = tick.tick() => {
                let late: Vec<String> = jobs
                    .iter()
                    .filter(|(_, w)| !w.open && w.since.elapsed() >= timeout)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in late {
                    let Some(w) = jobs.remove(&id) else { continue };
                    let why = format!(
                        "no recorder worker took the job within {} s (is `dialroom recorder` running?)",
                        timeout.as_secs()
                    );
                    tracing::error!(%id, room = %w.room, "{why}");
                    if let Err(e) = store.fail_pending_recording(&id, &why).await {
                        tracing::warn!(%id, "recording row: {e}");
                    }
                    let _ = ended.send(RecordingEnded { room: w.room, id });
                }
            }
        }
    }
}

/// Serves one opened tap on its WebSocket until the recording stops or the
/// worker goes away: a thread turns the tap's items into wire messages (the
/// tap's queue is a blocking one), this task writes them.
pub async fn pump(mut ws: axum::extract::ws::WebSocket, id: String, grant: TapGrant) {
    use axum::extract::ws::Message;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let TapGrant {
        rx: items,
        stop_reason,
        _closer,
    } = grant;
    let spawned = std::thread::Builder::new()
        .name(format!("tap-{}", &id[..8.min(id.len())]))
        .spawn(move || {
            while let Ok(item) = items.recv() {
                let mut b = Vec::with_capacity(32 + super::tap::MAX_FRAME);
                super::wire::encode(&item, &mut b);
                if tx.blocking_send(b).is_err() {
                    break;
                }
            }
        });
    if spawned.is_err() {
        tracing::error!(%id, "no thread for the recorder tap");
        return;
    }
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(b) => {
                    if ws.send(Message::Binary(b.into())).await.is_err() {
                        break;
                    }
                }
                None => {
                    // The tap closed: stopped, or the room emptied.
                    let reason = stop_reason
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone()
                        .unwrap_or_else(|| "room empty".into());
                    let _ = ws.send(Message::Text(super::wire::stop_message(&reason).into())).await;
                    let _ = ws.send(Message::Close(None)).await;
                    break;
                }
            },
            r = ws.recv() => match r {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Dropping the closer tells the hub.
    drop(_closer);
}
