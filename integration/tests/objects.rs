//! Object definitions end to end: a node started with `--object-dir` types the values of a custom
//! object (defined by an OMA DDF file) in TLV, while a node without it returns them as Opaque (TLV
//! carries no types, LwM2M TS 1.1 Core §7.4.3) and still types them in SenML (self-describing).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lwm2m_core::content::{parse_ddf, ModelRegistry, Value};
use lwm2m_proto::v1::{content, value, ReadRequest};

/// A vendor object in the private range: resource 0 Integer, resource 1 String.
const METER_DDF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M.xsd">
  <Object ObjectType="MODefinition">
    <Name>Water Meter</Name>
    <Description1>Test object.</Description1>
    <ObjectID>32769</ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:32769</ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>1.0</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="0">
        <Name>Volume</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>Integer</Type><RangeEnumeration></RangeEnumeration><Units>l</Units>
        <Description>Litres since installation.</Description>
      </Item>
      <Item ID="1">
        <Name>Label</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>String</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>Where the meter is.</Description>
      </Item>
    </Resources>
  </Object>
</LWM2M>
"#;

/// A fresh directory holding `files` (name, contents).
fn object_dir(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("lwm2m-objects"));
    std::fs::create_dir_all(&dir).expect("create object dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write DDF");
    }
    dir
}

/// A simulated device that knows object 32769, has /32769/0, and declares it when registering.
async fn meter_device(endpoint: &str, node: &Node) -> SimDevice {
    let mut config = sim(endpoint, node);
    config.links = "</>;rt=\"oma.lwm2m\";ct=\"110 11542\",</1/0>,</3/0>,</32769/0>".into();
    config.model = Arc::new(ModelRegistry::new().with(parse_ddf(METER_DDF).expect("DDF")));
    let dev = SimDevice::start(config).await.expect("start device");
    {
        let mut objects = dev.objects();
        objects.insert("/32769/0/0", Value::Integer(1234)).unwrap();
        objects
            .insert("/32769/0/1", Value::String("cellar".into()))
            .unwrap();
    }
    dev.register().await.expect("register");
    dev
}

/// Reads /32769/0 in `content_format`; returns (content format, [(resource id, value)]).
async fn read_meter(
    api: &mut ApiClient,
    endpoint: &str,
    content_format: u32,
) -> (u32, Vec<(u32, Option<value::Kind>)>, Vec<String>) {
    let r = api
        .read(ReadRequest {
            endpoint: endpoint.into(),
            path: "/32769/0".into(),
            content_format,
            text_plain: false,
        })
        .await
        .unwrap_or_else(|e| panic!("read {endpoint} in {content_format}: {e:?}"))
        .into_inner();
    let Some(content::Node::Instance(inst)) = r.content.expect("content").node else {
        panic!("not an instance")
    };
    let values = inst
        .resources
        .iter()
        .map(|res| (res.id, res.value.as_ref().and_then(|v| v.kind.clone())))
        .collect();
    (r.content_format, values, r.notes)
}

type ApiClient =
    lwm2m_proto::v1::device_service_client::DeviceServiceClient<tonic::transport::Channel>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_dir_types_custom_objects_in_tlv() {
    let svc = Services::get();
    let dir = object_dir(&[("water-meter.xml", METER_DDF), ("README.txt", "not a DDF")]);
    let dir_arg = dir.to_str().expect("utf-8 temp dir").to_string();
    let with_dir = start_node(
        &svc,
        &unique("node-ddf"),
        free_udp_port(),
        &["--object-dir", &dir_arg],
    );
    let without = start_node(&svc, &unique("node-plain"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;

    let typed_ep = unique("sim-meter-typed");
    let _typed = meter_device(&typed_ep, &with_dir).await;
    let opaque_ep = unique("sim-meter-opaque");
    let _opaque = meter_device(&opaque_ep, &without).await;

    // The node that loaded the DDF types TLV values.
    let (cf, values, notes) = read_meter(&mut api, &typed_ep, 11542).await;
    assert_eq!(cf, 11542);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(
        values,
        vec![
            (0, Some(value::Kind::IntegerValue(1234))),
            (1, Some(value::Kind::StringValue("cellar".into()))),
        ]
    );

    // The node without it cannot: TLV carries no types, so the values come back as Opaque bytes
    // (1234 as a 2-byte big-endian integer, the string as its UTF-8 bytes).
    let (cf, values, notes) = read_meter(&mut api, &opaque_ep, 11542).await;
    assert_eq!(cf, 11542);
    assert_eq!(
        notes.len(),
        1,
        "the caller is told why the values are opaque"
    );
    assert!(notes[0].contains("object 32769 is unknown"), "{notes:?}");
    assert_eq!(
        values,
        vec![
            (0, Some(value::Kind::OpaqueValue(vec![0x04, 0xD2]))),
            (1, Some(value::Kind::OpaqueValue(b"cellar".to_vec()))),
        ]
    );

    // In SenML JSON (self-describing) the unknown object's string still reads as a string.
    let (cf, values, notes) = read_meter(&mut api, &opaque_ep, 110).await;
    assert_eq!(cf, 110);
    assert!(notes.is_empty(), "SenML carries its types: {notes:?}");
    assert_eq!(
        values[1],
        (1, Some(value::Kind::StringValue("cellar".into())))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_refuses_to_start_with_a_bad_ddf_file() {
    let svc = Services::get();
    let broken = METER_DDF.replace("<Type>Integer</Type>", "<Type>Int</Type>");
    let dir = object_dir(&[("good.xml", METER_DDF), ("broken.xml", &broken)]);
    let mut child = Command::new(binary("lwm2m-node"))
        .args([
            "--database-url",
            &svc.database_url,
            "--nats-url",
            &svc.nats_url,
        ])
        .args(["--coap-listen", &format!("127.0.0.1:{}", free_udp_port())])
        .arg("--object-dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started despite a bad object definition");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "{text}");
    assert!(text.contains("broken.xml"), "{text}");
    assert!(
        text.contains("Type \\\"Int\\\"") || text.contains("Type \"Int\""),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
