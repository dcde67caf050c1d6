//! `lwm2m-sim`: a small fleet of simulated LwM2M devices for demos and manual testing.
//! Each device registers, sends Updates at half its lifetime and answers Reads of /1 and /3.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use lwm2m_integration::sim::{SimConfig, SimDevice};

#[derive(Parser)]
#[command(about = "Simulated LwM2M devices over CoAP/UDP or CoAP/DTLS (PSK)")]
struct Args {
    /// The node's CoAP address.
    #[arg(long, default_value = "127.0.0.1:5683")]
    server: SocketAddr,
    /// Number of devices.
    #[arg(long, default_value_t = 20)]
    count: usize,
    /// Endpoint name prefix; devices are <prefix>0001, <prefix>0002, ...
    #[arg(long, default_value = "sim-")]
    prefix: String,
    /// Registration lifetime in seconds.
    #[arg(long, default_value_t = 60)]
    lifetime: u32,
    /// DTLS with PSK: each device uses identity `<endpoint>-id` and this key (hex) against
    /// `--server`, which is then the node's CoAPs address (store the credentials first with
    /// `lwm2m security put`).
    #[arg(long, value_name = "HEX")]
    psk_key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let args = Args::parse();
    let mut devices = Vec::with_capacity(args.count);
    for i in 1..=args.count {
        let mut config = SimConfig::new(format!("{}{i:04}", args.prefix), args.server);
        config.lifetime = args.lifetime;
        if let Some(key) = &args.psk_key {
            let key = (0..key.len())
                .step_by(2)
                .map(|i| {
                    key.get(i..i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| anyhow::anyhow!("--psk-key is not hex"))?;
            config.psk = Some((format!("{}-id", config.endpoint), key));
        }
        // Distinct loopback source addresses, as real devices have distinct addresses.
        config.bind = SocketAddr::from(([127, 0, 1, (i % 250) as u8 + 1], 0));
        let device = SimDevice::start(config).await?;
        let id = device.register().await?;
        println!(
            "registered {} as rd/{id} from {}",
            device.config.endpoint,
            device.local_addr()
        );
        devices.push(device);
    }
    println!(
        "{} devices registered; updating every {} s (Ctrl-C to de-register and stop)",
        devices.len(),
        args.lifetime / 2
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(args.lifetime / 2).max(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick() => {
                for d in &devices {
                    match d.update(None, None).await {
                        Ok(code) if code == "4.04" => { let _ = d.register().await; }
                        Ok(_) => {}
                        Err(e) => eprintln!("{}: update failed: {e}", d.config.endpoint),
                    }
                }
            }
        }
    }
    // De-register together, and not for longer than a few seconds if the node is gone.
    let all = futures::future::join_all(devices.iter().map(|d| d.deregister()));
    let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
    Ok(())
}
