//! Routed requests end to end: the gateway's ack / timeout / cancel contract against real nodes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::Packet;
use common::*;
use lwm2m_proto::v1::{content, value, ReadRequest};
use tokio::net::UdpSocket;
use tonic::Code;

fn read(endpoint: &str, path: &str, content_format: u32) -> tonic::Request<ReadRequest> {
    tonic::Request::new(ReadRequest {
        endpoint: endpoint.into(),
        path: path.into(),
        content_format,
        text_plain: false,
    })
}

fn string_of(v: &Option<lwm2m_proto::v1::Value>) -> Option<String> {
    match v.as_ref()?.kind.as_ref()? {
        value::Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_gateway_returns_device_values_in_each_format() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-read");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();

    // 0 = node's choice (SenML JSON, declared by the device); then TLV explicitly.
    for (cf, expected_cf) in [(0, 110), (11542, 11542)] {
        let resp = api.read(read(&ep, "/3/0", cf)).await.unwrap();
        assert_eq!(resp.metadata().get("lwm2m-coap-code").unwrap(), "2.05");
        let r = resp.into_inner();
        assert_eq!(r.content_format, expected_cf);
        let Some(content::Node::Instance(inst)) = r.content.unwrap().node else {
            panic!("not an instance")
        };
        assert_eq!(inst.id, 0);
        let res = |id: u32| {
            inst.resources
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("resource {id}"))
        };
        assert_eq!(
            string_of(&res(0).value).as_deref(),
            Some("Open Mobile Alliance")
        );
        assert_eq!(string_of(&res(2).value), Some(format!("SN-{ep}")));
        assert_eq!(
            res(9).value.as_ref().unwrap().kind,
            Some(value::Kind::IntegerValue(100))
        );
        assert_eq!(
            res(13).value.as_ref().unwrap().kind,
            Some(value::Kind::TimeValue(1_367_491_215))
        );
        let volts = res(7);
        assert!(volts.multiple);
        let v: Vec<_> = volts
            .instances
            .iter()
            .map(|i| (i.id, i.value.as_ref().unwrap().kind.clone()))
            .collect();
        assert_eq!(
            v,
            vec![
                (0, Some(value::Kind::IntegerValue(3800))),
                (1, Some(value::Kind::IntegerValue(5000)))
            ]
        );
    }

    // A single resource as text/plain.
    let mut req = read(&ep, "/3/0/1", 0);
    req.get_mut().text_plain = true;
    let r = api.read(req).await.unwrap().into_inner();
    assert_eq!(r.content_format, 0);
    let Some(content::Node::Resource(res)) = r.content.unwrap().node else {
        panic!("not a resource")
    };
    assert_eq!(
        string_of(&res.value).as_deref(),
        Some("Lightweight M2M Client")
    );

    // Device errors map to gRPC codes with the CoAP code in metadata.
    let err = api.read(read(&ep, "/3/0/21", 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.metadata().get("lwm2m-coap-code").unwrap(), "4.04");
    // Bad arguments never reach the device.
    let before = dev.reads_answered();
    for (e, p) in [
        ("", "/3/0"),
        (ep.as_str(), "3/0"),
        (ep.as_str(), "/3/x"),
        (ep.as_str(), "/1/2/3/4/5"),
    ] {
        let err = api.read(read(e, p, 0)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{e:?} {p:?}");
    }
    assert_eq!(dev.reads_answered(), before);
    // Unknown endpoint.
    let err = api
        .read(read(&unique("nobody"), "/3/0", 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_owning_node_gives_unavailable_within_the_ack_timeout() {
    let svc = Services::get();
    let mut node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &["--ack-timeout", "0.5"]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-orphan");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    node.proc.kill9();

    let start = std::time::Instant::now();
    let err = api.read(read(&ep, "/3/0", 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains(&ep),
        "message names the endpoint: {}",
        err.message()
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

/// A device that registers from a raw socket and then never answers; counts what it receives.
struct SilentDevice {
    sock: UdpSocket,
}

impl SilentDevice {
    async fn register(endpoint: &str, server: SocketAddr) -> SilentDevice {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("ep={endpoint}");
        let bytes = register_packet(7, &[&ep], b"</3/0>");
        sock.send_to(&bytes, server).await.unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Packet::from_bytes(&buf[..n])
                .unwrap()
                .header
                .code
                .to_string(),
            "2.01"
        );
        SilentDevice { sock }
    }

    /// Datagrams received within `window`.
    async fn count_for(&self, window: Duration) -> usize {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        let end = tokio::time::Instant::now() + window;
        while let Ok(Ok(_)) = tokio::time::timeout_at(end, self.sock.recv_from(&mut buf)).await {
            n += 1;
        }
        n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_that_never_answers_gives_deadline_exceeded_and_retransmission_stops() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("silent");
    let dev = SilentDevice::register(&ep, node.coap).await;

    let mut req = read(&ep, "/3/0", 0);
    req.set_timeout(Duration::from_millis(800));
    let counting = tokio::spawn(async move { dev.count_for(Duration::from_secs(7)).await });
    let err = api.read(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    // RFC 7252 back-off: without the cancel, retransmissions would arrive at 2–3 s and 6–9 s.
    assert_eq!(
        counting.await.unwrap(),
        1,
        "only the first transmission reaches the device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cancel_the_node_retransmits() {
    // The control for the test above: the same silent device sees retransmissions while the
    // call is still running, so "1 datagram" there really means the node stopped.
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("silent-ctl");
    let dev = SilentDevice::register(&ep, node.coap).await;
    let mut req = read(&ep, "/3/0", 0);
    req.set_timeout(Duration::from_secs(10));
    let call = tokio::spawn(async move { api.read(req).await });
    assert!(dev.count_for(Duration::from_secs(4)).await >= 2);
    call.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_that_goes_away_makes_the_node_cancel() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("silent-cancel");
    let dev = SilentDevice::register(&ep, node.coap).await;
    let url = gw.url.clone();
    let endpoint = ep.clone();
    let call = tokio::spawn(async move {
        let mut api = grpc(&url).await;
        let mut req = read(&endpoint, "/3/0", 0);
        req.set_timeout(Duration::from_secs(60));
        api.read(req).await
    });
    let counting = tokio::spawn(async move { dev.count_for(Duration::from_secs(7)).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    call.abort(); // drops the client: the HTTP/2 stream is reset, the gateway drops the call
    assert_eq!(
        counting.await.unwrap(),
        1,
        "the node stopped retransmitting after the cancel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_that_registers_again_through_a_second_node_is_read_through_it() {
    let svc = Services::get();
    let node1 = start_node(&svc, &unique("node1"), free_udp_port(), &[]);
    let node2 = start_node(&svc, &unique("node2"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-move");

    let first = SimDevice::start(sim(&ep, &node1)).await.unwrap();
    first.register().await.unwrap();
    assert!(api.read(read(&ep, "/3/0/0", 0)).await.is_ok());
    assert_eq!(first.reads_answered(), 1);

    // The device comes back through another node (as after a load-balancer change).
    first.stop();
    let second = SimDevice::start(sim(&ep, &node2)).await.unwrap();
    second.register().await.unwrap();
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.owner_node, node2.id);
    // Node 1 learns of the move from the event and drops its route; reads go to node 2.
    let ok = eventually(Duration::from_secs(5), || {
        let mut api = api.clone();
        let ep = ep.clone();
        async move { api.read(read(&ep, "/3/0/0", 0)).await.ok() }
    })
    .await;
    assert!(ok.is_some(), "read through the second node");
    assert!(second.reads_answered() >= 1);
    assert_eq!(first.reads_answered(), 1);
}

/// A request in progress on a node that loses the device (it registered through another node)
/// ends at once with UNAVAILABLE instead of retransmitting to the old address until the caller's
/// deadline; the caller's retry reaches the new owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_ends_when_the_device_moves_to_another_node() {
    let svc = Services::get();
    let node1 = start_node(&svc, &unique("node1"), free_udp_port(), &[]);
    let node2 = start_node(&svc, &unique("node2"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-moving");
    let _silent = SilentDevice::register(&ep, node1.coap).await;

    let mut req = read(&ep, "/3/0/0", 0);
    req.set_timeout(Duration::from_secs(20));
    let started = std::time::Instant::now();
    let pending = tokio::spawn(async move { api.read(req).await });
    // The read is out (node 1 retransmits to the silent device); now the device comes back
    // through node 2.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moved = SimDevice::start(sim(&ep, &node2)).await.unwrap();
    moved.register().await.unwrap();

    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ended after {:?}, not at the move",
        started.elapsed()
    );
    let mut api = grpc(&gw.url).await;
    api.read(read(&ep, "/3/0/0", 0)).await.unwrap();
    assert_eq!(moved.reads_answered(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_serve_the_same_devices() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw1 = start_gateway(&svc, &unique("gw1"), &[]);
    let gw2 = start_gateway(&svc, &unique("gw2"), &[]);
    let ep = unique("sim-2gw");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    for url in [&gw1.url, &gw2.url, &gw1.url] {
        let mut api = grpc(url).await;
        let r = api.read(read(&ep, "/3/0/0", 0)).await.unwrap().into_inner();
        let Some(content::Node::Resource(res)) = r.content.unwrap().node else {
            panic!("not a resource")
        };
        assert_eq!(
            string_of(&res.value).as_deref(),
            Some("Open Mobile Alliance")
        );
    }
    assert_eq!(dev.reads_answered(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_health_and_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let svc = Services::get();
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let channel = tonic::transport::Endpoint::from_shared(gw.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "lwm2m.v1.DeviceService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    // Reflection lists the API, so grpcurl and friends work without the .proto files.
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::{
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"lwm2m.v1.DeviceService".to_string()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_an_ownership_change_drops_the_endpoint_by_reconciling() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--reconcile-interval", "0.3"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &["--ack-timeout", "0.5"]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-reconcile");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    api.read(read(&ep, "/3/0/0", 0)).await.unwrap();
    // Another node took the device, but this node never saw the event (written behind the bus).
    let db = pool(&svc).await;
    sqlx::query(
        "UPDATE registrations SET owner_node = 'elsewhere', updated_at = now() WHERE endpoint = $1",
    )
    .bind(&ep)
    .execute(&db)
    .await
    .unwrap();
    let dropped = eventually(Duration::from_secs(5), || {
        let mut api = api.clone();
        let ep = ep.clone();
        async move {
            match api.read(read(&ep, "/3/0/0", 0)).await {
                Err(e) if e.code() == Code::Unavailable => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(
        dropped.is_some(),
        "the node stopped answering for a device the database gives to another node"
    );
}

/// Asks `node` directly over NATS whether it still holds `endpoint`: a RouteRequest with no
/// operation is acknowledged (or answered at once with an error Result, which stands for the
/// Ack) without touching the device by an owner, and nacked NOT_OWNER by any other node.
async fn node_holds(nats: &async_nats::Client, node: &str, endpoint: &str) -> bool {
    use lwm2m_proto::v1::bus::{nack, route_reply, RouteReply, RouteRequest};
    use prost::Message;
    let probe = RouteRequest {
        ticket: unique("probe"),
        endpoint: endpoint.into(),
        gateway: "probe".into(),
        timeout_ms: 1000,
        ..Default::default()
    };
    // No responders: the node is not (yet) serving; it holds nothing.
    let Ok(reply) = nats
        .request(
            lwm2m_proto::subjects::node_requests(node),
            probe.encode_to_vec().into(),
        )
        .await
    else {
        return false;
    };
    match RouteReply::decode(reply.payload.as_ref()).unwrap().reply {
        // The Result stands for the Ack when it is ready within the node's ack grace; on a
        // loaded machine the Ack may go first.
        Some(route_reply::Reply::Ack(_)) => true,
        Some(route_reply::Reply::Result(r)) => {
            assert!(r.error.is_some(), "{r:?}");
            true
        }
        Some(route_reply::Reply::Nack(n)) => {
            assert_eq!(n.reason, nack::Reason::NotOwner as i32, "{n:?}");
            false
        }
        other => panic!("unexpected first reply {other:?}"),
    }
}

/// Whether `node` holds `endpoint` within 5 s (it restores ownership when it starts).
async fn comes_to_hold(nats: &async_nats::Client, node: &str, endpoint: &str) -> bool {
    eventually(Duration::from_secs(5), || async {
        node_holds(nats, node, endpoint).await.then_some(())
    })
    .await
    .is_some()
}

/// The gateway remembers owners; an owner that changed behind its back (no event reached it)
/// costs one more hop, never an error: a NOT_OWNER nack, or a node nobody serves any more,
/// sends the gateway to Postgres for the current owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_in_the_gateway_is_re_resolved_through_the_database() {
    let svc = Services::get();
    let id1 = unique("node1");
    let id2 = unique("node2");
    let node1_args = ["--reconcile-interval", "0.3"];
    let mut node1 = start_node(&svc, &id1, free_udp_port(), &node1_args);
    let gw = start_gateway(&svc, &unique("gw"), &["--ack-timeout", "0.5"]);
    let mut api = grpc(&gw.url).await;
    let nats = async_nats::connect(&svc.nats_url).await.unwrap();
    let db = pool(&svc).await;
    let ep = unique("sim-stale");
    let dev = SimDevice::start(sim(&ep, &node1)).await.unwrap();
    dev.register().await.unwrap();
    api.read(read(&ep, "/3/0/0", 0)).await.unwrap();
    assert_eq!(dev.reads_answered(), 1);

    // Node 2 takes the device in the database only (no event on the bus), and node 1 notices by
    // reconciling; the gateway still remembers node 1.
    let give_to = |node: String| {
        let (db, ep) = (db.clone(), ep.clone());
        async move {
            sqlx::query(
                "UPDATE registrations SET owner_node = $2, updated_at = now() WHERE endpoint = $1",
            )
            .bind(&ep)
            .bind(&node)
            .execute(&db)
            .await
            .unwrap();
        }
    };
    give_to(id2.clone()).await;
    let dropped = eventually(Duration::from_secs(5), || async {
        (!node_holds(&nats, &id1, &ep).await).then_some(())
    })
    .await;
    assert!(dropped.is_some(), "node 1 reconciled the endpoint away");
    // Node 2 starts and restores what the database gives it.
    let mut node2 = start_node(&svc, &id2, free_udp_port(), &[]);
    assert!(
        comes_to_hold(&nats, &id2, &ep).await,
        "node 2 restored its ownership"
    );

    // NOT_OWNER from node 1 → Postgres → node 2, within the one call.
    api.read(read(&ep, "/3/0/0", 0)).await.unwrap();
    assert_eq!(dev.reads_answered(), 2);

    // The owner dies and ownership goes back to a restarted node 1: the dead owner's subject
    // has no responders → Postgres → node 1, within the one call.
    node1.proc.kill9();
    give_to(id1.clone()).await;
    node2.proc.kill9();
    let _node1 = start_node(&svc, &id1, free_udp_port(), &node1_args);
    assert!(
        comes_to_hold(&nats, &id1, &ep).await,
        "node 1 restored its ownership"
    );
    api.read(read(&ep, "/3/0/0", 0)).await.unwrap();
    assert_eq!(dev.reads_answered(), 3);
}
