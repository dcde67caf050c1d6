//! SenML JSON encoding (RFC 8428 §4–§5, LwM2M TS 1.1 Core §7.4.4): the
//! inverse of [`super::decode`], used by the simulated device and tests.

use base64::{alphabet, Engine};
use serde_json::{Map, Number, Value as Json};

use super::{engine, FMT};
use crate::content::{unencodable, ContentError, Path, Record, Value};

/// Encodes records in the given order; the first carries `bn` = the
/// requested path and every `n` is relative to it.
pub(crate) fn encode(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    let base = if requested.is_root() {
        String::new()
    } else {
        requested.to_string()
    };
    let mut out = Vec::with_capacity(records.len());
    for (idx, r) in records.iter().enumerate() {
        let mut m = Map::new();
        if idx == 0 && !base.is_empty() {
            m.insert("bn".into(), base.clone().into());
        }
        let full = r.path.to_string();
        let n = full.strip_prefix(base.as_str()).unwrap_or(&full);
        if !n.is_empty() {
            m.insert("n".into(), n.into());
        }
        if let Some(t) = r.time {
            let t = Number::from_f64(t)
                .ok_or_else(|| unencodable(FMT, format!("time {t} is not finite")))?;
            m.insert("t".into(), t.into());
        }
        let (field, json): (&str, Json) = match &r.value {
            Value::String(s) => ("vs", s.clone().into()),
            Value::Integer(i) | Value::Time(i) => ("v", (*i).into()),
            Value::Unsigned(u) => ("v", (*u).into()),
            Value::Float(f) => (
                "v",
                Number::from_f64(*f)
                    .ok_or_else(|| unencodable(FMT, format!("{f} is not finite")))?
                    .into(),
            ),
            Value::Boolean(b) => ("vb", (*b).into()),
            Value::Opaque(b) => ("vd", engine(&alphabet::URL_SAFE).encode(b).into()),
            Value::ObjLnk { object, instance } => ("vlo", format!("{object}:{instance}").into()),
        };
        m.insert(field.into(), json);
        out.push(Json::Object(m));
    }
    serde_json::to_vec(&out).map_err(|e| unencodable(FMT, e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::content::testgen::{arb_object_records, sub_requests};
    use crate::content::{decode, encode, ContentFormat, CoreModel, Path, Record, Value};
    use proptest::prelude::*;

    const SENML: ContentFormat = ContentFormat::SenmlJson;

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
        fn round_trip(recs in arb_object_records(true), as_root in any::<bool>()) {
            for (requested, expected) in sub_requests(&recs) {
                let requested = if as_root { Path::ROOT } else { requested };
                let bytes = encode(SENML, &expected, &requested, &CoreModel).unwrap();
                prop_assert_eq!(decode(SENML, &requested, &bytes, &CoreModel).unwrap(), expected);
            }
        }

    }
}
