//! Probe behind BENCHMARKS.md's memory analysis: the resident memory one core-NATS subscription
//! costs an async-nats client, bare and with a forwarding task (what the node keeps per owned
//! endpoint for `lwm2m.v1.dev.<ep>.req`).
//!
//! `NATS_URL=... cargo run --release -p lwm2m-integration --example subscription_cost -- 50000 [task]`

use futures::StreamExt;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("NATS_URL")?;
    let n: usize = std::env::args().nth(1).unwrap_or("50000".into()).parse()?;
    let with_task = std::env::args().nth(2).is_some();
    let client = async_nats::connect(url).await?;
    println!(
        "size_of::<async_nats::Message>() = {} bytes",
        std::mem::size_of::<async_nats::Message>()
    );
    let before = rss_kib();
    let mut held = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let sub = client.subscribe(format!("probe.{i}.req")).await?;
        if with_task {
            tasks.push(tokio::spawn(async move {
                let mut sub = sub;
                while sub.next().await.is_some() {}
            }));
        } else {
            held.push(sub);
        }
    }
    client.flush().await?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let each = rss_kib().saturating_sub(before) as f64 / n as f64;
    println!("{n} subscriptions (forwarding task: {with_task}): {each:.2} KiB each");
    Ok(())
}
