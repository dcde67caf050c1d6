//! SenML CBOR tests: exact bytes, strictness, round trips and fuzzing.

use crate::content::cbor::{to_vec, Item};
use crate::content::testgen::{arb_object_records, sub_requests};
use crate::content::{decode, encode, ContentError, ContentFormat, CoreModel, Path, Record, Value};
use proptest::prelude::*;

const SENML: ContentFormat = ContentFormat::SenmlCbor;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn read(requested: Path, h: &str) -> Result<Vec<Record>, ContentError> {
    decode(SENML, &requested, &hex(h), &CoreModel)
}

#[test]
fn decodes_integer_labels_and_base_fields() {
    // [{-2: "/3/0/", -3: 1700000000, 0: "0", 3: "Open Mobile Alliance"},
    //  {0: "9", 2: 100, 6: 5}, {0: "6/0", 2: 1}]
    let recs = read(
        Path::new_instance(3, 0),
        "83 a4 21 65 2f332f302f 22 1a6553f100 00 6130 03 74 4f70656e204d6f62696c6520416c6c69616e6365
            a3 00 6139 02 1864 06 05
            a2 00 63362f30 02 01",
    )
    .unwrap();
    let t = Some(1.7e9);
    assert_eq!(
        recs,
        vec![
            Record {
                path: Path::new_resource(3, 0, 0),
                value: Value::String("Open Mobile Alliance".into()),
                time: t
            },
            Record {
                path: Path::new_resource(3, 0, 9),
                value: Value::Integer(100),
                time: Some(1.7e9 + 5.0)
            },
            Record {
                path: Path::new_resource_instance(3, 0, 6, 0),
                value: Value::Integer(1),
                time: t
            },
        ]
    );
}

#[test]
fn decodes_each_value_label() {
    let one = |req: Path, h: &str| read(req, h).map(|mut v| v.remove(0).value);
    // Indefinite-length array and map: [_ {_ 0: "/3/0/13", 2: 1367491215}]
    assert_eq!(
        one(
            Path::new_object(3),
            "9f bf 00 672f332f302f3133 02 1a5182428f ff ff"
        ),
        Ok(Value::Time(1_367_491_215))
    );
    // {"vlo": "20:0", 0: "/3/0/22/0"}
    assert_eq!(
        one(
            Path::new_object(3),
            "81 a2 63766c6f 6432303a30 00 692f332f302f32322f30"
        ),
        Ok(Value::ObjLnk {
            object: 20,
            instance: 0
        })
    );
    // {0: "/0/0/3", 8: h'010203'}
    assert_eq!(
        one(Path::new_object(0), "81 a2 00 662f302f302f33 08 43010203"),
        Ok(Value::Opaque(vec![1, 2, 3]))
    );
    // {0: "/1/0/6", 4: true}
    assert_eq!(
        one(Path::new_object(1), "81 a2 00 662f312f302f36 04 f5"),
        Ok(Value::Boolean(true))
    );
    // Floats and unknown resources: {0: "/6/0/0", 2: 43.5}, {0: "/3303/0/5700", 2: 21}
    assert_eq!(
        one(Path::new_object(6), "81 a2 00 662f362f302f30 02 f95170"),
        Ok(Value::Float(43.5))
    );
    assert_eq!(
        one(Path::ROOT, "81 a2 00 6c2f333330332f302f35373030 02 15"),
        Ok(Value::Integer(21))
    );
    assert_eq!(
        one(Path::ROOT, "81 a2 00 6c2f333330332f302f35373030 02 f94d60"),
        Ok(Value::Float(21.5))
    );
    // Unknown labels (u = 1) are ignored.
    assert_eq!(
        one(Path::new_object(1), "81 a3 00 662f312f302f36 01 6143 04 f4"),
        Ok(Value::Boolean(false))
    );
}

#[test]
fn rejects_bad_records() {
    let dev = Path::new_instance(3, 0);
    let n9 = "00 662f332f302f39";
    for (h, needle) in [
        ("a0".to_string(), "expected a CBOR array"),
        (
            "8101".into(),
            "record 0: not a CBOR map but an unsigned integer",
        ),
        (format!("81 a3 {n9} 02 01 02 02"), "duplicate label 2"),
        (format!("81 a2 {n9} 02 f93e00"), "not an integer"),
        (
            format!("81 a2 {n9} 03 6131"),
            "field vs cannot carry a Integer value",
        ),
        (format!("81 a1 {n9}"), "has no value field"),
        (format!("81 a3 {n9} 02 01 03 6131"), "has both v and vs"),
        (
            format!("81 a3 {n9} 02 01 24 01"),
            "unsupported base value or sum",
        ),
        (format!("81 a3 {n9} 02 01 6278 5f 01"), "must-understand"),
        (format!("81 a3 {n9} 02 01 06 6131"), "t is not a number"),
        (format!("81 a3 {n9} 02 01 80 01"), "label is an array"),
        (format!("81 a2 {n9} 02 f97c00"), "not a finite number"),
        (
            format!("81 a3 {n9} 02 01 22 f97e00"),
            "time is not a finite number",
        ),
        (
            "81 a2 00 662f302f302f33 08 63616263".into(),
            "vd is not a byte string",
        ),
        ("81 a2 21 01 02 01".into(), "bn is not a text string"),
        ("81 a2 00 64332f302f 02 01".into(), "must start with '/'"),
        ("81 a2 00 642f332f30 02 01".into(), "is not a resource"),
        (format!("81 a2 {n9} 02 01 00"), "trailing bytes"),
        (format!("81 a2 {n9} 02"), "invalid CBOR"),
    ] {
        let e = read(dev, &h).unwrap_err().to_string();
        assert!(
            e.starts_with("malformed application/senml+cbor payload") && e.contains(needle),
            "{h}: {e}"
        );
    }
    assert_eq!(
        read(dev, "81 a2 00 662f332f312f30 03 6178").unwrap_err(),
        ContentError::OutsideRequested {
            format: SENML.name(),
            path: Path::new_resource(3, 1, 0),
            requested: dev
        }
    );
}

#[test]
fn encodes_exact_bytes() {
    let recs = [
        Record::new(Path::new_resource(3, 0, 9), Value::Integer(95)),
        Record {
            path: Path::new_resource_instance(3, 0, 6, 1),
            value: Value::Integer(5),
            time: Some(10.5),
        },
    ];
    let bytes = encode(SENML, &recs, &Path::new_instance(3, 0), &CoreModel).unwrap();
    assert_eq!(
        bytes,
        hex("82 a3 21 642f332f30 00 622f39 02 185f  a3 00 642f362f31 06 f94940 02 05")
    );
    let p = Path::new_resource(1, 0, 10);
    let link = Record {
        path: p,
        value: Value::ObjLnk {
            object: 11,
            instance: 2,
        },
        time: Some(1.7e9),
    };
    assert_eq!(
        encode(SENML, &[link], &p, &CoreModel).unwrap(),
        hex("81 a3 21 672f312f302f3130 06 1a6553f100 63766c6f 6431313a32")
    );
    let f = Path::new_resource(6, 0, 0);
    assert!(encode(
        SENML,
        &[Record::new(f, Value::Float(f64::INFINITY))],
        &f,
        &CoreModel
    )
    .is_err());
}

fn arb_label() -> impl Strategy<Value = Item> {
    prop_oneof![
        (-7i128..9).prop_map(Item::int),
        Just(Item::Text("vlo".into())),
        Just(Item::Text("x_".into())),
    ]
}

fn arb_field_value() -> impl Strategy<Value = Item> {
    prop_oneof![
        prop_oneof![
            Just("/3/0/"),
            Just("/3/0/9"),
            Just("9"),
            Just("6/0"),
            Just("/"),
            Just("3:0")
        ]
        .prop_map(|s| Item::Text(s.into())),
        any::<i64>().prop_map(|i| Item::int(i.into())),
        any::<f64>().prop_map(Item::Float),
        any::<bool>().prop_map(Item::Bool),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Item::Bytes),
        Just(Item::Null),
    ]
}

proptest! {
    #[test]
    fn round_trip(recs in arb_object_records(true), as_root in any::<bool>()) {
        for (requested, expected) in sub_requests(&recs) {
            let requested = if as_root { Path::ROOT } else { requested };
            let bytes = encode(SENML, &expected, &requested, &CoreModel).unwrap();
            prop_assert_eq!(decode(SENML, &requested, &bytes, &CoreModel).unwrap(), expected);
        }
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(SENML, &Path::ROOT, &bytes, &CoreModel);
    }

    #[test]
    fn decoder_never_panics_on_senml_like_cbor(
        recs in proptest::collection::vec(proptest::collection::vec((arb_label(), arb_field_value()), 0..5), 0..5)
    ) {
        let item = Item::Array(recs.into_iter().map(Item::Map).collect());
        let _ = decode(SENML, &Path::new_object(3), &to_vec(&item), &CoreModel);
    }
}
