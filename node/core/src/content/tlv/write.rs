//! TLV encoding (LwM2M TS 1.1 Core §7.4.3), the inverse of [`super::read`]:
//! records are sorted by path and nested as object instance → resource /
//! multiple resource → resource instance TLVs below the requested path.

use super::{encode_value, write_tlv, Kind};
use crate::content::{unencodable, ContentError, Path, Record};

/// Encodes records (already checked to lie at resource depth inside
/// `requested`) as the TLV answer to a Read of `requested`.
pub(crate) fn encode(
    fmt: &'static str,
    records: &[Record],
    requested: &Path,
) -> Result<Vec<u8>, ContentError> {
    let mut recs: Vec<&Record> = records.iter().collect();
    recs.sort_by_key(|r| r.path);
    if let Some(w) = recs.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(ContentError::Conflict {
            format: fmt,
            path: w[0].path,
            reason: "more than one value",
        });
    }
    let mut out = Vec::new();
    match requested.depth() {
        0 => {
            return Err(ContentError::InvalidRequest {
                format: fmt,
                requested: *requested,
                reason: "TLV has no encoding for the root path",
            })
        }
        1 => {
            for group in recs.chunk_by(|a, b| a.path.instance() == b.path.instance()) {
                let id = group
                    .first()
                    .and_then(|r| r.path.instance())
                    .unwrap_or_default();
                let body = resources(fmt, group)?;
                write_tlv(fmt, &mut out, Kind::ObjectInstance, id, &body)?;
            }
        }
        2 => out = resources(fmt, &recs)?,
        3 if !recs.is_empty() => out = resources(fmt, &recs)?,
        4 if recs.len() == 1 => {
            let path = recs[0].path;
            let id = path.resource_instance().unwrap_or_default();
            write_tlv(
                fmt,
                &mut out,
                Kind::ResourceInstance,
                id,
                &encode_value(fmt, &recs[0].value)?,
            )?;
        }
        _ => {
            return Err(unencodable(
                fmt,
                format!(
                    "a Read of {requested} needs exactly one value, got {}",
                    recs.len()
                ),
            ))
        }
    }
    Ok(out)
}

/// Resource and multiple-resource TLVs for records of one object instance.
fn resources(fmt: &'static str, recs: &[&Record]) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::new();
    for group in recs.chunk_by(|a, b| a.path.resource() == b.path.resource()) {
        match group {
            [r] if r.path.depth() == 3 => {
                let id = r.path.resource().unwrap_or_default();
                write_tlv(
                    fmt,
                    &mut out,
                    Kind::ResourceValue,
                    id,
                    &encode_value(fmt, &r.value)?,
                )?;
            }
            [first, ..] if group.iter().all(|r| r.path.depth() == 4) => {
                let mut inner = Vec::new();
                for r in group {
                    let id = r.path.resource_instance().unwrap_or_default();
                    write_tlv(
                        fmt,
                        &mut inner,
                        Kind::ResourceInstance,
                        id,
                        &encode_value(fmt, &r.value)?,
                    )?;
                }
                let id = first.path.resource().unwrap_or_default();
                write_tlv(fmt, &mut out, Kind::MultipleResource, id, &inner)?;
            }
            [first, ..] => {
                let path = first
                    .path
                    .parent()
                    .filter(|_| first.path.depth() == 4)
                    .unwrap_or(first.path);
                return Err(ContentError::Conflict {
                    format: fmt,
                    path,
                    reason: "resource is both single and multiple",
                });
            }
            [] => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::content::testgen::{arb_object_records, sub_requests};
    use crate::content::{
        decode, encode, ContentError, ContentFormat, CoreModel, Path, Record, Value,
    };
    use proptest::prelude::*;

    const TLV: ContentFormat = ContentFormat::Tlv;

    #[test]
    fn encodes_nested_structure() {
        let recs = vec![
            Record::new(Path::new_resource_instance(3, 0, 11, 0), Value::Integer(0)),
            Record::new(Path::new_resource(3, 0, 9), Value::Integer(100)),
        ];
        let bytes = encode(TLV, &recs, &Path::new_instance(3, 0), &CoreModel).unwrap();
        assert_eq!(bytes, vec![0xC1, 0x09, 0x64, 0x83, 0x0B, 0x41, 0x00, 0x00]);
        let bytes = encode(TLV, &recs, &Path::new_object(3), &CoreModel).unwrap();
        assert_eq!(
            bytes,
            vec![0x08, 0x00, 0x08, 0xC1, 0x09, 0x64, 0x83, 0x0B, 0x41, 0x00, 0x00]
        );
        let one = [Record::new(
            Path::new_resource_instance(3, 0, 11, 0),
            Value::Integer(0),
        )];
        assert_eq!(
            encode(
                TLV,
                &one,
                &Path::new_resource_instance(3, 0, 11, 0),
                &CoreModel
            )
            .unwrap(),
            vec![0x41, 0x00, 0x00]
        );
    }

    #[test]
    fn rejects_conflicts() {
        let single = Record::new(Path::new_resource(3, 0, 11), Value::Integer(1));
        let multi = Record::new(Path::new_resource_instance(3, 0, 11, 0), Value::Integer(1));
        let err = encode(
            TLV,
            &[single.clone(), multi],
            &Path::new_instance(3, 0),
            &CoreModel,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ContentError::Conflict {
                format: TLV.name(),
                path: Path::new_resource(3, 0, 11),
                reason: "resource is both single and multiple"
            }
        );
        let err = encode(
            TLV,
            &[single.clone(), single],
            &Path::new_instance(3, 0),
            &CoreModel,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ContentError::Conflict {
                reason: "more than one value",
                ..
            }
        ));
        assert!(encode(TLV, &[], &Path::new_resource(3, 0, 9), &CoreModel).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(recs in arb_object_records(false)) {
            for (requested, expected) in sub_requests(&recs) {
                let bytes = encode(TLV, &expected, &requested, &CoreModel).unwrap();
                let mut sorted = expected.clone();
                sorted.sort_by_key(|r| r.path);
                prop_assert_eq!(decode(TLV, &requested, &bytes, &CoreModel).unwrap(), sorted.clone());
                prop_assert_eq!(decode(ContentFormat::LegacyTlv, &requested, &bytes, &CoreModel).unwrap(), sorted);
            }
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), depth in 0usize..5, ids in any::<[u16; 4]>()) {
            let requested = ids.iter().take(depth).try_fold(Path::ROOT, |p, id| p.child(*id % 4)).unwrap();
            let _ = decode(TLV, &requested, &bytes, &CoreModel);
        }
    }
}
