//! Just enough of the DTLS 1.2 record layer (RFC 6347 §4.1, §4.2.1-2) for the demultiplexer to
//! answer a ClientHello statelessly: recognise a ClientHello, read its cookie and the parameters
//! the cookie covers, build a HelloVerifyRequest, and rebuild the cookie-less ClientHello the
//! per-peer connection expects first. Every length is checked: this parses network input.

/// Record content type `handshake` (RFC 5246 §6.2.1).
const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const HELLO_VERIFY_REQUEST: u8 = 3;
/// DTLS 1.2 on the wire ({254, 253}).
const DTLS_1_2: [u8; 2] = [254, 253];
const RECORD_HEADER: usize = 13;
const HANDSHAKE_HEADER: usize = 12;

/// A ClientHello in epoch 0, unfragmented, as the first record of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// Record sequence number (48 bits).
    pub record_seq: u64,
    /// Handshake message_seq: 0 for a first ClientHello, 1 after a HelloVerifyRequest.
    pub message_seq: u16,
    /// client_version .. compression_methods without the cookie: what the cookie covers
    /// (RFC 6347 §4.2.1: the parameters a client must repeat unchanged).
    pub params_before_cookie: &'a [u8],
    pub cookie: &'a [u8],
    /// cipher_suites, compression_methods and extensions: everything after the cookie.
    pub after_cookie: &'a [u8],
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u24_at(b: &[u8], i: usize) -> Option<usize> {
    Some(
        usize::from(*b.get(i)?) << 16
            | usize::from(*b.get(i + 1)?) << 8
            | usize::from(*b.get(i + 2)?),
    )
}

/// The epoch of the first record of `datagram`, if it has a record header.
pub fn epoch(datagram: &[u8]) -> Option<u16> {
    if datagram.len() < RECORD_HEADER {
        return None;
    }
    u16_at(datagram, 3)
}

/// Whether `datagram` starts with a HelloVerifyRequest record (what a server connection writes
/// when it wants a cookie).
pub fn is_hello_verify_request(datagram: &[u8]) -> bool {
    datagram.len() > RECORD_HEADER
        && datagram[0] == HANDSHAKE
        && epoch(datagram) == Some(0)
        && datagram[RECORD_HEADER] == HELLO_VERIFY_REQUEST
}

/// Parses the first record of `datagram` as a ClientHello; `None` for anything else.
pub fn client_hello(datagram: &[u8]) -> Option<ClientHello<'_>> {
    if datagram.len() < RECORD_HEADER + HANDSHAKE_HEADER || datagram[0] != HANDSHAKE {
        return None;
    }
    if u16_at(datagram, 3)? != 0 {
        return None;
    }
    let record_seq = datagram[5..11]
        .iter()
        .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let record_len = usize::from(u16_at(datagram, 11)?);
    let record = datagram.get(RECORD_HEADER..RECORD_HEADER + record_len)?;
    if record.first() != Some(&CLIENT_HELLO) {
        return None;
    }
    let length = u24_at(record, 1)?;
    let message_seq = u16_at(record, 4)?;
    let fragment_offset = u24_at(record, 6)?;
    let fragment_length = u24_at(record, 9)?;
    // Fragmented ClientHellos are not worth the state: PSK hellos fit one datagram.
    if fragment_offset != 0 || fragment_length != length {
        return None;
    }
    let body = record.get(HANDSHAKE_HEADER..HANDSHAKE_HEADER + length)?;
    // client_version(2) random(32) session_id<0..32>
    let session_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + session_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let cookie = body.get(cookie_at + 1..cookie_at + 1 + cookie_len)?;
    let after_cookie = body.get(cookie_at + 1 + cookie_len..)?;
    // cipher_suites<2..> must at least be there.
    let suites_len = usize::from(u16_at(after_cookie, 0)?);
    after_cookie.get(..2 + suites_len)?;
    Some(ClientHello {
        record_seq,
        message_seq,
        params_before_cookie: &body[..cookie_at],
        cookie,
        after_cookie,
    })
}

fn record(out: &mut Vec<u8>, seq: u64, msg_type: u8, message_seq: u16, body: &[u8]) {
    let hs_len = HANDSHAKE_HEADER + body.len();
    out.push(HANDSHAKE);
    out.extend_from_slice(&DTLS_1_2);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seq.to_be_bytes()[2..]);
    out.extend_from_slice(&(hs_len as u16).to_be_bytes());
    out.push(msg_type);
    let len = (body.len() as u32).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&message_seq.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(body);
}

/// A HelloVerifyRequest carrying `cookie`, with the ClientHello's record sequence number
/// (RFC 6347 §4.2.1 asks the server to echo it).
pub fn hello_verify_request(hello: &ClientHello<'_>, cookie: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(3 + cookie.len());
    body.extend_from_slice(&DTLS_1_2);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    let mut out = Vec::with_capacity(RECORD_HEADER + HANDSHAKE_HEADER + body.len());
    record(&mut out, hello.record_seq, HELLO_VERIFY_REQUEST, 0, &body);
    out
}

/// The ClientHello as the client sent it before the HelloVerifyRequest: same parameters, no
/// cookie, message_seq 0, at `record_seq`. Fed to a fresh server connection so that its state
/// machine walks its normal path (ClientHello → HelloVerifyRequest → ClientHello with cookie).
pub fn initial_client_hello(hello: &ClientHello<'_>, record_seq: u64) -> Vec<u8> {
    let mut body =
        Vec::with_capacity(hello.params_before_cookie.len() + 1 + hello.after_cookie.len());
    body.extend_from_slice(hello.params_before_cookie);
    body.push(0);
    body.extend_from_slice(hello.after_cookie);
    let mut out = Vec::with_capacity(RECORD_HEADER + HANDSHAKE_HEADER + body.len());
    record(&mut out, record_seq, CLIENT_HELLO, 0, &body);
    out
}

/// A ClientHello record for tests: version, a fixed random, empty session id, `cookie`, one
/// suite, null compression.
#[cfg(test)]
pub(crate) fn test_client_hello(record_seq: u64, message_seq: u16, cookie: &[u8]) -> Vec<u8> {
    let mut body = vec![254, 253];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 2, 0xc0, 0xa8, 1, 0]);
    let mut out = Vec::new();
    record(&mut out, record_seq, CLIENT_HELLO, message_seq, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_client_hello_and_its_cookie() {
        let bytes = test_client_hello(5, 1, b"abc");
        let h = client_hello(&bytes).expect("client hello");
        assert_eq!(h.record_seq, 5);
        assert_eq!(h.message_seq, 1);
        assert_eq!(h.cookie, b"abc");
        assert_eq!(h.params_before_cookie.len(), 35);
        assert_eq!(h.after_cookie, &[0, 2, 0xc0, 0xa8, 1, 0]);
    }

    #[test]
    fn initial_hello_is_the_hello_without_cookie() {
        let with = test_client_hello(1, 1, b"cookie");
        let without = test_client_hello(0, 0, b"");
        let h = client_hello(&with).expect("client hello");
        assert_eq!(initial_client_hello(&h, 0), without);
    }

    #[test]
    fn hello_verify_request_round_trip() {
        let bytes = test_client_hello(9, 0, b"");
        let h = client_hello(&bytes).expect("client hello");
        let hvr = hello_verify_request(&h, &[1, 2, 3]);
        assert!(is_hello_verify_request(&hvr));
        assert_eq!(&hvr[5..11], &[0, 0, 0, 0, 0, 9]);
        assert_eq!(&hvr[hvr.len() - 4..], &[3, 1, 2, 3]);
        assert!(!is_hello_verify_request(&bytes));
    }

    #[test]
    fn rejects_truncated_and_foreign_records() {
        let bytes = test_client_hello(1, 0, b"xy");
        for n in 0..bytes.len() {
            assert!(client_hello(&bytes[..n]).is_none(), "prefix {n}");
        }
        let mut other_epoch = bytes.clone();
        other_epoch[4] = 1;
        assert!(client_hello(&other_epoch).is_none());
        let mut app_data = bytes.clone();
        app_data[0] = 23;
        assert!(client_hello(&app_data).is_none());
        assert_eq!(epoch(&other_epoch), Some(1));
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if i == 0 {
                        22
                    } else {
                        x as u8
                    }
                })
                .collect();
            let _ = client_hello(&bytes);
            let _ = is_hello_verify_request(&bytes);
        }
    }
}
