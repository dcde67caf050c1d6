//! Shared helpers of the end-to-end tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use tonic::transport::Channel;

pub use lwm2m_integration::harness::*;
pub use lwm2m_integration::sim::{SimConfig, SimDevice};

pub async fn grpc(url: &str) -> DeviceServiceClient<Channel> {
    DeviceServiceClient::connect(url.to_string())
        .await
        .expect("connect to gateway")
}

pub async fn pool(svc: &Services) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&svc.database_url)
        .await
        .expect("connect to Postgres")
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows of `registrations` whose endpoint starts with `prefix`.
pub async fn registration_count(pool: &sqlx::PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM registrations WHERE endpoint LIKE $1 || '%'")
        .bind(prefix)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Outbox rows whose subject names an endpoint starting with `prefix` (plain ASCII prefixes only).
pub async fn outbox_count(pool: &sqlx::PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subject LIKE '%.' || $1 || '%'")
        .bind(prefix)
        .fetch_one(pool)
        .await
        .expect("count")
}

pub fn sim(endpoint: &str, node: &Node) -> SimConfig {
    SimConfig::new(endpoint, node.coap)
}
