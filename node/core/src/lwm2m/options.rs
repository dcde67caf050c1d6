//! Small readers and writers for the CoAP options the LwM2M interfaces use (RFC 7252 §5.10).

use coap_lite::{CoapOption, MessageClass, Packet};

/// Uri-Path segments, `None` if one is not valid UTF-8.
pub fn uri_path(p: &Packet) -> Option<Vec<String>> {
    strings(p, CoapOption::UriPath)
}

/// Location-Path segments (of a 2.01 Created), `None` if one is not valid UTF-8.
pub fn location_path(p: &Packet) -> Option<Vec<String>> {
    strings(p, CoapOption::LocationPath)
}

/// Uri-Query options, `None` if one is not valid UTF-8.
pub fn uri_queries(p: &Packet) -> Option<Vec<String>> {
    strings(p, CoapOption::UriQuery)
}

fn strings(p: &Packet, opt: CoapOption) -> Option<Vec<String>> {
    match p.get_option(opt) {
        None => Some(Vec::new()),
        Some(list) => list
            .iter()
            .map(|v| String::from_utf8(v.clone()).ok())
            .collect(),
    }
}

/// An option value that breaks RFC 7252 §3.2 (too long for its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed CoAP option value")]
pub struct BadOption;

/// A uint option (RFC 7252 §3.2): big-endian, leading zeros dropped, at most `max_len` bytes.
pub fn uint_option(p: &Packet, opt: CoapOption, max_len: usize) -> Result<Option<u32>, BadOption> {
    match p.get_first_option(opt) {
        None => Ok(None),
        Some(v) if v.len() > max_len => Err(BadOption),
        Some(v) => Ok(Some(
            v.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
        )),
    }
}

/// Content-Format option as a number (coap-lite's enum does not know the LwM2M formats).
pub fn content_format(p: &Packet) -> Result<Option<u16>, BadOption> {
    uint_option(p, CoapOption::ContentFormat, 2).map(|v| v.map(|v| v as u16))
}

/// Encodes a uint option value in the fewest bytes.
pub fn encode_uint(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

pub fn set_content_format(p: &mut Packet, cf: u16) {
    p.clear_option(CoapOption::ContentFormat);
    p.add_option(CoapOption::ContentFormat, encode_uint(u32::from(cf)));
}

pub fn set_accept(p: &mut Packet, cf: u16) {
    p.clear_option(CoapOption::Accept);
    p.add_option(CoapOption::Accept, encode_uint(u32::from(cf)));
}

/// "2.05"-style text of a response code.
pub fn code_text(p: &Packet) -> String {
    p.header.code.to_string()
}

/// A response packet with the given raw code (`0x41` = 2.01, ...). Type, message id and token
/// are filled in by the message layer.
pub fn response(code: u8) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::from(code);
    p
}

/// Critical options (odd numbers, RFC 7252 §5.4.1) this server understands on requests it
/// serves: Uri-Host/Port/Path/Query, Accept, Block1/Block2, If-Match, If-None-Match.
const KNOWN_CRITICAL: [u16; 9] = [1, 3, 5, 7, 11, 15, 17, 23, 27];

/// The first critical option of a request that this server does not understand; the request
/// must then be answered 4.02 Bad Option (RFC 7252 §5.4.1).
pub fn unknown_critical_option(p: &Packet) -> Option<u16> {
    p.options()
        .map(|(n, _)| *n)
        .find(|n| n % 2 == 1 && !KNOWN_CRITICAL.contains(n))
}

/// Raw code byte of a packet.
pub fn raw_code(p: &Packet) -> u8 {
    u8::from(p.header.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_encoding_is_minimal() {
        assert_eq!(encode_uint(0), Vec::<u8>::new());
        assert_eq!(encode_uint(40), vec![40]);
        assert_eq!(encode_uint(11542), vec![0x2d, 0x16]);
    }

    #[test]
    fn content_format_round_trip_and_limits() {
        let mut p = Packet::new();
        assert_eq!(content_format(&p), Ok(None));
        set_content_format(&mut p, 11542);
        assert_eq!(content_format(&p), Ok(Some(11542)));
        p.clear_option(CoapOption::ContentFormat);
        p.add_option(CoapOption::ContentFormat, vec![1, 2, 3]);
        assert_eq!(content_format(&p), Err(BadOption));
    }

    #[test]
    fn unknown_critical_options_are_found() {
        let mut p = Packet::new();
        p.add_option(CoapOption::UriPath, b"rd".to_vec());
        p.add_option(CoapOption::Block1, vec![0x0e]);
        p.add_option(CoapOption::Size1, vec![1]); // elective
        assert_eq!(unknown_critical_option(&p), None);
        p.add_option(CoapOption::Unknown(2049), vec![]);
        assert_eq!(unknown_critical_option(&p), Some(2049));
        let mut q = Packet::new();
        q.add_option(CoapOption::ProxyUri, b"coap://x".to_vec());
        assert_eq!(unknown_critical_option(&q), Some(35));
    }

    #[test]
    fn code_text_is_dotted() {
        assert_eq!(code_text(&response(0x41)), "2.01");
        assert_eq!(code_text(&response(0x84)), "4.04");
    }
}
