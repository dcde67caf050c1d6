//! Scenarios run together: `all` (every scenario beside its baseline, with the ratios the issue
//! sets targets for) and `smoke` (every scenario tiny, checked for sanity rather than speed).

use std::time::Duration;

use super::baseline::{self, BaselineConfig};
use super::cluster::Cluster;
use super::dtls::{self, DtlsBenchConfig, DtlsOutcome};
use super::notify::{self, NotifyConfig, NotifyOutcome};
use super::reads::{self, Fleet, ReadsConfig, ReadsOutcome};
use super::report::{Report, Scenario};
use super::steady::{self, SteadyConfig};
use super::storm::{self, StormConfig, StormOutcome};
use super::BenchError;
use crate::harness::Services;

#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub baseline: BaselineConfig,
    pub storm: StormConfig,
    /// Closed-loop reads; the open-loop run uses the same devices at `open_rate`.
    pub reads: ReadsConfig,
    pub open_rate: f64,
    pub dtls: DtlsBenchConfig,
    pub notify: NotifyConfig,
    /// Steady state (scenario 2); `None` in `all`, which has no worker processes to spare.
    pub steady: Option<SteadyConfig>,
}

/// What the suite observed, for the smoke checks.
struct Observed {
    storm: StormOutcome,
    reads: ReadsOutcome,
    open: ReadsOutcome,
    dtls: DtlsOutcome,
    notify: NotifyOutcome,
}

/// Baselines, then one node + gateway for the storm and both read runs; the servers are stopped
/// and this run's registrations removed however it ends.
async fn run_suite(svc: Services, cfg: &SuiteConfig) -> Result<(Report, Observed), BenchError> {
    let mut report = Report::default();
    report
        .scenarios
        .extend(baseline::run(&svc.nats_url, &cfg.baseline).await?);
    let cluster = Cluster::start(svc, true).await?;
    let mut prefixes = Vec::new();
    let result = async {
        let (s, storm) = storm::run(&cluster, &cfg.storm).await?;
        prefixes.push(storm.prefix.clone());
        report.scenarios.push(s);
        let fleet = Fleet::register(&cluster, cfg.reads.devices).await?;
        prefixes.push(fleet.prefix.clone());
        let (s, reads) = reads::run(&cluster, &fleet, &cfg.reads).await?;
        report.scenarios.push(s);
        let open_cfg = ReadsConfig {
            rate: Some(cfg.open_rate),
            ..cfg.reads.clone()
        };
        let (s, open) = reads::run(&cluster, &fleet, &open_cfg).await?;
        report.scenarios.push(s);
        let (s, dtls) = dtls::run(&cluster, &cfg.dtls).await?;
        prefixes.push(dtls.prefix.clone());
        report.scenarios.push(s);
        drop(fleet);
        let (s, notify) = notify::run(&cluster, &cfg.notify).await?;
        prefixes.push(notify.prefix.clone());
        report.scenarios.push(s);
        if let Some(steady_cfg) = &cfg.steady {
            let exe = std::env::current_exe()?;
            let (s, prefix) = steady::run(&cluster, steady_cfg, &exe).await?;
            prefixes.push(prefix);
            report.scenarios.push(s);
        }
        Ok::<_, BenchError>(Observed {
            storm,
            reads,
            open,
            dtls,
            notify,
        })
    }
    .await;
    cluster.stop_and_forget(&prefixes).await?;
    let observed = result?;
    compare(&mut report);
    Ok((report, observed))
}

/// The ratios of BENCHMARKS.md: each scenario figure over the raw piece it is built on.
pub fn compare(report: &mut Report) {
    report.compare(
        "routed reads/s ÷ NATS request-reply/s (target ≥ 0.5)",
        ("reads", "reads_per_s"),
        ("nats_request_reply", "requests_per_s"),
    );
    report.compare(
        "routed reads/s ÷ NATS subscription-per-call/s",
        ("reads", "reads_per_s"),
        ("nats_sub_per_call", "requests_per_s"),
    );
    report.compare(
        "routed reads/s ÷ tonic unary/s",
        ("reads", "reads_per_s"),
        ("tonic_unary", "requests_per_s"),
    );
    report.compare(
        "routed read p50 ms ÷ NATS request-reply p50 ms",
        ("reads", "p50_ms"),
        ("nats_request_reply", "p50_ms"),
    );
    report.compare(
        "open-loop read p50 ms ÷ NATS request-reply p50 ms",
        ("reads_open", "p50_ms"),
        ("nats_request_reply", "p50_ms"),
    );
    report.compare(
        "notifications/s reaching NATS ÷ UDP echo/s",
        ("notify", "notifications_per_s"),
        ("udp_echo", "requests_per_s"),
    );
    report.compare(
        "durable registrations/s ÷ UDP echo/s",
        ("storm", "registrations_per_s"),
        ("udp_echo", "requests_per_s"),
    );
}

pub async fn all(svc: Services, cfg: &SuiteConfig) -> Result<Report, BenchError> {
    Ok(run_suite(svc, cfg).await?.0)
}

/// The smoke parameters: every scenario, tiny.
pub fn smoke_config() -> SuiteConfig {
    let duration = Duration::from_secs(1);
    SuiteConfig {
        baseline: BaselineConfig {
            concurrency: 4,
            duration,
        },
        storm: StormConfig {
            devices: 50,
            concurrency: 16,
            lifetime: 300,
            max_time: Duration::from_secs(60),
        },
        reads: ReadsConfig {
            devices: 50,
            concurrency: 4,
            duration,
            rate: None,
            connections: 1,
        },
        open_rate: 200.0,
        dtls: DtlsBenchConfig {
            devices: 20,
            concurrency: 8,
            max_time: Duration::from_secs(60),
        },
        notify: NotifyConfig {
            devices: 20,
            rate: 200.0,
            duration,
            confirmable: true,
        },
        steady: Some(SteadyConfig {
            devices: 100,
            lifetime: 2,
            duration: Duration::from_secs(3),
        }),
    }
}

/// Runs [`smoke_config`] and checks that nothing failed and every count adds up. Speed is not
/// checked beyond "more than nothing": this runs in CI on a debug build.
pub async fn smoke(svc: Services) -> Result<Report, BenchError> {
    let cfg = smoke_config();
    let (report, seen) = run_suite(svc, &cfg).await?;
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    for s in &report.scenarios {
        let get = |k: &str| s.get(k).unwrap_or(-1.0);
        for k in ["errors", "timeouts", "refused"] {
            if let Some(v) = s.get(k) {
                check(v == 0.0, format!("{}: {k} = {v}", s.name));
            }
        }
        let rate = get("requests_per_s")
            .max(get("reads_per_s"))
            .max(get("registrations_per_s"))
            .max(get("notifications_per_s"))
            .max(get("updates_per_s"));
        for k in ["update_errors", "register_failed"] {
            if let Some(v) = s.get(k) {
                check(v == 0.0, format!("{}: {k} = {v}", s.name));
            }
        }
        check(rate > 0.0, format!("{}: no throughput", s.name));
    }
    let n = cfg.storm.devices as u64;
    check(
        seen.storm.created == n && seen.storm.in_postgres == n as i64,
        format!(
            "storm: {} devices, {} got 2.01, {} registrations in Postgres",
            n, seen.storm.created, seen.storm.in_postgres
        ),
    );
    let d = &seen.dtls;
    check(
        d.registered == cfg.dtls.devices as u64 && d.in_postgres == cfg.dtls.devices as i64,
        format!(
            "dtls: {} devices, {} registered, {} registrations in Postgres",
            cfg.dtls.devices, d.registered, d.in_postgres
        ),
    );
    for (name, r) in [("reads", &seen.reads), ("reads_open", &seen.open)] {
        check(
            r.ok > 0 && r.ok == r.issued && r.errors == 0 && r.timeouts == 0,
            format!(
                "{name}: issued {} ok {} errors {} timeouts {} (first error: {})",
                r.issued,
                r.ok,
                r.errors,
                r.timeouts,
                r.first_error.as_deref().unwrap_or("none")
            ),
        );
        let answered = report
            .find(name)
            .and_then(|s: &Scenario| s.get("device_reads_answered"))
            .unwrap_or(0.0);
        check(
            answered >= r.ok as f64,
            format!(
                "{name}: devices answered {answered} reads, callers got {}",
                r.ok
            ),
        );
    }
    if let (Some(cfg_steady), Some(st)) = (&cfg.steady, report.find("steady")) {
        let registered = st.get("devices_registered").unwrap_or(0.0);
        let rows = st.get("registrations_in_postgres").unwrap_or(0.0);
        check(
            registered == cfg_steady.devices as f64 && rows == registered,
            format!("steady: {registered} devices registered, {rows} rows in Postgres"),
        );
    }
    check(
        seen.notify.sent > 0 && seen.notify.received == seen.notify.sent,
        format!(
            "notify: devices sent {} notifications, {} reached NATS",
            seen.notify.sent, seen.notify.received
        ),
    );
    if failures.is_empty() {
        Ok(report)
    } else {
        println!("{}", report.table());
        Err(BenchError::Sanity(failures.join("; ")))
    }
}
