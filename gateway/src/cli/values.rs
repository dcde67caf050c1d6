//! Parsing of the values that `write` and `create` send, and of Execute arguments.
//!
//! A value on the command line is text; its LwM2M type comes from `--type`, or is inferred:
//! an integer if it parses as an `i64`, a float if it contains a `.` and parses as an `f64`,
//! `true` / `false` as a boolean, anything else as a string. Explicit types take opaque as hex
//! (`0x0a1b`), objlnk as `object:instance` (`3:0`) and time as RFC 3339 or Unix seconds.
//!
//! Everything here is pure and returns a message suitable after `error: `.

use clap::ValueEnum;
use lwm2m_proto::v1::value::Kind;
use lwm2m_proto::v1::{CreateValue, ObjectLinkValue, PathValue, Value};

use super::args::parse_time;

/// `--type`: the LwM2M data type of every value of the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValueType {
    String,
    Integer,
    Unsigned,
    Float,
    Boolean,
    /// Hex bytes, `0x0a1b` (the `0x` is optional).
    Opaque,
    /// RFC 3339 or seconds since the Unix epoch.
    Time,
    /// `object:instance`, e.g. `3:0`.
    Objlnk,
}

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

/// The type a value without `--type` gets (see the module docs).
pub fn infer(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        return value(Kind::IntegerValue(i));
    }
    if s.contains('.') {
        if let Ok(f) = s.parse::<f64>() {
            return value(Kind::FloatValue(f));
        }
    }
    match s {
        "true" => value(Kind::BooleanValue(true)),
        "false" => value(Kind::BooleanValue(false)),
        _ => value(Kind::StringValue(s.to_string())),
    }
}

/// One value as `ty`, or inferred when `ty` is `None`.
pub fn parse_value(s: &str, ty: Option<ValueType>) -> Result<Value, String> {
    let Some(ty) = ty else {
        return Ok(infer(s));
    };
    let bad = |what: &str| format!("{s:?} is not {what}");
    let kind = match ty {
        ValueType::String => Kind::StringValue(s.to_string()),
        ValueType::Integer => Kind::IntegerValue(s.parse().map_err(|_| bad("an integer"))?),
        ValueType::Unsigned => {
            Kind::UnsignedValue(s.parse().map_err(|_| bad("an unsigned integer"))?)
        }
        ValueType::Float => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Kind::FloatValue(f),
            _ => return Err(bad("a finite float")),
        },
        ValueType::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Kind::BooleanValue(true),
            "false" | "0" => Kind::BooleanValue(false),
            _ => return Err(bad("a boolean (true, false, 1 or 0)")),
        },
        ValueType::Opaque => Kind::OpaqueValue(parse_hex(s).ok_or_else(|| bad("hex bytes"))?),
        ValueType::Time => Kind::TimeValue(match s.parse::<i64>() {
            Ok(secs) => secs,
            Err(_) => {
                parse_time(s)
                    .map_err(|_| bad("a time (RFC 3339 or Unix seconds)"))?
                    .seconds
            }
        }),
        ValueType::Objlnk => {
            let link = s.split_once(':').and_then(|(o, i)| {
                Some(ObjectLinkValue {
                    object_id: o.parse::<u16>().ok()?.into(),
                    instance_id: i.parse::<u16>().ok()?.into(),
                })
            });
            Kind::ObjlnkValue(link.ok_or_else(|| bad("an object link (object:instance)"))?)
        }
    };
    Ok(value(kind))
}

/// Hex digits, optionally after `0x`, two per byte.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if !digits.len().is_multiple_of(2) || !digits.is_ascii() {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

/// The ids of an LwM2M path: `/` and 1 to 4 ids in 0..=65535 (`/3/0/14` → `[3, 0, 14]`).
pub fn parse_path(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("{s:?} is not an LwM2M path such as /3/0/14");
    let rest = s.strip_prefix('/').ok_or_else(bad)?;
    let ids = rest
        .split('/')
        .map(|id| id.parse::<u16>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    match ids.len() {
        1..=4 => Ok(ids),
        _ => Err(bad()),
    }
}

/// The values of `write`: each `PATH=VALUE` with PATH a resource or resource instance at or
/// below `target`; a single bare VALUE when `target` itself is a resource or resource instance.
pub fn write_values(
    target: &str,
    items: &[String],
    ty: Option<ValueType>,
) -> Result<Vec<PathValue>, String> {
    let target_ids = parse_path(target)?;
    if target_ids.len() < 2 {
        return Err(format!(
            "cannot write {target}: the target is an object instance, resource or resource instance"
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (path, text) = match item.split_once('=').filter(|_| item.starts_with('/')) {
            Some((path, text)) => {
                let ids = parse_path(path)?;
                if ids.len() < 3 || !ids.starts_with(&target_ids) {
                    return Err(format!(
                        "{path} is not a resource or resource instance at or below {target}"
                    ));
                }
                (path, text)
            }
            None if target_ids.len() >= 3 && items.len() == 1 => (target, item.as_str()),
            None => {
                return Err(format!(
                    "{item:?}: give values as PATH=VALUE (e.g. /3/0/14=+01:00); a bare value \
                     is only allowed alone, for a resource or resource instance target"
                ))
            }
        };
        let value = parse_value(text, ty).map_err(|e| format!("{path}: {e}"))?;
        out.push(PathValue {
            path: path.to_string(),
            value: Some(value),
        });
    }
    Ok(out)
}

/// The values of `create`: each `RESOURCE=VALUE` or `RESOURCE/INSTANCE=VALUE` (`5700=21.5`,
/// `6/0=1`).
pub fn create_values(items: &[String], ty: Option<ValueType>) -> Result<Vec<CreateValue>, String> {
    items
        .iter()
        .map(|item| {
            let bad =
                || format!("{item:?}: give values as RESOURCE=VALUE or RESOURCE/INSTANCE=VALUE");
            let (ids, text) = item.split_once('=').ok_or_else(bad)?;
            let (resource, instance) = match ids.split_once('/') {
                Some((r, i)) => (r, Some(i)),
                None => (ids, None),
            };
            let id = |s: &str| s.parse::<u16>().map(u32::from).map_err(|_| bad());
            let value = parse_value(text, ty).map_err(|e| format!("{ids}: {e}"))?;
            Ok(CreateValue {
                resource_id: id(resource)?,
                resource_instance_id: instance.map(id).transpose()?,
                value: Some(value),
            })
        })
        .collect()
}

/// Checks Execute arguments against TS 1.1 §5.4.2.5: `arg *("," arg)` with
/// `arg = DIGIT ["=" "'" *CHAR "'"]`, CHAR printable ASCII except space, `"`, `'` and `\`.
pub fn check_execute_args(s: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\');
    for arg in s.split(',') {
        let mut chars = arg.chars();
        let valid = match (chars.next(), chars.as_str()) {
            (Some(d), "") => d.is_ascii_digit(),
            (Some(d), rest) => {
                d.is_ascii_digit()
                    && rest
                        .strip_prefix("='")
                        .and_then(|r| r.strip_suffix('\''))
                        .is_some_and(|v| v.chars().all(ok_char))
            }
            (None, _) => false,
        };
        if !valid {
            return Err(format!(
                "bad execute argument {arg:?} in {s:?}: use DIGIT or DIGIT='VALUE', comma \
                 separated, e.g. 0='v',1"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
