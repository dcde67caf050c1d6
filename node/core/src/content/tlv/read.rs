//! TLV decoding anchored at the requested path (LwM2M TS 1.1 Core §7.4.3).
//!
//! What the top-level TLVs are depends on what was read:
//! `/o` → object instance TLVs; `/o/i` → resource and multiple-resource TLVs
//! (a single wrapping object instance TLV with id `i` is also accepted, as
//! some clients send it); `/o/i/r` → one resource or multiple-resource TLV
//! with id `r` (bare resource instance TLVs are accepted too);
//! `/o/i/r/ri` → one resource instance TLV with id `ri`.

use super::{decode_value, parse_all, Kind, Tlv};
use crate::content::{malformed, ContentError, ObjectModel, Path, Record};

struct Ctx<'m> {
    fmt: &'static str,
    requested: Path,
    model: &'m dyn ObjectModel,
    out: Vec<Record>,
}

/// Decodes a TLV payload answering a Read of `requested`.
pub(crate) fn decode(
    fmt: &'static str,
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let mut cx = Ctx {
        fmt,
        requested: *requested,
        model,
        out: Vec::new(),
    };
    let top = parse_all(fmt, payload)?;
    let (Some(o), i, r, ri) = (
        requested.object(),
        requested.instance(),
        requested.resource(),
        requested.resource_instance(),
    ) else {
        return Err(ContentError::InvalidRequest {
            format: fmt,
            requested: *requested,
            reason: "TLV has no encoding for the root path",
        });
    };
    if requested.depth() >= 3 && top.is_empty() {
        return Err(malformed(
            fmt,
            format!("empty payload for a Read of {requested}"),
        ));
    }
    match (i, r, ri) {
        (None, _, _) => {
            for t in top {
                cx.expect(&t, &[Kind::ObjectInstance], &Path::new_object(o))?;
                cx.instance(Path::new_instance(o, t.id), t.value)?;
            }
        }
        (Some(i), None, _) => match top.as_slice() {
            [t] if t.kind == Kind::ObjectInstance => {
                cx.inside(Path::new_instance(o, t.id))?;
                cx.instance(Path::new_instance(o, t.id), t.value)?;
            }
            _ => cx.resources(Path::new_instance(o, i), &top)?,
        },
        (Some(i), Some(r), None) => {
            if top.iter().all(|t| t.kind == Kind::ResourceInstance) {
                cx.resource_instances(Path::new_resource(o, i, r), &top)?;
            } else {
                cx.resources(Path::new_instance(o, i), &top)?;
            }
        }
        (Some(i), Some(r), Some(_)) => cx.resource_instances(Path::new_resource(o, i, r), &top)?,
    }
    Ok(cx.out)
}

impl Ctx<'_> {
    fn expect(&self, t: &Tlv, kinds: &[Kind], parent: &Path) -> Result<(), ContentError> {
        if kinds.contains(&t.kind) {
            return Ok(());
        }
        let expected: Vec<_> = kinds.iter().map(|k| k.name()).collect();
        Err(malformed(
            self.fmt,
            format!(
                "expected {} TLV under {parent}, found {} TLV with id {}",
                expected.join(" or "),
                t.kind.name(),
                t.id
            ),
        ))
    }

    fn inside(&self, path: Path) -> Result<(), ContentError> {
        if path.is_prefix_of(&self.requested) || self.requested.is_prefix_of(&path) {
            Ok(())
        } else {
            Err(ContentError::OutsideRequested {
                format: self.fmt,
                path,
                requested: self.requested,
            })
        }
    }

    /// The content of an object instance TLV: resource TLVs.
    fn instance(&mut self, inst: Path, value: &[u8]) -> Result<(), ContentError> {
        let tlvs = parse_all(self.fmt, value)?;
        self.resources(inst, &tlvs)
    }

    fn resources(&mut self, inst: Path, tlvs: &[Tlv]) -> Result<(), ContentError> {
        for t in tlvs {
            self.expect(t, &[Kind::ResourceValue, Kind::MultipleResource], &inst)?;
            let res = inst
                .child(t.id)
                .ok_or_else(|| malformed(self.fmt, "resource below a resource instance"))?;
            self.inside(res)?;
            if t.kind == Kind::ResourceValue {
                self.push(res, t.value)?;
            } else {
                let instances = parse_all(self.fmt, t.value)?;
                self.resource_instances(res, &instances)?;
            }
        }
        Ok(())
    }

    fn resource_instances(&mut self, res: Path, tlvs: &[Tlv]) -> Result<(), ContentError> {
        for t in tlvs {
            self.expect(t, &[Kind::ResourceInstance], &res)?;
            let path = res.child(t.id).ok_or_else(|| {
                malformed(self.fmt, "resource instance below a resource instance")
            })?;
            self.inside(path)?;
            self.push(path, t.value)?;
        }
        Ok(())
    }

    fn push(&mut self, path: Path, bytes: &[u8]) -> Result<(), ContentError> {
        let ty = match (path.object(), path.resource()) {
            (Some(o), Some(r)) => self.model.resource_type(o, r),
            _ => None,
        };
        let value = decode_value(self.fmt, ty, bytes).map_err(|e| match e {
            ContentError::Malformed { format, reason } => {
                malformed(format, format!("{path}: {reason}"))
            }
            e => e,
        })?;
        self.out.push(Record {
            path,
            value,
            time: None,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::content::{decode, ContentError, ContentFormat, CoreModel, Path, Record, Value};

    const TLV: ContentFormat = ContentFormat::Tlv;

    /// Core TS 1.1 §7.4.3 example: a Read of /3/0 (subset of the resources).
    const DEVICE: &[u8] = &[
        0xC8, 0x00, 0x14, b'O', b'p', b'e', b'n', b' ', b'M', b'o', b'b', b'i', b'l', b'e', b' ',
        b'A', b'l', b'l', b'i', b'a', b'n', b'c', b'e', // 0 Manufacturer
        0xC3, 0x03, b'1', b'.', b'0', // 3 Firmware Version
        0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, // 6 Available Power Sources [1, 5]
        0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13,
        0x88, // 7 Voltage [3800, 5000]
        0xC1, 0x09, 0x64, // 9 Battery Level 100
        0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F, // 13 Current Time
        0xC6, 0x0E, b'+', b'0', b'2', b':', b'0', b'0', // 14 UTC Offset
    ];

    fn expected() -> Vec<Record> {
        let r = |res, v| Record::new(Path::new_resource(3, 0, res), v);
        let ri =
            |res, i, v| Record::new(Path::new_resource_instance(3, 0, res, i), Value::Integer(v));
        vec![
            r(0, Value::String("Open Mobile Alliance".into())),
            r(3, Value::String("1.0".into())),
            ri(6, 0, 1),
            ri(6, 1, 5),
            ri(7, 0, 3800),
            ri(7, 1, 5000),
            r(9, Value::Integer(100)),
            r(13, Value::Time(1_367_491_215)),
            r(14, Value::String("+02:00".into())),
        ]
    }

    #[test]
    fn decodes_instance_read_from_spec() {
        assert_eq!(
            decode(TLV, &Path::new_instance(3, 0), DEVICE, &CoreModel).unwrap(),
            expected()
        );
        assert_eq!(
            decode(
                ContentFormat::LegacyTlv,
                &Path::new_instance(3, 0),
                DEVICE,
                &CoreModel
            )
            .unwrap(),
            expected()
        );
    }

    #[test]
    fn anchors_follow_the_request() {
        let mut wrapped = vec![0x08, 0x00, DEVICE.len() as u8];
        wrapped.extend_from_slice(DEVICE);
        assert_eq!(
            decode(TLV, &Path::new_object(3), &wrapped, &CoreModel).unwrap(),
            expected()
        );
        assert_eq!(
            decode(TLV, &Path::new_instance(3, 0), &wrapped, &CoreModel).unwrap(),
            expected()
        );
        let battery = [0xC1, 0x09, 0x64];
        assert_eq!(
            decode(TLV, &Path::new_resource(3, 0, 9), &battery, &CoreModel).unwrap(),
            vec![Record::new(
                Path::new_resource(3, 0, 9),
                Value::Integer(100)
            )]
        );
        let volts = &DEVICE[36..47];
        let got = decode(TLV, &Path::new_resource(3, 0, 7), volts, &CoreModel).unwrap();
        assert_eq!(got, expected()[4..6].to_vec());
        // bare resource instances for a resource read, and a resource-instance read
        let got = decode(TLV, &Path::new_resource(3, 0, 7), &volts[3..], &CoreModel).unwrap();
        assert_eq!(got, expected()[4..6].to_vec());
        let got = decode(
            TLV,
            &Path::new_resource_instance(3, 0, 7, 1),
            &volts[7..],
            &CoreModel,
        )
        .unwrap();
        assert_eq!(got, expected()[5..6].to_vec());
        // unknown object → opaque
        let got = decode(
            TLV,
            &Path::new_instance(3303, 0),
            &[0xE1, 0x16, 0x44, 0x2A],
            &CoreModel,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![Record::new(
                Path::new_resource(3303, 0, 5700),
                Value::Opaque(vec![0x2A])
            )]
        );
    }

    #[test]
    fn rejects_misplaced_tlvs() {
        let outside = |req: Path, bytes: &[u8]| decode(TLV, &req, bytes, &CoreModel).unwrap_err();
        assert_eq!(
            outside(Path::new_resource(3, 0, 1), &[0xC1, 0x09, 0x64]),
            ContentError::OutsideRequested {
                format: TLV.name(),
                path: Path::new_resource(3, 0, 9),
                requested: Path::new_resource(3, 0, 1)
            }
        );
        assert!(matches!(
            outside(Path::new_instance(3, 1), &[0x03, 0x00, 0xC1, 0x09, 0x64]),
            ContentError::OutsideRequested { .. }
        ));
        assert!(matches!(
            outside(Path::new_resource_instance(3, 0, 7, 0), &[0x41, 0x01, 0x05]),
            ContentError::OutsideRequested { .. }
        ));
        let e = outside(Path::new_object(3), &[0xC1, 0x09, 0x64]).to_string();
        assert_eq!(e, "malformed application/vnd.oma.lwm2m+tlv payload: expected object instance TLV under /3, found resource TLV with id 9");
        let e = outside(Path::new_instance(3, 0), &[0x83, 0x06, 0xC1, 0x00, 0x01]).to_string();
        assert!(
            e.contains("expected resource instance TLV under /3/0/6, found resource TLV"),
            "{e}"
        );
        let e = outside(Path::new_instance(3, 0), &[0xC1, 0x09]).to_string();
        assert!(e.contains("truncated TLV"), "{e}");
        let e = outside(Path::new_instance(3, 0), &[0xC3, 0x09, 0, 0, 1]).to_string();
        assert!(e.contains("/3/0/9: integer of 3 bytes"), "{e}");
        assert!(matches!(
            outside(Path::ROOT, &[]),
            ContentError::InvalidRequest { .. }
        ));
        assert!(outside(Path::new_resource(3, 0, 9), &[])
            .to_string()
            .contains("empty payload"));
    }
}
