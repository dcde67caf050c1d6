//! Registration interface end to end: real node, gateway, Postgres and NATS; a Rust simulated
//! device and libcoap as independent client.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use lwm2m_proto::v1::{GetRegistrationRequest, ListRegistrationsRequest};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_device_register_update_deregister_is_visible_through_gateway() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-reg");

    let mut config = sim(&ep, &node);
    config.lifetime = 120;
    let dev = SimDevice::start(config).await.unwrap();
    let reg_id = dev.register().await.unwrap();

    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.registration_id, reg_id);
    assert_eq!(reg.lifetime_seconds, 120);
    assert_eq!(reg.lwm2m_version, "1.1");
    assert_eq!(reg.owner_node, node.id);
    assert_eq!(reg.address, dev.local_addr().to_string());
    assert_eq!(
        reg.supported_content_formats,
        vec![60, 110, 112, 11542, 11543]
    );
    let objects: Vec<(u32, Option<u32>)> = reg
        .objects
        .iter()
        .map(|o| (o.object_id, o.instance_id))
        .collect();
    assert_eq!(objects, vec![(1, Some(0)), (3, Some(0))]);

    // Update with a new lifetime and new objects.
    assert_eq!(
        dev.update(Some(300), Some("</1/0>,</3/0>,</5/0>"))
            .await
            .unwrap(),
        "2.04"
    );
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.lifetime_seconds, 300);
    assert_eq!(reg.objects.len(), 3);
    // An Update with no query and no payload is valid and keeps everything.
    assert_eq!(dev.update(None, None).await.unwrap(), "2.04");

    let page = api
        .list_registrations(ListRegistrationsRequest {
            endpoint_prefix: ep.clone(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.registrations.len(), 1);
    assert_eq!(page.registrations[0].endpoint, ep);

    assert_eq!(dev.deregister().await.unwrap(), "2.02");
    let err = api
        .get_registration(GetRegistrationRequest {
            endpoint: ep.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The registration id is gone: an Update now gets 4.04, so a real client registers again.
    assert_eq!(dev.update(None, None).await.unwrap(), "4.04");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_register_replaces_the_old_registration() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let db = pool(&svc).await;
    let ep = unique("sim-rereg");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    let first = dev.register().await.unwrap();
    let second = dev.register().await.unwrap();
    assert_ne!(first, second);
    assert_eq!(registration_count(&db, &ep).await, 1);
    let stored: String = sqlx::query_scalar("SELECT reg_id FROM registrations WHERE endpoint = $1")
        .bind(&ep)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_through_registrations() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let prefix = unique("sim-page");
    let mut devices = Vec::new();
    for i in 0..5 {
        let d = SimDevice::start(sim(&format!("{prefix}-{i}"), &node))
            .await
            .unwrap();
        d.register().await.unwrap();
        devices.push(d);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = api
            .list_registrations(ListRegistrationsRequest {
                endpoint_prefix: prefix.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.registrations.len() <= 2);
        seen.extend(page.registrations.into_iter().map(|r| r.endpoint));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
    assert_eq!(seen, expected);
    let err = api
        .list_registrations(ListRegistrationsRequest {
            endpoint_prefix: String::new(),
            page_size: 2,
            page_token: "zz".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

fn coap_client() -> &'static str {
    let bin = "coap-client-notls";
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
        "{bin} is missing: scripts/test.sh installs Debian's libcoap3-bin"
    );
    bin
}

/// Runs libcoap's client; returns its stdout+stderr.
fn libcoap(args: &[&str]) -> String {
    let out = Command::new(coap_client())
        .args(args)
        .output()
        .expect("run coap-client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_client_registers_updates_and_deregisters() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let db = pool(&svc).await;
    let ep = unique("libcoap");
    let base = format!("coap://{}", node.coap);

    // -B: wait at most 5 s for the answer.
    let uri = format!("{base}/rd?ep={ep}&lt=90&lwm2m=1.1&b=U");
    libcoap(&[
        "-m",
        "post",
        "-t",
        "40",
        "-B",
        "5",
        "-e",
        "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>",
        &uri,
    ]);
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.lifetime_seconds, 90);
    assert_eq!(reg.supported_content_formats, vec![11542]);
    let location = format!("{base}/rd/{}", reg.registration_id);

    // Update with a query and no payload.
    libcoap(&["-m", "post", "-B", "5", &format!("{location}?lt=200")]);
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.lifetime_seconds, 200);

    libcoap(&["-m", "delete", "-B", "5", &location]);
    assert_eq!(registration_count(&db, &ep).await, 0);
    let err = api
        .get_registration(GetRegistrationRequest {
            endpoint: ep.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Unknown registration id: 4.04.
    let out = libcoap(&["-m", "post", "-B", "5", &location]);
    assert!(
        out.contains("4.04"),
        "expected 4.04 from an Update of a deleted registration, got {out:?}"
    );
}

/// One exchange from a raw UDP socket; returns the response datagram.
async fn exchange(
    sock: &tokio::net::UdpSocket,
    to: std::net::SocketAddr,
    bytes: &[u8],
) -> Option<Vec<u8>> {
    sock.send_to(bytes, to).await.unwrap();
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_an_error_and_changes_nothing() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let db = pool(&svc).await;
    let prefix = unique("bad");
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // Garbage CON (bad token length 9): RST with the same message id.
    let rst = exchange(&sock, node.coap, &[0x49, 0x01, 0xbe, 0xef, 1, 2, 3])
        .await
        .expect("RST for garbage CON");
    assert_eq!(rst[0] & 0x30, 0x30, "type RST");
    assert_eq!(&rst[2..4], &[0xbe, 0xef]);
    // Random bytes that are not CoAP at all: dropped; the node keeps serving.
    sock.send_to(&[0xff; 32], node.coap).await.unwrap();

    let ep = format!("{prefix}-a");
    let ep_q = format!("ep={ep}");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("missing ep", register_packet(1, &["lt=60"], b"</3/0>")),
        ("bad link format", register_packet(2, &[&ep_q], b"</3/0")),
        ("bad object id", register_packet(3, &[&ep_q], b"</x/0>")),
        (
            "bad lifetime",
            register_packet(4, &[&ep_q, "lt=soon"], b"</3/0>"),
        ),
        (
            "duplicate parameter",
            register_packet(5, &[&ep_q, &ep_q], b"</3/0>"),
        ),
        (
            "bad binding",
            register_packet(6, &[&ep_q, "b=XYZ"], b"</3/0>"),
        ),
        (
            "oversize payload",
            register_packet(
                7,
                &[&ep_q],
                format!("</3/0>,{}", "</3/1>,".repeat(4000)).as_bytes(),
            ),
        ),
    ];
    for (what, bytes) in cases {
        let resp = exchange(&sock, node.coap, &bytes)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        let p = coap_lite::Packet::from_bytes(&resp).unwrap();
        assert_eq!(p.header.code.to_string(), "4.00", "{what}");
    }
    // Unsupported version: 4.12 so that the client can fall back.
    let resp = exchange(
        &sock,
        node.coap,
        &register_packet(8, &[&ep_q, "lwm2m=9.9"], b"</3/0>"),
    )
    .await
    .unwrap();
    assert_eq!(
        coap_lite::Packet::from_bytes(&resp)
            .unwrap()
            .header
            .code
            .to_string(),
        "4.12"
    );

    assert_eq!(registration_count(&db, &prefix).await, 0);
    assert_eq!(outbox_count(&db, &prefix).await, 0);

    // And a valid registration from the same socket still works.
    let resp = exchange(&sock, node.coap, &register_packet(9, &[&ep_q], b"</3/0>"))
        .await
        .unwrap();
    assert_eq!(
        coap_lite::Packet::from_bytes(&resp)
            .unwrap()
            .header
            .code
            .to_string(),
        "2.01"
    );
    assert_eq!(registration_count(&db, &prefix).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_node_cleanly_and_keeps_registrations() {
    let svc = Services::get();
    let mut node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let db = pool(&svc).await;
    let ep = unique("sim-term");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    assert!(
        node.proc.terminate(Duration::from_secs(15)),
        "node exits with status 0 after SIGTERM"
    );
    assert_eq!(registration_count(&db, &ep).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_wise_register_and_unknown_critical_options() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("libcoap-block");
    // 60 object links (~600 bytes) sent by libcoap in 64-byte Block1 blocks (RFC 7959).
    let links: Vec<String> = (0..60).map(|i| format!("</3303/{i}>")).collect();
    let payload = format!("</1/0>,</3/0>,{}", links.join(","));
    let uri = format!("coap://{}/rd?ep={ep}&lt=90&lwm2m=1.1", node.coap);
    libcoap(&[
        "-m", "post", "-t", "40", "-b", "64", "-B", "10", "-e", &payload, &uri,
    ]);
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.objects.len(), 62, "every block reassembled");
    assert_eq!(reg.object_links, payload);

    // An unknown critical option (odd number, RFC 7252 §5.4.1) gets 4.02 and changes nothing.
    let db = pool(&svc).await;
    let ep2 = unique("crit");
    let mut p =
        coap_lite::Packet::from_bytes(&register_packet(3, &[&format!("ep={ep2}")], b"</3/0>"))
            .unwrap();
    p.add_option(coap_lite::CoapOption::Unknown(2049), vec![1]);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resp = exchange(&sock, node.coap, &p.to_bytes().unwrap())
        .await
        .expect("an answer");
    assert_eq!(
        coap_lite::Packet::from_bytes(&resp)
            .unwrap()
            .header
            .code
            .to_string(),
        "4.02"
    );
    assert_eq!(registration_count(&db, &ep2).await, 0);
}
