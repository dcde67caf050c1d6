//! Resumable streams out of JetStream: WatchRegistrations (`LWM2M_REG`) and
//! SubscribeNotifications (`LWM2M_NOTIFY`), each through an ordered consumer that starts where
//! the caller asked. Every message carries its stream sequence, so a caller resumes after a
//! disconnect with `from_sequence = last + 1` and misses nothing.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use lwm2m_proto::subjects::{notify, NOTIFY_STREAM, REG_STREAM};
use lwm2m_proto::v1::{
    subscribe_notifications_request, watch_registrations_request, Notification, RegistrationEvent,
    SubscribeNotificationsRequest, WatchRegistrationsRequest,
};
use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;

/// Messages buffered per watcher; a slow watcher slows its own consumer, nobody else.
const BUFFER: usize = 256;

/// Where a stream starts.
enum From {
    /// Only what is stored after the call.
    Now,
    Sequence(u64),
    Time(prost_types::Timestamp),
}

/// A message kept in a stream that knows its stream sequence.
trait Sequenced: Message + Default + Send + 'static {
    fn set_sequence(&mut self, sequence: u64);
}

impl Sequenced for RegistrationEvent {
    fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }
}

impl Sequenced for Notification {
    fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }
}

pub async fn watch(
    js: &jetstream::Context,
    req: WatchRegistrationsRequest,
) -> Result<mpsc::Receiver<Result<RegistrationEvent, Status>>, Status> {
    use watch_registrations_request::Start;
    let from = match req.start {
        None => From::Now,
        Some(Start::FromSequence(s)) => From::Sequence(s),
        Some(Start::FromTime(t)) => From::Time(t),
    };
    follow(js, REG_STREAM, None, from).await
}

pub async fn notifications(
    js: &jetstream::Context,
    req: SubscribeNotificationsRequest,
) -> Result<mpsc::Receiver<Result<Notification, Status>>, Status> {
    use subscribe_notifications_request::Start;
    let from = match req.start {
        None => From::Now,
        Some(Start::FromSequence(s)) => From::Sequence(s),
        Some(Start::FromTime(t)) => From::Time(t),
    };
    let filter = (!req.endpoint.is_empty()).then(|| notify(&req.endpoint));
    follow(js, NOTIFY_STREAM, filter, from).await
}

async fn follow<M: Sequenced>(
    js: &jetstream::Context,
    stream_name: &'static str,
    filter_subject: Option<String>,
    from: From,
) -> Result<mpsc::Receiver<Result<M, Status>>, Status> {
    let unavailable =
        |e: &dyn std::fmt::Display| Status::unavailable(format!("{stream_name}: {e}"));
    let deliver_policy = match &from {
        From::Now => consumer::DeliverPolicy::New,
        From::Sequence(0) => consumer::DeliverPolicy::All,
        From::Sequence(seq) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: *seq,
        },
        From::Time(t) => {
            let ns = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
            let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(ns)
                .map_err(|_| Status::invalid_argument("from_time is out of range"))?;
            consumer::DeliverPolicy::ByStartTime { start_time }
        }
    };
    let mut stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| unavailable(&e))?;
    // A resume point the stream no longer holds would silently skip messages: say so instead.
    if let From::Sequence(seq) = from {
        let info = stream.info().await.map_err(|e| unavailable(&e))?;
        let first = info.state.first_sequence;
        if seq > 0 && seq < first {
            return Err(Status::out_of_range(format!(
                "{stream_name}: messages before sequence {first} are no longer retained; resuming from {seq} would skip some"
            )));
        }
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy,
            filter_subject: filter_subject.unwrap_or_default(),
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return, // the caller went away
                m = messages.next() => m,
            };
            let out = match item {
                None => return,
                Some(Err(e)) => Err(Status::unavailable(format!("{stream_name}: {e}"))),
                Some(Ok(m)) => {
                    let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                    match M::decode(m.payload.as_ref()) {
                        Ok(mut ev) => {
                            ev.set_sequence(sequence);
                            Ok(ev)
                        }
                        Err(e) => {
                            tracing::warn!(sequence, error = %e, stream = stream_name, "undecodable message skipped");
                            continue;
                        }
                    }
                }
            };
            let failed = out.is_err();
            if tx.send(out).await.is_err() || failed {
                return;
            }
        }
    });
    Ok(rx)
}
