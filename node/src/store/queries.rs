//! Read-side queries used by the gateway's Get / List and by a node at start.

use sqlx::PgPool;

use super::{RegistrationRow, StoreError, COLUMNS};

pub async fn get_registration(
    pool: &PgPool,
    endpoint: &str,
) -> Result<Option<RegistrationRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM registrations WHERE endpoint = $1");
    Ok(sqlx::query_as::<_, RegistrationRow>(&sql)
        .bind(endpoint)
        .fetch_optional(pool)
        .await?)
}

/// The node that owns `endpoint` and when its registration state was committed.
pub async fn owner_of(
    pool: &PgPool,
    endpoint: &str,
) -> Result<Option<(String, chrono::DateTime<chrono::Utc>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT owner_node, updated_at FROM registrations WHERE endpoint = $1")
            .bind(endpoint)
            .fetch_optional(pool)
            .await?,
    )
}

pub struct ListPage {
    pub rows: Vec<RegistrationRow>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// Keyset pagination by endpoint: the page token is the last endpoint of the previous page,
/// hex-encoded so that it is opaque and safe in any transport.
pub async fn list_registrations(
    pool: &PgPool,
    prefix: &str,
    page_size: u32,
    page_token: &str,
) -> Result<ListPage, StoreError> {
    let after = if page_token.is_empty() {
        String::new()
    } else {
        decode_token(page_token)?
    };
    let limit = i64::from(page_size);
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let sql = format!(
        "SELECT {COLUMNS} FROM registrations WHERE endpoint > $1 AND endpoint LIKE $2 \
         ORDER BY endpoint LIMIT $3"
    );
    let mut rows = sqlx::query_as::<_, RegistrationRow>(&sql)
        .bind(&after)
        .bind(&pattern)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let next_page_token = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| encode_token(&r.endpoint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(ListPage {
        rows,
        next_page_token,
    })
}

/// Registrations a node owns, loaded when it starts so that it answers for them again.
pub async fn owned_by(pool: &PgPool, node: &str) -> Result<Vec<RegistrationRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM registrations WHERE owner_node = $1");
    Ok(sqlx::query_as::<_, RegistrationRow>(&sql)
        .bind(node)
        .fetch_all(pool)
        .await?)
}

/// Just the endpoints a node owns: the cheap check of the periodic reconciliation.
pub async fn owned_endpoints(pool: &PgPool, node: &str) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT endpoint FROM registrations WHERE owner_node = $1")
            .bind(node)
            .fetch_all(pool)
            .await?,
    )
}

pub(super) fn encode_token(endpoint: &str) -> String {
    endpoint.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn decode_token(token: &str) -> Result<String, StoreError> {
    if !token.len().is_multiple_of(2) || token.len() > 1024 {
        return Err(StoreError::BadPageToken);
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    String::from_utf8(bytes.map_err(|_| StoreError::BadPageToken)?)
        .map_err(|_| StoreError::BadPageToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let t = encode_token("urn:imei:1");
        assert_eq!(decode_token(&t).unwrap(), "urn:imei:1");
        assert!(decode_token("abc").is_err());
        assert!(decode_token("zz").is_err());
        assert!(decode_token("ff").is_err()); // not UTF-8
    }
}
