//! Publishes notifications to the JetStream stream `LWM2M_NOTIFY` (`lwm2m.v1.notify.<ep>`), with
//! the notification's event id as `Nats-Msg-Id` so that a retry is stored once.
//!
//! Notifications of durable observations are pipelined: many publishes are in flight and their
//! acks are awaited together, a failed one is retried. A Send waits for its ack, because the
//! device is answered only after JetStream stored its data.

use std::future::IntoFuture;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use lwm2m_proto::subjects::notify;
use lwm2m_proto::v1::Notification;
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Notifications queued for publishing; beyond this they are dropped with a warning.
const QUEUE: usize = 65_536;
/// Publishes awaiting their JetStream ack at once.
const IN_FLIGHT: usize = 4096;
/// Attempts per notification before it is given up (logged).
const ATTEMPTS: u32 = 3;
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("publisher stopped")]
    Closed,
    #[error("publish queue full")]
    Full,
}

struct Outgoing {
    subject: String,
    event_id: String,
    payload: Bytes,
    attempt: u32,
    done: Option<oneshot::Sender<Result<u64, PublishError>>>,
}

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Outgoing>,
}

impl Publisher {
    pub fn start(js: async_nats::jetstream::Context, shutdown: CancellationToken) -> Publisher {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(js, rx, shutdown));
        Publisher { tx }
    }

    /// Queues `n` for publishing; does not wait for JetStream.
    pub fn publish(&self, n: &Notification) -> Result<(), PublishError> {
        self.tx.try_send(outgoing(n, None)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PublishError::Full,
            mpsc::error::TrySendError::Closed(_) => PublishError::Closed,
        })
    }

    /// Publishes `n` and waits until JetStream stored it; returns its stream sequence.
    pub async fn publish_confirmed(&self, n: &Notification) -> Result<u64, PublishError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(outgoing(n, Some(done)))
            .await
            .map_err(|_| PublishError::Closed)?;
        rx.await.map_err(|_| PublishError::Closed)?
    }
}

fn outgoing(
    n: &Notification,
    done: Option<oneshot::Sender<Result<u64, PublishError>>>,
) -> Outgoing {
    Outgoing {
        subject: notify(&n.endpoint),
        event_id: n.event_id.clone(),
        payload: Bytes::from(n.encode_to_vec()),
        attempt: 0,
        done,
    }
}

async fn run(
    js: async_nats::jetstream::Context,
    mut rx: mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let mut acks = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some((out, result)) = acks.next(), if !acks.is_empty() => {
                finish(&js, &mut acks, out, result).await;
            }
            m = rx.recv(), if acks.len() < IN_FLIGHT => match m {
                Some(out) => send(&js, &mut acks, out).await,
                None => break,
            },
            _ = shutdown.cancelled() => break,
        }
    }
    // Drain what is in flight so a clean stop loses nothing already accepted.
    while let Ok(Some((out, result))) = tokio::time::timeout(ACK_TIMEOUT, acks.next()).await {
        finish(&js, &mut acks, out, result).await;
    }
}

type AckFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Outgoing, Result<u64, PublishError>)> + Send>,
>;

async fn send(
    js: &async_nats::jetstream::Context,
    acks: &mut FuturesUnordered<AckFuture>,
    mut out: Outgoing,
) {
    out.attempt += 1;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", out.event_id.as_str());
    match js
        .publish_with_headers(out.subject.clone(), headers, out.payload.clone())
        .await
    {
        Ok(ack) => acks.push(Box::pin(async move {
            let result = match tokio::time::timeout(ACK_TIMEOUT, ack.into_future()).await {
                Ok(Ok(a)) => Ok(a.sequence),
                Ok(Err(e)) => Err(PublishError::JetStream(e.to_string())),
                Err(_) => Err(PublishError::JetStream("no ack in time".into())),
            };
            (out, result)
        })),
        Err(e) => {
            let e = PublishError::JetStream(e.to_string());
            acks.push(Box::pin(async move { (out, Err(e)) }));
        }
    }
}

async fn finish(
    js: &async_nats::jetstream::Context,
    acks: &mut FuturesUnordered<AckFuture>,
    mut out: Outgoing,
    result: Result<u64, PublishError>,
) {
    match result {
        Ok(seq) => {
            if let Some(done) = out.done.take() {
                let _ = done.send(Ok(seq));
            }
        }
        Err(e) if out.attempt < ATTEMPTS => {
            tracing::debug!(error = %e, attempt = out.attempt, "notification publish failed, retrying");
            send(js, acks, out).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, event_id = %out.event_id, "notification not published");
            if let Some(done) = out.done.take() {
                let _ = done.send(Err(e));
            }
        }
    }
}
