//! Time-driven behaviour (retransmission back-off, expiry, cancellation) on
//! a simulated clock, and robustness against arbitrary datagrams.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::tests::{content, events, get, one_request, one_sent, pair, sent, A, B};
use super::*;

/// Drive `ep` through its timers until it has none left before `until`,
/// recording when each datagram to `to` went out.
fn run_timers(ep: &mut Endpoint, to: Peer, until: Instant) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_timeout().filter(|t| *t <= until) {
        ep.handle_timeout(t);
        out.extend(sent(ep, to).into_iter().map(|b| (t, b)));
    }
    out
}

#[test]
fn retransmission_schedule_doubles_then_fails_with_timeout() {
    let t0 = Instant::now();
    let mut a = Endpoint::new(Config::default(), 0xC0FFEE);
    let id = a.send_request(t0, B, get("/3/0/0")).unwrap();
    let first = one_sent(&mut a, B);
    let mut times = vec![t0];
    let mut failed_at = None;
    while let Some(t) = a
        .poll_timeout()
        .filter(|t| *t <= t0 + Duration::from_secs(200))
    {
        a.handle_timeout(t);
        for bytes in sent(&mut a, B) {
            assert_eq!(bytes, first, "a retransmission repeats the same message");
            times.push(t);
        }
        for ev in events(&mut a) {
            match ev {
                Event::RequestFailed {
                    request,
                    peer: B,
                    reason: FailReason::Timeout,
                } if request == id => failed_at = Some(t),
                other => panic!("{other:?}"),
            }
        }
    }
    // 1 transmission + MAX_RETRANSMIT (4) retransmissions.
    assert_eq!(times.len(), 5);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let initial = gaps[0];
    assert!(
        initial >= Duration::from_secs(2) && initial <= Duration::from_secs(3),
        "{initial:?}"
    );
    for (i, gap) in gaps.iter().enumerate() {
        assert_eq!(*gap, initial * (1 << i), "gap {i}");
    }
    // Give-up after the last timeout 2^4 * initial: total 31 * initial (§4.8.2 MAX_TRANSMIT_WAIT).
    assert_eq!(failed_at, Some(t0 + initial * 31));
    assert_eq!(a.pending_requests(), 0);
}

#[test]
fn initial_timeout_is_randomised_within_bounds() {
    let t0 = Instant::now();
    let mut seen = HashSet::new();
    for seed in 0..50 {
        let mut a = Endpoint::new(Config::default(), seed);
        a.send_request(t0, B, get("/")).unwrap();
        let due = a.poll_timeout().unwrap() - t0;
        assert!(
            due >= Duration::from_secs(2) && due <= Duration::from_secs(3),
            "{due:?}"
        );
        seen.insert(due);
    }
    assert!(seen.len() > 40, "timeouts should differ across seeds");
}

#[test]
fn cancel_stops_retransmission_and_late_answers_are_unknown() {
    let (mut a, _, t0) = pair();
    let id = a.send_request(t0, B, get("/1")).unwrap();
    let req = one_sent(&mut a, B);
    assert!(a.cancel_request(id));
    assert_eq!(a.pending_requests(), 0);
    assert!(run_timers(&mut a, B, t0 + Duration::from_secs(120)).is_empty());
    assert!(events(&mut a).is_empty());
    // A late piggy-backed response is ignored; a late separate CON response gets RST.
    let mut ack = vec![0x68, 0x45, req[2], req[3]];
    ack.extend_from_slice(&req[4..12]);
    a.handle_datagram(t0, B, &ack);
    assert!(sent(&mut a, B).is_empty());
    let mut con = ack.clone();
    con[0] = 0x48;
    con[2] ^= 0xff;
    a.handle_datagram(t0, B, &con);
    assert_eq!(one_sent(&mut a, B), [0x70, 0x00, con[2], con[3]]);
    assert!(events(&mut a)
        .iter()
        .all(|e| matches!(e, Event::Rejected { .. })));
}

#[test]
fn dedup_entries_expire_after_their_lifetimes() {
    let (_, mut b, t0) = pair();
    let con = [0x40, 0x01, 0x00, 0x01];
    let non = [0x50, 0x01, 0x00, 0x02];
    b.handle_datagram(t0, A, &con);
    b.handle_datagram(t0, A, &non);
    let evs = events(&mut b);
    let Event::Request { exchange, .. } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert!(b.respond(t0, *exchange, content(b"")));
    let cached = one_sent(&mut b, A);
    assert_eq!(b.dedup_entries(), 2);
    // NON_LIFETIME, then EXCHANGE_LIFETIME; poll_timeout reports those deadlines.
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(145)));
    b.handle_timeout(t0 + Duration::from_secs(145));
    assert_eq!(b.dedup_entries(), 1);
    let t1 = t0 + Duration::from_secs(246);
    b.handle_datagram(t1, A, &con);
    assert_eq!(one_sent(&mut b, A), cached);
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_secs(247)));
    b.handle_timeout(t0 + Duration::from_secs(247));
    assert_eq!(b.dedup_entries(), 0);
    assert_eq!(b.poll_timeout(), None);
    // Forgotten: the same bytes are a new request now.
    b.handle_datagram(t0 + Duration::from_secs(248), A, &con);
    one_request(&mut b, A);
}

#[test]
fn unacknowledged_separate_response_is_retransmitted_then_dropped_silently() {
    let (_, mut b, t0) = pair();
    let req = [0x41, 0x01, 0x00, 0x01, 0xAA];
    b.handle_datagram(t0, A, &req);
    let (ex, _) = one_request(&mut b, A);
    b.handle_datagram(t0, A, &req);
    assert_eq!(one_sent(&mut b, A), [0x60, 0x00, 0x00, 0x01]);
    assert!(b.respond(t0, ex, content(b"s")));
    let sep = one_sent(&mut b, A);
    let retx = run_timers(&mut b, A, t0 + Duration::from_secs(300));
    assert_eq!(retx.len(), 4);
    assert!(retx.iter().all(|(_, bytes)| *bytes == sep));
    assert!(events(&mut b).is_empty());
    // An RST for it now finds nothing.
    b.handle_datagram(t0, A, &[0x70, 0x00, sep[2], sep[3]]);
    assert!(matches!(
        events(&mut b).as_slice(),
        [Event::Rejected { .. }]
    ));
}

#[test]
fn rst_stops_separate_response_retransmission() {
    let (_, mut b, t0) = pair();
    let req = [0x40, 0x01, 0x00, 0x03];
    b.handle_datagram(t0, A, &req);
    let (ex, _) = one_request(&mut b, A);
    b.handle_datagram(t0, A, &req);
    one_sent(&mut b, A);
    assert!(b.respond(t0, ex, content(b"s")));
    let sep = one_sent(&mut b, A);
    b.handle_datagram(t0, A, &[0x70, 0x00, sep[2], sep[3]]);
    assert!(events(&mut b).is_empty());
    assert!(run_timers(&mut b, A, t0 + Duration::from_secs(300)).is_empty());
}

#[test]
fn message_ids_and_tokens_are_unique_towards_a_peer() {
    let cfg = Config {
        max_pending_requests: 5000,
        ..Config::default()
    };
    let mut a = Endpoint::new(cfg, 9);
    let t0 = Instant::now();
    let (mut mids, mut tokens) = (HashSet::new(), HashSet::new());
    for _ in 0..3000 {
        a.send_request(t0, B, get("/")).unwrap();
        let bytes = one_sent(&mut a, B);
        assert!(mids.insert([bytes[2], bytes[3]]));
        assert!(tokens.insert(bytes[4..12].to_vec()));
    }
    assert_eq!(a.pending_requests(), 3000);
}

#[test]
fn empty_ack_without_separate_response_times_out_after_exchange_lifetime() {
    let (mut a, _, t0) = pair();
    let id = a.send_request(t0, B, get("/slow")).unwrap();
    let req = one_sent(&mut a, B);
    let t1 = t0 + Duration::from_secs(1);
    a.handle_datagram(t1, B, &[0x60, 0x00, req[2], req[3]]);
    a.handle_timeout(t1 + Duration::from_secs(246));
    assert!(events(&mut a).is_empty());
    a.handle_timeout(t1 + Duration::from_secs(247));
    assert!(matches!(
        events(&mut a).as_slice(),
        [Event::RequestFailed { request, reason: FailReason::Timeout, .. }] if *request == id
    ));
    assert!(sent(&mut a, B).is_empty());
}

#[test]
fn late_handle_timeout_retransmits_once_instead_of_bursting() {
    let (mut a, _, t0) = pair();
    a.send_request(t0, B, get("/")).unwrap();
    one_sent(&mut a, B);
    // The driver oversleeps by a minute: one retransmission, next one
    // scheduled from now with the doubled timeout (RFC 7252 §4.2).
    let late = t0 + Duration::from_secs(60);
    a.handle_timeout(late);
    assert_eq!(sent(&mut a, B).len(), 1);
    let next = a.poll_timeout().unwrap() - late;
    assert!(
        next >= Duration::from_secs(4) && next <= Duration::from_secs(6),
        "{next:?}"
    );
}

proptest! {
    #[test]
    fn handle_datagram_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (mut a, _, t0) = pair();
        let _ = a.send_request(t0, B, get("/1"));
        a.handle_datagram(t0, B, &bytes);
        a.handle_timeout(t0 + Duration::from_secs(300));
        while a.poll_event().is_some() {}
        while let Some(t) = a.poll_transmit() {
            // Whatever we send must itself be a well-formed CoAP message.
            prop_assert!(t.bytes.len() >= 4 && t.bytes[0] >> 6 == 1);
        }
    }

    /// Valid version-1 headers of every type and code with random tails,
    /// replayed against an endpoint holding live requests and exchanges.
    #[test]
    fn valid_headers_with_random_tails_never_panic(
        msgs in proptest::collection::vec(
            (0u8..4, 0u8..9, any::<u8>(), 0u16..4, proptest::collection::vec(any::<u8>(), 0..24)),
            1..8)
    ) {
        let (mut a, _, t0) = pair();
        let _ = a.send_request(t0, B, get("/1"));
        a.handle_datagram(t0, B, &[0x40, 0x01, 0x00, 0x00]);
        for (i, (ty, tkl, code, mid, tail)) in msgs.into_iter().enumerate() {
            let mut d = vec![0x40 | (ty << 4) | tkl, code, 0, mid as u8];
            d.extend(tail);
            let now = t0 + Duration::from_secs(i as u64 * 10);
            a.handle_datagram(now, B, &d);
            if let Some(Event::Request { exchange, .. }) = a.poll_event() {
                a.respond(now, exchange, content(b"ok"));
            }
            a.handle_timeout(now);
        }
        // Run the clock out: everything must fail, expire and be forgotten.
        for _ in 0..100 {
            let Some(t) = a.poll_timeout() else { break };
            a.handle_timeout(t);
        }
        prop_assert_eq!(a.dedup_entries(), 0);
        prop_assert_eq!(a.pending_requests(), 0);
        prop_assert_eq!(a.poll_timeout(), None);
    }
}
