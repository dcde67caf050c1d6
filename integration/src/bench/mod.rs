//! `lwm2m-bench`: the device-fleet simulator and load generator behind BENCHMARKS.md.
//!
//! One module per scenario — [`storm`] (registration storm over raw CoAP), [`reads`] (routed
//! reads through the gateway, closed and open loop), [`baseline`] (the raw pieces: NATS
//! request-reply, a tonic unary call, a UDP echo) — and [`suite`], which runs them together
//! (`all`) or tiny and checked (`smoke`); [`dtls`] measures PSK handshakes + registrations and
//! the node's memory per DTLS device. [`cluster`] starts the node and gateway processes,
//! [`stats`] holds the latency histograms and the live progress line, [`report`] the table and
//! the JSON file.
//!
//! Every loop in here is bounded by a count and by a deadline: a benchmark that hangs is worse
//! than one that reports an error.

pub mod baseline;
pub mod cluster;
pub mod dtls;
pub mod notify;
pub mod reads;
pub mod report;
pub mod stats;
pub mod steady;
pub mod storm;
pub mod suite;

/// What can go wrong while benchmarking. Outcomes of the system under test (a 5.03, a gRPC
/// error) are counted, not raised; these are failures of the benchmark itself.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    #[error("nats: {0}")]
    Nats(String),
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("simulated device: {0}")]
    Sim(#[from] crate::sim::SimError),
    #[error("histogram: {0}")]
    Histogram(String),
    /// A smoke check that did not hold (counts do not add up, errors where none are allowed).
    #[error("sanity check failed: {0}")]
    Sanity(String),
}

/// The loopback source address of simulated device `i` of a fleet, spread over 127.0.0.0/8
/// like real peers (the node keys its CoAP state by peer address). `net` (1..=126) keeps fleets
/// of different scenarios apart; a fleet of up to 254 × 256 × k devices gets distinct addresses.
pub fn device_ip(net: u8, i: usize) -> std::net::Ipv4Addr {
    let host = (i % 254) as u8 + 1;
    let mid = ((i / 254) % 256) as u8;
    let hi = net.wrapping_add((i / (254 * 256)) as u8);
    std::net::Ipv4Addr::new(127, hi, mid, host)
}

/// A prefix for this run's endpoint names, so that counts in Postgres are this run's only.
pub fn run_prefix(scenario: &str) -> String {
    format!("bench-{scenario}-{:08x}-", rand::random::<u32>())
}
