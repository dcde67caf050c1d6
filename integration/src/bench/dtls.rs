//! DTLS scenario (issue #4 scenario 5): N simulated devices each do a full PSK handshake
//! (cookie round trip included) and a Register over it, C at a time; the figure is handshakes
//! plus registrations per second, and the node's memory per DTLS device (VmRSS of the node
//! process before and after the N associations exist, divided by N).
//!
//! The devices are real DTLS clients (webrtc-dtls through the simulator), running in this
//! process on the same machine: their half of every handshake competes with the node's for the
//! CPU, so the throughput is a floor, not the node's ceiling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::cluster::Cluster;
use super::report::Scenario;
use super::stats::{Counters, Latency, Progress};
use super::{device_ip, run_prefix, BenchError};
use crate::sim::{SimConfig, SimDevice};

/// First octet after 127 of the DTLS devices' addresses.
const DTLS_NET: u8 = 60;

#[derive(Debug, Clone)]
pub struct DtlsBenchConfig {
    pub devices: usize,
    pub concurrency: usize,
    pub max_time: Duration,
}

/// What the run did, for the smoke checks.
#[derive(Debug, Clone)]
pub struct DtlsOutcome {
    pub prefix: String,
    pub registered: u64,
    pub in_postgres: i64,
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU seconds (user + system) process `pid` has used (`/proc/<pid>/stat`, 100 ticks/s).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Stores one PSK credential per device straight in Postgres and asks every node for a full
/// reload (`SecurityChanged` with no endpoint).
async fn provision(cluster: &Cluster, prefix: &str, n: usize) -> Result<(), BenchError> {
    let endpoints: Vec<String> = (0..n).map(|i| format!("{prefix}{i:06}")).collect();
    let identities: Vec<String> = endpoints.iter().map(|e| format!("{e}-id")).collect();
    let keys: Vec<Vec<u8>> = endpoints.iter().map(|e| e.as_bytes().to_vec()).collect();
    sqlx::query(
        "INSERT INTO security_credentials (endpoint, psk_identity, psk_key) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[])",
    )
    .bind(&endpoints)
    .bind(&identities)
    .bind(&keys)
    .execute(&cluster.pool)
    .await?;
    let client = async_nats::connect(&cluster.services.nats_url)
        .await
        .map_err(|e| BenchError::Nats(e.to_string()))?;
    lwm2m_node::security::publish_change(&client, "")
        .await
        .map_err(|e| BenchError::Nats(e.to_string()))?;
    client
        .flush()
        .await
        .map_err(|e| BenchError::Nats(e.to_string()))?;
    // The reload contract is "within a second".
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(())
}

pub async fn run(
    cluster: &Cluster,
    cfg: &DtlsBenchConfig,
) -> Result<(Scenario, DtlsOutcome), BenchError> {
    let prefix = run_prefix("dtls");
    let coaps = cluster
        .node
        .coaps
        .ok_or_else(|| BenchError::Sanity("the node has no CoAPs listener".into()))?;
    provision(cluster, &prefix, cfg.devices).await?;
    let pid = cluster.node.proc.pid();
    let rss_before = rss_kib(pid).unwrap_or(0);
    let cpu_before = cpu_secs(pid).unwrap_or(0.0);

    let counters = Arc::new(Counters::default());
    let progress = Progress::start(
        "dtls",
        "handshakes+registrations",
        Some(cfg.devices as u64),
        counters.clone(),
    );
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let started = Instant::now();
    let deadline = started + cfg.max_time;
    let mut tasks = Vec::with_capacity(cfg.devices);
    for i in 0..cfg.devices {
        let endpoint = format!("{prefix}{i:06}");
        let mut config = SimConfig::new(endpoint.clone(), coaps);
        config.bind = std::net::SocketAddr::from((device_ip(DTLS_NET, i), 0));
        config.psk = Some((format!("{endpoint}-id"), endpoint.into_bytes()));
        let (slots, counters) = (slots.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.ok()?;
            let t0 = Instant::now();
            let dev = SimDevice::start(config).await.ok()?;
            match tokio::time::timeout_at(deadline.into(), dev.register()).await {
                Ok(Ok(_)) => {
                    counters.add_ok();
                    Some((dev, t0.elapsed()))
                }
                Ok(Err(_)) => {
                    counters.add_error();
                    None
                }
                Err(_) => {
                    counters.add_timeout();
                    None
                }
            }
        }));
    }
    let mut devices = Vec::with_capacity(cfg.devices);
    let mut latency = Latency::new();
    for t in tasks {
        if let Ok(Some((dev, took))) = t.await {
            latency.record(took);
            devices.push(dev);
        }
    }
    let elapsed = started.elapsed();
    let node_cpu = cpu_secs(pid).unwrap_or(0.0) - cpu_before;
    progress.finish().await;
    // Let the node settle (allocator, finished tasks) before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid).unwrap_or(0);
    let registered = devices.len() as u64;
    let in_postgres = cluster.registrations(&prefix).await?;
    let mut s = Scenario::new(
        "dtls",
        format!(
            "{} devices, {} concurrent, PSK handshake + Register each",
            cfg.devices, cfg.concurrency
        ),
    );
    s.add("devices", cfg.devices as f64)
        .add("registered", registered as f64)
        .add("errors", counters.errors() as f64)
        .add("timeouts", counters.timeouts() as f64)
        .add(
            "registrations_per_s",
            registered as f64 / elapsed.as_secs_f64(),
        )
        // What the node alone would do with the CPU the simulated clients take here.
        .add("node_cpu_s", node_cpu)
        .add("per_node_cpu_s", registered as f64 / node_cpu.max(0.001))
        .add("node_rss_before_kib", rss_before as f64)
        .add("node_rss_after_kib", rss_after as f64)
        .add(
            "node_kib_per_dtls_device",
            rss_after.saturating_sub(rss_before) as f64 / registered.max(1) as f64,
        )
        .latency("handshake_register", &latency);
    for d in &devices {
        d.stop();
    }
    sqlx::query("DELETE FROM security_credentials WHERE endpoint LIKE $1 || '%'")
        .bind(&prefix)
        .execute(&cluster.pool)
        .await?;
    Ok((
        s,
        DtlsOutcome {
            prefix,
            registered,
            in_postgres,
        },
    ))
}
