//! RegistrationHandler: the Registration interface of the node (LwM2M TS 1.1 §6.2).
//!
//! Requests are parsed by the sans-IO core into values; this file stores them and answers. The
//! answer is sent only after the store committed (2.01 after COMMIT), and a store failure is a
//! 5.03 that changes nothing, which makes the client retry later.
//!
//! Security (as Leshan's SecurityChecker): a Register must come over DTLS with the PSK identity
//! stored for its endpoint, or over plain CoAP for an endpoint without credentials; Update and
//! De-register must come over the security context of the registration. A refusal is 4.03,
//! logged with endpoint and identity, and writes nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, Packet};
use lwm2m_core::coap::block::{set_block1, BlockOption};
use lwm2m_core::lwm2m::options::response;
use lwm2m_core::lwm2m::registration::{
    parse_rd_request, RdRequest, RegisterRequest, UpdateRequest,
};
use tracing::Instrument;

use crate::dtls::{DtlsHandle, KeyStore};
use crate::observe::Observations;
use crate::registry::Registry;
use crate::store::{NewRegistration, RegistrationStore, RegistrationUpdate, StoreError};
use crate::udp::{CoapHandle, Incoming};

const CREATED: u8 = 0x41;
const DELETED: u8 = 0x42;
const CHANGED: u8 = 0x44;
const FORBIDDEN: u8 = 0x83;
const NOT_FOUND: u8 = 0x84;
const SERVICE_UNAVAILABLE: u8 = 0xA3;

/// How long past its lifetime a secured device's DTLS association may stay idle.
const IDLE_SLACK: Duration = Duration::from_secs(30);

pub struct RegistrationHandler {
    pub store: RegistrationStore,
    pub registry: Arc<Registry>,
    pub coap: CoapHandle,
    /// PSK credentials, to check a Register's security context.
    pub keys: Arc<KeyStore>,
    /// The DTLS transport this handler's requests come over (`None`: plain CoAP).
    pub dtls: Option<DtlsHandle>,
    pub observations: Arc<Observations>,
}

impl RegistrationHandler {
    /// Answers one inbound request. Runs in its own task: the store round trip must not hold up
    /// the socket loop.
    /// `block1`: the request arrived in blocks; the answer echoes the last one (RFC 7959 §2.3).
    pub async fn handle(self: Arc<Self>, incoming: Incoming, block1: Option<BlockOption>) {
        let Incoming {
            exchange,
            peer,
            request,
            identity,
        } = incoming;
        let identity = identity.map(|i| i.to_string());
        let span = tracing::info_span!("coap_request", %peer, endpoint = tracing::field::Empty, reg_id = tracing::field::Empty);
        let answer = async {
            if lwm2m_core::lwm2m::report::is_send(&request) {
                return crate::send::handle(&self.observations, peer, &request).await;
            }
            match parse_rd_request(&request) {
                None => {
                    tracing::debug!("request for an unknown resource");
                    response(NOT_FOUND)
                }
                Some(Err(e)) => {
                    tracing::info!(error = %e, "refused registration request");
                    with_diagnostic(response(e.code()), &e.to_string())
                }
                Some(Ok(RdRequest::Register(r))) => self.register(peer, identity, r).await,
                Some(Ok(RdRequest::Update { reg_id, update })) => {
                    self.update(peer, identity, reg_id, update).await
                }
                Some(Ok(RdRequest::Deregister { reg_id })) => {
                    self.deregister(identity, reg_id).await
                }
            }
        }
        .instrument(span)
        .await;
        let mut answer = answer;
        if let Some(b) = block1 {
            let _ = set_block1(&mut answer, b);
        }
        self.coap.respond(exchange, answer).await;
    }

    async fn register(
        &self,
        peer: SocketAddr,
        identity: Option<String>,
        r: RegisterRequest,
    ) -> Packet {
        let span = tracing::Span::current();
        span.record("endpoint", r.endpoint.as_str());
        if let Err(why) =
            crate::security_check::register(&self.keys, &r.endpoint, identity.as_deref())
        {
            return forbidden(&r.endpoint, identity.as_deref(), why);
        }
        let reg_id = new_registration_id();
        span.record("reg_id", reg_id.as_str());
        let attributes = serde_json::Value::Object(
            r.attributes
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        );
        let new = NewRegistration {
            endpoint: r.endpoint,
            reg_id,
            owner_node: self.registry.node().to_string(),
            peer_addr: peer.to_string(),
            lifetime_s: i64::from(r.lifetime),
            binding: r.binding,
            queue_mode: r.queue_mode,
            lwm2m_version: r.version.as_str().to_string(),
            sms_number: r.sms,
            root_path: r.links.root_path.clone(),
            object_links: r.raw_links,
            content_formats: r
                .links
                .content_formats
                .iter()
                .map(|c| i32::from(*c))
                .collect(),
            attributes,
            psk_identity: identity,
        };
        match self.store.register(new).await {
            Ok((row, replaced)) => {
                tracing::info!(replaced = replaced.as_deref().unwrap_or(""), "registered");
                self.keep_association(peer, &row);
                // A new registration ends the observations of the old one (TS 1.1 §6.2.1).
                self.observations
                    .end_endpoint(&row.endpoint, "the device registered again")
                    .await;
                self.registry.own(&row, true);
                let mut p = response(CREATED);
                p.add_option(CoapOption::LocationPath, b"rd".to_vec());
                p.add_option(CoapOption::LocationPath, row.reg_id.into_bytes());
                p
            }
            Err(e) => unavailable(e),
        }
    }

    async fn update(
        &self,
        peer: SocketAddr,
        identity: Option<String>,
        reg_id: String,
        u: UpdateRequest,
    ) -> Packet {
        tracing::Span::current().record("reg_id", reg_id.as_str());
        let (root_path, object_links, content_formats) = match u.links {
            Some((links, raw)) => (
                Some(links.root_path.clone()),
                Some(raw),
                Some(
                    links
                        .content_formats
                        .iter()
                        .map(|c| i32::from(*c))
                        .collect(),
                ),
            ),
            None => (None, None, None),
        };
        let update = RegistrationUpdate {
            reg_id: reg_id.clone(),
            owner_node: self.registry.node().to_string(),
            peer_addr: peer.to_string(),
            lifetime_s: u.lifetime.map(i64::from),
            // Queue mode stays as registered unless the Update says `Q`; a 1.0 client switches
            // with its binding (UQ), which the store decides since it knows the version.
            queue_mode: u.queue.then_some(true),
            binding: u.binding,
            sms_number: u.sms,
            root_path,
            object_links,
            content_formats,
            psk_identity: identity.clone(),
        };
        match self.store.update(update).await {
            Ok(Some(row)) => {
                tracing::Span::current().record("endpoint", row.endpoint.as_str());
                tracing::debug!("updated");
                self.keep_association(peer, &row);
                let before = self.registry.get(&row.endpoint);
                self.registry.own(&row, true);
                match before {
                    // Taken over from another node (failover): its durable observations too.
                    None => {
                        self.observations.restore(Some(&row.endpoint)).await;
                    }
                    Some(t) if t.peer != peer => self.observations.moved(&row.endpoint, peer).await,
                    Some(_) => {}
                }
                response(CHANGED)
            }
            // Unknown registration id: 4.04 makes the client register again (TS 1.1 §6.2.2).
            Ok(None) => {
                self.not_found_or_forbidden(&reg_id, identity.as_deref())
                    .await
            }
            Err(e) => unavailable(e),
        }
    }

    async fn deregister(&self, identity: Option<String>, reg_id: String) -> Packet {
        tracing::Span::current().record("reg_id", reg_id.as_str());
        match self
            .store
            .deregister(reg_id.clone(), identity.clone())
            .await
        {
            Ok(Some(row)) => {
                tracing::info!(endpoint = %row.endpoint, "de-registered");
                self.registry.disown(&row.endpoint, Some(&row.reg_id));
                self.observations
                    .end_endpoint(&row.endpoint, "the device de-registered")
                    .await;
                response(DELETED)
            }
            Ok(None) => {
                self.not_found_or_forbidden(&reg_id, identity.as_deref())
                    .await
            }
            Err(e) => unavailable(e),
        }
    }
}

impl RegistrationHandler {
    /// The store matched no registration with this id *and* this security context: 4.03 if the
    /// id exists under another context, else 4.04. Only refused requests pay this query.
    async fn not_found_or_forbidden(&self, reg_id: &str, identity: Option<&str>) -> Packet {
        match crate::store::security::registration_security(self.store.pool(), reg_id).await {
            Ok(Some((endpoint, _))) => forbidden(
                &endpoint,
                identity,
                "not the security context of the registration",
            ),
            Ok(None) => response(NOT_FOUND),
            Err(e) => unavailable(StoreError::Database(e)),
        }
    }

    /// Keeps a secured device's DTLS association as long as its registration lives, and lets
    /// this node handshake towards it when it must.
    fn keep_association(&self, peer: SocketAddr, row: &crate::store::RegistrationRow) {
        if let (Some(dtls), Some(identity)) = (&self.dtls, &row.psk_identity) {
            let lifetime = Duration::from_secs(u64::try_from(row.lifetime_s).unwrap_or(0));
            dtls.set_peer(peer, identity.as_str().into(), Some(lifetime + IDLE_SLACK));
        }
    }
}

fn forbidden(endpoint: &str, identity: Option<&str>, why: &str) -> Packet {
    tracing::info!(
        endpoint,
        identity = identity.unwrap_or("(plain CoAP)"),
        why,
        "registration refused, answering 4.03"
    );
    with_diagnostic(response(FORBIDDEN), why)
}

fn unavailable(e: StoreError) -> Packet {
    tracing::warn!(error = %e, "store unavailable, answering 5.03");
    let mut p = response(SERVICE_UNAVAILABLE);
    // Max-Age tells the client when to retry (RFC 7252 §5.9.3.4).
    p.add_option(CoapOption::MaxAge, vec![5]);
    p
}

/// RFC 7252 §5.5.2: a diagnostic payload in an error response, human readable.
fn with_diagnostic(mut p: Packet, text: &str) -> Packet {
    let mut t = text.as_bytes().to_vec();
    t.truncate(256);
    p.payload = t;
    p
}

/// 16 hex digits of randomness: unguessable enough that a device cannot update another's
/// registration by trying ids.
fn new_registration_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
