//! DTLS in the cluster: 1,000 devices handshaking at once, the node handshaking as client after
//! a restart, and credential changes reaching every node within a second (gRPC and CLI).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use lwm2m_integration::sim::SimError;
use lwm2m_proto::v1::{GetCredentialRequest, PutCredentialRequest, ReadRequest};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_dtls_devices_register_concurrently() {
    let _ = rlimit::increase_nofile_limit(8192);
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let db = pool(&svc).await;
    let prefix = unique("psk-fleet");
    let mut rows: (Vec<String>, Vec<String>, Vec<Vec<u8>>) = Default::default();
    for i in 0..1000 {
        rows.0.push(format!("{prefix}-{i:04}"));
        rows.1.push(format!("{prefix}-{i:04}-id"));
        rows.2.push(format!("key-{i}").into_bytes());
    }
    // Bulk insert straight into Postgres; the node picks them up at start.
    sqlx::query(
        "INSERT INTO security_credentials (endpoint, psk_identity, psk_key) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[])",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .execute(&db)
    .await
    .unwrap();
    drop(node);
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let config = sim_dtls(&rows.0[i], &node, &rows.1[i], &rows.2[i]);
        tasks.push(tokio::spawn(async move {
            let dev = SimDevice::start(config).await?;
            dev.register().await?;
            Ok::<_, SimError>(dev)
        }));
    }
    let mut devices = Vec::new();
    for t in tasks {
        devices.push(
            tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .expect("bounded time")
                .unwrap()
                .unwrap(),
        );
    }
    let took = started.elapsed();
    eprintln!("1000 DTLS handshakes + registrations in {took:?}");
    assert_eq!(registration_count(&db, &prefix).await, 1000);
    let secured: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM registrations WHERE endpoint LIKE $1 || '%' AND psk_identity = endpoint || '-id'",
    )
    .bind(&prefix)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(secured, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_node_handshakes_as_client_to_reach_a_device() {
    let svc = Services::get();
    let id = unique("node");
    // Ports a restart gets back for sure (ephemeral ones could be taken meanwhile).
    let (coap, coaps) = (stable_udp_port(), stable_udp_port());
    let coaps_arg = format!("127.0.0.1:{coaps}");
    let mut node = start_node(&svc, &id, coap, &["--coaps-listen", &coaps_arg]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let mut api = grpc(&gw.url).await;
    let ep = unique("psk-restart");
    let identity = format!("{ep}-id");
    put_psk(&gw.url, &ep, &identity, b"restart-key").await;
    let dev = SimDevice::start(sim_dtls(&ep, &node, &identity, b"restart-key"))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        dev.register().await.ok()
    })
    .await
    .expect("registered");

    // The node dies with its DTLS state; a new one takes its place (same id and addresses).
    node.proc.kill9();
    let node = start_node(&svc, &id, coap, &["--coaps-listen", &coaps_arg]);
    let read = ReadRequest {
        endpoint: ep.clone(),
        path: "/3/0".into(),
        content_format: 0,
        text_plain: false,
    };
    let answered = eventually(Duration::from_secs(20), || {
        let mut api = api.clone();
        let read = read.clone();
        async move { api.read(read).await.ok() }
    })
    .await;
    assert!(answered.is_some(), "the read after the restart failed");
    assert!(dev.reads_answered() >= 1);
    drop(node);
    api.get_registration(lwm2m_proto::v1::GetRegistrationRequest { endpoint: ep })
        .await
        .expect("still registered");
}

fn cli(gateway: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(binary("lwm2m"))
        .env("LWM2M_GATEWAY", gateway)
        .args(args)
        .output()
        .expect("run lwm2m");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_changes_reach_another_node_within_a_second() {
    let svc = Services::get();
    let _a = start_node(&svc, &unique("node-a"), free_udp_port(), &[]);
    let b = start_node(&svc, &unique("node-b"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("psk-prop");
    let plain = SimDevice::start(sim(&ep, &b)).await.unwrap();
    plain
        .register()
        .await
        .expect("no credentials yet: plain CoAP is fine");

    // Put through the CLI (the gateway writes Postgres and announces it); node B must refuse
    // plain CoAP for the endpoint within a second.
    let (ok, out) = cli(
        &gw.url,
        &[
            "security",
            "put",
            &ep,
            "--psk-identity",
            &format!("{ep}-id"),
            "--psk-key",
            "00112233445566778899aabbccddeeff",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{ep}-id")) && out.contains("16 bytes"),
        "{out}"
    );
    assert!(
        !out.to_lowercase()
            .contains("00112233445566778899aabbccddeeff"),
        "key shown: {out}"
    );
    let put_at = Instant::now();
    let refused = eventually(Duration::from_secs(3), || async {
        matches!(plain.register().await, Err(SimError::Refused(c)) if c == "4.03").then_some(())
    })
    .await;
    let took = put_at.elapsed();
    assert!(
        refused.is_some() && took < Duration::from_secs(1),
        "node B took {took:?}"
    );

    let (ok, out) = cli(&gw.url, &["security", "get", &ep]);
    assert!(ok && out.contains(&format!("{ep}-id")), "{out}");
    let (ok, out) = cli(&gw.url, &["--json", "security", "list"]);
    assert!(ok && out.contains(&ep), "{out}");
    // Bad arguments are INVALID_ARGUMENT with a clear message.
    for (args, expect) in [
        (vec!["--psk-identity", "x", "--psk-key", "zz"], "not hex"),
        (
            vec!["--psk-identity", "", "--psk-key", "00"],
            "must not be empty",
        ),
        (
            vec!["--psk-identity", "x", "--psk-key", &"00".repeat(65)],
            "1..=64",
        ),
    ] {
        let mut full = vec!["security", "put", ep.as_str()];
        full.extend(args);
        let (ok, out) = cli(&gw.url, &full);
        assert!(
            !ok && out.contains("INVALID_ARGUMENT") && out.contains(expect),
            "{out}"
        );
    }
    // An identity belongs to one endpoint.
    let mut api = security_api(&gw.url).await;
    let taken = api
        .put_credential(PutCredentialRequest {
            endpoint: format!("{ep}-other"),
            psk_identity: format!("{ep}-id"),
            psk_key_hex: "00".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);

    // Delete: node B accepts plain CoAP again within a second.
    let (ok, out) = cli(&gw.url, &["security", "delete", &ep]);
    assert!(ok, "{out}");
    let deleted_at = Instant::now();
    let accepted = eventually(Duration::from_secs(3), || async {
        plain.register().await.ok()
    })
    .await;
    let took = deleted_at.elapsed();
    assert!(
        accepted.is_some() && took < Duration::from_secs(1),
        "node B took {took:?}"
    );
    let gone = api
        .get_credential(GetCredentialRequest {
            endpoint: ep.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}
