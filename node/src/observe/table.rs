//! The observations this node holds, by CoAP request id, with indexes by endpoint and by
//! durable observation id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lwm2m_core::coap::RequestId;
use lwm2m_core::content::Path;
use tokio::sync::mpsc;

use super::StreamItem;

/// Where a notification goes.
#[derive(Clone)]
pub enum Sink {
    /// Back to a gateway's streaming call.
    Stream(mpsc::Sender<StreamItem>),
    /// To JetStream, as durable observation `id`.
    Durable { id: String },
}

/// What a notification needs to know of its observation; shared, so that a notification costs
/// no copy of it and its paths are parsed once.
pub struct Info {
    pub endpoint: String,
    pub reg_id: String,
    pub paths: Vec<String>,
    pub parsed: Vec<Path>,
    pub sink: Sink,
}

pub struct Active {
    info: Arc<Info>,
    /// Position of the next notification in a stream (the initial response was 1).
    next_sequence: u64,
}

impl Active {
    pub fn new(endpoint: &str, reg_id: &str, paths: Vec<String>, sink: Sink) -> Active {
        let parsed = paths.iter().filter_map(|p| Path::parse(p).ok()).collect();
        let info = Info {
            endpoint: endpoint.to_string(),
            reg_id: reg_id.to_string(),
            paths,
            parsed,
            sink,
        };
        Active {
            info: Arc::new(info),
            next_sequence: 2,
        }
    }
}

/// A notification's observation and its position in the stream.
pub struct View {
    pub info: Arc<Info>,
    pub sequence: u64,
}

impl Info {
    pub fn observation_id(&self) -> &str {
        match &self.sink {
            Sink::Durable { id } => id,
            Sink::Stream(_) => "",
        }
    }
}

#[derive(Default)]
struct Inner {
    active: HashMap<RequestId, Active>,
    by_endpoint: HashMap<String, Vec<RequestId>>,
    durable: HashMap<String, RequestId>,
}

#[derive(Default)]
pub struct Table {
    inner: Mutex<Inner>,
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False if `id` is already held (never for a fresh request id).
    pub fn insert(&self, id: RequestId, active: Active) -> bool {
        let mut t = self.lock();
        if t.active.contains_key(&id) {
            return false;
        }
        t.by_endpoint
            .entry(active.info.endpoint.clone())
            .or_default()
            .push(id);
        if let Sink::Durable { id: obs } = &active.info.sink {
            t.durable.insert(obs.clone(), id);
        }
        t.active.insert(id, active);
        true
    }

    pub fn remove(&self, id: RequestId) -> Option<Sink> {
        let mut t = self.lock();
        let a = t.active.remove(&id)?;
        let info = a.info;
        if let Some(ids) = t.by_endpoint.get_mut(&info.endpoint) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                t.by_endpoint.remove(&info.endpoint);
            }
        }
        if let Sink::Durable { id: obs } = &info.sink {
            t.durable.remove(obs);
        }
        Some(info.sink.clone())
    }

    pub fn remove_endpoint(&self, endpoint: &str) -> Vec<(RequestId, Sink)> {
        let ids = self.of_endpoint(endpoint);
        ids.into_iter()
            .filter_map(|id| self.remove(id).map(|s| (id, s)))
            .collect()
    }

    pub fn of_endpoint(&self, endpoint: &str) -> Vec<RequestId> {
        self.lock()
            .by_endpoint
            .get(endpoint)
            .cloned()
            .unwrap_or_default()
    }

    pub fn durable(&self, observation_id: &str) -> Option<RequestId> {
        self.lock().durable.get(observation_id).copied()
    }

    /// The observation of a notification; advances its stream position.
    pub fn view(&self, id: RequestId) -> Option<View> {
        let mut t = self.lock();
        let a = t.active.get_mut(&id)?;
        let sequence = a.next_sequence;
        a.next_sequence += 1;
        Some(View {
            info: a.info.clone(),
            sequence,
        })
    }

    pub fn len(&self) -> usize {
        self.lock().active.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn durable(id: &str) -> Sink {
        Sink::Durable { id: id.into() }
    }

    #[test]
    fn indexes_follow_inserts_and_removals() {
        let t = Table::default();
        assert!(t.insert(
            RequestId(1),
            Active::new("a", "r1", vec!["/3/0".into()], durable("o1"))
        ));
        assert!(!t.insert(RequestId(1), Active::new("a", "r1", vec![], durable("o9"))));
        let (tx, _rx) = mpsc::channel(1);
        assert!(t.insert(
            RequestId(2),
            Active::new("a", "r1", vec![], Sink::Stream(tx))
        ));
        assert!(t.insert(RequestId(3), Active::new("b", "r2", vec![], durable("o3"))));
        assert_eq!(t.durable("o1"), Some(RequestId(1)));
        assert_eq!(t.of_endpoint("a"), vec![RequestId(1), RequestId(2)]);
        let v = t.view(RequestId(1)).unwrap();
        assert_eq!((v.sequence, v.info.observation_id()), (2, "o1"));
        assert_eq!(v.info.parsed, vec![Path::parse("/3/0").unwrap()]);
        assert_eq!(t.view(RequestId(1)).unwrap().sequence, 3);
        let gone = t.remove_endpoint("a");
        assert_eq!(gone.len(), 2);
        assert_eq!(t.durable("o1"), None);
        assert!(t.of_endpoint("a").is_empty());
        assert_eq!(t.len(), 1);
        assert!(t.remove(RequestId(3)).is_some());
        assert!(t.remove(RequestId(3)).is_none());
        assert!(t.is_empty());
    }
}
