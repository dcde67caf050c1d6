use super::*;

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

/// A ClientHello carrying `cookie` (message_seq 1 when it has one).
fn hello(record_seq: u64, cookie: &[u8]) -> Vec<u8> {
    record::test_client_hello(record_seq, u16::from(!cookie.is_empty()), cookie)
}

fn valid_cookie(jar: &CookieJar) -> Vec<u8> {
    let h = hello(0, b"");
    let parsed = record::client_hello(&h).expect("hello");
    jar.make(peer(), parsed.params_before_cookie).to_vec()
}

fn table(max: usize) -> Table<&'static str> {
    Table::new(max, Duration::from_secs(60), Duration::from_secs(5))
}

fn establish(
    t: &mut Table<&'static str>,
    conn: &'static str,
    now: Instant,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(4);
    let g = t.start_handshake(peer(), tx, now, vec![]);
    assert!(t.establish(peer(), g, conn, "id".into(), now).is_some());
    rx
}

#[test]
fn a_hello_without_cookie_gets_a_verify_request_and_no_state() {
    let now = Instant::now();
    let jar = CookieJar::new(now, Duration::from_secs(60));
    let mut t = table(10);
    for bad in [&b""[..], b"not-the-cookie-at-all"] {
        match t.route(peer(), &hello(0, bad), now, &jar) {
            Route::Reply(hvr) => assert!(record::is_hello_verify_request(&hvr)),
            _ => panic!("expected a HelloVerifyRequest"),
        }
    }
    assert!(t.is_empty());
    assert!(matches!(
        t.route(peer(), b"\x17garbage-app-data", now, &jar),
        Route::Drop(_)
    ));
}

#[test]
fn a_hello_with_a_valid_cookie_is_accepted_within_the_cap() {
    let now = Instant::now();
    let jar = CookieJar::new(now, Duration::from_secs(60));
    let cookie = valid_cookie(&jar);
    let mut t = table(1);
    match t.route(peer(), &hello(1, &cookie), now, &jar) {
        Route::Accept {
            initial,
            cookie: c,
            replaced,
        } => {
            assert_eq!(c, cookie);
            assert!(replaced.is_none());
            let first = record::client_hello(&initial).expect("initial hello");
            assert!(first.cookie.is_empty());
            assert_eq!(first.message_seq, 0);
        }
        _ => panic!("expected Accept"),
    }
    let (tx, _rx) = mpsc::channel(4);
    t.start_handshake(peer(), tx, now, vec![]);
    // A retransmitted hello goes to the running handshake.
    assert!(matches!(
        t.route(peer(), &hello(2, &cookie), now, &jar),
        Route::Forward(_)
    ));
    let other = SocketAddr::from(([127, 0, 0, 2], 1));
    let other_cookie = {
        let h = hello(0, b"");
        jar.make(
            other,
            record::client_hello(&h)
                .expect("hello")
                .params_before_cookie,
        )
        .to_vec()
    };
    assert!(
        matches!(
            t.route(other, &hello(1, &other_cookie), now, &jar),
            Route::Drop(_)
        ),
        "cap of 1"
    );
}

#[test]
fn a_fresh_hello_replaces_an_established_association() {
    let now = Instant::now();
    let jar = CookieJar::new(now, Duration::from_secs(60));
    let mut t = table(10);
    let _rx = establish(&mut t, "old-conn", now);
    // Application data keeps flowing to it.
    assert!(matches!(
        t.route(peer(), b"\x17\xfe\xfd\x00\x01", now, &jar),
        Route::Forward(_)
    ));
    // A new ClientHello without cookie does not disturb it.
    assert!(matches!(
        t.route(peer(), &hello(0, b""), now, &jar),
        Route::Reply(_)
    ));
    assert_eq!(t.identity(peer()).as_deref(), Some("id"));
    // With a valid cookie it replaces it.
    match t.route(peer(), &hello(1, &valid_cookie(&jar)), now, &jar) {
        Route::Accept { replaced, .. } => assert_eq!(replaced, Some("old-conn")),
        _ => panic!("expected Accept"),
    }
    assert!(t.is_empty());
}

#[test]
fn idle_associations_are_evicted_after_their_limit() {
    let t0 = Instant::now();
    let mut t = table(10);
    let _rx = establish(&mut t, "conn", t0);
    t.set_idle_limit(peer(), Duration::from_secs(300));
    assert!(t.evict(t0 + Duration::from_secs(200)).is_empty());
    let jar = CookieJar::new(t0, Duration::from_secs(60));
    // Traffic at 250 s moves the idle clock.
    let _ = t.route(peer(), b"\x17\xfe\xfd", t0 + Duration::from_secs(250), &jar);
    assert!(t.evict(t0 + Duration::from_secs(500)).is_empty());
    let gone = t.evict(t0 + Duration::from_secs(551));
    assert_eq!(gone, vec![(peer(), Some("conn"))]);
    assert!(t.is_empty());
}

#[test]
fn stuck_handshakes_are_evicted_and_free_their_slot() {
    let t0 = Instant::now();
    let mut t = table(1);
    let (tx, _rx) = mpsc::channel(4);
    let g = t.start_handshake(peer(), tx, t0, vec![]);
    assert!(!t.may_start_handshake());
    assert_eq!(t.evict(t0 + Duration::from_secs(11)), vec![(peer(), None)]);
    assert!(t.may_start_handshake());
    assert!(
        t.establish(peer(), g, "late", "id".into(), t0).is_none(),
        "an evicted handshake cannot come back"
    );
}

#[test]
fn datagrams_sent_during_a_handshake_are_held_then_flushed() {
    let t0 = Instant::now();
    let mut t = table(4);
    let (tx, _rx) = mpsc::channel(4);
    let g = t.start_handshake(peer(), tx, t0, vec![Bytes::from_static(b"first")]);
    assert!(matches!(
        t.outbound(peer(), &Bytes::from_static(b"second")),
        Outbound::Held
    ));
    let flushed = t
        .establish(peer(), g, "conn", "id".into(), t0)
        .expect("established");
    assert_eq!(
        flushed,
        vec![Bytes::from_static(b"first"), Bytes::from_static(b"second")]
    );
    assert!(matches!(
        t.outbound(peer(), &Bytes::from_static(b"x")),
        Outbound::Conn("conn")
    ));
    assert_eq!(t.handshaking(), 0);
}
