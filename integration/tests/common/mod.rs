//! Shared helpers of the end-to-end tests.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::time::Duration;

use lwm2m_proto::v1::device_service_client::DeviceServiceClient;
use lwm2m_proto::v1::{GetRegistrationRequest, Registration};
use tonic::transport::Channel;

pub use lwm2m_integration::harness::*;
pub use lwm2m_integration::sim::{SimConfig, SimDevice};

pub async fn grpc(url: &str) -> DeviceServiceClient<Channel> {
    DeviceServiceClient::connect(url.to_string())
        .await
        .expect("connect to gateway")
}

/// The registration of `endpoint`, which must exist.
pub async fn registration(api: &mut DeviceServiceClient<Channel>, endpoint: &str) -> Registration {
    let request = GetRegistrationRequest {
        endpoint: endpoint.to_string(),
    };
    api.get_registration(request)
        .await
        .expect("GetRegistration")
        .into_inner()
        .registration
        .expect("registration")
}

pub async fn pool(svc: &Services) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&svc.database_url)
        .await
        .expect("connect to Postgres")
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows of `registrations` whose endpoint starts with `prefix`.
pub async fn registration_count(pool: &sqlx::PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM registrations WHERE endpoint LIKE $1 || '%'")
        .bind(prefix)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Outbox rows whose subject names an endpoint starting with `prefix` (plain ASCII prefixes only).
pub async fn outbox_count(pool: &sqlx::PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subject LIKE '%.' || $1 || '%'")
        .bind(prefix)
        .fetch_one(pool)
        .await
        .expect("count")
}

pub fn sim(endpoint: &str, node: &Node) -> SimConfig {
    SimConfig::new(endpoint, node.coap)
}

/// A CON Register (`POST /rd?<queries>`) as wire bytes, for raw-socket tests.
pub fn register_packet(mid: u16, queries: &[&str], payload: &[u8]) -> Vec<u8> {
    use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.message_id = mid;
    p.set_token(vec![1, 2, 3, 4]);
    p.header.code = MessageClass::Request(RequestType::Post);
    p.add_option(CoapOption::UriPath, b"rd".to_vec());
    for q in queries {
        p.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
    }
    p.payload = payload.to_vec();
    p.to_bytes().unwrap()
}

pub async fn security_api(
    url: &str,
) -> lwm2m_proto::v1::security_service_client::SecurityServiceClient<Channel> {
    lwm2m_proto::v1::security_service_client::SecurityServiceClient::connect(url.to_string())
        .await
        .expect("connect to gateway")
}

/// Stores a PSK credential through the gateway (`key` as raw bytes).
pub async fn put_psk(url: &str, endpoint: &str, identity: &str, key: &[u8]) {
    let req = lwm2m_proto::v1::PutCredentialRequest {
        endpoint: endpoint.into(),
        psk_identity: identity.into(),
        psk_key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
    };
    security_api(url)
        .await
        .put_credential(req)
        .await
        .expect("PutCredential");
}

/// A simulated device talking DTLS with PSK `identity`/`key` to the node's CoAPs listener.
pub fn sim_dtls(endpoint: &str, node: &Node, identity: &str, key: &[u8]) -> SimConfig {
    let mut c = SimConfig::new(endpoint, node.coaps.expect("node has a CoAPs listener"));
    c.psk = Some((identity.to_string(), key.to_vec()));
    c
}

/// The PSK identity stored with `endpoint`'s registration (`None`: no registration).
pub async fn stored_identity(pool: &sqlx::PgPool, endpoint: &str) -> Option<Option<String>> {
    sqlx::query_scalar("SELECT psk_identity FROM registrations WHERE endpoint = $1")
        .bind(endpoint)
        .fetch_optional(pool)
        .await
        .expect("query")
}
