//! CoAP over DTLS with PSK end to end: libcoap's OpenSSL and GnuTLS clients and the simulated
//! device as independent peers, the security rules (refusals change nothing in Postgres), and a
//! flood of bogus ClientHellos that must not keep a real client out.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use lwm2m_proto::v1::ReadRequest;

/// Runs a libcoap client binary; returns (exit success, stdout+stderr).
fn libcoap(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin).args(args).output().unwrap_or_else(|e| {
        panic!("{bin} is missing ({e}): scripts/test.sh installs libcoap3-bin")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A Register over DTLS-PSK with libcoap (`-k` takes the key as ASCII text). `-v 6` prints the
/// response header, so the output shows the code (`c:2.01`, `c:4.03`).
fn libcoap_register(bin: &str, node: &Node, ep: &str, identity: &str, key: &str) -> (bool, String) {
    let uri = format!(
        "coaps://{}/rd?ep={ep}&lt=120&lwm2m=1.1",
        node.coaps.expect("coaps")
    );
    libcoap(
        bin,
        &[
            "-v",
            "6",
            "-B",
            "5",
            "-m",
            "post",
            "-t",
            "40",
            "-e",
            "</1/0>,</3/0>",
            "-u",
            identity,
            "-k",
            key,
            &uri,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_openssl_and_gnutls_register_over_psk() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let db = pool(&svc).await;
    for bin in ["coap-client-openssl", "coap-client-gnutls"] {
        let ep = unique(&format!("psk-{bin}"));
        let identity = format!("{ep}-id");
        put_psk(&gw.url, &ep, &identity, b"libcoap-secret").await;
        // The node learns the credential over NATS; give it the second the contract allows.
        let (ok, out) = eventually(Duration::from_secs(5), || async {
            let r = libcoap_register(bin, &node, &ep, &identity, "libcoap-secret");
            r.1.contains("c:2.01").then_some(r)
        })
        .await
        .unwrap_or_else(|| panic!("{bin} did not register"));
        assert!(ok, "{bin}: {out}");
        assert_eq!(
            stored_identity(&db, &ep).await,
            Some(Some(identity.clone()))
        );
        let reg = registration(&mut api, &ep).await;
        assert_eq!(reg.psk_identity, identity, "Get shows the security context");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_change_nothing_in_postgres() {
    let svc = Services::get();
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let db = pool(&svc).await;
    let prefix = unique("psk-refuse");
    let (ep, other) = (format!("{prefix}-a"), format!("{prefix}-b"));
    put_psk(&gw.url, &ep, &format!("{ep}-id"), b"right-key").await;
    put_psk(&gw.url, &other, &format!("{other}-id"), b"other-key").await;
    // Started after the credentials exist: it loads them before it reads a datagram, so not even
    // the first plain Register below can race the change notification and be accepted.
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    // A plain Register of `ep` is refused.
    let plain = SimDevice::start(sim(&ep, &node)).await.unwrap();
    let refused = eventually(Duration::from_secs(5), || async {
        match plain.register().await {
            Err(lwm2m_integration::sim::SimError::Refused(code)) => Some(code),
            _ => None,
        }
    })
    .await;
    assert_eq!(
        refused.as_deref(),
        Some("4.03"),
        "plain CoAP for a secured endpoint"
    );
    let bin = "coap-client-openssl";
    // Wrong key: the handshake fails.
    let (_, out) = libcoap_register(bin, &node, &ep, &format!("{ep}-id"), "wrong-key");
    assert!(
        !out.contains("c:2.01") && !out.contains("c:4.03"),
        "the handshake must fail: {out}"
    );
    // Unknown identity: the handshake fails.
    let (_, out) = libcoap_register(bin, &node, &ep, "nobody-has-this-identity", "right-key");
    assert!(
        !out.contains("c:2.01") && !out.contains("c:4.03"),
        "the handshake must fail: {out}"
    );
    // Another endpoint's identity (and key): the handshake succeeds, the Register is refused.
    let (_, out) = libcoap_register(bin, &node, &ep, &format!("{other}-id"), "other-key");
    assert!(out.contains("c:4.03"), "{out}");
    // A secured client for an endpoint without credentials.
    let (_, out) = libcoap_register(
        bin,
        &node,
        &format!("{prefix}-c"),
        &format!("{other}-id"),
        "other-key",
    );
    assert!(out.contains("c:4.03"), "{out}");
    assert_eq!(registration_count(&db, &prefix).await, 0);
    assert_eq!(outbox_count(&db, &prefix).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_dtls_device_is_read_and_keeps_its_security_context() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let db = pool(&svc).await;
    let ep = unique("psk-sim");
    put_psk(&gw.url, &ep, &format!("{ep}-id"), b"sim-key-0123").await;
    let dev = SimDevice::start(sim_dtls(&ep, &node, &format!("{ep}-id"), b"sim-key-0123"))
        .await
        .unwrap();
    let reg_id = eventually(Duration::from_secs(5), || async {
        dev.register().await.ok()
    })
    .await
    .expect("registered over DTLS");
    let read = api
        .read(ReadRequest {
            endpoint: ep.clone(),
            path: "/3/0".into(),
            content_format: 0,
            text_plain: false,
        })
        .await
        .expect("read over DTLS");
    assert!(read.into_inner().content.is_some());
    assert_eq!(dev.reads_answered(), 1);
    assert_eq!(dev.update(Some(200), None).await.unwrap(), "2.04");

    // The same registration over plain CoAP: Update and De-register are refused.
    let before: (i64, String) =
        sqlx::query_as("SELECT lifetime_s, peer_addr FROM registrations WHERE endpoint = $1")
            .bind(&ep)
            .fetch_one(&db)
            .await
            .unwrap();
    for method in ["post", "delete"] {
        let uri = format!("coap://{}/rd/{reg_id}?lt=999", node.coap);
        let (_, out) = libcoap("coap-client-notls", &["-B", "5", "-m", method, &uri]);
        assert!(out.contains("4.03"), "{method}: {out}");
    }
    let after: (i64, String) =
        sqlx::query_as("SELECT lifetime_s, peer_addr FROM registrations WHERE endpoint = $1")
            .bind(&ep)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(before, after);
    assert_eq!(before.0, 200);
    assert_eq!(dev.deregister().await.unwrap(), "2.02");
    assert_eq!(stored_identity(&db, &ep).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bogus_client_hellos_does_not_keep_a_client_out() {
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("psk-flood");
    put_psk(&gw.url, &ep, &format!("{ep}-id"), b"flood-key").await;
    let target = node.coaps.expect("coaps");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut flooders = Vec::new();
    // 20,000 hellos per second from two sources, paced: a flood far above any real handshake
    // rate that still leaves this two-core machine CPU for the node (an unpaced busy loop would
    // measure CPU starvation of the whole host, not the node's handling of bogus hellos).
    const PER_SOURCE_PER_MS: u64 = 10;
    for f in 0..2u8 {
        let (stop, sent) = (stop.clone(), sent.clone());
        flooders.push(std::thread::spawn(move || {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut seq = 0u64;
            let start = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if seq >= start.elapsed().as_millis() as u64 * PER_SOURCE_PER_MS {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                // ClientHellos with made-up cookies, and without: each costs the node one HMAC.
                let cookie: Vec<u8> = (0..20).map(|i| (seq as u8).wrapping_mul(i + f)).collect();
                let hello = bogus_client_hello(seq, if seq % 2 == 0 { &cookie } else { &[] });
                let _ = sock.send_to(&hello, target);
                seq += 1;
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    // The flood runs a second before the client starts, and goes on while it connects.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let dev = SimDevice::start(sim_dtls(&ep, &node, &format!("{ep}-id"), b"flood-key"))
        .await
        .unwrap();
    // Each attempt is bounded, so the whole wait is too.
    let registered = eventually(Duration::from_secs(20), || async {
        tokio::time::timeout(Duration::from_secs(5), dev.register())
            .await
            .ok()
            .and_then(Result::ok)
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flooders {
        let _ = f.join();
    }
    let n = sent.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{n} bogus ClientHellos sent; the real client registered after {:?}",
        started.elapsed()
    );
    assert!(
        registered.is_some(),
        "the real client could not register during the flood"
    );
    assert!(n > 10_000, "the flood was too weak to mean anything ({n})");
}

/// A syntactically valid DTLS 1.2 ClientHello offering TLS_PSK_WITH_AES_128_CCM_8.
fn bogus_client_hello(seq: u64, cookie: &[u8]) -> Vec<u8> {
    let mut body = vec![254, 253];
    body.extend_from_slice(&seq.to_be_bytes().repeat(4));
    body.push(0);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 2, 0xc0, 0xa8, 1, 0]);
    let mut out = vec![22, 254, 253, 0, 0];
    out.extend_from_slice(&seq.to_be_bytes()[2..]);
    out.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
    out.push(1);
    let len = (body.len() as u32).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&[0, 1, 0, 0, 0]);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_works_over_dtls() {
    use lwm2m_core::content::Value;
    use lwm2m_proto::v1::ObserveRequest;
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("psk-observe");
    put_psk(&gw.url, &ep, &format!("{ep}-id"), b"observe-key").await;
    let dev = SimDevice::start(sim_dtls(&ep, &node, &format!("{ep}-id"), b"observe-key"))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        dev.register().await.ok()
    })
    .await
    .expect("registered over DTLS");
    let mut stream = api
        .observe(ObserveRequest {
            endpoint: ep.clone(),
            paths: vec!["/3/0/9".into()],
            content_format: 0,
        })
        .await
        .expect("Observe over DTLS")
        .into_inner();
    let step = Duration::from_secs(10);
    let first = tokio::time::timeout(step, stream.message())
        .await
        .expect("initial notification in time")
        .expect("stream ok")
        .expect("stream open");
    assert_eq!(first.coap_code, "2.05");
    assert_eq!(dev.observers(), 1);
    dev.objects().insert("/3/0/9", Value::Integer(42)).unwrap();
    assert_eq!(dev.notify(true).await, 1);
    let n = tokio::time::timeout(step, stream.message())
        .await
        .expect("notification in time")
        .expect("stream ok")
        .expect("stream open");
    assert_eq!(n.sequence, 2);
}
