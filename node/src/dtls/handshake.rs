//! One DTLS handshake per association, in either role, and the connection's life after it:
//! as server for a ClientHello that passed the cookie check (`transport.rs`), as client when the
//! node must reach a secured device it has no association with. Decrypted datagrams go to the
//! CoAP driver; the association leaves the table when the connection ends.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::conn::DTLSConn;

use super::conn::PeerConn;
use super::keys::KeyStore;
use super::transport::Shared;

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

pub(super) fn server_config(keys: &Arc<KeyStore>, cookie: Vec<u8>) -> webrtc_dtls::config::Config {
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
pub(super) async fn handshake(
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
pub(super) fn connect(shared: &Arc<Shared>, peer: SocketAddr, first: Bytes) -> io::Result<()> {
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
