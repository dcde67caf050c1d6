//! NATS connection and the JetStream streams the cluster relies on.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use lwm2m_proto::subjects::{NOTIFY_ALL, NOTIFY_STREAM, REG_EVENTS_ALL, REG_STREAM};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connect to NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
    #[error("JetStream stream: {0}")]
    Stream(String),
}

/// Connects with unlimited reconnects: while NATS is down the CoAP side keeps serving and events
/// wait in the outbox (ARCHITECTURE.md, failure behaviour).
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, BusError> {
    Ok(async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Creates (or finds) the registration event stream.
pub async fn ensure_reg_stream(js: &jetstream::Context) -> Result<stream::Stream, BusError> {
    ensure_stream(js, REG_STREAM, REG_EVENTS_ALL).await
}

/// Creates (or finds) the notification stream of durable observations and Send data.
pub async fn ensure_notify_stream(js: &jetstream::Context) -> Result<stream::Stream, BusError> {
    ensure_stream(js, NOTIFY_STREAM, NOTIFY_ALL).await
}

/// Its duplicate window de-duplicates a retry that re-publishes a message whose ack was lost
/// (same `Nats-Msg-Id`).
async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: &str,
) -> Result<stream::Stream, BusError> {
    js.get_or_create_stream(stream::Config {
        name: name.to_string(),
        subjects: vec![subjects.to_string()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    })
    .await
    .map_err(|e| BusError::Stream(format!("{name}: {e}")))
}
