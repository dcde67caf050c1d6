//! Queue mode (LwM2M TS 1.1 §6.5): requests for a sleeping device wait until it talks.

mod common;

use std::time::Duration;

use common::*;
use lwm2m_proto::v1::{content, value, ReadRequest};
use tonic::Code;

fn read(endpoint: &str, timeout: Duration) -> tonic::Request<ReadRequest> {
    let mut r = tonic::Request::new(ReadRequest {
        endpoint: endpoint.into(),
        path: "/3/0/0".into(),
        content_format: 0,
        text_plain: false,
    });
    r.set_timeout(timeout);
    r
}

async fn sleeping_device(node: &Node, name: &str) -> (SimDevice, String) {
    let ep = unique(name);
    let mut cfg = sim(&ep, node);
    cfg.queue_mode = true;
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    // The awake window (1 s in these tests) passes: the device is asleep.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    (dev, ep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_a_sleeping_device_completes_when_it_wakes() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--awake-window", "1"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let (dev, ep) = sleeping_device(&node, "sim-queue").await;

    let mut api = grpc(&gw.url).await;
    let call = tokio::spawn({
        let ep = ep.clone();
        async move { api.read(read(&ep, Duration::from_secs(20))).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !call.is_finished(),
        "the request waits while the device sleeps"
    );
    assert_eq!(
        dev.reads_answered(),
        0,
        "nothing was sent to the sleeping device"
    );

    // The device wakes up with an Update: the queued request flows.
    assert_eq!(dev.update(None, None).await.unwrap(), "2.04");
    let r = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_inner();
    let Some(content::Node::Resource(res)) = r.content.unwrap().node else {
        panic!("not a resource")
    };
    assert_eq!(
        res.value.unwrap().kind,
        Some(value::Kind::StringValue("Open Mobile Alliance".into()))
    );
    assert_eq!(dev.reads_answered(), 1);

    // While awake, requests go straight through.
    let mut api = grpc(&gw.url).await;
    api.read(read(&ep, Duration::from_secs(5))).await.unwrap();
    assert_eq!(dev.reads_answered(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_request_expires_and_is_dropped_and_the_queue_is_bounded() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--awake-window", "1", "--queue-capacity", "2"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let (dev, ep) = sleeping_device(&node, "sim-qexp").await;
    let mut api = grpc(&gw.url).await;

    let err = api
        .read(read(&ep, Duration::from_millis(1200)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");

    // Two waiting requests fill the queue; a third is refused at once.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let mut api = grpc(&gw.url).await;
        let ep = ep.clone();
        waiting.push(tokio::spawn(async move {
            api.read(read(&ep, Duration::from_secs(3))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = api
        .read(read(&ep, Duration::from_secs(3)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    for w in waiting {
        assert_eq!(w.await.unwrap().unwrap_err().code(), Code::DeadlineExceeded);
    }

    // The expired requests were dropped: when the device wakes, nothing old reaches it.
    assert_eq!(dev.update(None, None).await.unwrap(), "2.04");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dev.reads_answered(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_a_binding_keeps_1_1_queue_mode() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-qkeep");
    let mut cfg = sim(&ep, &node);
    cfg.queue_mode = true;
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    assert!(registration(&mut api, &ep).await.queue_mode);
    // LwM2M 1.1 signals queue mode with Q at Register; an Update's binding does not change it.
    assert_eq!(dev.update_query(&["b=U"]).await.unwrap(), "2.04");
    let reg = registration(&mut api, &ep).await;
    assert!(reg.queue_mode);
    assert_eq!(reg.binding, "U");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_0_client_switches_queue_mode_with_its_binding() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-q10");
    let mut cfg = sim(&ep, &node);
    cfg.version = "1.0".into();
    cfg.binding = "UQ".into();
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    assert!(registration(&mut api, &ep).await.queue_mode);
    assert_eq!(dev.update_query(&["b=U"]).await.unwrap(), "2.04");
    assert!(!registration(&mut api, &ep).await.queue_mode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_takes_its_queued_requests_with_it() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--awake-window", "1"],
    );
    let mut gw = start_gateway(&svc, &unique("gw"), &[]);
    let (dev, ep) = sleeping_device(&node, "sim-qlease").await;
    let mut api = grpc(&gw.url).await;
    let call = tokio::spawn({
        let ep = ep.clone();
        async move { api.read(read(&ep, Duration::from_secs(60))).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The gateway dies without a chance to cancel: its heartbeats stop, the lease runs out.
    gw.proc.kill9();
    assert!(call.await.unwrap().is_err());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(dev.update(None, None).await.unwrap(), "2.04");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        dev.reads_answered(),
        0,
        "the dead gateway's request was dropped, not sent"
    );
}
