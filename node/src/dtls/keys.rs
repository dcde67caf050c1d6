//! The PSK credentials in memory. webrtc-dtls asks for a key synchronously in the middle of a
//! handshake, so the handshake path never waits for the database: it reads this map, which the
//! security store keeps current (NATS change events plus a periodic full reload).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One endpoint's PSK credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub endpoint: String,
    pub identity: Arc<str>,
    pub key: Arc<[u8]>,
}

impl std::fmt::Debug for Credential {
    // Keys never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("endpoint", &self.endpoint)
            .field("identity", &self.identity)
            .field("key_len", &self.key.len())
            .finish()
    }
}

#[derive(Default)]
struct Maps {
    by_endpoint: HashMap<String, Credential>,
    by_identity: HashMap<Arc<str>, Credential>,
}

/// Endpoint ↔ identity ↔ key. An identity belongs to one endpoint (the database enforces it;
/// the map keeps the last writer if it is ever told otherwise).
#[derive(Default)]
pub struct KeyStore {
    maps: RwLock<Maps>,
}

impl KeyStore {
    pub fn new() -> Arc<KeyStore> {
        Arc::new(KeyStore::default())
    }

    /// The key of `identity` (what the DTLS server asks for with the client's identity).
    pub fn key_for_identity(&self, identity: &[u8]) -> Option<Arc<[u8]>> {
        let identity = std::str::from_utf8(identity).ok()?;
        self.read().by_identity.get(identity).map(|c| c.key.clone())
    }

    pub fn by_identity(&self, identity: &str) -> Option<Credential> {
        self.read().by_identity.get(identity).cloned()
    }

    pub fn by_endpoint(&self, endpoint: &str) -> Option<Credential> {
        self.read().by_endpoint.get(endpoint).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().by_endpoint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets `endpoint`'s credential (`None`: it has none any more).
    pub fn set(&self, endpoint: &str, credential: Option<Credential>) {
        let mut maps = self.write();
        if let Some(old) = maps.by_endpoint.remove(endpoint) {
            maps.by_identity.remove(&old.identity);
        }
        if let Some(c) = credential {
            if let Some(other) = maps.by_identity.remove(&c.identity) {
                maps.by_endpoint.remove(&other.endpoint);
            }
            maps.by_identity.insert(c.identity.clone(), c.clone());
            maps.by_endpoint.insert(endpoint.to_string(), c);
        }
    }

    /// Replaces everything with `all` (a full reload).
    pub fn replace_all(&self, all: Vec<Credential>) {
        let mut maps = Maps::default();
        for c in all {
            maps.by_identity.insert(c.identity.clone(), c.clone());
            maps.by_endpoint.insert(c.endpoint.clone(), c);
        }
        *self.write() = maps;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        // Writers replace whole entries: a poisoned lock still holds consistent maps.
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(ep: &str, id: &str, key: &[u8]) -> Credential {
        Credential {
            endpoint: ep.into(),
            identity: id.into(),
            key: key.into(),
        }
    }

    #[test]
    fn lookups_by_identity_and_endpoint() {
        let keys = KeyStore::new();
        keys.set("ep1", Some(cred("ep1", "id1", b"k1")));
        assert_eq!(keys.key_for_identity(b"id1").as_deref(), Some(&b"k1"[..]));
        assert_eq!(
            keys.by_endpoint("ep1").map(|c| c.identity),
            Some("id1".into())
        );
        assert!(keys.key_for_identity(b"id2").is_none());
        assert!(keys.key_for_identity(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn changing_an_identity_forgets_the_old_one() {
        let keys = KeyStore::new();
        keys.set("ep1", Some(cred("ep1", "old", b"k1")));
        keys.set("ep1", Some(cred("ep1", "new", b"k2")));
        assert!(keys.key_for_identity(b"old").is_none());
        assert_eq!(keys.key_for_identity(b"new").as_deref(), Some(&b"k2"[..]));
        keys.set("ep1", None);
        assert!(keys.key_for_identity(b"new").is_none());
        assert!(keys.is_empty());
    }

    #[test]
    fn an_identity_moved_to_another_endpoint_leaves_the_first() {
        let keys = KeyStore::new();
        keys.set("ep1", Some(cred("ep1", "id", b"k1")));
        keys.set("ep2", Some(cred("ep2", "id", b"k2")));
        assert!(keys.by_endpoint("ep1").is_none());
        assert_eq!(
            keys.by_identity("id").map(|c| c.endpoint),
            Some("ep2".into())
        );
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn replace_all_drops_what_is_gone() {
        let keys = KeyStore::new();
        keys.set("gone", Some(cred("gone", "g", b"k")));
        keys.replace_all(vec![cred("ep", "id", b"k")]);
        assert!(keys.by_endpoint("gone").is_none());
        assert!(keys.key_for_identity(b"id").is_some());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = format!("{:?}", cred("ep", "id", b"secret-key"));
        assert!(!s.contains("secret"), "{s}");
    }
}
