//! The raw pieces a routed read is made of, measured in the same run on the same machine, so
//! that each scenario figure can be put beside what its transport alone does:
//!
//! - **NATS request-reply** with a trivial responder (async-nats `request`, which multiplexes
//!   every request over one shared reply subscription);
//! - **NATS, subscription per call**: the pattern the gateway uses today — a fresh inbox
//!   subscription per call, publish, two replies (Ack, then Result), unsubscribe — to see what
//!   that pattern costs over plain request-reply;
//! - **tonic unary**: gRPC health `Check` against an in-process tonic-health server;
//! - **UDP echo** over loopback.
//!
//! Each runs closed loop: C workers, each sending its next request when the previous returned,
//! for the given duration.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::report::Scenario;
use super::stats::{Counters, Latency, Progress};
use super::BenchError;

/// Every single request of a baseline gives up after this long (counted as a timeout).
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of the NATS and UDP payloads: about a RouteRequest for a Read.
const PAYLOAD: usize = 128;

#[derive(Debug, Clone)]
pub struct BaselineConfig {
    pub concurrency: usize,
    pub duration: Duration,
}

/// Runs all four baselines one after the other.
pub async fn run(nats_url: &str, cfg: &BaselineConfig) -> Result<Vec<Scenario>, BenchError> {
    Ok(vec![
        nats_request_reply(nats_url, cfg).await?,
        nats_subscription_per_call(nats_url, cfg).await?,
        tonic_unary(cfg).await?,
        udp_echo(cfg).await?,
    ])
}

/// Drives `op` from `states.len()` workers for `duration`. `op` takes a worker's state and gives
/// it back with the outcome: `Some(true)` ok, `Some(false)` error, `None` timed out.
async fn closed_loop<S, F, Fut>(
    name: &str,
    params: String,
    states: Vec<S>,
    duration: Duration,
    op: F,
) -> Result<Scenario, BenchError>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (S, Option<bool>)> + Send,
{
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(name, "requests", None, counters.clone());
    let start = Instant::now();
    let end = start + duration;
    let mut workers = Vec::new();
    for state in states {
        let (op, counters) = (op.clone(), counters.clone());
        workers.push(tokio::spawn(async move {
            let mut latency = Latency::new();
            let mut state = state;
            while Instant::now() < end {
                let t = Instant::now();
                let (s, outcome) = op(state).await;
                state = s;
                match outcome {
                    Some(true) => {
                        latency.record(t.elapsed());
                        counters.add_ok();
                    }
                    Some(false) => counters.add_error(),
                    None => counters.add_timeout(),
                }
            }
            latency
        }));
    }
    let mut latency = Latency::new();
    for w in workers {
        latency.merge(
            &w.await
                .map_err(|e| BenchError::Io(std::io::Error::other(e)))?,
        )?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.finish().await;
    let mut s = Scenario::new(name, params);
    s.add("requests_per_s", counters.ok() as f64 / elapsed)
        .latency("", &latency)
        .add("ok", counters.ok() as f64)
        .add("errors", counters.errors() as f64)
        .add("timeouts", counters.timeouts() as f64);
    Ok(s)
}

fn params(cfg: &BaselineConfig) -> String {
    format!(
        "baseline --concurrency {} --duration {}",
        cfg.concurrency,
        cfg.duration.as_secs_f64()
    )
}

async fn nats_connect(url: &str) -> Result<async_nats::Client, BenchError> {
    async_nats::connect(url)
        .await
        .map_err(|e| BenchError::Nats(e.to_string()))
}

/// A responder on its own connection (as the node is another process) that answers every
/// request on `subject` with `replies` copies of its payload.
async fn responder(
    url: &str,
    subject: String,
    replies: usize,
    stop: CancellationToken,
) -> Result<(), BenchError> {
    let client = nats_connect(url).await?;
    let mut sub = client
        .subscribe(subject)
        .await
        .map_err(|e| BenchError::Nats(e.to_string()))?;
    tokio::spawn(async move {
        loop {
            let m = tokio::select! {
                _ = stop.cancelled() => return,
                m = sub.next() => match m { Some(m) => m, None => return },
            };
            if let Some(reply) = m.reply {
                for _ in 0..replies {
                    let _ = client.publish(reply.clone(), m.payload.clone()).await;
                }
            }
        }
    });
    Ok(())
}

async fn nats_request_reply(url: &str, cfg: &BaselineConfig) -> Result<Scenario, BenchError> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let subject = format!("bench.echo.{:08x}", rand::random::<u32>());
    responder(url, subject.clone(), 1, stop).await?;
    let client = nats_connect(url).await?;
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let states = vec![(); cfg.concurrency.max(1)];
    closed_loop(
        "nats_request_reply",
        params(cfg),
        states,
        cfg.duration,
        move |()| {
            let (client, subject, payload) = (client.clone(), subject.clone(), payload.clone());
            async move {
                match tokio::time::timeout(OP_TIMEOUT, client.request(subject, payload)).await {
                    Ok(Ok(_)) => ((), Some(true)),
                    Ok(Err(_)) => ((), Some(false)),
                    Err(_) => ((), None),
                }
            }
        },
    )
    .await
}

async fn nats_subscription_per_call(
    url: &str,
    cfg: &BaselineConfig,
) -> Result<Scenario, BenchError> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let subject = format!("bench.echo2.{:08x}", rand::random::<u32>());
    responder(url, subject.clone(), 2, stop).await?;
    let client = nats_connect(url).await?;
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let states = vec![(); cfg.concurrency.max(1)];
    let op = move |()| {
        let (client, subject, payload) = (client.clone(), subject.clone(), payload.clone());
        async move {
            let call = async {
                let inbox = client.new_inbox();
                let mut sub = client.subscribe(inbox.clone()).await.ok()?;
                client
                    .publish_with_reply(subject, inbox, payload)
                    .await
                    .ok()?;
                sub.next().await?; // Ack
                sub.next().await // Result; dropping `sub` unsubscribes
            };
            match tokio::time::timeout(OP_TIMEOUT, call).await {
                Ok(Some(_)) => ((), Some(true)),
                Ok(None) => ((), Some(false)),
                Err(_) => ((), None),
            }
        }
    };
    closed_loop("nats_sub_per_call", params(cfg), states, cfg.duration, op).await
}

async fn tonic_unary(cfg: &BaselineConfig) -> Result<Scenario, BenchError> {
    let (_reporter, service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                // Nagle off, as tonic does for the listeners it binds itself (it leaves a given
                // incoming alone): with it, a response split over writes waited for a delayed ACK.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                stop.cancelled_owned(),
            ),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let states: Vec<_> = (0..cfg.concurrency.max(1))
        .map(|_| HealthClient::new(channel.clone()))
        .collect();
    let s = closed_loop(
        "tonic_unary",
        params(cfg),
        states,
        cfg.duration,
        |mut c| async move {
            let mut req = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            req.set_timeout(OP_TIMEOUT);
            let r = c.check(req).await;
            let outcome = match r {
                Ok(_) => Some(true),
                Err(s) if s.code() == tonic::Code::DeadlineExceeded => None,
                Err(_) => Some(false),
            };
            (c, outcome)
        },
    )
    .await;
    drop(_stop);
    let _ = server.await;
    s
}

async fn udp_echo(cfg: &BaselineConfig) -> Result<Scenario, BenchError> {
    let server = UdpSocket::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = server.local_addr()?;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = tokio::select! {
                _ = stop.cancelled() => return,
                r = server.recv_from(&mut buf) => match r { Ok(v) => v, Err(_) => continue },
            };
            let _ = server.send_to(&buf[..n], from).await;
        }
    });
    let mut states = Vec::new();
    for _ in 0..cfg.concurrency.max(1) {
        states.push(Arc::new(UdpSocket::bind("127.0.0.1:0").await?));
    }
    closed_loop(
        "udp_echo",
        params(cfg),
        states,
        cfg.duration,
        move |sock| async move {
            let payload = [0x5au8; PAYLOAD];
            let mut buf = [0u8; 1500];
            if sock.send_to(&payload, addr).await.is_err() {
                return (sock, Some(false));
            }
            let outcome = match tokio::time::timeout(OP_TIMEOUT, sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => Some(n == PAYLOAD),
                Ok(Err(_)) => Some(false),
                Err(_) => None,
            };
            (sock, outcome)
        },
    )
    .await
}
