//! LwM2M CBOR (LwM2M TS 1.1 Core §7.4.6 / TS 1.2 Core §7.4.7), content
//! format 60: one resource or resource-instance value as a single CBOR
//! data item.
//!
//! Data types map to CBOR as in the TS table: Integer as major type 0/1,
//! Unsigned Integer as major type 0, Float as major type 7 (half, single
//! or double), Boolean as the simple values false/true, String as a text
//! string, Opaque as a byte string, Time as an integer (tagged with tag 1,
//! epoch-based date/time, RFC 8949 §3.4.2, or untagged) and Objlnk as the
//! text string `"o:i"`. Integral numbers are accepted for Float; floats
//! are refused for the integer types. Unknown (and executable) resources
//! take their type from the CBOR item.

use super::cbor::{self, Item};
use super::text::{single_value_request, the_record};
use super::{
    malformed, parse_objlnk, unencodable, ContentError, ObjectModel, Path, Record, ResourceType,
    Value,
};

const FMT: &str = "application/cbor";
const EPOCH_TIME: u64 = 1;

/// Decodes the single value answering a Read of a resource or instance.
pub(crate) fn decode(
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let (o, r) = single_value_request(FMT, requested)?;
    let item = cbor::decode(FMT, payload)?;
    let ty = model
        .resource_type(o, r)
        .filter(|t| *t != ResourceType::None);
    let value = convert(ty, item).map_err(|e| malformed(FMT, format!("{requested}: {e}")))?;
    Ok(vec![Record::new(*requested, value)])
}

fn int(item: &Item) -> Option<i64> {
    item.as_int().and_then(|i| i64::try_from(i).ok())
}

fn time(item: &Item) -> Option<i64> {
    match item {
        Item::Tag(EPOCH_TIME, inner) => match **inner {
            Item::Float(f) if f.fract() == 0.0 && (-9.2e18..9.2e18).contains(&f) => Some(f as i64),
            ref i => int(i),
        },
        i => int(i),
    }
}

fn convert(ty: Option<ResourceType>, item: Item) -> Result<Value, String> {
    let wrong = |item: &Item, what: &str| format!("{} is not {what}", item.kind());
    Ok(match ty {
        Some(ResourceType::Integer) => {
            Value::Integer(int(&item).ok_or_else(|| wrong(&item, "an integer in i64 range"))?)
        }
        Some(ResourceType::Unsigned) => match item {
            Item::Uint(u) => Value::Unsigned(u),
            i => return Err(wrong(&i, "an unsigned integer")),
        },
        Some(ResourceType::Time) => {
            Value::Time(time(&item).ok_or_else(|| wrong(&item, "a time in Unix seconds"))?)
        }
        Some(ResourceType::Float) => match item {
            Item::Float(f) if f.is_finite() => Value::Float(f),
            ref i => match i.as_int() {
                Some(n) => Value::Float(n as f64),
                None => return Err(wrong(i, "a finite float")),
            },
        },
        Some(ResourceType::Boolean) => match item {
            Item::Bool(b) => Value::Boolean(b),
            i => return Err(wrong(&i, "a boolean")),
        },
        Some(ResourceType::String) => match item {
            Item::Text(s) => Value::String(s),
            i => return Err(wrong(&i, "a text string")),
        },
        Some(ResourceType::Opaque) => match item {
            Item::Bytes(b) => Value::Opaque(b),
            i => return Err(wrong(&i, "a byte string")),
        },
        Some(ResourceType::ObjLnk) => match item {
            Item::Text(s) => parse_objlnk(&s)
                .ok_or_else(|| format!("{s:?} is not an objlnk \"object:instance\""))?,
            i => return Err(wrong(&i, "an objlnk text string")),
        },
        Some(ResourceType::None) | None => infer(item)?,
    })
}

/// The value of an item of an unknown resource, typed by its CBOR type.
fn infer(item: Item) -> Result<Value, String> {
    Ok(match item {
        Item::Uint(u) => match i64::try_from(u) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Unsigned(u),
        },
        Item::Nint(_) => Value::Integer(
            int(&item).ok_or("negative integer below the i64 range of LwM2M Integer")?,
        ),
        Item::Float(f) if f.is_finite() => Value::Float(f),
        Item::Bool(b) => Value::Boolean(b),
        Item::Text(s) => Value::String(s),
        Item::Bytes(b) => Value::Opaque(b),
        Item::Tag(EPOCH_TIME, _) => {
            Value::Time(time(&item).ok_or("tag 1 does not hold a time in whole seconds")?)
        }
        Item::Tag(t, _) => return Err(format!("unsupported CBOR tag {t}")),
        i => return Err(format!("{} is not an LwM2M value", i.kind())),
    })
}

/// Encodes the one record at `requested`. Time is written with tag 1 so
/// that it reads back as Time even for unknown resources.
pub(crate) fn encode(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    let item = match &the_record(FMT, records, requested)?.value {
        Value::String(s) => Item::Text(s.clone()),
        Value::Integer(i) => Item::int((*i).into()),
        Value::Unsigned(u) => Item::Uint(*u),
        Value::Float(f) if f.is_finite() => Item::Float(*f),
        Value::Float(f) => return Err(unencodable(FMT, format!("{f} is not a finite float"))),
        Value::Boolean(b) => Item::Bool(*b),
        Value::Opaque(b) => Item::Bytes(b.clone()),
        Value::Time(t) => Item::Tag(EPOCH_TIME, Box::new(Item::int((*t).into()))),
        Value::ObjLnk { object, instance } => Item::Text(format!("{object}:{instance}")),
    };
    Ok(cbor::to_vec(&item))
}

#[cfg(test)]
mod tests {
    use crate::content::testgen::value_for;
    use crate::content::{
        decode, encode, ContentError, ContentFormat, CoreModel, ObjectModel, Path, Record,
        ResourceType, Value,
    };
    use proptest::prelude::*;

    const CBOR: ContentFormat = ContentFormat::Cbor;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn read(path: Path, h: &str) -> Result<Value, ContentError> {
        decode(CBOR, &path, &hex(h), &CoreModel).map(|mut v| v.remove(0).value)
    }

    fn write(path: Path, value: Value) -> Vec<u8> {
        encode(CBOR, &[Record::new(path, value)], &path, &CoreModel).unwrap()
    }

    #[test]
    fn each_data_type_both_ways() {
        let res = Path::new_resource;
        for (path, h, value) in [
            (res(3, 0, 9), "26", Value::Integer(-7)),
            (res(3, 0, 9), "1864", Value::Integer(100)),
            (res(1, 0, 11), "182a", Value::Unsigned(42)),
            (
                res(1, 0, 11),
                "1bffffffffffffffff",
                Value::Unsigned(u64::MAX),
            ),
            (res(6, 0, 0), "f95170", Value::Float(43.5)),
            (res(6, 0, 0), "fb3fb999999999999a", Value::Float(0.1)),
            (res(6, 0, 0), "fa47c35000", Value::Float(100000.0)),
            (res(1, 0, 6), "f5", Value::Boolean(true)),
            (res(3, 0, 0), "6441434d45", Value::String("ACME".into())),
            (res(0, 0, 3), "43010203", Value::Opaque(vec![1, 2, 3])),
            (res(3, 0, 13), "c11a6553f100", Value::Time(1_700_000_000)),
            (
                res(1, 0, 10),
                "6431313a32",
                Value::ObjLnk {
                    object: 11,
                    instance: 2,
                },
            ),
            (
                Path::new_resource_instance(3, 0, 11, 0),
                "00",
                Value::Integer(0),
            ),
        ] {
            assert_eq!(read(path, h), Ok(value.clone()), "{path} {h}");
            assert_eq!(write(path, value), hex(h), "{path} {h}");
        }
    }

    #[test]
    fn accepted_variants_and_unknown_resources() {
        let res = Path::new_resource;
        // Untagged time, integral tag 1 float, integer for Float, long heads.
        assert_eq!(
            read(res(3, 0, 13), "1a6553f100"),
            Ok(Value::Time(1_700_000_000))
        );
        assert_eq!(read(res(3, 0, 13), "c1f93c00"), Ok(Value::Time(1)));
        assert_eq!(read(res(6, 0, 0), "182b"), Ok(Value::Float(43.0)));
        assert_eq!(
            read(res(3, 0, 9), "1b0000000000000005"),
            Ok(Value::Integer(5))
        );
        assert_eq!(
            read(res(3, 0, 0), "7f624143624d45ff"),
            Ok(Value::String("ACME".into()))
        );
        let unknown = res(3303, 0, 5700);
        for (h, value) in [
            ("15", Value::Integer(21)),
            ("34", Value::Integer(-21)),
            ("1bffffffffffffffff", Value::Unsigned(u64::MAX)),
            ("f94d60", Value::Float(21.5)),
            ("f4", Value::Boolean(false)),
            ("6343656c", Value::String("Cel".into())),
            ("4100", Value::Opaque(vec![0])),
            ("c100", Value::Time(0)),
        ] {
            assert_eq!(read(unknown, h), Ok(value), "{h}");
        }
        // Executable resources have no type: inferred as for unknown ones.
        assert_eq!(read(res(3, 0, 4), "40"), Ok(Value::Opaque(vec![])));
    }

    #[test]
    fn rejects_mismatches_and_malformed_items() {
        let res = Path::new_resource;
        for (path, h, needle) in [
            (res(3, 0, 9), "6131", "a text string is not an integer"),
            (res(3, 0, 9), "f93c00", "a float is not an integer"),
            (
                res(3, 0, 9),
                "1bffffffffffffffff",
                "not an integer in i64 range",
            ),
            (
                res(1, 0, 11),
                "20",
                "a negative integer is not an unsigned integer",
            ),
            (res(6, 0, 0), "f97e00", "not a finite float"),
            (res(6, 0, 0), "f5", "not a finite float"),
            (res(1, 0, 6), "01", "not a boolean"),
            (res(3, 0, 0), "4141", "a byte string is not a text string"),
            (res(0, 0, 3), "6141", "not a byte string"),
            (res(3, 0, 13), "c16131", "not a time"),
            (res(3, 0, 13), "c1f93e00", "not a time"),
            (res(3, 0, 13), "c200", "not a time"),
            (res(1, 0, 10), "6131", "is not an objlnk"),
            (res(1, 0, 10), "01", "not an objlnk text string"),
            (res(3303, 0, 1), "c200", "unsupported CBOR tag 2"),
            (res(3303, 0, 1), "f6", "null is not an LwM2M value"),
            (res(3303, 0, 1), "80", "an array is not an LwM2M value"),
            (res(3303, 0, 1), "3bffffffffffffffff", "below the i64 range"),
            (res(3303, 0, 1), "f97c00", "not an LwM2M value"),
            (res(3, 0, 9), "0000", "1 trailing bytes"),
            (res(3, 0, 9), "", "unexpected end of input"),
            (res(3, 0, 9), "1c", "reserved additional information"),
        ] {
            let e = read(path, h).unwrap_err().to_string();
            assert!(
                e.starts_with("malformed application/cbor payload") && e.contains(needle),
                "{path} {h}: {e}"
            );
        }
        assert!(matches!(
            read(Path::new_instance(3, 0), "00"),
            Err(ContentError::InvalidRequest {
                format: "application/cbor",
                ..
            })
        ));
        let p = res(6, 0, 0);
        assert!(encode(
            CBOR,
            &[Record::new(p, Value::Float(f64::NAN))],
            &p,
            &CoreModel
        )
        .is_err());
        assert!(encode(CBOR, &[], &p, &CoreModel).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(o in prop_oneof![0u16..8, Just(3303u16)], r in 0u16..32, ri in proptest::option::of(0u16..3),
                      seed in (any::<i64>(), any::<u64>(), -1e300f64..1e300, "\\PC{0,12}", proptest::collection::vec(any::<u8>(), 0..12), any::<bool>(), any::<(u16, u16)>(), Just(0.0))) {
            let path = match ri { Some(ri) => Path::new_resource_instance(o, 0, r, ri), None => Path::new_resource(o, 0, r) };
            let value = value_for(o, r, &seed);
            prop_assume!(CoreModel.resource_type(o, r) != Some(ResourceType::None) || matches!(value, Value::Opaque(_)));
            let recs = vec![Record::new(path, value)];
            let bytes = encode(CBOR, &recs, &path, &CoreModel).unwrap();
            prop_assert_eq!(decode(CBOR, &path, &bytes, &CoreModel).unwrap(), recs);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), o in prop_oneof![0u16..8, Just(3303u16)], r in 0u16..32) {
            let _ = decode(CBOR, &Path::new_resource(o, 0, r), &bytes, &CoreModel);
        }
    }
}
