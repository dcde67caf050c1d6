//! The SenML record model (RFC 8428 §4) shared by three wire formats:
//! SenML JSON ([`json`], Core TS 1.1 §7.4.4, format 110), SenML CBOR
//! ([`cbor`], Core TS 1.1 §7.4.5, format 112) and the older LwM2M JSON
//! ([`lwm2m_json`], Core TS 1.0 §6.4.4 / 1.1 §7.4.6, formats 11543/1543).
//!
//! A wire layer only turns its syntax into [`Entry`]s (and back); this
//! module resolves names and times and types values with the model.
//! Base fields persist to later records (RFC 8428 §4.1): the name is
//! `bn` + `n`, the time is `bt` + `t`. Each record has exactly one value:
//! a number, a string, a boolean, data (opaque bytes) or the LwM2M object
//! link `"o:i"` (`vlo`, Core TS 1.1 §7.4.4). Relative times (RFC 8428
//! §4.5.3) are returned as is: this core never reads the clock.

use base64::{alphabet, Engine};

use super::{
    malformed, parse_objlnk, unencodable, ContentError, ObjectModel, Path, Record, ResourceType,
    Value,
};

pub(crate) mod cbor;
pub(crate) mod json;
pub(crate) mod lwm2m_json;
pub(crate) mod paths;

/// A number as written: integers keep their exact value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A record's value as carried by the wire format, before typing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    /// `v`
    Num(Num),
    /// `vs` (LwM2M JSON `sv`)
    Text(String),
    /// `vb` (LwM2M JSON `bv`)
    Bool(bool),
    /// `vd`: bytes (already base64-decoded in JSON)
    Data(Vec<u8>),
    /// `vlo` (LwM2M JSON `ov`): `"o:i"`
    ObjLnk(String),
}

/// One SenML record as read from (or written to) the wire. `values` holds
/// every value field found, under its wire name, so that [`resolve`] can
/// refuse records with none or several.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entry {
    pub bn: Option<String>,
    pub bt: Option<f64>,
    pub n: Option<String>,
    pub t: Option<f64>,
    pub values: Vec<(&'static str, Raw)>,
}

/// Decoding options of a wire format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire {
    pub fmt: &'static str,
    /// LwM2M JSON carries Opaque as base64 in `sv` (Core TS 1.0 §6.4.4).
    pub base64_text: bool,
}

/// Resolves names and times of `entries` and types their values.
pub(crate) fn resolve(
    wire: Wire,
    requested: &Path,
    entries: Vec<Entry>,
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let fmt = wire.fmt;
    let mut base_name = String::new();
    let mut base_time: Option<f64> = None;
    let mut out = Vec::with_capacity(entries.len());
    for (idx, e) in entries.into_iter().enumerate() {
        let bad = |reason: String| malformed(fmt, format!("record {idx}: {reason}"));
        if let Some(bn) = e.bn {
            base_name = bn;
        }
        if let Some(bt) = e.bt {
            base_time = Some(bt);
        }
        if base_time.is_some_and(|t| !t.is_finite()) || e.t.is_some_and(|t| !t.is_finite()) {
            return Err(bad("time is not a finite number".into()));
        }
        let name = format!("{base_name}{}", e.n.as_deref().unwrap_or(""));
        let path = Path::parse(&name).map_err(|e| bad(e.to_string()))?;
        let (Some(o), Some(r)) = (path.object(), path.resource()) else {
            return Err(bad(format!(
                "{path} is not a resource or resource instance"
            )));
        };
        if !requested.is_prefix_of(&path) {
            return Err(ContentError::OutsideRequested {
                format: fmt,
                path,
                requested: *requested,
            });
        }
        let mut values = e.values.into_iter();
        let (field, raw) = values
            .next()
            .ok_or_else(|| bad(format!("{path} has no value field")))?;
        if let Some((other, _)) = values.next() {
            return Err(bad(format!("{path} has both {field} and {other}")));
        }
        let value = convert(wire, model.resource_type(o, r), field, raw)
            .map_err(|reason| bad(format!("{path}: {reason}")))?;
        let time = match (base_time, e.t) {
            (None, None) => None,
            (b, t) => Some(b.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        // Both parts are finite, but their sum may still overflow.
        if time.is_some_and(|t| !t.is_finite()) {
            return Err(bad("bt + t is not a finite number".into()));
        }
        out.push(Record { path, value, time });
    }
    Ok(out)
}

/// An integral number as i64: written as an integer, or a float with no
/// fractional part within range.
fn integral(n: Num) -> Option<i64> {
    match n {
        Num::Int(i) => i64::try_from(i).ok(),
        Num::Float(f) => (f.fract() == 0.0
            && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
        .then_some(f as i64),
    }
}

fn unsigned(n: Num) -> Option<u64> {
    match n {
        Num::Int(i) => u64::try_from(i).ok(),
        Num::Float(f) => {
            (f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f)).then_some(f as u64)
        }
    }
}

/// Decodes base64 (RFC 4648 §5 url-safe, or §4 standard when it uses `+`
/// or `/`), padding optional.
pub(crate) fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let alpha = if s.contains(['+', '/']) {
        &alphabet::STANDARD
    } else {
        &alphabet::URL_SAFE
    };
    json::engine(alpha).decode(s).map_err(|e| e.to_string())
}

/// Types a value with the model. Unknown resources: an integer `v`
/// becomes Integer (Unsigned above i64), any other `v` Float.
fn convert(wire: Wire, ty: Option<ResourceType>, field: &str, raw: Raw) -> Result<Value, String> {
    let typed = ty.filter(|t| *t != ResourceType::None);
    if let Raw::Num(Num::Float(f)) = raw {
        if !f.is_finite() {
            return Err(format!("{field} is not a finite number"));
        }
    }
    let value = match (typed, raw) {
        (Some(ResourceType::Integer), Raw::Num(n)) => Value::Integer(
            integral(n).ok_or_else(|| format!("{field} is not an integer in i64 range"))?,
        ),
        (Some(ResourceType::Time), Raw::Num(n)) => Value::Time(
            integral(n).ok_or_else(|| format!("{field} is not a time in whole seconds"))?,
        ),
        (Some(ResourceType::Unsigned), Raw::Num(n)) => Value::Unsigned(
            unsigned(n).ok_or_else(|| format!("{field} is not an unsigned integer"))?,
        ),
        (Some(ResourceType::Float), Raw::Num(n)) => Value::Float(n.as_f64()),
        (None, Raw::Num(Num::Int(i))) => match (i64::try_from(i), u64::try_from(i)) {
            (Ok(i), _) => Value::Integer(i),
            (_, Ok(u)) => Value::Unsigned(u),
            _ => Value::Float(i as f64),
        },
        (None, Raw::Num(Num::Float(f))) => Value::Float(f),
        (Some(ResourceType::Opaque), Raw::Text(s)) if wire.base64_text => {
            Value::Opaque(base64_decode(&s).map_err(|e| format!("{field} is not base64: {e}"))?)
        }
        (Some(ResourceType::String) | None, Raw::Text(s)) => Value::String(s),
        (Some(ResourceType::Boolean) | None, Raw::Bool(b)) => Value::Boolean(b),
        (Some(ResourceType::ObjLnk) | None, Raw::ObjLnk(s)) => {
            parse_objlnk(&s).ok_or_else(|| format!("{field} is not \"object:instance\""))?
        }
        (Some(ResourceType::Opaque) | None, Raw::Data(d)) => Value::Opaque(d),
        (Some(t), _) => return Err(format!("field {field} cannot carry a {} value", t.name())),
    };
    Ok(value)
}

/// The wire value of `value` under its SenML field name.
pub(crate) fn raw_value(
    fmt: &'static str,
    value: &Value,
) -> Result<(&'static str, Raw), ContentError> {
    Ok(match value {
        Value::String(s) => ("vs", Raw::Text(s.clone())),
        Value::Integer(i) | Value::Time(i) => ("v", Raw::Num(Num::Int((*i).into()))),
        Value::Unsigned(u) => ("v", Raw::Num(Num::Int((*u).into()))),
        Value::Float(f) if f.is_finite() => ("v", Raw::Num(Num::Float(*f))),
        Value::Float(f) => return Err(unencodable(fmt, format!("{f} is not finite"))),
        Value::Boolean(b) => ("vb", Raw::Bool(*b)),
        Value::Opaque(b) => ("vd", Raw::Data(b.clone())),
        Value::ObjLnk { object, instance } => ("vlo", Raw::ObjLnk(format!("{object}:{instance}"))),
    })
}

/// Entries for `records` in the given order: the first carries `bn` = the
/// requested path and every `n` is relative to it (RFC 8428 §4.5.1).
pub(crate) fn entries(
    fmt: &'static str,
    records: &[Record],
    requested: &Path,
) -> Result<Vec<Entry>, ContentError> {
    let base = if requested.is_root() {
        String::new()
    } else {
        requested.to_string()
    };
    let mut out = Vec::with_capacity(records.len());
    for (idx, r) in records.iter().enumerate() {
        let full = r.path.to_string();
        let n = full.strip_prefix(base.as_str()).unwrap_or(&full);
        if let Some(t) = r.time.filter(|t| !t.is_finite()) {
            return Err(unencodable(fmt, format!("time {t} is not finite")));
        }
        out.push(Entry {
            bn: (idx == 0 && !base.is_empty()).then(|| base.clone()),
            bt: None,
            n: (!n.is_empty()).then(|| n.to_string()),
            t: r.time,
            values: vec![raw_value(fmt, &r.value)?],
        });
    }
    Ok(out)
}
