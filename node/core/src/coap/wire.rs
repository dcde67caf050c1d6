//! Raw-byte helpers: header peeking, strict message-format validation,
//! Empty messages, and the small PRNG for message IDs and tokens.
//!
//! We look at the fixed 4-byte header ourselves (RFC 7252 §3) before parsing
//! because the reaction to a broken message depends on its type and message
//! ID: a malformed Confirmable message is rejected with a Reset carrying its
//! message ID (§4.2), anything else is silently dropped (§4.3).

use coap_lite::Packet;

/// Message types, the 2-bit T field (RFC 7252 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgType {
    Con = 0,
    Non = 1,
    Ack = 2,
    Rst = 3,
}

/// Classification of the Code field by class (RFC 7252 §3, §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// 0.00.
    Empty,
    /// 0.01–0.31; unknown methods are still requests (§5.8 says answer
    /// them with 4.05, which is the application's call).
    Request,
    /// 2.xx–5.xx.
    Response,
    /// Classes 1, 6 and 7 are reserved; §4.2/§4.3 treat them like a
    /// message the recipient cannot process.
    Reserved,
}

/// The fixed header, read without trusting anything after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawHeader {
    pub version: u8,
    pub mtype: MsgType,
    pub code: u8,
    pub mid: u16,
}

impl RawHeader {
    pub fn peek(bytes: &[u8]) -> Option<RawHeader> {
        let [b0, code, m0, m1, ..] = *bytes else {
            return None;
        };
        let mtype = match (b0 >> 4) & 0x3 {
            0 => MsgType::Con,
            1 => MsgType::Non,
            2 => MsgType::Ack,
            _ => MsgType::Rst,
        };
        Some(RawHeader {
            version: b0 >> 6,
            mtype,
            code,
            mid: u16::from_be_bytes([m0, m1]),
        })
    }

    pub fn kind(&self) -> CodeKind {
        code_kind(self.code)
    }
}

pub(crate) fn code_kind(code: u8) -> CodeKind {
    match code >> 5 {
        _ if code == 0 => CodeKind::Empty,
        0 => CodeKind::Request,
        2..=5 => CodeKind::Response,
        _ => CodeKind::Reserved,
    }
}

/// Parse a datagram, applying the message-format rules of RFC 7252 §3 that
/// coap-lite does not enforce itself: an Empty message is exactly 4 bytes
/// (§4.1), a payload marker must be followed by a non-empty payload, and
/// option nibbles 15 are reserved (§3.1). Returns a reason on failure.
pub(crate) fn parse(bytes: &[u8]) -> Result<Packet, String> {
    let hdr = RawHeader::peek(bytes).ok_or("shorter than the 4-byte header")?;
    let tkl = usize::from(bytes[0] & 0x0f);
    if tkl > 8 {
        return Err(format!("reserved token length {tkl}"));
    }
    if hdr.code == 0 && bytes.len() != 4 {
        return Err("Empty message with bytes after the header".into());
    }
    let mut i = 4 + tkl;
    if i > bytes.len() {
        return Err("truncated token".into());
    }
    while let Some(&b) = bytes.get(i) {
        if b == 0xff {
            if i + 1 == bytes.len() {
                return Err("payload marker followed by an empty payload".into());
            }
            break;
        }
        i += 1;
        let mut ext = |nibble: u8| -> Result<usize, String> {
            match nibble {
                13 => {
                    let v = bytes.get(i).ok_or("truncated option")?;
                    i += 1;
                    Ok(usize::from(*v) + 13)
                }
                14 => {
                    let v = bytes.get(i..i + 2).ok_or("truncated option")?;
                    i += 2;
                    Ok(usize::from(u16::from_be_bytes([v[0], v[1]])) + 269)
                }
                15 => Err("reserved option nibble 15".into()),
                n => Ok(usize::from(n)),
            }
        };
        ext(b >> 4)?;
        let len = ext(b & 0x0f)?;
        i = i
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or("option value overruns the datagram")?;
    }
    Packet::from_bytes(bytes).map_err(|e| e.to_string())
}

/// An Empty message (code 0.00, no token): an empty ACK or a Reset (§4.1).
pub(crate) fn empty(mtype: MsgType, mid: u16) -> Vec<u8> {
    let [m0, m1] = mid.to_be_bytes();
    vec![0x40 | ((mtype as u8) << 4), 0, m0, m1]
}

/// xorshift64* — enough to make message IDs and tokens unpredictable to an
/// off-path attacker who does not know the seed (RFC 7252 §4.4 and §5.3.1
/// recommend randomised initial MIDs and tokens), with no `rand` dependency
/// and reproducible from the seed for tests.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Zero is the fixed point of xorshift; mix the seed so small seeds differ.
        let s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        XorShift(if s == 0 { 1 } else { s })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages_have_the_rfc_layout() {
        assert_eq!(empty(MsgType::Ack, 0x1234), [0x60, 0x00, 0x12, 0x34]);
        assert_eq!(empty(MsgType::Rst, 0xBEEF), [0x70, 0x00, 0xBE, 0xEF]);
    }

    #[test]
    fn code_classes() {
        assert_eq!(code_kind(0x00), CodeKind::Empty);
        assert_eq!(code_kind(0x01), CodeKind::Request);
        assert_eq!(code_kind(0x1f), CodeKind::Request);
        assert_eq!(code_kind(0x20), CodeKind::Reserved); // 1.00
        assert_eq!(code_kind(0x45), CodeKind::Response); // 2.05
        assert_eq!(code_kind(0xa0), CodeKind::Response); // 5.00
        assert_eq!(code_kind(0xc0), CodeKind::Reserved); // 6.00
        assert_eq!(code_kind(0xff), CodeKind::Reserved); // 7.31
    }

    #[test]
    fn format_errors_are_caught() {
        // GET, TKL 9.
        assert!(parse(&[0x49, 0x01, 0, 1]).is_err());
        // Empty message with a token.
        assert!(parse(&[0x41, 0x00, 0, 1, 0xaa]).is_err());
        // Payload marker and nothing after it.
        assert!(parse(&[0x40, 0x01, 0, 1, 0xff]).is_err());
        // Option delta nibble 15 without being a payload marker.
        assert!(parse(&[0x40, 0x01, 0, 1, 0xf1, 0x00]).is_err());
        // Option length 5, only 2 bytes present.
        assert!(parse(&[0x40, 0x01, 0, 1, 0xb5, b'a', b'b']).is_err());
        // Truncated extended delta.
        assert!(parse(&[0x40, 0x01, 0, 1, 0xe0, 0x00]).is_err());
    }

    #[test]
    fn well_formed_message_parses() {
        // CON GET mid 0x0102 token 0xaa, Uri-Path "rd", payload "x".
        let p = parse(&[0x41, 0x01, 1, 2, 0xaa, 0xb2, b'r', b'd', 0xff, b'x']).unwrap();
        assert_eq!(p.header.message_id, 0x0102);
        assert_eq!(p.get_token(), &[0xaa]);
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn prng_is_seeded_and_in_range() {
        let (mut a, mut b) = (XorShift::new(7), XorShift::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(XorShift::new(0).next_u64(), XorShift::new(1).next_u64());
        for _ in 0..1000 {
            let f = a.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
