//! Starts real node and gateway processes against the real Postgres and nats-server that
//! `scripts/services.sh` runs, and stops them by PID.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the services are: from DATABASE_URL / NATS_URL (set by scripts/test.sh), or by running
/// scripts/services.sh, which starts them if needed.
#[derive(Debug, Clone)]
pub struct Services {
    pub database_url: String,
    pub nats_url: String,
}

impl Services {
    pub fn get() -> Services {
        if let (Ok(database_url), Ok(nats_url)) =
            (std::env::var("DATABASE_URL"), std::env::var("NATS_URL"))
        {
            return Services {
                database_url,
                nats_url,
            };
        }
        let script = workspace_root().join("scripts/services.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/services.sh");
        assert!(out.status.success(), "scripts/services.sh failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let find = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("services.sh printed no {k}"))
                .to_string()
        };
        Services {
            database_url: find("DATABASE_URL"),
            nats_url: find("NATS_URL"),
        }
    }
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration/ has a parent")
        .to_path_buf()
}

/// A binary of the workspace, built next to the test executable (scripts/test.sh builds them)
/// or, for a binary of this crate such as `lwm2m-bench`, next to the running executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>; target/<profile>/<bin> → the same.
    let mut dir = exe.parent().expect("target dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target dir");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind udp")
        .port()
}

/// A free loopback UDP port below Linux's ephemeral range (32768–60999): no socket bound to port
/// 0 can take it, so a test that restarts a process on the same port does not race other tests.
pub fn stable_udp_port() -> u16 {
    loop {
        let port = 20_000 + (rand::random::<u16>() % 12_000);
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind tcp")
        .port()
}

/// The `RUST_LOG` of the processes the tests start.
pub const DEFAULT_LOG: &str = "info,sqlx=warn,async_nats=warn,webrtc_dtls=error";

/// A child process that is killed (by PID) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: Command) -> Proc {
        Proc::spawn_logged(name, cmd, DEFAULT_LOG)
    }

    /// Like [`Proc::spawn`] with the child's `RUST_LOG` filter; the benchmarks run the servers
    /// at `warn` so that a log line per registration does not become the figure measured.
    pub fn spawn_logged(name: &str, mut cmd: Command, log_filter: &str) -> Proc {
        let log =
            std::env::temp_dir().join(format!("lwm2m-test-{name}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file");
        cmd.stdout(file).stderr(err).env("RUST_LOG", log_filter);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        eprintln!("started {name} pid {} (log {})", child.id(), log.display());
        Proc {
            name: name.to_string(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up (the crash case).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait up to `timeout` for a clean exit; returns whether it exited cleanly.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A node process listening on its own loopback port.
pub struct Node {
    pub id: String,
    pub coap: SocketAddr,
    /// The CoAP-over-DTLS listener (a free loopback port unless `extra` sets `--coaps-listen`).
    pub coaps: Option<SocketAddr>,
    pub proc: Proc,
}

pub fn start_node(svc: &Services, id: &str, coap_port: u16, extra: &[&str]) -> Node {
    start_node_logged(svc, id, coap_port, extra, DEFAULT_LOG)
}

/// [`start_node`] with the node's `RUST_LOG` filter.
pub fn start_node_logged(
    svc: &Services,
    id: &str,
    coap_port: u16,
    extra: &[&str],
    log_filter: &str,
) -> Node {
    let coap: SocketAddr = format!("127.0.0.1:{coap_port}").parse().expect("addr");
    let mut cmd = Command::new(binary("lwm2m-node"));
    cmd.arg("--database-url")
        .arg(&svc.database_url)
        .arg("--nats-url")
        .arg(&svc.nats_url);
    cmd.arg("--coap-listen")
        .arg(coap.to_string())
        .arg("--node-id")
        .arg(id);
    let coaps = match extra.iter().position(|a| *a == "--coaps-listen") {
        Some(i) => extra.get(i + 1).and_then(|a| a.parse().ok()),
        None => {
            let a: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
                .parse()
                .expect("addr");
            cmd.arg("--coaps-listen").arg(a.to_string());
            Some(a)
        }
    };
    cmd.args(extra);
    let proc = Proc::spawn_logged(id, cmd, log_filter);
    wait_coap_ready(coap);
    Node {
        id: id.to_string(),
        coap,
        coaps,
        proc,
    }
}

/// A gateway process.
pub struct Gateway {
    pub url: String,
    pub proc: Proc,
}

pub fn start_gateway(svc: &Services, name: &str, extra: &[&str]) -> Gateway {
    start_gateway_logged(svc, name, extra, DEFAULT_LOG)
}

/// [`start_gateway`] with the gateway's `RUST_LOG` filter.
pub fn start_gateway_logged(
    svc: &Services,
    name: &str,
    extra: &[&str],
    log_filter: &str,
) -> Gateway {
    let port = free_tcp_port();
    let mut cmd = Command::new(binary("lwm2m-gateway"));
    cmd.arg("--database-url")
        .arg(&svc.database_url)
        .arg("--nats-url")
        .arg(&svc.nats_url);
    cmd.arg("--grpc-listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra);
    let proc = Proc::spawn_logged(name, cmd, log_filter);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "gateway {name} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Gateway {
        url: format!("http://127.0.0.1:{port}"),
        proc,
    }
}

/// Waits until a CoAP ping (empty CON) to `addr` is answered with RST (RFC 7252 §4.3).
pub fn wait_coap_ready(addr: SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node at {addr} did not start"
        );
        let _ = sock.send_to(&[0x40, 0x00, 0x12, 0x34], addr);
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if n >= 4 && buf[0] & 0x30 == 0x30 {
                return;
            }
        }
    }
}

/// A random prefix so that tests sharing one database never see each other's endpoints.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}
