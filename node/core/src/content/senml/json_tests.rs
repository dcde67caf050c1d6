//! SenML JSON tests: spec-shaped examples, strictness, round trips.

use crate::content::testgen::{arb_object_records, sub_requests};
use crate::content::{decode, encode, ContentError, ContentFormat, CoreModel, Path, Record, Value};
use proptest::prelude::*;

const SENML: ContentFormat = ContentFormat::SenmlJson;

fn read(requested: Path, json: &str) -> Result<Vec<Record>, ContentError> {
    decode(SENML, &requested, json.as_bytes(), &CoreModel)
}

#[test]
fn decodes_spec_example_with_base_fields() {
    // Shape of the Core TS 1.1 §7.4.4 Device read example.
    let recs = read(
        Path::new_instance(3, 0),
        r#"[{"bn":"/3/0/","bt":1.7e9,"n":"0","vs":"Open Mobile Alliance"},
            {"n":"9","v":95,"t":5},{"n":"6/0","v":1},{"n":"13","v":1367491215},
            {"n":"22/0","vlo":"20:0"},{"n":"16","vs":"U"}]"#,
    )
    .unwrap();
    let got: Vec<_> = recs
        .iter()
        .map(|r| (r.path.to_string(), r.value.clone(), r.time))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "/3/0/0".into(),
                Value::String("Open Mobile Alliance".into()),
                Some(1.7e9)
            ),
            ("/3/0/9".into(), Value::Integer(95), Some(1.7e9 + 5.0)),
            ("/3/0/6/0".into(), Value::Integer(1), Some(1.7e9)),
            ("/3/0/13".into(), Value::Time(1_367_491_215), Some(1.7e9)),
            (
                "/3/0/22/0".into(),
                Value::ObjLnk {
                    object: 20,
                    instance: 0
                },
                Some(1.7e9)
            ),
            ("/3/0/16".into(), Value::String("U".into()), Some(1.7e9)),
        ]
    );
}

#[test]
fn typing_and_unknown_resources() {
    let one = |req: Path, json: &str| read(req, json).map(|mut v| v.remove(0));
    let r = one(Path::new_object(6), r#"[{"n":"/6/0/0","v":43}]"#).unwrap();
    assert_eq!((r.value, r.time), (Value::Float(43.0), None));
    assert_eq!(
        one(Path::new_object(1), r#"[{"n":"/1/0/11","v":7.0}]"#)
            .unwrap()
            .value,
        Value::Unsigned(7)
    );
    assert_eq!(
        one(Path::new_object(0), r#"[{"n":"/0/0/3","vd":"AQID_w"}]"#)
            .unwrap()
            .value,
        Value::Opaque(vec![1, 2, 3, 255])
    );
    assert_eq!(
        one(Path::new_object(0), r#"[{"n":"/0/0/3","vd":"AQID/w=="}]"#)
            .unwrap()
            .value,
        Value::Opaque(vec![1, 2, 3, 255])
    );
    let unknown = Path::new_object(3303);
    assert_eq!(
        one(unknown, r#"[{"n":"/3303/0/5700","v":21}]"#)
            .unwrap()
            .value,
        Value::Integer(21)
    );
    assert_eq!(
        one(unknown, r#"[{"n":"/3303/0/5700","v":21.5}]"#)
            .unwrap()
            .value,
        Value::Float(21.5)
    );
    assert_eq!(
        one(
            unknown,
            r#"[{"n":"/3303/0/5700","v":18446744073709551615}]"#
        )
        .unwrap()
        .value,
        Value::Unsigned(u64::MAX)
    );
    assert_eq!(
        one(unknown, r#"[{"n":"/3303/0/5701","vs":"Cel"}]"#)
            .unwrap()
            .value,
        Value::String("Cel".into())
    );
    assert_eq!(
        one(unknown, r#"[{"n":"/3303/0/5850","vb":true}]"#)
            .unwrap()
            .value,
        Value::Boolean(true)
    );
}

#[test]
fn rejects_bad_records() {
    let err = |req: Path, json: &str| read(req, json).unwrap_err();
    let dev = Path::new_instance(3, 0);
    assert_eq!(
        err(dev, r#"[{"n":"/3/1/0","vs":"x"}]"#),
        ContentError::OutsideRequested {
            format: SENML.name(),
            path: Path::new_resource(3, 1, 0),
            requested: dev
        }
    );
    for (json, needle) in [
        ("{}", "expected a JSON array"),
        ("[1]", "record 0: not a JSON object"),
        (r#"[{"n":"/3/0/9","v":1.5}]"#, "not an integer"),
        (
            r#"[{"n":"/3/0/9","vs":"1"}]"#,
            "field vs cannot carry a Integer value",
        ),
        (r#"[{"n":"/3/0/9"}]"#, "has no value field"),
        (r#"[{"n":"/3/0/9","v":1,"vs":"1"}]"#, "has both v and vs"),
        (r#"[{"n":"/3/0","v":1}]"#, "is not a resource"),
        (r#"[{"n":"3/0/9","v":1}]"#, "must start with '/'"),
        (r#"[{"n":"/3/0/9","v":1,"x_":1}]"#, "must-understand"),
        (r#"[{"bn":5,"n":"/3/0/9","v":1}]"#, "bn is not a string"),
        (r#"[{"n":"/3/0/22/0","vlo":"20"}]"#, "vlo is not"),
        ("[", "invalid JSON"),
    ] {
        let e = err(dev, json).to_string();
        assert!(
            e.starts_with("malformed application/senml+json payload") && e.contains(needle),
            "{json}: {e}"
        );
    }
}

#[test]
fn encodes_relative_names() {
    let recs = [
        Record::new(Path::new_resource(3, 0, 9), Value::Integer(95)),
        Record {
            path: Path::new_resource_instance(3, 0, 6, 1),
            value: Value::Integer(5),
            time: Some(10.0),
        },
    ];
    let bytes = encode(SENML, &recs, &Path::new_instance(3, 0), &CoreModel).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"[{"bn":"/3/0","n":"/9","v":95},{"n":"/6/1","t":10.0,"v":5}]"#
    );
    let p = Path::new_resource(3, 0, 9);
    assert_eq!(
        encode(SENML, &recs[..1], &p, &CoreModel).unwrap(),
        br#"[{"bn":"/3/0/9","v":95}]"#
    );
    let f = Path::new_resource(6, 0, 0);
    assert!(encode(
        SENML,
        &[Record::new(f, Value::Float(f64::NAN))],
        &f,
        &CoreModel
    )
    .is_err());
}

proptest! {
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(SENML, &Path::ROOT, &bytes, &CoreModel);
    }

    #[test]
    fn decoder_never_panics_on_senml_like_json(
        recs in proptest::collection::vec(proptest::collection::vec((
            prop_oneof![Just("bn"), Just("n"), Just("bt"), Just("t"), Just("v"), Just("vs"), Just("vb"), Just("vd"), Just("vlo")],
            prop_oneof![Just("\"/3/0/\"".to_string()), "\"[/0-9a:]{0,8}\"", "-?[0-9]{1,22}(\\.[0-9]{1,3})?(e[0-9]{1,3})?", Just("true".to_string()), Just("null".to_string())],
        ), 0..5), 0..5)
    ) {
        let json = format!("[{}]", recs.iter().map(|r| format!("{{{}}}", r.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))).collect::<Vec<_>>().join(","));
        let _ = decode(SENML, &Path::new_object(3), json.as_bytes(), &CoreModel);
    }

    #[test]
    fn round_trip(recs in arb_object_records(true), as_root in any::<bool>()) {
        for (requested, expected) in sub_requests(&recs) {
            let requested = if as_root { Path::ROOT } else { requested };
            let bytes = encode(SENML, &expected, &requested, &CoreModel).unwrap();
            prop_assert_eq!(decode(SENML, &requested, &bytes, &CoreModel).unwrap(), expected);
        }
    }
}
