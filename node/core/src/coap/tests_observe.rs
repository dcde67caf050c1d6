//! Client-side Observe (RFC 7641) between two in-memory endpoints on a
//! simulated clock: registration (§3.1), notifications (§3.2), reordering
//! (§3.4), ending and reactive cancellation (§3.6), all checked on the wire.

use std::time::{Duration, Instant};

use coap_lite::{MessageClass, MessageType, Packet, RequestType, ResponseType};
use proptest::prelude::*;

use super::observe::is_fresh;
use super::tests::{content, events, get, one_request, one_response, one_sent, pair, sent, A, B};
use super::*;

/// Register an observation of `/3/0/9` from `a` at `b`; the piggy-backed
/// first response carries Observe=5. Returns the request and its token.
pub(super) fn register(a: &mut Endpoint, b: &mut Endpoint, t0: Instant) -> (RequestId, Vec<u8>) {
    let id = a.send_observe(t0, B, get("/3/0/9")).unwrap();
    let req = one_sent(a, B);
    // Token (8 bytes), then Observe (option 6) with an empty value = 0,
    // then Uri-Path (delta 5) "3".
    assert_eq!(req[0], 0x48);
    assert_eq!(req[12..15], [0x60, 0x51, b'3']);
    b.handle_datagram(t0, A, &req);
    let (ex, got) = one_request(b, A);
    assert_eq!(got.get_observe_value().unwrap().unwrap(), 0);
    let mut resp = content(b"42");
    resp.set_observe_value(5);
    assert!(b.respond(t0, ex, resp));
    a.handle_datagram(t0, B, &one_sent(b, A));
    let first = one_response(a, id, B);
    assert_eq!(first.get_observe_value().unwrap().unwrap(), 5);
    assert_eq!((a.observations(), a.pending_requests()), (1, 0));
    (id, req[4..12].to_vec())
}

/// A notification datagram as the server would send it.
pub(super) fn notif(
    con: bool,
    mid: u16,
    token: &[u8],
    seq: Option<u32>,
    code: ResponseType,
) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(if con {
        MessageType::Confirmable
    } else {
        MessageType::NonConfirmable
    });
    p.header.message_id = mid;
    p.header.code = MessageClass::Response(code);
    p.set_token(token.to_vec());
    if let Some(s) = seq {
        p.set_observe_value(s);
    }
    p.payload = b"v".to_vec();
    p.to_bytes().unwrap()
}

pub(super) fn ack(mid: u16) -> Vec<u8> {
    let [h, l] = mid.to_be_bytes();
    vec![0x60, 0x00, h, l]
}

pub(super) fn rst(mid: u16) -> Vec<u8> {
    let [h, l] = mid.to_be_bytes();
    vec![0x70, 0x00, h, l]
}

/// Exactly one `Notification` for `id` from `B`; returns its sequence.
fn one_notification(ep: &mut Endpoint, id: RequestId) -> Option<u32> {
    match events(ep).as_slice() {
        [Event::Notification {
            request,
            peer,
            response,
            sequence,
        }] => {
            assert_eq!((*request, *peer), (id, B));
            assert_eq!(response.payload, b"v");
            *sequence
        }
        other => panic!("expected one Notification, got {other:?}"),
    }
}

fn only_rejected(ep: &mut Endpoint) {
    let evs = events(ep);
    assert!(
        matches!(evs.as_slice(), [Event::Rejected { peer: B, .. }]),
        "expected one Rejected, got {evs:?}"
    );
}

#[test]
fn con_and_non_notifications_are_delivered_and_acked() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    for (i, seq) in [6u32, 7, 8].into_iter().enumerate() {
        let t = t0 + Duration::from_secs(i as u64 + 1);
        let mid = 0x1000 + i as u16;
        a.handle_datagram(
            t,
            B,
            &notif(true, mid, &token, Some(seq), ResponseType::Content),
        );
        assert_eq!(one_sent(&mut a, B), ack(mid));
        assert_eq!(one_notification(&mut a, id), Some(seq));
    }
    for (i, seq) in [9u32, 10, 11].into_iter().enumerate() {
        let t = t0 + Duration::from_secs(i as u64 + 10);
        let mid = 0x2000 + i as u16;
        a.handle_datagram(
            t,
            B,
            &notif(false, mid, &token, Some(seq), ResponseType::Content),
        );
        assert!(
            sent(&mut a, B).is_empty(),
            "NON notifications are not ACKed"
        );
        assert_eq!(one_notification(&mut a, id), Some(seq));
    }
    assert_eq!((a.observations(), a.pending_requests()), (1, 0));
}

#[test]
fn separate_first_response_registers_too() {
    let (mut a, _, t0) = pair();
    let id = a.send_observe(t0, B, get("/1/0")).unwrap();
    let req = one_sent(&mut a, B);
    let token = req[4..12].to_vec();
    a.handle_datagram(t0, B, &ack(u16::from_be_bytes([req[2], req[3]])));
    a.handle_datagram(
        t0,
        B,
        &notif(true, 7, &token, Some(1), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), ack(7));
    assert!(
        matches!(events(&mut a).as_slice(), [Event::Response { request, .. }] if *request == id)
    );
    a.handle_datagram(
        t0,
        B,
        &notif(true, 8, &token, Some(2), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), ack(8));
    assert_eq!(one_notification(&mut a, id), Some(2));
}

#[test]
fn out_of_order_notification_is_dropped() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    let t1 = t0 + Duration::from_secs(1);
    a.handle_datagram(
        t1,
        B,
        &notif(true, 1, &token, Some(10), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), ack(1));
    assert_eq!(one_notification(&mut a, id), Some(10));
    // Older (9) and equal (10) values are stale but still ACKed (§3.4).
    for (mid, seq) in [(2, 9), (3, 10)] {
        a.handle_datagram(
            t1,
            B,
            &notif(true, mid, &token, Some(seq), ResponseType::Content),
        );
        assert_eq!(one_sent(&mut a, B), ack(mid));
        only_rejected(&mut a);
    }
    a.handle_datagram(
        t1,
        B,
        &notif(false, 4, &token, Some(11), ResponseType::Content),
    );
    assert_eq!(one_notification(&mut a, id), Some(11));
    // More than 128 s later any value is fresh.
    let late = t1 + Duration::from_secs(129);
    a.handle_datagram(
        late,
        B,
        &notif(false, 5, &token, Some(3), ResponseType::Content),
    );
    assert_eq!(one_notification(&mut a, id), Some(3));
}

#[test]
fn freshness_follows_the_24_bit_serial_rule() {
    let t = Instant::now();
    let at = |s| t + Duration::from_secs(s);
    assert!(is_fresh(1, t, 2, t));
    assert!(!is_fresh(2, t, 1, t));
    assert!(!is_fresh(5, t, 5, t));
    assert!(is_fresh(0xFF_FFFF, t, 0, t), "wrap-around");
    assert!(!is_fresh(0, t, 0xFF_FFFF, t));
    assert!(!is_fresh(0, t, 1 << 23, t), "exactly half way is not newer");
    assert!(is_fresh(0, t, (1 << 23) - 1, t));
    assert!(!is_fresh(9, t, 3, at(128)));
    assert!(is_fresh(9, t, 3, at(129)));
}

#[test]
fn duplicate_notification_is_reacked_once() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    let n = notif(true, 0x4242, &token, Some(6), ResponseType::Content);
    a.handle_datagram(t0, B, &n);
    assert_eq!(one_sent(&mut a, B), ack(0x4242));
    assert_eq!(one_notification(&mut a, id), Some(6));
    a.handle_datagram(t0 + Duration::from_secs(3), B, &n);
    assert_eq!(one_sent(&mut a, B), ack(0x4242));
    assert!(events(&mut a).is_empty());
    // A duplicate NON is silently ignored.
    let n = notif(false, 0x4243, &token, Some(7), ResponseType::Content);
    a.handle_datagram(t0, B, &n);
    assert_eq!(one_notification(&mut a, id), Some(7));
    a.handle_datagram(t0, B, &n);
    assert!(sent(&mut a, B).is_empty() && events(&mut a).is_empty());
}

#[test]
fn error_code_or_missing_observe_ends_the_observation() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    a.handle_datagram(
        t0,
        B,
        &notif(true, 1, &token, Some(6), ResponseType::NotFound),
    );
    assert_eq!(one_sent(&mut a, B), ack(1));
    assert_eq!(one_notification(&mut a, id), Some(6));
    assert_eq!(a.observations(), 0);
    a.handle_datagram(
        t0,
        B,
        &notif(true, 2, &token, Some(7), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), rst(2));
    only_rejected(&mut a);

    let (id, token) = register(&mut a, &mut b, t0);
    a.handle_datagram(t0, B, &notif(false, 3, &token, None, ResponseType::Content));
    assert!(sent(&mut a, B).is_empty());
    assert_eq!(one_notification(&mut a, id), None);
    assert_eq!(a.observations(), 0);
}

#[test]
fn forgotten_observation_gets_rst() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    assert!(a.forget_observation(id));
    assert!(!a.forget_observation(id));
    assert_eq!(a.observations(), 0);
    a.handle_datagram(
        t0,
        B,
        &notif(true, 0x0abc, &token, Some(6), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), rst(0x0abc));
    only_rejected(&mut a);
    a.handle_datagram(
        t0,
        B,
        &notif(false, 0x0abd, &token, Some(7), ResponseType::Content),
    );
    // A NON notification is reset too (RFC 7641 §3.6), so the server stops.
    assert_eq!(one_sent(&mut a, B), rst(0x0abd));
    only_rejected(&mut a);
}

#[test]
fn response_without_observe_is_a_plain_response() {
    let (mut a, mut b, t0) = pair();
    let id = a.send_observe(t0, B, get("/5")).unwrap();
    b.handle_datagram(t0, A, &one_sent(&mut a, B));
    let (ex, _) = one_request(&mut b, A);
    assert!(b.respond(t0, ex, content(b"x")));
    let resp = one_sent(&mut b, A);
    let token = resp[4..12].to_vec();
    a.handle_datagram(t0, B, &resp);
    one_response(&mut a, id, B);
    assert_eq!((a.observations(), a.pending_requests()), (0, 0));
    a.handle_datagram(
        t0,
        B,
        &notif(true, 9, &token, Some(1), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut a, B), rst(9));
}

#[test]
fn observation_cap_and_validation() {
    let cfg = Config {
        max_observations: 2,
        ..Config::default()
    };
    let (mut a, t0) = (Endpoint::new(cfg, 4), Instant::now());
    let mut b = Endpoint::new(Config::default(), 5);
    let (id1, _) = register(&mut a, &mut b, t0);
    let id2 = a.send_observe(t0, B, get("/2")).unwrap();
    sent(&mut a, B);
    assert!(matches!(
        a.send_observe(t0, B, get("/3")),
        Err(CoapError::TooManyObservations { limit: 2 })
    ));
    // Plain requests are not limited by the observation cap.
    assert!(a.send_request(t0, B, get("/4")).is_ok());
    assert!(a.cancel_request(id2));
    assert!(a.send_observe(t0, B, get("/3")).is_ok());
    assert!(a.forget_observation(id1));
    assert!(a.send_observe(t0, B, get("/5")).is_ok());
    assert!(a.send_observe(t0, B, get("/6")).is_err());
    let mut post = get("/7");
    post.header.code = MessageClass::Request(RequestType::Post);
    let mut c = Endpoint::new(Config::default(), 6);
    assert!(matches!(
        c.send_observe(t0, B, post),
        Err(CoapError::NotObservable(_))
    ));
    assert!(matches!(
        c.send_observe(t0, B, content(b"")),
        Err(CoapError::NotObservable(_))
    ));
    assert_eq!(c.pending_requests(), 0);
}

proptest! {
    #[test]
    fn arbitrary_datagrams_after_an_observation_never_panic(
        dgrams in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40), 0u64..300),
            1..20,
        )
    ) {
        let (mut a, mut b, t0) = pair();
        let (_, token) = register(&mut a, &mut b, t0);
        for (with_token, tail, secs) in dgrams {
            // Half the datagrams get a plausible CON/NON header with the
            // observation's token, so they reach the notification path.
            let bytes = if with_token {
                let mut v = vec![0x48 | (tail.first().copied().unwrap_or(0) & 0x10), 0x45, 1, 2];
                v.extend_from_slice(&token);
                v.extend_from_slice(&tail);
                v
            } else {
                tail
            };
            let now = t0 + Duration::from_secs(secs);
            a.handle_datagram(now, B, &bytes);
            a.handle_timeout(now);
            while a.poll_transmit().is_some() {}
            while a.poll_event().is_some() {}
            prop_assert!(a.observations() <= 1);
            prop_assert_eq!(a.pending_requests(), 0);
        }
    }
}
