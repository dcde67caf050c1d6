//! Interoperability with a third DTLS stack: aiocoap on tinydtls (PyPI `aiocoap` + `DTLSSocket`,
//! installed by scripts/aiocoap.sh) registers over PSK and is read through the gateway over the
//! DTLS session it opened.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use lwm2m_proto::v1::{content, value, ReadRequest};

fn aiocoap_python() -> String {
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts/aiocoap.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/aiocoap.sh");
    assert!(out.status.success(), "scripts/aiocoap.sh failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiocoap_tinydtls_registers_over_psk_and_is_read_through_the_gateway() {
    let python = tokio::task::spawn_blocking(aiocoap_python).await.unwrap();
    let svc = Services::get();
    let node = start_node(&svc, &unique("node"), free_udp_port(), &[]);
    let gw = start_gateway(&svc, &unique("gw"), &[]);
    let ep = unique("aiocoap");
    let identity = format!("{ep}-id");
    put_psk(&gw.url, &ep, &identity, b"aiocoap-secret").await;
    // The node learns the credential over NATS within a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let mut cmd = Command::new(&python);
    cmd.arg(workspace_root().join("integration/interop/aiocoap_device.py"))
        .arg(node.coaps.expect("coaps").to_string())
        .arg(&ep)
        .arg(&identity)
        .arg(hex(b"aiocoap-secret"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut device = Device(cmd.spawn().expect("start the aiocoap device"));
    let stdout = device.0.stdout.take().expect("device stdout");
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().and_then(Result::ok)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("aiocoap registers within 30 s")
        .unwrap()
        .unwrap_or_default();
    assert!(line.starts_with("registered /rd/"), "aiocoap: {line}");

    let mut api = grpc(&gw.url).await;
    let reg = registration(&mut api, &ep).await;
    assert_eq!(reg.psk_identity, identity);
    let mut read = tonic::Request::new(ReadRequest {
        endpoint: ep.clone(),
        path: "/3/0/0".into(),
        content_format: 0,
        text_plain: true,
    });
    read.set_timeout(Duration::from_secs(10));
    let r = api.read(read).await.expect("read over DTLS").into_inner();
    let Some(content::Node::Resource(res)) = r.content.and_then(|c| c.node) else {
        panic!("not a resource")
    };
    assert_eq!(
        res.value.and_then(|v| v.kind),
        Some(value::Kind::StringValue("aiocoap-tinydtls".into()))
    );
    drop(device);
}

/// The Python device, killed by its PID whatever way the test ends.
struct Device(std::process::Child);

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
