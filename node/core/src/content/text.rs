//! text/plain (LwM2M TS 1.1 Core §7.4.1) and opaque (§7.4.2) content.
//!
//! Both carry exactly one value and so only answer a Read of a resource or
//! resource instance. In text/plain, numbers are decimal, Booleans `0`/`1`,
//! Time is decimal Unix seconds, Objlnk is `"o:i"` and Opaque is base64
//! (RFC 4648 §4). Unknown resources decode as String.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

use super::{
    malformed, parse_objlnk, unencodable, ContentError, ObjectModel, Path, Record, ResourceType,
    Value,
};

const TEXT: &str = "text/plain";
const OPAQUE: &str = "application/octet-stream";

/// Standard base64, padding optional on input, written padded.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn single_value_request(
    format: &'static str,
    requested: &Path,
) -> Result<(u16, u16), ContentError> {
    match (requested.object(), requested.resource()) {
        (Some(o), Some(r)) => Ok((o, r)),
        _ => Err(ContentError::InvalidRequest {
            format,
            requested: *requested,
            reason: "a single value answers only a Read of a resource or resource instance",
        }),
    }
}

pub(crate) fn decode_text(
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let (o, r) = single_value_request(TEXT, requested)?;
    let s = std::str::from_utf8(payload).map_err(|e| malformed(TEXT, format!("not UTF-8: {e}")))?;
    let bad = |what: &str| {
        malformed(
            TEXT,
            format!(
                "{requested}: {:?} is not {what}",
                s.chars().take(32).collect::<String>()
            ),
        )
    };
    let value = match model.resource_type(o, r) {
        None | Some(ResourceType::String) | Some(ResourceType::None) => {
            Value::String(s.to_string())
        }
        Some(ResourceType::Integer) => Value::Integer(s.parse().map_err(|_| bad("an integer"))?),
        Some(ResourceType::Time) => {
            Value::Time(s.parse().map_err(|_| bad("a time in Unix seconds"))?)
        }
        Some(ResourceType::Unsigned) => {
            Value::Unsigned(s.parse().map_err(|_| bad("an unsigned integer"))?)
        }
        Some(ResourceType::Float) => {
            let f: f64 = s.parse().map_err(|_| bad("a float"))?;
            if !f.is_finite() {
                return Err(bad("a finite float"));
            }
            Value::Float(f)
        }
        Some(ResourceType::Boolean) => match s {
            "0" => Value::Boolean(false),
            "1" => Value::Boolean(true),
            _ => return Err(bad("a boolean (0 or 1)")),
        },
        Some(ResourceType::ObjLnk) => parse_objlnk(s).ok_or_else(|| bad("an objlnk (o:i)"))?,
        Some(ResourceType::Opaque) => Value::Opaque(BASE64.decode(s).map_err(|_| bad("base64"))?),
    };
    Ok(vec![Record::new(*requested, value)])
}

pub(crate) fn decode_opaque(requested: &Path, payload: &[u8]) -> Result<Vec<Record>, ContentError> {
    single_value_request(OPAQUE, requested)?;
    Ok(vec![Record::new(
        *requested,
        Value::Opaque(payload.to_vec()),
    )])
}

pub(crate) fn the_record<'a>(
    format: &'static str,
    records: &'a [Record],
    requested: &Path,
) -> Result<&'a Record, ContentError> {
    single_value_request(format, requested)?;
    match records {
        [r] if r.path == *requested => Ok(r),
        _ => Err(unencodable(
            format,
            format!(
                "needs exactly one value at {requested}, got {} records",
                records.len()
            ),
        )),
    }
}

pub(crate) fn encode_text(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    let text = match &the_record(TEXT, records, requested)?.value {
        Value::String(s) => s.clone(),
        Value::Integer(i) | Value::Time(i) => i.to_string(),
        Value::Unsigned(u) => u.to_string(),
        Value::Float(f) if f.is_finite() => f.to_string(),
        Value::Float(f) => return Err(unencodable(TEXT, format!("{f} is not a finite float"))),
        Value::Boolean(b) => u8::from(*b).to_string(),
        Value::Opaque(b) => BASE64.encode(b),
        Value::ObjLnk { object, instance } => format!("{object}:{instance}"),
    };
    Ok(text.into_bytes())
}

pub(crate) fn encode_opaque(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    match &the_record(OPAQUE, records, requested)?.value {
        Value::Opaque(b) => Ok(b.clone()),
        v => Err(unencodable(
            OPAQUE,
            format!("{} value is not opaque", v.resource_type().name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::content::testgen::value_for;
    use crate::content::{
        decode, encode, ContentError, ContentFormat, CoreModel, Path, Record, Value,
    };
    use proptest::prelude::*;

    const TEXT: ContentFormat = ContentFormat::TextPlain;

    fn read(path: Path, s: &str) -> Result<Value, ContentError> {
        decode(TEXT, &path, s.as_bytes(), &CoreModel).map(|mut v| v.remove(0).value)
    }

    #[test]
    fn decodes_per_model_type() {
        assert_eq!(
            read(Path::new_resource(3, 0, 0), "ACME"),
            Ok(Value::String("ACME".into()))
        );
        assert_eq!(
            read(Path::new_resource(3, 0, 9), "-7"),
            Ok(Value::Integer(-7))
        );
        assert_eq!(
            read(Path::new_resource_instance(3, 0, 11, 0), "2"),
            Ok(Value::Integer(2))
        );
        assert_eq!(
            read(Path::new_resource(3, 0, 13), "1700000000"),
            Ok(Value::Time(1_700_000_000))
        );
        assert_eq!(
            read(Path::new_resource(1, 0, 11), "42"),
            Ok(Value::Unsigned(42))
        );
        assert_eq!(
            read(Path::new_resource(6, 0, 0), "43.5"),
            Ok(Value::Float(43.5))
        );
        assert_eq!(
            read(Path::new_resource(1, 0, 6), "1"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            read(Path::new_resource(1, 0, 10), "11:2"),
            Ok(Value::ObjLnk {
                object: 11,
                instance: 2
            })
        );
        assert_eq!(
            read(Path::new_resource(0, 0, 3), "AQID"),
            Ok(Value::Opaque(vec![1, 2, 3]))
        );
        assert_eq!(
            read(Path::new_resource(3303, 0, 5700), "21.5"),
            Ok(Value::String("21.5".into()))
        );
    }

    #[test]
    fn rejects_bad_text() {
        for (path, s) in [
            ((3, 9), "1.5"),
            ((6, 0), "inf"),
            ((6, 0), "NaN"),
            ((1, 6), "true"),
            ((1, 10), "1"),
            ((0, 3), "!!"),
            ((1, 11), "-1"),
        ] {
            let err = read(Path::new_resource(path.0, 0, path.1), s).unwrap_err();
            assert!(
                err.to_string().starts_with("malformed text/plain payload"),
                "{err}"
            );
        }
        assert!(matches!(
            read(Path::new_instance(3, 0), "1"),
            Err(ContentError::InvalidRequest {
                format: "text/plain",
                ..
            })
        ));
        assert!(decode(TEXT, &Path::new_resource(3, 0, 0), &[0xFF], &CoreModel).is_err());
    }

    #[test]
    fn opaque_format() {
        let p = Path::new_resource(5, 0, 0);
        assert_eq!(
            decode(ContentFormat::Opaque, &p, &[1, 2], &CoreModel).unwrap(),
            vec![Record::new(p, Value::Opaque(vec![1, 2]))]
        );
        assert!(decode(
            ContentFormat::Opaque,
            &Path::new_instance(5, 0),
            &[1],
            &CoreModel
        )
        .is_err());
        assert_eq!(
            encode(
                ContentFormat::Opaque,
                &[Record::new(p, Value::Opaque(vec![9]))],
                &p,
                &CoreModel
            )
            .unwrap(),
            vec![9]
        );
        let s = Path::new_resource(3303, 0, 1);
        assert!(encode(
            ContentFormat::Opaque,
            &[Record::new(s, Value::String("x".into()))],
            &s,
            &CoreModel
        )
        .is_err());
    }

    #[test]
    fn encodes_text() {
        let p = Path::new_resource(3, 0, 9);
        assert_eq!(
            encode(TEXT, &[Record::new(p, Value::Integer(85))], &p, &CoreModel).unwrap(),
            b"85"
        );
        let b = Path::new_resource(1, 0, 6);
        assert_eq!(
            encode(
                TEXT,
                &[Record::new(b, Value::Boolean(false))],
                &b,
                &CoreModel
            )
            .unwrap(),
            b"0"
        );
        assert!(encode(TEXT, &[], &p, &CoreModel).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(o in prop_oneof![0u16..8, Just(3303u16)], r in 0u16..32, ri in proptest::option::of(0u16..3),
                      seed in (any::<i64>(), any::<u64>(), -1e300f64..1e300, "\\PC{0,12}", proptest::collection::vec(any::<u8>(), 0..12), any::<bool>(), any::<(u16, u16)>(), Just(0.0))) {
            let path = match ri { Some(ri) => Path::new_resource_instance(o, 0, r, ri), None => Path::new_resource(o, 0, r) };
            let value = match value_for(o, r, &seed) {
                Value::Opaque(_) if o == 3303 => Value::String(seed.3.clone()),
                Value::Opaque(_) if CoreModel.resource_name(o, r).is_none() => Value::String(seed.3.clone()),
                v => v,
            };
            prop_assume!(!matches!((&value, crate::content::ObjectModel::resource_type(&CoreModel, o, r)), (_, Some(crate::content::ResourceType::None))));
            let recs = vec![Record::new(path, value)];
            let bytes = encode(TEXT, &recs, &path, &CoreModel).unwrap();
            prop_assert_eq!(decode(TEXT, &path, &bytes, &CoreModel).unwrap(), recs);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), o in 0u16..8, r in 0u16..32) {
            let _ = decode(TEXT, &Path::new_resource(o, 0, r), &bytes, &CoreModel);
            let _ = decode(ContentFormat::Opaque, &Path::new_resource(o, 0, r), &bytes, &CoreModel);
        }
    }
}
