//! CoAP over DTLS 1.2 with pre-shared keys (RFC 7252 §9.1, LwM2M TS 1.1 §7.1): a demultiplexer
//! over one UDP socket with stateless cookies, one webrtc-dtls connection per peer, and the PSK
//! credentials served from memory on the handshake path.
//!
//! - `record.rs`: the few DTLS record fields the demultiplexer reads and writes;
//! - `cookie.rs`: stateless HelloVerifyRequest cookies;
//! - `table.rs`: the association table and its rules (replacement, eviction, handshake cap);
//! - `conn.rs`: the per-peer pipe a webrtc-dtls connection runs over;
//! - `keys.rs`: the PSK credentials in memory;
//! - `transport.rs`: the demultiplexer task and the CoAP transport;
//! - `handshake.rs`: handshakes (both roles) and each connection's life after it.

mod conn;
pub mod cookie;
mod handshake;
pub mod keys;
pub mod record;
pub mod table;
mod transport;

pub use handshake::PSK_SUITES;
pub use keys::{Credential, KeyStore};
pub use transport::{start, DtlsConfig, DtlsHandle, DtlsTransport};
