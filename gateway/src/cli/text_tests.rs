//! Exact-output tests of the human formats.

use super::*;
use lwm2m_proto::v1::{InstanceContent, ObjectContent, ObjectLinkValue, ResourceInstanceContent};

fn v(kind: Kind) -> Option<Value> {
    Some(Value { kind: Some(kind) })
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

/// 2024-05-01T12:00:00Z
const T0: i64 = 1_714_564_800;

fn reg(endpoint: &str, id: &str) -> Registration {
    Registration {
        endpoint: endpoint.into(),
        registration_id: id.into(),
        ..Default::default()
    }
}

fn single(id: u32, value: Option<Value>) -> ResourceContent {
    ResourceContent {
        id,
        value,
        ..Default::default()
    }
}

#[test]
fn typed_values() {
    let t = |k| value_text(&v(k).unwrap());
    assert_eq!(
        t(Kind::StringValue("Open \"Mobile\"".into())),
        r#""Open \"Mobile\"""#
    );
    assert_eq!(t(Kind::IntegerValue(-42)), "-42");
    assert_eq!(t(Kind::UnsignedValue(u64::MAX)), "18446744073709551615");
    assert_eq!(t(Kind::FloatValue(1.0)), "1.0");
    assert_eq!(t(Kind::FloatValue(-0.25)), "-0.25");
    assert_eq!(t(Kind::BooleanValue(true)), "true");
    assert_eq!(t(Kind::OpaqueValue(vec![0xde, 0xad, 0x01])), "0xdead01");
    assert_eq!(t(Kind::TimeValue(T0)), "2024-05-01T12:00:00Z");
    assert_eq!(
        t(Kind::ObjlnkValue(ObjectLinkValue {
            object_id: 3,
            instance_id: 0
        })),
        "3:0"
    );
    assert_eq!(value_text(&Value::default()), "<no value>");
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(
        rfc3339(&Timestamp {
            seconds: T0,
            nanos: 0
        }),
        "2024-05-01T12:00:00Z"
    );
    assert_eq!(
        rfc3339(&Timestamp {
            seconds: T0,
            nanos: 500_000_000
        }),
        "2024-05-01T12:00:00.500Z"
    );
    assert_eq!(opt_rfc3339(None), "-");
}

#[test]
fn instance_tree_is_aligned_and_uses_the_read_path() {
    let content = Content {
        node: Some(Node::Instance(InstanceContent {
            id: 0,
            resources: vec![
                single(0, v(Kind::StringValue("Open Mobile Alliance".into()))),
                ResourceContent {
                    id: 11,
                    multiple: true,
                    instances: vec![ResourceInstanceContent {
                        id: 0,
                        value: v(Kind::IntegerValue(0)),
                    }],
                    ..Default::default()
                },
                ResourceContent {
                    id: 7,
                    multiple: true,
                    ..Default::default()
                },
                single(13, v(Kind::TimeValue(T0))),
            ],
        })),
    };
    assert_eq!(
        render_content("/3/0", Some(&content)),
        "/3/0/0     \"Open Mobile Alliance\"\n\
         /3/0/11/0  0\n\
         /3/0/7     []\n\
         /3/0/13    2024-05-01T12:00:00Z\n"
    );
}

#[test]
fn object_tree_carries_its_own_ids() {
    let inst = |id, b| InstanceContent {
        id,
        resources: vec![single(1, v(Kind::BooleanValue(b)))],
    };
    let content = Content {
        node: Some(Node::Object(ObjectContent {
            id: 1,
            instances: vec![inst(0, true), inst(1, false)],
        })),
    };
    assert_eq!(
        render_content("/1", Some(&content)),
        "/1/0/1  true\n/1/1/1  false\n"
    );
}

#[test]
fn resource_and_resource_instance_take_parents_from_the_path() {
    let r = Content {
        node: Some(Node::Resource(single(9, v(Kind::UnsignedValue(87))))),
    };
    assert_eq!(render_content("/3/0/9", Some(&r)), "/3/0/9  87\n");
    let ri = Content {
        node: Some(Node::ResourceInstance(ResourceInstanceContent {
            id: 2,
            value: v(Kind::OpaqueValue(vec![0xff])),
        })),
    };
    assert_eq!(render_content("/3/0/11/2", Some(&ri)), "/3/0/11/2  0xff\n");
    assert_eq!(render_content("/", Some(&ri)), "/?/?/?/2  0xff\n");
}

#[test]
fn empty_read() {
    assert_eq!(render_content("/5", None), "/5  (empty)\n");
    let empty = Content {
        node: Some(Node::Object(ObjectContent {
            id: 5,
            instances: vec![],
        })),
    };
    assert_eq!(render_content("/5", Some(&empty)), "/5  (empty)\n");
}

#[test]
fn table_pads_all_but_the_last_column() {
    let rows = vec![
        vec!["é-dev".to_string(), "1".to_string()],
        vec!["x".to_string(), "22".to_string()],
    ];
    assert_eq!(
        table(&["NAME", "N"], &rows),
        "NAME   N\né-dev  1\nx      22\n"
    );
    assert_eq!(table(&["A", "B"], &[]), "A  B\n");
}

#[test]
fn list_table() {
    let mut a = reg("dev-1", "r1");
    a.lwm2m_version = "1.1".into();
    a.binding = "UQ".into();
    a.lifetime_seconds = 300;
    a.address = "10.0.0.5:5683".into();
    a.owner_node = "node-a".into();
    a.expires_at = ts(T0);
    let mut b = reg("sensor-long-name", "r22");
    b.lwm2m_version = "1.0".into();
    b.lifetime_seconds = 86400;
    b.owner_node = "node-b".into();
    assert_eq!(
        registration_table(&[a, b]),
        "ENDPOINT          REG ID  VERSION  BINDING  LIFETIME  ADDRESS        NODE    EXPIRES\n\
         dev-1             r1      1.1      UQ       300s      10.0.0.5:5683  node-a  2024-05-01T12:00:00Z\n\
         sensor-long-name  r22     1.0      -        86400s    -              node-b  -\n"
    );
}

#[test]
fn details_view() {
    let mut r = reg("dev-1", "r1");
    r.lwm2m_version = "1.1".into();
    r.lifetime_seconds = 60;
    r.address = "10.0.0.5:5683".into();
    r.owner_node = "node-a".into();
    r.root_path = "/".into();
    r.supported_content_formats = vec![110, 11542];
    r.additional_attributes.insert("apn".into(), "iot".into());
    r.registered_at = ts(T0);
    r.objects = vec![
        ObjectLink {
            object_id: 1,
            instance_id: Some(0),
            version: String::new(),
        },
        ObjectLink {
            object_id: 3,
            instance_id: None,
            version: "1.1".into(),
        },
    ];
    assert_eq!(
        registration_details(&r),
        "endpoint:        dev-1\n\
         registration id: r1\n\
         lwm2m version:   1.1\n\
         binding:         U (default)\n\
         queue mode:      false\n\
         sms number:      -\n\
         address:         10.0.0.5:5683\n\
         security:        none (plain CoAP)\n\
         owner node:      node-a\n\
         root path:       /\n\
         lifetime:        60s\n\
         registered at:   2024-05-01T12:00:00Z\n\
         last update:     -\n\
         expires at:      -\n\
         content formats: 110, 11542\n\
         attributes:      apn=iot\n\
         objects (2):\n  </1/0>\n  </3>;ver=1.1\n"
    );
    r.psk_identity = "dev-1-id".into();
    assert!(registration_details(&r).contains("security:        DTLS psk identity dev-1-id\n"));
}

#[test]
fn event_lines() {
    let mut r = reg("dev-1", "r2");
    r.owner_node = "node-a".into();
    let ev = RegistrationEvent {
        kind: EventKind::New as i32,
        registration: Some(r),
        event_id: "e1".into(),
        time: ts(T0),
        sequence: 42,
        replaced_registration_id: "r1".into(),
    };
    assert_eq!(
        event_line(&ev),
        "42  NEW     dev-1  r2  node-a  2024-05-01T12:00:00Z  replaces r1\n"
    );
    let bare = RegistrationEvent {
        kind: 9,
        sequence: 7,
        ..Default::default()
    };
    assert_eq!(event_line(&bare), "7  KIND_9  -  -  -  -\n");
}

fn link(path: &str, attrs: &[(&str, &str)]) -> DiscoveredLink {
    DiscoveredLink {
        path: path.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn management_outcome_lines() {
    assert_eq!(ok_line("2.04"), "OK (2.04)\n");
    assert_eq!(ok_line(""), "OK\n");
    assert_eq!(created_line("/3303/1", "2.01"), "created /3303/1 (2.01)\n");
    assert_eq!(created_line("", "2.01"), "created (2.01)\n");
}

#[test]
fn discover_links_one_per_line_in_attribute_order() {
    let links = [
        link("/3/0", &[]),
        link("/3/0/7", &[("pmin", "10"), ("dim", "2")]),
        link(
            "/3/0/9",
            &[("zz", ""), ("pmax", "60"), ("pmin", "5"), ("ab", "1")],
        ),
    ];
    assert_eq!(
        discover_lines("/3/0", &links),
        "</3/0>\n</3/0/7>;dim=2;pmin=10\n</3/0/9>;pmin=5;pmax=60;ab=1;zz\n"
    );
    assert_eq!(discover_lines("/4", &[]), "/4  (no links)\n");
}
