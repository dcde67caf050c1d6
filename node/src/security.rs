//! Keeps this node's in-memory PSK key store (`dtls::keys`) current with PostgreSQL: a full load
//! at start, a reload of one endpoint on each `lwm2m.v1.security.changed` message (a change made
//! through any gateway reaches every node within a round trip), and a periodic full reload as a
//! safety net for a missed message (NATS core is at-most-once).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lwm2m_proto::subjects::SECURITY_CHANGED;
use lwm2m_proto::v1::SecurityChanged;
use prost::Message;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::dtls::KeyStore;
use crate::store::security::{all_credentials, credential};

/// Loads every credential into `keys`; returns how many.
pub async fn load_all(pool: &PgPool, keys: &KeyStore) -> Result<usize, sqlx::Error> {
    let rows = all_credentials(pool).await?;
    let n = rows.len();
    keys.replace_all(rows.into_iter().map(Into::into).collect());
    Ok(n)
}

/// Reloads `endpoint`'s credential into `keys`.
pub async fn load_one(pool: &PgPool, keys: &KeyStore, endpoint: &str) -> Result<(), sqlx::Error> {
    let row = credential(pool, endpoint).await?;
    keys.set(endpoint, row.map(Into::into));
    Ok(())
}

/// Follows changes until `shutdown`. Subscribes before it returns, so a change published after
/// this call is not missed.
pub async fn follow(
    pool: PgPool,
    client: async_nats::Client,
    keys: Arc<KeyStore>,
    reload_every: Duration,
    shutdown: CancellationToken,
) -> Result<impl std::future::Future<Output = ()>, async_nats::SubscribeError> {
    let mut changes = client.subscribe(SECURITY_CHANGED).await?;
    Ok(async move {
        let mut reload = tokio::time::interval(reload_every);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = reload.tick() => {
                    if let Err(e) = load_all(&pool, &keys).await {
                        tracing::warn!(error = %e, "cannot reload PSK credentials");
                    }
                }
                Some(m) = changes.next() => {
                    let Ok(change) = SecurityChanged::decode(m.payload.as_ref()) else {
                        tracing::debug!("undecodable SecurityChanged");
                        continue;
                    };
                    // An empty endpoint asks for a full reload (bulk changes).
                    let loaded = match change.endpoint.as_str() {
                        "" => load_all(&pool, &keys).await.map(|_| ()),
                        ep => load_one(&pool, &keys, ep).await,
                    };
                    match loaded {
                        Ok(()) => tracing::info!(endpoint = %change.endpoint, "PSK credential reloaded"),
                        Err(e) => tracing::warn!(endpoint = %change.endpoint, error = %e, "cannot reload PSK credential"),
                    }
                }
            }
        }
    })
}

/// Tells every node that `endpoint`'s credential changed.
pub async fn publish_change(
    client: &async_nats::Client,
    endpoint: &str,
) -> Result<(), async_nats::PublishError> {
    let payload = SecurityChanged {
        endpoint: endpoint.into(),
    }
    .encode_to_vec();
    client.publish(SECURITY_CHANGED, payload.into()).await
}
