//! Which node owns an endpoint, as the gateway believes it: a cache in front of Postgres.
//!
//! Routed requests go to the owning node's subject (`lwm2m.v1.node.<node>.req`), one NATS
//! subscription per node instead of one per endpoint (BENCHMARKS.md: 5.3 KiB of node memory per
//! device). The cache is filled by lookups in Postgres (the source of truth) on a miss, and kept
//! current by the registration events every node publishes: an event moves or removes an entry
//! the gateway already holds, so the cache only ever holds endpoints that backends talk to.
//! An entry can still be stale (an event missed across a reconnect); the owner it names then
//! answers NOT_OWNER, or nobody answers, and the caller asks [`Owners::refresh`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use lwm2m_proto::subjects::REG_EVENTS_ALL;
use lwm2m_proto::v1::{registration_event::Kind, RegistrationEvent};
use prost::Message;
use sqlx::PgPool;

/// The node that owns an endpoint.
pub type Node = Arc<str>;

#[derive(Clone)]
struct Entry {
    node: Node,
    /// Commit time of the registration state this entry comes from, to ignore older news.
    updated_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Owners {
    pool: PgPool,
    inner: Arc<Inner>,
}

struct Inner {
    entries: Mutex<HashMap<String, Entry>>,
    /// Node ids are few: every entry shares one allocation per node.
    nodes: Mutex<HashMap<String, Node>>,
    capacity: usize,
}

impl Owners {
    /// An empty cache of at most `capacity` endpoints that follows the registration events on
    /// `client` until the connection closes.
    pub async fn start(
        client: &async_nats::Client,
        pool: PgPool,
        capacity: usize,
    ) -> Result<Owners, async_nats::SubscribeError> {
        let owners = Owners::new(pool, capacity);
        let mut events = client.subscribe(REG_EVENTS_ALL).await?;
        let follower = owners.clone();
        tokio::spawn(async move {
            while let Some(m) = events.next().await {
                if let Ok(event) = RegistrationEvent::decode(m.payload.as_ref()) {
                    follower.apply(&event);
                }
            }
        });
        Ok(owners)
    }

    pub fn new(pool: PgPool, capacity: usize) -> Owners {
        Owners {
            pool,
            inner: Arc::new(Inner {
                entries: Mutex::new(HashMap::new()),
                nodes: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
            }),
        }
    }

    /// The owner of `endpoint`: from the cache, else from Postgres. `None`: not registered.
    pub async fn resolve(
        &self,
        endpoint: &str,
    ) -> Result<Option<Node>, lwm2m_node::store::StoreError> {
        if let Some(e) = self.entries().get(endpoint) {
            return Ok(Some(e.node.clone()));
        }
        self.refresh(endpoint).await
    }

    /// The owner of `endpoint` according to Postgres, remembered in the cache.
    pub async fn refresh(
        &self,
        endpoint: &str,
    ) -> Result<Option<Node>, lwm2m_node::store::StoreError> {
        let Some((node, updated_at)) = lwm2m_node::store::owner_of(&self.pool, endpoint).await?
        else {
            self.entries().remove(endpoint);
            return Ok(None);
        };
        let node = self.intern(&node);
        Ok(Some(self.learn(endpoint, node, updated_at)))
    }

    /// Forgets that `node` owns `endpoint` (it said it does not, or it is unreachable).
    pub fn forget(&self, endpoint: &str, node: &str) {
        let mut entries = self.entries();
        if entries.get(endpoint).is_some_and(|e| &*e.node == node) {
            entries.remove(endpoint);
        }
    }

    /// Records what Postgres said unless the cache already holds newer news; returns the owner
    /// now recorded.
    fn learn(&self, endpoint: &str, node: Node, updated_at: DateTime<Utc>) -> Node {
        let mut entries = self.entries();
        if let Some(e) = entries.get(endpoint) {
            if e.updated_at > updated_at {
                return e.node.clone();
            }
        } else if entries.len() >= self.inner.capacity {
            // A cache, not a record: an eighth goes (arbitrary entries, hash order), so the misses
            // that follow are spread out, and the lock is held for a bounded step.
            let evict: Vec<String> = entries
                .keys()
                .take((self.inner.capacity / 8).max(1))
                .cloned()
                .collect();
            for k in &evict {
                entries.remove(k);
            }
            tracing::debug!(evicted = evict.len(), "owner cache full");
        }
        entries.insert(
            endpoint.to_string(),
            Entry {
                node: node.clone(),
                updated_at,
            },
        );
        node
    }

    /// Applies a registration event to an endpoint the cache holds.
    pub fn apply(&self, event: &RegistrationEvent) {
        let Some(reg) = &event.registration else {
            return;
        };
        let at = lwm2m_node::store::last_update(reg).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut entries = self.entries();
        let Some(e) = entries.get_mut(&reg.endpoint) else {
            return;
        };
        if e.updated_at > at {
            return;
        }
        match Kind::try_from(event.kind) {
            Ok(Kind::New) | Ok(Kind::Update) => {
                e.node = self.intern(&reg.owner_node);
                e.updated_at = at;
            }
            Ok(Kind::Delete) | Ok(Kind::Expire) => {
                entries.remove(&reg.endpoint);
            }
            _ => {}
        }
    }

    /// Lock order: `entries` before `nodes` (`apply` interns under the entries lock).
    fn intern(&self, node: &str) -> Node {
        let mut nodes = self.inner.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nodes.get(node) {
            return n.clone();
        }
        let n: Node = Arc::from(node);
        nodes.insert(node.to_string(), n.clone());
        n
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn cached(&self, endpoint: &str) -> Option<Node> {
        self.entries().get(endpoint).map(|e| e.node.clone())
    }
}

#[cfg(test)]
#[path = "owners_tests.rs"]
mod tests;
