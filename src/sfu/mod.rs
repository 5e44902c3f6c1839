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

/// Starts the SFU on `socket`, advertising `public_ip` with the socket's port.
pub fn start(socket: UdpSocket, public_ip: std::net::IpAddr) -> std::io::Result<Sfu> {
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
    tokio::spawn(run(core, socket, rx));
    Ok(Sfu {
        tx,
        fingerprint,
        candidate,
    })
}

async fn run(mut core: core::Core, socket: UdpSocket, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = core.next_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => core.receive(Instant::now(), from, &buf[..n]),
                // ICMP port unreachable and the like: keep serving.
                Err(e) => tracing::debug!("sfu: recv: {e}"),
            },
            c = rx.recv() => match c {
                Some(c) => core.command(Instant::now(), c),
                None => break,
            },
            _ = sleep => core.timeout(Instant::now()),
        }
        for t in core.take_transmits() {
            if let Err(e) = socket.send_to(&t.data, t.to).await {
                tracing::debug!(to = %t.to, "sfu: send: {e}");
            }
        }
        for ep in core.take_gone() {
            tracing::info!(ep, "sfu: endpoint freed");
        }
    }
}
