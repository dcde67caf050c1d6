//! Gateway configuration: flags with environment fallbacks, validated once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "lwm2m-gateway",
    about = "gRPC gateway of the LwM2M cluster (lwm2m.v1.DeviceService)"
)]
pub struct Args {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// gRPC listen address.
    #[arg(long, env = "LWM2M_GRPC_LISTEN", default_value = "0.0.0.0:50051")]
    pub grpc_listen: SocketAddr,
    /// How long to wait for the owning node's Ack before answering UNAVAILABLE (seconds).
    #[arg(long, env = "LWM2M_ACK_TIMEOUT", default_value = "1", value_parser = parse_secs)]
    pub ack_timeout: Duration,
    /// Deadline for device calls whose caller set none (seconds).
    #[arg(long, env = "LWM2M_DEFAULT_TIMEOUT", default_value = "30", value_parser = parse_secs)]
    pub default_timeout: Duration,
    /// Endpoints whose owning node the gateway remembers (a cache in front of Postgres, kept
    /// current by registration events); when full it starts over.
    #[arg(long, env = "LWM2M_OWNER_CACHE", default_value = "1000000")]
    pub owner_cache: usize,
}

pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!("{s:?} must be in (0, 86400] seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}
