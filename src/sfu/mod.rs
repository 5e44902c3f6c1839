//! The SFU: every browser participant on one UDP port, ICE-lite, DTLS-SRTP,
//! RTP forwarded between the participants of a room without decoding.
//!
//! [`core::Core`] is sans-IO (str0m `Rtc` instances, demultiplexed by ICE
//! ufrag and source address); [`start`] spawns the thin tokio shell that
//! owns the socket and feeds it. Signaling (the focus's Jingle, in
//! `xmpp::conductor`) talks to it with [`Command`]s over a channel.

pub mod core;

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use self::core::{Command, EndpointId, SourceSpec};

use crate::bridge::{BrowserRtp, PhoneRtp, bridge_leg, sip_leg_of};
use crate::media::engine::MediaCommand;
use crate::media::worker::MediaEngine;

/// The SFU's side of the phone-browser bridge ([`crate::bridge`]): the media
/// workers (bridge legs for browsers' audio) and the phone callers' audio
/// they encode for browsers.
#[derive(Debug)]
pub struct Bridge {
    /// The media engine.
    pub media: MediaEngine,
    /// Phone callers' frames from the workers.
    pub phones: mpsc::UnboundedReceiver<PhoneRtp>,
}

/// What signaling needs to reach the SFU and to describe it in Jingle.
#[derive(Debug, Clone)]
pub struct Sfu {
    tx: mpsc::UnboundedSender<Command>,
    /// `sha-256 AB:CD:..` of the certificate every endpoint uses.
    pub fingerprint: String,
    /// The host candidate (`[sfu] public_ip` and the bound port).
    pub candidate: SocketAddr,
}

impl Sfu {
    /// Sends a command (never blocks; the SFU task may have ended at shutdown).
    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(cmd);
    }

    /// A handle whose commands go to `tx` (for tests of the signaling side).
    pub fn detached(
        tx: mpsc::UnboundedSender<Command>,
        fingerprint: String,
        candidate: SocketAddr,
    ) -> Sfu {
        Sfu {
            tx,
            fingerprint,
            candidate,
        }
    }
}

/// The SFU's socket on `addr`, with 4 MiB kernel buffers: every browser
/// of every room shares it, so a scheduling hiccup of the SFU task must not
/// overflow it.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Starts the SFU on `socket`, advertising `public_ip` with the socket's port.
pub fn start(
    socket: UdpSocket,
    public_ip: std::net::IpAddr,
    bridge: Option<Bridge>,
) -> std::io::Result<Sfu> {
    let port = socket.local_addr()?.port();
    let candidate = SocketAddr::new(public_ip, port);
    let provider = str0m::crypto::from_feature_flags();
    let cert = provider
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| std::io::Error::other("generating the DTLS certificate failed"))?;
    let core = core::Core::new(cert, candidate, Instant::now());
    let fingerprint = core.fingerprint().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(core, socket, rx, bridge));
    Ok(Sfu {
        tx,
        fingerprint,
        candidate,
    })
}

/// The shell's bridge state: each browser's bridge leg and its worker inbox.
struct BridgeShell {
    media: MediaEngine,
    phones: mpsc::UnboundedReceiver<PhoneRtp>,
    inboxes: std::collections::HashMap<EndpointId, std::sync::mpsc::Sender<BrowserRtp>>,
}

impl BridgeShell {
    /// Opens a bridge leg for a new endpoint, closes it for one that left.
    /// A SIP call's WebRTC endpoint has its leg already (call control's):
    /// its audio goes to that leg's worker.
    fn command(&mut self, cmd: &Command) {
        match cmd {
            // A SIP call's leg can move to another worker (it joins a room
            // placed elsewhere after a menu): its worker is looked up per packet.
            Command::Add { ep, .. } if sip_leg_of(*ep).is_some() => {}
            Command::Add { ep, room, name, .. } => {
                let leg = bridge_leg(*ep);
                self.media.send(MediaCommand::OpenBridge {
                    leg,
                    room: room.clone(),
                });
                self.media.send(MediaCommand::Name {
                    leg,
                    name: name.clone(),
                });
                if let Some(tx) = self.media.bridge_sender(leg) {
                    self.inboxes.insert(*ep, tx);
                }
            }
            Command::Remove { ep } => self.close(*ep),
            _ => {}
        }
    }

    fn close(&mut self, ep: EndpointId) {
        if sip_leg_of(ep).is_some() {
            // Call control closes a SIP leg.
            return;
        }
        if self.inboxes.remove(&ep).is_some() {
            self.media.send(MediaCommand::Close {
                leg: bridge_leg(ep),
            });
        }
    }

    /// Browsers' audio to their bridge legs.
    fn forward(&mut self, core: &mut core::Core) {
        for a in core.take_bridge_audio() {
            let sip = sip_leg_of(a.ep);
            let looked_up;
            let tx = match sip {
                Some(leg) => {
                    looked_up = self.media.bridge_sender(leg);
                    looked_up.as_ref()
                }
                None => self.inboxes.get(&a.ep),
            };
            if let Some(tx) = tx {
                let _ = tx.send(BrowserRtp {
                    leg: sip.unwrap_or_else(|| bridge_leg(a.ep)),
                    seq: a.seq,
                    ts: a.ts,
                    level: a.level,
                    payload: a.payload,
                });
            }
        }
    }
}

async fn run(
    mut core: core::Core,
    socket: UdpSocket,
    mut rx: mpsc::UnboundedReceiver<Command>,
    bridge: Option<Bridge>,
) {
    let mut bridge = bridge.map(|b| BridgeShell {
        media: b.media,
        phones: b.phones,
        inboxes: Default::default(),
    });
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = core.next_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        let phone = async {
            match bridge.as_mut() {
                Some(b) => b.phones.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => core.receive(Instant::now(), from, &buf[..n]),
                // ICMP port unreachable and the like: keep serving.
                Err(e) => tracing::debug!("sfu: recv: {e}"),
            },
            c = rx.recv() => match c {
                Some(c) => {
                    if let Some(b) = bridge.as_mut() {
                        b.command(&c);
                    }
                    core.command(Instant::now(), c);
                }
                None => break,
            },
            Some(p) = phone => core.write_phone(Instant::now(), &p),
            _ = sleep => core.timeout(Instant::now()),
        }
        if let Some(b) = bridge.as_mut() {
            b.forward(&mut core);
        }
        send_all(&socket, core.take_transmits()).await;
        for ep in core.take_gone() {
            tracing::info!(ep, "sfu: endpoint freed");
            if let Some(b) = bridge.as_mut() {
                b.close(ep);
            }
        }
    }
}

/// Datagrams per sendmmsg(2).
const BATCH: usize = 64;

/// Sends datagrams in order: batches of up to [`BATCH`] with one
/// sendmmsg(2) each (the SFU sends about nine datagrams for every one it
/// receives, and one syscall per datagram was most of its time); when the
/// socket takes none at once, one is sent waiting for it to be writable.
async fn send_all(socket: &UdpSocket, out: Vec<core::Transmit>) {
    let mut rest: &[core::Transmit] = &out;
    while !rest.is_empty() {
        let n = rest.len().min(BATCH);
        match socket.try_io(tokio::io::Interest::WRITABLE, || {
            send_batch(socket, &rest[..n])
        }) {
            Ok(sent) if sent > 0 => rest = &rest[sent..],
            _ => {
                let t = &rest[0];
                if let Err(e) = socket.send_to(&t.data, t.to).await {
                    tracing::debug!(to = %t.to, "sfu: send: {e}");
                }
                rest = &rest[1..];
            }
        }
    }
}

/// One sendmmsg(2) of `batch`; how many datagrams the kernel took.
fn send_batch(socket: &UdpSocket, batch: &[core::Transmit]) -> std::io::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;
    let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|t| [IoSlice::new(&t.data)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = batch
        .iter()
        .map(|t| Some(SockaddrStorage::from(t.to)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), None);
    let none: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(
        socket.as_raw_fd(),
        &mut headers,
        &slices,
        &addrs,
        none,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    Ok(sent.count())
}
