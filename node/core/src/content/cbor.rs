//! A minimal, strict CBOR reader and writer (RFC 8949), enough for the
//! LwM2M CBOR (Core TS 1.2 §7.4.7) and SenML CBOR (RFC 8428 §6) formats.
//!
//! The reader accepts exactly one well-formed data item (RFC 8949 §3,
//! Appendix C) filling the whole input: trailing bytes, reserved additional
//! information (28–30), stray breaks, non-well-formed simple values
//! (§3.3) and nesting deeper than [`MAX_DEPTH`] are refused. Every length
//! is checked against the remaining input before anything is allocated.
//! Indefinite-length strings, arrays and maps (§3.2) are accepted, with
//! string chunks of the same major type as §3.2.3 requires. The writer
//! emits preferred serialization (§4.1): shortest heads, definite lengths
//! and the shortest float that keeps the value exactly.

use super::{malformed, ContentError};

/// Nesting limit of arrays, maps and tags.
pub(crate) const MAX_DEPTH: usize = 16;

/// A decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Uint(u64),
    /// The negative integer `-1 - n`.
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Item>),
    Map(Vec<(Item, Item)>),
    Tag(u64, Box<Item>),
    Bool(bool),
    Null,
    Undefined,
    Simple(u8),
    Float(f64),
}

impl Item {
    /// An integer item for any value in `-2^64 ..= 2^64 - 1`.
    pub(crate) fn int(i: i128) -> Item {
        if i >= 0 {
            Item::Uint(u64::try_from(i).unwrap_or(u64::MAX))
        } else {
            Item::Nint(u64::try_from(-1 - i).unwrap_or(u64::MAX))
        }
    }

    /// The integer value of `Uint` / `Nint` items.
    pub(crate) fn as_int(&self) -> Option<i128> {
        match self {
            Item::Uint(u) => Some(i128::from(*u)),
            Item::Nint(n) => Some(-1 - i128::from(*n)),
            _ => None,
        }
    }

    /// Short description for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Item::Uint(_) => "an unsigned integer",
            Item::Nint(_) => "a negative integer",
            Item::Bytes(_) => "a byte string",
            Item::Text(_) => "a text string",
            Item::Array(_) => "an array",
            Item::Map(_) => "a map",
            Item::Tag(..) => "a tagged item",
            Item::Bool(_) => "a boolean",
            Item::Null => "null",
            Item::Undefined => "undefined",
            Item::Simple(_) => "a simple value",
            Item::Float(_) => "a float",
        }
    }
}

/// Decodes the single data item that fills `input`; errors name `format`.
pub(crate) fn decode(format: &'static str, input: &[u8]) -> Result<Item, ContentError> {
    let mut r = Reader { buf: input, pos: 0 };
    let item = r
        .item(0)
        .map_err(|e| malformed(format, format!("invalid CBOR at byte {}: {e}", r.pos)))?;
    if r.pos != input.len() {
        return Err(malformed(
            format,
            format!("{} trailing bytes after the CBOR item", input.len() - r.pos),
        ));
    }
    Ok(item)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: u64) -> R<&[u8]> {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or_else(|| format!("length {n} exceeds the {} bytes left", self.remaining()))?;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or("unexpected end of input")?;
        self.pos += 1;
        Ok(b)
    }

    fn peek_break(&mut self) -> R<bool> {
        match self.buf.get(self.pos) {
            Some(0xFF) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err("unexpected end of input in indefinite-length item".into()),
        }
    }

    /// The argument of a head (RFC 8949 §3); `None` for indefinite (31).
    fn argument(&mut self, ai: u8) -> R<Option<u64>> {
        let n = match ai {
            0..=23 => return Ok(Some(u64::from(ai))),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Ok(None),
            _ => return Err(format!("reserved additional information {ai}")),
        };
        Ok(Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        ))
    }

    fn definite(&mut self, ai: u8, what: &str) -> R<u64> {
        self.argument(ai)?
            .ok_or_else(|| format!("{what} cannot have an indefinite length"))
    }

    fn string(&mut self, major: u8, ai: u8) -> R<Vec<u8>> {
        let Some(len) = self.argument(ai)? else {
            let mut out = Vec::new();
            while !self.peek_break()? {
                let head = self.byte()?;
                if head >> 5 != major || head & 31 == 31 {
                    return Err(
                        "indefinite-length string chunk is not a definite string of the same type"
                            .into(),
                    );
                }
                let len = self.definite(head & 31, "a chunk")?;
                let chunk = self.take(len)?;
                if major == 3 && std::str::from_utf8(chunk).is_err() {
                    return Err("text string chunk is not UTF-8".into());
                }
                out.extend_from_slice(chunk);
            }
            return Ok(out);
        };
        Ok(self.take(len)?.to_vec())
    }

    fn item(&mut self, depth: usize) -> R<Item> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        let head = self.byte()?;
        let (major, ai) = (head >> 5, head & 31);
        Ok(match major {
            0 => Item::Uint(self.definite(ai, "an integer")?),
            1 => Item::Nint(self.definite(ai, "an integer")?),
            2 => Item::Bytes(self.string(2, ai)?),
            3 => Item::Text(
                String::from_utf8(self.string(3, ai)?).map_err(|_| "text string is not UTF-8")?,
            ),
            4 => Item::Array(match self.argument(ai)? {
                Some(n) => {
                    // Every item takes at least one byte.
                    self.check_count(n, 1)?;
                    (0..n).map(|_| self.item(depth + 1)).collect::<R<_>>()?
                }
                None => {
                    let mut v = Vec::new();
                    while !self.peek_break()? {
                        v.push(self.item(depth + 1)?);
                    }
                    v
                }
            }),
            5 => Item::Map(match self.argument(ai)? {
                Some(n) => {
                    self.check_count(n, 2)?;
                    (0..n)
                        .map(|_| Ok((self.item(depth + 1)?, self.item(depth + 1)?)))
                        .collect::<R<_>>()?
                }
                None => {
                    let mut v = Vec::new();
                    while !self.peek_break()? {
                        v.push((self.item(depth + 1)?, self.item(depth + 1)?));
                    }
                    v
                }
            }),
            6 => {
                let tag = self.definite(ai, "a tag")?;
                Item::Tag(tag, Box::new(self.item(depth + 1)?))
            }
            _ => match ai {
                20 => Item::Bool(false),
                21 => Item::Bool(true),
                22 => Item::Null,
                23 => Item::Undefined,
                0..=19 => Item::Simple(ai),
                24 => match self.byte()? {
                    v @ 32.. => Item::Simple(v),
                    v => return Err(format!("simple value {v} must use the short form")),
                },
                25 => Item::Float(f16_to_f64(u16::from_be_bytes([self.byte()?, self.byte()?]))),
                26 => {
                    let b = self.take(4)?;
                    Item::Float(f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                }
                27 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(self.take(8)?);
                    Item::Float(f64::from_be_bytes(a))
                }
                31 => return Err("break outside an indefinite-length item".into()),
                _ => return Err(format!("reserved additional information {ai}")),
            },
        })
    }

    fn check_count(&self, n: u64, per_item: u64) -> R<()> {
        match n.checked_mul(per_item) {
            Some(min) if min <= self.remaining() as u64 => Ok(()),
            _ => Err(format!(
                "{n} items cannot fit in the {} bytes left",
                self.remaining()
            )),
        }
    }
}

/// IEEE 754 half precision to f64 (RFC 8949 Appendix D).
pub(crate) fn f16_to_f64(h: u16) -> f64 {
    let exp = i32::from((h >> 10) & 0x1F);
    let mant = f64::from(h & 0x3FF);
    let val = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(exp - 25),
    };
    if h & 0x8000 != 0 {
        -val
    } else {
        val
    }
}

/// The half-precision encoding of `f`, when it is exact.
pub(crate) fn f64_to_f16(f: f64) -> Option<u16> {
    if f.is_nan() {
        return Some(0x7E00);
    }
    let sign = if f.is_sign_negative() { 0x8000 } else { 0 };
    let a = f.abs();
    let bits = if a.is_infinite() {
        0x7C00
    } else if a < 2f64.powi(-14) {
        let m = a * 2f64.powi(24);
        if m.fract() != 0.0 {
            return None;
        }
        m as u16
    } else {
        let x = a as f32;
        let b = x.to_bits();
        let e = ((b >> 23) & 0xFF) as i32 - 127;
        if f64::from(x) != a || e > 15 || b & 0x1FFF != 0 {
            return None;
        }
        (((e + 15) as u16) << 10) | ((b >> 13) & 0x3FF) as u16
    };
    Some(sign | bits)
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xFF => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xFFFF => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Appends `item` in preferred serialization (RFC 8949 §4.1).
pub(crate) fn encode(item: &Item, out: &mut Vec<u8>) {
    match item {
        Item::Uint(u) => head(out, 0, *u),
        Item::Nint(n) => head(out, 1, *n),
        Item::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Item::Text(s) => {
            head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Item::Array(v) => {
            head(out, 4, v.len() as u64);
            v.iter().for_each(|i| encode(i, out));
        }
        Item::Map(v) => {
            head(out, 5, v.len() as u64);
            for (k, v) in v {
                encode(k, out);
                encode(v, out);
            }
        }
        Item::Tag(t, i) => {
            head(out, 6, *t);
            encode(i, out);
        }
        Item::Bool(b) => out.push(if *b { 0xF5 } else { 0xF4 }),
        Item::Null => out.push(0xF6),
        Item::Undefined => out.push(0xF7),
        Item::Simple(v) if *v < 24 => out.push(0xE0 | v),
        Item::Simple(v) => out.extend_from_slice(&[0xF8, *v]),
        Item::Float(f) => {
            if let Some(h) = f64_to_f16(*f) {
                out.push(0xF9);
                out.extend_from_slice(&h.to_be_bytes());
            } else if f64::from(*f as f32) == *f {
                out.push(0xFA);
                out.extend_from_slice(&(*f as f32).to_be_bytes());
            } else {
                out.push(0xFB);
                out.extend_from_slice(&f.to_be_bytes());
            }
        }
    }
}

/// The encoding of `item` as a new buffer.
pub(crate) fn to_vec(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode(item, &mut out);
    out
}

#[cfg(test)]
#[path = "cbor_tests.rs"]
mod tests;
