//! Observe and Send end to end (LwM2M TS 1.1 §6.4): streaming Observe through the gateway,
//! durable observations that survive a gateway restart, a node kill -9 and a subscriber
//! disconnect, the peer check, and Send on the notification stream.

mod common;

use std::time::Duration;

use common::*;
use lwm2m_core::content::{Path, Record, Value};
use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::v1::{
    notification, subscribe_notifications_request::Start, value, CreateObservationRequest,
    DeleteObservationRequest, ListObservationsRequest, Notification, ObserveRequest,
    SubscribeNotificationsRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Streaming};

const STEP: Duration = Duration::from_secs(10);

fn battery(n: &Notification) -> Option<i64> {
    n.values.iter().find(|v| v.path == "/3/0/9").and_then(|v| {
        match v.value.as_ref()?.kind.as_ref()? {
            value::Kind::IntegerValue(i) => Some(*i),
            value::Kind::UnsignedValue(u) => Some(*u as i64),
            _ => None,
        }
    })
}

async fn next(stream: &mut Streaming<Notification>) -> Notification {
    tokio::time::timeout(STEP, stream.message())
        .await
        .expect("a notification in time")
        .expect("stream ok")
        .expect("stream open")
}

/// Sets the battery level on the device and has it notify.
async fn change(dev: &SimDevice, level: i64) {
    dev.objects()
        .insert("/3/0/9", Value::Integer(level))
        .unwrap();
    assert_eq!(dev.notify(true).await, 1, "one observer notified");
}

async fn subscribe(
    api: &mut DeviceServiceClient<Channel>,
    endpoint: &str,
    start: Option<Start>,
) -> Streaming<Notification> {
    api.subscribe_notifications(SubscribeNotificationsRequest {
        endpoint: endpoint.into(),
        start,
    })
    .await
    .expect("SubscribeNotifications")
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_observe_delivers_notifications_and_cancel_stops_them_on_the_device() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-observe");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();

    let mut api = grpc(&gw.url).await;
    let mut stream = api
        .observe(ObserveRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/9".into()],
            content_format: 0,
        })
        .await
        .expect("Observe")
        .into_inner();
    let first = next(&mut stream).await;
    assert_eq!((first.sequence, battery(&first)), (1, Some(100)));
    assert_eq!(first.kind, notification::Kind::Observe as i32);
    assert_eq!(first.coap_code, "2.05");
    assert!(first.received_at.is_some());
    assert_eq!(dev.observers(), 1);

    for (i, level) in [91, 82, 73, 64, 55].into_iter().enumerate() {
        change(&dev, level).await;
        let n = next(&mut stream).await;
        assert_eq!(battery(&n), Some(level));
        assert_eq!(n.sequence, i as u64 + 2);
        assert!(n.observe_value.is_some());
    }

    // The caller goes away: the node forgets the token and resets the next notification,
    // which ends the observation on the device (RFC 7641 §3.6).
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    dev.objects().insert("/3/0/9", Value::Integer(1)).unwrap();
    dev.notify(true).await;
    let gone = eventually(STEP, || async { (dev.observers() == 0).then_some(()) }).await;
    assert!(gone.is_some(), "the device still has an observer");

    // Observe-Composite (several paths, FETCH with SenML).
    let mut composite = api
        .observe(ObserveRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/9".into(), "/3/0/0".into()],
            content_format: 0,
        })
        .await
        .expect("Observe-Composite")
        .into_inner();
    let first = next(&mut composite).await;
    assert_eq!(first.values.len(), 2, "{first:?}");
    change(&dev, 42).await;
    assert_eq!(battery(&next(&mut composite).await), Some(42));

    // Bad arguments are refused before anything is sent.
    let bad = api
        .observe(ObserveRequest {
            endpoint: ep.clone(),
            paths: vec![],
            content_format: 0,
        })
        .await;
    assert_eq!(bad.err().map(|s| s.code()), Some(Code::InvalidArgument));
    let unknown = api
        .observe(ObserveRequest {
            endpoint: unique("nobody"),
            paths: vec!["/3/0/9".into()],
            content_format: 0,
        })
        .await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(Code::NotFound));

    // A new Register ends the device's observations: the stream ends with an error.
    dev.register().await.unwrap();
    let end = tokio::time::timeout(STEP, composite.message())
        .await
        .expect("stream ends");
    assert!(end.is_err(), "stream ends with a status, got {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_observation_survives_gateway_restart_node_kill_and_resume() {
    let svc = Services::get();
    let node_id = unique("node");
    // Below the ephemeral range: nothing takes it while the node is down.
    let port = stable_udp_port();
    let mut node = start_node(&svc, &node_id, port, &[]);
    let mut gw1 = start_gateway(&svc, &unique("gw1"), &[]);
    let ep = unique("sim-durable");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    let since = prost_types::Timestamp::from(std::time::SystemTime::now());

    let mut api = grpc(&gw1.url).await;
    let created = api
        .create_observation(CreateObservationRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/9".into()],
            content_format: 0,
        })
        .await
        .expect("CreateObservation")
        .into_inner();
    let obs = created.observation.unwrap();
    assert_eq!(battery(&created.initial.unwrap()), Some(100));
    let listed = api
        .list_observations(ListObservationsRequest {
            endpoint: ep.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.observations.len(), 1);
    assert_eq!(listed.observations[0].id, obs.id);

    // Everything since before the creation, from the stream.
    let mut sub = subscribe(&mut api, &ep, Some(Start::FromTime(since))).await;
    let mut seen = vec![];
    let mut last_seq = 0;
    let take = |n: Notification, seen: &mut Vec<i64>, last: &mut u64| {
        assert!(n.sequence > *last, "sequences increase");
        assert_eq!(n.observation_id, obs.id);
        *last = n.sequence;
        seen.push(battery(&n).unwrap());
    };
    take(next(&mut sub).await, &mut seen, &mut last_seq);
    for level in [90, 80] {
        change(&dev, level).await;
        take(next(&mut sub).await, &mut seen, &mut last_seq);
    }

    // (a) + (c): the gateway goes away with the subscriber; a new gateway, resume from the
    // last sequence + 1. The notification sent meanwhile is not lost.
    drop(sub);
    assert!(gw1.proc.terminate(Duration::from_secs(5)));
    change(&dev, 70).await;
    let gw2 = start_gateway(&svc, &unique("gw2"), &[]);
    let mut api = grpc(&gw2.url).await;
    let mut sub = subscribe(&mut api, &ep, Some(Start::FromSequence(last_seq + 1))).await;
    take(next(&mut sub).await, &mut seen, &mut last_seq);

    // (b): kill -9 the node and start it again; the device keeps notifying its old token.
    node.proc.kill9();
    node = start_node(&svc, &node_id, port, &[]);
    for level in [60, 50] {
        change(&dev, level).await;
        take(next(&mut sub).await, &mut seen, &mut last_seq);
    }
    assert_eq!(seen, vec![100, 90, 80, 70, 60, 50], "no gap, no duplicate");
    assert_eq!(dev.observers(), 1);

    // Delete: gone from the store, and the device's next notification is reset.
    api.delete_observation(DeleteObservationRequest {
        observation_id: obs.id.clone(),
    })
    .await
    .expect("DeleteObservation");
    let again = api
        .delete_observation(DeleteObservationRequest {
            observation_id: obs.id.clone(),
        })
        .await;
    assert_eq!(again.err().map(|s| s.code()), Some(Code::NotFound));
    change(&dev, 40).await;
    let gone = eventually(STEP, || async { (dev.observers() == 0).then_some(()) }).await;
    assert!(gone.is_some(), "the device still has an observer");
    let listed = api
        .list_observations(ListObservationsRequest {
            endpoint: ep.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.observations.is_empty());
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_from_another_peer_is_refused_and_register_drops_observations() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-peer");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    let mut api = grpc(&gw.url).await;
    let created = api
        .create_observation(CreateObservationRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/9".into()],
            content_format: 0,
        })
        .await
        .expect("CreateObservation")
        .into_inner();
    let obs_id = created.observation.unwrap().id;
    let db = pool(&svc).await;
    let token: Vec<u8> = sqlx::query_scalar("SELECT token FROM observations WHERE id = $1")
        .bind(&obs_id)
        .fetch_one(&db)
        .await
        .unwrap();
    let mut sub = subscribe(&mut api, &ep, None).await;

    // The right token from another address: RST, and nothing reaches the stream.
    let intruder = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut p = coap_lite::Packet::new();
    p.header.set_type(coap_lite::MessageType::Confirmable);
    p.header.message_id = 0x4242;
    p.header.code = coap_lite::MessageClass::Response(coap_lite::ResponseType::Content);
    p.set_token(token.clone());
    p.set_observe_value(77);
    lwm2m_core::lwm2m::options::set_content_format(&mut p, 0);
    p.payload = b"1".to_vec();
    intruder
        .send_to(&p.to_bytes().unwrap(), node.coap)
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(STEP, intruder.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!((n, buf[0] >> 4 & 3), (4, 3), "an empty RST");
    let nothing = tokio::time::timeout(Duration::from_secs(1), sub.message()).await;
    assert!(
        nothing.is_err(),
        "a notification from another peer was delivered: {nothing:?}"
    );

    // The device itself is heard.
    change(&dev, 33).await;
    assert_eq!(battery(&next(&mut sub).await), Some(33));

    // A new Register drops the stored observation.
    dev.register().await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM observations WHERE endpoint = $1")
        .bind(&ep)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_arrives_on_the_notification_stream() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-send");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    let records = vec![
        Record::new(Path::new_resource(3, 0, 9), Value::Integer(12)),
        Record::new(Path::new_resource(3, 0, 13), Value::Time(1_700_000_000)),
    ];
    // Not registered yet: 4.04, nothing stored.
    assert_eq!(dev.send(&records).await.unwrap(), "4.04");
    dev.register().await.unwrap();

    let mut api = grpc(&gw.url).await;
    let mut sub = subscribe(&mut api, &ep, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dev.send(&records).await.unwrap(), "2.04");
    let n = next(&mut sub).await;
    assert_eq!(n.kind, notification::Kind::Send as i32);
    assert_eq!(n.endpoint, ep);
    assert_eq!(battery(&n), Some(12));
    assert_eq!(n.values.len(), 2);
    assert!(n.sequence > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_a_queue_mode_device() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--awake-window", "1"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-qnotify");
    let mut cfg = sim(&ep, &node);
    cfg.queue_mode = true;
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    let mut api = grpc(&gw.url).await;
    api.create_observation(CreateObservationRequest {
        endpoint: ep.clone(),
        paths: vec!["/3/0/9".into()],
        content_format: 0,
    })
    .await
    .expect("CreateObservation while awake");
    // The Observe itself was a GET the device answered.
    let answered = dev.reads_answered();
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let mut read = tonic::Request::new(lwm2m_proto::v1::ReadRequest {
        endpoint: ep.clone(),
        path: "/3/0/0".into(),
        content_format: 0,
        text_plain: false,
    });
    read.set_timeout(Duration::from_secs(20));
    let call = tokio::spawn(async move { api.read(read).await });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !call.is_finished(),
        "the read waits while the device sleeps"
    );
    assert_eq!(dev.reads_answered(), answered);

    change(&dev, 5).await;
    let r = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
    assert!(r.is_ok(), "{r:?}");
    // The notification (an answer to the stored GET) and the queued read.
    assert!(dev.reads_answered() >= answered + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_or_a_passed_deadline_ends_the_observation_on_the_device() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let mut gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-lease");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    let observe = || ObserveRequest {
        endpoint: ep.clone(),
        paths: vec!["/3/0/9".into()],
        content_format: 0,
    };

    // The gateway dies (kill -9: no cancel is ever published); its lease ends the observation.
    let mut api = grpc(&gw.url).await;
    let mut stream = api.observe(observe()).await.expect("Observe").into_inner();
    next(&mut stream).await;
    assert_eq!(dev.observers(), 1);
    gw.proc.kill9();
    // Lease: 3 s without heartbeats. Notifications keep the device's side honest meanwhile.
    let gone = eventually(Duration::from_secs(15), || async {
        dev.objects().insert("/3/0/9", Value::Integer(7)).unwrap();
        dev.notify(true).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (dev.observers() == 0).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the observation outlived its gateway");

    // The caller's deadline ends the stream with DEADLINE_EXCEEDED and the observation too.
    let gw2 = start_gateway(&svc, &unique("gw2"), &[]);
    let mut api = grpc(&gw2.url).await;
    let mut req = tonic::Request::new(observe());
    req.set_timeout(Duration::from_secs(2));
    let mut stream = api.observe(req).await.expect("Observe").into_inner();
    next(&mut stream).await;
    let end = tokio::time::timeout(STEP, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends");
    assert!(end.is_err(), "ends with a status: {end:?}");
    let gone = eventually(STEP, || async {
        dev.notify(true).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (dev.observers() == 0).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the observation outlived the call's deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_observes_and_manages_durable_observations() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("sim-cli");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    let cli = |args: &[&str]| {
        let mut c = tokio::process::Command::new(binary("lwm2m"));
        c.arg("--gateway")
            .arg(&gw.url)
            .args(args)
            .kill_on_drop(true);
        c
    };

    // `observe --count 2`: the initial value and one notification, then it leaves.
    let observe = cli(&["observe", &ep, "/3/0/9", "--count", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let gone = eventually(STEP, || async { (dev.observers() == 1).then_some(()) }).await;
    assert!(gone.is_some(), "the CLI did not observe");
    change(&dev, 21).await;
    let out = tokio::time::timeout(STEP, observe.wait_with_output())
        .await
        .expect("observe --count 2 ends")
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("/3/0/9=100") && lines[1].contains("/3/0/9=21"),
        "{text}"
    );

    // observation create / list / delete.
    let out = cli(&["--json", "observation", "create", &ep, "/3/0/9"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = doc["observation"]["id"].as_str().unwrap().to_string();
    let out = cli(&["observation", "list", "--endpoint", &ep])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = cli(&["observation", "delete", &id]).output().await.unwrap();
    assert!(out.status.success());
    let out = cli(&["observation", "delete", &id]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "a second delete is NOT_FOUND");
}
