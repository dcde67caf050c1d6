//! `lwm2m.v1.SecurityService`: PSK credentials per endpoint. The gateway writes PostgreSQL (the
//! source of truth) and then announces the change on NATS, so every node reloads that endpoint's
//! credential into its in-memory key store at once; nodes also reload everything periodically.
//! Keys are never returned: only their length and a short fingerprint.

use lwm2m_node::security::publish_change;
use lwm2m_node::store::security::{
    credential, delete_credential, list_credentials, put_credential, CredentialRow, PutOutcome,
};
use lwm2m_proto::v1::security_service_server::SecurityService;
use lwm2m_proto::v1::*;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

/// Longest PSK identity accepted (RFC 4279 allows 2^16-1; LwM2M clients use short ones).
pub const MAX_IDENTITY: usize = 128;
/// Longest key accepted (RFC 4279 §5.3 requires support for 64 bytes).
pub const MAX_KEY: usize = 64;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub struct SecurityApi {
    pub pool: PgPool,
    pub client: async_nats::Client,
}

fn check_endpoint(endpoint: &str) -> Result<(), Status> {
    if endpoint.is_empty() || endpoint.len() > 255 {
        return Err(Status::invalid_argument("endpoint must be 1..=255 bytes"));
    }
    Ok(())
}

/// Checks a put's arguments; returns the decoded key.
pub fn validate_put(req: &PutCredentialRequest) -> Result<Vec<u8>, Status> {
    check_endpoint(&req.endpoint)?;
    if req.psk_identity.is_empty() {
        return Err(Status::invalid_argument("psk_identity must not be empty"));
    }
    if req.psk_identity.len() > MAX_IDENTITY {
        return Err(Status::invalid_argument(format!(
            "psk_identity is {} bytes; at most {MAX_IDENTITY}",
            req.psk_identity.len()
        )));
    }
    let key = hex::decode(req.psk_key_hex.trim())
        .map_err(|e| Status::invalid_argument(format!("psk_key_hex is not hex: {e}")))?;
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(Status::invalid_argument(format!(
            "the key is {} bytes; it must be 1..={MAX_KEY}",
            key.len()
        )));
    }
    Ok(key)
}

/// What the API shows of a credential.
pub fn shown(row: &CredentialRow) -> PskCredential {
    let digest = Sha256::digest(&row.psk_key);
    PskCredential {
        endpoint: row.endpoint.clone(),
        psk_identity: row.psk_identity.clone(),
        key_length: row.psk_key.len() as u32,
        key_fingerprint: hex::encode(&digest[..8]),
        updated_at: Some(prost_types::Timestamp {
            seconds: row.updated_at.timestamp(),
            nanos: row.updated_at.timestamp_subsec_nanos() as i32,
        }),
    }
}

fn db(e: sqlx::Error) -> Status {
    Status::unavailable(format!("security store: {e}"))
}

impl SecurityApi {
    async fn announce(&self, endpoint: &str) {
        if let Err(e) = publish_change(&self.client, endpoint).await {
            // The nodes' periodic reload still picks the change up.
            tracing::warn!(endpoint, error = %e, "cannot announce a credential change");
        }
    }
}

#[tonic::async_trait]
impl SecurityService for SecurityApi {
    async fn put_credential(
        &self,
        request: Request<PutCredentialRequest>,
    ) -> Result<Response<PutCredentialResponse>, Status> {
        let req = request.into_inner();
        let key = validate_put(&req)?;
        match put_credential(&self.pool, &req.endpoint, &req.psk_identity, &key)
            .await
            .map_err(db)?
        {
            PutOutcome::Stored(row) => {
                tracing::info!(endpoint = %row.endpoint, identity = %row.psk_identity, "PSK credential stored");
                self.announce(&row.endpoint).await;
                Ok(Response::new(PutCredentialResponse {
                    credential: Some(shown(&row)),
                }))
            }
            PutOutcome::IdentityTaken { endpoint } => Err(Status::already_exists(format!(
                "psk_identity {:?} belongs to another endpoint{}",
                req.psk_identity,
                if endpoint.is_empty() {
                    String::new()
                } else {
                    format!(" ({endpoint})")
                }
            ))),
        }
    }

    async fn get_credential(
        &self,
        request: Request<GetCredentialRequest>,
    ) -> Result<Response<GetCredentialResponse>, Status> {
        let endpoint = request.into_inner().endpoint;
        check_endpoint(&endpoint)?;
        match credential(&self.pool, &endpoint).await.map_err(db)? {
            Some(row) => Ok(Response::new(GetCredentialResponse {
                credential: Some(shown(&row)),
            })),
            None => Err(Status::not_found(format!("{endpoint} has no credential"))),
        }
    }

    async fn delete_credential(
        &self,
        request: Request<DeleteCredentialRequest>,
    ) -> Result<Response<DeleteCredentialResponse>, Status> {
        let endpoint = request.into_inner().endpoint;
        check_endpoint(&endpoint)?;
        if !delete_credential(&self.pool, &endpoint).await.map_err(db)? {
            return Err(Status::not_found(format!("{endpoint} has no credential")));
        }
        tracing::info!(endpoint, "PSK credential deleted");
        self.announce(&endpoint).await;
        Ok(Response::new(DeleteCredentialResponse {}))
    }

    async fn list_credentials(
        &self,
        request: Request<ListCredentialsRequest>,
    ) -> Result<Response<ListCredentialsResponse>, Status> {
        let req = request.into_inner();
        let size = match req.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        // The page token is the last endpoint of the previous page.
        let rows = list_credentials(&self.pool, &req.page_token, i64::from(size) + 1)
            .await
            .map_err(db)?;
        let more = rows.len() > size as usize;
        let page: Vec<PskCredential> = rows.iter().take(size as usize).map(shown).collect();
        let next_page_token = match (more, page.last()) {
            (true, Some(last)) => last.endpoint.clone(),
            _ => String::new(),
        };
        Ok(Response::new(ListCredentialsResponse {
            credentials: page,
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(endpoint: &str, identity: &str, key: &str) -> PutCredentialRequest {
        PutCredentialRequest {
            endpoint: endpoint.into(),
            psk_identity: identity.into(),
            psk_key_hex: key.into(),
        }
    }

    #[test]
    fn validation_messages() {
        assert_eq!(
            validate_put(&put("ep", "id", "0A0b")).ok(),
            Some(vec![10, 11])
        );
        let msg = |r: PutCredentialRequest| {
            validate_put(&r)
                .err()
                .map(|s| (s.code(), s.message().to_string()))
        };
        let bad_hex = msg(put("ep", "id", "xyz")).expect("bad hex");
        assert_eq!(bad_hex.0, tonic::Code::InvalidArgument);
        assert!(bad_hex.1.contains("not hex"), "{}", bad_hex.1);
        assert!(msg(put("ep", "", "00"))
            .expect("empty")
            .1
            .contains("must not be empty"));
        assert!(msg(put("ep", "id", ""))
            .expect("empty key")
            .1
            .contains("1..=64"));
        assert!(msg(put("ep", "id", &"00".repeat(65)))
            .expect("long key")
            .1
            .contains("65 bytes"));
        assert!(msg(put("ep", &"i".repeat(129), "00"))
            .expect("long id")
            .1
            .contains("129 bytes"));
        assert!(msg(put("", "id", "00"))
            .expect("no endpoint")
            .1
            .contains("endpoint"));
    }

    #[test]
    fn the_key_is_never_shown() {
        let row = CredentialRow {
            endpoint: "ep".into(),
            psk_identity: "id".into(),
            psk_key: b"secret".to_vec(),
            updated_at: chrono::Utc::now(),
        };
        let c = shown(&row);
        assert_eq!(c.key_length, 6);
        assert_eq!(c.key_fingerprint.len(), 16);
        assert!(!format!("{c:?}").contains(&hex::encode(b"secret")));
    }
}
