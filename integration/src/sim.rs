//! A simulated LwM2M client: registers, updates and de-registers over CoAP/UDP, and answers Reads
//! of its objects (/1/0 Server, /3/0 Device) in SenML JSON, TLV or text/plain.
//!
//! It runs the same sans-IO CoAP layer as the node, through the node's UDP driver, so it speaks
//! real CoAP; the end-to-end tests also use libcoap as an independent peer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};
use lwm2m_core::content::{encode, ContentFormat, CoreModel, Path, Record, Value};
use lwm2m_core::lwm2m::options::{
    location_path, response, set_content_format, uint_option, uri_path,
};
use lwm2m_node::udp::{self, CoapHandle, Incoming, RequestError};
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
    pub links: String,
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
            links: "</>;rt=\"oma.lwm2m\";ct=\"110 11542\",</1/0>,</3/0>".into(),
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
    reads: Arc<AtomicUsize>,
    shutdown: CancellationToken,
}

impl SimDevice {
    pub async fn start(config: SimConfig) -> Result<SimDevice, SimError> {
        let socket = UdpSocket::bind(config.bind).await?;
        let shutdown = CancellationToken::new();
        let (coap, incoming, _task) = udp::start(
            socket,
            lwm2m_core::coap::Config::default(),
            64,
            shutdown.clone(),
        )?;
        let reads = Arc::new(AtomicUsize::new(0));
        tokio::spawn(serve(
            coap.clone(),
            incoming,
            reads.clone(),
            config.endpoint.clone(),
        ));
        Ok(SimDevice {
            config,
            coap,
            location: Mutex::new(None),
            reads,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.coap.local_addr()
    }

    /// Reads this device answered.
    pub fn reads_answered(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
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
        Ok(self
            .coap
            .request(self.config.server, p)
            .await?
            .header
            .code
            .to_string())
    }

    /// De-register; returns the response code ("2.02").
    pub async fn deregister(&self) -> Result<String, SimError> {
        let location = self.location().ok_or(SimError::NotRegistered)?;
        let segs: Vec<&str> = location.split('/').collect();
        let p = request(RequestType::Delete, &segs);
        Ok(self
            .coap
            .request(self.config.server, p)
            .await?
            .header
            .code
            .to_string())
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

/// The device's object values. /3/0 follows the example in LwM2M TS 1.1 §7.4.3.
pub fn device_records(endpoint: &str) -> Vec<Record> {
    let d = |r: u16, v: Value| Record::new(Path::new_resource(3, 0, r), v);
    let di = |r: u16, i: u16, v: Value| Record::new(Path::new_resource_instance(3, 0, r, i), v);
    let s = |r: u16, v: Value| Record::new(Path::new_resource(1, 0, r), v);
    vec![
        s(0, Value::Integer(1)),
        s(1, Value::Integer(300)),
        s(6, Value::Boolean(false)),
        s(7, Value::String("U".into())),
        d(0, Value::String("Open Mobile Alliance".into())),
        d(1, Value::String("Lightweight M2M Client".into())),
        d(2, Value::String(format!("SN-{endpoint}"))),
        d(3, Value::String("1.0".into())),
        di(6, 0, Value::Integer(1)),
        di(6, 1, Value::Integer(5)),
        di(7, 0, Value::Integer(3800)),
        di(7, 1, Value::Integer(5000)),
        d(9, Value::Integer(100)),
        d(10, Value::Integer(15)),
        di(11, 0, Value::Integer(0)),
        d(13, Value::Time(1_367_491_215)),
        d(14, Value::String("+02:00".into())),
        d(16, Value::String("U".into())),
    ]
}

async fn serve(
    coap: CoapHandle,
    mut incoming: tokio::sync::mpsc::Receiver<Incoming>,
    reads: Arc<AtomicUsize>,
    endpoint: String,
) {
    let records = device_records(&endpoint);
    while let Some(inc) = incoming.recv().await {
        let answer = answer(&inc.request, &records);
        if u8::from(answer.header.code) == 0x45 {
            reads.fetch_add(1, Ordering::Relaxed);
        }
        coap.respond(inc.exchange, answer).await;
    }
}

/// Answers a server request: GET of a path of /1 or /3 in the requested format.
pub fn answer(req: &Packet, records: &[Record]) -> Packet {
    if req.header.code != MessageClass::Request(RequestType::Get) {
        return response(0x85); // 4.05: the simulator implements Read only
    }
    let Some(segs) = uri_path(req) else {
        return response(0x80);
    };
    let Ok(path) = Path::parse(&format!("/{}", segs.join("/"))) else {
        return response(0x80);
    };
    let selected: Vec<Record> = records
        .iter()
        .filter(|r| path.is_prefix_of(&r.path))
        .cloned()
        .collect();
    if selected.is_empty() {
        return response(0x84);
    }
    let accept = match uint_option(req, CoapOption::Accept, 2) {
        Ok(a) => a.map(|a| a as u16),
        Err(_) => return response(0x80),
    };
    let format = match accept {
        None => ContentFormat::Tlv,
        Some(cf) => match ContentFormat::from_code(cf) {
            Some(
                f @ (ContentFormat::Tlv
                | ContentFormat::LegacyTlv
                | ContentFormat::SenmlJson
                | ContentFormat::TextPlain),
            ) => f,
            _ => return response(0x86), // 4.06 Not Acceptable
        },
    };
    match encode(format, &selected, &path, &CoreModel) {
        Ok(payload) => {
            let mut p = response(0x45);
            set_content_format(&mut p, format.code());
            p.payload = payload;
            p
        }
        Err(_) => response(0x86),
    }
}
