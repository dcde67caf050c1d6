//! Information reporting (LwM2M TS 1.1 §6.4, RFC 7641): the observations this node holds, what
//! becomes of each notification, and their end.
//!
//! An observation is either a **stream** (a gateway's Observe call: notifications go back on the
//! call's reply subject while the call lasts) or **durable** (CreateObservation: stored in
//! Postgres with its token, re-established after a restart, every notification published to
//! JetStream `LWM2M_NOTIFY`). The CoAP layer matches notifications by (peer, token), so one from
//! another address than the registration's is not accepted (it gets RST).

pub mod notification;
pub mod publish;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use coap_lite::Packet;
use lwm2m_core::coap::RequestId;
use lwm2m_core::content::ModelRegistry;
use lwm2m_core::lwm2m::composite::composite_format;
use lwm2m_core::lwm2m::read::preferred_format;
use lwm2m_core::lwm2m::report::{notification_records, observe_request};
use lwm2m_proto::v1::bus::{error, result, Result as BusResult};
use lwm2m_proto::v1::{
    notification::Kind, CreateObservationRequest, CreateObservationResponse,
    DeleteObservationResponse, Notification, Observation as ObservationProto, ObserveRequest,
};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ops::{
    bad_request, declared, failure, format_number, ok, op_error, parse_path, read_error,
};
use crate::registry::{Registry, Target};
use crate::store::observations::{self as rows, ObservationRow};
use crate::udp::{CoapHandle, Observed};
pub use publish::Publisher;
use table::{Active, Sink, Table};

/// Notifications a streaming call can have queued before the newest are dropped (a slow caller
/// loses values, never the node's memory; durable observations are the lossless path).
const STREAM_BUFFER: usize = 256;

/// What a streaming observation yields after its initial response.
#[derive(Debug)]
pub enum StreamItem {
    Notification(Notification),
    /// The observation ended (the device ended it, or registered again): the final Result.
    Ended(BusResult),
}

/// A streaming observation; `Observations::end` must be called when the call ends.
pub struct Stream {
    pub id: RequestId,
    pub initial: Notification,
    pub items: mpsc::Receiver<StreamItem>,
}

pub struct Observations {
    coap: CoapHandle,
    pool: PgPool,
    model: Arc<ModelRegistry>,
    registry: Arc<Registry>,
    publisher: Publisher,
    table: Table,
    /// These are the observations of devices registered over DTLS (`coap` is the DTLS driver).
    secure: bool,
}

/// An observation the device accepted.
struct Established {
    id: RequestId,
    token: Vec<u8>,
    paths: Vec<String>,
    initial: Notification,
}

impl Observations {
    pub fn new(
        coap: CoapHandle,
        pool: PgPool,
        model: Arc<ModelRegistry>,
        registry: Arc<Registry>,
        publisher: Publisher,
        secure: bool,
    ) -> Arc<Observations> {
        Arc::new(Observations {
            coap,
            pool,
            model,
            registry,
            publisher,
            table: Table::default(),
            secure,
        })
    }

    /// Observations held (streams and durable ones).
    pub fn held(&self) -> usize {
        self.table.len()
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn model(&self) -> &ModelRegistry {
        &self.model
    }

    /// Observes for a gateway's streaming call.
    pub async fn start_stream(
        &self,
        endpoint: &str,
        t: &Target,
        req: &ObserveRequest,
    ) -> Result<Stream, BusResult> {
        let est = self
            .establish(endpoint, t, &req.paths, req.content_format, "")
            .await?;
        let (tx, items) = mpsc::channel(STREAM_BUFFER);
        let active = Active::new(endpoint, &t.reg_id, est.paths, Sink::Stream(tx));
        if !self.table.insert(est.id, active) {
            self.coap.forget(est.id).await;
            return Err(gone(endpoint));
        }
        Ok(Stream {
            id: est.id,
            initial: est.initial,
            items,
        })
    }

    /// Ends a streaming observation: the device's next notification gets RST (RFC 7641 §3.6).
    pub async fn end(&self, id: RequestId) {
        self.table.remove(id);
        self.coap.forget(id).await;
    }

    /// CreateObservation: observes, stores the observation, publishes the initial response.
    pub async fn create_durable(
        &self,
        endpoint: &str,
        t: &Target,
        req: &CreateObservationRequest,
    ) -> BusResult {
        let obs_id = format!("{:032x}", rand::random::<u128>());
        let est = match self
            .establish(endpoint, t, &req.paths, req.content_format, &obs_id)
            .await
        {
            Ok(e) => e,
            Err(r) => return r,
        };
        let row = ObservationRow {
            id: obs_id.clone(),
            endpoint: endpoint.to_string(),
            reg_id: t.reg_id.clone(),
            paths: est.paths.clone(),
            content_format: req.content_format as i32,
            token: est.token,
            created_at: chrono::Utc::now(),
        };
        let stored = match rows::insert_observation(&self.pool, &row).await {
            Ok(stored) => stored,
            Err(e) => {
                self.coap.forget(est.id).await;
                return failure(
                    String::new(),
                    error::Kind::Unavailable,
                    format!("observation store: {e}"),
                );
            }
        };
        if !stored {
            self.coap.forget(est.id).await;
            return gone(endpoint);
        }
        let durable = Sink::Durable { id: obs_id.clone() };
        self.table.insert(
            est.id,
            Active::new(endpoint, &t.reg_id, est.paths.clone(), durable),
        );
        let mut initial = est.initial;
        if let Err(e) = self.publisher.publish(&initial) {
            tracing::warn!(error = %e, "initial notification not published");
        }
        initial.sequence = 1;
        let code = initial.coap_code.clone();
        tracing::info!(observation = %obs_id, paths = ?est.paths, "durable observation created");
        ok(
            code.clone(),
            result::Response::CreateObservation(CreateObservationResponse {
                observation: Some(observation_proto(&row)),
                initial: Some(initial),
                coap_code: code,
            }),
        )
    }

    /// DeleteObservation: forgets the token (the device's next notification gets RST) and
    /// removes the row.
    pub async fn delete_durable(&self, obs_id: &str) -> BusResult {
        if let Some(id) = self.table.durable(obs_id) {
            self.end(id).await;
        }
        match rows::delete_observation(&self.pool, obs_id).await {
            Ok(true) => {
                tracing::info!(observation = %obs_id, "durable observation deleted");
                ok(
                    String::new(),
                    result::Response::DeleteObservation(DeleteObservationResponse {}),
                )
            }
            Ok(false) => failure(
                String::new(),
                error::Kind::NotFound,
                format!("no observation {obs_id}"),
            ),
            Err(e) => failure(
                String::new(),
                error::Kind::Unavailable,
                format!("observation store: {e}"),
            ),
        }
    }

    /// A new registration (or a de-registration) of `endpoint` ends its observations
    /// (TS 1.1 §6.2.1); the store drops the durable rows in the same transaction.
    pub async fn end_endpoint(&self, endpoint: &str, why: &str) {
        for (id, sink) in self.table.remove_endpoint(endpoint) {
            if let Sink::Stream(tx) = sink {
                let end = failure(
                    String::new(),
                    error::Kind::FailedPrecondition,
                    format!("{endpoint}: {why}"),
                );
                let _ = tx.try_send(StreamItem::Ended(end));
            }
            self.coap.forget(id).await;
        }
    }

    /// The device now talks from `peer` (an Update from a new address): its notifications will.
    pub async fn moved(&self, endpoint: &str, peer: SocketAddr) {
        for id in self.table.of_endpoint(endpoint) {
            self.coap.move_observation(id, peer).await;
        }
    }

    /// Re-establishes stored observations of the registrations this node owns (all at start;
    /// one endpoint's when it takes the endpoint over from another node).
    pub async fn restore(&self, endpoint: Option<&str>) -> usize {
        let found = match rows::restorable_observations(
            &self.pool,
            self.registry.node(),
            endpoint,
            self.secure,
        )
        .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load stored observations");
                return 0;
            }
        };
        let mut restored = 0;
        for o in found {
            if self.table.durable(&o.id).is_some() {
                continue;
            }
            let Ok(peer) = o.peer_addr.parse::<SocketAddr>() else {
                continue;
            };
            match self.coap.restore_observation(peer, o.token.clone()).await {
                Some(id) => {
                    let sink = Sink::Durable { id: o.id.clone() };
                    self.table
                        .insert(id, Active::new(&o.endpoint, &o.reg_id, o.paths, sink));
                    restored += 1;
                }
                None => tracing::warn!(observation = %o.id, "stored observation not restored"),
            }
        }
        restored
    }

    /// Serves the driver's observe traffic until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        mut observed: mpsc::Receiver<Observed>,
        shutdown: CancellationToken,
    ) {
        loop {
            let o = tokio::select! {
                _ = shutdown.cancelled() => return,
                o = observed.recv() => match o { Some(o) => o, None => return },
            };
            match o {
                Observed::Notification {
                    request,
                    peer,
                    response,
                    sequence,
                } => {
                    let span = tracing::debug_span!("notification", %peer, endpoint = tracing::field::Empty);
                    self.notified(request, peer, response, sequence)
                        .instrument(span)
                        .await
                }
                Observed::ObserverLost { peer, .. } => {
                    tracing::debug!(%peer, "a peer stopped observing this node")
                }
            }
        }
    }

    async fn notified(
        &self,
        id: RequestId,
        peer: SocketAddr,
        response: Packet,
        sequence: Option<u32>,
    ) {
        let Some(view) = self.table.view(id) else {
            tracing::debug!(%peer, "notification for an observation that just ended");
            return;
        };
        let info = &view.info;
        tracing::Span::current().record("endpoint", info.endpoint.as_str());
        self.registry.touch(&info.endpoint);
        let decoded = notification_records(&info.parsed, &response, self.model.as_ref());
        let ended = sequence.is_none() || decoded.is_err();
        let origin = notification::Origin {
            kind: Kind::Observe,
            endpoint: &info.endpoint,
            reg_id: &info.reg_id,
            observation_id: info.observation_id(),
            paths: &info.paths,
            node: self.registry.node(),
        };
        let item = match decoded {
            Ok((code, cf, records)) => {
                let mut n =
                    notification::build(&origin, SystemTime::now(), code, cf, sequence, &records);
                n.sequence = view.sequence;
                Some(n)
            }
            Err(e) => {
                tracing::info!(error = %e, "device ended the observation");
                None
            }
        };
        match (&info.sink, item) {
            (Sink::Stream(tx), Some(n)) => {
                if tx.try_send(StreamItem::Notification(n)).is_err() {
                    tracing::debug!("stream caller is slow, notification dropped");
                }
            }
            (Sink::Durable { .. }, Some(n)) => {
                if let Err(e) = self.publisher.publish(&n) {
                    tracing::warn!(error = %e, "notification not published");
                }
            }
            _ => {}
        }
        if ended {
            self.table.remove(id);
            match &info.sink {
                Sink::Stream(tx) => {
                    let code = response.header.code.to_string();
                    let end = failure(
                        code,
                        error::Kind::DeviceError,
                        "the device ended the observation".into(),
                    );
                    let _ = tx.try_send(StreamItem::Ended(end));
                }
                Sink::Durable { id: obs_id } => {
                    tracing::info!(observation = %obs_id, "device ended a durable observation; removed");
                    let _ = rows::delete_observation(&self.pool, obs_id).await;
                }
            }
        }
    }

    /// Sends the Observe and checks the initial response (shared by streams and durable ones).
    async fn establish(
        &self,
        endpoint: &str,
        t: &Target,
        paths: &[String],
        content_format: u32,
        observation_id: &str,
    ) -> Result<Established, BusResult> {
        let parsed = paths
            .iter()
            .map(|p| parse_path(p))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err(bad_request("Observe needs at least one path".into()));
        }
        let requested = match content_format {
            0 => None,
            cf => Some(declared(t, format_number(cf)?)?),
        };
        let accept = requested.or_else(|| preferred_format(&t.content_formats));
        let composite = composite_format(requested, &t.content_formats).map_err(op_error)?;
        let request =
            observe_request(&t.root_path, &parsed, accept, composite).map_err(op_error)?;
        let (id, response) = self.coap.observe(t.peer, request).await.map_err(|e| {
            failure(
                String::new(),
                crate::ops::request_error_kind(&e),
                e.to_string(),
            )
        })?;
        let code = response.header.code.to_string();
        let (code, cf, records) =
            match notification_records(&parsed, &response, self.model.as_ref()) {
                Ok(decoded) => decoded,
                Err(e) => {
                    // A 2.05 with Observe registered the token even if its content is bad.
                    self.coap.forget(id).await;
                    return Err(read_error(&code, e));
                }
            };
        let Some(Ok(seq)) = response.get_observe_value() else {
            self.coap.forget(id).await;
            return Err(failure(
                code,
                error::Kind::FailedPrecondition,
                "the device answered without Observe: it does not accept the observation".into(),
            ));
        };
        let paths: Vec<String> = parsed.iter().map(|p| p.to_string()).collect();
        let origin = notification::Origin {
            kind: Kind::Observe,
            endpoint,
            reg_id: &t.reg_id,
            observation_id,
            paths: &paths,
            node: self.registry.node(),
        };
        let mut initial =
            notification::build(&origin, SystemTime::now(), code, cf, Some(seq), &records);
        initial.sequence = 1;
        Ok(Established {
            id,
            token: response.get_token().to_vec(),
            paths,
            initial,
        })
    }
}

fn gone(endpoint: &str) -> BusResult {
    failure(
        String::new(),
        error::Kind::FailedPrecondition,
        format!("{endpoint}: the registration changed while the observation was set up"),
    )
}

pub fn observation_proto(row: &ObservationRow) -> ObservationProto {
    ObservationProto {
        id: row.id.clone(),
        endpoint: row.endpoint.clone(),
        registration_id: row.reg_id.clone(),
        paths: row.paths.clone(),
        content_format: row.content_format as u32,
        created_at: Some(prost_types::Timestamp {
            seconds: row.created_at.timestamp(),
            nanos: row.created_at.timestamp_subsec_nanos() as i32,
        }),
    }
}
