//! Exact tests of value typing, paths and Execute arguments.

use super::*;

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn s(text: &str) -> Value {
    v(Kind::StringValue(text.into()))
}

fn items(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn inference() {
    assert_eq!(infer("42"), v(Kind::IntegerValue(42)));
    assert_eq!(infer("-7"), v(Kind::IntegerValue(-7)));
    assert_eq!(infer("21.5"), v(Kind::FloatValue(21.5)));
    assert_eq!(infer("-0.5"), v(Kind::FloatValue(-0.5)));
    assert_eq!(infer("true"), v(Kind::BooleanValue(true)));
    assert_eq!(infer("false"), v(Kind::BooleanValue(false)));
    // Not inferred: no '.', other spellings, past i64, hex, links and times stay strings.
    assert_eq!(infer("1e3"), s("1e3"));
    assert_eq!(infer("True"), s("True"));
    assert_eq!(infer("9223372036854775808"), s("9223372036854775808"));
    assert_eq!(infer("+01:00"), s("+01:00"));
    assert_eq!(infer("0x0a"), s("0x0a"));
    assert_eq!(infer("3:0"), s("3:0"));
    assert_eq!(infer("1.2.3"), s("1.2.3"));
    assert_eq!(infer(""), s(""));
    assert_eq!(parse_value("12", None), Ok(v(Kind::IntegerValue(12))));
}

#[test]
fn explicit_types() {
    let p = parse_value;
    assert_eq!(p("42", Some(ValueType::String)), Ok(s("42")));
    assert_eq!(
        p("-42", Some(ValueType::Integer)),
        Ok(v(Kind::IntegerValue(-42)))
    );
    assert_eq!(
        p("18446744073709551615", Some(ValueType::Unsigned)),
        Ok(v(Kind::UnsignedValue(u64::MAX)))
    );
    assert_eq!(p("3", Some(ValueType::Float)), Ok(v(Kind::FloatValue(3.0))));
    assert_eq!(
        p("1", Some(ValueType::Boolean)),
        Ok(v(Kind::BooleanValue(true)))
    );
    assert_eq!(
        p("FALSE", Some(ValueType::Boolean)),
        Ok(v(Kind::BooleanValue(false)))
    );
    assert_eq!(
        p("0x0aFF", Some(ValueType::Opaque)),
        Ok(v(Kind::OpaqueValue(vec![0x0a, 0xff])))
    );
    assert_eq!(
        p("0a", Some(ValueType::Opaque)),
        Ok(v(Kind::OpaqueValue(vec![0x0a])))
    );
    assert_eq!(
        p("0x", Some(ValueType::Opaque)),
        Ok(v(Kind::OpaqueValue(vec![])))
    );
    assert_eq!(
        p("1714564800", Some(ValueType::Time)),
        Ok(v(Kind::TimeValue(1_714_564_800)))
    );
    assert_eq!(
        p("2024-05-01T14:00:00+02:00", Some(ValueType::Time)),
        Ok(v(Kind::TimeValue(1_714_564_800)))
    );
    assert_eq!(
        p("3:0", Some(ValueType::Objlnk)),
        Ok(v(Kind::ObjlnkValue(ObjectLinkValue {
            object_id: 3,
            instance_id: 0
        })))
    );
}

#[test]
fn explicit_type_errors() {
    let p = parse_value;
    assert_eq!(
        p("1.5", Some(ValueType::Integer)),
        Err("\"1.5\" is not an integer".to_string())
    );
    assert_eq!(
        p("-1", Some(ValueType::Unsigned)),
        Err("\"-1\" is not an unsigned integer".to_string())
    );
    assert!(p("inf", Some(ValueType::Float)).is_err());
    assert!(p("yes", Some(ValueType::Boolean)).is_err());
    assert_eq!(
        p("0xabc", Some(ValueType::Opaque)),
        Err("\"0xabc\" is not hex bytes".to_string())
    );
    assert!(p("0xzz", Some(ValueType::Opaque)).is_err());
    assert!(p("0xé0", Some(ValueType::Opaque)).is_err());
    assert!(p("yesterday", Some(ValueType::Time)).is_err());
    assert!(p("3", Some(ValueType::Objlnk)).is_err());
    assert!(p("3:70000", Some(ValueType::Objlnk)).is_err());
}

#[test]
fn paths() {
    assert_eq!(parse_path("/3"), Ok(vec![3]));
    assert_eq!(parse_path("/3/0/11/0"), Ok(vec![3, 0, 11, 0]));
    for bad in ["", "/", "3/0", "/3/", "/3//0", "/3/0/1/2/3", "/a", "/65536"] {
        assert!(parse_path(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn write_values_with_paths_and_bare() {
    let pv = |path: &str, value: Value| PathValue {
        path: path.into(),
        value: Some(value),
    };
    assert_eq!(
        write_values(
            "/3/0",
            &items(&["/3/0/14=+01:00", "/3/0/13=1714564800"]),
            None
        ),
        Ok(vec![
            pv("/3/0/14", s("+01:00")),
            pv("/3/0/13", v(Kind::IntegerValue(1_714_564_800)))
        ])
    );
    // The value is everything after the first '='.
    assert_eq!(
        write_values("/3/0/15", &items(&["/3/0/15=a=b"]), None),
        Ok(vec![pv("/3/0/15", s("a=b"))])
    );
    assert_eq!(
        write_values("/3/0/14", &items(&["+01:00"]), None),
        Ok(vec![pv("/3/0/14", s("+01:00"))])
    );
    assert_eq!(
        write_values("/1/0/1", &items(&["300"]), Some(ValueType::Unsigned)),
        Ok(vec![pv("/1/0/1", v(Kind::UnsignedValue(300)))])
    );
    assert_eq!(
        write_values("/3/0/7", &items(&["/3/0/7/0=5", "/3/0/7/1=6"]), None),
        Ok(vec![
            pv("/3/0/7/0", v(Kind::IntegerValue(5))),
            pv("/3/0/7/1", v(Kind::IntegerValue(6)))
        ])
    );
}

#[test]
fn write_values_errors() {
    let err = |target: &str, list: &[&str]| write_values(target, &items(list), None).unwrap_err();
    assert!(err("/3/0", &["5"]).starts_with("\"5\": give values as PATH=VALUE"));
    assert!(err("/3/0/14", &["a", "b"]).starts_with("\"a\": give values as PATH=VALUE"));
    assert_eq!(
        err("/3/0", &["/4/0/1=2"]),
        "/4/0/1 is not a resource or resource instance at or below /3/0"
    );
    assert_eq!(
        err("/3/0", &["/3/0=2"]),
        "/3/0 is not a resource or resource instance at or below /3/0"
    );
    assert_eq!(
        err("/3", &["/3/0/1=2"]),
        "cannot write /3: the target is an object instance, resource or resource instance"
    );
    assert!(err("3/0", &["/3/0/1=x"]).contains("is not an LwM2M path"));
    assert_eq!(
        write_values("/3/0/9", &items(&["x"]), Some(ValueType::Integer)),
        Err("/3/0/9: \"x\" is not an integer".to_string())
    );
}

#[test]
fn create_values_by_resource_id() {
    assert_eq!(
        create_values(&items(&["5700=21.5", "5701=Cel", "6/0=1"]), None),
        Ok(vec![
            CreateValue {
                resource_id: 5700,
                resource_instance_id: None,
                value: Some(v(Kind::FloatValue(21.5))),
            },
            CreateValue {
                resource_id: 5701,
                resource_instance_id: None,
                value: Some(s("Cel")),
            },
            CreateValue {
                resource_id: 6,
                resource_instance_id: Some(0),
                value: Some(v(Kind::IntegerValue(1))),
            },
        ])
    );
    assert_eq!(
        create_values(&items(&["0=0x01"]), Some(ValueType::Opaque)),
        Ok(vec![CreateValue {
            resource_id: 0,
            resource_instance_id: None,
            value: Some(v(Kind::OpaqueValue(vec![1]))),
        }])
    );
    assert_eq!(
        create_values(&items(&["5700"]), None),
        Err("\"5700\": give values as RESOURCE=VALUE or RESOURCE/INSTANCE=VALUE".to_string())
    );
    assert!(create_values(&items(&["/5700=1"]), None).is_err());
    assert!(create_values(&items(&["6/x=1"]), None).is_err());
    assert_eq!(
        create_values(&items(&["1=x"]), Some(ValueType::Boolean)),
        Err("1: \"x\" is not a boolean (true, false, 1 or 0)".to_string())
    );
}

#[test]
fn execute_arguments() {
    for ok in ["0", "0='v',1", "5='http://x/a?b=c',9=''"] {
        assert_eq!(check_execute_args(ok), Ok(()), "{ok:?}");
    }
    for bad in [
        "",
        "10",
        "a",
        "0=v",
        "0='a b'",
        "0='x",
        "0,",
        ",1",
        "0='it''s'",
    ] {
        assert!(check_execute_args(bad).is_err(), "{bad:?}");
    }
}
