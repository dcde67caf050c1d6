//! The DTLS transport: one UDP socket, one demultiplexer task, one webrtc-dtls connection per
//! peer. The CoAP driver sees decrypted datagrams from any peer ([`DtlsTransport`] implements
//! [`Transport`]) and learns which PSK identity a peer authenticated with.
//!
//! Cookies: the demultiplexer answers a ClientHello without a valid cookie with a
//! HelloVerifyRequest itself (stateless HMAC, `cookie.rs`). Only a ClientHello with a valid
//! cookie creates a connection. webrtc-dtls's server always starts at "ClientHello, no cookie"
//! and draws a random cookie, so (with a small patch to webrtc-dtls, `node/vendor/`) the new
//! connection is told to use the cookie the client already has; it is fed the client's
//! ClientHello rebuilt without cookie, answers with a HelloVerifyRequest that the pipe swallows,
//! and then gets the real ClientHello, which passes its cookie check. The client sees one
//! HelloVerifyRequest round trip, as from any server, and the handshake transcript is the
//! client's own messages.
//!
//! Server-initiated handshakes: sending to a peer without an association starts a client
//! handshake with the identity the registration told us for that address ([`DtlsHandle::set_peer`])
//! and the key from the key store; what the CoAP layer sends meanwhile is held and flushed.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc_dtls::conn::DTLSConn;

use super::conn::PeerConn;
use super::cookie::CookieJar;
use super::handshake::{connect, handshake, server_config};
use super::keys::KeyStore;
use super::table::{Outbound, Route, Table};
use crate::udp::Transport;

#[derive(Debug, Clone)]
pub struct DtlsConfig {
    pub handshake_timeout: Duration,
    pub max_handshakes: usize,
    /// Idle limit of an association no registration has set one for.
    pub default_idle: Duration,
    pub cookie_rotation: Duration,
    /// Decrypted datagrams waiting for the CoAP driver.
    pub inbound_capacity: usize,
}

impl Default for DtlsConfig {
    fn default() -> Self {
        DtlsConfig {
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: 1024,
            default_idle: Duration::from_secs(120),
            cookie_rotation: Duration::from_secs(60),
            inbound_capacity: 8192,
        }
    }
}

pub(super) type Conn = Arc<DTLSConn>;

pub(super) struct Shared {
    pub(super) socket: Arc<UdpSocket>,
    pub(super) table: Mutex<Table<Conn>>,
    pub(super) keys: Arc<KeyStore>,
    /// Peer → PSK identity to use when this side must start the handshake.
    pub(super) peers: Mutex<std::collections::HashMap<SocketAddr, (Arc<str>, Duration)>>,
    pub(super) decrypted: mpsc::Sender<(SocketAddr, Bytes)>,
    pub(super) config: DtlsConfig,
}

impl Shared {
    pub(super) fn table(&self) -> std::sync::MutexGuard<'_, Table<Conn>> {
        // Table methods leave it consistent at every return: a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn peers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<SocketAddr, (Arc<str>, Duration)>>
    {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Control of a running DTLS transport; cheap to clone.
#[derive(Clone)]
pub struct DtlsHandle {
    shared: Arc<Shared>,
}

impl DtlsHandle {
    /// Records that `peer` is a device with PSK `identity` whose association may idle `idle`
    /// (its registration lifetime and grace; `None` keeps what was set). Used to start a
    /// handshake towards it when needed.
    pub fn set_peer(&self, peer: SocketAddr, identity: Arc<str>, idle: Option<Duration>) {
        let idle = {
            let mut peers = self.shared.peers();
            let idle = idle
                .or_else(|| peers.get(&peer).map(|(_, i)| *i))
                .unwrap_or(self.shared.config.default_idle);
            peers.insert(peer, (identity, idle));
            idle
        };
        self.shared.table().set_idle_limit(peer, idle);
    }

    /// Number of associations (established or handshaking).
    pub fn associations(&self) -> usize {
        self.shared.table().len()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }
}

/// The [`Transport`] the CoAP driver runs over.
pub struct DtlsTransport {
    shared: Arc<Shared>,
    decrypted: mpsc::Receiver<(SocketAddr, Bytes)>,
}

/// Starts the demultiplexer on `socket`.
pub fn start(
    socket: UdpSocket,
    keys: Arc<KeyStore>,
    config: DtlsConfig,
    shutdown: CancellationToken,
) -> (DtlsTransport, DtlsHandle) {
    let (tx, rx) = mpsc::channel(config.inbound_capacity.max(1));
    let shared = Arc::new(Shared {
        socket: Arc::new(socket),
        table: Mutex::new(Table::new(
            config.max_handshakes,
            config.default_idle,
            config.handshake_timeout,
        )),
        keys,
        peers: Mutex::default(),
        decrypted: tx,
        config,
    });
    tokio::spawn(demux(shared.clone(), shutdown));
    (
        DtlsTransport {
            shared: shared.clone(),
            decrypted: rx,
        },
        DtlsHandle { shared },
    )
}

async fn demux(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut cookies = CookieJar::new(Instant::now(), shared.config.cookie_rotation);
    let mut buf = vec![0u8; 65_535];
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        let (n, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sweep.tick() => {
                let now = Instant::now();
                cookies.tick(now);
                let gone = shared.table().evict(now);
                for (peer, conn) in gone {
                    tracing::debug!(%peer, "DTLS association evicted (idle)");
                    if let Some(c) = conn {
                        tokio::spawn(async move { let _ = c.close().await; });
                    }
                }
                continue;
            }
            r = shared.socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => { tracing::debug!(error = %e, "dtls recv"); continue; }
            },
        };
        let datagram = &buf[..n];
        let route = shared
            .table()
            .route(peer, datagram, Instant::now(), &cookies);
        match route {
            Route::Forward(feed) => {
                let _ = feed.try_send(Bytes::copy_from_slice(datagram));
            }
            Route::Reply(hvr) => {
                let _ = shared.socket.send_to(&hvr, peer).await;
            }
            Route::Drop(why) => tracing::trace!(%peer, why, "dtls datagram dropped"),
            Route::Accept {
                initial,
                cookie,
                replaced,
            } => {
                if let Some(old) = replaced {
                    tracing::info!(%peer, "new DTLS handshake replaces the association of this address");
                    tokio::spawn(async move {
                        let _ = old.close().await;
                    });
                }
                let (pipe, feed) = PeerConn::new(shared.socket.clone(), peer);
                pipe.hold_hello(Bytes::copy_from_slice(datagram), feed.clone());
                let _ = feed.try_send(Bytes::from(initial));
                let generation =
                    shared
                        .table()
                        .start_handshake(peer, feed, Instant::now(), Vec::new());
                let config = server_config(&shared.keys, cookie);
                tokio::spawn(handshake(
                    shared.clone(),
                    peer,
                    generation,
                    pipe,
                    config,
                    false,
                    None,
                ));
            }
        }
    }
    // Stopping: close every association (a close_notify each), so no connection task outlives
    // the transport.
    let conns = shared.table().drain();
    for c in conns {
        let _ = c.close().await;
    }
}

impl Transport for DtlsTransport {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.decrypted.recv().await {
            Some((peer, d)) => Ok((copy(buf, &d), peer)),
            None => std::future::pending().await,
        }
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.decrypted.try_recv() {
            Ok((peer, d)) => Ok((copy(buf, &d), peer)),
            Err(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    async fn send_to(&mut self, bytes: &[u8], peer: SocketAddr) -> io::Result<()> {
        let datagram = Bytes::copy_from_slice(bytes);
        let outbound = self.shared.table().outbound(peer, &datagram);
        match outbound {
            Outbound::Conn(conn) => conn
                .write(bytes, Some(Duration::from_secs(1)))
                .await
                .map(|_| ())
                .map_err(|e| io::Error::other(e.to_string())),
            Outbound::Held => Ok(()),
            Outbound::Absent => connect(&self.shared, peer, datagram),
        }
    }

    fn identity(&self, peer: SocketAddr) -> Option<Arc<str>> {
        self.shared.table().identity(peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }
}

fn copy(buf: &mut [u8], d: &[u8]) -> usize {
    let n = d.len().min(buf.len());
    buf[..n].copy_from_slice(&d[..n]);
    n
}
