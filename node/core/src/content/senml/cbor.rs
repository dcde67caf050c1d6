//! SenML CBOR (RFC 8428 §6; LwM2M TS 1.1 Core §7.4.5), content format 112.
//!
//! The same records as SenML JSON, as a CBOR array of maps whose keys are
//! the integer labels of RFC 8428 Table 4: `bn` -2, `bt` -3, `n` 0, `v` 2,
//! `vs` 3, `vb` 4, `t` 6, `vd` 8 (a byte string, not base64), plus the
//! LwM2M text label `"vlo"` (Core TS 1.1 §7.4.5). Labels must not repeat;
//! text labels ending in `_` are must-understand (RFC 8428 §4.4) and the
//! base value / base sum (-5 / -6) are not used by LwM2M: both are
//! rejected. Other labels are ignored. Indefinite-length arrays and maps
//! are accepted (the reader in [`crate::content::cbor`] handles them).

use super::{entries, resolve, Entry, Num, Raw, Wire};
use crate::content::cbor::{self, Item};
use crate::content::{malformed, ContentError, ObjectModel, Path, Record};

pub(crate) const FMT: &str = "application/senml+cbor";

const BN: i128 = -2;
const BT: i128 = -3;
const BV: i128 = -5;
const BS: i128 = -6;
const N: i128 = 0;
const V: i128 = 2;
const VS: i128 = 3;
const VB: i128 = 4;
const T: i128 = 6;
const VD: i128 = 8;
const VLO: &str = "vlo";

/// Decodes a SenML CBOR payload answering a Read of `requested`.
pub(crate) fn decode(
    requested: &Path,
    payload: &[u8],
    model: &dyn ObjectModel,
) -> Result<Vec<Record>, ContentError> {
    let Item::Array(records) = cbor::decode(FMT, payload)? else {
        return Err(malformed(FMT, "expected a CBOR array of records"));
    };
    let entries = records
        .into_iter()
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

fn number(field: &str, item: Item) -> Result<Num, String> {
    match item {
        Item::Float(f) => Ok(Num::Float(f)),
        i => i
            .as_int()
            .map(Num::Int)
            .ok_or_else(|| format!("{field} is not a number but {}", i.kind())),
    }
}

fn text(field: &str, item: Item) -> Result<String, String> {
    match item {
        Item::Text(s) => Ok(s),
        i => Err(format!("{field} is not a text string but {}", i.kind())),
    }
}

fn entry(rec: Item) -> Result<Entry, String> {
    let Item::Map(pairs) = rec else {
        return Err(format!("not a CBOR map but {}", rec.kind()));
    };
    let mut e = Entry::default();
    let mut seen_int: Vec<i128> = Vec::new();
    let mut seen_text: Vec<String> = Vec::new();
    for (key, value) in pairs {
        match key {
            Item::Text(label) => {
                if seen_text.contains(&label) {
                    return Err(format!("duplicate label {label:?}"));
                }
                if label == VLO {
                    e.values.push(("vlo", Raw::ObjLnk(text("vlo", value)?)));
                } else if label.ends_with('_') {
                    return Err(format!("unsupported must-understand field {label:?}"));
                }
                seen_text.push(label);
            }
            k => {
                let label = k
                    .as_int()
                    .ok_or_else(|| format!("label is {}, not an integer or text", k.kind()))?;
                if seen_int.contains(&label) {
                    return Err(format!("duplicate label {label}"));
                }
                seen_int.push(label);
                match label {
                    BN => e.bn = Some(text("bn", value)?),
                    BT => e.bt = Some(number("bt", value)?.as_f64()),
                    N => e.n = Some(text("n", value)?),
                    T => e.t = Some(number("t", value)?.as_f64()),
                    V => e.values.push(("v", Raw::Num(number("v", value)?))),
                    VS => e.values.push(("vs", Raw::Text(text("vs", value)?))),
                    VB => match value {
                        Item::Bool(b) => e.values.push(("vb", Raw::Bool(b))),
                        i => return Err(format!("vb is not a boolean but {}", i.kind())),
                    },
                    VD => match value {
                        Item::Bytes(d) => e.values.push(("vd", Raw::Data(d))),
                        i => return Err(format!("vd is not a byte string but {}", i.kind())),
                    },
                    BV | BS => {
                        return Err(format!("unsupported base value or sum (label {label})"))
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(e)
}

/// Encodes records in the given order, names relative to the requested
/// path as in SenML JSON.
pub(crate) fn encode(records: &[Record], requested: &Path) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::with_capacity(records.len());
    for e in entries(FMT, records, requested)? {
        let mut m = Vec::new();
        if let Some(bn) = e.bn {
            m.push((Item::int(BN), Item::Text(bn)));
        }
        if let Some(n) = e.n {
            m.push((Item::int(N), Item::Text(n)));
        }
        if let Some(t) = e.t {
            m.push((Item::int(T), time(t)));
        }
        for (_, raw) in e.values {
            m.push(match raw {
                Raw::Num(Num::Int(i)) => (Item::int(V), Item::int(i)),
                Raw::Num(Num::Float(f)) => (Item::int(V), Item::Float(f)),
                Raw::Text(s) => (Item::int(VS), Item::Text(s)),
                Raw::Bool(b) => (Item::int(VB), Item::Bool(b)),
                Raw::Data(d) => (Item::int(VD), Item::Bytes(d)),
                Raw::ObjLnk(s) => (Item::Text(VLO.into()), Item::Text(s)),
            });
        }
        out.push(Item::Map(m));
    }
    Ok(cbor::to_vec(&Item::Array(out)))
}

/// Times in whole seconds are written as integers, others as floats.
fn time(t: f64) -> Item {
    if t.fract() == 0.0 && (-9.0e15..9.0e15).contains(&t) && !(t == 0.0 && t.is_sign_negative()) {
        Item::int(t as i128)
    } else {
        Item::Float(t)
    }
}

#[cfg(test)]
#[path = "cbor_tests.rs"]
mod tests;
