//! The TCP listener for client-to-server streams (`[xmpp] listen`). Plain
//! TCP only: STARTTLS is not offered until a certificate can be configured.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Handle;
use super::connection::{self, Input, Wire};
use super::session::Transport;

struct TcpWire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire for TcpWire {
    async fn recv(&mut self) -> Option<Input> {
        match self.stream.read(&mut self.buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(Input::Bytes(self.buf[..n].to_vec())),
        }
    }
    async fn send(&mut self, text: String) -> bool {
        self.stream.write_all(text.as_bytes()).await.is_ok()
    }
    async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, handle: Handle) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "xmpp: tcp connection");
                let _ = stream.set_nodelay(true);
                let wire = TcpWire {
                    stream,
                    buf: vec![0u8; 16 * 1024],
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
