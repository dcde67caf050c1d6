//! `lwm2m-bench`: the device-fleet simulator and load generator of BENCHMARKS.md.
//!
//! Each subcommand is one command: it starts its own node and gateway (the binaries next to
//! this executable: build with `cargo build --release --workspace --bins` and run
//! `target/release/lwm2m-bench` for real figures), runs, stops them by PID, prints a table on
//! stdout and writes every figure with the machine info to `--out` (JSON). Progress goes to
//! stderr. Postgres and NATS come from DATABASE_URL / NATS_URL, or `scripts/services.sh`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lwm2m_integration::bench::baseline::{self, BaselineConfig};
use lwm2m_integration::bench::cluster::Cluster;
use lwm2m_integration::bench::dtls::{self, DtlsBenchConfig};
use lwm2m_integration::bench::notify::{self, NotifyConfig};
use lwm2m_integration::bench::reads::{self, Fleet, ReadsConfig};
use lwm2m_integration::bench::report::Report;
use lwm2m_integration::bench::steady::{self, SteadyConfig};
use lwm2m_integration::bench::storm::{self, StormConfig};
use lwm2m_integration::bench::suite::{self, SuiteConfig};
use lwm2m_integration::harness::Services;

#[derive(Parser)]
#[command(about = "Benchmarks of the LwM2M cluster: registration storm, routed reads, baselines")]
struct Args {
    /// Where to write every figure as JSON.
    #[arg(long, global = true, default_value = "bench-results.json")]
    out: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Registration storm: N devices with their own sockets and addresses register, C in flight.
    Storm {
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Give up on the storm after this many seconds.
        #[arg(long, default_value_t = 300)]
        max_time: u64,
    },
    /// Routed reads of /3/0/0 through the gateway: closed loop, or open loop with --rate.
    Reads {
        #[arg(long, default_value_t = 1_000)]
        devices: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Open loop: offered reads per second, on a fixed schedule.
        #[arg(long)]
        rate: Option<f64>,
        /// gRPC connections shared by the callers.
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
    /// DTLS: N devices each do a full PSK handshake and a Register, C at a time; reports
    /// handshakes+registrations/s and the node's RSS per DTLS device.
    Dtls {
        #[arg(long, default_value_t = 2_000)]
        devices: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        #[arg(long, default_value_t = 300)]
        max_time: u64,
    },
    /// Notifications: devices with a durable observation notify at --rate in total; counts what
    /// reaches a NATS subscriber and the end-to-end latency.
    Notify {
        #[arg(long, default_value_t = 1_000)]
        devices: usize,
        /// Notifications per second, all devices together.
        #[arg(long, default_value_t = 20_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// CON notifications instead of NON.
        #[arg(long)]
        confirmable: bool,
    },
    /// Steady state at scale: N devices registered and updating at half their lifetime, in
    /// worker processes of up to 18,000 devices; node RSS per device and the Postgres write rate.
    Steady {
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        #[arg(long, default_value_t = 300)]
        lifetime: u32,
        /// Seconds of the measured steady phase, after every device registered.
        #[arg(long, default_value_t = 60.0)]
        duration: f64,
    },
    /// One worker process of `steady` (started by it).
    #[command(hide = true)]
    SteadyWorker {
        #[arg(long)]
        server: std::net::SocketAddr,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        first: usize,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        lifetime: u32,
        #[arg(long)]
        duration: f64,
    },
    /// The raw pieces: NATS request-reply, tonic unary, UDP echo.
    Baseline {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Baseline + storm + reads (closed and open loop), each figure beside its baseline.
    All {
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        #[arg(long, default_value_t = 256)]
        storm_concurrency: usize,
        #[arg(long, default_value_t = 1_000)]
        read_devices: usize,
        /// Callers of the closed-loop reads and workers of each baseline.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Offered load of the open-loop reads (reads/s).
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Devices of the DTLS scenario.
        #[arg(long, default_value_t = 2_000)]
        dtls_devices: usize,
        /// Devices and total rate of the notification scenario.
        #[arg(long, default_value_t = 1_000)]
        notify_devices: usize,
        #[arg(long, default_value_t = 20_000.0)]
        notify_rate: f64,
    },
    /// Every scenario with tiny parameters; fails unless nothing failed and the counts add up.
    Smoke,
}

/// Raises RLIMIT_NOFILE as far as allowed: the hard limit itself up to `fs.nr_open` when the
/// process may (root, CAP_SYS_RESOURCE), then the soft limit up to the hard one.
fn raise_nofile_limit() -> anyhow::Result<u64> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    if nr_open > hard {
        // Not allowed without privileges: then the current hard limit is what we get.
        let _ = rlimit::Resource::NOFILE.set(nr_open, nr_open);
    }
    rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")
}

/// One socket per simulated device, plus some for the rest of the process.
fn enough_fds(devices: usize, nofile: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        devices as u64 + 256 <= nofile,
        "{devices} devices need more file descriptors than RLIMIT_NOFILE allows ({nofile})"
    );
    Ok(())
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        s > 0.0 && s <= 3600.0,
        "--duration must be in (0, 3600] seconds"
    );
    Ok(Duration::from_secs_f64(s))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // A socket per simulated device: far more descriptors than the usual soft limit of 1024.
    let nofile = raise_nofile_limit()?;
    if let Cmd::SteadyWorker {
        server,
        prefix,
        first,
        count,
        lifetime,
        duration,
    } = &args.command
    {
        enough_fds(*count, nofile)?;
        steady::worker(*server, prefix, *first, *count, *lifetime, secs(*duration)?).await?;
        return Ok(());
    }
    let svc = tokio::task::spawn_blocking(Services::get).await?;

    let mut report = Report::default();
    match args.command {
        Cmd::Storm {
            devices,
            concurrency,
            max_time,
        } => {
            enough_fds(devices, nofile)?;
            let cfg = StormConfig {
                devices,
                concurrency,
                lifetime: 300,
                max_time: Duration::from_secs(max_time),
            };
            let cluster = Cluster::start(svc, false).await?;
            let result = storm::run(&cluster, &cfg).await;
            let prefixes: Vec<String> = result.iter().map(|(_, o)| o.prefix.clone()).collect();
            cluster.stop_and_forget(&prefixes).await?;
            report.scenarios.push(result?.0);
        }
        Cmd::Reads {
            devices,
            concurrency,
            duration,
            rate,
            connections,
        } => {
            let cfg = ReadsConfig {
                devices,
                concurrency,
                duration: secs(duration)?,
                rate,
                connections,
            };
            let cluster = Cluster::start(svc, true).await?;
            let result = async {
                let fleet = Fleet::register(&cluster, devices).await?;
                let r = reads::run(&cluster, &fleet, &cfg).await;
                Ok::<_, anyhow::Error>((fleet.prefix.clone(), r))
            }
            .await;
            let prefixes: Vec<String> = result.iter().map(|(p, _)| p.clone()).collect();
            cluster.stop_and_forget(&prefixes).await?;
            report.scenarios.push(result?.1?.0);
        }
        Cmd::Dtls {
            devices,
            concurrency,
            max_time,
        } => {
            enough_fds(devices, nofile)?;
            let cfg = DtlsBenchConfig {
                devices,
                concurrency,
                max_time: Duration::from_secs(max_time),
            };
            let cluster = Cluster::start(svc, false).await?;
            let result = dtls::run(&cluster, &cfg).await;
            let prefixes: Vec<String> = result.iter().map(|(_, o)| o.prefix.clone()).collect();
            cluster.stop_and_forget(&prefixes).await?;
            report.scenarios.push(result?.0);
        }
        Cmd::Notify {
            devices,
            rate,
            duration,
            confirmable,
        } => {
            let cfg = NotifyConfig {
                devices,
                rate,
                duration: secs(duration)?,
                confirmable,
            };
            let cluster = Cluster::start(svc, true).await?;
            let result = notify::run(&cluster, &cfg).await;
            let prefixes: Vec<String> = result.iter().map(|(_, o)| o.prefix.clone()).collect();
            cluster.stop_and_forget(&prefixes).await?;
            report.scenarios.push(result?.0);
        }
        Cmd::Steady {
            devices,
            lifetime,
            duration,
        } => {
            let cfg = SteadyConfig {
                devices,
                lifetime,
                duration: secs(duration)?,
            };
            let exe = std::env::current_exe()?;
            let cluster = Cluster::start(svc, false).await?;
            let result = steady::run(&cluster, &cfg, &exe).await;
            let prefixes: Vec<String> = result.iter().map(|(_, p)| p.clone()).collect();
            cluster.stop_and_forget(&prefixes).await?;
            report.scenarios.push(result?.0);
        }
        Cmd::SteadyWorker { .. } => anyhow::bail!("steady-worker runs before the services"),
        Cmd::Baseline {
            concurrency,
            duration,
        } => {
            let cfg = BaselineConfig {
                concurrency,
                duration: secs(duration)?,
            };
            report
                .scenarios
                .extend(baseline::run(&svc.nats_url, &cfg).await?);
        }
        Cmd::All {
            devices,
            storm_concurrency,
            read_devices,
            concurrency,
            duration,
            rate,
            connections,
            dtls_devices,
            notify_devices,
            notify_rate,
        } => {
            let duration = secs(duration)?;
            let cfg = SuiteConfig {
                baseline: BaselineConfig {
                    concurrency,
                    duration,
                },
                storm: StormConfig {
                    devices,
                    concurrency: storm_concurrency,
                    lifetime: 300,
                    max_time: Duration::from_secs(300),
                },
                reads: ReadsConfig {
                    devices: read_devices,
                    concurrency,
                    duration,
                    rate: None,
                    connections,
                },
                open_rate: rate,
                dtls: DtlsBenchConfig {
                    devices: dtls_devices,
                    concurrency: storm_concurrency,
                    max_time: Duration::from_secs(300),
                },
                notify: NotifyConfig {
                    devices: notify_devices,
                    rate: notify_rate,
                    duration,
                    confirmable: false,
                },
                steady: None,
            };
            report = suite::all(svc, &cfg).await?;
        }
        Cmd::Smoke => {
            report = suite::smoke(svc).await.context("bench smoke")?;
            println!("{}", report.table());
            println!("bench smoke: ok");
            report.write_json(&args.out)?;
            return Ok(());
        }
    }
    println!("{}", report.table());
    report
        .write_json(&args.out)
        .with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("figures written to {}", args.out.display());
    Ok(())
}
