use super::*;
use coap_lite::CoapOption;

fn request(method: RequestType, path: &[&str], queries: &[&str], payload: &str) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    for s in path {
        p.add_option(CoapOption::UriPath, s.as_bytes().to_vec());
    }
    for q in queries {
        p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
    }
    p.payload = payload.as_bytes().to_vec();
    p
}

fn register(queries: &[&str], payload: &str) -> Result<RegisterRequest, RdError> {
    match parse_rd_request(&request(RequestType::Post, &["rd"], queries, payload)) {
        Some(Ok(RdRequest::Register(r))) => Ok(r),
        Some(Ok(other)) => panic!("not a register: {other:?}"),
        Some(Err(e)) => Err(e),
        None => panic!("not an rd request"),
    }
}

#[test]
fn full_register() {
    let r = register(
        &[
            "ep=urn:imei:1234",
            "lt=300",
            "lwm2m=1.1",
            "b=UQ",
            "sms=+123",
            "Q",
            "apn=x",
        ],
        "</>;rt=\"oma.lwm2m\";ct=\"60 110\",</1/0>,</3/0>",
    )
    .unwrap();
    assert_eq!(r.endpoint, "urn:imei:1234");
    assert_eq!(r.lifetime, 300);
    assert_eq!(r.version, Lwm2mVersion::V1_1);
    assert_eq!(r.binding, "UQ");
    assert!(r.queue_mode);
    assert_eq!(r.sms.as_deref(), Some("+123"));
    assert_eq!(r.attributes, vec![("apn".to_string(), "x".to_string())]);
    assert_eq!(r.links.content_formats, vec![60, 110]);
    assert_eq!(r.links.objects.len(), 2);
}

#[test]
fn minimal_register_uses_defaults() {
    let r = register(&["ep=dev"], "</3/0>").unwrap();
    assert_eq!(r.lifetime, DEFAULT_LIFETIME);
    assert_eq!(r.version, Lwm2mVersion::V1_0);
    assert_eq!(r.binding, "");
    assert!(!r.queue_mode);
    assert_eq!(r.links.root_path, "/");
}

#[test]
fn missing_or_bad_parameters_are_bad_requests() {
    assert!(matches!(
        register(&["lt=60"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep="], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "lt=x"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "lt=0"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "lt=+5"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "ep=b"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "b=X"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a", "Q=1"], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
    assert!(matches!(
        register(&["ep=a"], "<3/0"),
        Err(RdError::BadRequest(_))
    ));
    let long = format!("ep={}", "x".repeat(MAX_ENDPOINT_LEN + 1));
    assert!(matches!(
        register(&[&long], "</3/0>"),
        Err(RdError::BadRequest(_))
    ));
}

#[test]
fn unknown_version_is_precondition_failed() {
    let e = register(&["ep=a", "lwm2m=2.0"], "</3/0>").unwrap_err();
    assert_eq!(e, RdError::UnsupportedVersion("2.0".into()));
    assert_eq!(e.code(), 0x8C);
}

#[test]
fn wrong_content_format_is_refused() {
    let mut p = request(RequestType::Post, &["rd"], &["ep=a"], "</3/0>");
    crate::lwm2m::options::set_content_format(&mut p, 110);
    assert_eq!(
        parse_rd_request(&p),
        Some(Err(RdError::UnsupportedContentFormat(110)))
    );
}

#[test]
fn empty_update_is_valid() {
    let p = request(RequestType::Post, &["rd", "abc"], &[], "");
    assert_eq!(
        parse_rd_request(&p),
        Some(Ok(RdRequest::Update {
            reg_id: "abc".into(),
            update: UpdateRequest::default()
        }))
    );
}

#[test]
fn update_with_parameters_and_links() {
    let p = request(
        RequestType::Post,
        &["rd", "abc"],
        &["lt=60", "b=U"],
        "</3/0>,</5/0>",
    );
    let Some(Ok(RdRequest::Update { update, .. })) = parse_rd_request(&p) else {
        panic!()
    };
    assert_eq!(update.lifetime, Some(60));
    assert_eq!(update.binding.as_deref(), Some("U"));
    assert_eq!(update.links.unwrap().0.objects.len(), 2);
}

#[test]
fn deregister_and_other_paths() {
    let p = request(RequestType::Delete, &["rd", "abc"], &[], "");
    assert_eq!(
        parse_rd_request(&p),
        Some(Ok(RdRequest::Deregister {
            reg_id: "abc".into()
        }))
    );
    let p = request(RequestType::Get, &["rd"], &[], "");
    assert!(matches!(
        parse_rd_request(&p),
        Some(Err(RdError::MethodNotAllowed(_)))
    ));
    let p = request(RequestType::Post, &["rd", "a", "b"], &[], "");
    assert!(matches!(
        parse_rd_request(&p),
        Some(Err(RdError::NotFound(_)))
    ));
    let p = request(RequestType::Post, &["bs"], &[], "");
    assert_eq!(parse_rd_request(&p), None);
}

#[test]
fn version_1_0_queue_mode_comes_from_binding() {
    let r = register(&["ep=a", "b=UQ"], "</3/0>").unwrap();
    assert!(r.queue_mode);
}
