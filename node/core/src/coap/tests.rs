//! Two endpoints talking in memory over a simulated clock: exchanges,
//! duplicates and rejections, checked on the wire bytes.

use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use super::*;

pub(super) const A: Peer = Peer::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    5683,
));
pub(super) const B: Peer = Peer::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    56830,
));
pub(super) const C: Peer = Peer::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    40000,
));

pub(super) fn pair() -> (Endpoint, Endpoint, Instant) {
    (
        Endpoint::new(Config::default(), 1),
        Endpoint::new(Config::default(), 2),
        Instant::now(),
    )
}

pub(super) fn get(path: &str) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(RequestType::Get);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    p
}

pub(super) fn content(payload: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Response(ResponseType::Content);
    p.payload = payload.to_vec();
    p
}

/// All queued datagrams, asserting they go to `to`.
pub(super) fn sent(ep: &mut Endpoint, to: Peer) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| {
            assert_eq!(t.peer, to);
            t.bytes
        })
        .collect()
}

pub(super) fn one_sent(ep: &mut Endpoint, to: Peer) -> Vec<u8> {
    let mut v = sent(ep, to);
    assert_eq!(v.len(), 1, "expected exactly one datagram");
    v.remove(0)
}

pub(super) fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

pub(super) fn one_request(ep: &mut Endpoint, from: Peer) -> (ExchangeId, Packet) {
    match events(ep).as_mut_slice() {
        [Event::Request {
            exchange,
            peer,
            request,
        }] => {
            assert_eq!(*peer, from);
            (*exchange, std::mem::take(request))
        }
        other => panic!("expected one Request, got {other:?}"),
    }
}

pub(super) fn one_response(ep: &mut Endpoint, id: RequestId, from: Peer) -> Packet {
    match events(ep).as_mut_slice() {
        [Event::Response {
            request,
            peer,
            response,
        }] => {
            assert_eq!((*request, *peer), (id, from));
            std::mem::take(response)
        }
        other => panic!("expected one Response, got {other:?}"),
    }
}

pub(super) fn parse(bytes: &[u8]) -> Packet {
    Packet::from_bytes(bytes).expect("endpoint emitted an unparsable message")
}

fn mid(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[2], bytes[3]])
}

#[test]
fn piggybacked_round_trip() {
    let (mut a, mut b, t0) = pair();
    let id = a.send_request(t0, B, get("/3/0")).unwrap();
    let req_bytes = one_sent(&mut a, B);
    let req = parse(&req_bytes);
    assert_eq!(req.header.get_version(), 1);
    assert_eq!(req.header.get_type(), MessageType::Confirmable);
    assert_eq!(req.get_token().len(), 8);
    assert_eq!(a.pending_requests(), 1);

    b.handle_datagram(t0, A, &req_bytes);
    let (ex, got) = one_request(&mut b, A);
    assert_eq!(got.get_option(CoapOption::UriPath).unwrap().len(), 2);
    assert!(b.respond(t0, ex, content(b"hello")));
    let resp_bytes = one_sent(&mut b, A);
    let resp = parse(&resp_bytes);
    assert_eq!(resp.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(resp.header.message_id, req.header.message_id);
    assert_eq!(resp.get_token(), req.get_token());
    assert_eq!(
        resp.header.code,
        MessageClass::Response(ResponseType::Content)
    );

    a.handle_datagram(t0, B, &resp_bytes);
    assert_eq!(one_response(&mut a, id, B).payload, b"hello");
    assert_eq!(a.pending_requests(), 0);
    assert!(sent(&mut a, B).is_empty());
    // Answered already: a second respond is refused.
    assert!(!b.respond(t0, ex, content(b"again")));
}

#[test]
fn duplicate_con_gets_identical_cached_reply_and_no_event() {
    let (mut a, mut b, t0) = pair();
    a.send_request(t0, B, get("/1")).unwrap();
    let req = one_sent(&mut a, B);
    b.handle_datagram(t0, A, &req);
    let (ex, _) = one_request(&mut b, A);
    assert!(b.respond(t0, ex, content(b"x")));
    let first = one_sent(&mut b, A);
    let t1 = t0 + Duration::from_secs(3);
    b.handle_datagram(t1, A, &req);
    assert_eq!(one_sent(&mut b, A), first);
    assert!(events(&mut b).is_empty());
    assert_eq!(b.dedup_entries(), 1);
}

#[test]
fn duplicate_before_response_gets_empty_ack_then_separate_con_response() {
    let (mut a, mut b, t0) = pair();
    let id = a.send_request(t0, B, get("/5")).unwrap();
    let req = one_sent(&mut a, B);
    b.handle_datagram(t0, A, &req);
    let (ex, _) = one_request(&mut b, A);

    // The duplicate arrives before the application answered: empty ACK, once
    // as the cached reply for later duplicates too, and no second event.
    let t1 = t0 + Duration::from_secs(2);
    b.handle_datagram(t1, A, &req);
    let ack = one_sent(&mut b, A);
    assert_eq!(ack, [0x60, 0x00, req[2], req[3]]);
    assert!(events(&mut b).is_empty());
    b.handle_datagram(t1, A, &req);
    assert_eq!(one_sent(&mut b, A), ack);

    // A stops retransmitting but keeps waiting.
    a.handle_datagram(t1, B, &ack);
    assert!(events(&mut a).is_empty());
    a.handle_timeout(t1 + Duration::from_secs(100));
    assert!(sent(&mut a, B).is_empty());
    assert_eq!(a.pending_requests(), 1);

    // Separate response: CON, new MID, request's token.
    let t2 = t1 + Duration::from_secs(100);
    assert!(b.respond(t2, ex, content(b"late")));
    let sep = one_sent(&mut b, A);
    let p = parse(&sep);
    assert_eq!(p.header.get_type(), MessageType::Confirmable);
    assert_ne!(mid(&sep), mid(&req));
    assert_eq!(p.get_token(), parse(&req).get_token());

    a.handle_datagram(t2, B, &sep);
    assert_eq!(one_response(&mut a, id, B).payload, b"late");
    let a_ack = one_sent(&mut a, B);
    assert_eq!(a_ack, [0x60, 0x00, sep[2], sep[3]]);
    assert_eq!(a.pending_requests(), 0);

    // The ACK stops B's retransmission of the separate response.
    b.handle_datagram(t2, A, &a_ack);
    assert!(events(&mut b).is_empty());
    b.handle_timeout(t2 + Duration::from_secs(120));
    assert!(sent(&mut b, A).is_empty());
}

#[test]
fn lost_ack_of_separate_response_is_resent_without_second_event() {
    let (mut a, mut b, t0) = pair();
    let id = a.send_request(t0, B, get("/5")).unwrap();
    let req = one_sent(&mut a, B);
    b.handle_datagram(t0, A, &req);
    let (ex, _) = one_request(&mut b, A);
    b.handle_datagram(t0, A, &req); // duplicate -> empty ACK
    a.handle_datagram(t0, B, &one_sent(&mut b, A));
    assert!(b.respond(t0, ex, content(b"v")));
    let sep = one_sent(&mut b, A);
    a.handle_datagram(t0, B, &sep);
    one_response(&mut a, id, B);
    let ack = one_sent(&mut a, B);
    // The ACK is lost; B retransmits; A answers with the same ACK, no event.
    let t = b.poll_timeout().unwrap();
    b.handle_timeout(t);
    let retx = one_sent(&mut b, A);
    assert_eq!(retx, sep);
    a.handle_datagram(t, B, &retx);
    assert_eq!(one_sent(&mut a, B), ack);
    assert!(events(&mut a).is_empty());
}

#[test]
fn reset_fails_the_request() {
    let (mut a, _, t0) = pair();
    let id = a.send_request(t0, B, get("/x")).unwrap();
    let req = one_sent(&mut a, B);
    a.handle_datagram(t0, B, &[0x70, 0x00, req[2], req[3]]);
    match events(&mut a).as_slice() {
        [Event::RequestFailed {
            request,
            peer,
            reason: FailReason::Reset,
        }] => {
            assert_eq!((*request, *peer), (id, B));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.pending_requests(), 0);
    // A RST from another peer with the same MID must not match.
    let id2 = a.send_request(t0, B, get("/y")).unwrap();
    let req2 = one_sent(&mut a, B);
    a.handle_datagram(t0, C, &[0x70, 0x00, req2[2], req2[3]]);
    assert!(matches!(
        events(&mut a).as_slice(),
        [Event::Rejected { .. }]
    ));
    assert_eq!(a.pending_requests(), 1);
    assert!(a.cancel_request(id2));
    assert!(!a.cancel_request(id2));
}

#[test]
fn same_mid_and_token_from_two_peers_are_independent() {
    let (_, mut b, t0) = pair();
    // CON GET, TKL 2, MID 0x0007, token 01 02.
    let raw = [0x42, 0x01, 0x00, 0x07, 0x01, 0x02];
    b.handle_datagram(t0, A, &raw);
    b.handle_datagram(t0, C, &raw);
    let evs = events(&mut b);
    let exchanges: Vec<(ExchangeId, Peer)> = evs
        .iter()
        .map(|e| match e {
            Event::Request { exchange, peer, .. } => (*exchange, *peer),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(exchanges.len(), 2);
    assert_ne!(exchanges[0].0, exchanges[1].0);
    assert_eq!((exchanges[0].1, exchanges[1].1), (A, C));
    assert!(b.respond(t0, exchanges[1].0, content(b"c")));
    assert!(b.respond(t0, exchanges[0].0, content(b"a")));
    let to_c = b.poll_transmit().unwrap();
    let to_a = b.poll_transmit().unwrap();
    assert_eq!((to_c.peer, to_a.peer), (C, A));
    assert_eq!(&to_a.bytes[..6], &[0x62, 0x45, 0x00, 0x07, 0x01, 0x02]);
    assert_eq!(parse(&to_a.bytes).payload, b"a");
    assert_eq!(parse(&to_c.bytes).payload, b"c");
    assert_eq!(b.dedup_entries(), 2);
}

#[test]
fn malformed_con_gets_rst_with_its_mid_others_are_dropped() {
    let (_, mut b, t0) = pair();
    // CON, TKL 9 (reserved), MID 0xABCD.
    b.handle_datagram(t0, A, &[0x49, 0x01, 0xAB, 0xCD, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(one_sent(&mut b, A), [0x70, 0x00, 0xAB, 0xCD]);
    assert!(matches!(
        events(&mut b).as_slice(),
        [Event::Rejected { peer: A, .. }]
    ));
    // Same error in a NON, an ACK, and in a 3-byte datagram: no reply.
    for bad in [
        &[0x59, 0x01, 0xAB, 0xCD][..],
        &[0x69, 0x45, 0, 1],
        &[0x40, 0x01, 0],
    ] {
        b.handle_datagram(t0, A, bad);
        assert!(sent(&mut b, A).is_empty());
        assert!(matches!(
            events(&mut b).as_slice(),
            [Event::Rejected { .. }]
        ));
    }
    // Version 2 is silently ignored on the wire, even if it would be a CON.
    b.handle_datagram(t0, A, &[0x80, 0x01, 0, 1]);
    assert!(sent(&mut b, A).is_empty());
    // Reserved code class 7 in a CON: RST.
    b.handle_datagram(t0, A, &[0x40, 0xE0, 0x12, 0x34]);
    assert_eq!(one_sent(&mut b, A), [0x70, 0x00, 0x12, 0x34]);
    assert_eq!(b.dedup_entries(), 0);
}

#[test]
fn coap_ping_gets_rst() {
    let (_, mut b, t0) = pair();
    b.handle_datagram(t0, A, &[0x40, 0x00, 0x55, 0x66]);
    assert_eq!(one_sent(&mut b, A), [0x70, 0x00, 0x55, 0x66]);
    assert!(events(&mut b).is_empty());
}

#[test]
fn unmatched_con_and_non_responses_get_rst() {
    let (mut a, _, t0) = pair();
    // CON 2.05, MID 0x0102, token 8 bytes nobody asked for.
    let mut resp = vec![0x48, 0x45, 0x01, 0x02];
    resp.extend_from_slice(&[9; 8]);
    a.handle_datagram(t0, B, &resp);
    assert_eq!(one_sent(&mut a, B), [0x70, 0x00, 0x01, 0x02]);
    resp[0] = 0x58; // NON: reset too, so an observing server stops (RFC 7641 §3.6)
    a.handle_datagram(t0, B, &resp);
    assert_eq!(one_sent(&mut a, B), [0x70, 0x00, 0x01, 0x02]);
    assert_eq!(events(&mut a).len(), 2);
}

#[test]
fn non_request_gets_non_response_and_duplicates_are_ignored() {
    let (_, mut b, t0) = pair();
    let raw = [0x51, 0x01, 0x00, 0x09, 0x77];
    b.handle_datagram(t0, A, &raw);
    let (ex, _) = one_request(&mut b, A);
    b.handle_datagram(t0, A, &raw);
    assert!(events(&mut b).is_empty());
    assert!(sent(&mut b, A).is_empty());
    assert!(b.respond(t0, ex, content(b"n")));
    let resp = one_sent(&mut b, A);
    let p = parse(&resp);
    assert_eq!(p.header.get_type(), MessageType::NonConfirmable);
    assert_ne!(p.header.message_id, 9);
    assert_eq!(p.get_token(), &[0x77]);
    b.handle_datagram(t0, A, &raw);
    assert!(sent(&mut b, A).is_empty());
    // A NON response is not retransmitted.
    b.handle_timeout(t0 + Duration::from_secs(60));
    assert!(sent(&mut b, A).is_empty());
}

#[test]
fn respond_refuses_unknown_exchange_and_non_response_codes() {
    let (_, mut b, t0) = pair();
    assert!(!b.respond(t0, ExchangeId(42), content(b"")));
    b.handle_datagram(t0, A, &[0x40, 0x01, 0x00, 0x01]);
    let (ex, _) = one_request(&mut b, A);
    assert!(!b.respond(t0, ex, get("/not/a/response")));
    assert!(sent(&mut b, A).is_empty());
    assert!(b.respond(t0, ex, content(b"")));
    assert_eq!(one_sent(&mut b, A), [0x60, 0x45, 0x00, 0x01]);
}

#[test]
fn send_request_limits_and_validation() {
    let cfg = Config {
        max_pending_requests: 2,
        ..Config::default()
    };
    let mut a = Endpoint::new(cfg, 3);
    let t0 = Instant::now();
    let r1 = a.send_request(t0, B, get("/1")).unwrap();
    a.send_request(t0, C, get("/2")).unwrap();
    assert!(matches!(
        a.send_request(t0, B, get("/3")),
        Err(CoapError::TooManyPending { limit: 2 })
    ));
    assert!(a.cancel_request(r1));
    assert!(a.send_request(t0, B, get("/3")).is_ok());
    assert!(!a.cancel_request(RequestId(0)));
    let mut b = Endpoint::new(Config::default(), 3);
    assert!(matches!(
        b.send_request(t0, B, content(b"")),
        Err(CoapError::NotARequest(_))
    ));
}
