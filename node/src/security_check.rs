//! The security rules of a Register (as Leshan's SecurityChecker): which security context may
//! register which endpoint. Update and De-register are held to the context stored with the
//! registration by the store itself (`psk_identity IS NOT DISTINCT FROM`).

use crate::dtls::KeyStore;

/// Whether a Register of `endpoint` over `identity` (`None`: plain CoAP) is allowed; the reason
/// for a refusal.
pub fn register(
    keys: &KeyStore,
    endpoint: &str,
    identity: Option<&str>,
) -> Result<(), &'static str> {
    match (identity, keys.by_endpoint(endpoint)) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("the endpoint has credentials: plain CoAP is refused"),
        (Some(_), None) => Err("no credentials are stored for the endpoint"),
        (Some(id), Some(c)) if *c.identity == *id => Ok(()),
        (Some(_), Some(_)) => Err("the PSK identity is not the endpoint's"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::Credential;

    fn keys() -> std::sync::Arc<KeyStore> {
        let k = KeyStore::new();
        k.set(
            "secure",
            Some(Credential {
                endpoint: "secure".into(),
                identity: "id-secure".into(),
                key: b"k".to_vec().into(),
            }),
        );
        k.set(
            "other",
            Some(Credential {
                endpoint: "other".into(),
                identity: "id-other".into(),
                key: b"k".to_vec().into(),
            }),
        );
        k
    }

    #[test]
    fn the_rules() {
        let k = keys();
        assert!(register(&k, "plain", None).is_ok());
        assert!(register(&k, "secure", Some("id-secure")).is_ok());
        assert!(
            register(&k, "secure", None).is_err(),
            "plain CoAP for a secured endpoint"
        );
        assert!(
            register(&k, "plain", Some("id-secure")).is_err(),
            "no credentials stored"
        );
        assert!(
            register(&k, "secure", Some("id-other")).is_err(),
            "another endpoint's identity"
        );
    }
}
