//! Fuzz harness bodies for every decoder that faces the network.
//!
//! Each function takes arbitrary bytes, drives one decoder (or state machine)
//! with them and asserts only invariants that must hold for *every* input:
//! no panic, outputs that satisfy the documented contract, and codecs that
//! round-trip what they accepted. Errors of the decoders are expected results,
//! never hidden: they are checked to be the documented kind where that is
//! decidable from the input.
//!
//! The same functions are called by the cargo-fuzz targets in `fuzz/` and by
//! the in-suite corpus run (the tests at the end of this module), so a crash
//! seed added to `fuzz/corpus/<target>/` is a regression test of `cargo test`.
//!
//! These harnesses are the one place in this crate that read the clock
//! (`Instant` has no other constructor); only offsets from that instant
//! matter, so the outcome is deterministic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use crate::coap::block::{
    block1, block2, Assembled, AssemblerConfig, Block1Assembler, Block1Upload, Block2Download,
    BlockError, BlockOption, Step, MAX_NUM,
};
use crate::coap::{Config, Endpoint, Event, Peer};
use crate::content::{
    build_tree, decode, encode, ContentError, ContentFormat, CoreModel, Path, Record, Value,
};
use crate::link::{format_links, parse_link_format, LinkError, ObjectLinks, MAX_INPUT_LEN};
use crate::lwm2m::options::uri_queries;
use crate::lwm2m::registration::{parse_rd_request, RdError, RdRequest, MAX_ENDPOINT_LEN};

/// A harness: arbitrary bytes in, panics on a broken invariant.
pub type Harness = fn(&[u8]);

/// Every harness, by cargo-fuzz target name.
pub const TARGETS: [(&str, Harness); 5] = [
    ("coap_datagram", coap_datagram),
    ("registration", registration),
    ("link_format", link_format),
    ("content", content),
    ("block", block),
];

fn peer(n: u8) -> Peer {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), 5683)
}

/// Splits `data` into length-prefixed chunks: a length byte, then up to
/// that many bytes (fewer at the end of the input).
fn chunks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let (chunk, rest) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(chunk);
        data = rest;
    }
    out
}

// ---------------------------------------------------------------------------
// CoAP message layer
// ---------------------------------------------------------------------------

/// Feeds `data` as one datagram to a fresh endpoint and to one with two
/// requests of its own in flight, twice (duplicate detection), answers any
/// request it reports and lets all timers run out.
///
/// Invariants: whatever `handle_datagram` sends is one Empty ACK/RST or a
/// cached ACK carrying the datagram's own message ID, sent only for a CON;
/// every byte string the endpoint emits is a well-formed CoAP message; a
/// duplicate never yields a second `Request`; an open exchange can always be
/// answered; all state is gone once every lifetime has passed.
pub fn coap_datagram(data: &[u8]) {
    let t0 = Instant::now();
    let a = peer(1);
    let mut ep = Endpoint::new(Config::default(), 0x5eed);
    // Two requests of ours in flight towards `a`, so that ACKs, RSTs and
    // responses have something to match (the seed makes MIDs and tokens
    // reproducible, so the fuzzer can learn them).
    for path in ["3", "rd"] {
        let mut get = Packet::new();
        get.header.code = MessageClass::Request(RequestType::Get);
        get.add_option(CoapOption::UriPath, path.as_bytes().to_vec());
        ep.send_request(t0, a, get).expect("send_request");
    }
    while let Some(t) = ep.poll_transmit() {
        check_wire(&t.bytes);
    }

    let requests = feed(&mut ep, t0, a, data) + feed(&mut ep, t0, a, data);
    assert!(
        requests <= 1,
        "a duplicate datagram produced a second Request"
    );
    let mut fresh = Endpoint::new(Config::default(), 7);
    let fresh_requests = feed(&mut fresh, t0, a, data);
    assert!(fresh_requests <= 1);

    // Everything expires: after the longest lifetime and all retransmissions,
    // no request is pending and nothing is remembered.
    for ep in [&mut ep, &mut fresh] {
        let mut now = t0;
        for _ in 0..1000 {
            let Some(at) = ep.poll_timeout() else { break };
            now = now.max(at);
            ep.handle_timeout(now);
            while let Some(t) = ep.poll_transmit() {
                check_wire(&t.bytes);
            }
        }
        while ep.poll_event().is_some() {}
        assert_eq!(ep.poll_timeout(), None, "timers never run out");
        assert_eq!(ep.pending_requests(), 0);
        assert_eq!(ep.dedup_entries(), 0);
    }
}

/// One `handle_datagram` plus the checks on its immediate output; answers
/// any new request (2.05 piggy-backed or separate). Returns the number of
/// `Request` events.
fn feed(ep: &mut Endpoint, now: Instant, from: Peer, data: &[u8]) -> usize {
    ep.handle_datagram(now, from, data);
    let sent: Vec<_> = std::iter::from_fn(|| ep.poll_transmit()).collect();
    assert!(
        sent.len() <= 1,
        "one datagram caused {} replies",
        sent.len()
    );
    if let Some(t) = sent.first() {
        assert_eq!(t.peer, from);
        let reply = check_wire(&t.bytes);
        assert!(
            matches!(
                reply.header.get_type(),
                MessageType::Acknowledgement | MessageType::Reset
            ),
            "reply to a datagram is neither ACK nor RST"
        );
        // Only a CON is answered, except that a NON response nobody waits for is reset
        // (RFC 7641 §3.6).
        let non_response = (data[0] >> 4) & 3 == 1 && (2..=5).contains(&(data[1] >> 5));
        assert!(
            data[0] >> 6 == 1 && ((data[0] >> 4) & 3 == 0 || non_response),
            "reply to a non-CON"
        );
        if non_response {
            assert_eq!(
                reply.header.get_type(),
                MessageType::Reset,
                "NON answered with ACK"
            );
        }
        assert_eq!(
            reply.header.message_id,
            u16::from_be_bytes([data[2], data[3]]),
            "reply does not echo the message ID"
        );
    }
    let mut requests = 0;
    while let Some(ev) = ep.poll_event() {
        match ev {
            Event::Request {
                exchange,
                peer,
                request,
            } => {
                assert_eq!(peer, from);
                // Raw code 0.01–0.31: unknown methods are requests too.
                let code: u8 = request.header.code.into();
                assert!(
                    code != 0 && code >> 5 == 0,
                    "Request event with code {code:#x}"
                );
                requests += 1;
                let mut resp = Packet::new();
                resp.header.code = MessageClass::Response(ResponseType::Content);
                resp.payload = b"ok".to_vec();
                assert!(ep.respond(now, exchange, resp), "cannot answer a request");
                let out: Vec<_> = std::iter::from_fn(|| ep.poll_transmit()).collect();
                assert_eq!(out.len(), 1);
                let answer = check_wire(&out[0].bytes);
                assert_eq!(answer.get_token(), request.get_token());
            }
            Event::Response { peer, response, .. } => {
                assert_eq!(peer, from);
                let code: u8 = response.header.code.into();
                assert!(
                    (2..=5).contains(&(code >> 5)),
                    "Response event with code {code:#x}"
                );
            }
            Event::RequestFailed { peer, .. }
            | Event::Rejected { peer, .. }
            | Event::Notification { peer, .. }
            | Event::ObserverLost { peer, .. } => {
                assert_eq!(peer, from)
            }
        }
    }
    requests
}

/// Our own output must pass our own strict parser.
fn check_wire(bytes: &[u8]) -> Packet {
    let p = Packet::from_bytes(bytes)
        .unwrap_or_else(|e| panic!("endpoint emitted an unparsable message ({e}): {bytes:02x?}"));
    assert_eq!(bytes[0] >> 6, 1, "emitted CoAP version is not 1");
    assert!(bytes[0] & 0x0f <= 8, "emitted token length over 8");
    if bytes[1] == 0 {
        assert_eq!(
            bytes.len(),
            4,
            "emitted Empty message with bytes after the header"
        );
    }
    // What we emit is coap-lite's canonical encoding, so it survives a
    // parse → serialise round trip byte for byte.
    assert_eq!(
        p.to_bytes().ok().as_deref(),
        Some(bytes),
        "emitted bytes are not canonical"
    );
    p
}

// ---------------------------------------------------------------------------
// Registration interface
// ---------------------------------------------------------------------------

/// Parses `data` as a CoAP packet and reads it as a registration-interface
/// request.
///
/// Invariants: an accepted Register satisfies every rule the parser states
/// (endpoint name length and characters, positive lifetime, links equal to
/// the parse of the raw payload); every refusal maps to a 4.xx code; the
/// result does not change when the packet is re-serialised and re-parsed.
pub fn registration(data: &[u8]) {
    let Ok(packet) = Packet::from_bytes(data) else {
        return;
    };
    let result = parse_rd_request(&packet);
    match &result {
        None => {}
        Some(Err(e)) => check_rd_error(e),
        Some(Ok(RdRequest::Register(r))) => {
            assert!(!r.endpoint.is_empty() && r.endpoint.len() <= MAX_ENDPOINT_LEN);
            assert!(!r.endpoint.chars().any(char::is_control));
            assert!(r.lifetime > 0);
            assert_eq!(r.raw_links.as_bytes(), &packet.payload[..]);
            assert_eq!(ObjectLinks::parse(&r.raw_links).as_ref(), Ok(&r.links));
            let q = uri_queries(&packet)
                .unwrap_or_default()
                .iter()
                .any(|q| q == "Q");
            assert_eq!(r.queue_mode, q || r.binding.contains('Q'));
            check_binding(&r.binding, true);
        }
        Some(Ok(RdRequest::Update { reg_id, update })) => {
            let _ = reg_id;
            assert!(update.lifetime.is_none_or(|lt| lt > 0));
            if let Some(b) = &update.binding {
                check_binding(b, false);
            }
            assert_eq!(update.links.is_some(), !packet.payload.is_empty());
            if let Some((links, raw)) = &update.links {
                assert_eq!(raw.as_bytes(), &packet.payload[..]);
                assert_eq!(ObjectLinks::parse(raw).as_ref(), Ok(links));
            }
        }
        Some(Ok(RdRequest::Deregister { .. })) => {
            assert_eq!(
                packet.header.code,
                MessageClass::Request(RequestType::Delete)
            );
        }
    }
    // The reading depends on the options and payload, not on their wire
    // encoding: a re-serialised packet reads the same.
    if let Ok(bytes) = packet.to_bytes() {
        let again = Packet::from_bytes(&bytes).expect("coap-lite re-parses its own output");
        assert_eq!(parse_rd_request(&again), result);
    }
}

fn check_rd_error(e: &RdError) {
    assert_eq!(e.code() >> 5, 4, "refusal {e:?} is not a 4.xx");
    let _ = e.to_string();
}

fn check_binding(b: &str, may_be_empty: bool) {
    if b.is_empty() {
        assert!(may_be_empty);
        return;
    }
    assert!(b.len() <= 8);
    assert!(b.chars().all(|c| "USNTQ".contains(c)));
    assert!(b.chars().any(|c| c != 'Q'));
}

// ---------------------------------------------------------------------------
// Link format
// ---------------------------------------------------------------------------

/// Parses `data` (as UTF-8, or lossily converted) as a link-format payload
/// and as LwM2M object links.
///
/// Invariants: parse → format → parse yields the same links, each link on
/// its own too; error positions lie inside the input; an accepted
/// `ObjectLinks` is consistent with its links and stable under
/// format → parse.
pub fn link_format(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(s) => link_text(s),
        Err(_) => link_text(&String::from_utf8_lossy(data)),
    }
}

fn link_text(s: &str) {
    match parse_link_format(s) {
        Ok(links) => {
            let text = format_links(&links);
            assert_eq!(
                parse_link_format(&text).as_ref(),
                Ok(&links),
                "parse → format → parse changed {s:?} (formatted {text:?})"
            );
            for l in &links {
                assert!(l.target.starts_with('/'));
                assert_eq!(parse_link_format(&l.to_string()), Ok(vec![l.clone()]));
            }
        }
        Err(e) => check_link_error(s, &e),
    }
    match ObjectLinks::parse(s) {
        Ok(ol) => {
            assert_eq!(parse_link_format(s).as_ref(), Ok(&ol.links));
            assert!(ol.root_path.starts_with('/'));
            assert!(ol.root_path == "/" || !ol.root_path.ends_with('/'));
            for o in &ol.objects {
                assert_ne!(o.instance, Some(u16::MAX));
            }
            let text = format_links(&ol.links);
            assert_eq!(ObjectLinks::parse(&text).as_ref(), Ok(&ol));
        }
        Err(e) => check_link_error(s, &e),
    }
}

fn check_link_error(s: &str, e: &LinkError) {
    use LinkError::*;
    let pos = match e {
        MissingLinkStart { pos, .. }
        | UnterminatedTarget { pos }
        | EmptyTarget { pos }
        | RelativeTarget { pos, .. }
        | InvalidTargetChar { pos, .. }
        | MissingParamName { pos }
        | EmptyValue { pos, .. }
        | UnterminatedQuote { pos }
        | UnexpectedChar { pos, .. }
        | TrailingComma { pos } => *pos,
        TooLarge { len, .. } => {
            assert!(*len > MAX_INPUT_LEN);
            return;
        }
        _ => return,
    };
    assert!(
        pos <= s.len(),
        "error position {pos} beyond the input: {e:?}"
    );
    assert!(
        s.is_char_boundary(pos),
        "error position {pos} inside a char: {e:?}"
    );
    let _ = e.to_string();
}

// ---------------------------------------------------------------------------
// Content formats
// ---------------------------------------------------------------------------

/// Decodes a payload for a Read. Byte 0 chooses the content format
/// (`ContentFormat::ALL[b % 10]`), byte 1 the depth of the requested path
/// (`b % 5`), the next `depth` bytes its ids (0xFF is 65535, 0xFE is 300,
/// anything else itself); the rest is the payload.
///
/// Invariants: records lie at resource depth inside the requested path and
/// carry finite times; records re-encode in the same format and decode to
/// the same records; TLV can re-encode everything except what it cannot
/// represent (duplicate paths, a resource both single and multiple, NaN);
/// `build_tree` does not panic on them.
pub fn content(data: &[u8]) {
    let Some((format, requested, payload)) = content_input(data) else {
        return;
    };
    let model = &CoreModel;
    let records = match decode(format, &requested, payload, model) {
        Ok(r) => r,
        Err(e) => {
            if format == ContentFormat::LinkFormat {
                assert_eq!(e, ContentError::UnsupportedFormat(format));
            }
            let _ = e.to_string();
            return;
        }
    };
    assert_ne!(format, ContentFormat::LinkFormat);
    for r in &records {
        assert!(
            requested.is_prefix_of(&r.path),
            "{format:?} record {} outside requested {requested}",
            r.path
        );
        assert!(r.path.depth() >= 3, "record {} is not a resource", r.path);
        if let Some(t) = r.time {
            assert!(t.is_finite(), "{format:?} record {} has time {t}", r.path);
        }
        if matches!(format, ContentFormat::Tlv | ContentFormat::LegacyTlv) {
            assert_eq!(r.time, None);
        }
    }
    let _ = build_tree(&requested, &records, model);

    match encode(format, &records, &requested, model) {
        Ok(bytes) => {
            let again = decode(format, &requested, &bytes, model).unwrap_or_else(|e| {
                panic!("{format:?}: re-encoded {records:?} as {bytes:02x?}, which fails: {e}")
            });
            assert!(
                same_records(&again, &records),
                "{format:?} round trip changed {records:?} into {again:?}"
            );
        }
        Err(e) if matches!(format, ContentFormat::Tlv | ContentFormat::LegacyTlv) => {
            assert!(
                tlv_cannot_represent(&records, &requested),
                "TLV cannot re-encode what it decoded ({e}): {records:?}"
            );
        }
        Err(_) => {}
    }
}

fn content_input(data: &[u8]) -> Option<(ContentFormat, Path, &[u8])> {
    let (&f, rest) = data.split_first()?;
    let (&d, mut rest) = rest.split_first()?;
    let format = ContentFormat::ALL[usize::from(f) % ContentFormat::ALL.len()];
    let mut requested = Path::ROOT;
    for _ in 0..(d % 5) {
        let (&b, r) = rest.split_first()?;
        rest = r;
        let id = match b {
            0xFF => u16::MAX,
            0xFE => 300,
            b => u16::from(b),
        };
        requested = requested.child(id)?;
    }
    Some((format, requested, rest))
}

/// Equal as multisets ordered by path (TLV re-encoding sorts), with NaN
/// equal to NaN.
fn same_records(a: &[Record], b: &[Record]) -> bool {
    let sorted = |v: &[Record]| {
        let mut v = v.to_vec();
        v.sort_by_key(|r| r.path);
        v
    };
    let (a, b) = (sorted(a), sorted(b));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x.path == y.path
                && x.time == y.time
                && match (&x.value, &y.value) {
                    (Value::Float(p), Value::Float(q)) => p == q || (p.is_nan() && q.is_nan()),
                    (p, q) => p == q,
                }
        })
}

fn tlv_cannot_represent(records: &[Record], requested: &Path) -> bool {
    let mut paths: Vec<Path> = records.iter().map(|r| r.path).collect();
    paths.sort();
    let duplicate = paths.windows(2).any(|w| w[0] == w[1]);
    let single_and_multiple = paths
        .iter()
        .any(|p| p.depth() == 4 && p.parent().is_some_and(|q| paths.contains(&q)));
    let nan = records
        .iter()
        .any(|r| matches!(r.value, Value::Float(f) if f.is_nan()));
    let count = match requested.depth() {
        3 => records.is_empty(),
        4 => records.len() != 1,
        _ => false,
    };
    duplicate || single_and_multiple || nan || count
}

// ---------------------------------------------------------------------------
// Block-wise transfer
// ---------------------------------------------------------------------------

/// Byte 0 mod 5 is the length of a Block option value that follows and is
/// decoded on its own; the rest is split into length-prefixed CoAP packets
/// fed to a server-side `Block1Assembler`, to a `Block2Download` (the first
/// packet is the first response) and to a `Block1Upload`.
///
/// Invariants: an option decodes iff it has at most 3 bytes and SZX is not
/// 7, and then re-encodes to at most as many bytes and decodes to itself;
/// a 2.31 echoes a valid Block1 with M=1; a reassembled body is exactly the
/// blocks up to the last one, within the size limit, without Block1/Size1;
/// downloads stay within their limit and stop after `Done` or an error.
pub fn block(data: &[u8]) {
    let Some((&b0, rest)) = data.split_first() else {
        return;
    };
    let (opt, rest) = rest.split_at(usize::from(b0 % 5).min(rest.len()));
    block_option(opt);
    let packets: Vec<Packet> = chunks(rest)
        .into_iter()
        .filter_map(|c| Packet::from_bytes(c).ok())
        .collect();
    assembler(&packets);
    download(&packets);
    upload(&packets);
}

fn block_option(bytes: &[u8]) {
    match BlockOption::decode(bytes) {
        Ok(b) => {
            assert!(bytes.len() <= 3 && b.szx < 7 && b.num <= MAX_NUM);
            assert_eq!(b.validate(), Ok(()));
            let enc = b.encode();
            assert!(enc.len() <= bytes.len());
            assert_eq!(BlockOption::decode(&enc), Ok(b));
            assert_eq!(b.offset(), u64::from(b.num) * b.size() as u64);
        }
        Err(e) => {
            assert!(
                bytes.len() > 3 || bytes.last().is_some_and(|b| b & 7 == 7),
                "{bytes:02x?} refused: {e}"
            );
        }
    }
}

const BLOCK_MAX_SIZE: usize = 4096;

fn assembler(packets: &[Packet]) {
    let t0 = Instant::now();
    let config = AssemblerConfig {
        max_size: BLOCK_MAX_SIZE,
        max_transfers: 3,
        lifetime: Duration::from_secs(10),
        block_size: 64,
    };
    let mut asm = Block1Assembler::new(config.clone()).expect("valid config");
    for (i, p) in packets.iter().enumerate() {
        // Two peers, and time moves on so that transfers also expire.
        let from = peer(1 + (i % 2) as u8);
        let now = t0 + Duration::from_secs(i as u64 * 3);
        let b1 = block1(p);
        match asm.handle_request(now, from, p.clone()) {
            Ok(Assembled::Continue(c)) => {
                assert_eq!(
                    c.header.code,
                    MessageClass::Response(ResponseType::Continue)
                );
                let echo = block1(&c)
                    .expect("our Block1 decodes")
                    .expect("2.31 has Block1");
                let sent = b1.expect("decoded").expect("present");
                assert!(echo.more && echo.num == sent.num && echo.szx == sent.szx.min(2));
            }
            Ok(Assembled::Complete { request, block1 }) => match block1 {
                None => assert_eq!(&request, p, "a request without Block1 was changed"),
                Some(last) => {
                    assert!(!last.more);
                    assert_eq!(
                        request.payload.len() as u64,
                        last.offset() + p.payload.len() as u64
                    );
                    assert!(request.payload.len() <= config.max_size);
                    assert!(request
                        .get_option(CoapOption::Block1)
                        .is_none_or(|l| l.is_empty()));
                    assert!(request
                        .get_option(CoapOption::Size1)
                        .is_none_or(|l| l.is_empty()));
                }
            },
            Err(e) => {
                let r = asm.error_response(&e);
                let code: u8 = r.header.code.into();
                assert!(matches!(code >> 5, 4 | 5), "error response {code:#x}");
            }
        }
        assert!(asm.len() <= config.max_transfers);
    }
}

fn download(packets: &[Packet]) {
    let Some((first, rest)) = packets.split_first() else {
        return;
    };
    let mut request = Packet::new();
    request.header.code = MessageClass::Request(RequestType::Get);
    request.add_option(CoapOption::UriPath, b"5".to_vec());
    let blockwise = matches!(block2(first), Ok(Some(_)));
    let (mut dl, mut step) = match Block2Download::start(&request, first.clone(), BLOCK_MAX_SIZE) {
        Ok((dl, step)) => (dl, step),
        Err(_) => return,
    };
    let mut rest = rest.iter();
    loop {
        match step {
            Step::Send(next) => {
                assert!(!dl.is_finished());
                let b = block2(&next)
                    .expect("our Block2 decodes")
                    .expect("has Block2");
                assert!(!b.more);
                assert_eq!(b.offset(), dl.received() as u64);
            }
            Step::Done(p) => {
                assert!(dl.is_finished());
                if blockwise && p.header.code == first.header.code {
                    assert!(p.payload.len() <= BLOCK_MAX_SIZE);
                    assert!(p
                        .get_option(CoapOption::Block2)
                        .is_none_or(|l| l.is_empty()));
                }
                assert_eq!(dl.on_response(first.clone()), Err(BlockError::Finished));
                return;
            }
        }
        assert!(dl.received() <= BLOCK_MAX_SIZE);
        let Some(p) = rest.next() else { return };
        step = match dl.on_response(p.clone()) {
            Ok(s) => s,
            Err(_) => {
                assert!(dl.is_finished());
                return;
            }
        };
    }
}

fn upload(packets: &[Packet]) {
    let mut request = Packet::new();
    request.header.code = MessageClass::Request(RequestType::Post);
    request.add_option(CoapOption::UriPath, b"rd".to_vec());
    request.payload = (0..300u32).map(|i| i as u8).collect();
    let (mut up, first) = Block1Upload::start(request, 64).expect("valid upload");
    let b = block1(&first).expect("decodes").expect("block-wise");
    assert_eq!((b.num, b.more, first.payload.len()), (0, true, 64));
    for p in packets {
        match up.on_response(p.clone()) {
            Ok(Step::Send(next)) => {
                let b = block1(&next).expect("decodes").expect("has Block1");
                assert_eq!(b.offset(), up.acknowledged() as u64);
                assert!(up.acknowledged() + next.payload.len() <= up.total());
                assert!(!next.payload.is_empty());
            }
            Ok(Step::Done(_)) | Err(_) => {
                assert!(up.is_finished());
                return;
            }
        }
        assert!(up.acknowledged() <= up.total());
    }
}

/// The in-suite short run: every harness over every seed of its corpus
/// plus deterministic pseudo-random mutations of them, so that a crash
/// seed committed to `fuzz/corpus/<target>/` stays a regression test.
#[cfg(test)]
mod tests {
    use super::TARGETS;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    /// Mutations per target; each target is also cut off after
    /// `BUDGET` so the whole run stays within a couple of seconds.
    const MUTATIONS: usize = 3000;
    const BUDGET: Duration = Duration::from_millis(400);

    /// xorshift64, fixed seed: the same mutations on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let path = e.expect("dir entry").path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).expect("read seed"))
            })
            .collect();
        seeds.sort();
        seeds
    }

    /// One of a few libFuzzer-like mutations of `seed` (another seed is
    /// spliced in now and then).
    fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut d = seed.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(d.len() + 1);
            match rng.below(8) {
                0 if !d.is_empty() => {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
                1 if !d.is_empty() => {
                    let i = rng.below(d.len());
                    d[i] = rng.next() as u8;
                }
                2 => d.insert(at, rng.next() as u8),
                3 if at < d.len() => {
                    d.remove(at);
                }
                4 => d.truncate(at),
                5 if !d.is_empty() => {
                    let i = rng.below(d.len());
                    let b = [0u8, 0xff, 0x7f, 0x80, b'"', b'<', b'/', b'0'][rng.below(8)];
                    d[i] = b;
                }
                6 => {
                    let from = rng.below(d.len() + 1);
                    let len = rng.below(d.len() - from + 1).min(16);
                    let copy = d[from..from + len].to_vec();
                    d.splice(at..at, copy);
                }
                _ => {
                    let from = rng.below(other.len() + 1);
                    let len = rng.below(other.len() - from + 1);
                    d.splice(at.., other[from..from + len].iter().copied());
                }
            }
        }
        d
    }

    #[test]
    fn corpus_and_mutations() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (target, harness) in TARGETS {
            let seeds = corpus(target);
            assert!(!seeds.is_empty(), "no corpus for {target}");
            for (name, data) in &seeds {
                let run = std::panic::catch_unwind(|| harness(data));
                assert!(run.is_ok(), "{target}: seed {name} fails");
            }
            let start = Instant::now();
            for n in 0..MUTATIONS {
                if start.elapsed() > BUDGET {
                    break;
                }
                let seed = &seeds[n % seeds.len()].1;
                let other = &seeds[rng.below(seeds.len())].1;
                let data = mutate(&mut rng, seed, other);
                let run = std::panic::catch_unwind(|| harness(&data));
                assert!(run.is_ok(), "{target}: mutation {n} fails on {data:02x?}");
            }
        }
    }

    /// The seeds are real examples: each one gets past the decoder it is for.
    #[test]
    fn seeds_are_accepted() {
        use crate::content::{decode, CoreModel};
        use crate::lwm2m::registration::parse_rd_request;
        for (name, data) in corpus("registration") {
            let p = coap_lite::Packet::from_bytes(&data).expect(&name);
            let r = parse_rd_request(&p);
            let refused = ["bad_version", "get_not_rd"].contains(&name.as_str());
            assert_eq!(matches!(r, Some(Ok(_))), !refused, "{name}: {r:?}");
        }
        for (name, data) in corpus("link_format") {
            let s = std::str::from_utf8(&data).expect(&name);
            let links = crate::link::parse_link_format(s);
            assert!(links.is_ok(), "{name}: {links:?}");
        }
        for (name, data) in corpus("content") {
            let (format, requested, payload) = super::content_input(&data).expect(&name);
            let r = decode(format, &requested, payload, &CoreModel);
            // Link format is not a Read answer; regression seeds are
            // inputs that must be refused.
            let refused = name.starts_with("link_") || name.starts_with("regress_");
            assert_eq!(r.is_ok(), !refused, "{name}: {r:?}");
        }
    }
}
