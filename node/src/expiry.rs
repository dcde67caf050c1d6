//! Lifetime expiry (LwM2M TS 1.1 §6.2.1): a registration whose lifetime passed without an Update
//! is removed and an EXPIRE event is written to the outbox in the same transaction.
//!
//! Every node sweeps, including for devices whose owner is gone. `FOR UPDATE SKIP LOCKED` makes
//! concurrent sweeps take disjoint rows, and a row can only be deleted once, so an expiry is
//! never reported twice.

use std::time::Duration;

use lwm2m_proto::subjects::RegEventKind;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::{event_payload, new_event_id, RegistrationRow, COLUMNS_PREFIXED};

/// Most registrations removed in one transaction.
const SWEEP_LIMIT: i64 = 1000;

pub async fn run(pool: PgPool, grace: Duration, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match sweep(&pool, grace).await {
                Ok(n) if n as i64 == SWEEP_LIMIT => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "expiry sweep failed");
                    break;
                }
            }
        }
    }
}

/// Removes expired registrations; returns how many.
pub async fn sweep(pool: &PgPool, grace: Duration) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "WITH expired AS (SELECT endpoint FROM registrations \
            WHERE expires_at < now() - make_interval(secs => $1) \
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         DELETE FROM registrations r USING expired e WHERE r.endpoint = e.endpoint RETURNING {COLUMNS_PREFIXED}"
    );
    let rows = sqlx::query_as::<_, RegistrationRow>(&sql)
        .bind(grace.as_secs_f64())
        .bind(SWEEP_LIMIT)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let events: Vec<_> = rows
        .iter()
        .map(|r| event_payload(RegEventKind::Expire, r, None, &new_event_id()))
        .collect();
    crate::store::insert_events(&mut tx, &events).await?;
    tx.commit().await?;
    for r in &rows {
        tracing::info!(endpoint = %r.endpoint, reg_id = %r.reg_id, "registration expired");
    }
    Ok(rows.len())
}
