//! Routed reads: M simulated devices registered on the node, callers doing `Read /3/0/0` through
//! the gateway (gRPC → gateway → NATS → node → CoAP → device and back).
//!
//! Two ways to load it. **Closed loop** (`--concurrency C`): C callers, each sends its next read
//! when the previous one returned — the throughput the cluster sustains. **Open loop**
//! (`--rate R`): reads are scheduled every 1/R s whatever the completions, by a pacer thread that
//! sleeps with the OS timer (finer than tokio's 1 ms wheel), and latency is measured from the
//! *scheduled* instant, so a stall shows up as latency of every read behind it instead of hiding
//! as fewer reads (coordinated omission). Reads that would exceed the in-flight cap are shed and
//! counted as errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::v1::ReadRequest;
use tokio::sync::Semaphore;
use tonic::transport::{Channel, Endpoint};

use super::cluster::Cluster;
use super::report::Scenario;
use super::stats::{Counters, Latency, Progress};
use super::{device_ip, run_prefix, BenchError};
use crate::sim::{SimConfig, SimDevice};

/// Devices of the read scenario live on 127.64.x.y, apart from the storm's.
const READS_NET: u8 = 64;
/// Deadline of each Read; a read slower than this counts as a timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Open loop: reads in flight beyond this are shed (counted as errors) instead of queued.
const MAX_IN_FLIGHT: usize = 4096;

#[derive(Debug, Clone)]
pub struct ReadsConfig {
    pub devices: usize,
    pub concurrency: usize,
    pub duration: Duration,
    /// Open loop at this many reads/s; closed loop when `None`.
    pub rate: Option<f64>,
    /// gRPC connections (HTTP/2) the callers share.
    pub connections: usize,
}

/// A registered fleet of simulated devices that answer reads.
pub struct Fleet {
    pub prefix: String,
    pub devices: Vec<SimDevice>,
}

impl Fleet {
    /// Starts and registers `n` devices, 64 registrations at a time.
    pub async fn register(cluster: &Cluster, n: usize) -> Result<Fleet, BenchError> {
        Fleet::register_on(cluster, n, "reads", READS_NET).await
    }

    /// The same for scenario `label`, with device addresses on 127.`net`.x.y.
    pub async fn register_on(
        cluster: &Cluster,
        n: usize,
        label: &str,
        net: u8,
    ) -> Result<Fleet, BenchError> {
        let prefix = run_prefix(label);
        let mut devices = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            let batch = chunk.iter().map(|&i| {
                let mut c = SimConfig::new(format!("{prefix}{i:06}"), cluster.node.coap);
                c.bind = std::net::SocketAddr::from((device_ip(net, i), 0));
                async move {
                    let d = SimDevice::start(c).await?;
                    d.register().await?;
                    Ok::<_, BenchError>(d)
                }
            });
            for d in futures::future::join_all(batch).await {
                devices.push(d?);
            }
        }
        Ok(Fleet { prefix, devices })
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.devices
            .iter()
            .map(|d| d.config.endpoint.clone())
            .collect()
    }

    pub fn reads_answered(&self) -> usize {
        self.devices.iter().map(|d| d.reads_answered()).sum()
    }
}

/// What a read run did, beyond its figures: for the smoke checks.
#[derive(Debug, Clone)]
pub struct ReadsOutcome {
    pub issued: u64,
    pub ok: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub first_error: Option<String>,
}

pub async fn run(
    cluster: &Cluster,
    fleet: &Fleet,
    cfg: &ReadsConfig,
) -> Result<(Scenario, ReadsOutcome), BenchError> {
    let url = cluster
        .gateway_url()
        .ok_or_else(|| BenchError::Sanity("reads need a gateway".into()))?;
    let mut channels = Vec::new();
    for _ in 0..cfg.connections.max(1) {
        channels.push(Endpoint::from_shared(url.to_string())?.connect().await?);
    }
    let endpoints = Arc::new(fleet.endpoints());
    let answered_before = fleet.reads_answered();
    let (mut s, outcome) = match cfg.rate {
        None => closed_loop(&channels, endpoints, cfg).await?,
        Some(rate) => open_loop(&channels, endpoints, cfg, rate).await?,
    };
    if let Some(e) = &outcome.first_error {
        eprintln!("{}: first error: {e}", s.name);
    }
    s.add(
        "device_reads_answered",
        (fleet.reads_answered() - answered_before) as f64,
    );
    Ok((s, outcome))
}

fn read_request(endpoint: &str) -> tonic::Request<ReadRequest> {
    let mut r = tonic::Request::new(ReadRequest {
        endpoint: endpoint.to_string(),
        path: "/3/0/0".into(),
        content_format: 0,
        text_plain: false,
    });
    r.set_timeout(CALL_TIMEOUT);
    r
}

/// Shared by the callers: counters, and the first error message for the report.
#[derive(Default)]
struct Tally {
    counters: Arc<Counters>,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn outcome(&self, result: Result<(), tonic::Status>) -> bool {
        match result {
            Ok(()) => {
                self.counters.add_ok();
                true
            }
            Err(status) => {
                if status.code() == tonic::Code::DeadlineExceeded {
                    self.counters.add_timeout();
                } else {
                    self.counters.add_error();
                }
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
                false
            }
        }
    }

    fn finish(&self, issued: u64) -> ReadsOutcome {
        ReadsOutcome {
            issued,
            ok: self.counters.ok(),
            errors: self.counters.errors(),
            timeouts: self.counters.timeouts(),
            first_error: self
                .first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

async fn closed_loop(
    channels: &[Channel],
    endpoints: Arc<Vec<String>>,
    cfg: &ReadsConfig,
) -> Result<(Scenario, ReadsOutcome), BenchError> {
    let tally = Arc::new(Tally::default());
    let issued = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("reads", "reads", None, tally.counters.clone());
    let start = Instant::now();
    let end = start + cfg.duration;
    let mut callers = Vec::new();
    for w in 0..cfg.concurrency.max(1) {
        let mut api = DeviceServiceClient::new(channels[w % channels.len()].clone());
        let (endpoints, tally, issued) = (endpoints.clone(), tally.clone(), issued.clone());
        let c = cfg.concurrency.max(1);
        callers.push(tokio::spawn(async move {
            let mut latency = Latency::new();
            let mut k = w;
            while Instant::now() < end {
                let ep = &endpoints[k % endpoints.len()];
                k += c;
                issued.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let r = api.read(read_request(ep)).await.map(|_| ());
                if tally.outcome(r) {
                    latency.record(t.elapsed());
                }
            }
            latency
        }));
    }
    let mut latency = Latency::new();
    for c in callers {
        latency.merge(
            &c.await
                .map_err(|e| BenchError::Io(std::io::Error::other(e)))?,
        )?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.finish().await;
    let outcome = tally.finish(issued.load(Ordering::Relaxed));
    let mut s = Scenario::new(
        "reads",
        format!(
            "reads --devices {} --concurrency {} --duration {}",
            endpoints.len(),
            cfg.concurrency,
            cfg.duration.as_secs_f64()
        ),
    );
    s.add("reads_per_s", outcome.ok as f64 / elapsed)
        .latency("", &latency)
        .add("issued", outcome.issued as f64)
        .add("ok", outcome.ok as f64)
        .add("errors", outcome.errors as f64)
        .add("timeouts", outcome.timeouts as f64);
    Ok((s, outcome))
}

async fn open_loop(
    channels: &[Channel],
    endpoints: Arc<Vec<String>>,
    cfg: &ReadsConfig,
    rate: f64,
) -> Result<(Scenario, ReadsOutcome), BenchError> {
    if !(rate > 0.0 && rate <= 1_000_000.0) {
        return Err(BenchError::Sanity(format!("--rate {rate} out of range")));
    }
    let tally = Arc::new(Tally::default());
    // Latency from the scheduled instant, and from the instant the read was actually sent.
    let latencies = Arc::new(Mutex::new((Latency::new(), Latency::new())));
    let progress = Progress::start("reads-open", "reads", None, tally.counters.clone());
    let total = (rate * cfg.duration.as_secs_f64()).ceil() as u64;
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let runtime = tokio::runtime::Handle::current();
    let devices = endpoints.len();
    let start = Instant::now();
    let pacer = {
        let (channels, tally, latencies, in_flight) = (
            channels.to_vec(),
            tally.clone(),
            latencies.clone(),
            in_flight.clone(),
        );
        std::thread::spawn(move || {
            for k in 0..total {
                let scheduled = start + Duration::from_secs_f64(k as f64 / rate);
                if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    tally.outcome(Err(tonic::Status::resource_exhausted("shed by the bench")));
                    continue;
                };
                let mut api =
                    DeviceServiceClient::new(channels[k as usize % channels.len()].clone());
                let ep = endpoints[k as usize % endpoints.len()].clone();
                let (tally, latencies) = (tally.clone(), latencies.clone());
                runtime.spawn(async move {
                    let sent = Instant::now();
                    let r = api.read(read_request(&ep)).await.map(|_| ());
                    if tally.outcome(r) {
                        let mut l = latencies.lock().unwrap_or_else(|p| p.into_inner());
                        l.0.record(scheduled.elapsed());
                        l.1.record(sent.elapsed());
                    }
                    drop(permit);
                });
            }
        })
    };
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    // Every read has a deadline of CALL_TIMEOUT: wait for the last ones a little longer.
    let _ = tokio::time::timeout(
        CALL_TIMEOUT + Duration::from_secs(1),
        in_flight.acquire_many(MAX_IN_FLIGHT as u32),
    )
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    progress.finish().await;
    let outcome = tally.finish(total);
    let (from_schedule, from_send) = {
        let l = latencies.lock().unwrap_or_else(|p| p.into_inner());
        (l.0.clone(), l.1.clone())
    };
    let mut s = Scenario::new(
        "reads_open",
        format!(
            "reads --devices {} --duration {} --rate {rate}",
            devices,
            cfg.duration.as_secs_f64()
        ),
    );
    s.add("offered_per_s", rate)
        .add("reads_per_s", outcome.ok as f64 / elapsed)
        .latency("", &from_schedule)
        .latency("service_", &from_send)
        .add("issued", outcome.issued as f64)
        .add("ok", outcome.ok as f64)
        .add("errors", outcome.errors as f64)
        .add("timeouts", outcome.timeouts as f64);
    Ok((s, outcome))
}
