//! OMA TLV (LwM2M TS 1.1 Core §7.4.3; same bytes under 11542 and 1542).
//!
//! Each TLV starts with a type byte:
//! bits 7–6 identifier type (00 object instance, 01 resource instance,
//! 10 multiple resource, 11 resource with value); bit 5 identifier length
//! (0: 8 bits, 1: 16 bits); bits 4–3 length type (00: length in bits 2–0,
//! 01/10/11: 8/16/24-bit length field follows the identifier); bits 2–0 the
//! value length when the length type is 00. Integers are big-endian.
//! This module holds the framing and the typed value codec; [`read`] and
//! [`write`] hold the request-anchored decoding and the encoding.

mod read;
mod write;

pub(crate) use read::decode;
pub(crate) use write::encode;

use super::{malformed, unencodable, ContentError, ResourceType, Value};

/// TLV identifier type (bits 7–6 of the type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ObjectInstance = 0,
    ResourceInstance = 1,
    MultipleResource = 2,
    ResourceValue = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjectInstance => "object instance",
            Kind::ResourceInstance => "resource instance",
            Kind::MultipleResource => "multiple resource",
            Kind::ResourceValue => "resource",
        }
    }
}

/// One TLV, borrowing its value from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub kind: Kind,
    pub id: u16,
    pub value: &'a [u8],
}

fn take<'a>(
    fmt: &'static str,
    b: &'a [u8],
    n: usize,
    what: &str,
) -> Result<(&'a [u8], &'a [u8]), ContentError> {
    b.split_at_checked(n).ok_or_else(|| {
        malformed(
            fmt,
            format!("truncated TLV: {what} needs {n} bytes, {} left", b.len()),
        )
    })
}

fn be(bytes: &[u8]) -> usize {
    bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b))
}

/// Splits `input` into a sequence of sibling TLVs.
pub(crate) fn parse_all<'a>(
    fmt: &'static str,
    mut input: &'a [u8],
) -> Result<Vec<Tlv<'a>>, ContentError> {
    let mut out = Vec::new();
    while let Some((&t, rest)) = input.split_first() {
        let kind = match t >> 6 {
            0 => Kind::ObjectInstance,
            1 => Kind::ResourceInstance,
            2 => Kind::MultipleResource,
            _ => Kind::ResourceValue,
        };
        let (id, rest) = take(fmt, rest, if t & 0x20 != 0 { 2 } else { 1 }, "identifier")?;
        let (len, rest) = match (t >> 3) & 3 {
            0 => (usize::from(t & 7), rest),
            n => {
                let (l, rest) = take(fmt, rest, usize::from(n), "length field")?;
                (be(l), rest)
            }
        };
        let (value, rest) = take(fmt, rest, len, "value")?;
        out.push(Tlv {
            kind,
            id: be(id) as u16,
            value,
        });
        input = rest;
    }
    Ok(out)
}

/// Appends one TLV with the shortest identifier and length encodings.
pub(crate) fn write_tlv(
    fmt: &'static str,
    out: &mut Vec<u8>,
    kind: Kind,
    id: u16,
    value: &[u8],
) -> Result<(), ContentError> {
    let len = value.len();
    let mut t = (kind as u8) << 6;
    if id > 0xFF {
        t |= 0x20;
    }
    let len_bytes: usize = match len {
        0..=7 => {
            t |= len as u8;
            0
        }
        8..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => {
            return Err(unencodable(
                fmt,
                format!("TLV value of {len} bytes exceeds the 24-bit length field"),
            ))
        }
    };
    t |= (len_bytes as u8) << 3;
    out.push(t);
    if id > 0xFF {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(&len.to_be_bytes()[std::mem::size_of::<usize>() - len_bytes..]);
    out.extend_from_slice(value);
    Ok(())
}

fn int(fmt: &'static str, b: &[u8]) -> Result<i64, ContentError> {
    Ok(match *b {
        [a] => i64::from(a as i8),
        [a, b] => i64::from(i16::from_be_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            return Err(malformed(
                fmt,
                format!("integer of {} bytes (expected 1, 2, 4 or 8)", b.len()),
            ))
        }
    })
}

/// Decodes a value typed by the model; unknown or executable resources
/// come back as [`Value::Opaque`].
pub(crate) fn decode_value(
    fmt: &'static str,
    ty: Option<ResourceType>,
    b: &[u8],
) -> Result<Value, ContentError> {
    Ok(match ty {
        None | Some(ResourceType::Opaque) | Some(ResourceType::None) => Value::Opaque(b.to_vec()),
        Some(ResourceType::String) => Value::String(
            String::from_utf8(b.to_vec())
                .map_err(|e| malformed(fmt, format!("string is not UTF-8: {e}")))?,
        ),
        Some(ResourceType::Integer) => Value::Integer(int(fmt, b)?),
        Some(ResourceType::Time) => Value::Time(int(fmt, b)?),
        Some(ResourceType::Unsigned) => Value::Unsigned(match *b {
            [_] | [_, _] | [_, _, _, _] | [_, _, _, _, _, _, _, _] => be(b) as u64,
            _ => {
                return Err(malformed(
                    fmt,
                    format!(
                        "unsigned integer of {} bytes (expected 1, 2, 4 or 8)",
                        b.len()
                    ),
                ))
            }
        }),
        Some(ResourceType::Float) => Value::Float(match *b {
            [a, b, c, d] => f64::from(f32::from_be_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => f64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => {
                return Err(malformed(
                    fmt,
                    format!("float of {} bytes (expected 4 or 8)", b.len()),
                ))
            }
        }),
        Some(ResourceType::Boolean) => match *b {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            _ => {
                return Err(malformed(
                    fmt,
                    format!("boolean must be one byte 0 or 1, got {b:02x?}"),
                ))
            }
        },
        Some(ResourceType::ObjLnk) => match *b {
            [a, b, c, d] => Value::ObjLnk {
                object: u16::from_be_bytes([a, b]),
                instance: u16::from_be_bytes([c, d]),
            },
            _ => {
                return Err(malformed(
                    fmt,
                    format!("objlnk of {} bytes (expected 4)", b.len()),
                ))
            }
        },
    })
}

/// Encodes a value in its shortest TLV form.
pub(crate) fn encode_value(fmt: &'static str, v: &Value) -> Result<Vec<u8>, ContentError> {
    Ok(match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Opaque(b) => b.clone(),
        Value::Integer(i) | Value::Time(i) => {
            let i = *i;
            if let Ok(x) = i8::try_from(i) {
                x.to_be_bytes().to_vec()
            } else if let Ok(x) = i16::try_from(i) {
                x.to_be_bytes().to_vec()
            } else if let Ok(x) = i32::try_from(i) {
                x.to_be_bytes().to_vec()
            } else {
                i.to_be_bytes().to_vec()
            }
        }
        Value::Unsigned(u) => {
            let bytes = u.to_be_bytes();
            let keep = match *u {
                0..=0xFF => 1,
                0x100..=0xFFFF => 2,
                0x1_0000..=0xFFFF_FFFF => 4,
                _ => 8,
            };
            bytes[8 - keep..].to_vec()
        }
        Value::Float(f) => {
            let narrow = *f as f32;
            if f64::from(narrow) == *f {
                narrow.to_be_bytes().to_vec()
            } else if f.is_nan() {
                return Err(unencodable(fmt, "NaN"));
            } else {
                f.to_be_bytes().to_vec()
            }
        }
        Value::Boolean(b) => vec![u8::from(*b)],
        Value::ObjLnk { object, instance } => {
            [object.to_be_bytes(), instance.to_be_bytes()].concat()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    const FMT: &str = "tlv";

    #[test]
    fn framing_examples_from_spec() {
        // Core TS §7.4.3.2 example: /3/0/0 "Open Mobile Alliance" (20 bytes, 8-bit length).
        let mut out = Vec::new();
        write_tlv(
            FMT,
            &mut out,
            Kind::ResourceValue,
            0,
            b"Open Mobile Alliance",
        )
        .unwrap();
        assert_eq!(&out[..3], &[0xC8, 0x00, 0x14]);
        // Short value, length in the type byte; 16-bit id.
        let mut out = Vec::new();
        write_tlv(FMT, &mut out, Kind::ResourceInstance, 300, &[1, 2]).unwrap();
        assert_eq!(out, vec![0x62, 0x01, 0x2C, 1, 2]);
        let parsed = parse_all(FMT, &out).unwrap();
        assert_eq!(
            parsed,
            vec![Tlv {
                kind: Kind::ResourceInstance,
                id: 300,
                value: &[1, 2]
            }]
        );
        // 16-bit length field.
        let big = vec![7u8; 300];
        let mut out = Vec::new();
        write_tlv(FMT, &mut out, Kind::ObjectInstance, 1, &big).unwrap();
        assert_eq!(&out[..4], &[0x10, 0x01, 0x01, 0x2C]);
        assert_eq!(parse_all(FMT, &out).unwrap()[0].value.len(), 300);
    }

    #[test]
    fn truncated_tlvs_are_errors() {
        for bad in [
            &[0xC8][..],
            &[0xC8, 0x00],
            &[0xC8, 0x00, 0x05, 1],
            &[0xE1, 0x00],
            &[0xC3, 0x01, 1, 2],
        ] {
            let err = parse_all(FMT, bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("malformed tlv payload: truncated TLV"),
                "{err}"
            );
        }
    }

    #[test]
    fn typed_values() {
        use ResourceType as T;
        assert_eq!(
            decode_value(FMT, Some(T::Integer), &[0xFF]).unwrap(),
            Value::Integer(-1)
        );
        assert_eq!(
            decode_value(FMT, Some(T::Integer), &[0x01, 0x00]).unwrap(),
            Value::Integer(256)
        );
        assert_eq!(
            decode_value(FMT, Some(T::Unsigned), &[0xFF, 0xFF]).unwrap(),
            Value::Unsigned(65535)
        );
        assert_eq!(
            decode_value(FMT, Some(T::Time), &[0x5A, 0, 0, 0]).unwrap(),
            Value::Time(0x5A00_0000)
        );
        assert_eq!(
            decode_value(FMT, Some(T::Float), &1.5f32.to_be_bytes()).unwrap(),
            Value::Float(1.5)
        );
        assert_eq!(
            decode_value(FMT, Some(T::Boolean), &[1]).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            decode_value(FMT, Some(T::ObjLnk), &[0, 3, 0, 1]).unwrap(),
            Value::ObjLnk {
                object: 3,
                instance: 1
            }
        );
        assert_eq!(
            decode_value(FMT, None, &[9]).unwrap(),
            Value::Opaque(vec![9])
        );
        for (t, b) in [
            (T::Integer, &[0u8; 3][..]),
            (T::Boolean, &[2]),
            (T::Float, &[0; 2]),
            (T::ObjLnk, &[0; 3]),
            (T::String, &[0xFF]),
            (T::Unsigned, &[]),
        ] {
            assert!(decode_value(FMT, Some(t), b).is_err(), "{t:?}");
        }
        assert_eq!(encode_value(FMT, &Value::Integer(-1)).unwrap(), vec![0xFF]);
        assert_eq!(
            encode_value(FMT, &Value::Integer(128)).unwrap(),
            vec![0x00, 0x80]
        );
        assert_eq!(
            encode_value(FMT, &Value::Unsigned(70000)).unwrap(),
            vec![0, 1, 0x11, 0x70]
        );
        assert_eq!(
            encode_value(FMT, &Value::Float(0.1)).unwrap(),
            0.1f64.to_be_bytes().to_vec()
        );
        assert_eq!(
            encode_value(FMT, &Value::Float(0.5)).unwrap(),
            0.5f32.to_be_bytes().to_vec()
        );
    }
}
