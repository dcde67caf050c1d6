//! Outbox relay: moves committed events from Postgres to JetStream.
//!
//! One relay at a time holds a transaction-scoped advisory lock, so events leave in commit order.
//! Rows are deleted only after JetStream acknowledged them; a crash in between re-publishes them
//! with the same `Nats-Msg-Id`, which the stream's duplicate window drops.

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream;
use futures::future::try_join_all;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Arbitrary key of the relay's advisory lock ("LWM2" in ASCII).
const RELAY_LOCK: i64 = 0x4c57_4d32;
const BATCH: i64 = 500;

pub async fn run(pool: PgPool, js: jetstream::Context, shutdown: CancellationToken) {
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("lwm2m_outbox").await {
            Ok(()) => Some(l),
            Err(_) => None,
        },
        Err(_) => None,
    };
    loop {
        loop {
            match relay_batch(&pool, &js).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay failed; retrying");
                    break;
                }
            }
        }
        // Wake on NOTIFY, or poll: another node may hold the lock, NATS may have been down.
        let wait = async {
            match listener.as_mut() {
                Some(l) => {
                    let _ = tokio::time::timeout(Duration::from_millis(500), l.recv()).await;
                }
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Last pass so that what was committed before shutdown leaves now.
                let _ = relay_batch(&pool, &js).await;
                return;
            }
            _ = wait => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("publish: {0}")]
    Publish(String),
}

async fn relay_batch(pool: &PgPool, js: &jetstream::Context) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(0);
    }
    let rows: Vec<(i64, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, event_id, subject, payload FROM outbox ORDER BY id LIMIT $1")
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Publish in order on one connection (order is kept), then await every ack.
    let mut acks = Vec::with_capacity(rows.len());
    for (_, event_id, subject, payload) in &rows {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id.as_str());
        let ack = js
            .publish_with_headers(subject.clone(), headers, payload.clone().into())
            .await
            .map_err(|e| RelayError::Publish(e.to_string()))?;
        acks.push(ack.into_future());
    }
    tokio::time::timeout(Duration::from_secs(10), try_join_all(acks))
        .await
        .map_err(|_| RelayError::Publish("timed out waiting for JetStream acks".into()))?
        .map_err(|e| RelayError::Publish(e.to_string()))?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(count = rows.len(), "relayed events");
    Ok(rows.len())
}
