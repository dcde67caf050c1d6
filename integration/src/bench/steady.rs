//! Steady state at scale (issue scenario 2): N registered devices keep their registrations alive
//! with Updates at half their lifetime, spread evenly; the node's RSS per registered device and
//! the Postgres write rate are measured.
//!
//! One process may hold only so many sockets (RLIMIT_NOFILE: 20,000 on the reference machine),
//! so the devices run in worker processes (`lwm2m-bench steady-worker`, this executable), each
//! with up to [`PER_WORKER`] simulated devices, which report back one JSON line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::cluster::Cluster;
use super::report::Scenario;
use super::stats::Latency;
use super::{device_ip, run_prefix, BenchError};
use crate::sim::{SimConfig, SimDevice};

/// Devices of this scenario live on 127.16.x.y onwards.
const STEADY_NET: u8 = 16;
/// Simulated devices per worker process (below the descriptor limit, with room to spare).
pub const PER_WORKER: usize = 18_000;
/// Registrations in flight per worker.
const REGISTER_CONCURRENCY: usize = 64;

#[derive(Debug, Clone)]
pub struct SteadyConfig {
    pub devices: usize,
    pub lifetime: u32,
    /// Length of the measured steady phase.
    pub duration: Duration,
}

/// What one worker reports.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct WorkerReport {
    pub registered: u64,
    pub register_failed: u64,
    pub updates_ok: u64,
    pub updates_failed: u64,
    pub update_p50_ms: f64,
    pub update_p99_ms: f64,
}

/// The parent: starts the workers against `cluster`'s node, measures, aggregates.
pub async fn run(
    cluster: &Cluster,
    cfg: &SteadyConfig,
    bench_exe: &Path,
) -> Result<(Scenario, String), BenchError> {
    let prefix = run_prefix("steady");
    let node_pid = cluster.node.proc.pid();
    let rss_idle = rss_kib(node_pid)?;
    let workers = cfg.devices.div_ceil(PER_WORKER).max(1);
    let mut children = Vec::new();
    let started = Instant::now();
    for w in 0..workers {
        let first = w * PER_WORKER;
        let count = PER_WORKER.min(cfg.devices - first);
        let child = Command::new(bench_exe)
            .args([
                "steady-worker",
                "--server",
                &cluster.node.coap.to_string(),
                "--prefix",
                &prefix,
                "--first",
                &first.to_string(),
                "--count",
                &count.to_string(),
                "--lifetime",
                &cfg.lifetime.to_string(),
                "--duration",
                &cfg.duration.as_secs_f64().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        children.push(child);
    }
    // Each worker prints "registered" when its devices are in, then its report at the end.
    let mut readers = Vec::new();
    for child in &mut children {
        let out = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Sanity("worker stdout".into()))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        readers.push(rx);
    }
    let wait_line = |rx: &std::sync::mpsc::Receiver<String>, what: &str| {
        rx.recv_timeout(Duration::from_secs(900))
            .map_err(|_| BenchError::Sanity(format!("a steady worker never reported {what}")))
    };
    for rx in &readers {
        let line = wait_line(rx, "its registrations")?;
        if line != "registered" {
            return Err(BenchError::Sanity(format!("steady worker: {line}")));
        }
    }
    let registration_s = started.elapsed().as_secs_f64();
    let rss_registered = rss_kib(node_pid)?;
    let writes_before = pg_writes(cluster).await?;
    let steady_start = Instant::now();
    let in_postgres = cluster.registrations(&prefix).await?;

    let mut reports = Vec::new();
    for rx in &readers {
        let line = wait_line(rx, "its result")?;
        let report: WorkerReport = serde_json::from_str(&line)
            .map_err(|e| BenchError::Sanity(format!("worker report {line:?}: {e}")))?;
        reports.push(report);
    }
    let steady_s = steady_start.elapsed().as_secs_f64();
    let writes_after = pg_writes(cluster).await?;
    let rss_end = rss_kib(node_pid)?;
    for mut c in children {
        let _ = c.wait();
    }

    let sum = |f: fn(&WorkerReport) -> u64| reports.iter().map(f).sum::<u64>();
    let registered = sum(|r| r.registered);
    let per_device = |rss: u64| {
        if registered == 0 {
            0.0
        } else {
            (rss.saturating_sub(rss_idle)) as f64 / registered as f64
        }
    };
    let mut s = Scenario::new(
        "steady",
        format!(
            "steady --devices {} --lifetime {} --duration {}",
            cfg.devices,
            cfg.lifetime,
            cfg.duration.as_secs_f64()
        ),
    );
    s.add("devices_registered", registered as f64)
        .add("registrations_in_postgres", in_postgres as f64)
        .add("register_failed", sum(|r| r.register_failed) as f64)
        .add("registration_phase_s", registration_s)
        .add(
            "updates_per_s",
            sum(|r| r.updates_ok) as f64 / cfg.duration.as_secs_f64(),
        )
        .add("update_errors", sum(|r| r.updates_failed) as f64)
        .add(
            "update_p50_ms",
            median(reports.iter().map(|r| r.update_p50_ms).collect()),
        )
        .add(
            "update_p99_ms_worst_worker",
            reports.iter().map(|r| r.update_p99_ms).fold(0.0, f64::max),
        )
        .add(
            "pg_commits_per_s",
            (writes_after.0 - writes_before.0) as f64 / steady_s,
        )
        .add(
            "pg_rows_written_per_s",
            (writes_after.1 - writes_before.1) as f64 / steady_s,
        )
        .add("node_rss_idle_kib", rss_idle as f64)
        .add("node_rss_registered_kib", rss_registered as f64)
        .add("node_rss_end_kib", rss_end as f64)
        .add("node_kib_per_device", per_device(rss_registered))
        .add("node_kib_per_device_end", per_device(rss_end));
    Ok((s, prefix))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Resident set size of `pid` in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| BenchError::Sanity(format!("no VmRSS for pid {pid}")))
}

/// Commits and rows written so far in the bench's database (pg_stat_database).
async fn pg_writes(cluster: &Cluster) -> Result<(i64, i64), BenchError> {
    Ok(sqlx::query_as(
        "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&cluster.pool)
    .await?)
}

/// A worker: registers `count` devices, says "registered", keeps them updating for `duration`,
/// then prints its report as one JSON line.
pub async fn worker(
    server: SocketAddr,
    prefix: &str,
    first: usize,
    count: usize,
    lifetime: u32,
    duration: Duration,
) -> Result<(), BenchError> {
    let mut devices = Vec::with_capacity(count);
    let failed = Arc::new(AtomicU64::new(0));
    let indexes: Vec<usize> = (first..first + count).collect();
    for chunk in indexes.chunks(REGISTER_CONCURRENCY) {
        let batch = chunk.iter().map(|&i| {
            let mut c = SimConfig::new(format!("{prefix}{i:06}"), server);
            c.bind = SocketAddr::from((device_ip(STEADY_NET, i), 0));
            c.lifetime = lifetime;
            async move {
                let d = SimDevice::start(c).await?;
                d.register().await?;
                Ok::<_, BenchError>(d)
            }
        });
        for d in futures::future::join_all(batch).await {
            match d {
                Ok(d) => devices.push(d),
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    println!("registered");
    // Updates at half the lifetime, each device at its own phase, so the rate is even.
    let period = Duration::from_secs_f64(f64::from(lifetime.max(2)) / 2.0);
    let start = tokio::time::Instant::now();
    let end = start + duration;
    let n = devices.len().max(1);
    let mut tasks = Vec::new();
    let devices = Arc::new(devices);
    // One task per 1,000 devices walks its slice in phase order.
    for chunk in (0..devices.len()).collect::<Vec<_>>().chunks(1000) {
        let (devices, chunk) = (devices.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut latency = Latency::new();
            let (mut ok, mut bad) = (0u64, 0u64);
            let mut round = 0u32;
            'rounds: loop {
                for &i in &chunk {
                    let phase = period.mul_f64(i as f64 / n as f64) + period * round;
                    let at = start + phase;
                    if at >= end {
                        break 'rounds;
                    }
                    tokio::time::sleep_until(at).await;
                    let t = Instant::now();
                    match devices[i].update(None, None).await {
                        Ok(code) if code == "2.04" => {
                            ok += 1;
                            latency.record(t.elapsed());
                        }
                        _ => bad += 1,
                    }
                }
                round += 1;
            }
            (ok, bad, latency)
        }));
    }
    let mut report = WorkerReport {
        registered: devices.len() as u64,
        register_failed: failed.load(Ordering::Relaxed),
        ..Default::default()
    };
    let mut latency = Latency::new();
    for t in tasks {
        let (ok, bad, l) = t
            .await
            .map_err(|e| BenchError::Io(std::io::Error::other(e)))?;
        report.updates_ok += ok;
        report.updates_failed += bad;
        latency.merge(&l)?;
    }
    report.update_p50_ms = latency.ms(0.5);
    report.update_p99_ms = latency.ms(0.99);
    println!("{}", json!(report));
    Ok(())
}
