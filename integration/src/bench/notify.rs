//! Notifications (issue scenario 4): M simulated devices, each with a durable observation of
//! /3/0/9, notify at a total rate R; a NATS subscriber on `lwm2m.v1.notify.>` counts what
//! reaches it and the end-to-end latency (device send → NATS delivery). Each notified value is
//! the send instant in microseconds since the run started, so the subscriber needs no lookup.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lwm2m_core::content::Value;
use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::v1::{value, CreateObservationRequest, Notification};
use prost::Message;

use super::cluster::Cluster;
use super::reads::Fleet;
use super::report::Scenario;
use super::stats::Latency;
use super::BenchError;

/// Devices of this scenario live on 127.96.x.y.
const NOTIFY_NET: u8 = 96;
/// Time after the last send for the last notifications to arrive.
const GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub devices: usize,
    /// Notifications per second, all devices together.
    pub rate: f64,
    pub duration: Duration,
    /// CON notifications (acknowledged, retransmitted) instead of NON.
    pub confirmable: bool,
}

#[derive(Debug, Clone)]
pub struct NotifyOutcome {
    pub prefix: String,
    pub sent: u64,
    pub received: u64,
}

pub async fn run(
    cluster: &Cluster,
    cfg: &NotifyConfig,
) -> Result<(Scenario, NotifyOutcome), BenchError> {
    if !(cfg.rate > 0.0 && cfg.rate <= 1_000_000.0) || cfg.devices == 0 {
        return Err(BenchError::Sanity(
            "notify: --rate and --devices must be positive".into(),
        ));
    }
    let url = cluster
        .gateway_url()
        .ok_or_else(|| BenchError::Sanity("notify needs a gateway".into()))?;
    let fleet = Fleet::register_on(cluster, cfg.devices, "notify", NOTIFY_NET).await?;
    let prefix = fleet.prefix.clone();
    let result = observe_and_notify(cluster, url, &fleet, cfg).await;
    result.map(|(s, sent, received)| {
        (
            s,
            NotifyOutcome {
                prefix,
                sent,
                received,
            },
        )
    })
}

async fn observe_and_notify(
    cluster: &Cluster,
    url: &str,
    fleet: &Fleet,
    cfg: &NotifyConfig,
) -> Result<(Scenario, u64, u64), BenchError> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .connect()
        .await?;
    for chunk in fleet.devices.chunks(64) {
        let calls = chunk.iter().map(|d| {
            let mut api = DeviceServiceClient::new(channel.clone());
            let endpoint = d.config.endpoint.clone();
            async move {
                api.create_observation(CreateObservationRequest {
                    endpoint,
                    paths: vec!["/3/0/9".into()],
                    content_format: 0,
                })
                .await
            }
        });
        for r in futures::future::join_all(calls).await {
            r.map_err(|s| BenchError::Sanity(format!("CreateObservation: {s}")))?;
        }
    }

    let nats = |e: &dyn std::fmt::Display| BenchError::Nats(e.to_string());
    let client = async_nats::connect(&cluster.services.nats_url)
        .await
        .map_err(|e| nats(&e))?;
    let mut sub = client
        .subscribe(lwm2m_proto::subjects::NOTIFY_ALL)
        .await
        .map_err(|e| nats(&e))?;
    client.flush().await.map_err(|e| nats(&e))?;
    let t0 = Instant::now();
    let endpoints: HashSet<String> = fleet.endpoints().into_iter().collect();
    let seen = Arc::new(Mutex::new((0u64, Latency::new())));
    let counter = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let Ok(n) = Notification::decode(m.payload.as_ref()) else {
                    continue;
                };
                if !endpoints.contains(&n.endpoint) {
                    continue;
                }
                let Some(sent_us) = sent_at(&n) else { continue };
                let now_us = t0.elapsed().as_micros() as i64;
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                s.0 += 1;
                s.1.record(Duration::from_micros(
                    now_us.saturating_sub(sent_us).max(0) as u64
                ));
            }
        })
    };

    // Paced in 1 ms slots: slot k sends every notification scheduled before its end.
    let total = (cfg.rate * cfg.duration.as_secs_f64()).ceil() as u64;
    let mut sent = 0u64;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * cfg.rate) as u64 + 1).min(total);
        while sent < due {
            let d = &fleet.devices[sent as usize % fleet.devices.len()];
            let stamp = t0.elapsed().as_micros() as i64;
            if d.objects().insert("/3/0/9", Value::Integer(stamp)).is_ok() {
                d.notify(cfg.confirmable).await;
            }
            sent += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if seen.lock().unwrap_or_else(|p| p.into_inner()).0 >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    counter.abort();
    let (received, latency) = {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.0, s.1.clone())
    };
    let mut s = Scenario::new(
        "notify",
        format!(
            "notify --devices {} --rate {} --duration {}{}",
            cfg.devices,
            cfg.rate,
            cfg.duration.as_secs_f64(),
            if cfg.confirmable {
                " --confirmable"
            } else {
                ""
            }
        ),
    );
    s.add("offered_per_s", cfg.rate)
        .add("sent_per_s", sent as f64 / elapsed)
        .add("notifications_per_s", received as f64 / elapsed)
        .latency("", &latency)
        .add("sent", sent as f64)
        .add("received", received as f64)
        .add("lost", sent.saturating_sub(received) as f64);
    Ok((s, sent, received))
}

/// The send instant the bench wrote into /3/0/9.
fn sent_at(n: &Notification) -> Option<i64> {
    let v = n.values.iter().find(|v| v.path == "/3/0/9")?;
    match v.value.as_ref()?.kind.as_ref()? {
        value::Kind::IntegerValue(i) => Some(*i),
        value::Kind::UnsignedValue(u) => Some(*u as i64),
        _ => None,
    }
}
