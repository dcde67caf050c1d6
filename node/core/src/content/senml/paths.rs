//! SenML records that carry only names: the payload of a Read-Composite (FETCH) request, and of
//! the Observe-Composite to come (LwM2M TS 1.1 §6.3.8, RFC 8428 records without values).

use serde_json::Value as Json;

use super::super::cbor::{self, Item};
use super::super::{malformed, ContentError, ContentFormat, Path};

/// Encodes `paths` as SenML JSON (`[{"n":"/3/0/0"},...]`) or SenML CBOR (`[{0:"/3/0/0"},...]`).
pub fn encode_paths(format: ContentFormat, paths: &[Path]) -> Result<Vec<u8>, ContentError> {
    match format {
        ContentFormat::SenmlJson => {
            let records: Vec<Json> = paths
                .iter()
                .map(|p| serde_json::json!({ "n": p.to_string() }))
                .collect();
            serde_json::to_vec(&records).map_err(|e| malformed(format.name(), e.to_string()))
        }
        ContentFormat::SenmlCbor => {
            let records = paths
                .iter()
                .map(|p| Item::Map(vec![(Item::Uint(0), Item::Text(p.to_string()))]))
                .collect();
            Ok(cbor::to_vec(&Item::Array(records)))
        }
        other => Err(ContentError::UnsupportedFormat(other)),
    }
}

/// Decodes a names-only SenML payload; `bn` + `n` are resolved as in value records. Records
/// carrying a value are refused: a composite request names paths, it does not write.
pub fn decode_paths(format: ContentFormat, payload: &[u8]) -> Result<Vec<Path>, ContentError> {
    let name = format.name();
    let names: Vec<(Option<String>, Option<String>)> = match format {
        ContentFormat::SenmlJson => {
            let json: Json =
                serde_json::from_slice(payload).map_err(|e| malformed(name, e.to_string()))?;
            let Json::Array(records) = json else {
                return Err(malformed(name, "not an array of records"));
            };
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let Json::Object(m) = r else {
                    return Err(malformed(name, "record is not an object"));
                };
                let text = |k: &str| m.get(k).and_then(Json::as_str).map(str::to_string);
                if m.keys().any(|k| !matches!(k.as_str(), "n" | "bn")) {
                    return Err(malformed(name, "a path record carries more than bn and n"));
                }
                out.push((text("bn"), text("n")));
            }
            out
        }
        ContentFormat::SenmlCbor => {
            let Item::Array(records) = cbor::decode(name, payload)? else {
                return Err(malformed(name, "not an array of records"));
            };
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let Item::Map(entries) = r else {
                    return Err(malformed(name, "record is not a map"));
                };
                let (mut bn, mut n) = (None, None);
                for (k, v) in entries {
                    match (k.as_int(), v) {
                        (Some(-2), Item::Text(t)) => bn = Some(t),
                        (Some(0), Item::Text(t)) => n = Some(t),
                        _ => {
                            return Err(malformed(name, "a path record carries more than bn and n"))
                        }
                    }
                }
                out.push((bn, n));
            }
            out
        }
        other => return Err(ContentError::UnsupportedFormat(other)),
    };
    let mut base = String::new();
    let mut paths = Vec::with_capacity(names.len());
    for (bn, n) in names {
        if let Some(bn) = bn {
            base = bn;
        }
        let full = format!("{base}{}", n.unwrap_or_default());
        paths.push(Path::parse(&full)?);
    }
    if paths.is_empty() {
        return Err(malformed(name, "no path"));
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn round_trip_in_both_formats() {
        let paths = vec![p("/3/0/0"), p("/1/0"), p("/3/0/7/1")];
        for f in [ContentFormat::SenmlJson, ContentFormat::SenmlCbor] {
            let bytes = encode_paths(f, &paths).unwrap();
            assert_eq!(decode_paths(f, &bytes).unwrap(), paths, "{f:?}");
        }
        assert_eq!(
            encode_paths(ContentFormat::SenmlJson, &paths[..1]).unwrap(),
            br#"[{"n":"/3/0/0"}]"#
        );
    }

    #[test]
    fn base_names_and_refusals() {
        let json = br#"[{"bn":"/3/0/","n":"0"},{"n":"1"}]"#;
        assert_eq!(
            decode_paths(ContentFormat::SenmlJson, json).unwrap(),
            vec![p("/3/0/0"), p("/3/0/1")]
        );
        assert!(decode_paths(ContentFormat::SenmlJson, br#"[{"n":"/3/0/0","v":1}]"#).is_err());
        assert!(decode_paths(ContentFormat::SenmlJson, br#"[]"#).is_err());
        assert!(decode_paths(ContentFormat::SenmlJson, br#"[{"n":"3/0"}]"#).is_err());
        assert!(decode_paths(ContentFormat::Tlv, b"").is_err());
    }
}
