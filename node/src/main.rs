//! The `lwm2m-node` binary: configuration, wiring and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lwm2m_node::config::{Args, Command};
use lwm2m_node::observe::{Observations, Publisher};
use lwm2m_node::registration::RegistrationHandler;
use lwm2m_node::registry::Registry;
use lwm2m_node::routing::{Router, SecureCoap};
use lwm2m_node::store::{self, RegistrationStore, StoreConfig};
use lwm2m_node::{bus, dtls, expiry, ownership, relay, security, udp};
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// mimalloc instead of glibc's malloc: in a registration storm the node spent about 31 % of its
/// CPU in glibc's allocator (BENCHMARKS.md, profile of the storm).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lwm2m_node::process::init_tracing();
    let args = Args::parse();
    let command = args.command.clone();
    let config = args.into_config().map_err(anyhow::Error::msg)?;
    // Object definitions first: a bad DDF file stops the node before it connects anywhere.
    let model = Arc::new(lwm2m_node::objects::load(config.object_dir.as_deref())?);

    let pool = PgPoolOptions::new()
        .max_connections(config.db_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&config.database_url)
        .await
        .context("connect to PostgreSQL")?;
    store::migrate(&pool).await.context("apply migrations")?;
    if let Some(Command::Migrate) = command {
        tracing::info!("migrations applied");
        return Ok(());
    }

    let client = bus::connect(&config.nats_url, &config.node_id).await?;
    let js = async_nats::jetstream::new(client.clone());
    bus::ensure_reg_stream(&js).await?;
    bus::ensure_notify_stream(&js).await?;

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    // The store outlives the CoAP side: in-flight commits finish after the socket stops.
    let store_tracker = TaskTracker::new();
    let store = RegistrationStore::start(
        pool.clone(),
        StoreConfig {
            max_batch: config.max_commit_batch,
            concurrent_batches: config.commit_concurrency,
            queue: 50_000,
        },
        &store_tracker,
    );

    let socket = udp::bind(config.coap_listen, udp::RECV_BUFFER)
        .with_context(|| format!("bind {}", config.coap_listen))?;
    let coap_shutdown = CancellationToken::new();
    let udp::Started {
        handle: coap,
        incoming,
        observed,
        task: coap_task,
    } = udp::start_held(
        socket,
        lwm2m_core::coap::Config::default(),
        20_000,
        coap_shutdown.clone(),
    )?;
    // PSK credentials in memory before the DTLS listener opens; kept current from then on.
    let keys = dtls::KeyStore::new();
    let loaded = security::load_all(&pool, &keys)
        .await
        .context("load PSK credentials")?;
    tracker.spawn(
        security::follow(
            pool.clone(),
            client.clone(),
            keys.clone(),
            config.security_reload,
            shutdown.clone(),
        )
        .await
        .context("subscribe to security changes")?,
    );
    let secure = match config.coaps_listen {
        None => None,
        Some(addr) => {
            let socket =
                udp::bind(addr, udp::RECV_BUFFER).with_context(|| format!("bind {addr}"))?;
            let (transport, handle) = dtls::start(
                socket,
                keys.clone(),
                config.dtls.clone(),
                coap_shutdown.clone(),
            );
            let started = udp::start_held(
                transport,
                lwm2m_core::coap::Config::default(),
                20_000,
                coap_shutdown.clone(),
            )?;
            Some((started, handle))
        }
    };
    tracing::info!(
        node = %config.node_id,
        coap = %coap.local_addr(),
        coaps = ?secure.as_ref().map(|s| s.0.handle.local_addr()),
        credentials = loaded,
        "node started"
    );

    let registry = Arc::new(Registry::new(config.node_id.clone(), config.queue_capacity));
    for row in store::owned_by(&pool, &config.node_id).await? {
        registry.own(&row, false);
    }
    tracing::info!(owned = registry.len(), "ownership restored");

    let publisher = Publisher::start(js.clone(), shutdown.clone());
    let observations = Observations::new(
        coap.clone(),
        pool.clone(),
        model.clone(),
        registry.clone(),
        publisher.clone(),
        false,
    );
    let restored = observations.restore(None).await;
    tracing::info!(restored, "stored observations restored");
    tracker.spawn(observations.clone().run(observed, shutdown.clone()));
    // The DTLS side: its own CoAP driver, so its own observations (request ids are per driver).
    let (secure, secure_io) = match secure {
        None => (None, None),
        Some((started, dtls)) => {
            let observations = Observations::new(
                started.handle.clone(),
                pool.clone(),
                model.clone(),
                registry.clone(),
                publisher,
                true,
            );
            let restored = observations.restore(None).await;
            tracing::info!(restored, "stored observations of DTLS devices restored");
            tracker.spawn(observations.clone().run(started.observed, shutdown.clone()));
            let secure = SecureCoap {
                coap: started.handle,
                dtls,
                observations,
            };
            (Some(secure), Some((started.incoming, started.task)))
        }
    };

    let leases = lwm2m_node::leases::Leases::default();
    let router = Router::new(
        registry.clone(),
        coap.clone(),
        secure.clone(),
        client.clone(),
        lwm2m_node::ops::Limits {
            max_transfer: config.max_transfer,
            awake_window: config.awake_window,
        },
        model,
        leases.clone(),
        observations.clone(),
    );
    // Ownership is restored: subscribe to routed requests now (before the CoAP side opens, so a
    // device that registers finds its requests served).
    let subscriptions = router
        .subscribe()
        .await
        .context("subscribe to routed requests and cancels")?;
    tracker.spawn(router.run(subscriptions, shutdown.clone()));
    tracker.spawn(leases.run(client.clone(), shutdown.clone()));
    tracker.spawn(ownership::reconcile(
        pool.clone(),
        registry.clone(),
        config.reconcile_interval,
        shutdown.clone(),
    ));
    let mut all_observations = vec![observations.clone()];
    all_observations.extend(secure.as_ref().map(|s| s.observations.clone()));
    tracker.spawn(ownership::run(
        client.clone(),
        registry.clone(),
        all_observations,
        shutdown.clone(),
    ));
    tracker.spawn(expiry::run(
        pool.clone(),
        config.expiry_grace,
        config.expiry_interval,
        shutdown.clone(),
    ));
    let relay_shutdown = CancellationToken::new();
    let relay_task = tokio::spawn(relay::run(pool.clone(), js.clone(), relay_shutdown.clone()));

    // Ownership and observations are restored: the devices may talk now.
    coap.open().await;
    if let Some(s) = &secure {
        s.coap.open().await;
    }
    let handler = Arc::new(RegistrationHandler {
        store: store.clone(),
        registry: registry.clone(),
        coap: coap.clone(),
        keys: keys.clone(),
        dtls: None,
        observations: observations.clone(),
    });
    let requests = TaskTracker::new();
    let accept = tokio::spawn(lwm2m_node::inbound::run(
        incoming,
        handler,
        coap.clone(),
        requests.clone(),
        shutdown.clone(),
    ));
    // The DTLS listener: its own CoAP driver and handler, the same rules, its peers' identities.
    let mut coaps_task = None;
    let mut accept_secure = None;
    if let (Some(s), Some((incoming, task))) = (secure, secure_io) {
        let handler = Arc::new(RegistrationHandler {
            store: store.clone(),
            registry: registry.clone(),
            coap: s.coap.clone(),
            keys: keys.clone(),
            dtls: Some(s.dtls.clone()),
            observations: s.observations.clone(),
        });
        accept_secure = Some(tokio::spawn(lwm2m_node::inbound::run(
            incoming,
            handler,
            s.coap.clone(),
            requests.clone(),
            shutdown.clone(),
        )));
        coaps_task = Some(task);
    }

    lwm2m_node::process::shutdown_signal().await;
    tracing::info!("shutting down: no new requests, finishing in-flight commits");
    shutdown.cancel();
    let _ = accept.await;
    if let Some(a) = accept_secure {
        let _ = a.await;
    }
    // Requests already accepted finish and are answered (a committed registration gets its 2.01).
    requests.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), requests.wait()).await;
    coap_shutdown.cancel();
    let _ = coap_task.await;
    if let Some(t) = coaps_task {
        let _ = t.await;
    }
    drop(store);
    store_tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), store_tracker.wait()).await;
    relay_shutdown.cancel();
    let _ = relay_task.await;
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    let _ = client.flush().await;
    drop(client);
    tracing::info!("stopped");
    Ok(())
}
