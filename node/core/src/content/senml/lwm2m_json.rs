//! LwM2M JSON (LwM2M TS 1.0 Core §6.4.4, TS 1.1 Core §7.4.6), content
//! formats 11543 and the legacy 1543.
//!
//! A payload is one object: `bn` (base name, optional), `bt` (base time,
//! optional) and `e`, the array of resource entries. Each entry has an
//! optional name `n` relative to `bn`, an optional time `t` relative to
//! `bt`, and exactly one value: `v` (number: Integer, Unsigned, Float,
//! Time), `sv` (String, or Opaque in base64), `bv` (Boolean) or `ov`
//! (Objlnk `"o:i"`). It is the SenML model with other field names, so
//! names, times and types resolve as in [`super::resolve`]. Unknown fields
//! are refused: this format has no extension mechanism.

use base64::Engine;
use serde_json::{Map, Value as Json};

use super::json::{float, int, num};
use super::{raw_value, resolve, Entry, Num, Raw, Wire};
use crate::content::text::BASE64;
use crate::content::{malformed, unencodable, ContentError, ObjectModel, Path, Record};

/// Decodes an LwM2M JSON payload answering a Read of `requested`.
pub(crate) fn decode(
    fmt: &'static str,
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let json: Json = serde_json::from_slice(payload)
        .map_err(|e| malformed(fmt, format!("invalid JSON: {e}")))?;
    let top = json
        .as_object()
        .ok_or_else(|| malformed(fmt, "expected a JSON object with an \"e\" array"))?;
    if let Some(key) = top
        .keys()
        .find(|k| !["bn", "bt", "e"].contains(&k.as_str()))
    {
        return Err(malformed(fmt, format!("unknown field {key:?}")));
    }
    let bn = match top.get("bn") {
        Some(bn) => Some(
            bn.as_str()
                .ok_or_else(|| malformed(fmt, "bn is not a string"))?
                .to_string(),
        ),
        None => None,
    };
    let bt = match top.get("bt") {
        Some(bt) => Some(
            bt.as_number()
                .ok_or_else(|| malformed(fmt, "bt is not a number"))
                .map(|n| num(n).as_f64())?,
        ),
        None => None,
    };
    let e = top
        .get("e")
        .ok_or_else(|| malformed(fmt, "missing the \"e\" array"))?
        .as_array()
        .ok_or_else(|| malformed(fmt, "e is not an array"))?;
    let mut entries = e
        .iter()
        .enumerate()
        .map(|(idx, rec)| entry(rec).map_err(|r| malformed(fmt, format!("record {idx}: {r}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first) = entries.first_mut() {
        first.bn = bn;
        first.bt = bt;
    }
    let wire = Wire {
        fmt,
        base64_text: true,
    };
    resolve(wire, requested, entries, model)
}

fn entry(rec: &Json) -> Result<Entry, String> {
    let obj = rec.as_object().ok_or("not a JSON object")?;
    let mut e = Entry::default();
    for (key, v) in obj {
        let text = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{key} is not a string"))
        };
        let number = || {
            v.as_number()
                .map(num)
                .ok_or_else(|| format!("{key} is not a number"))
        };
        match key.as_str() {
            "n" => e.n = Some(text()?),
            "t" => e.t = Some(number()?.as_f64()),
            "v" => e.values.push(("v", Raw::Num(number()?))),
            "sv" => e.values.push(("sv", Raw::Text(text()?))),
            "bv" => e
                .values
                .push(("bv", Raw::Bool(v.as_bool().ok_or("bv is not a boolean")?))),
            "ov" => e.values.push(("ov", Raw::ObjLnk(text()?))),
            _ => return Err(format!("unknown field {key:?}")),
        }
    }
    Ok(e)
}

/// Encodes records with `bn` = the requested path (with a trailing `/`
/// unless a record sits at the requested path itself) and relative names,
/// as in the Core TS 1.0 §6.4.4 examples. Opaque values are standard
/// base64 in `sv`.
pub(crate) fn encode(
    fmt: &'static str,
    records: &[Record],
    requested: &Path,
) -> Result<Vec<u8>, ContentError> {
    let mut bn = requested.to_string();
    if !requested.is_root() && records.iter().all(|r| r.path != *requested) {
        bn.push('/');
    }
    let mut e = Vec::with_capacity(records.len());
    for r in records {
        let full = r.path.to_string();
        let n = full.strip_prefix(bn.as_str()).unwrap_or(&full);
        let mut m = Map::new();
        if !n.is_empty() {
            m.insert("n".into(), n.into());
        }
        let (field, json) = match raw_value(fmt, &r.value)?.1 {
            Raw::Num(Num::Int(i)) => ("v", int(fmt, i)?),
            Raw::Num(Num::Float(f)) => ("v", float(fmt, f)?),
            Raw::Text(s) => ("sv", s.into()),
            Raw::Bool(b) => ("bv", b.into()),
            Raw::Data(d) => ("sv", BASE64.encode(d).into()),
            Raw::ObjLnk(s) => ("ov", s.into()),
        };
        m.insert(field.into(), json);
        if let Some(t) = r.time {
            m.insert("t".into(), float(fmt, t)?);
        }
        e.push(Json::Object(m));
    }
    let mut top = Map::new();
    top.insert("bn".into(), bn.into());
    top.insert("e".into(), e.into());
    serde_json::to_vec(&top).map_err(|e| unencodable(fmt, e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::content::testgen::{arb_object_records, sub_requests};
    use crate::content::text::BASE64;
    use crate::content::{
        decode, encode, ContentError, ContentFormat, CoreModel, ObjectModel, Path, Record,
        ResourceType, Value,
    };
    use base64::Engine;
    use proptest::prelude::*;

    const JSON: ContentFormat = ContentFormat::Lwm2mJson;
    const LEGACY: ContentFormat = ContentFormat::LegacyJson;

    fn read(requested: Path, json: &str) -> Result<Vec<Record>, ContentError> {
        decode(JSON, &requested, json.as_bytes(), &CoreModel)
    }

    #[test]
    fn decodes_ts_1_0_device_example() {
        // LwM2M TS 1.0 §6.4.4, Read of /3/0 (Device object instance).
        let json = r#"{"bn":"/3/0/",
          "e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},
               {"n":"2","sv":"345000123"},{"n":"3","sv":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},
               {"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},
               {"n":"9","v":100},{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},
               {"n":"14","sv":"+02:00"},{"n":"15","sv":"U"}]}"#;
        for f in [JSON, LEGACY] {
            let recs = decode(f, &Path::new_instance(3, 0), json.as_bytes(), &CoreModel).unwrap();
            assert_eq!(recs.len(), 16);
            assert_eq!(
                recs[0],
                Record::new(
                    Path::new_resource(3, 0, 0),
                    Value::String("Open Mobile Alliance".into())
                )
            );
            assert_eq!(
                recs[5],
                Record::new(Path::new_resource_instance(3, 0, 6, 1), Value::Integer(5))
            );
            assert_eq!(
                recs[13],
                Record::new(Path::new_resource(3, 0, 13), Value::Time(1_367_491_215))
            );
            assert!(recs.iter().all(|r| r.time.is_none()));
        }
    }

    #[test]
    fn value_fields_times_and_unknown_resources() {
        let one = |req: Path, json: &str| read(req, json).map(|mut v| v.remove(0));
        let r = one(
            Path::new_object(1),
            r#"{"bn":"/1/0/","bt":1.7e9,"e":[{"n":"6","bv":true,"t":-5}]}"#,
        )
        .unwrap();
        assert_eq!((r.value, r.time), (Value::Boolean(true), Some(1.7e9 - 5.0)));
        let value = |req, json| one(req, json).unwrap().value;
        assert_eq!(
            value(
                Path::new_resource(1, 0, 10),
                r#"{"bn":"/1/0/10","e":[{"ov":"11:2"}]}"#
            ),
            Value::ObjLnk {
                object: 11,
                instance: 2
            }
        );
        assert_eq!(
            value(
                Path::new_object(0),
                r#"{"e":[{"n":"/0/0/3","sv":"AQID/w=="}]}"#
            ),
            Value::Opaque(vec![1, 2, 3, 255])
        );
        assert_eq!(
            value(Path::ROOT, r#"{"bn":"/","e":[{"n":"6/0/0","v":43}]}"#),
            Value::Float(43.0)
        );
        assert_eq!(
            value(
                Path::ROOT,
                r#"{"bn":"/3303/0/","e":[{"n":"5700","v":21.5}]}"#
            ),
            Value::Float(21.5)
        );
        assert_eq!(
            value(
                Path::ROOT,
                r#"{"bn":"/3303/0/","e":[{"n":"5701","sv":"Cel"}]}"#
            ),
            Value::String("Cel".into())
        );
        assert_eq!(read(Path::ROOT, r#"{"e":[]}"#), Ok(vec![]));
    }

    #[test]
    fn rejects_bad_payloads() {
        let dev = Path::new_instance(3, 0);
        for (json, needle) in [
            ("[]", "expected a JSON object"),
            ("{}", "missing the \"e\" array"),
            (r#"{"e":{}}"#, "e is not an array"),
            (r#"{"e":[],"ver":1}"#, "unknown field \"ver\""),
            (r#"{"bn":3,"e":[]}"#, "bn is not a string"),
            (r#"{"bt":"x","e":[]}"#, "bt is not a number"),
            (r#"{"e":[1]}"#, "record 0: not a JSON object"),
            (r#"{"e":[{"n":"/3/0/9","vs":"1"}]}"#, "unknown field \"vs\""),
            (
                r#"{"e":[{"n":"/3/0/9","sv":"1"}]}"#,
                "field sv cannot carry a Integer value",
            ),
            (r#"{"e":[{"n":"/3/0/9","v":1,"sv":"1"}]}"#, "has both"),
            (r#"{"e":[{"n":"/3/0/9"}]}"#, "has no value field"),
            (r#"{"e":[{"n":"/3/0/9","v":1.5}]}"#, "not an integer"),
            (r#"{"e":[{"n":"/3/0/9","bv":1}]}"#, "bv is not a boolean"),
            (
                r#"{"e":[{"n":"/3/0/9","v":1,"t":"x"}]}"#,
                "t is not a number",
            ),
            (
                r#"{"bn":"/3/0/","e":[{"n":"22/0","ov":"20"}]}"#,
                "ov is not",
            ),
            (r#"{"bn":"/3/0","e":[{"v":1}]}"#, "is not a resource"),
            ("{", "invalid JSON"),
        ] {
            let e = read(dev, json).unwrap_err().to_string();
            assert!(
                e.starts_with("malformed application/vnd.oma.lwm2m+json payload")
                    && e.contains(needle),
                "{json}: {e}"
            );
        }
        let e = decode(LEGACY, &dev, b"[]", &CoreModel)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(legacy 1543)"), "{e}");
        assert!(matches!(
            read(dev, r#"{"bn":"/3/1/","e":[{"n":"0","sv":"x"}]}"#),
            Err(ContentError::OutsideRequested { .. })
        ));
    }

    #[test]
    fn encodes_like_the_spec_examples() {
        let recs = [
            Record::new(Path::new_resource(3, 0, 0), Value::String("ACME".into())),
            Record::new(Path::new_resource_instance(3, 0, 6, 0), Value::Integer(1)),
            Record {
                path: Path::new_resource(3, 0, 13),
                value: Value::Time(1_367_491_215),
                time: Some(2.5),
            },
        ];
        assert_eq!(
            String::from_utf8(encode(JSON, &recs, &Path::new_instance(3, 0), &CoreModel).unwrap())
                .unwrap(),
            r#"{"bn":"/3/0/","e":[{"n":"0","sv":"ACME"},{"n":"6/0","v":1},{"n":"13","t":2.5,"v":1367491215}]}"#
        );
        let p = Path::new_resource(0, 0, 3);
        assert_eq!(
            encode(
                LEGACY,
                &[Record::new(p, Value::Opaque(vec![1, 2, 3, 255]))],
                &p,
                &CoreModel
            )
            .unwrap(),
            br#"{"bn":"/0/0/3","e":[{"sv":"AQID/w=="}]}"#
        );
        assert_eq!(
            encode(JSON, &recs[..1], &Path::ROOT, &CoreModel).unwrap(),
            br#"{"bn":"/","e":[{"n":"3/0/0","sv":"ACME"}]}"#
        );
        let f = Path::new_resource(6, 0, 0);
        assert!(encode(
            JSON,
            &[Record::new(f, Value::Float(f64::NAN))],
            &f,
            &CoreModel
        )
        .is_err());
    }

    /// Opaque travels as base64 in `sv`: without a model type it reads back
    /// as that String.
    fn read_back(recs: Vec<Record>) -> Vec<Record> {
        recs.into_iter()
            .map(|mut r| {
                let typed = r
                    .path
                    .object()
                    .zip(r.path.resource())
                    .and_then(|(o, res)| CoreModel.resource_type(o, res))
                    .is_some_and(|t| t != ResourceType::None);
                if let (Value::Opaque(b), false) = (&r.value, typed) {
                    r.value = Value::String(BASE64.encode(b));
                }
                r
            })
            .collect()
    }

    proptest! {
        #[test]
        fn round_trip(recs in arb_object_records(true), as_root in any::<bool>(), legacy in any::<bool>()) {
            let f = if legacy { LEGACY } else { JSON };
            for (requested, expected) in sub_requests(&recs) {
                let requested = if as_root { Path::ROOT } else { requested };
                let bytes = encode(f, &expected, &requested, &CoreModel).unwrap();
                prop_assert_eq!(decode(f, &requested, &bytes, &CoreModel).unwrap(), read_back(expected));
            }
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(JSON, &Path::ROOT, &bytes, &CoreModel);
        }

        #[test]
        fn decoder_never_panics_on_lwm2m_like_json(
            bn in prop_oneof![Just("\"/3/0/\""), Just("\"/\""), Just("1"), Just("null")],
            recs in proptest::collection::vec(proptest::collection::vec((
                prop_oneof![Just("n"), Just("t"), Just("v"), Just("sv"), Just("bv"), Just("ov")],
                prop_oneof![Just("\"/3/0/\"".to_string()), "\"[/0-9a:]{0,8}\"", "-?[0-9]{1,22}(\\.[0-9]{1,3})?(e[0-9]{1,3})?", Just("true".to_string()), Just("null".to_string())],
            ), 0..4), 0..5)
        ) {
            let e = recs.iter().map(|r| format!("{{{}}}", r.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))).collect::<Vec<_>>().join(",");
            let json = format!("{{\"bn\":{bn},\"e\":[{e}]}}");
            let _ = decode(JSON, &Path::new_object(3), json.as_bytes(), &CoreModel);
        }
    }
}
