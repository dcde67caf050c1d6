//! A simulated LwM2M client: registers, updates and de-registers over CoAP/UDP, and answers Reads
//! of its objects (/1/0 Server, /3/0 Device) in SenML JSON, TLV or text/plain.
//!
//! It runs the same sans-IO CoAP layer as the node, through the node's UDP driver, so it speaks
//! real CoAP; the end-to-end tests also use libcoap as an independent peer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};

mod objects;
mod observers;
use lwm2m_core::coap::block::{set_block1, Assembled, AssemblerConfig, Block1Assembler};
use lwm2m_core::content::ModelRegistry;
use lwm2m_core::lwm2m::options::{location_path, set_content_format};
use lwm2m_node::dtls;
use lwm2m_node::udp::{self, CoapHandle, Incoming, RequestError};
pub use objects::{device_records, Objects};
pub use observers::Observers;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// How the simulated device is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub endpoint: String,
    pub server: SocketAddr,
    /// Local address to bind (a distinct 127.x.y.z per device spreads them like real peers).
    pub bind: SocketAddr,
    pub lifetime: u32,
    pub version: String,
    pub binding: String,
    /// Registers with `Q` (LwM2M 1.1 queue mode).
    pub queue_mode: bool,
    pub links: String,
    /// The object definitions the device encodes its answers with (core and IPSO by default;
    /// add DDF definitions for custom objects).
    pub model: Arc<ModelRegistry>,
    /// DTLS with this PSK (identity, key): `server` is then the node's CoAPs address. The device
    /// handshakes as client before its first message and, like a real LwM2M client, accepts a
    /// handshake the server starts (after a server restart).
    pub psk: Option<(String, Vec<u8>)>,
}

impl SimConfig {
    pub fn new(endpoint: impl Into<String>, server: SocketAddr) -> SimConfig {
        SimConfig {
            endpoint: endpoint.into(),
            server,
            bind: "127.0.0.1:0".parse().expect("literal address"),
            lifetime: 300,
            version: "1.1".into(),
            binding: "U".into(),
            queue_mode: false,
            links: "</>;rt=\"oma.lwm2m\";ct=\"60 110 112 11542 11543\",</1/0>,</3/0>".into(),
            model: Arc::new(ModelRegistry::default()),
            psk: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("request: {0}")]
    Request(#[from] RequestError),
    #[error("server answered {0}")]
    Refused(String),
    #[error("not registered")]
    NotRegistered,
}

/// A running simulated device.
pub struct SimDevice {
    pub config: SimConfig,
    coap: CoapHandle,
    location: Mutex<Option<String>>,
    objects: Arc<Mutex<Objects>>,
    observers: Observers,
    shutdown: CancellationToken,
}

impl SimDevice {
    pub async fn start(config: SimConfig) -> Result<SimDevice, SimError> {
        let socket = UdpSocket::bind(config.bind).await?;
        let shutdown = CancellationToken::new();
        let coap_config = lwm2m_core::coap::Config::default();
        let udp::Started {
            handle: coap,
            incoming,
            mut observed,
            ..
        } = match &config.psk {
            None => udp::start(socket, coap_config, 64, shutdown.clone())?,
            Some((identity, key)) => {
                let keys = dtls::KeyStore::new();
                let own = dtls::Credential {
                    endpoint: config.endpoint.clone(),
                    identity: identity.as_str().into(),
                    key: key.as_slice().into(),
                };
                keys.set(&config.endpoint, Some(own));
                let dtls_config = dtls::DtlsConfig {
                    max_handshakes: 4,
                    inbound_capacity: 64,
                    ..Default::default()
                };
                let (transport, handle) = dtls::start(socket, keys, dtls_config, shutdown.clone());
                handle.set_peer(config.server, identity.as_str().into(), None);
                udp::start(transport, coap_config, 64, shutdown.clone())?
            }
        };
        let mut objects = Objects::new(&config.endpoint);
        objects.set_model(config.model.clone());
        let objects = Arc::new(Mutex::new(objects));
        let observers = Observers::default();
        tokio::spawn(serve(
            coap.clone(),
            incoming,
            objects.clone(),
            observers.clone(),
        ));
        let lost = observers.clone();
        tokio::spawn(async move {
            while let Some(o) = observed.recv().await {
                if let udp::Observed::ObserverLost { peer, token } = o {
                    lost.lost(peer, &token);
                }
            }
        });
        Ok(SimDevice {
            config,
            coap,
            location: Mutex::new(None),
            objects,
            observers,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.coap.local_addr()
    }

    /// Reads this device answered.
    pub fn reads_answered(&self) -> usize {
        self.objects().reads
    }

    /// The device's objects, as the server's operations left them.
    pub fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Servers observing this device now.
    pub fn observers(&self) -> usize {
        self.observers.len()
    }

    /// Notifies every observer of the current values (CON when `confirmable`, else NON).
    pub async fn notify(&self, confirmable: bool) -> usize {
        let all = self.observers.notifications(&mut self.objects());
        let n = all.len();
        for (peer, token, packet) in all {
            self.coap.notify(peer, token, packet, confirmable).await;
        }
        n
    }

    /// LwM2M 1.1 Send: POSTs `records` to the server's `/dp` in SenML JSON; returns the code.
    pub async fn send(&self, records: &[lwm2m_core::content::Record]) -> Result<String, SimError> {
        let mut p = request(RequestType::Post, &["dp"]);
        set_content_format(&mut p, 110);
        p.payload = lwm2m_core::content::encode(
            lwm2m_core::content::ContentFormat::SenmlJson,
            records,
            &lwm2m_core::content::Path::ROOT,
            self.config.model.as_ref(),
        )
        .map_err(|e| SimError::Refused(e.to_string()))?;
        self.code_of(p).await
    }

    /// Sends `p` to the server; the response code ("2.04", "4.04").
    async fn code_of(&self, p: Packet) -> Result<String, SimError> {
        let response = self.coap.request(self.config.server, p).await?;
        Ok(response.header.code.to_string())
    }

    /// The registration location ("rd/<id>") from the last 2.01.
    pub fn location(&self) -> Option<String> {
        self.location
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Register; returns the registration id.
    pub async fn register(&self) -> Result<String, SimError> {
        let c = &self.config;
        let mut p = request(RequestType::Post, &["rd"]);
        for q in [
            format!("ep={}", c.endpoint),
            format!("lt={}", c.lifetime),
            format!("lwm2m={}", c.version),
            format!("b={}", c.binding),
        ] {
            p.add_option(CoapOption::UriQuery, q.into_bytes());
        }
        if c.queue_mode {
            p.add_option(CoapOption::UriQuery, b"Q".to_vec());
        }
        set_content_format(&mut p, 40);
        p.payload = c.links.clone().into_bytes();
        let r = self.coap.request(c.server, p).await?;
        if u8::from(r.header.code) != 0x41 {
            return Err(SimError::Refused(r.header.code.to_string()));
        }
        let segments = location_path(&r).unwrap_or_default();
        let id = segments
            .get(1)
            .cloned()
            .ok_or_else(|| SimError::Refused("2.01 without Location-Path".into()))?;
        *self.location.lock().unwrap_or_else(|p| p.into_inner()) = Some(segments.join("/"));
        Ok(id)
    }

    /// Update with optional new lifetime and links; returns the response code ("2.04", "4.04").
    pub async fn update(
        &self,
        lifetime: Option<u32>,
        links: Option<&str>,
    ) -> Result<String, SimError> {
        let location = self.location().ok_or(SimError::NotRegistered)?;
        let segs: Vec<&str> = location.split('/').collect();
        let mut p = request(RequestType::Post, &segs);
        if let Some(lt) = lifetime {
            p.add_option(CoapOption::UriQuery, format!("lt={lt}").into_bytes());
        }
        if let Some(l) = links {
            set_content_format(&mut p, 40);
            p.payload = l.as_bytes().to_vec();
        }
        self.code_of(p).await
    }

    /// Update with arbitrary query parameters (e.g. `["b=U"]`); returns the response code.
    pub async fn update_query(&self, queries: &[&str]) -> Result<String, SimError> {
        let location = self.location().ok_or(SimError::NotRegistered)?;
        let segs: Vec<&str> = location.split('/').collect();
        let mut p = request(RequestType::Post, &segs);
        for q in queries {
            p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
        }
        self.code_of(p).await
    }

    /// De-register; returns the response code ("2.02").
    pub async fn deregister(&self) -> Result<String, SimError> {
        let location = self.location().ok_or(SimError::NotRegistered)?;
        let segs: Vec<&str> = location.split('/').collect();
        let p = request(RequestType::Delete, &segs);
        self.code_of(p).await
    }

    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn request(method: RequestType, path: &[&str]) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    for s in path {
        p.add_option(CoapOption::UriPath, s.as_bytes().to_vec());
    }
    p
}

async fn serve(
    coap: CoapHandle,
    mut incoming: tokio::sync::mpsc::Receiver<Incoming>,
    objects: Arc<Mutex<Objects>>,
    observers: Observers,
) {
    let config = AssemblerConfig {
        max_size: 8 * 1024 * 1024,
        ..AssemblerConfig::default()
    };
    let Ok(mut assembler) = Block1Assembler::new(config) else {
        return;
    };
    while let Some(inc) = incoming.recv().await {
        // Block1 (RFC 7959 §2.5): store blocks until the request is whole, then answer it.
        let answer =
            match assembler.handle_request(std::time::Instant::now(), inc.peer, inc.request) {
                Err(e) => assembler.error_response(&e),
                Ok(Assembled::Continue(p)) => p,
                Ok(Assembled::Complete { request, block1 }) => {
                    let mut answer = objects
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .answer(&request);
                    observers.on_request(inc.peer, &request, &mut answer);
                    if let Some(b) = block1 {
                        let _ = set_block1(&mut answer, b);
                    }
                    objects::block2_slice(&request, answer)
                }
            };
        coap.respond(inc.exchange, answer).await;
    }
}
