//! The TCP listener for client-to-server streams (`[xmpp] listen`), with
//! STARTTLS (RFC 6120 §5) when `[xmpp] tls_cert` and `tls_key` are set.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::Handle;
use super::connection::{self, Input, Wire};
use super::session::Transport;

/// The connection's byte stream: plain until STARTTLS, then TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between the two (a failed handshake leaves it here).
    Gone,
}

struct TcpWire {
    stream: Stream,
    buf: Vec<u8>,
    tls: Option<TlsAcceptor>,
}

impl Wire for TcpWire {
    async fn recv(&mut self) -> Option<Input> {
        let read = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut self.buf).await,
            Stream::Tls(s) => s.read(&mut self.buf).await,
            Stream::Gone => return None,
        };
        match read {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(Input::Bytes(self.buf[..n].to_vec())),
        }
    }
    async fn send(&mut self, text: String) -> bool {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(text.as_bytes()).await.is_ok(),
            Stream::Tls(s) => s.write_all(text.as_bytes()).await.is_ok() && s.flush().await.is_ok(),
            Stream::Gone => false,
        }
    }
    async fn close(&mut self) {
        match &mut self.stream {
            Stream::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Stream::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Stream::Gone => {}
        }
    }
    async fn start_tls(&mut self) -> bool {
        let Some(acceptor) = self.tls.clone() else {
            return false;
        };
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return false;
        };
        match acceptor.accept(plain).await {
            Ok(tls) => {
                self.stream = Stream::Tls(Box::new(tls));
                true
            }
            Err(e) => {
                tracing::info!("xmpp: TLS handshake failed: {e}");
                false
            }
        }
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, handle: Handle, tls: Option<TlsAcceptor>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "xmpp: tcp connection");
                let _ = stream.set_nodelay(true);
                let wire = TcpWire {
                    stream: Stream::Plain(stream),
                    buf: vec![0u8; 16 * 1024],
                    tls: tls.clone(),
                };
                tokio::spawn(connection::drive(handle.clone(), Transport::Tcp, wire));
            }
            Err(e) => {
                tracing::warn!("xmpp: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
