use super::*;
use crate::content::{decode, CoreModel, Value};
use crate::lwm2m::options::{response, uri_path, uri_queries};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

#[test]
fn write_replace_and_partial_update() {
    let recs = vec![Record::new(p("/3/0/14"), Value::String("+01:00".into()))];
    let put = write_request(
        "/",
        &p("/3/0/14"),
        true,
        &recs,
        ContentFormat::TextPlain,
        &CoreModel,
    )
    .unwrap();
    assert_eq!(put.header.code, MessageClass::Request(RequestType::Put));
    assert_eq!(uri_path(&put).unwrap(), vec!["3", "0", "14"]);
    assert_eq!(put.payload, b"+01:00");
    assert_eq!(content_format(&put), Ok(Some(0)));

    let post = write_request(
        "/lwm2m",
        &p("/3/0"),
        false,
        &recs,
        ContentFormat::Tlv,
        &CoreModel,
    )
    .unwrap();
    assert_eq!(post.header.code, MessageClass::Request(RequestType::Post));
    assert_eq!(uri_path(&post).unwrap(), vec!["lwm2m", "3", "0"]);
    assert_eq!(
        decode(ContentFormat::Tlv, &p("/3/0"), &post.payload, &CoreModel).unwrap(),
        recs
    );
}

#[test]
fn write_refuses_bad_targets_and_values() {
    let recs = vec![Record::new(p("/3/0/14"), Value::String("x".into()))];
    assert!(matches!(
        write_request("/", &p("/3"), true, &recs, ContentFormat::Tlv, &CoreModel),
        Err(OpError::BadPath(_))
    ));
    assert!(matches!(
        write_request(
            "/",
            &p("/3/0/14"),
            false,
            &recs,
            ContentFormat::Tlv,
            &CoreModel
        ),
        Err(OpError::BadPath(_))
    ));
    assert!(matches!(
        write_request("/", &p("/1/0"), true, &recs, ContentFormat::Tlv, &CoreModel),
        Err(OpError::BadArgument(_))
    ));
    assert!(matches!(
        write_request("/", &p("/3/0"), true, &[], ContentFormat::Tlv, &CoreModel),
        Err(OpError::BadArgument(_))
    ));
    // Type mismatch with the model: a string for the integer battery level.
    let wrong = vec![Record::new(p("/3/0/9"), Value::String("full".into()))];
    assert!(matches!(
        write_request(
            "/",
            &p("/3/0/9"),
            true,
            &wrong,
            ContentFormat::Tlv,
            &CoreModel
        ),
        Err(OpError::Content(_))
    ));
}

#[test]
fn execute_delete_discover_shapes() {
    let e = execute_request("/", &p("/3/0/4"), "0='now'").unwrap();
    assert_eq!(e.header.code, MessageClass::Request(RequestType::Post));
    assert_eq!(e.payload, b"0='now'");
    assert!(execute_request("/", &p("/3/0"), "").is_err());

    let d = delete_request("/", &p("/3303/1")).unwrap();
    assert_eq!(d.header.code, MessageClass::Request(RequestType::Delete));
    assert!(delete_request("/", &p("/3303")).is_err());

    let disc = discover_request("/", &p("/3")).unwrap();
    assert_eq!(disc.header.code, MessageClass::Request(RequestType::Get));
    assert_eq!(
        crate::lwm2m::options::uint_option(&disc, CoapOption::Accept, 2),
        Ok(Some(40))
    );
}

#[test]
fn write_attributes_queries() {
    let a = Attributes {
        pmin: Some(10),
        pmax: Some(60),
        gt: Some(20.5),
        unset: vec!["st".into()],
        ..Default::default()
    };
    let w = write_attributes_request("/", &p("/3/0/9"), &a).unwrap();
    assert_eq!(w.header.code, MessageClass::Request(RequestType::Put));
    assert_eq!(
        uri_queries(&w).unwrap(),
        vec!["pmin=10", "pmax=60", "gt=20.5", "st"]
    );
    assert!(w.payload.is_empty());
    let bad = Attributes {
        pmin: Some(70),
        pmax: Some(60),
        ..Default::default()
    };
    assert!(write_attributes_request("/", &p("/3/0/9"), &bad).is_err());
    assert!(write_attributes_request("/", &p("/3/0/9"), &Attributes::default()).is_err());
    let unknown = Attributes {
        unset: vec!["foo".into()],
        ..Default::default()
    };
    assert!(write_attributes_request("/", &p("/3/0/9"), &unknown).is_err());
    let nan = Attributes {
        lt: Some(f64::NAN),
        ..Default::default()
    };
    assert!(write_attributes_request("/", &p("/3/0/9"), &nan).is_err());
}

#[test]
fn create_with_and_without_instance_id() {
    let recs = vec![
        Record::new(p("/1/5/0"), Value::Integer(5)),
        Record::new(p("/1/5/1"), Value::Integer(60)),
    ];
    let c = create_request(
        "/",
        &p("/1"),
        Some(5),
        &recs,
        ContentFormat::Tlv,
        &CoreModel,
    )
    .unwrap();
    assert_eq!(uri_path(&c).unwrap(), vec!["1"]);
    assert_eq!(
        decode(ContentFormat::Tlv, &p("/1"), &c.payload, &CoreModel).unwrap(),
        recs
    );
    let recs0 = vec![Record::new(p("/1/0/0"), Value::Integer(5))];
    let c = create_request("/", &p("/1"), None, &recs0, ContentFormat::Tlv, &CoreModel).unwrap();
    // Without an id the payload carries resources only.
    assert_eq!(
        decode(ContentFormat::Tlv, &p("/1/0"), &c.payload, &CoreModel).unwrap(),
        recs0
    );
    assert!(create_request(
        "/",
        &p("/1/0"),
        None,
        &recs0,
        ContentFormat::Tlv,
        &CoreModel
    )
    .is_err());
    assert!(create_request(
        "/",
        &p("/1"),
        Some(7),
        &recs0,
        ContentFormat::Tlv,
        &CoreModel
    )
    .is_err());
}

#[test]
fn answers() {
    let mut created = response(0x41);
    created.add_option(CoapOption::LocationPath, b"1".to_vec());
    created.add_option(CoapOption::LocationPath, b"7".to_vec());
    assert_eq!(create_location(&created, &p("/1"), None), Ok(p("/1/7")));
    assert_eq!(
        create_location(&response(0x41), &p("/1"), Some(3)),
        Ok(p("/1/3"))
    );
    assert_eq!(
        create_location(&response(0x84), &p("/1"), Some(3)),
        Err(AnswerError::Device("4.04".into()))
    );
    assert_eq!(expect_code(&response(0x44), 0x44), Ok("2.04".into()));
    assert_eq!(
        expect_code(&response(0x85), 0x44),
        Err(AnswerError::Device("4.05".into()))
    );

    let mut disc = response(0x45);
    set_content_format(&mut disc, 40);
    disc.payload = b"</3/0>;pmin=10,</3/0/0>,</3/0/7>;dim=2".to_vec();
    let (text, links) = discover_links(&disc).unwrap();
    assert_eq!(text, "</3/0>;pmin=10,</3/0/0>,</3/0/7>;dim=2");
    assert_eq!(links.len(), 3);
    assert_eq!(links[2].attribute("dim"), Some("2"));
    disc.payload = b"<3/0".to_vec();
    assert!(matches!(
        discover_links(&disc),
        Err(AnswerError::BadContent { .. })
    ));
}
