//! SenML JSON (RFC 8428; LwM2M TS 1.1 Core §7.4.4), content format 110.
//!
//! A payload is an array of records. Base fields persist to later records
//! (RFC 8428 §4.1): the name is `bn` + `n`, the time is `bt` + `t`. The
//! value is exactly one of `v` (number), `vs` (string), `vb` (boolean),
//! `vd` (data, base64url with optional padding per RFC 8428 §4.3 / §6;
//! the standard alphabet is tolerated) and the LwM2M extension `vlo`
//! (object link `"o:i"`, Core TS §7.4.4). Fields ending in `_` are
//! must-understand (RFC 8428 §4.4) and rejected. Relative times (RFC 8428
//! §4.5.3) are returned as is: this core never reads the clock.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{Number, Value as Json};

use super::{
    malformed, parse_objlnk, ContentError, ObjectModel, Path, Record, ResourceType, Value,
};

mod encode;
pub(crate) use encode::encode;

pub(crate) const FMT: &str = "application/senml+json";
const VALUE_FIELDS: [&str; 5] = ["v", "vs", "vb", "vd", "vlo"];

pub(crate) fn engine(alpha: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alpha,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Decodes a SenML JSON payload answering a Read of `requested`.
pub(crate) fn decode(
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let json: Json = serde_json::from_slice(payload)
        .map_err(|e| malformed(FMT, format!("invalid JSON: {e}")))?;
    let array = json
        .as_array()
        .ok_or_else(|| malformed(FMT, "expected a JSON array of records"))?;
    let mut base_name = String::new();
    let mut base_time: Option<f64> = None;
    let mut out = Vec::with_capacity(array.len());
    for (idx, rec) in array.iter().enumerate() {
        let bad = |reason: String| malformed(FMT, format!("record {idx}: {reason}"));
        let obj = rec
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        if let Some(key) = obj.keys().find(|k| k.ends_with('_')) {
            return Err(bad(format!("unsupported must-understand field {key:?}")));
        }
        if let Some(bn) = obj.get("bn") {
            base_name = bn
                .as_str()
                .ok_or_else(|| bad("bn is not a string".into()))?
                .to_string();
        }
        if let Some(bt) = obj.get("bt") {
            base_time = Some(
                bt.as_f64()
                    .ok_or_else(|| bad("bt is not a number".into()))?,
            );
        }
        let n = match obj.get("n") {
            Some(n) => n.as_str().ok_or_else(|| bad("n is not a string".into()))?,
            None => "",
        };
        let t = match obj.get("t") {
            Some(t) => Some(t.as_f64().ok_or_else(|| bad("t is not a number".into()))?),
            None => None,
        };
        let name = format!("{base_name}{n}");
        let path = Path::parse(&name).map_err(|e| bad(e.to_string()))?;
        let (Some(o), Some(r)) = (path.object(), path.resource()) else {
            return Err(bad(format!(
                "{path} is not a resource or resource instance"
            )));
        };
        if !requested.is_prefix_of(&path) {
            return Err(ContentError::OutsideRequested {
                format: FMT,
                path,
                requested: *requested,
            });
        }
        let mut fields = VALUE_FIELDS
            .iter()
            .filter_map(|f| obj.get(*f).map(|v| (*f, v)));
        let (field, json) = fields
            .next()
            .ok_or_else(|| bad(format!("{path} has no value field")))?;
        if let Some((other, _)) = fields.next() {
            return Err(bad(format!("{path} has both {field} and {other}")));
        }
        let value = convert(model.resource_type(o, r), field, json)
            .map_err(|reason| bad(format!("{path}: {reason}")))?;
        let time = match (base_time, t) {
            (None, None) => None,
            (b, t) => Some(b.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        out.push(Record { path, value, time });
    }
    Ok(out)
}

/// An integral number as i64: written as an integer, or a float with no
/// fractional part within range.
fn integral(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| {
                f.fract() == 0.0 && *f >= -9.223_372_036_854_776e18 && *f < 9.223_372_036_854_776e18
            })
            .map(|f| f as i64)
    })
}

fn unsigned(n: &Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.844_674_407_370_955_2e19)
            .map(|f| f as u64)
    })
}

/// Types a value field with the model. Unknown resources: `v` written as
/// an integer becomes Integer (Unsigned above i64), any other `v` Float.
fn convert(ty: Option<ResourceType>, field: &str, json: &Json) -> Result<Value, String> {
    let num = || {
        json.as_number()
            .ok_or_else(|| format!("{field} is not a number"))
    };
    let text = || {
        json.as_str()
            .ok_or_else(|| format!("{field} is not a string"))
    };
    let typed = ty.filter(|t| *t != ResourceType::None);
    let value = match (typed, field) {
        (Some(ResourceType::Integer), "v") => {
            Value::Integer(integral(num()?).ok_or("v is not an integer in i64 range")?)
        }
        (Some(ResourceType::Time), "v") => {
            Value::Time(integral(num()?).ok_or("v is not a time in whole seconds")?)
        }
        (Some(ResourceType::Unsigned), "v") => {
            Value::Unsigned(unsigned(num()?).ok_or("v is not an unsigned integer")?)
        }
        (Some(ResourceType::Float), "v") => {
            Value::Float(num()?.as_f64().ok_or("v is not a float")?)
        }
        (None, "v") => {
            let n = num()?;
            match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Value::Integer(i),
                (None, Some(u), _) => Value::Unsigned(u),
                (None, None, Some(f)) => Value::Float(f),
                _ => return Err("v is not a number".into()),
            }
        }
        (Some(ResourceType::String) | None, "vs") => Value::String(text()?.to_string()),
        (Some(ResourceType::Boolean) | None, "vb") => {
            Value::Boolean(json.as_bool().ok_or("vb is not a boolean")?)
        }
        (Some(ResourceType::ObjLnk) | None, "vlo") => {
            parse_objlnk(text()?).ok_or("vlo is not \"object:instance\"")?
        }
        (Some(ResourceType::Opaque) | None, "vd") => {
            let s = text()?;
            let alpha = if s.contains(['+', '/']) {
                &alphabet::STANDARD
            } else {
                &alphabet::URL_SAFE
            };
            Value::Opaque(
                engine(alpha)
                    .decode(s)
                    .map_err(|e| format!("vd is not base64url: {e}"))?,
            )
        }
        (Some(t), f) => return Err(format!("field {f} cannot carry a {} value", t.name())),
        (None, f) => return Err(format!("unknown value field {f}")),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use crate::content::{decode, ContentError, ContentFormat, CoreModel, Path, Record, Value};
    use proptest::prelude::*;

    const SENML: ContentFormat = ContentFormat::SenmlJson;

    fn read(requested: Path, json: &str) -> Result<Vec<Record>, ContentError> {
        decode(SENML, &requested, json.as_bytes(), &CoreModel)
    }

    #[test]
    fn decodes_spec_example_with_base_fields() {
        // Shape of the Core TS 1.1 §7.4.4 Device read example.
        let recs = read(
            Path::new_instance(3, 0),
            r#"[{"bn":"/3/0/","bt":1.7e9,"n":"0","vs":"Open Mobile Alliance"},
                {"n":"9","v":95,"t":5},{"n":"6/0","v":1},{"n":"13","v":1367491215},
                {"n":"22/0","vlo":"20:0"},{"n":"16","vs":"U"}]"#,
        )
        .unwrap();
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.path.to_string(), r.value.clone(), r.time))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/3/0/0".into(),
                    Value::String("Open Mobile Alliance".into()),
                    Some(1.7e9)
                ),
                ("/3/0/9".into(), Value::Integer(95), Some(1.7e9 + 5.0)),
                ("/3/0/6/0".into(), Value::Integer(1), Some(1.7e9)),
                ("/3/0/13".into(), Value::Time(1_367_491_215), Some(1.7e9)),
                (
                    "/3/0/22/0".into(),
                    Value::ObjLnk {
                        object: 20,
                        instance: 0
                    },
                    Some(1.7e9)
                ),
                ("/3/0/16".into(), Value::String("U".into()), Some(1.7e9)),
            ]
        );
    }

    #[test]
    fn typing_and_unknown_resources() {
        let one = |req: Path, json: &str| read(req, json).map(|mut v| v.remove(0));
        let r = one(Path::new_object(6), r#"[{"n":"/6/0/0","v":43}]"#).unwrap();
        assert_eq!((r.value, r.time), (Value::Float(43.0), None));
        assert_eq!(
            one(Path::new_object(1), r#"[{"n":"/1/0/11","v":7.0}]"#)
                .unwrap()
                .value,
            Value::Unsigned(7)
        );
        assert_eq!(
            one(Path::new_object(0), r#"[{"n":"/0/0/3","vd":"AQID_w"}]"#)
                .unwrap()
                .value,
            Value::Opaque(vec![1, 2, 3, 255])
        );
        assert_eq!(
            one(Path::new_object(0), r#"[{"n":"/0/0/3","vd":"AQID/w=="}]"#)
                .unwrap()
                .value,
            Value::Opaque(vec![1, 2, 3, 255])
        );
        let unknown = Path::new_object(3303);
        assert_eq!(
            one(unknown, r#"[{"n":"/3303/0/5700","v":21}]"#)
                .unwrap()
                .value,
            Value::Integer(21)
        );
        assert_eq!(
            one(unknown, r#"[{"n":"/3303/0/5700","v":21.5}]"#)
                .unwrap()
                .value,
            Value::Float(21.5)
        );
        assert_eq!(
            one(
                unknown,
                r#"[{"n":"/3303/0/5700","v":18446744073709551615}]"#
            )
            .unwrap()
            .value,
            Value::Unsigned(u64::MAX)
        );
        assert_eq!(
            one(unknown, r#"[{"n":"/3303/0/5701","vs":"Cel"}]"#)
                .unwrap()
                .value,
            Value::String("Cel".into())
        );
        assert_eq!(
            one(unknown, r#"[{"n":"/3303/0/5850","vb":true}]"#)
                .unwrap()
                .value,
            Value::Boolean(true)
        );
    }

    #[test]
    fn rejects_bad_records() {
        let err = |req: Path, json: &str| read(req, json).unwrap_err();
        let dev = Path::new_instance(3, 0);
        assert_eq!(
            err(dev, r#"[{"n":"/3/1/0","vs":"x"}]"#),
            ContentError::OutsideRequested {
                format: SENML.name(),
                path: Path::new_resource(3, 1, 0),
                requested: dev
            }
        );
        for (json, needle) in [
            ("{}", "expected a JSON array"),
            ("[1]", "record 0: not a JSON object"),
            (r#"[{"n":"/3/0/9","v":1.5}]"#, "not an integer"),
            (
                r#"[{"n":"/3/0/9","vs":"1"}]"#,
                "field vs cannot carry a Integer value",
            ),
            (r#"[{"n":"/3/0/9"}]"#, "has no value field"),
            (r#"[{"n":"/3/0/9","v":1,"vs":"1"}]"#, "has both v and vs"),
            (r#"[{"n":"/3/0","v":1}]"#, "is not a resource"),
            (r#"[{"n":"3/0/9","v":1}]"#, "must start with '/'"),
            (r#"[{"n":"/3/0/9","v":1,"x_":1}]"#, "must-understand"),
            (r#"[{"bn":5,"n":"/3/0/9","v":1}]"#, "bn is not a string"),
            (r#"[{"n":"/3/0/22/0","vlo":"20"}]"#, "vlo is not"),
            ("[", "invalid JSON"),
        ] {
            let e = err(dev, json).to_string();
            assert!(
                e.starts_with("malformed application/senml+json payload") && e.contains(needle),
                "{json}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(SENML, &Path::ROOT, &bytes, &CoreModel);
        }

        #[test]
        fn decoder_never_panics_on_senml_like_json(
            recs in proptest::collection::vec(proptest::collection::vec((
                prop_oneof![Just("bn"), Just("n"), Just("bt"), Just("t"), Just("v"), Just("vs"), Just("vb"), Just("vd"), Just("vlo")],
                prop_oneof![Just("\"/3/0/\"".to_string()), "\"[/0-9a:]{0,8}\"", "-?[0-9]{1,22}(\\.[0-9]{1,3})?(e[0-9]{1,3})?", Just("true".to_string()), Just("null".to_string())],
            ), 0..5), 0..5)
        ) {
            let json = format!("[{}]", recs.iter().map(|r| format!("{{{}}}", r.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))).collect::<Vec<_>>().join(","));
            let _ = decode(SENML, &Path::new_object(3), json.as_bytes(), &CoreModel);
        }
    }
}
