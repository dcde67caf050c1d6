//! Restored observations (a restart) and the server side of Observe
//! (`notify.rs`), between two in-memory endpoints on a simulated clock.

use std::time::{Duration, Instant};

use coap_lite::{MessageType, ResponseType};

use super::tests::{content, events, one_sent, pair, parse, sent, A, B, C};
use super::tests_observe::{ack, notif, register, rst};
use super::*;

fn notification(seq: u32) -> coap_lite::Packet {
    let mut p = content(b"v");
    p.set_observe_value(seq);
    p
}

#[test]
fn restored_observation_delivers_notifications_from_its_peer_only() {
    let (mut a, mut b, t0) = pair();
    let (_, token) = register(&mut a, &mut b, t0);
    // A new process knows the token only from its store.
    let mut fresh = Endpoint::new(Config::default(), 99);
    let id = fresh.restore_observation(B, &token).expect("restored");
    assert_eq!(fresh.restore_observation(B, &token), None, "token in use");
    assert_eq!(
        fresh.restore_observation(B, &token[..4]),
        None,
        "not our token"
    );
    // Any sequence number is fresh after a restore, even a low one.
    fresh.handle_datagram(
        t0,
        B,
        &notif(true, 7, &token, Some(3), ResponseType::Content),
    );
    assert_eq!(one_sent(&mut fresh, B), ack(7));
    assert!(matches!(
        events(&mut fresh).as_slice(),
        [Event::Notification { request, sequence: Some(3), .. }] if *request == id
    ));
    // The same token from another address is not this observation: RST.
    fresh.handle_datagram(
        t0,
        C,
        &notif(true, 8, &token, Some(4), ResponseType::Content),
    );
    assert_eq!(sent(&mut fresh, C), vec![rst(8)]);
    assert!(matches!(
        events(&mut fresh).as_slice(),
        [Event::Rejected { peer: C, .. }]
    ));
    // Ordering applies again from the first delivered notification.
    let t1 = t0 + Duration::from_secs(1);
    fresh.handle_datagram(
        t1,
        B,
        &notif(false, 9, &token, Some(2), ResponseType::Content),
    );
    assert!(matches!(
        events(&mut fresh).as_slice(),
        [Event::Rejected { .. }]
    ));
}

#[test]
fn moved_observation_follows_the_new_address() {
    let (_, _, t0) = pair();
    let mut ep = Endpoint::new(Config::default(), 5);
    let token = [1u8; 8];
    let id = ep.restore_observation(B, &token).unwrap();
    assert!(ep.move_observation(id, C));
    ep.handle_datagram(
        t0,
        B,
        &notif(false, 1, &token, Some(1), ResponseType::Content),
    );
    assert_eq!(sent(&mut ep, B), vec![rst(1)]);
    events(&mut ep);
    ep.handle_datagram(
        t0,
        C,
        &notif(false, 2, &token, Some(2), ResponseType::Content),
    );
    assert!(matches!(
        events(&mut ep).as_slice(),
        [Event::Notification { request, peer: C, .. }] if *request == id
    ));
    assert!(!ep.move_observation(RequestId(12345), C));
}

#[test]
fn con_notification_is_retransmitted_until_acked() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    assert!(b.notify(t0, A, &token, notification(6), true));
    let first = one_sent(&mut b, A);
    let p = parse(&first);
    assert_eq!(p.header.get_type(), MessageType::Confirmable);
    assert_eq!(p.get_token(), &token[..]);
    // Lost: the layer sends it again after the timeout.
    let t1 = b.poll_timeout().expect("retransmission timer");
    b.handle_timeout(t1);
    assert_eq!(one_sent(&mut b, A), first);
    a.handle_datagram(t1, B, &first);
    assert!(matches!(
        events(&mut a).as_slice(),
        [Event::Notification { request, sequence: Some(6), .. }] if *request == id
    ));
    b.handle_datagram(t1, A, &one_sent(&mut a, B));
    assert!(events(&mut b).is_empty(), "ACK ends it quietly");
    assert_eq!(
        b.poll_timeout()
            .filter(|t| *t < t1 + Duration::from_secs(60)),
        None
    );
}

#[test]
fn reset_notification_loses_the_observer() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    assert!(a.forget_observation(id));
    assert!(b.notify(t0, A, &token, notification(6), true));
    a.handle_datagram(t0, B, &one_sent(&mut b, A));
    b.handle_datagram(t0, A, &one_sent(&mut a, B));
    match events(&mut b).as_slice() {
        [Event::ObserverLost { peer: A, token: t }] => assert_eq!(t, &token),
        other => panic!("expected ObserverLost, got {other:?}"),
    }
}

#[test]
fn unacknowledged_notification_loses_the_observer() {
    let (_, mut b, t0) = pair();
    let token = [7u8; 8];
    assert!(b.notify(t0, A, &token, notification(1), true));
    let mut now: Instant = t0;
    let mut lost = false;
    for _ in 0..10 {
        sent(&mut b, A);
        let Some(t) = b
            .poll_timeout()
            .filter(|t| *t < t0 + Duration::from_secs(200))
        else {
            break;
        };
        now = t;
        b.handle_timeout(now);
        lost |= events(&mut b)
            .iter()
            .any(|e| matches!(e, Event::ObserverLost { peer: A, .. }));
    }
    assert!(lost, "no ObserverLost by {:?}", now - t0);
}

#[test]
fn non_notification_and_refusals() {
    let (mut a, mut b, t0) = pair();
    let (id, token) = register(&mut a, &mut b, t0);
    assert!(b.notify(t0, A, &token, notification(6), false));
    let bytes = one_sent(&mut b, A);
    assert_eq!(parse(&bytes).header.get_type(), MessageType::NonConfirmable);
    a.handle_datagram(t0, B, &bytes);
    assert!(matches!(
        events(&mut a).as_slice(),
        [Event::Notification { request, .. }] if *request == id
    ));
    assert!(b
        .poll_timeout()
        .is_none_or(|t| t > t0 + Duration::from_secs(100)));
    // Not a response code, or an over-long token: refused, nothing sent.
    assert!(!b.notify(t0, A, &token, super::tests::get("/3"), false));
    assert!(!b.notify(t0, A, &[0; 9], notification(7), false));
    assert!(sent(&mut b, A).is_empty());
}
