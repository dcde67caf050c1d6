//! The endpoints this node owns, in memory: where to reach each device and the NATS subscription
//! through which routed requests for it arrive (`lwm2m.v1.dev.<ep>.req`, ARCHITECTURE.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use futures::StreamExt;
use lwm2m_proto::subjects::device_requests;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::store::RegistrationRow;

/// What a routed request needs to reach a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub reg_id: String,
    pub peer: SocketAddr,
    pub root_path: String,
    pub content_formats: Vec<u16>,
}

struct Owned {
    target: Target,
    subscription: AbortHandle,
}

pub struct Registry {
    node: String,
    client: async_nats::Client,
    routed: mpsc::Sender<async_nats::Message>,
    owned: Mutex<HashMap<String, Owned>>,
}

impl Registry {
    pub fn new(
        node: String,
        client: async_nats::Client,
        routed: mpsc::Sender<async_nats::Message>,
    ) -> Registry {
        Registry {
            node,
            client,
            routed,
            owned: Mutex::new(HashMap::new()),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn get(&self, endpoint: &str) -> Option<Target> {
        self.lock().get(endpoint).map(|o| o.target.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that this node owns `row`'s endpoint and subscribes to its requests if it did not.
    pub async fn own(&self, row: &RegistrationRow) {
        let Ok(peer) = row.peer_addr.parse::<SocketAddr>() else {
            tracing::warn!(endpoint = %row.endpoint, addr = %row.peer_addr, "stored address does not parse");
            return;
        };
        let target = Target {
            reg_id: row.reg_id.clone(),
            peer,
            root_path: row.root_path.clone(),
            content_formats: row
                .content_formats
                .iter()
                .filter_map(|c| u16::try_from(*c).ok())
                .collect(),
        };
        if let Some(o) = self.lock().get_mut(&row.endpoint) {
            o.target = target;
            return;
        }
        let subscriber = match self.client.subscribe(device_requests(&row.endpoint)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(endpoint = %row.endpoint, error = %e, "cannot subscribe to routed requests");
                return;
            }
        };
        let routed = self.routed.clone();
        let forward = tokio::spawn(async move {
            let mut subscriber = subscriber;
            while let Some(m) = subscriber.next().await {
                if routed.send(m).await.is_err() {
                    break;
                }
            }
        });
        let mut owned = self.lock();
        if let Some(previous) = owned.insert(
            row.endpoint.clone(),
            Owned {
                target,
                subscription: forward.abort_handle(),
            },
        ) {
            // Two concurrent `own` calls for one endpoint: keep one subscription.
            previous.subscription.abort();
        }
    }

    /// Forgets `endpoint` (and drops its subscription) if it still has registration `reg_id`,
    /// or whatever registration when `reg_id` is `None`.
    pub fn disown(&self, endpoint: &str, reg_id: Option<&str>) -> bool {
        let mut owned = self.lock();
        let matches = owned
            .get(endpoint)
            .is_some_and(|o| reg_id.is_none_or(|id| o.target.reg_id == id));
        if matches {
            if let Some(o) = owned.remove(endpoint) {
                o.subscription.abort();
            }
        }
        matches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Owned>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts), so
        // a poisoned lock is still usable.
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }
}
