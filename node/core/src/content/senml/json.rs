//! SenML JSON (RFC 8428 §5; LwM2M TS 1.1 Core §7.4.4), content format 110.
//!
//! A payload is an array of record objects. Value fields are `v`
//! (number), `vs` (string), `vb` (boolean), `vd` (data, base64url with
//! optional padding per RFC 8428 §4.3 / §6; the standard alphabet is
//! tolerated) and the LwM2M extension `vlo`. Fields ending in `_` are
//! must-understand (RFC 8428 §4.4) and rejected, as are the base value and
//! base sum `bv` / `bs` (LwM2M does not use them); other unknown fields are
//! ignored (RFC 8428 §4.4).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::{Map, Number, Value as Json};

use super::{base64_decode, entries, resolve, Entry, Num, Raw, Wire};
use crate::content::{malformed, unencodable, ContentError, ObjectModel, Path, Record};

pub(crate) const FMT: &str = "application/senml+json";

pub(crate) fn engine(alpha: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alpha,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// A JSON number: integers in i64 or u64 range stay exact.
pub(crate) fn num(n: &Number) -> Num {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Num::Int(i.into()),
        (None, Some(u)) => Num::Int(u.into()),
        _ => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
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
    let entries = array
        .iter()
        .enumerate()
        .map(|(idx, rec)| {
            entry(rec).map_err(|reason| malformed(FMT, format!("record {idx}: {reason}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let wire = Wire {
        fmt: FMT,
        base64_text: false,
    };
    resolve(wire, requested, entries, model)
}

fn entry(rec: &Json) -> Result<Entry, String> {
    let obj = rec.as_object().ok_or("not a JSON object")?;
    if let Some(key) = obj
        .keys()
        .find(|k| k.ends_with('_') || *k == "bv" || *k == "bs")
    {
        return Err(format!("unsupported must-understand field {key:?}"));
    }
    let text = |field: &str| -> Result<Option<String>, String> {
        obj.get(field)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{field} is not a string"))
            })
            .transpose()
    };
    let number = |field: &str| -> Result<Option<Num>, String> {
        obj.get(field)
            .map(|v| {
                v.as_number()
                    .map(num)
                    .ok_or_else(|| format!("{field} is not a number"))
            })
            .transpose()
    };
    let mut values = Vec::new();
    if let Some(v) = number("v")? {
        values.push(("v", Raw::Num(v)));
    }
    if let Some(s) = text("vs")? {
        values.push(("vs", Raw::Text(s)));
    }
    if let Some(b) = obj.get("vb") {
        values.push(("vb", Raw::Bool(b.as_bool().ok_or("vb is not a boolean")?)));
    }
    if let Some(s) = text("vd")? {
        let data = base64_decode(&s).map_err(|e| format!("vd is not base64url: {e}"))?;
        values.push(("vd", Raw::Data(data)));
    }
    if let Some(s) = text("vlo")? {
        values.push(("vlo", Raw::ObjLnk(s)));
    }
    Ok(Entry {
        bn: text("bn")?,
        bt: number("bt")?.map(Num::as_f64),
        n: text("n")?,
        t: number("t")?.map(Num::as_f64),
        values,
    })
}

/// Encodes records in the given order; the first carries `bn` = the
/// requested path and every `n` is relative to it.
pub(crate) fn encode(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::with_capacity(records.len());
    for e in entries(FMT, records, requested)? {
        let mut m = Map::new();
        if let Some(bn) = e.bn {
            m.insert("bn".into(), bn.into());
        }
        if let Some(n) = e.n {
            m.insert("n".into(), n.into());
        }
        if let Some(t) = e.t {
            m.insert("t".into(), float(FMT, t)?);
        }
        for (field, raw) in e.values {
            let json = match raw {
                Raw::Num(Num::Int(i)) => int(FMT, i)?,
                Raw::Num(Num::Float(f)) => float(FMT, f)?,
                Raw::Text(s) | Raw::ObjLnk(s) => s.into(),
                Raw::Bool(b) => b.into(),
                Raw::Data(d) => engine(&alphabet::URL_SAFE).encode(d).into(),
            };
            m.insert(field.into(), json);
        }
        out.push(Json::Object(m));
    }
    serde_json::to_vec(&out).map_err(|e| unencodable(FMT, e.to_string()))
}

pub(crate) fn float(fmt: &'static str, f: f64) -> Result<Json, ContentError> {
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| unencodable(fmt, format!("{f} is not finite")))
}

pub(crate) fn int(fmt: &'static str, i: i128) -> Result<Json, ContentError> {
    if let Ok(i) = i64::try_from(i) {
        Ok(i.into())
    } else {
        u64::try_from(i)
            .map(Json::from)
            .map_err(|_| unencodable(fmt, format!("{i} is out of range")))
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
