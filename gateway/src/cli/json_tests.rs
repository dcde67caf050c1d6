//! Exact-output tests of the `--json` mapping.

use super::*;
use lwm2m_proto::v1::registration_event::Kind as EventKind;
use lwm2m_proto::v1::ObjectLinkValue;

/// 2024-05-01T12:00:00Z
const T0: i64 = 1_714_564_800;

fn v(kind: Kind) -> Option<Value> {
    Some(Value { kind: Some(kind) })
}

#[test]
fn values_keep_their_type() {
    let j = |k| value_json(&v(k).unwrap());
    assert_eq!(
        j(Kind::StringValue("x".into())),
        json!({"type": "string", "value": "x"})
    );
    assert_eq!(
        j(Kind::IntegerValue(-1)),
        json!({"type": "integer", "value": -1})
    );
    assert_eq!(
        j(Kind::UnsignedValue(u64::MAX)),
        json!({"type": "unsigned", "value": u64::MAX})
    );
    assert_eq!(
        j(Kind::FloatValue(2.5)),
        json!({"type": "float", "value": 2.5})
    );
    assert_eq!(
        j(Kind::FloatValue(f64::NAN)),
        json!({"type": "float", "value": null})
    );
    assert_eq!(
        j(Kind::OpaqueValue(vec![1, 0xab])),
        json!({"type": "opaque", "value": "01ab"})
    );
    assert_eq!(
        j(Kind::TimeValue(T0)),
        json!({"type": "time", "value": "2024-05-01T12:00:00Z"})
    );
    assert_eq!(
        j(Kind::ObjlnkValue(ObjectLinkValue {
            object_id: 3,
            instance_id: 1
        })),
        json!({"type": "objlnk", "value": "3:1"})
    );
    assert_eq!(
        value_json(&Value::default()),
        json!({"type": "none", "value": null})
    );
}

#[test]
fn read_document_prefers_the_metadata_coap_code() {
    let resp = ReadResponse {
        content: Some(Content {
            node: Some(Node::Instance(InstanceContent {
                id: 0,
                resources: vec![
                    ResourceContent {
                        id: 0,
                        value: v(Kind::StringValue("OMA".into())),
                        ..Default::default()
                    },
                    ResourceContent {
                        id: 11,
                        multiple: true,
                        instances: vec![ResourceInstanceContent {
                            id: 0,
                            value: v(Kind::IntegerValue(0)),
                        }],
                        ..Default::default()
                    },
                ],
            })),
        }),
        coap_code: String::new(),
        content_format: 110,
        notes: vec![],
    };
    let expected = json!({
        "endpoint": "dev-1",
        "path": "/3/0",
        "coap_code": "2.05",
        "content_format": 110,
        "content": {"instance": {"id": 0, "resources": [
            {"id": 0, "multiple": false, "value": {"type": "string", "value": "OMA"}},
            {"id": 11, "multiple": true, "instances": [{"id": 0, "value": {"type": "integer", "value": 0}}]},
        ]}},
        "notes": [],
    });
    assert_eq!(read_json("dev-1", "/3/0", &resp, Some("2.05")), expected);
    assert_eq!(
        read_json("dev-1", "/3/0", &resp, None)["coap_code"],
        json!("")
    );
    let empty = ReadResponse::default();
    assert_eq!(read_json("d", "/5", &empty, None)["content"], Json::Null);
}

#[test]
fn registration_has_every_field() {
    let mut r = Registration {
        endpoint: "dev-1".into(),
        registration_id: "r1".into(),
        lwm2m_version: "1.1".into(),
        lifetime_seconds: 60,
        binding: "U".into(),
        queue_mode: true,
        address: "10.0.0.5:5683".into(),
        psk_identity: "dev-1-id".into(),
        owner_node: "node-a".into(),
        root_path: "/".into(),
        objects: vec![ObjectLink {
            object_id: 3,
            instance_id: Some(0),
            version: "1.1".into(),
        }],
        supported_content_formats: vec![110],
        object_links: "</3/0>".into(),
        registered_at: Some(Timestamp {
            seconds: T0,
            nanos: 0,
        }),
        ..Default::default()
    };
    r.additional_attributes.insert("apn".into(), "iot".into());
    assert_eq!(
        registration_json(&r),
        json!({
            "endpoint": "dev-1", "registration_id": "r1", "lwm2m_version": "1.1",
            "lifetime_seconds": 60, "binding": "U", "queue_mode": true, "sms_number": "",
            "address": "10.0.0.5:5683", "psk_identity": "dev-1-id", "owner_node": "node-a", "root_path": "/",
            "objects": [{"path": "/3/0", "object_id": 3, "instance_id": 0, "version": "1.1"}],
            "supported_content_formats": [110], "object_links": "</3/0>",
            "additional_attributes": {"apn": "iot"},
            "registered_at": "2024-05-01T12:00:00Z", "last_update": null, "expires_at": null,
        })
    );
}

#[test]
fn list_and_event_documents() {
    let r = Registration {
        endpoint: "dev-1".into(),
        ..Default::default()
    };
    let page = list_json(std::slice::from_ref(&r), Some("tok"));
    assert_eq!(page["next_page_token"], json!("tok"));
    assert_eq!(page["registrations"][0]["endpoint"], json!("dev-1"));
    assert_eq!(list_json(&[], Some(""))["next_page_token"], Json::Null);

    let ev = RegistrationEvent {
        kind: EventKind::Expire as i32,
        registration: Some(r.clone()),
        event_id: "e9".into(),
        time: Some(Timestamp {
            seconds: T0,
            nanos: 0,
        }),
        sequence: 9,
        replaced_registration_id: String::new(),
    };
    let j = event_json(&ev);
    assert_eq!(j["registration"], registration_json(&r));
    let mut top = j.as_object().unwrap().clone();
    top.remove("registration");
    assert_eq!(
        Json::Object(top),
        json!({"sequence": 9, "kind": "EXPIRE", "event_id": "e9",
               "time": "2024-05-01T12:00:00Z", "replaced_registration_id": null})
    );
    // One line per event in `watch --json`.
    assert!(!j.to_string().contains('\n'));
}

#[test]
fn management_documents() {
    assert_eq!(
        outcome_json("dev-1", "/3/0/14", "2.04"),
        json!({"endpoint": "dev-1", "path": "/3/0/14", "coap_code": "2.04"})
    );
    assert_eq!(
        create_json("dev-1", "/3303", "2.01", "/3303/1"),
        json!({"endpoint": "dev-1", "path": "/3303", "coap_code": "2.01", "location": "/3303/1"})
    );
    assert_eq!(
        create_json("d", "/3303", "2.01", "")["location"],
        Json::Null
    );
}

#[test]
fn discover_document() {
    let link = |path: &str, attrs: &[(&str, &str)]| lwm2m_proto::v1::DiscoveredLink {
        path: path.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let resp = DiscoverResponse {
        coap_code: "2.05".into(),
        links: vec![
            link("/3/0", &[]),
            link("/3/0/7", &[("dim", "2"), ("pmin", "10")]),
        ],
        link_format: "</3/0>,</3/0/7>;dim=2;pmin=10".into(),
    };
    assert_eq!(
        discover_json("dev-1", "/3/0", "2.05", &resp),
        json!({
            "endpoint": "dev-1",
            "path": "/3/0",
            "coap_code": "2.05",
            "links": [
                {"path": "/3/0", "attributes": {}},
                {"path": "/3/0/7", "attributes": {"dim": "2", "pmin": "10"}},
            ],
            "link_format": "</3/0>,</3/0/7>;dim=2;pmin=10",
        })
    );
}
