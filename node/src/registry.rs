//! The endpoints this node owns, in memory: where to reach each device and its request queue.
//! Routed requests for all of them arrive on the node's one subject (`lwm2m.v1.node.<node>.req`);
//! a request for an endpoint not in here is nacked NOT_OWNER and the gateway re-resolves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::store::RegistrationRow;

/// What a routed request needs to reach a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub reg_id: String,
    pub peer: SocketAddr,
    pub root_path: String,
    pub content_formats: Vec<u16>,
    /// Queue mode (LwM2M TS 1.1 §6.5): requests wait until the device is awake.
    pub queue_mode: bool,
    /// The device registered over DTLS with this PSK identity: requests go out over DTLS.
    pub psk_identity: Option<Arc<str>>,
}

/// The request queue of a queue-mode device: one request at a time, in arrival order.
#[derive(Clone)]
pub struct DeviceQueue {
    /// Held by the request being served; tokio's mutex is fair, so waiters go in FIFO order.
    pub turn: Arc<tokio::sync::Mutex<()>>,
    /// Bounds the requests waiting for the device.
    pub slots: Arc<Semaphore>,
    /// Signalled whenever the device talks (Register, Update).
    pub wake: Arc<Notify>,
    /// Cancelled when this node stops owning the device (it moved, or its registration ended):
    /// requests in progress end, so their callers can go to the new owner.
    pub released: tokio_util::sync::CancellationToken,
}

struct Owned {
    target: Target,
    /// Commit time of the registration state this node holds (the database clock), to tell a
    /// stale ownership event from a current one.
    updated_at: chrono::DateTime<chrono::Utc>,
    /// When `own` last recorded this endpoint (this node's clock), for reconciliation.
    owned_at: Instant,
    /// When the device last talked to this node (`None`: not since this node started).
    last_seen: Option<Instant>,
    queue: DeviceQueue,
}

pub struct Registry {
    node: String,
    owned: Mutex<HashMap<String, Owned>>,
    /// Which endpoint talks from an address (for a Send, which names no endpoint). Entries may
    /// be stale; a lookup checks them against `owned`.
    by_peer: Mutex<HashMap<SocketAddr, String>>,
    queue_capacity: usize,
}

impl Registry {
    pub fn new(node: String, queue_capacity: usize) -> Registry {
        Registry {
            node,
            owned: Mutex::new(HashMap::new()),
            by_peer: Mutex::new(HashMap::new()),
            queue_capacity,
        }
    }

    /// The queue of `endpoint`, if this node owns it.
    pub fn queue(&self, endpoint: &str) -> Option<DeviceQueue> {
        self.lock().get(endpoint).map(|o| o.queue.clone())
    }

    /// Whether the device talked within `window` (its awake time after a message, TS 1.1 §6.5).
    pub fn is_awake(&self, endpoint: &str, window: Duration) -> bool {
        self.lock()
            .get(endpoint)
            .is_some_and(|o| o.last_seen.is_some_and(|t| t.elapsed() < window))
    }

    /// The device talked (a notification, a Send): it is awake, its queued requests may flow.
    pub fn touch(&self, endpoint: &str) {
        if let Some(o) = self.lock().get_mut(endpoint) {
            o.last_seen = Some(Instant::now());
            o.queue.wake.notify_waiters();
        }
    }

    /// The endpoint registered from `peer`, if this node owns it.
    pub fn endpoint_at(&self, peer: SocketAddr) -> Option<String> {
        let endpoint = self
            .by_peer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
            .cloned()?;
        let current = self
            .lock()
            .get(&endpoint)
            .is_some_and(|o| o.target.peer == peer);
        current.then_some(endpoint)
    }

    /// Drops what an endpoint no longer owned held: its address entry.
    fn release(&self, endpoint: &str, o: Owned) {
        o.queue.released.cancel();
        let mut by_peer = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        if by_peer.get(&o.target.peer).map(String::as_str) == Some(endpoint) {
            by_peer.remove(&o.target.peer);
        }
    }

    fn record_peer(&self, endpoint: &str, peer: SocketAddr) {
        let mut by_peer = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        if by_peer.get(&peer).map(String::as_str) != Some(endpoint) {
            by_peer.insert(peer, endpoint.to_string());
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn get(&self, endpoint: &str) -> Option<Target> {
        self.lock().get(endpoint).map(|o| o.target.clone())
    }

    /// Every owned endpoint, with when `own` last recorded it (this node's clock).
    pub fn held(&self) -> Vec<(String, Instant)> {
        self.lock()
            .iter()
            .map(|(ep, o)| (ep.clone(), o.owned_at))
            .collect()
    }

    /// Forgets `endpoint` unless `own` recorded it again since `before`.
    pub fn disown_unless_owned_since(&self, endpoint: &str, before: Instant) -> bool {
        let mut owned = self.lock();
        let stale = owned.get(endpoint).is_some_and(|o| o.owned_at < before);
        if stale {
            if let Some(o) = owned.remove(endpoint) {
                self.release(endpoint, o);
            }
        }
        stale
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that this node owns `row`'s endpoint (or refreshes what it holds).
    /// `talked`: the device just sent something (Register/Update), so it is awake now and its
    /// queued requests may flow.
    pub fn own(&self, row: &RegistrationRow, talked: bool) {
        let seen = talked.then(Instant::now);
        let Ok(peer) = row.peer_addr.parse::<SocketAddr>() else {
            tracing::warn!(endpoint = %row.endpoint, addr = %row.peer_addr, "stored address does not parse");
            return;
        };
        let target = Target {
            reg_id: row.reg_id.clone(),
            peer,
            root_path: row.root_path.clone(),
            queue_mode: row.queue_mode,
            psk_identity: row.psk_identity.as_deref().map(Arc::from),
            content_formats: row
                .content_formats
                .iter()
                .filter_map(|c| u16::try_from(*c).ok())
                .collect(),
        };
        self.record_peer(&row.endpoint, peer);
        let mut owned = self.lock();
        match owned.get_mut(&row.endpoint) {
            Some(o) => {
                o.owned_at = Instant::now();
                // A concurrent Update may have recorded newer state already.
                if row.updated_at >= o.updated_at {
                    o.target = target;
                    o.updated_at = row.updated_at;
                }
                if seen.is_some() {
                    o.last_seen = seen;
                    o.queue.wake.notify_waiters();
                }
            }
            None => {
                owned.insert(
                    row.endpoint.clone(),
                    Owned {
                        target,
                        last_seen: seen,
                        owned_at: Instant::now(),
                        updated_at: row.updated_at,
                        queue: DeviceQueue {
                            turn: Arc::new(tokio::sync::Mutex::new(())),
                            slots: Arc::new(Semaphore::new(self.queue_capacity)),
                            wake: Arc::new(Notify::new()),
                            released: Default::default(),
                        },
                    },
                );
            }
        }
    }

    /// Forgets `endpoint` because another node took it, unless what this node holds is newer
    /// than the event (events can arrive after a later Register/Update reached this node).
    pub fn disown_superseded(
        &self,
        endpoint: &str,
        event_updated_at: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let mut owned = self.lock();
        let superseded = owned
            .get(endpoint)
            .is_some_and(|o| o.updated_at <= event_updated_at);
        if superseded {
            if let Some(o) = owned.remove(endpoint) {
                self.release(endpoint, o);
            }
        }
        superseded
    }

    /// Forgets `endpoint` if it still has registration `reg_id`,
    /// or whatever registration when `reg_id` is `None`.
    pub fn disown(&self, endpoint: &str, reg_id: Option<&str>) -> bool {
        let mut owned = self.lock();
        let matches = owned
            .get(endpoint)
            .is_some_and(|o| reg_id.is_none_or(|id| o.target.reg_id == id));
        if matches {
            if let Some(o) = owned.remove(endpoint) {
                self.release(endpoint, o);
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
