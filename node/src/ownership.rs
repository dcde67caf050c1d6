//! Ownership changes (ARCHITECTURE.md, ownership): when another node accepted a Register or an
//! Update for an endpoint this node owns, or the registration ended, this node drops its routing
//! subscription for it. Core NATS delivers the relayed events to every node.

use std::sync::Arc;

use futures::StreamExt;
use lwm2m_proto::subjects::REG_EVENTS_ALL;
use lwm2m_proto::v1::{registration_event::Kind, RegistrationEvent};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::observe::Observations;
use crate::registry::Registry;

/// Observations of a dropped endpoint end here too: its registration ended (their rows went with
/// it), or another node holds them now.
pub async fn run(
    client: async_nats::Client,
    registry: Arc<Registry>,
    // Plain and DTLS sides.
    observations: Vec<Arc<Observations>>,
    shutdown: CancellationToken,
) {
    let mut events = match client.subscribe(REG_EVENTS_ALL).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to registration events");
            return;
        }
    };
    loop {
        let m = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = events.next() => match m { Some(m) => m, None => return },
        };
        let Ok(event) = RegistrationEvent::decode(m.payload.as_ref()) else {
            continue;
        };
        let Some(reg) = event.registration else {
            continue;
        };
        let dropped = match Kind::try_from(event.kind) {
            Ok(Kind::New) | Ok(Kind::Update) if reg.owner_node != registry.node() => {
                crate::store::last_update(&reg)
                    .is_some_and(|at| registry.disown_superseded(&reg.endpoint, at))
            }
            Ok(Kind::Delete) | Ok(Kind::Expire) => {
                registry.disown(&reg.endpoint, Some(&reg.registration_id))
            }
            _ => false,
        };
        if dropped {
            tracing::info!(endpoint = %reg.endpoint, new_owner = %reg.owner_node, "endpoint no longer owned here");
            for o in &observations {
                o.end_endpoint(
                    &reg.endpoint,
                    "the registration ended or moved to another node",
                )
                .await;
            }
        }
    }
}

/// Periodic reconciliation with the database, the source of truth: ownership events travel over
/// core NATS, and a node that missed some (a reconnect) would keep answering for devices another
/// node took. Every `interval` this node drops what Postgres says it no longer owns.
pub async fn reconcile(
    pool: sqlx::PgPool,
    registry: Arc<Registry>,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // An endpoint recorded before `started` was committed before the query below, so the
        // query sees it; anything recorded later is left for the next round.
        let started = std::time::Instant::now();
        let Ok(endpoints) = crate::store::owned_endpoints(&pool, registry.node()).await else {
            continue;
        };
        let owned: std::collections::HashSet<String> = endpoints.into_iter().collect();
        for (endpoint, owned_at) in registry.held() {
            if owned_at < started
                && !owned.contains(&endpoint)
                && registry.disown_unless_owned_since(&endpoint, started)
            {
                tracing::info!(%endpoint, "not owned by this node in the database any more; dropped");
            }
        }
    }
}
