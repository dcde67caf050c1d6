//! PSK credentials in PostgreSQL (`security_credentials`, migration 0003): written by the gateway's
//! SecurityService, read by every node into its in-memory key store (`dtls::keys`).

use sqlx::PgPool;

use crate::dtls::Credential;

/// One row of `security_credentials`.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CredentialRow {
    pub endpoint: String,
    pub psk_identity: String,
    pub psk_key: Vec<u8>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for CredentialRow {
    // Keys never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("endpoint", &self.endpoint)
            .field("psk_identity", &self.psk_identity)
            .field("key_len", &self.psk_key.len())
            .finish()
    }
}

impl From<CredentialRow> for Credential {
    fn from(r: CredentialRow) -> Credential {
        Credential {
            endpoint: r.endpoint,
            identity: r.psk_identity.into(),
            key: r.psk_key.into(),
        }
    }
}

/// What a put did.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Stored(CredentialRow),
    /// The identity belongs to another endpoint (identities are unique).
    IdentityTaken {
        endpoint: String,
    },
}

const SELECT: &str = "SELECT endpoint, psk_identity, psk_key, updated_at FROM security_credentials";

pub async fn all_credentials(pool: &PgPool) -> Result<Vec<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY endpoint"))
        .fetch_all(pool)
        .await
}

pub async fn credential(
    pool: &PgPool,
    endpoint: &str,
) -> Result<Option<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE endpoint = $1"))
        .bind(endpoint)
        .fetch_optional(pool)
        .await
}

/// Credentials in endpoint order after `after`, at most `limit`.
pub async fn list_credentials(
    pool: &PgPool,
    after: &str,
    limit: i64,
) -> Result<Vec<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE endpoint > $1 ORDER BY endpoint LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Sets `endpoint`'s credential.
pub async fn put_credential(
    pool: &PgPool,
    endpoint: &str,
    identity: &str,
    key: &[u8],
) -> Result<PutOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let owner: Option<(String,)> = sqlx::query_as(
        "SELECT endpoint FROM security_credentials WHERE psk_identity = $1 AND endpoint <> $2 FOR UPDATE",
    )
    .bind(identity)
    .bind(endpoint)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((other,)) = owner {
        return Ok(PutOutcome::IdentityTaken { endpoint: other });
    }
    let row = sqlx::query_as(
        "INSERT INTO security_credentials (endpoint, psk_identity, psk_key) VALUES ($1, $2, $3) \
         ON CONFLICT (endpoint) DO UPDATE SET psk_identity = EXCLUDED.psk_identity, \
           psk_key = EXCLUDED.psk_key, updated_at = now() \
         RETURNING endpoint, psk_identity, psk_key, updated_at",
    )
    .bind(endpoint)
    .bind(identity)
    .bind(key)
    .fetch_one(&mut *tx)
    .await;
    match row {
        Ok(row) => {
            tx.commit().await?;
            Ok(PutOutcome::Stored(row))
        }
        // A concurrent put took the identity between our check and the insert.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(PutOutcome::IdentityTaken {
            endpoint: String::new(),
        }),
        Err(e) => Err(e),
    }
}

/// Deletes `endpoint`'s credential; false if it had none.
pub async fn delete_credential(pool: &PgPool, endpoint: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM security_credentials WHERE endpoint = $1")
        .bind(endpoint)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The endpoint and security context of registration `reg_id`, to tell a refused Update or
/// De-register (another security context) from an unknown registration.
pub async fn registration_security(
    pool: &PgPool,
    reg_id: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT endpoint, psk_identity FROM registrations WHERE reg_id = $1")
        .bind(reg_id)
        .fetch_optional(pool)
        .await
}
