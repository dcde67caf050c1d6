//! Registration events end to end: outbox → JetStream → WatchRegistrations, in order, resumable,
//! and nothing acknowledged is lost when the node is killed.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use lwm2m_proto::v1::registration_event::Kind;
use lwm2m_proto::v1::watch_registrations_request::Start;
use lwm2m_proto::v1::{RegistrationEvent, WatchRegistrationsRequest};
use tonic::Streaming;

/// Collects events of endpoints starting with `prefix` until `n` arrived or `timeout` passed.
async fn collect(
    stream: &mut Streaming<RegistrationEvent>,
    prefix: &str,
    n: usize,
    timeout: Duration,
) -> Vec<RegistrationEvent> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + timeout;
    while out.len() < n {
        match tokio::time::timeout_at(end, stream.next()).await {
            Ok(Some(Ok(ev))) => {
                if ev
                    .registration
                    .as_ref()
                    .is_some_and(|r| r.endpoint.starts_with(prefix))
                {
                    out.push(ev);
                }
            }
            Ok(Some(Err(e))) => panic!("watch failed: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

fn kinds(events: &[RegistrationEvent]) -> Vec<Kind> {
    events
        .iter()
        .map(|e| Kind::try_from(e.kind).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_new_update_delete_expire_in_order_and_resumes_from_a_sequence() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--expiry-grace", "0", "--expiry-interval", "0.2"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let prefix = unique("watch");
    let mut stream = api
        .watch_registrations(WatchRegistrationsRequest { start: None })
        .await
        .unwrap()
        .into_inner();

    let a = SimDevice::start(sim(&format!("{prefix}-a"), &node))
        .await
        .unwrap();
    a.register().await.unwrap();
    a.update(Some(120), None).await.unwrap();
    a.deregister().await.unwrap();
    // A pause so that the first events are published before the next one is created: the
    // from-time check below starts between them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut cfg = sim(&format!("{prefix}-b"), &node);
    cfg.lifetime = 1;
    let b = SimDevice::start(cfg).await.unwrap();
    b.register().await.unwrap();

    let events = collect(&mut stream, &prefix, 5, Duration::from_secs(15)).await;
    assert_eq!(
        kinds(&events),
        vec![
            Kind::New,
            Kind::Update,
            Kind::Delete,
            Kind::New,
            Kind::Expire
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequences increase: {seqs:?}"
    );
    assert_eq!(
        events[4].registration.as_ref().unwrap().endpoint,
        format!("{prefix}-b")
    );
    assert_eq!(
        events[1].registration.as_ref().unwrap().lifetime_seconds,
        120
    );
    drop(stream);

    // The watcher "reconnects" and resumes after the second event: it gets exactly the rest.
    let mut resumed = api
        .watch_registrations(WatchRegistrationsRequest {
            start: Some(Start::FromSequence(seqs[1] + 1)),
        })
        .await
        .unwrap()
        .into_inner();
    let rest = collect(&mut resumed, &prefix, 3, Duration::from_secs(10)).await;
    assert_eq!(
        rest.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        seqs[2..].to_vec()
    );
    assert_eq!(
        rest.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
        events[2..]
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    );
    // From a time: the event's own commit time replays it and everything after.
    let from = events[3].time.unwrap();
    let mut by_time = api
        .watch_registrations(WatchRegistrationsRequest {
            start: Some(Start::FromTime(from)),
        })
        .await
        .unwrap()
        .into_inner();
    let tail = collect(&mut by_time, &prefix, 2, Duration::from_secs(10)).await;
    assert_eq!(kinds(&tail), vec![Kind::New, Kind::Expire]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_2_01_loses_nothing() {
    let svc = Services::get();
    let db = pool(&svc).await;
    let node_id = unique("node-k9");
    // Below the ephemeral range: nothing takes it while the node is down.
    let port = stable_udp_port();
    let mut node = start_node(&svc, &node_id, port, &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("k9");
    let mut stream = api
        .watch_registrations(WatchRegistrationsRequest { start: None })
        .await
        .unwrap()
        .into_inner();

    // Hold the relay's advisory lock so the event stays in the outbox when the node dies:
    // this is the window between commit and publish that the outbox exists for.
    let mut lock = db.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(1280789810)")
        .execute(&mut *lock)
        .await
        .unwrap();
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    let reg_id = dev.register().await.unwrap();
    node.proc.kill9();
    assert_eq!(
        registration_count(&db, &ep).await,
        1,
        "acknowledged registration is in Postgres"
    );
    assert_eq!(
        outbox_count(&db, &ep).await,
        1,
        "its event waits in the outbox"
    );
    sqlx::query("SELECT pg_advisory_unlock(1280789810)")
        .execute(&mut *lock)
        .await
        .unwrap();
    drop(lock);

    // The node comes back (same id) and relays the event; it is delivered exactly once.
    let _node = start_node(&svc, &node_id, port, &[]);
    let events = collect(&mut stream, &ep, 2, Duration::from_secs(5)).await;
    assert_eq!(kinds(&events), vec![Kind::New]);
    assert_eq!(
        events[0].registration.as_ref().unwrap().registration_id,
        reg_id
    );
    let left = eventually(Duration::from_secs(5), || {
        let db = db.clone();
        let ep = ep.clone();
        async move { (outbox_count(&db, &ep).await == 0).then_some(()) }
    })
    .await;
    assert!(left.is_some(), "outbox drained");
    // After the restart the node answers for its device again.
    assert_eq!(dev.update(None, None).await.unwrap(), "2.04");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_of_a_dead_node_expires_once_through_another_node() {
    let svc = Services::get();
    let db = pool(&svc).await;
    let mut owner = start_node(&svc, &unique("node-dead"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("orphan-exp");
    let mut stream = api
        .watch_registrations(WatchRegistrationsRequest { start: None })
        .await
        .unwrap()
        .into_inner();
    let mut cfg = sim(&ep, &owner);
    cfg.lifetime = 1;
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    owner.proc.kill9();
    // Two surviving nodes sweep; the expiry is reported exactly once.
    let _a = start_node(
        &svc,
        &unique("node-a"),
        free_udp_port(),
        &["--expiry-grace", "0", "--expiry-interval", "0.1"],
    );
    let _b = start_node(
        &svc,
        &unique("node-b"),
        free_udp_port(),
        &["--expiry-grace", "0", "--expiry-interval", "0.1"],
    );
    let events = collect(&mut stream, &ep, 3, Duration::from_secs(6)).await;
    assert_eq!(kinds(&events), vec![Kind::New, Kind::Expire]);
    assert_eq!(registration_count(&db, &ep).await, 0);
}
