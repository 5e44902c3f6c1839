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
use crate::dialplan::Dialplan;
use crate::error::{Error, Result};
use crate::media::engine::MediaEvent;
use crate::media::worker::{MediaEngine, WorkerConfig};
use crate::sip::call::CallConfig;
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
    /// Live calls.
    pub calls: AtomicUsize,
    /// The media workers' counters.
    pub media: Arc<crate::media::stats::MediaStats>,
    /// Where recordings are written (`[recorder] dir`), for downloads.
    pub recorder_dir: std::sync::OnceLock<std::path::PathBuf>,
    /// Where the web API sends room actions (set once the endpoint task runs).
    pub admin: std::sync::OnceLock<mpsc::Sender<crate::sip::admin::AdminRequest>>,
    /// Trunks registering to providers, and where each is.
    pub trunk_registrations: std::sync::Mutex<Vec<(String, crate::sip::outbound::RegState)>>,
    /// The media taps of recorder workers in other processes (`[recorder] in_process = false`).
    pub recorder_taps: std::sync::OnceLock<crate::recorder::remote::TapHub>,
    /// SIP over WebSocket on the web port (set once the SIP transports are bound).
    pub sip_ws: std::sync::OnceLock<crate::web::sip_ws::SipWs>,
}

impl Status {
    /// Each registering trunk and where it is (a copy).
    pub fn trunk_registrations(&self) -> Vec<(String, crate::sip::outbound::RegState)> {
        self.trunk_registrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A running server (used by `main` and by tests that embed it).
#[derive(Debug)]
pub struct Running {
    /// The SIP sockets actually bound (ports resolved).
    pub sip: Vec<ListenSpec>,
    /// The HTTP address actually bound.
    pub web: std::net::SocketAddr,
    /// The XMPP client-to-server address actually bound (when enabled).
    pub xmpp: Option<std::net::SocketAddr>,
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
        md5_only_user_agents: s
            .md5_only_user_agents
            .iter()
            .filter_map(|r| regex::Regex::new(r).ok())
            .collect(),
        calls: {
            let mut c = CallConfig {
                codecs: cfg.media.codecs.clone(),
                rtp_ports: cfg.media.rtp_ports.0.clone(),
                media_ip: cfg.media.ip,
                media_public_ip: cfg.media.public_ip,
                public_ip: s.public_ip,
                session_expires: s.session_expires,
                min_se: s.min_se,
                timezone_offset_minutes: cfg.dialplan.timezone_offset_minutes,
                udp_local: bound
                    .iter()
                    .find(|b| b.protocol == crate::sip::transport::Protocol::Udp)
                    .map(|b| b.addr),
                stream_local: bound
                    .iter()
                    .filter(|b| b.protocol != crate::sip::transport::Protocol::Udp)
                    .map(|b| (b.protocol, b.addr))
                    .collect(),
                ..CallConfig::default()
            };
            c.set_trunks(&cfg.trunks);
            c
        },
        nonce_lifetime: s.nonce_lifetime,
        auth_failure_limit: s.auth_failure_limit,
        auth_failure_window: s.auth_failure_window,
        auth_block_seconds: s.auth_block_seconds,
        keepalive: (s.keepalive_s > 0).then(|| Duration::from_secs(s.keepalive_s)),
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
    let stateless = transport::StatelessSlot::default();
    let sip_tls = match (&cfg.sip.tls_cert, &cfg.sip.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::tls::acceptor(cert, key)
                .map_err(|e| Error::Usage(format!("[sip] tls_cert/tls_key: {e}")))?,
        ),
        _ => None,
    };
    let ws_inbound = in_tx.clone();
    let (transports, bound) = transport::bind(
        &cfg.sip.listen,
        cfg.sip.max_message_size,
        in_tx,
        stateless.clone(),
        sip_tls,
    )
    .await
    .map_err(|e| Error::io("binding SIP listeners", e))?;

    let secret: [u8; 32] = rand::random();
    let mut endpoint = Endpoint::new(endpoint_config(&cfg, &bound), secret);
    // Connections we open (registrars over TCP/TLS) report failures here.
    let (conn_err_tx, conn_err_rx) = mpsc::unbounded_channel();
    let dial_ctx = (ws_inbound.clone(), conn_err_tx, cfg.sip.max_message_size);
    // Trunks: the config file's (a mistake there stops the server) and the
    // database's (a bad one is logged); the trunks poller takes changes in.
    let stored_trunks = store.list_trunks().await?;
    let trunks_seen = format!("{stored_trunks:?}");
    let mut regs = trunk_registrations(&cfg.trunks, &bound, &transports, &dial_ctx).await?;
    regs.extend(registrations_logged(&stored_trunks, &bound, &transports, &dial_ctx).await);
    let all_trunks: Vec<_> = cfg.trunks.iter().cloned().chain(stored_trunks).collect();
    endpoint.set_trunks(&all_trunks);
    endpoint.set_trunk_registrations(regs);
    let _ = stateless.set(endpoint.stateless());
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

    // The running dialplan lives in the database (docs/dialplan.md); the
    // files in [dialplan] path are taken in at start and when they change.
    let (live_plan, mut plan_rx) =
        crate::dialplan::LivePlan::start(store.clone(), &cfg.dialplan.path, DEFAULT_DIALPLAN)
            .await?;
    endpoint.set_dialplan(plan_rx.borrow_and_update().clone());
    let plan_sync =
        live_plan.spawn_sync(cfg.dialplan.path.clone(), crate::dialplan::DEFAULT_INTERVAL);
    let status = Arc::new(Status::default());
    std::thread::spawn(crate::media::prompts::warm_up);
    let (media_tx, media_rx) = mpsc::unbounded_channel::<MediaEvent>();
    // Phone callers' audio for browsers: media workers -> the SFU (when it runs).
    let (phones_tx, phones_rx) = mpsc::unbounded_channel::<crate::bridge::PhoneRtp>();
    let media = MediaEngine::start(
        cfg.media.workers,
        WorkerConfig {
            talkers: cfg.media.talkers,
            rtp_timeout: Duration::from_secs(cfg.media.rtp_timeout.max(1)),
            opus_complexity: cfg.media.opus_complexity,
            stats: status.media.clone(),
            to_browsers: (cfg.xmpp.enabled && cfg.sfu.enabled).then_some(phones_tx),
        },
        media_tx,
    );

    let _ = status.recorder_dir.set(cfg.recorder.dir.clone());
    let web_listener = tokio::net::TcpListener::bind(cfg.web.listen)
        .await
        .map_err(|e| Error::io(format!("binding the web server on {}", cfg.web.listen), e))?;
    let web_addr = web_listener
        .local_addr()
        .map_err(|e| Error::io("reading the web address", e))?;
    let _ = status.sip_ws.set(crate::web::sip_ws::SipWs {
        transports: transports.clone(),
        inbound: ws_inbound,
        local: web_addr,
        max: cfg.sip.max_message_size,
    });
    let (recorder, recorder_ended) = if cfg.recorder.enabled && cfg.recorder.in_process {
        let settings = recorder_settings(&cfg, web_addr);
        tracing::info!(dir = %settings.config.dir.display(), worker = %settings.worker_id, "recorder worker running in-process");
        let (tx, rx) = crate::recorder::service::start(settings, store.clone(), media.clone());
        (Some(tx), rx)
    } else if cfg.recorder.enabled {
        let settings = recorder_settings(&cfg, web_addr);
        let base = tap_base_url(&cfg, web_addr);
        tracing::info!(tap = %base, "recordings are left to `dialroom recorder` workers");
        let (tx, rx, hub) =
            crate::recorder::remote::start(settings, store.clone(), media.clone(), base);
        let _ = status.recorder_taps.set(hub);
        (Some(tx), rx)
    } else {
        (None, mpsc::unbounded_channel().1)
    };
    let bridge = crate::sfu::Bridge {
        media: media.clone(),
        phones: phones_rx,
    };
    // Room actions (the admin API, browser moderators) to the endpoint task.
    let (admin_tx, admin_rx) = mpsc::channel(64);
    let (xmpp, xmpp_addr, sfu) = start_xmpp(&cfg, &store, bridge, admin_tx.clone()).await?;
    endpoint.set_ws_local(web_addr);
    // Browser softphones' calls (WebRTC offers) are answered through the SFU.
    endpoint.set_webrtc(sfu.as_ref().map(|s| crate::sip::webrtc::WebrtcConfig {
        candidate: s.candidate,
        fingerprint: s.fingerprint.clone(),
    }));
    tokio::spawn(crate::web::serve(
        web_listener,
        store.clone(),
        status.clone(),
        xmpp.clone(),
        crate::web::Admin::new(live_plan, &cfg),
    ));

    let (persist_tx, persist_rx) = mpsc::unbounded_channel::<Change>();
    let writer = tokio::spawn(location_writer(
        store.clone(),
        persist_rx,
        Duration::from_millis(cfg.sip.location_flush_ms.max(1)),
    ));
    let (users_tx, users_rx) = mpsc::channel(4);
    let poller = tokio::spawn(users_poller(store.clone(), users_tx));
    let (trunks_tx, trunks_rx) = mpsc::channel(4);
    let trunk_poller = tokio::spawn(trunks_poller(
        store.clone(),
        cfg.trunks.clone(),
        trunks_seen,
        trunks_tx,
        (bound.clone(), transports.clone(), dial_ctx.clone()),
    ));

    let store_for_loop = store.clone();
    let (stop_tx, stop_rx) = oneshot::channel();
    let housekeeping = Duration::from_secs(cfg.sip.housekeeping_interval.max(1));
    let st = status.clone();
    let _ = st.admin.set(admin_tx);
    st.sip_up.store(true, Ordering::Relaxed);
    let done = tokio::spawn(async move {
        let io = Io {
            inbound: in_rx,
            users: users_rx,
            trunks: trunks_rx,
            plans: plan_rx,
            media_events: media_rx,
            stop: stop_rx,
            transports,
            persist: persist_tx,
            media,
            store: store_for_loop,
            admin: admin_rx,
            recorder,
            recorder_ended,
            xmpp,
            sfu,
            conn_errors: conn_err_rx,
        };
        endpoint_loop(endpoint, io, housekeeping, st).await;
        poller.abort();
        trunk_poller.abort();
        plan_sync.abort();
        // persist_tx is dropped: the writer flushes what is left and ends.
        let _ = writer.await;
    });
    Ok(Running {
        sip: bound,
        web: web_addr,
        xmpp: xmpp_addr,
        shutdown: Some(stop_tx),
        done,
    })
}

/// Starts the XMPP hub and its TCP listener when `[xmpp] enabled`.
async fn start_xmpp(
    cfg: &Config,
    store: &Store,
    bridge: crate::sfu::Bridge,
    calls: mpsc::Sender<crate::sip::admin::AdminRequest>,
) -> Result<(
    Option<crate::xmpp::Handle>,
    Option<std::net::SocketAddr>,
    Option<crate::sfu::Sfu>,
)> {
    let x = &cfg.xmpp;
    if !x.enabled {
        return Ok((None, None, None));
    }
    let tls = match (&x.tls_cert, &x.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::tls::acceptor(cert, key)
                .map_err(|e| Error::Usage(format!("[xmpp] tls_cert/tls_key: {e}")))?,
        ),
        _ => None,
    };
    let starttls = match (&tls, x.require_tls) {
        (None, _) => crate::xmpp::StartTls::Off,
        (Some(_), false) => crate::xmpp::StartTls::Offered,
        (Some(_), true) => crate::xmpp::StartTls::Required,
    };
    let session = crate::xmpp::SessionConfig {
        domain: x.domain.to_ascii_lowercase(),
        anonymous: x.anonymous,
        max_stanza: x.max_stanza_size,
        starttls,
    };
    let sfu = start_sfu(cfg, bridge).await;
    let handle = crate::xmpp::start(session, store.clone(), sfu.clone(), Some(calls))
        .map_err(|e| Error::Usage(format!("[xmpp] domain {:?}: {e}", x.domain)))?;
    let listener = tokio::net::TcpListener::bind(x.listen)
        .await
        .map_err(|e| Error::io(format!("binding XMPP on {}", x.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the XMPP address", e))?;
    let encryption = match starttls {
        crate::xmpp::StartTls::Off => "plain TCP",
        crate::xmpp::StartTls::Offered => "TCP with STARTTLS offered",
        crate::xmpp::StartTls::Required => "TCP with STARTTLS required",
    };
    tokio::spawn(crate::xmpp::tcp::serve(listener, handle.clone(), tls));
    tracing::info!(%addr, domain = %x.domain, "XMPP listening ({encryption}, and /xmpp-websocket)");
    Ok((Some(handle), Some(addr), sfu))
}

/// Starts the SFU on `[sfu] port` when enabled. A port that cannot be bound
/// is logged as an error and the server runs without browser media (the
/// focus then answers Jingle with `service-unavailable`).
async fn start_sfu(cfg: &Config, bridge: crate::sfu::Bridge) -> Option<crate::sfu::Sfu> {
    let c = &cfg.sfu;
    if !c.enabled {
        return None;
    }
    let addr = std::net::SocketAddr::new(c.listen_ip, c.port);
    let started = match crate::sfu::bind(addr) {
        Ok(socket) => crate::sfu::start(socket, c.public_ip, Some(bridge)),
        Err(e) => Err(e),
    };
    match started {
        Ok(sfu) => {
            tracing::info!(%addr, candidate = %sfu.candidate, "SFU listening (UDP, ICE-lite, DTLS-SRTP)");
            Some(sfu)
        }
        Err(e) => {
            tracing::error!(%addr, "SFU not started, no browser media: {e}");
            None
        }
    }
}

/// Everything the endpoint task reads from and writes to.
struct Io {
    inbound: mpsc::Receiver<Inbound>,
    users: mpsc::Receiver<HashMap<String, crate::sip::auth::Credentials>>,
    /// The trunks (config and database), whenever the database's change.
    trunks: mpsc::Receiver<TrunksUpdate>,
    plans: tokio::sync::watch::Receiver<Arc<Dialplan>>,
    media_events: mpsc::UnboundedReceiver<MediaEvent>,
    stop: oneshot::Receiver<()>,
    transports: Arc<transport::Transports>,
    persist: mpsc::UnboundedSender<Change>,
    media: MediaEngine,
    store: Store,
    admin: mpsc::Receiver<crate::sip::admin::AdminRequest>,
    recorder: Option<mpsc::UnboundedSender<crate::recorder::RecorderCommand>>,
    recorder_ended: mpsc::UnboundedReceiver<crate::recorder::RecordingEnded>,
    /// The XMPP hub, told about phone callers (the bridge to browsers).
    xmpp: Option<crate::xmpp::Handle>,
    /// The SFU, for the WebRTC media of browser softphones' calls.
    sfu: Option<crate::sfu::Sfu>,
    /// Connections we opened that failed (a registrar's TLS handshake).
    conn_errors: mpsc::UnboundedReceiver<transport::TransportError>,
}

/// The recorder's settings from `[recorder]`; the worker id defaults to the
/// host name and web address, which stay the same across restarts of one
/// server (so a restarted server finds the jobs it left at once).
pub fn recorder_settings(
    cfg: &Config,
    web: std::net::SocketAddr,
) -> crate::recorder::RecorderSettings {
    let r = &cfg.recorder;
    let host = host_name();
    crate::recorder::RecorderSettings {
        config: r.clone(),
        worker_id: r
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{host}:{web}")),
    }
}

/// This machine's name (for worker ids).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Where recorder workers reach this server's taps: `[recorder] tap_url`,
/// else `ws://` and the web listener (loopback when it listens everywhere).
pub fn tap_base_url(cfg: &Config, web: std::net::SocketAddr) -> String {
    if let Some(u) = &cfg.recorder.tap_url {
        return u.trim_end_matches('/').to_string();
    }
    let mut a = web;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("ws://{a}")
}

/// A meeting lookup's answer: the leg and (room, pin, moderator pin).
type MeetingAnswer = (
    crate::conference::LegId,
    Option<(String, Option<String>, Option<String>)>,
);

/// Hands the endpoint the running dialplan.
fn take_plan(
    plans: &mut tokio::sync::watch::Receiver<Arc<crate::dialplan::Dialplan>>,
    ep: &mut Endpoint,
) {
    let plan = plans.borrow_and_update().clone();
    tracing::info!(
        routes = plan.routes.len(),
        "dialplan reloaded: new calls follow it"
    );
    ep.set_dialplan(plan);
}

async fn endpoint_loop(mut ep: Endpoint, mut io: Io, housekeeping: Duration, status: Arc<Status>) {
    let mut out: Vec<Action> = Vec::with_capacity(64);
    let mut sweep = tokio::time::interval(housekeeping);
    let (found_tx, mut found_rx) = mpsc::unbounded_channel::<MeetingAnswer>();
    let mut gauges = tokio::time::interval(Duration::from_millis(250));
    gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_publish = Instant::now();
    publish(&ep, &status);
    loop {
        let deadline = ep.poll_timeout();
        tokio::select! {
            _ = &mut io.stop => break,
            m = io.inbound.recv() => {
                let Some(m) = m else { break };
                let t = now();
                // Drain what is queued without yielding, then act once.
                let mut next = Some(m);
                for _ in 0..=256 {
                    let Some(m) = next.take().or_else(|| io.inbound.try_recv().ok()) else {
                        break;
                    };
                    // A plan saved before this message came routes it, even
                    // if this loop had not yet woken for the change.
                    if io.plans.has_changed().unwrap_or(false) {
                        take_plan(&mut io.plans, &mut ep);
                    }
                    ep.on_inbound(t, m, &mut out);
                }
            }
            e = io.media_events.recv() => if let Some(e) = e { ep.on_media_event(now(), e, &mut out) },
            f = found_rx.recv() => if let Some((leg, m)) = f { ep.on_meeting(now(), leg, m, &mut out) },
            _ = sleep_until(deadline) => ep.handle_timeout(now(), &mut out),
            _ = sweep.tick() => ep.housekeeping(now(), &mut out),
            _ = gauges.tick() => {}
            r = io.admin.recv() => if let Some(r) = r { ep.admin(now(), r, &mut out) },
            Some(e) = io.recorder_ended.recv() => ep.on_recording_ended(&e.room, &e.id, &mut out),
            u = io.users.recv() => if let Some(u) = u { ep.set_users(u, &mut out) },
            t = io.trunks.recv() => if let Some(t) = t {
                ep.set_trunks(&t.all);
                ep.set_trunk_registrations(t.regs);
            },
            Some(e) = io.conn_errors.recv() => ep.on_transport_error(now(), &e),
            // (`changed` marks the value seen: take it unconditionally.)
            Ok(()) = io.plans.changed() => take_plan(&mut io.plans, &mut ep),
        }
        // The gauges walk the registrar: refresh them at most every 100 ms
        // (and at least every 250 ms, by the `gauges` tick).
        if last_publish.elapsed() >= Duration::from_millis(100) {
            publish(&ep, &status);
            last_publish = Instant::now();
        }
        let mut unrecorded: Vec<(String, String)> = Vec::new();
        for a in out.drain(..) {
            match a {
                Action::Send(flow, bytes) => io.transports.send(&flow, bytes),
                Action::Persist(c) => {
                    let _ = io.persist.send(c);
                }
                Action::Media(cmd) => io.media.send(cmd),
                Action::Phone(ev) => {
                    if let Some(x) = &io.xmpp {
                        x.phone(ev);
                    }
                }
                Action::Sfu(cmd) => {
                    if let Some(sfu) = &io.sfu {
                        sfu.send(cmd);
                    }
                }
                Action::Recorder(cmd) => match &io.recorder {
                    Some(r) => {
                        let _ = r.send(cmd);
                    }
                    None => {
                        tracing::warn!(?cmd, "no recorder runs here ([recorder] enabled = false)");
                        if let crate::recorder::RecorderCommand::Start { id, room, .. } = cmd {
                            unrecorded.push((room, id));
                        }
                    }
                },
                Action::LookupMeeting { leg, id } => {
                    let (store, tx) = (io.store.clone(), found_tx.clone());
                    tokio::spawn(async move {
                        let found = match store.find_meeting(&id).await {
                            Ok(m) => {
                                m.map(|m| (m.room.as_str().to_string(), m.pin, m.moderator_pin))
                            }
                            Err(e) => {
                                tracing::error!("meeting lookup failed: {e}");
                                None
                            }
                        };
                        let _ = tx.send((leg, found));
                    });
                }
            }
        }
        // Without a recorder a room is not left marked as recorded.
        for (room, id) in unrecorded {
            ep.on_recording_ended(&room, &id, &mut out);
        }
    }
    status.sip_up.store(false, Ordering::Relaxed);
}

/// The `[[trunk]]`s with a registrar, each on a flow from our UDP listener
/// to the registrar's address (resolved once, at start).
/// What connections to registrars need: the endpoint's inbox, where
/// failures go, the largest message.
type DialCtx = (
    mpsc::Sender<Inbound>,
    mpsc::UnboundedSender<transport::TransportError>,
    usize,
);

/// Resolves `HOST:PORT` (a registrar or an outbound proxy).
async fn resolve(trunk: &str, host: &str, port: u16) -> Result<std::net::SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::io(format!("[[trunk]] {trunk}: resolving {host}"), e))?
        .next()
        .ok_or_else(|| Error::Usage(format!("[[trunk]] {trunk}: {host} has no address")))
}

/// The registrations of the trunks that register (the config file's
/// checked at start: a mistake there stops the server).
async fn trunk_registrations(
    trunks: &[crate::config::TrunkConfig],
    bound: &[ListenSpec],
    transports: &Arc<transport::Transports>,
    dial_ctx: &DialCtx,
) -> Result<Vec<crate::sip::outbound::TrunkRegistration>> {
    let mut out = Vec::new();
    for t in trunks {
        if let Some(r) = trunk_registration(t, bound, transports, dial_ctx).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// One trunk's registration (None: it does not register): its registrar
/// (or proxy) resolved, the flow from our listener, a connection allowed
/// for TCP/TLS.
async fn trunk_registration(
    t: &crate::config::TrunkConfig,
    bound: &[ListenSpec],
    transports: &Arc<transport::Transports>,
    dial_ctx: &DialCtx,
) -> Result<Option<crate::sip::outbound::TrunkRegistration>> {
    use crate::sip::outbound::{Outbound, OutboundConfig, TrunkRegistration};
    use crate::sip::transport::{Dial, Flow, Protocol};
    let usage = |e: String| Error::Usage(format!("[[trunk]] {}: {e}", t.name));
    let Some(hp) = t.registrar_host_port() else {
        return Ok(None);
    };
    let (host, port) = hp.map_err(usage)?;
    let protocol = t.registrar_transport();
    // REGISTERs go to the outbound proxy when there is one.
    let remote = match t.proxy_host_port() {
        Some(p) => {
            let (ph, pp) = p.map_err(usage)?;
            resolve(&t.name, &ph, pp).await?
        }
        None => resolve(&t.name, &host, port).await?,
    };
    // Our address in Via and Contact: the listener of that transport,
    // else the UDP one (a connection we open has an ephemeral port).
    let local = bound
        .iter()
        .find(|b| b.protocol == protocol && b.addr.is_ipv4() == remote.is_ipv4())
        .or_else(|| {
            bound
                .iter()
                .find(|b| b.protocol == Protocol::Udp && b.addr.is_ipv4() == remote.is_ipv4())
        })
        .map(|b| b.addr)
        .ok_or_else(|| {
            usage(format!(
                "registers from our {protocol} or udp listener: [sip] listen has neither"
            ))
        })?;
    if protocol != Protocol::Udp {
        let tls = match protocol {
            Protocol::Tls => {
                let ca = t
                    .tls_ca
                    .clone()
                    .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
                Some(crate::tls::connector(&ca).map_err(|e| usage(format!("tls_ca: {e}")))?)
            }
            _ => None,
        };
        transports.allow_dial(
            remote,
            protocol,
            Dial {
                server_name: host.clone(),
                tls,
            },
            dial_ctx.0.clone(),
            dial_ctx.1.clone(),
            dial_ctx.2,
        );
    }
    let oc = OutboundConfig {
        trunk: t.name.clone(),
        domain: t.domain_or_default().unwrap_or(host),
        username: t.username.clone().unwrap_or_default(),
        password: t.password.clone(),
        ha1: t.ha1.clone(),
        ha1_sha256: t.ha1_sha256.clone(),
        realm: t.realm.clone(),
        expires: t.expires,
        retry: Duration::from_secs(t.retry_s.max(1)),
    };
    Ok(Some(TrunkRegistration {
        reg: Outbound::new(oc, Instant::now(), rand::random()),
        flow: Flow {
            protocol,
            local,
            remote,
            conn: 0,
        },
    }))
}

fn publish(ep: &Endpoint, status: &Status) {
    if ep.has_trunk_registrations() {
        *status
            .trunk_registrations
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = ep.trunk_registrations();
    }
    status
        .registrations
        .store(ep.binding_count(), Ordering::Relaxed);
    status
        .transactions
        .store(ep.transaction_count(), Ordering::Relaxed);
    status.calls.store(ep.call_count(), Ordering::Relaxed);
}

/// The shipped dialplan, stored as the first version when `[dialplan] path`
/// does not exist and the database has none.
const DEFAULT_DIALPLAN: &str = include_str!("../dialplans/default.toml");

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
        crate::sip::registrar::coalesce(&mut batch);
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
/// The registrations of `trunks` that register; a trunk that cannot is
/// logged and left out.
async fn registrations_logged(
    trunks: &[crate::config::TrunkConfig],
    bound: &[ListenSpec],
    transports: &Arc<transport::Transports>,
    dial_ctx: &DialCtx,
) -> Vec<crate::sip::outbound::TrunkRegistration> {
    let mut regs = Vec::new();
    for t in trunks {
        match trunk_registration(t, bound, transports, dial_ctx).await {
            Ok(Some(r)) => regs.push(r),
            Ok(None) => {}
            Err(e) => tracing::warn!(trunk = %t.name, "the trunk cannot register: {e}"),
        }
    }
    regs
}

/// Reads the `trunks` table every second and, when it changed from `seen`
/// (what the server started with), hands the endpoint task the config
/// file's trunks and the database's together.
async fn trunks_poller(
    store: Store,
    config: Vec<crate::config::TrunkConfig>,
    seen: String,
    tx: mpsc::Sender<TrunksUpdate>,
    dial: (Vec<ListenSpec>, Arc<transport::Transports>, DialCtx),
) {
    let mut seen = seen;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let stored = match store.list_trunks().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("reading trunks: {e}");
                continue;
            }
        };
        let key = format!("{stored:?}");
        if seen == key {
            continue;
        }
        let all: Vec<_> = config.iter().cloned().chain(stored).collect();
        tracing::info!(trunks = all.len(), "trunks reloaded");
        // Registrations of every registering trunk; the endpoint keeps the
        // ones that did not change as they are.
        let regs = registrations_logged(&all, &dial.0, &dial.1, &dial.2).await;
        if tx.send(TrunksUpdate { all, regs }).await.is_err() {
            return;
        }
        seen = key;
    }
}

/// The trunks after a change in the database: all of them (source
/// addresses) and the registrations of those that register.
struct TrunksUpdate {
    all: Vec<crate::config::TrunkConfig>,
    regs: Vec<crate::sip::outbound::TrunkRegistration>,
}

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
