//! Node configuration: flags with environment fallbacks, parsed and validated once in `main`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "lwm2m-node",
    about = "LwM2M device node: CoAP/UDP, registrations, routed requests"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// CoAP/UDP listen address.
    #[arg(long, env = "LWM2M_COAP_LISTEN", default_value = "0.0.0.0:5683")]
    pub coap_listen: SocketAddr,
    /// CoAP over DTLS (PSK) listen address, or `off`.
    #[arg(long, env = "LWM2M_COAPS_LISTEN", default_value = "0.0.0.0:5684", value_parser = parse_listen)]
    pub coaps_listen: Listen,
    /// Seconds a DTLS handshake may take before its state is dropped.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub dtls_handshake_timeout: Duration,
    /// DTLS handshakes in progress at once; further ClientHellos are dropped (clients retry).
    #[arg(long, default_value_t = 1024)]
    pub dtls_max_handshakes: usize,
    /// Seconds between full reloads of the PSK credentials (changes also arrive over NATS).
    #[arg(long, default_value = "30", value_parser = parse_secs)]
    pub security_reload: Duration,
    /// Unique id of this node in the cluster (default: hostname-pid).
    #[arg(long, env = "LWM2M_NODE_ID")]
    pub node_id: Option<String>,
    /// Seconds a registration survives past its lifetime before it expires (network delays).
    #[arg(long, env = "LWM2M_EXPIRY_GRACE", default_value = "5", value_parser = parse_secs)]
    pub expiry_grace: Duration,
    /// How often this node sweeps expired registrations.
    #[arg(long, env = "LWM2M_EXPIRY_INTERVAL", default_value = "1", value_parser = parse_secs)]
    pub expiry_interval: Duration,
    /// How often this node checks its owned endpoints against the database (missed events).
    #[arg(long, env = "LWM2M_RECONCILE_INTERVAL", default_value = "30", value_parser = parse_secs)]
    pub reconcile_interval: Duration,
    /// Largest number of registration writes committed in one transaction (group commit).
    #[arg(long, env = "LWM2M_MAX_COMMIT_BATCH", default_value_t = 256)]
    pub max_commit_batch: usize,
    /// Group-commit transactions in progress at once (each holds one database connection).
    #[arg(long, env = "LWM2M_COMMIT_CONCURRENCY", default_value_t = 2)]
    pub commit_concurrency: usize,
    /// Largest payload sent to or reassembled from a device (block-wise), in bytes.
    #[arg(long, env = "LWM2M_MAX_TRANSFER", default_value_t = 4 * 1024 * 1024)]
    pub max_transfer: usize,
    /// How long a queue-mode device stays reachable after it last talked (TS 1.1 §6.5; default
    /// 93 s = CoAP MAX_TRANSMIT_WAIT).
    #[arg(long, env = "LWM2M_AWAKE_WINDOW", default_value = "93", value_parser = parse_secs)]
    pub awake_window: Duration,
    /// Requests that may wait for one sleeping queue-mode device; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 16)]
    pub queue_capacity: usize,
    /// Database connections.
    #[arg(long, default_value_t = 8)]
    pub db_connections: u32,
    /// Directory of OMA LwM2M object definition (DDF) files: every `*.xml` in it is loaded at
    /// start, on top of (and overriding) the built-in core and IPSO objects.
    #[arg(long, env = "LWM2M_OBJECT_DIR")]
    pub object_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Apply the database migrations and exit.
    Migrate,
}

/// A listen address that may be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

fn parse_listen(s: &str) -> Result<Listen, String> {
    match s {
        "off" | "none" => Ok(Listen(None)),
        _ => s
            .parse()
            .map(|a| Listen(Some(a)))
            .map_err(|e| format!("{s:?}: {e}")),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(0.0..=86_400.0 * 365.0).contains(&v) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Validated configuration the node runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub nats_url: String,
    pub coap_listen: SocketAddr,
    pub coaps_listen: Option<SocketAddr>,
    pub dtls: crate::dtls::DtlsConfig,
    pub security_reload: Duration,
    pub node_id: String,
    pub expiry_grace: Duration,
    pub expiry_interval: Duration,
    pub reconcile_interval: Duration,
    pub max_commit_batch: usize,
    pub commit_concurrency: usize,
    pub db_connections: u32,
    pub max_transfer: usize,
    pub awake_window: Duration,
    pub queue_capacity: usize,
    pub object_dir: Option<PathBuf>,
}

impl Args {
    pub fn into_config(self) -> Result<Config, String> {
        let node_id = match self.node_id {
            Some(id) => id,
            None => format!(
                "{}-{}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "node".into()),
                std::process::id()
            ),
        };
        if node_id.is_empty() || node_id.len() > 64 {
            return Err("--node-id must be 1..=64 characters".into());
        }
        if self.max_commit_batch == 0 || self.commit_concurrency == 0 || self.db_connections == 0 {
            return Err(
                "--max-commit-batch, --commit-concurrency and --db-connections must be positive"
                    .into(),
            );
        }
        if self.queue_capacity == 0 {
            return Err("--queue-capacity must be positive".into());
        }
        if self.max_transfer < 1024 {
            return Err("--max-transfer must be at least 1024 bytes".into());
        }
        if self.expiry_interval.is_zero() || self.reconcile_interval.is_zero() {
            return Err("--expiry-interval must be positive".into());
        }
        if self.dtls_max_handshakes == 0
            || self.dtls_handshake_timeout.is_zero()
            || self.security_reload.is_zero()
        {
            return Err("--dtls-max-handshakes, --dtls-handshake-timeout and --security-reload must be positive".into());
        }
        Ok(Config {
            database_url: self.database_url,
            nats_url: self.nats_url,
            coap_listen: self.coap_listen,
            coaps_listen: self.coaps_listen.0,
            dtls: crate::dtls::DtlsConfig {
                handshake_timeout: self.dtls_handshake_timeout,
                max_handshakes: self.dtls_max_handshakes,
                ..Default::default()
            },
            security_reload: self.security_reload,
            node_id,
            expiry_grace: self.expiry_grace,
            expiry_interval: self.expiry_interval,
            reconcile_interval: self.reconcile_interval,
            max_commit_batch: self.max_commit_batch,
            commit_concurrency: self.commit_concurrency,
            db_connections: self.db_connections,
            max_transfer: self.max_transfer,
            awake_window: self.awake_window,
            queue_capacity: self.queue_capacity,
            object_dir: self.object_dir,
        })
    }
}
