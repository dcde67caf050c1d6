//! Registration storm: N devices, each with its own UDP socket and its own loopback source
//! address, register as fast as the node accepts them, C in flight.
//!
//! The devices are deliberately thin: a Register is built once with coap-lite, sent from a
//! tokio `UdpSocket`, and retransmitted per RFC 7252 §4.2 (initial timeout 2–3 s, doubling,
//! MAX_RETRANSMIT 4) until its response arrives — piggy-backed on the ACK, or separate after an
//! empty ACK (§5.2.2), which is then acknowledged. No task or CoAP stack per device: the point
//! is to load the node, not the simulator. Because the node sends 2.01 only after COMMIT, every
//! 2.01 counted here is a durable registration; at the end Postgres must hold exactly as many
//! rows with the run's prefix as 2.01s were received.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use lwm2m_core::lwm2m::options::set_content_format;
use tokio::net::UdpSocket;

use super::cluster::Cluster;
use super::report::Scenario;
use super::stats::{Counters, Latency, Progress};
use super::{device_ip, run_prefix, BenchError};

/// First octet after 127 of the storm's device addresses (127.1.x.y, 127.2.x.y, ...).
const STORM_NET: u8 = 1;
/// RFC 7252 §4.8 transmission parameters.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_RETRANSMIT: u32 = 4;
/// How long a device waits for a separate response after an empty ACK.
const SEPARATE_WAIT: Duration = Duration::from_secs(30);
const LINKS: &str = "</>;rt=\"oma.lwm2m\";ct=\"110 11542\",</1/0>,</3/0>";

#[derive(Debug, Clone)]
pub struct StormConfig {
    pub devices: usize,
    pub concurrency: usize,
    /// Registration lifetime the devices ask for (s).
    pub lifetime: u32,
    /// The whole storm stops after this long, finished or not.
    pub max_time: Duration,
}

/// What a storm did, beyond its figures: for the smoke checks.
#[derive(Debug, Clone)]
pub struct StormOutcome {
    pub prefix: String,
    pub created: u64,
    pub refused: u64,
    pub timeouts: u64,
    pub not_attempted: u64,
    pub in_postgres: i64,
}

/// How one Register ended.
enum Outcome {
    /// 2.01 Created, after this long from the first transmission.
    Created(Duration),
    /// Any other response code (5.03 when the node sheds load, 4.00 ...).
    Refused,
    /// No response after every retransmission.
    TimedOut,
}

pub async fn run(
    cluster: &Cluster,
    cfg: &StormConfig,
) -> Result<(Scenario, StormOutcome), BenchError> {
    let prefix = run_prefix("storm");
    let server = cluster.node.coap;
    let counters = Arc::new(Counters::default());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + cfg.max_time;
    let progress = Progress::start(
        "storm",
        "registered",
        Some(cfg.devices as u64),
        counters.clone(),
    );
    let start = Instant::now();
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency.clamp(1, cfg.devices.max(1)) {
        let (next, counters, prefix) = (next.clone(), counters.clone(), prefix.clone());
        let (n, lifetime) = (cfg.devices, cfg.lifetime);
        workers.push(tokio::spawn(async move {
            // The sockets stay open until the storm ends: a fleet, not a stream of one-shot peers.
            let mut sockets = Vec::new();
            let mut latency = Latency::new();
            let mut last_done = start;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    break;
                }
                let socket =
                    UdpSocket::bind(SocketAddr::from((device_ip(STORM_NET, i), 0))).await?;
                let endpoint = format!("{prefix}{i:06}");
                match register(&socket, server, &endpoint, lifetime).await? {
                    Outcome::Created(d) => {
                        latency.record(d);
                        counters.add_ok();
                    }
                    Outcome::Refused => counters.add_error(),
                    Outcome::TimedOut => counters.add_timeout(),
                }
                last_done = Instant::now();
                sockets.push(socket);
            }
            Ok::<_, BenchError>((latency, last_done, sockets))
        }));
    }
    let mut latency = Latency::new();
    let mut end = start;
    let mut sockets = Vec::new();
    for w in workers {
        let (l, done, s) = w
            .await
            .map_err(|e| BenchError::Io(std::io::Error::other(e)))??;
        latency.merge(&l)?;
        end = end.max(done);
        sockets.push(s);
    }
    progress.finish().await;
    let elapsed = end.duration_since(start).as_secs_f64().max(1e-9);
    let in_postgres = cluster.registrations(&prefix).await?;
    drop(sockets);

    let created = counters.ok();
    let attempted = next.load(Ordering::Relaxed).min(cfg.devices) as u64;
    let outcome = StormOutcome {
        prefix,
        created,
        refused: counters.errors(),
        timeouts: counters.timeouts(),
        not_attempted: cfg.devices as u64 - attempted,
        in_postgres,
    };
    let mut s = Scenario::new(
        "storm",
        format!(
            "storm --devices {} --concurrency {}",
            cfg.devices, cfg.concurrency
        ),
    );
    s.add("devices", cfg.devices as f64)
        .add("concurrency", cfg.concurrency as f64)
        .add("registrations_per_s", created as f64 / elapsed)
        .add("elapsed_s", elapsed)
        .latency("", &latency)
        .add("created", created as f64)
        .add("refused", outcome.refused as f64)
        .add("timeouts", outcome.timeouts as f64)
        .add("not_attempted", outcome.not_attempted as f64)
        .add("in_postgres", in_postgres as f64);
    Ok((s, outcome))
}

/// The Register of LwM2M TS 1.1 §6.2.1 (POST /rd?ep=..&lt=..&lwm2m=1.1&b=U, link format).
fn register_packet(endpoint: &str, lifetime: u32) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.header.message_id = rand::random();
    p.set_token(rand::random::<[u8; 4]>().to_vec());
    p.add_option(CoapOption::UriPath, b"rd".to_vec());
    for q in [
        format!("ep={endpoint}"),
        format!("lt={lifetime}"),
        "lwm2m=1.1".to_string(),
        "b=U".to_string(),
    ] {
        p.add_option(CoapOption::UriQuery, q.into_bytes());
    }
    set_content_format(&mut p, 40);
    p.payload = LINKS.as_bytes().to_vec();
    p
}

/// One Register with CON retransmission; every wait is bounded.
async fn register(
    socket: &UdpSocket,
    server: SocketAddr,
    endpoint: &str,
    lifetime: u32,
) -> Result<Outcome, BenchError> {
    let request = register_packet(endpoint, lifetime);
    let bytes = request
        .to_bytes()
        .map_err(|e| BenchError::Sanity(format!("encode Register: {e:?}")))?;
    let (mid, token) = (request.header.message_id, request.get_token().to_vec());
    let first = Instant::now();
    let mut timeout = ACK_TIMEOUT.mul_f64(1.0 + rand::random::<f64>() * 0.5);
    let mut buf = [0u8; 1500];
    for _attempt in 0..=MAX_RETRANSMIT {
        socket.send_to(&bytes, server).await?;
        let wait_until = tokio::time::Instant::now() + timeout;
        let mut acked = false;
        loop {
            let until = if acked {
                tokio::time::Instant::from_std(first + SEPARATE_WAIT)
            } else {
                wait_until
            };
            let n = match tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) if from == server => n,
                Ok(Ok(_)) => continue,
                // ICMP port unreachable surfaces as an error on Linux: the node is gone.
                Ok(Err(_)) => return Ok(Outcome::TimedOut),
                Err(_) if acked => return Ok(Outcome::TimedOut),
                Err(_) => break,
            };
            let Ok(reply) = Packet::from_bytes(&buf[..n]) else {
                continue;
            };
            match reply.header.get_type() {
                MessageType::Acknowledgement if reply.header.message_id == mid => {
                    if reply.header.code == MessageClass::Empty {
                        acked = true; // §5.2.2: the response follows separately
                        continue;
                    }
                    return Ok(classify(&reply, first));
                }
                MessageType::Confirmable | MessageType::NonConfirmable
                    if reply.get_token() == token.as_slice() =>
                {
                    if reply.header.get_type() == MessageType::Confirmable {
                        let mut ack = Packet::new();
                        ack.header.set_type(MessageType::Acknowledgement);
                        ack.header.message_id = reply.header.message_id;
                        if let Ok(b) = ack.to_bytes() {
                            socket.send_to(&b, server).await?;
                        }
                    }
                    return Ok(classify(&reply, first));
                }
                _ => continue,
            }
        }
        timeout *= 2;
    }
    Ok(Outcome::TimedOut)
}

fn classify(reply: &Packet, first: Instant) -> Outcome {
    if u8::from(reply.header.code) == 0x41 {
        Outcome::Created(first.elapsed())
    } else {
        Outcome::Refused
    }
}
