//! `lwm2m security put|get|delete|list`: PSK credentials through `lwm2m.v1.SecurityService`.

use std::time::Duration;

use anyhow::{Context, Result};
use lwm2m_proto::v1::security_service_client::SecurityServiceClient;
use lwm2m_proto::v1::*;
use serde_json::{json, Value as Json};
use tonic::transport::Channel;

use super::args::SecurityCommand;
use super::run::{deadline, emit, emit_json, request};
use super::text::{opt_rfc3339, table};

pub async fn run(
    channel: Channel,
    cmd: SecurityCommand,
    as_json: bool,
    timeout: Duration,
) -> Result<()> {
    let mut client = SecurityServiceClient::new(channel);
    match cmd {
        SecurityCommand::Put {
            endpoint,
            psk_identity,
            psk_key,
        } => {
            let req = PutCredentialRequest {
                endpoint,
                psk_identity,
                psk_key_hex: psk_key,
            };
            let resp = deadline(timeout, client.put_credential(request(req, timeout))).await?;
            show(resp.into_inner().credential, as_json)
        }
        SecurityCommand::Get { endpoint } => {
            let req = GetCredentialRequest { endpoint };
            let resp = deadline(timeout, client.get_credential(request(req, timeout))).await?;
            show(resp.into_inner().credential, as_json)
        }
        SecurityCommand::Delete { endpoint } => {
            let req = DeleteCredentialRequest {
                endpoint: endpoint.clone(),
            };
            deadline(timeout, client.delete_credential(request(req, timeout))).await?;
            match as_json {
                true => emit_json(&json!({ "deleted": endpoint })),
                false => emit(&format!("deleted the credential of {endpoint}\n")),
            }
        }
        SecurityCommand::List => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let req = ListCredentialsRequest {
                    page_size: 1000,
                    page_token,
                };
                let page = deadline(timeout, client.list_credentials(request(req, timeout)))
                    .await?
                    .into_inner();
                all.extend(page.credentials);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            match as_json {
                true => emit_json(&Json::Array(all.iter().map(credential_json).collect())),
                false => emit(&credential_table(&all)),
            }
        }
    }
}

fn show(c: Option<PskCredential>, as_json: bool) -> Result<()> {
    let c = c.context("the gateway answered without a credential")?;
    match as_json {
        true => emit_json(&credential_json(&c)),
        false => emit(&credential_table(std::slice::from_ref(&c))),
    }
}

pub fn credential_json(c: &PskCredential) -> Json {
    json!({
        "endpoint": c.endpoint,
        "psk_identity": c.psk_identity,
        "key_length": c.key_length,
        "key_fingerprint": c.key_fingerprint,
        "updated_at": opt_rfc3339(c.updated_at.as_ref()),
    })
}

pub fn credential_table(cs: &[PskCredential]) -> String {
    let rows: Vec<Vec<String>> = cs
        .iter()
        .map(|c| {
            vec![
                c.endpoint.clone(),
                c.psk_identity.clone(),
                format!("{} bytes", c.key_length),
                c.key_fingerprint.clone(),
                opt_rfc3339(c.updated_at.as_ref()),
            ]
        })
        .collect();
    table(
        &["ENDPOINT", "PSK IDENTITY", "KEY", "FINGERPRINT", "UPDATED"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_show_no_key() {
        let c = PskCredential {
            endpoint: "dev-1".into(),
            psk_identity: "id-1".into(),
            key_length: 16,
            key_fingerprint: "0011223344556677".into(),
            updated_at: None,
        };
        let t = credential_table(&[c.clone()]);
        assert!(
            t.contains("dev-1") && t.contains("id-1") && t.contains("16 bytes"),
            "{t}"
        );
        assert_eq!(credential_json(&c)["key_fingerprint"], "0011223344556677");
    }
}
