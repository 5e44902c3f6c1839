//! Datagrams with their arrival time: the kernel stamps each one as it
//! lands in the socket (`SO_TIMESTAMPNS`, CLOCK_REALTIME), so a media worker
//! that reads its sockets once per tick still knows when, within the tick,
//! each packet came. The jitter buffer needs that to keep a stream's
//! playout away from the tick boundary (see `jitter::GUARD_MS`).

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};

/// Asks the kernel to stamp every datagram `sock` receives.
pub fn stamp_arrivals(sock: &UdpSocket) -> std::io::Result<()> {
    setsockopt(sock, sockopt::ReceiveTimestampns, &true).map_err(std::io::Error::from)
}

/// One datagram: its length in the buffer, its source, and when it arrived
/// (`None` for a socket without [`stamp_arrivals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub len: usize,
    pub src: SocketAddr,
    pub arrived: Option<SystemTime>,
}

/// A reader with its control-message space allocated once.
pub struct Reader {
    cmsg: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            cmsg: nix::cmsg_space!(nix::sys::time::TimeSpec),
        }
    }
}

impl Reader {
    /// The next datagram waiting on the non-blocking `sock`, or `None` when
    /// there is none (or the socket reported an error, e.g. an ICMP
    /// unreachable for something we sent).
    pub fn recv(&mut self, sock: &UdpSocket, buf: &mut [u8]) -> Option<Datagram> {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .ok()?;
        let src = msg.address.as_ref().and_then(to_std)?;
        let arrived = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmTimestampns(ts) => {
                    let secs = u64::try_from(ts.tv_sec()).ok()?;
                    let nanos = u32::try_from(ts.tv_nsec()).ok()?;
                    Some(UNIX_EPOCH + Duration::new(secs, nanos))
                }
                _ => None,
            })
        });
        Some(Datagram {
            len: msg.bytes,
            src,
            arrived,
        })
    }
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next datagram on `sock`, waiting up to 100 ms for it.
    fn wait_for(r: &mut Reader, sock: &UdpSocket, buf: &mut [u8]) -> Datagram {
        for _ in 0..100 {
            if let Some(d) = r.recv(sock, buf) {
                return d;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no datagram arrived in 100 ms");
    }

    #[test]
    fn a_datagram_comes_with_its_source_and_the_kernels_arrival_time() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        stamp_arrivals(&rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = Reader::default();
        let mut buf = [0u8; 64];
        assert_eq!(r.recv(&rx, &mut buf), None, "nothing sent yet");
        let before = SystemTime::now();
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        let d = wait_for(&mut r, &rx, &mut buf);
        let after = SystemTime::now();
        assert_eq!(
            (&buf[..d.len], d.src),
            (&b"hello"[..], tx.local_addr().unwrap())
        );
        let at = d.arrived.expect("stamped by the kernel");
        assert!(
            before <= at && at <= after,
            "{before:?} <= {at:?} <= {after:?}"
        );
    }

    #[test]
    fn an_unstamped_socket_still_reads() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        let mut r = Reader::default();
        let mut buf = [0u8; 8];
        let d = wait_for(&mut r, &rx, &mut buf);
        assert_eq!((d.len, d.arrived), (1, None));
    }
}
