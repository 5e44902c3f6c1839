//! `dialroom serve`: the tokio shell around the sans-IO cores.
//!
//! One task owns the SIP [`Endpoint`]; transports feed it parsed messages,
//! and it hands location changes to a writer task that batches them into one
//! database transaction per `location_flush_ms`. A poller reloads the user
//! directory when `users_version` changes (the CLI bumps it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::sip::endpoint::{Action, Endpoint, EndpointConfig, Now};
use crate::sip::registrar::{Change, Limits};
use crate::sip::transaction::TimerConfig;
use crate::sip::transport::{self, Inbound, ListenSpec};
use crate::store::{Store, unix_now};

/// Live numbers the web side reads.
#[derive(Debug, Default)]
pub struct Status {
    /// SIP listeners are bound and the endpoint task runs.
    pub sip_up: AtomicBool,
    /// Live registrations.
    pub registrations: AtomicUsize,
    /// Live transactions.
    pub transactions: AtomicUsize,
}

/// A running server (used by `main` and by tests that embed it).
#[derive(Debug)]
pub struct Running {
    /// The SIP sockets actually bound (ports resolved).
    pub sip: Vec<ListenSpec>,
    /// The HTTP address actually bound.
    pub web: std::net::SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting work, flushes pending registrations and waits.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = self.done.await;
    }
}

fn endpoint_config(cfg: &Config, bound: &[ListenSpec]) -> EndpointConfig {
    let s = &cfg.sip;
    let mut local_hosts: Vec<String> = s.aliases.clone();
    for b in bound {
        local_hosts.push(b.addr.ip().to_string());
        local_hosts.push(b.addr.to_string());
    }
    local_hosts.push("localhost".into());
    EndpointConfig {
        domain: s.domain.clone(),
        local_hosts,
        limits: Limits {
            min_expires: s.min_expires,
            max_expires: s.max_expires,
            default_expires: s.default_expires,
            max_contacts: s.max_contacts,
        },
        timers: TimerConfig {
            t1: Duration::from_millis(s.t1_ms),
            t2: Duration::from_millis(s.t2_ms),
            t4: Duration::from_millis(s.t4_ms),
        },
        algorithms: s.digest_algorithms.clone(),
        nonce_lifetime: s.nonce_lifetime,
        auth_failure_limit: s.auth_failure_limit,
        auth_failure_window: s.auth_failure_window,
        auth_block_seconds: s.auth_block_seconds,
    }
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix: unix_now(),
    }
}

/// Starts every part; returns once all listeners are bound.
pub async fn start(cfg: Config) -> Result<Running> {
    let store = Store::connect(&cfg.database.url, cfg.database.max_connections).await?;
    store.migrate().await?;

    let (in_tx, in_rx) = mpsc::channel::<Inbound>(4096);
    let (transports, bound) = transport::bind(&cfg.sip.listen, cfg.sip.max_message_size, in_tx)
        .await
        .map_err(|e| Error::io("binding SIP listeners", e))?;

    let secret: [u8; 32] = rand::random();
    let mut endpoint = Endpoint::new(endpoint_config(&cfg, &bound), secret);
    let mut ignored = Vec::new();
    let users: HashMap<_, _> = store.user_credentials().await?.into_iter().collect();
    endpoint.set_users(users, &mut ignored);
    let mut restored = 0usize;
    for sb in store.live_bindings(unix_now()).await? {
        if let Ok(aor) = crate::sip::registrar::Aor::parse(&sb.aor) {
            endpoint.load_binding(aor, sb.binding);
            restored += 1;
        }
    }
    let purged = store.purge_expired_bindings(unix_now()).await?;
    tracing::info!(restored, purged, "location service loaded");

    let status = Arc::new(Status::default());
    let web_listener = tokio::net::TcpListener::bind(cfg.web.listen)
        .await
        .map_err(|e| Error::io(format!("binding the web server on {}", cfg.web.listen), e))?;
    let web_addr = web_listener
        .local_addr()
        .map_err(|e| Error::io("reading the web address", e))?;
    tokio::spawn(crate::web::serve(
        web_listener,
        store.clone(),
        status.clone(),
    ));

    let (persist_tx, persist_rx) = mpsc::unbounded_channel::<Change>();
    let writer = tokio::spawn(location_writer(
        store.clone(),
        persist_rx,
        Duration::from_millis(cfg.sip.location_flush_ms.max(1)),
    ));
    let (users_tx, users_rx) = mpsc::channel(4);
    let poller = tokio::spawn(users_poller(store.clone(), users_tx));

    let (stop_tx, stop_rx) = oneshot::channel();
    let housekeeping = Duration::from_secs(cfg.sip.housekeeping_interval.max(1));
    let st = status.clone();
    st.sip_up.store(true, Ordering::Relaxed);
    let done = tokio::spawn(async move {
        endpoint_loop(
            endpoint,
            in_rx,
            users_rx,
            stop_rx,
            transports,
            persist_tx,
            housekeeping,
            st,
        )
        .await;
        poller.abort();
        // persist_tx is dropped: the writer flushes what is left and ends.
        let _ = writer.await;
    });
    Ok(Running {
        sip: bound,
        web: web_addr,
        shutdown: Some(stop_tx),
        done,
    })
}

#[allow(clippy::too_many_arguments)]
async fn endpoint_loop(
    mut ep: Endpoint,
    mut inbound: mpsc::Receiver<Inbound>,
    mut users: mpsc::Receiver<HashMap<String, crate::sip::auth::Credentials>>,
    mut stop: oneshot::Receiver<()>,
    transports: Arc<transport::Transports>,
    persist: mpsc::UnboundedSender<Change>,
    housekeeping: Duration,
    status: Arc<Status>,
) {
    let mut out: Vec<Action> = Vec::with_capacity(64);
    let mut sweep = tokio::time::interval(housekeeping);
    loop {
        let deadline = ep.poll_timeout();
        tokio::select! {
            _ = &mut stop => break,
            m = inbound.recv() => {
                let Some(m) = m else { break };
                let t = now();
                ep.on_inbound(t, m, &mut out);
                // Drain what is queued without yielding, then act once.
                for _ in 0..256 {
                    match inbound.try_recv() {
                        Ok(m) => ep.on_inbound(t, m, &mut out),
                        Err(_) => break,
                    }
                }
            }
            _ = sleep_until(deadline) => ep.handle_timeout(now(), &mut out),
            _ = sweep.tick() => {
                ep.housekeeping(now(), &mut out);
                status.registrations.store(ep.binding_count(), Ordering::Relaxed);
                status.transactions.store(ep.transaction_count(), Ordering::Relaxed);
            }
            u = users.recv() => if let Some(u) = u { ep.set_users(u, &mut out) },
        }
        for a in out.drain(..) {
            match a {
                Action::Send(flow, bytes) => transports.send(&flow, bytes),
                Action::Persist(c) => {
                    let _ = persist.send(c);
                }
            }
        }
    }
    status.sip_up.store(false, Ordering::Relaxed);
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Batches location changes into one transaction per interval; retries on failure.
async fn location_writer(store: Store, mut rx: mpsc::UnboundedReceiver<Change>, every: Duration) {
    let mut batch: Vec<Change> = Vec::new();
    loop {
        let closed = match rx.recv().await {
            Some(c) => {
                batch.push(c);
                tokio::time::sleep(every).await;
                while let Ok(c) = rx.try_recv() {
                    batch.push(c);
                }
                false
            }
            None => true,
        };
        if !batch.is_empty() {
            match store.apply_location_changes(&batch).await {
                Ok(()) => batch.clear(),
                Err(e) => {
                    tracing::error!(
                        "saving {} registration changes failed, will retry: {e}",
                        batch.len()
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if closed {
                        // One last try on shutdown, then give up loudly.
                        if let Err(e) = store.apply_location_changes(&batch).await {
                            tracing::error!(
                                "lost {} registration changes at shutdown: {e}",
                                batch.len()
                            );
                        }
                    }
                }
            }
        }
        if closed {
            return;
        }
    }
}

/// Reloads the user directory when another process changed it.
async fn users_poller(
    store: Store,
    tx: mpsc::Sender<HashMap<String, crate::sip::auth::Credentials>>,
) {
    let mut seen = store.users_version().await.ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Ok(v) = store.users_version().await else {
            continue;
        };
        if Some(v) == seen {
            continue;
        }
        match store.user_credentials().await {
            Ok(users) => {
                tracing::info!(users = users.len(), "user directory reloaded");
                if tx.send(users.into_iter().collect()).await.is_err() {
                    return;
                }
                seen = Some(v);
            }
            Err(e) => tracing::warn!("reloading users: {e}"),
        }
    }
}
