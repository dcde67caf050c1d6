//! The `lwm2m-gateway` binary.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lwm2m_gateway::config::Args;
use lwm2m_gateway::route::RouteClient;
use lwm2m_gateway::security::SecurityApi;
use lwm2m_gateway::service::Service;
use lwm2m_proto::v1::device_service_server::DeviceServiceServer;
use lwm2m_proto::v1::security_service_server::SecurityServiceServer;
use sqlx::postgres::PgPoolOptions;

/// mimalloc instead of glibc's malloc, as in the node (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lwm2m_node::process::init_tracing();
    let args = Args::parse();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&args.database_url)
        .await
        .context("connect to PostgreSQL")?;
    let client = lwm2m_node::bus::connect(&args.nats_url, "lwm2m-gateway").await?;
    let js = async_nats::jetstream::new(client.clone());
    lwm2m_node::bus::ensure_reg_stream(&js).await?;

    let security = SecurityApi {
        pool: pool.clone(),
        client: client.clone(),
    };
    let service = Service {
        pool: pool.clone(),
        js,
        router: RouteClient::new(client.clone(), pool, args.ack_timeout, args.owner_cache)
            .await
            .context("subscribe to route replies")?,
        default_timeout: args.default_timeout,
    };
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<DeviceServiceServer<Service>>()
        .await;
    health_reporter
        .set_serving::<SecurityServiceServer<SecurityApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lwm2m_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("reflection service")?;

    let listener = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .with_context(|| format!("bind {}", args.grpc_listen))?;
    tracing::info!(grpc = %listener.local_addr()?, "gateway started");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(DeviceServiceServer::new(service))
        .add_service(SecurityServiceServer::new(security))
        .serve_with_incoming_shutdown(
            // Nagle off, as tonic does for the listeners it binds itself (it leaves a given
            // incoming alone): with it, a response split over writes waited for a delayed ACK.
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            lwm2m_node::process::shutdown_signal(),
        )
        .await?;
    let _ = client.flush().await;
    tracing::info!("stopped");
    Ok(())
}
