//! Tests of the CBOR reader and writer, with the RFC 8949 Appendix A
//! examples.

use super::{decode, f16_to_f64, f64_to_f16, to_vec, Item, MAX_DEPTH};
use proptest::prelude::*;

const F: &str = "application/cbor";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn read(s: &str) -> Item {
    decode(F, &hex(s)).unwrap()
}

fn err(s: &str) -> String {
    decode(F, &hex(s)).unwrap_err().to_string()
}

#[test]
fn rfc8949_appendix_a_preferred_items() {
    use Item::*;
    let text = |s: &str| Text(s.into());
    for (h, item) in [
        ("00", Uint(0)),
        ("17", Uint(23)),
        ("1818", Uint(24)),
        ("1903e8", Uint(1000)),
        ("1bffffffffffffffff", Uint(u64::MAX)),
        ("20", Nint(0)),
        ("3903e7", Nint(999)),
        ("3bffffffffffffffff", Nint(u64::MAX)),
        ("f90000", Float(0.0)),
        ("f93c00", Float(1.0)),
        ("fb3ff199999999999a", Float(1.1)),
        ("f93e00", Float(1.5)),
        ("f97bff", Float(65504.0)),
        ("fa47c35000", Float(100000.0)),
        ("fa7f7fffff", Float(3.4028234663852886e38)),
        ("fb7e37e43c8800759c", Float(1.0e300)),
        ("f90001", Float(5.960464477539063e-8)),
        ("f90400", Float(0.00006103515625)),
        ("f9c400", Float(-4.0)),
        ("fbc010666666666666", Float(-4.1)),
        ("f97c00", Float(f64::INFINITY)),
        ("f9fc00", Float(f64::NEG_INFINITY)),
        ("f4", Bool(false)),
        ("f5", Bool(true)),
        ("f6", Null),
        ("f7", Undefined),
        ("f0", Simple(16)),
        ("f8ff", Simple(255)),
        ("c11a514b67b0", Tag(1, Box::new(Uint(1363896240)))),
        ("4401020304", Bytes(vec![1, 2, 3, 4])),
        ("60", text("")),
        ("6449455446", text("IETF")),
        ("62c3bc", text("\u{fc}")),
        ("83010203", Array(vec![Uint(1), Uint(2), Uint(3)])),
        (
            "a201020304",
            Map(vec![(Uint(1), Uint(2)), (Uint(3), Uint(4))]),
        ),
    ] {
        assert_eq!(read(h), item, "{h}");
        assert_eq!(to_vec(&item), hex(h), "{h}");
    }
    assert!(matches!(read("f97e00"), Item::Float(f) if f.is_nan()));
    assert_eq!(to_vec(&Item::Float(f64::NAN)), hex("f97e00"));
    assert_eq!(read("f98000"), Item::Float(-0.0));
    assert_eq!(to_vec(&Item::Float(-0.0)), hex("f98000"));
    // Non-preferred but well-formed encodings are read.
    assert_eq!(read("1b0000000000000001"), Item::Uint(1));
    assert_eq!(read("fa3fc00000"), Item::Float(1.5));
}

#[test]
fn indefinite_lengths() {
    use Item::*;
    assert_eq!(
        read("9f018202039f0405ffff"),
        Array(vec![
            Uint(1),
            Array(vec![Uint(2), Uint(3)]),
            Array(vec![Uint(4), Uint(5)])
        ])
    );
    assert_eq!(read("5f42010243030405ff"), Bytes(vec![1, 2, 3, 4, 5]));
    assert_eq!(read("7f657374726561646d696e67ff"), Text("streaming".into()));
    assert_eq!(
        read("bf6346756ef563416d7421ff"),
        Map(vec![
            (Text("Fun".into()), Bool(true)),
            (Text("Amt".into()), Nint(1))
        ])
    );
}

#[test]
fn refuses_malformed_items() {
    for (h, needle) in [
        ("", "unexpected end of input"),
        ("18", "length 1 exceeds the 0 bytes left"),
        ("0000", "1 trailing bytes"),
        ("1c", "reserved additional information 28"),
        ("ff", "break outside"),
        ("f818", "simple value 24 must use the short form"),
        ("5b0000000100000000", "exceeds"),
        ("9b00000000ffffffff00", "cannot fit"),
        ("bb7fffffffffffffff00", "cannot fit"),
        ("1f", "indefinite length"),
        ("df00", "indefinite length"),
        ("5f6161ff", "not a definite string of the same type"),
        ("5f5f4100ffff", "not a definite string of the same type"),
        ("7f61ff62c3bcff", "chunk is not UTF-8"),
        ("62c328", "not UTF-8"),
        ("9f01", "end of input in indefinite-length item"),
        ("bf01ff", "break outside"),
        ("a1", "cannot fit"),
    ] {
        let e = err(h);
        assert!(
            e.starts_with("malformed application/cbor payload") && e.contains(needle),
            "{h}: {e}"
        );
    }
    let deep = "81".repeat(MAX_DEPTH) + "00";
    assert!(decode(F, &hex(&deep)).is_ok());
    let too_deep = "81".repeat(MAX_DEPTH + 1) + "00";
    assert!(err(&too_deep).contains("nesting deeper than 16"));
    assert!(err(&"c1".repeat(1000)).contains("nesting deeper"));
}

#[test]
fn half_floats() {
    for h in 0..=u16::MAX {
        let f = f16_to_f64(h);
        if !f.is_nan() {
            assert_eq!(f64_to_f16(f), Some(h), "{h:#x}");
        }
    }
    for f in [1.1, 65520.0, 1e-8, 3.0e-5 + 1e-12, 1.0 / 3.0] {
        assert_eq!(f64_to_f16(f), None, "{f}");
    }
}

fn arb_item() -> impl Strategy<Value = Item> {
    let leaf = prop_oneof![
        any::<u64>().prop_map(Item::Uint),
        any::<u64>().prop_map(Item::Nint),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Item::Bytes),
        "\\PC{0,8}".prop_map(Item::Text),
        any::<bool>().prop_map(Item::Bool),
        Just(Item::Null),
        (0u8..20).prop_map(Item::Simple),
        (32u8..).prop_map(Item::Simple),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Item::Float),
        any::<f32>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(|f| Item::Float(f.into())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Item::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Item::Map),
            (any::<u64>(), inner).prop_map(|(t, i)| Item::Tag(t, Box::new(i))),
        ]
    })
}

proptest! {
    #[test]
    fn round_trip(item in arb_item()) {
        let bytes = to_vec(&item);
        prop_assert_eq!(decode(F, &bytes).unwrap(), item);
    }

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(F, &bytes);
    }

    #[test]
    fn reader_never_panics_on_mutations(item in arb_item(), at in any::<usize>(), b in any::<u8>()) {
        let mut bytes = to_vec(&item);
        let i = at % bytes.len();
        // CBOR is prefix-free: no proper prefix of an item is an item.
        prop_assert!(decode(F, &bytes[..i]).is_err());
        bytes[i] = b;
        let _ = decode(F, &bytes);
    }
}
