//! The registration store in PostgreSQL: the source of truth for registrations and ownership.
//!
//! Writes go through [`RegistrationStore`], which commits concurrent registrations together
//! (group commit, see `writer.rs`) and writes each event to the outbox in the same transaction.
//! Reads for the API are plain queries (`queries.rs`).

mod events;
pub mod observations;
mod queries;
mod register_many;
pub mod security;
mod writer;

pub use events::{event_payload, last_update, new_event_id, registration_proto, RegEvent};
pub use queries::{
    get_registration, list_registrations, owned_by, owned_endpoints, owner_of, ListPage,
};
pub(crate) use writer::insert_events;
pub use writer::{RegistrationStore, StoreConfig};

use chrono::{DateTime, Utc};

/// Errors of the store layer. Each means "nothing was committed".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store is shutting down")]
    Closed,
    #[error("store is overloaded")]
    Overloaded,
    #[error("bad page token")]
    BadPageToken,
}

/// One row of `registrations`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegistrationRow {
    pub endpoint: String,
    pub reg_id: String,
    pub owner_node: String,
    pub peer_addr: String,
    pub lifetime_s: i64,
    pub binding: String,
    pub queue_mode: bool,
    pub lwm2m_version: String,
    pub sms_number: Option<String>,
    pub root_path: String,
    pub object_links: String,
    pub content_formats: Vec<i32>,
    pub attributes: serde_json::Value,
    /// The PSK identity of the DTLS association the registration was made over (`None`: plain).
    pub psk_identity: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a Register writes.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub endpoint: String,
    pub reg_id: String,
    pub owner_node: String,
    pub peer_addr: String,
    pub lifetime_s: i64,
    pub binding: String,
    pub queue_mode: bool,
    pub lwm2m_version: String,
    pub sms_number: Option<String>,
    pub root_path: String,
    pub object_links: String,
    pub content_formats: Vec<i32>,
    pub attributes: serde_json::Value,
    pub psk_identity: Option<String>,
}

/// What an Update changes; `None` keeps the stored value.
#[derive(Debug, Clone)]
pub struct RegistrationUpdate {
    pub reg_id: String,
    pub owner_node: String,
    pub peer_addr: String,
    pub lifetime_s: Option<i64>,
    pub binding: Option<String>,
    /// `Some(true)` when the Update carried `Q`; for a 1.0 registration a new binding decides.
    pub queue_mode: Option<bool>,
    pub sms_number: Option<String>,
    pub root_path: Option<String>,
    pub object_links: Option<String>,
    pub content_formats: Option<Vec<i32>>,
    /// The security context the Update came over; it must be the registration's.
    pub psk_identity: Option<String>,
}

/// Columns selected everywhere a full row is read.
pub(crate) const COLUMNS: &str = "endpoint, reg_id, owner_node, peer_addr, lifetime_s, binding, queue_mode, \
     lwm2m_version, sms_number, root_path, object_links, content_formats, attributes, psk_identity, \
     registered_at, updated_at, expires_at";

/// [`COLUMNS`] qualified with the table alias `r`, for statements that join.
pub(crate) const COLUMNS_PREFIXED: &str = "r.endpoint, r.reg_id, r.owner_node, r.peer_addr, r.lifetime_s, \
     r.binding, r.queue_mode, r.lwm2m_version, r.sms_number, r.root_path, r.object_links, r.content_formats, \
     r.attributes, r.psk_identity, r.registered_at, r.updated_at, r.expires_at";

/// Applies the migrations in `migrations/`.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations").run(pool).await
}
