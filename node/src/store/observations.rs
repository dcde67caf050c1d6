//! Durable observations (`migrations/0002_observations.sql`): what a node needs to accept a
//! device's notifications again after a restart, and what ListObservations shows. Rows end with
//! their registration (a trigger drops them on a new Register, a de-registration or an expiry).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::queries::{decode_token, encode_token};
use super::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ObservationRow {
    pub id: String,
    pub endpoint: String,
    pub reg_id: String,
    pub paths: Vec<String>,
    pub content_format: i32,
    pub token: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// A row to restore, with the address its registration has now.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RestorableObservation {
    pub id: String,
    pub endpoint: String,
    pub reg_id: String,
    pub paths: Vec<String>,
    pub token: Vec<u8>,
    pub peer_addr: String,
}

const COLUMNS: &str = "id, endpoint, reg_id, paths, content_format, token, created_at";

/// Stores an observation the device accepted, unless its registration changed meanwhile (a new
/// Register ends observations): false then, and nothing is stored.
pub async fn insert_observation(pool: &PgPool, row: &ObservationRow) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO observations (id, endpoint, reg_id, paths, content_format, token, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7 \
         WHERE EXISTS (SELECT 1 FROM registrations WHERE endpoint = $2 AND reg_id = $3)",
    )
    .bind(&row.id)
    .bind(&row.endpoint)
    .bind(&row.reg_id)
    .bind(&row.paths)
    .bind(row.content_format)
    .bind(&row.token)
    .bind(row.created_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_observation(
    pool: &PgPool,
    id: &str,
) -> Result<Option<ObservationRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM observations WHERE id = $1");
    Ok(sqlx::query_as::<_, ObservationRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Removes an observation; false if there was none.
pub async fn delete_observation(pool: &PgPool, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM observations WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub struct ObservationPage {
    pub rows: Vec<ObservationRow>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// Keyset pagination by (endpoint, id); `endpoint` empty means every endpoint.
pub async fn list_observations(
    pool: &PgPool,
    endpoint: &str,
    page_size: u32,
    page_token: &str,
) -> Result<ObservationPage, StoreError> {
    let (after_ep, after_id) = if page_token.is_empty() {
        (String::new(), String::new())
    } else {
        let key = decode_token(page_token)?;
        let (ep, id) = key.split_once('\n').ok_or(StoreError::BadPageToken)?;
        (ep.to_string(), id.to_string())
    };
    let limit = i64::from(page_size);
    let sql = format!(
        "SELECT {COLUMNS} FROM observations WHERE (endpoint, id) > ($1, $2) \
         AND ($3 = '' OR endpoint = $3) ORDER BY endpoint, id LIMIT $4"
    );
    let mut rows = sqlx::query_as::<_, ObservationRow>(&sql)
        .bind(&after_ep)
        .bind(&after_id)
        .bind(endpoint)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let next_page_token = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| encode_token(&format!("{}\n{}", r.endpoint, r.id)))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(ObservationPage {
        rows,
        next_page_token,
    })
}

/// The observations of the registrations `node` owns (all of them at start, or one endpoint's
/// when the node takes it over), with the address to expect notifications from.
pub async fn restorable_observations(
    pool: &PgPool,
    node: &str,
    endpoint: Option<&str>,
    secure: bool,
) -> Result<Vec<RestorableObservation>, StoreError> {
    Ok(sqlx::query_as::<_, RestorableObservation>(
        "SELECT o.id, o.endpoint, o.reg_id, o.paths, o.token, r.peer_addr \
         FROM observations o JOIN registrations r ON r.endpoint = o.endpoint AND r.reg_id = o.reg_id \
         WHERE r.owner_node = $1 AND ($2::text IS NULL OR o.endpoint = $2) \
           AND (r.psk_identity IS NOT NULL) = $3",
    )
    .bind(node)
    .bind(endpoint)
    .bind(secure)
    .fetch_all(pool)
    .await?)
}
