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
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::conn::DTLSConn;

use super::conn::PeerConn;
use super::cookie::CookieJar;
use super::keys::KeyStore;
use super::table::{Outbound, Route, Table};
use crate::udp::Transport;

/// Cipher suites offered and accepted: the LwM2M mandatory one first (TS 1.1 §7.1.7.1), then the
/// other PSK suites webrtc-dtls has.
pub const PSK_SUITES: [CipherSuiteId; 3] = [
    CipherSuiteId::Tls_Psk_With_Aes_128_Ccm_8,
    CipherSuiteId::Tls_Psk_With_Aes_128_Ccm,
    CipherSuiteId::Tls_Psk_With_Aes_128_Gcm_Sha256,
];

/// Largest decrypted datagram taken from a connection. CoAP over DTLS stays within the path MTU
/// (LwM2M clients use 1,280 or less; block-wise keeps payloads at 1,024): a larger record is
/// dropped, the association stays. One such buffer per association is most of the memory we add
/// to webrtc-dtls's own, so it is not sized for the 16 KiB record maximum.
const MAX_PLAINTEXT: usize = 2048;

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

type Conn = Arc<DTLSConn>;

struct Shared {
    socket: Arc<UdpSocket>,
    table: Mutex<Table<Conn>>,
    keys: Arc<KeyStore>,
    /// Peer → PSK identity to use when this side must start the handshake.
    peers: Mutex<std::collections::HashMap<SocketAddr, (Arc<str>, Duration)>>,
    decrypted: mpsc::Sender<(SocketAddr, Bytes)>,
    config: DtlsConfig,
}

impl Shared {
    fn table(&self) -> std::sync::MutexGuard<'_, Table<Conn>> {
        // Table methods leave it consistent at every return: a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn peers(
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

fn server_config(keys: &Arc<KeyStore>, cookie: Vec<u8>) -> webrtc_dtls::config::Config {
    let keys = keys.clone();
    webrtc_dtls::config::Config {
        psk: Some(Arc::new(move |identity: &[u8]| {
            keys.key_for_identity(identity)
                .map(|k| k.to_vec())
                .ok_or_else(|| webrtc_dtls::Error::Other("unknown PSK identity".into()))
        })),
        cipher_suites: PSK_SUITES.to_vec(),
        hello_verify_cookie: Some(cookie),
        ..Default::default()
    }
}

fn client_config(identity: &str, key: Arc<[u8]>) -> webrtc_dtls::config::Config {
    webrtc_dtls::config::Config {
        psk: Some(Arc::new(move |_hint: &[u8]| Ok(key.to_vec()))),
        psk_identity_hint: Some(identity.as_bytes().to_vec()),
        cipher_suites: PSK_SUITES.to_vec(),
        ..Default::default()
    }
}

/// Runs one handshake (either role) to completion or timeout, then serves the connection.
async fn handshake(
    shared: Arc<Shared>,
    peer: SocketAddr,
    generation: u64,
    pipe: Arc<PeerConn>,
    config: webrtc_dtls::config::Config,
    is_client: bool,
    client_identity: Option<Arc<str>>,
) {
    let attempt = tokio::time::timeout(
        shared.config.handshake_timeout,
        DTLSConn::new(pipe, config, is_client, None),
    );
    let conn = match attempt.await {
        Ok(Ok(c)) => Arc::new(c),
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, client = is_client, "DTLS handshake failed");
            shared.table().remove_generation(peer, generation);
            return;
        }
        Err(_) => {
            tracing::info!(%peer, client = is_client, "DTLS handshake timed out");
            shared.table().remove_generation(peer, generation);
            return;
        }
    };
    let identity: Arc<str> = match client_identity {
        Some(id) => id,
        None => String::from_utf8_lossy(&conn.connection_state().await.identity_hint).into(),
    };
    tracing::debug!(%peer, %identity, client = is_client, "DTLS association established");
    let idle = shared.peers().get(&peer).map(|(_, idle)| *idle);
    let flushed = {
        let mut table = shared.table();
        let flushed = table.establish(peer, generation, conn.clone(), identity, Instant::now());
        if let Some(idle) = idle {
            table.set_idle_limit(peer, idle);
        }
        flushed
    };
    let Some(flushed) = flushed else {
        let _ = conn.close().await;
        return;
    };
    for d in flushed {
        let _ = conn.write(&d, Some(Duration::from_secs(1))).await;
    }
    let mut buf = vec![0u8; MAX_PLAINTEXT];
    loop {
        match conn.read(&mut buf, None).await {
            Ok(n) => {
                if shared
                    .decrypted
                    .send((peer, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(webrtc_dtls::Error::ErrBufferTooSmall) => {
                tracing::debug!(%peer, "record larger than {MAX_PLAINTEXT} bytes dropped");
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "DTLS association closed");
                break;
            }
        }
    }
    shared.table().remove_generation(peer, generation);
    let _ = conn.close().await;
}

/// Starts a client handshake towards `peer` carrying `first` once established.
fn connect(shared: &Arc<Shared>, peer: SocketAddr, first: Bytes) -> io::Result<()> {
    let Some((identity, _)) = shared.peers().get(&peer).cloned() else {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no DTLS association and no known identity for this peer",
        ));
    };
    let Some(credential) = shared.keys.by_identity(&identity) else {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "no stored credentials for this identity",
        ));
    };
    let (pipe, feed) = PeerConn::new(shared.socket.clone(), peer);
    let generation = {
        let mut table = shared.table();
        if !table.may_start_handshake() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "too many handshakes in progress",
            ));
        }
        table.start_handshake(peer, feed, Instant::now(), vec![first])
    };
    tracing::info!(%peer, %identity, "no DTLS association: handshaking as client");
    let config = client_config(&identity, credential.key);
    tokio::spawn(handshake(
        shared.clone(),
        peer,
        generation,
        pipe,
        config,
        true,
        Some(identity),
    ));
    Ok(())
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
