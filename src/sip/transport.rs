//! Transports: the thin tokio shells that move SIP bytes (RFC 3261 §18).
//!
//! The seam is [`Flow`] (protocol, local and remote address, connection id)
//! and [`Transports::send`]. A UDP socket and each TCP connection turn bytes
//! into [`Inbound`] events for the endpoint task; TLS and WebSocket (RFC 7118)
//! are further [`Protocol`]s whose connections register a sender in the same
//! table, so the endpoint core never knows which one it talks to.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::framing::{Frame, Framer};
use super::message::{self, Message, Reject};
use super::stateless::Stateless;
use crate::tls::TlsAcceptor;

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Datagrams.
    Udp,
    /// A byte stream.
    Tcp,
    /// A byte stream over TLS (RFC 3261 §26.2.1).
    Tls,
    /// WebSocket messages (RFC 7118) on the web port: browser softphones.
    Ws,
}

impl Protocol {
    /// True when the transport retransmits for us (no Timer A/E/G).
    pub fn is_reliable(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Tls | Protocol::Ws)
    }
    /// The Via transport token.
    pub fn token(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Ws => "WS",
        }
    }

    /// The `;transport=` URI parameter for our Contact (none for UDP).
    pub fn uri_param(self) -> &'static str {
        match self {
            Protocol::Udp => "",
            Protocol::Tcp => ";transport=tcp",
            Protocol::Tls => ";transport=tls",
            Protocol::Ws => ";transport=ws",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::Ws => "ws",
        })
    }
}

/// A socket to listen on, written `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    /// The protocol.
    pub protocol: Protocol,
    /// The address.
    pub addr: SocketAddr,
}

impl FromStr for ListenSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("listen {s:?} is not PROTO:IP:PORT"))?;
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "udp" => Protocol::Udp,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            p => {
                return Err(format!(
                    "listen {s:?}: unknown protocol {p:?} (udp, tcp, tls)"
                ));
            }
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("listen {s:?}: {addr:?} is not IP:PORT"))?;
        Ok(ListenSpec { protocol, addr })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.addr)
    }
}

impl<'de> Deserialize<'de> for ListenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The protocol.
    pub protocol: Protocol,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The connection (0 for datagrams).
    pub conn: u64,
}

/// A message (or a refusal) read from the network.
#[derive(Debug)]
pub struct Inbound {
    /// Where it came from.
    pub flow: Flow,
    /// The parsed message or why it was refused.
    pub message: Result<Message, Reject>,
}

/// An open connection: its peer, its protocol, and its writer's queue.
type Conn = (SocketAddr, Protocol, mpsc::Sender<Arc<[u8]>>);

/// A connection we may open ourselves (to a provider's registrar), and
/// what it needs.
#[derive(Clone)]
pub struct Dial {
    /// The name its TLS certificate must carry (the registrar's host).
    pub server_name: String,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<crate::tls::TlsConnector>,
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dial({}, tls: {})", self.server_name, self.tls.is_some())
    }
}

/// A connection we opened could not be made: the endpoint is told (a
/// registration over it fails with this reason).
#[derive(Debug, Clone)]
pub struct TransportError {
    /// The peer.
    pub remote: SocketAddr,
    /// The protocol.
    pub protocol: Protocol,
    /// Why, in words (a refused connection, a TLS handshake failure).
    pub reason: String,
}

/// A peer we open connections to: its address and protocol.
type DialKey = (SocketAddr, Protocol);

/// What connections we open ourselves need: where their messages go.
#[derive(Debug)]
struct DialCtx {
    inbound: mpsc::Sender<Inbound>,
    errors: mpsc::UnboundedSender<TransportError>,
    max: usize,
}

/// The sending half of every transport, shared by the endpoint task.
#[derive(Debug, Default)]
pub struct Transports {
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Open connections by id.
    conns: Mutex<HashMap<u64, Conn>>,
    next_conn: AtomicU64,
    /// Peers we open connections to when there is none (registrars over TCP/TLS).
    dials: Mutex<HashMap<DialKey, Dial>>,
    /// What waits for a connection being opened.
    waiting: Mutex<HashMap<DialKey, Vec<Arc<[u8]>>>>,
    dial_ctx: OnceLock<DialCtx>,
    /// Itself, for the tasks of connections it opens.
    me: OnceLock<std::sync::Weak<Transports>>,
}

impl Transports {
    /// Sends `bytes` on `flow`. Never blocks; a full or closed connection drops them.
    pub fn send(&self, flow: &Flow, bytes: Arc<[u8]>) {
        match flow.protocol {
            Protocol::Udp => {
                if let Some(sock) = self.udp.get(&flow.local)
                    && let Err(e) = sock.try_send_to(&bytes, flow.remote)
                {
                    tracing::debug!(remote = %flow.remote, "udp send failed: {e}");
                }
            }
            Protocol::Tcp | Protocol::Tls | Protocol::Ws => {
                let conns = self
                    .conns
                    .lock()
                    .expect("connection table lock is never poisoned");
                // A flow without a connection id (a contact to ring, known
                // by the address its REGISTER came from): the connection
                // open to that peer, if any.
                let tx = match conns.get(&flow.conn) {
                    Some(c) => Some(c.2.clone()),
                    None if flow.conn == 0 => conns
                        .values()
                        .find(|c| c.0 == flow.remote && c.1 == flow.protocol)
                        .map(|c| c.2.clone()),
                    None => None,
                };
                drop(conns);
                match tx {
                    Some(tx) => {
                        if tx.try_send(bytes).is_err() {
                            tracing::debug!(remote = %flow.remote, "tcp send queue full or closed");
                        }
                    }
                    None if flow.conn == 0 => self.dial(flow, bytes),
                    None => tracing::debug!(remote = %flow.remote, "tcp connection is gone"),
                }
            }
        }
    }
}

impl Transports {
    /// Lets the endpoint open a connection to `remote` over `protocol`
    /// (TCP or TLS) when it sends there and none is open; failures are
    /// reported on `errors`, messages read on it go to `inbound`.
    pub fn allow_dial(
        &self,
        remote: SocketAddr,
        protocol: Protocol,
        dial: Dial,
        inbound: mpsc::Sender<Inbound>,
        errors: mpsc::UnboundedSender<TransportError>,
        max: usize,
    ) {
        let _ = self.dial_ctx.set(DialCtx {
            inbound,
            errors,
            max,
        });
        self.dials
            .lock()
            .expect("dial table lock is never poisoned")
            .insert((remote, protocol), dial);
    }

    fn me(&self) -> Option<Arc<Transports>> {
        self.me.get()?.upgrade()
    }

    /// Opens a connection to `flow.remote` (if we may) with `bytes` as its
    /// first message; later sends wait for it.
    fn dial(self: &Transports, flow: &Flow, bytes: Arc<[u8]>) {
        let key = (flow.remote, flow.protocol);
        let Some(dial) = self
            .dials
            .lock()
            .expect("dial table lock is never poisoned")
            .get(&key)
            .cloned()
        else {
            tracing::debug!(remote = %flow.remote, "no connection to {} and none to open", flow.remote);
            return;
        };
        let Some(ctx) = self.dial_ctx.get() else {
            return;
        };
        {
            let mut waiting = self.waiting.lock().expect("waiting lock is never poisoned");
            if let Some(q) = waiting.get_mut(&key) {
                q.push(bytes);
                return;
            }
            waiting.insert(key, vec![bytes]);
        }
        let Some(me) = self.me() else {
            return;
        };
        let (inbound, errors, max) = (ctx.inbound.clone(), ctx.errors.clone(), ctx.max);
        let protocol = flow.protocol;
        let remote = flow.remote;
        tokio::spawn(async move {
            let fail = |reason: String| {
                me.waiting
                    .lock()
                    .expect("waiting lock is never poisoned")
                    .remove(&key);
                tracing::warn!(%remote, transport = %protocol, "connection failed: {reason}");
                let _ = errors.send(TransportError {
                    remote,
                    protocol,
                    reason,
                });
            };
            let connect = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tokio::net::TcpStream::connect(remote),
            );
            let stream = match connect.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return fail(format!("connecting to {remote}: {e}")),
                Err(_) => return fail(format!("connecting to {remote}: timed out")),
            };
            let _ = stream.set_nodelay(true);
            let Ok(local) = stream.local_addr() else {
                return fail("no local address".into());
            };
            let conn = me.next_conn.fetch_add(1, Ordering::Relaxed);
            let flow = Flow {
                protocol,
                local,
                remote,
                conn,
            };
            match dial.tls {
                None => {
                    tcp_connection(stream, flow, me.clone(), max, inbound, Some(key)).await;
                }
                Some(connector) => {
                    let name =
                        match rustls_pki_types::ServerName::try_from(dial.server_name.clone()) {
                            Ok(n) => n,
                            Err(e) => {
                                return fail(format!(
                                    "{:?} is not a server name: {e}",
                                    dial.server_name
                                ));
                            }
                        };
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        connector.connect(name, stream),
                    );
                    match handshake.await {
                        Ok(Ok(tls)) => {
                            tracing::info!(%remote, "TLS connection to the provider up");
                            tcp_connection(tls, flow, me.clone(), max, inbound, Some(key)).await;
                        }
                        Ok(Err(e)) => fail(format!("TLS handshake with {remote} failed: {e}")),
                        Err(_) => fail(format!("TLS handshake with {remote} timed out")),
                    }
                }
            }
        });
    }

    /// Registers a connection a shell outside this module accepted (a
    /// WebSocket on the web port): its id, for the flow of what it reads.
    pub fn register(
        &self,
        remote: SocketAddr,
        protocol: Protocol,
        tx: mpsc::Sender<Arc<[u8]>>,
    ) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.conns
            .lock()
            .expect("connection table lock is never poisoned")
            .insert(conn, (remote, protocol, tx));
        conn
    }

    /// Forgets a connection (it closed).
    pub fn unregister(&self, conn: u64) {
        self.conns
            .lock()
            .expect("connection table lock is never poisoned")
            .remove(&conn);
    }
}

/// Binds every listener. Returns the shared sender table; inbound messages go to `inbound`.
pub async fn bind(
    specs: &[ListenSpec],
    max_message: usize,
    inbound: mpsc::Sender<Inbound>,
    stateless: StatelessSlot,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<(Arc<Transports>, Vec<ListenSpec>)> {
    let mut udp = Vec::new();
    let mut readers = Vec::new();
    let mut tcp = Vec::new();
    let mut bound = Vec::new();
    for spec in specs {
        match spec.protocol {
            Protocol::Udp => {
                // SO_REUSEPORT would let a second server on this address
                // share it silently: first make sure it is free with a plain
                // bind (which also picks the port when it is 0).
                let addr = std::net::UdpSocket::bind(spec.addr)?.local_addr()?;
                let s = Arc::new(bind_udp(addr)?);
                bound.push(ListenSpec {
                    protocol: Protocol::Udp,
                    addr,
                });
                // More sockets on the same address (SO_REUSEPORT): the kernel
                // spreads datagrams over them by source, each has its own
                // buffer and reader task, so receiving and parsing run on
                // every core. Replies go out of the first; the address is the same.
                let mut extra = Vec::new();
                for _ in 1..udp_readers() {
                    match bind_udp(addr) {
                        Ok(x) => extra.push(Arc::new(x)),
                        Err(e) => {
                            tracing::debug!("no extra SIP UDP reader on {addr}: {e}");
                            break;
                        }
                    }
                }
                readers.extend(extra.into_iter().map(|x| (addr, x)));
                udp.push((addr, s));
            }
            Protocol::Ws => {
                return Err(std::io::Error::other(format!(
                    "{spec}: SIP over WebSocket is served on the web port (/sip-ws), not a [sip] listener"
                )));
            }
            Protocol::Tcp | Protocol::Tls => {
                let acceptor = match spec.protocol {
                    Protocol::Tls => Some(tls.clone().ok_or_else(|| {
                        std::io::Error::other(format!(
                            "{spec} needs a certificate ([sip] tls_cert and tls_key)"
                        ))
                    })?),
                    _ => None,
                };
                let l = TcpListener::bind(spec.addr).await?;
                let addr = l.local_addr()?;
                bound.push(ListenSpec {
                    protocol: spec.protocol,
                    addr,
                });
                tcp.push((addr, l, acceptor));
            }
        }
    }
    let transports = Arc::new(Transports {
        udp: udp.iter().cloned().collect(),
        conns: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(1),
        ..Default::default()
    });
    let _ = transports.me.set(Arc::downgrade(&transports));
    for (addr, sock) in udp.into_iter().chain(readers) {
        tokio::spawn(udp_loop(
            addr,
            sock,
            max_message,
            inbound.clone(),
            stateless.clone(),
        ));
    }
    for (addr, l, acceptor) in tcp {
        tokio::spawn(tcp_accept_loop(
            addr,
            l,
            acceptor,
            transports.clone(),
            max_message,
            inbound.clone(),
        ));
    }
    Ok((transports, bound))
}

/// Bytes of kernel buffer asked for on SIP UDP sockets: bursts of requests
/// (a registration storm after an outage) must queue, not be dropped, while
/// the endpoint task catches up. The kernel caps it at net.core.rmem_max.
const UDP_BUFFER: usize = 4 << 20;

/// Reader tasks (sockets) per SIP UDP address: one per core, at most 4.
fn udp_readers() -> usize {
    if cfg!(unix) {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    }
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    let _ = s.set_recv_buffer_size(UDP_BUFFER);
    let _ = s.set_send_buffer_size(UDP_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs a refused message once per source, not once per datagram.
fn log_refusal(remote: SocketAddr, reason: &str) {
    tracing::info!(%remote, "refused SIP message: {reason}");
}

/// Where the endpoint puts its [`Stateless`] answerer once it exists (the
/// listeners are bound first: the endpoint needs their addresses).
pub type StatelessSlot = Arc<OnceLock<Arc<Stateless>>>;

async fn udp_loop(
    local: SocketAddr,
    sock: Arc<UdpSocket>,
    max: usize,
    inbound: mpsc::Sender<Inbound>,
    stateless: StatelessSlot,
) {
    let mut buf = vec![0u8; max.max(1500) + 1];
    let mut last_bad: Option<SocketAddr> = None;
    loop {
        let (n, remote) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP port unreachable and friends surface here on some systems.
                tracing::debug!("udp recv on {local}: {e}");
                continue;
            }
        };
        let data = &buf[..n];
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
            continue; // keep-alive
        }
        let flow = Flow {
            protocol: Protocol::Udp,
            local,
            remote,
            conn: 0,
        };
        let message = if n > max {
            Err(Reject {
                status: None,
                reason: "datagram too large".into(),
                reply: None,
            })
        } else {
            message::parse(data)
        };
        if let Err(r) = &message
            && last_bad != Some(remote)
        {
            log_refusal(remote, &r.reason);
            last_bad = Some(remote);
        }
        // Challenges are answered here, on this reader's core, without a
        // transaction (RFC 3261 §8.2.7); everything else goes to the endpoint.
        if let Ok(Message::Request(req)) = &message
            && let Some(st) = stateless.get()
            && let Some(bytes) = st.answer(unix_now(), &flow, req)
        {
            if let Err(e) = sock.try_send_to(&bytes, remote) {
                tracing::debug!(%remote, "udp send failed: {e}");
            }
            continue;
        }
        if inbound.send(Inbound { flow, message }).await.is_err() {
            return;
        }
    }
}

async fn tcp_accept_loop(
    local: SocketAddr,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    transports: Arc<Transports>,
    max: usize,
    inbound: mpsc::Sender<Inbound>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                let conn = transports.next_conn.fetch_add(1, Ordering::Relaxed);
                let flow = Flow {
                    protocol: if tls.is_some() {
                        Protocol::Tls
                    } else {
                        Protocol::Tcp
                    },
                    local,
                    remote,
                    conn,
                };
                let (transports, inbound) = (transports.clone(), inbound.clone());
                match tls.clone() {
                    None => {
                        tokio::spawn(tcp_connection(stream, flow, transports, max, inbound, None));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            // A slow or failed handshake costs only this task.
                            let handshake = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                acceptor.accept(stream),
                            );
                            match handshake.await {
                                Ok(Ok(tls)) => {
                                    tcp_connection(tls, flow, transports, max, inbound, None).await;
                                }
                                Ok(Err(e)) => {
                                    tracing::info!(%remote, "SIP TLS handshake failed: {e}");
                                }
                                Err(_) => {
                                    tracing::info!(%remote, "SIP TLS handshake timed out");
                                }
                            }
                        });
                    }
                }
            }
            Err(e) => {
                tracing::warn!("tcp accept on {local}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// A connection that sends nothing complete for this long is closed.
const TCP_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// Reads and writes one connection until it closes. `dialed`: we opened
/// it, and what waited for it goes out first.
async fn tcp_connection<S>(
    stream: S,
    flow: Flow,
    transports: Arc<Transports>,
    max: usize,
    inbound: mpsc::Sender<Inbound>,
    dialed: Option<DialKey>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(256);
    transports
        .conns
        .lock()
        .expect("connection table lock is never poisoned")
        .insert(flow.conn, (flow.remote, flow.protocol, tx.clone()));
    if let Some(key) = dialed {
        let queued = transports
            .waiting
            .lock()
            .expect("waiting lock is never poisoned")
            .remove(&key)
            .unwrap_or_default();
        for b in queued {
            let _ = tx.try_send(b);
        }
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = Framer::new(max);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match tokio::time::timeout(TCP_IDLE, rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {
                    let _ = tx.try_send(Arc::from(&b"\r\n"[..]));
                }
                Ok(Some(Frame::Message(m))) => {
                    let message = message::parse(&m);
                    if let Err(r) = &message {
                        log_refusal(flow.remote, &r.reason);
                    }
                    if inbound.send(Inbound { flow, message }).await.is_err() {
                        break 'read;
                    }
                }
                Err(e) => {
                    // Unframeable: answer 400 if the head allows it, then close.
                    log_refusal(flow.remote, &e.to_string());
                    let reply = match message::parse(framer.pending()) {
                        Err(r) => r.reply,
                        Ok(m) => Some(Box::new(m.core().reply.clone())),
                    };
                    if let Some(ctx) = reply {
                        let bytes = message::ResponseBuilder::new(&ctx, 400)
                            .source(flow.remote)
                            .header("Warning", format!("399 dialroom \"{e}\""))
                            .build();
                        let _ = tx.try_send(bytes.into());
                    }
                    break 'read;
                }
            }
        }
    }
    transports
        .conns
        .lock()
        .expect("connection table lock is never poisoned")
        .remove(&flow.conn);
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs_parse_and_print() {
        let s: ListenSpec = "tcp:127.0.0.1:5062".parse().unwrap();
        assert_eq!(s.protocol, Protocol::Tcp);
        assert_eq!(s.to_string(), "tcp:127.0.0.1:5062");
        assert!("udp:nowhere".parse::<ListenSpec>().is_err());
        assert!("5060".parse::<ListenSpec>().is_err());
    }

    fn udp_spec(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            protocol: Protocol::Udp,
            addr,
        }
    }

    #[tokio::test]
    async fn a_second_server_on_a_taken_udp_port_fails_instead_of_sharing_it() {
        let (tx, mut rx) = mpsc::channel(16);
        let any = "127.0.0.1:0".parse().unwrap();
        let (_t, bound) = bind(
            &[udp_spec(any)],
            65_535,
            tx.clone(),
            Default::default(),
            None,
        )
        .await
        .unwrap();
        let addr = bound[0].addr;
        // Another dialroom (whose sockets also ask for SO_REUSEPORT) is refused.
        assert!(
            bind(&[udp_spec(addr)], 65_535, tx, Default::default(), None)
                .await
                .is_err()
        );
        // Every datagram still reaches the one endpoint channel, whichever
        // reader socket the kernel hands it to.
        let mut sources = Vec::new();
        for i in 0..8 {
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let msg = format!(
                "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK{i}\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: {i}\r\nCSeq: 1 OPTIONS\r\n\
                 Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                c.local_addr().unwrap().port()
            );
            c.send_to(msg.as_bytes(), addr).unwrap();
            sources.push(c);
        }
        for _ in 0..8 {
            let m = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .expect("every datagram arrives")
                .unwrap();
            assert!(m.message.is_ok());
        }
    }
}
