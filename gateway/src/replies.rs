//! One reply subscription per gateway, shared by every routed call.
//!
//! A subscription per call costs a SUB and an UNSUB on the NATS server for every request (the
//! benchmark measured 28 % less throughput than plain request-reply, BENCHMARKS.md). Instead the
//! gateway subscribes once to `<inbox>.*` and each call receives the replies addressed to
//! `<inbox>.<ticket>` through its own small channel, as async-nats's own `request` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::mpsc;

type Calls = Arc<Mutex<HashMap<String, mpsc::Sender<async_nats::Message>>>>;

#[derive(Clone)]
pub struct Replies {
    prefix: String,
    calls: Calls,
}

/// The replies of one call; leaving the map when dropped.
pub struct CallReplies {
    pub subject: String,
    pub rx: mpsc::Receiver<async_nats::Message>,
    ticket: String,
    calls: Calls,
}

impl Drop for CallReplies {
    fn drop(&mut self) {
        lock(&self.calls).remove(&self.ticket);
    }
}

fn lock(
    calls: &Calls,
) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<async_nats::Message>>> {
    calls.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replies {
    /// Subscribes to `<fresh inbox>.*` and dispatches replies until the connection closes.
    pub async fn start(client: &async_nats::Client) -> Result<Replies, async_nats::SubscribeError> {
        let prefix = client.new_inbox();
        let mut sub = client.subscribe(format!("{prefix}.*")).await?;
        let calls: Calls = Arc::new(Mutex::new(HashMap::new()));
        let dispatch = calls.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let Some(ticket) = m.subject.as_str().rsplit('.').next().map(str::to_string) else {
                    continue;
                };
                let tx = lock(&dispatch).get(&ticket).cloned();
                if let Some(tx) = tx {
                    // A call that stopped reading has gone away; dropping its reply is right.
                    let _ = tx.try_send(m);
                }
            }
        });
        Ok(Replies { prefix, calls })
    }

    /// Registers a call; its replies (up to `capacity` unread) arrive on the returned receiver.
    pub fn register(&self, ticket: &str, capacity: usize) -> CallReplies {
        let (tx, rx) = mpsc::channel(capacity);
        lock(&self.calls).insert(ticket.to_string(), tx);
        CallReplies {
            subject: format!("{}.{ticket}", self.prefix),
            rx,
            ticket: ticket.to_string(),
            calls: self.calls.clone(),
        }
    }
}
