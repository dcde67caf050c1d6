//! Gateway leases (ARCHITECTURE.md, request contract 6): a gateway heartbeats every second; a
//! routed call whose gateway stopped heartbeating is dropped, so a dead gateway leaves no queued
//! request and no retransmitting CoAP request behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;
use lwm2m_proto::subjects::{gateway_of, GATEWAY_HEARTBEATS};
use tokio_util::sync::CancellationToken;

/// A gateway silent for this long is gone (its heartbeat period is 1 s).
pub const LEASE: Duration = Duration::from_secs(3);

#[derive(Clone, Default)]
pub struct Leases {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Leases {
    /// Follows the heartbeats until shutdown.
    pub async fn run(self, client: async_nats::Client, shutdown: CancellationToken) {
        let mut beats = match client.subscribe(GATEWAY_HEARTBEATS).await {
            Ok(s) => s,
            Err(e) => return tracing::error!(error = %e, "cannot subscribe to gateway heartbeats"),
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                m = beats.next() => match m {
                    Some(m) => if let Some(gw) = gateway_of(m.subject.as_str()) { self.renew(&gw) },
                    None => return,
                },
            }
        }
    }

    /// Records that `gateway` is alive (a heartbeat, or a request it just sent).
    pub fn renew(&self, gateway: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Forget gateways long gone so the map stays bounded by the live ones.
        if seen.len() > 1024 {
            seen.retain(|_, t| t.elapsed() < LEASE * 10);
        }
        seen.insert(gateway.to_string(), Instant::now());
    }

    fn alive(&self, gateway: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(gateway).is_some_and(|t| t.elapsed() < LEASE)
    }

    /// Resolves when `gateway` loses its lease; never for a call without a gateway id.
    pub async fn lost(&self, gateway: &str) {
        if gateway.is_empty() {
            return std::future::pending().await;
        }
        self.renew(gateway);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !self.alive(gateway) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_gateway_loses_its_lease() {
        let leases = Leases::default();
        let start = tokio::time::Instant::now();
        leases.lost("gw-1").await;
        // Paused time: only the lease's own sleeps advance the clock.
        let waited = start.elapsed();
        assert!(
            waited >= LEASE && waited < LEASE + Duration::from_secs(1),
            "{waited:?}"
        );
    }
}
