//! WatchRegistrations: registration events from the JetStream stream `LWM2M_REG`, through an
//! ordered consumer that starts where the caller asked. Each event carries its stream sequence,
//! so a caller resumes after a disconnect with `from_sequence = last + 1` and misses nothing.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use lwm2m_proto::subjects::REG_STREAM;
use lwm2m_proto::v1::{
    watch_registrations_request::Start, RegistrationEvent, WatchRegistrationsRequest,
};
use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;

/// Events buffered per watcher; a slow watcher slows its own consumer, nobody else.
const BUFFER: usize = 256;

pub async fn watch(
    js: &jetstream::Context,
    req: WatchRegistrationsRequest,
) -> Result<mpsc::Receiver<Result<RegistrationEvent, Status>>, Status> {
    let deliver_policy = match req.start {
        None => consumer::DeliverPolicy::New,
        Some(Start::FromSequence(0)) => consumer::DeliverPolicy::All,
        Some(Start::FromSequence(seq)) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: seq,
        },
        Some(Start::FromTime(t)) => {
            let ns = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
            let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(ns)
                .map_err(|_| Status::invalid_argument("from_time is out of range"))?;
            consumer::DeliverPolicy::ByStartTime { start_time }
        }
    };
    let mut stream = js
        .get_stream(REG_STREAM)
        .await
        .map_err(|e| Status::unavailable(format!("registration stream: {e}")))?;
    // A resume point the stream no longer holds would silently skip events: say so instead.
    if let Some(Start::FromSequence(seq)) = req.start {
        let info = stream
            .info()
            .await
            .map_err(|e| Status::unavailable(format!("registration stream: {e}")))?;
        let first = info.state.first_sequence;
        if seq > 0 && seq < first {
            return Err(Status::out_of_range(format!(
                "events before sequence {first} are no longer retained; resuming from {seq} would skip events"
            )));
        }
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| Status::unavailable(format!("registration consumer: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| Status::unavailable(format!("registration consumer: {e}")))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return, // the caller went away
                m = messages.next() => m,
            };
            let out = match item {
                None => return,
                Some(Err(e)) => Err(Status::unavailable(format!("registration stream: {e}"))),
                Some(Ok(m)) => {
                    let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                    match RegistrationEvent::decode(m.payload.as_ref()) {
                        Ok(mut ev) => {
                            ev.sequence = sequence;
                            Ok(ev)
                        }
                        Err(e) => {
                            tracing::warn!(sequence, error = %e, "undecodable registration event skipped");
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
