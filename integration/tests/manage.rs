//! Device Management operations end to end: gateway → NATS → node → CoAP → simulated device.

mod common;

use common::*;
use lwm2m_core::content::Value;
use lwm2m_proto::v1::write_request::Mode;
use lwm2m_proto::v1::*;
use tonic::Code;

fn string(s: &str) -> Option<lwm2m_proto::v1::Value> {
    Some(lwm2m_proto::v1::Value {
        kind: Some(value::Kind::StringValue(s.into())),
    })
}

fn integer(i: i64) -> Option<lwm2m_proto::v1::Value> {
    Some(lwm2m_proto::v1::Value {
        kind: Some(value::Kind::IntegerValue(i)),
    })
}

fn pv(path: &str, value: Option<lwm2m_proto::v1::Value>) -> PathValue {
    PathValue {
        path: path.into(),
        value,
    }
}

struct Setup {
    _node: Node,
    _gw: Gateway,
    api: lwm2m_proto::v1::device_service_client::DeviceServiceClient<tonic::transport::Channel>,
    dev: SimDevice,
    ep: String,
}

async fn setup(name: &str) -> Setup {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let api = grpc(&gw.url).await;
    let ep = unique(name);
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    Setup {
        _node: node,
        _gw: gw,
        api,
        dev,
        ep,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_replace_and_partial_update_in_each_format() {
    let Setup {
        mut api,
        dev,
        ep,
        _node,
        _gw,
    } = setup("sim-write").await;
    // Single resource, text/plain.
    let r = api
        .write(WriteRequest {
            endpoint: ep.clone(),
            path: "/3/0/14".into(),
            mode: Mode::Replace as i32,
            values: vec![pv("/3/0/14", string("+05:00"))],
            content_format: 0,
            text_plain: true,
        })
        .await
        .unwrap();
    assert_eq!(r.metadata().get("lwm2m-coap-code").unwrap(), "2.04");
    assert_eq!(
        dev.objects().value("/3/0/14"),
        Some(&Value::String("+05:00".into()))
    );

    // Partial update of the instance, in TLV, SenML JSON, SenML CBOR and LwM2M JSON.
    for (i, cf) in [11542u32, 110, 112, 11543].into_iter().enumerate() {
        let tz = format!("Zone/{i}");
        api.write(WriteRequest {
            endpoint: ep.clone(),
            path: "/3/0".into(),
            mode: Mode::PartialUpdate as i32,
            values: vec![
                pv("/3/0/15", string(&tz)),
                pv("/3/0/9", integer(50 + i as i64)),
            ],
            content_format: cf,
            text_plain: false,
        })
        .await
        .unwrap_or_else(|e| panic!("format {cf}: {e:?}"));
        let objects = dev.objects();
        assert_eq!(
            objects.value("/3/0/15"),
            Some(&Value::String(tz)),
            "format {cf}"
        );
        assert_eq!(
            objects.value("/3/0/9"),
            Some(&Value::Integer(50 + i as i64)),
            "format {cf}"
        );
        // Partial update keeps the rest.
        assert_eq!(
            objects.value("/3/0/0"),
            Some(&Value::String("Open Mobile Alliance".into()))
        );
    }

    // Bad arguments are refused before anything is sent.
    for (path, values) in [
        ("/3/0/14", vec![pv("/3/0/15", string("x"))]), // value outside the target
        ("/3/0/9", vec![pv("/3/0/9", string("full"))]), // string for an integer resource
        ("/3/0/9", vec![pv("/3/0/9", None)]),          // unset value
        ("/3/0/9", vec![pv("/3/x", integer(1))]),      // bad value path
    ] {
        let err = api
            .write(WriteRequest {
                endpoint: ep.clone(),
                path: path.into(),
                mode: Mode::Replace as i32,
                values,
                content_format: 11542,
                text_plain: false,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path}: {err:?}");
    }
    assert_eq!(dev.objects().value("/3/0/9"), Some(&Value::Integer(53)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_create_delete_discover_and_write_attributes() {
    let Setup {
        mut api,
        dev,
        ep,
        _node,
        _gw,
    } = setup("sim-manage").await;

    let r = api
        .execute(ExecuteRequest {
            endpoint: ep.clone(),
            path: "/3/0/4".into(),
            arguments: "0='soon'".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coap_code, "2.04");
    assert_eq!(
        dev.objects().executions,
        vec![("/3/0/4".to_string(), "0='soon'".to_string())]
    );
    // Executing a readable resource: the device answers 4.05 → FAILED_PRECONDITION.
    let err = api
        .execute(ExecuteRequest {
            endpoint: ep.clone(),
            path: "/3/0/0".into(),
            arguments: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.metadata().get("lwm2m-coap-code").unwrap(), "4.05");

    // Create a Server object instance with an id, and one without.
    let values = vec![
        CreateValue {
            resource_id: 0,
            resource_instance_id: None,
            value: integer(7),
        },
        CreateValue {
            resource_id: 1,
            resource_instance_id: None,
            value: integer(600),
        },
        CreateValue {
            resource_id: 7,
            resource_instance_id: None,
            value: string("U"),
        },
    ];
    let r = api
        .create(CreateRequest {
            endpoint: ep.clone(),
            path: "/1".into(),
            instance_id: Some(5),
            values: values.clone(),
            content_format: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.location, "/1/5");
    assert_eq!(dev.objects().value("/1/5/1"), Some(&Value::Integer(600)));
    let r = api
        .create(CreateRequest {
            endpoint: ep.clone(),
            path: "/1".into(),
            instance_id: None,
            values,
            content_format: 11542,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.location, "/1/1", "the device picked the first free id");
    assert!(dev.objects().has_instance("/1/1"));

    // Discover shows the new instance and, after Write-Attributes, its attributes.
    let attrs = Attributes {
        pmin: Some(10),
        pmax: Some(60),
        gt: Some(1.5),
        ..Default::default()
    };
    api.write_attributes(WriteAttributesRequest {
        endpoint: ep.clone(),
        path: "/1/5/1".into(),
        attributes: Some(attrs),
    })
    .await
    .unwrap();
    let d = api
        .discover(DiscoverRequest {
            endpoint: ep.clone(),
            path: "/1/5".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let link = d
        .links
        .iter()
        .find(|l| l.path == "/1/5/1")
        .expect("link of /1/5/1");
    assert_eq!(link.attributes.get("pmin").map(String::as_str), Some("10"));
    assert_eq!(link.attributes.get("gt").map(String::as_str), Some("1.5"));
    assert!(d.links.iter().any(|l| l.path == "/1/5"));
    let d = api
        .discover(DiscoverRequest {
            endpoint: ep.clone(),
            path: "/3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let volts = d
        .links
        .iter()
        .find(|l| l.path == "/3/0/7")
        .expect("link of /3/0/7");
    assert_eq!(volts.attributes.get("dim").map(String::as_str), Some("2"));
    // Bad attributes are refused by the node, nothing reaches the device.
    let bad = Attributes {
        pmin: Some(70),
        pmax: Some(60),
        ..Default::default()
    };
    let err = api
        .write_attributes(WriteAttributesRequest {
            endpoint: ep.clone(),
            path: "/1/5/1".into(),
            attributes: Some(bad),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Delete, then the instance is gone: a second Delete is the device's 4.04 → NOT_FOUND.
    let r = api
        .delete(DeleteRequest {
            endpoint: ep.clone(),
            path: "/1/5".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coap_code, "2.02");
    assert!(!dev.objects().has_instance("/1/5"));
    let err = api
        .delete(DeleteRequest {
            endpoint: ep.clone(),
            path: "/1/5".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = api
        .delete(DeleteRequest {
            endpoint: ep.clone(),
            path: "/1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "Delete of an object is refused by the node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_firmware_goes_block_wise_both_ways() {
    let Setup {
        mut api,
        dev,
        ep,
        _node,
        _gw,
    } = setup("sim-fw").await;
    let firmware: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let opaque = Some(lwm2m_proto::v1::Value {
        kind: Some(value::Kind::OpaqueValue(firmware.clone())),
    });
    let r = api
        .write(WriteRequest {
            endpoint: ep.clone(),
            path: "/5/0/0".into(),
            mode: Mode::Replace as i32,
            values: vec![pv("/5/0/0", opaque)],
            content_format: 42,
            text_plain: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.coap_code, "2.04");
    assert_eq!(
        dev.objects().value("/5/0/0"),
        Some(&Value::Opaque(firmware.clone())),
        "Block1 upload reassembled on the device"
    );

    // Read it back: the device answers in 1 KiB Block2 blocks, the node reassembles.
    let r = api
        .read(ReadRequest {
            endpoint: ep.clone(),
            path: "/5/0/0".into(),
            content_format: 42,
            text_plain: false,
        })
        .await
        .unwrap()
        .into_inner();
    let Some(content::Node::Resource(res)) = r.content.unwrap().node else {
        panic!("not a resource")
    };
    assert_eq!(
        res.value.unwrap().kind,
        Some(value::Kind::OpaqueValue(firmware))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_beyond_the_configured_limit_get_a_clear_error() {
    let svc = Services::get();
    let node = start_node(
        &svc,
        &unique("node"),
        free_udp_port(),
        &["--max-transfer", "4096"],
    );
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-limit");
    let dev = SimDevice::start(sim(&ep, &node)).await.unwrap();
    dev.register().await.unwrap();
    let big = Some(lwm2m_proto::v1::Value {
        kind: Some(value::Kind::OpaqueValue(vec![7; 10_000])),
    });
    let err = api
        .write(WriteRequest {
            endpoint: ep.clone(),
            path: "/5/0/0".into(),
            mode: Mode::Replace as i32,
            values: vec![pv("/5/0/0", big)],
            content_format: 42,
            text_plain: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("4096 byte transfer limit"),
        "{}",
        err.message()
    );
    assert_eq!(dev.objects().value("/5/0/0"), None, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_and_write_composite_in_senml_json_and_cbor() {
    let Setup {
        mut api,
        dev,
        ep,
        _node,
        _gw,
    } = setup("sim-composite").await;
    for (i, cf) in [110u32, 112].into_iter().enumerate() {
        let tz = format!("Composite/{i}");
        let r = api
            .write_composite(WriteCompositeRequest {
                endpoint: ep.clone(),
                values: vec![
                    pv("/3/0/15", string(&tz)),
                    pv("/1/0/1", integer(900 + i as i64)),
                ],
                content_format: cf,
            })
            .await
            .unwrap_or_else(|e| panic!("format {cf}: {e:?}"))
            .into_inner();
        assert_eq!(r.coap_code, "2.04");
        assert_eq!(
            dev.objects().value("/3/0/15"),
            Some(&Value::String(tz.clone()))
        );
        assert_eq!(
            dev.objects().value("/1/0/1"),
            Some(&Value::Integer(900 + i as i64))
        );

        let r = api
            .read_composite(ReadCompositeRequest {
                endpoint: ep.clone(),
                paths: vec!["/3/0/15".into(), "/1/0".into()],
                content_format: cf,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.content_format, cf);
        let got: Vec<(String, Option<value::Kind>)> = r
            .values
            .into_iter()
            .map(|v| (v.path, v.value.and_then(|v| v.kind)))
            .collect();
        assert!(
            got.contains(&("/3/0/15".into(), Some(value::Kind::StringValue(tz)))),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                "/1/0/1".into(),
                Some(value::Kind::IntegerValue(900 + i as i64))
            )),
            "{got:?}"
        );
        assert!(
            got.contains(&("/1/0/7".into(), Some(value::Kind::StringValue("U".into())))),
            "{got:?}"
        );
        assert!(
            got.iter()
                .all(|(p, _)| p.starts_with("/3/0/15") || p.starts_with("/1/0/")),
            "{got:?}"
        );
    }
    let err = api
        .read_composite(ReadCompositeRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/0".into()],
            content_format: 11542,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::Unimplemented,
        "composite needs SenML: {err:?}"
    );
    let err = api
        .read_composite(ReadCompositeRequest {
            endpoint: ep.clone(),
            paths: vec![],
            content_format: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_content_format_is_refused_by_name() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("sim-ct");
    let mut cfg = sim(&ep, &node);
    cfg.links = "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>".into();
    let dev = SimDevice::start(cfg).await.unwrap();
    dev.register().await.unwrap();
    let err = api
        .read(ReadRequest {
            endpoint: ep.clone(),
            path: "/3/0".into(),
            content_format: 112,
            text_plain: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(
        err.message().contains("did not declare content format 112"),
        "{}",
        err.message()
    );
    assert_eq!(dev.reads_answered(), 0, "nothing was sent");
    // Declared TLV and the always-available text/plain work.
    api.read(ReadRequest {
        endpoint: ep.clone(),
        path: "/3/0".into(),
        content_format: 11542,
        text_plain: false,
    })
    .await
    .unwrap();
    api.read(ReadRequest {
        endpoint: ep.clone(),
        path: "/3/0/0".into(),
        content_format: 0,
        text_plain: true,
    })
    .await
    .unwrap();
}

/// A device that registers from a raw socket and answers every request with 2.05 and a payload
/// that is not valid TLV.
async fn garbage_device(
    endpoint: &str,
    server: std::net::SocketAddr,
) -> tokio::task::JoinHandle<()> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("ep={endpoint}");
    sock.send_to(&register_packet(1, &[&ep], b"</3/0>"), server)
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        coap_lite::Packet::from_bytes(&buf[..n])
            .unwrap()
            .header
            .code
            .to_string(),
        "2.01"
    );
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok(Ok((n, from))) =
                tokio::time::timeout(std::time::Duration::from_secs(20), sock.recv_from(&mut buf))
                    .await
            else {
                return;
            };
            let Ok(req) = coap_lite::Packet::from_bytes(&buf[..n]) else {
                continue;
            };
            let mut resp = coap_lite::Packet::new();
            resp.header
                .set_type(coap_lite::MessageType::Acknowledgement);
            resp.header.message_id = req.header.message_id;
            resp.set_token(req.get_token().to_vec());
            resp.header.code = coap_lite::MessageClass::Response(coap_lite::ResponseType::Content);
            resp.add_option(coap_lite::CoapOption::ContentFormat, vec![0x2d, 0x16]); // 11542 TLV
            resp.payload = vec![0xff, 0xff, 0x13];
            let _ = sock.send_to(&resp.to_bytes().unwrap(), from).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_answering_garbage_gives_a_clear_error_and_the_node_keeps_serving() {
    let Setup {
        mut api,
        dev,
        ep,
        _node,
        _gw,
    } = setup("sim-sane").await;
    let node_addr = dev.config.server;
    let bad = unique("garbage");
    let _device = garbage_device(&bad, node_addr).await;
    let err = api
        .read(ReadRequest {
            endpoint: bad.clone(),
            path: "/3/0".into(),
            content_format: 0,
            text_plain: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(
        err.message().contains("TLV") || err.message().contains("tlv"),
        "the error names the format: {}",
        err.message()
    );
    assert_eq!(err.metadata().get("lwm2m-coap-code").unwrap(), "2.05");
    // The node keeps serving other devices.
    let r = api
        .read(ReadRequest {
            endpoint: ep.clone(),
            path: "/3/0/0".into(),
            content_format: 0,
            text_plain: false,
        })
        .await
        .unwrap();
    assert_eq!(r.into_inner().coap_code, "2.05");
}
