//! The per-peer datagram pipe a webrtc-dtls connection runs over: datagrams from one peer arrive
//! on a channel fed by the demultiplexer, and what the connection writes goes out on the shared
//! UDP socket to that peer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use webrtc_util::Conn;

use super::record;

/// Datagrams waiting for one peer's connection; beyond this the demultiplexer drops (DTLS
/// retransmits handshakes, CoAP retransmits CON messages).
pub const PEER_QUEUE: usize = 16;

pub struct PeerConn {
    peer: SocketAddr,
    local: SocketAddr,
    socket: Arc<UdpSocket>,
    inbound: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    /// Server side: the ClientHello-with-cookie to deliver once the connection has written its
    /// HelloVerifyRequest (which is swallowed: the demultiplexer already sent the client an
    /// identical one). See `transport.rs`, "cookies".
    held_hello: Mutex<Option<(Bytes, mpsc::Sender<Bytes>)>>,
}

impl PeerConn {
    /// A pipe to `peer` and the sender that feeds it.
    pub fn new(socket: Arc<UdpSocket>, peer: SocketAddr) -> (Arc<PeerConn>, mpsc::Sender<Bytes>) {
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let conn = PeerConn {
            peer,
            local,
            socket,
            inbound: tokio::sync::Mutex::new(rx),
            held_hello: Mutex::new(None),
        };
        (Arc::new(conn), tx)
    }

    /// Delivers `hello` after the connection's HelloVerifyRequest instead of sending that.
    pub fn hold_hello(&self, hello: Bytes, feed: mpsc::Sender<Bytes>) {
        *self.held_hello.lock().unwrap_or_else(|p| p.into_inner()) = Some((hello, feed));
    }
}

#[async_trait]
impl Conn for PeerConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "a peer pipe is always connected".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let mut rx = self.inbound.lock().await;
        match rx.recv().await {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            // The association is gone. webrtc-dtls's reader retries on errors, so an error here
            // would spin; it stops when the connection is closed or dropped.
            None => std::future::pending().await,
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let n = self.recv(buf).await?;
        Ok((n, self.peer))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if record::is_hello_verify_request(buf) {
            let held = self
                .held_hello
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some((hello, feed)) = held {
                let _ = feed.try_send(hello);
                return Ok(buf.len());
            }
        }
        Ok(self.socket.send_to(buf, self.peer).await?)
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        // The socket is shared; the demultiplexer drops the pipe's sender when it forgets the peer.
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
