//! Routed requests: the node side of the request contract (ARCHITECTURE.md).
//!
//! A RouteRequest for an endpoint this node owns is acknowledged (`SENT`, or `QUEUED` at once for
//! a sleeping device), the CoAP request goes to the device and the Result follows on the same
//! reply subject. A Result ready within ACK_GRACE is sent alone and stands for the Ack. A Cancel
//! with the call's ticket, or the call's deadline, drops the CoAP request, which stops
//! retransmission.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use lwm2m_core::content::ModelRegistry;
use lwm2m_proto::subjects::CANCEL_ALL;
use lwm2m_proto::v1::bus::{
    ack, error, nack, route_reply, route_request, Ack, Cancel, Error as BusError, Nack,
    Result as BusResult, RouteReply, RouteRequest,
};
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::observe::{Observations, Stream, StreamItem};
use crate::registry::{Registry, Target};
use crate::udp::CoapHandle;

/// How a routed operation turned out.
enum Outcome {
    /// One Result, the end of the call.
    Done(BusResult),
    /// A streaming observation: its initial response, then notifications until the call ends;
    /// with the observations (plain or DTLS side) that hold it.
    Streaming(Stream, Arc<Observations>),
}

/// Early cancels remembered at most, and for how long.
const EARLY_CANCELS: usize = 10_000;
const EARLY_CANCEL_TTL: Duration = Duration::from_secs(30);

/// How long a sent request's Ack waits for its Result, which then stands for the Ack: well
/// under any gateway's ack timeout, and longer than a read of a device on a fast link takes.
const ACK_GRACE: Duration = Duration::from_millis(2);

/// Routed requests handled at once; beyond this the node nacks OVERLOADED.
const MAX_IN_FLIGHT: usize = 10_000;

/// The DTLS side of a node: its CoAP driver and its transport.
#[derive(Clone)]
pub struct SecureCoap {
    pub coap: CoapHandle,
    pub dtls: crate::dtls::DtlsHandle,
    /// The observations of devices reached over DTLS (request ids are per CoAP driver).
    pub observations: Arc<Observations>,
}

pub struct Router {
    pub registry: Arc<Registry>,
    pub coap: CoapHandle,
    /// Devices registered over DTLS are reached through this (`None`: DTLS is off).
    pub secure: Option<SecureCoap>,
    pub client: async_nats::Client,
    limits: crate::ops::Limits,
    /// Object definitions the operations type values with.
    model: Arc<ModelRegistry>,
    /// Heartbeats of the gateways that hold calls.
    leases: crate::leases::Leases,
    observations: Arc<Observations>,
    /// Cancels that arrived before their request, by ticket.
    early_cancels: Mutex<HashMap<String, std::time::Instant>>,
    /// Tickets of calls in progress → how to cancel them.
    calls: Mutex<HashMap<String, CancellationToken>>,
    slots: Arc<Semaphore>,
}

impl Router {
    pub fn new(
        registry: Arc<Registry>,
        coap: CoapHandle,
        secure: Option<SecureCoap>,
        client: async_nats::Client,
        limits: crate::ops::Limits,
        model: Arc<ModelRegistry>,
        leases: crate::leases::Leases,
        observations: Arc<Observations>,
    ) -> Arc<Router> {
        Arc::new(Router {
            registry,
            coap,
            secure,
            client,
            limits,
            model,
            leases,
            observations,
            calls: Mutex::new(HashMap::new()),
            early_cancels: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Subscribes to this node's routed requests (`lwm2m.v1.node.<node>.req`) and to every
    /// cancel. Done once the node is ready to serve: until then a gateway gets no responders and
    /// answers UNAVAILABLE at once, instead of the request waiting through the node's start.
    pub async fn subscribe(
        &self,
    ) -> Result<(async_nats::Subscriber, async_nats::Subscriber), async_nats::SubscribeError> {
        let cancels = self.client.subscribe(CANCEL_ALL).await?;
        let routed = self
            .client
            .subscribe(lwm2m_proto::subjects::node_requests(self.registry.node()))
            .await?;
        Ok((routed, cancels))
    }

    /// Serves routed requests and cancels (from [`Router::subscribe`]) until shutdown.
    pub async fn run(
        self: Arc<Self>,
        (mut routed, mut cancels): (async_nats::Subscriber, async_nats::Subscriber),
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(m) = routed.next() => {
                    let me = self.clone();
                    match self.slots.clone().try_acquire_owned() {
                        Ok(permit) => { tokio::spawn(async move { me.serve(m, permit).await; }); }
                        Err(_) => { tokio::spawn(async move { me.nack(&m, nack::Reason::Overloaded, "node overloaded").await; }); }
                    }
                }
                Some(m) = cancels.next() => {
                    if let Ok(c) = Cancel::decode(m.payload.as_ref()) {
                        // Under the calls lock, so a call registering right now either is found
                        // here or finds this cancel remembered (`register_call`).
                        let calls = self.lock();
                        match calls.get(&c.ticket) {
                            Some(token) => {
                                tracing::info!(ticket = %c.ticket, endpoint = %c.endpoint, "call cancelled by gateway");
                                token.cancel();
                            }
                            // The Cancel may overtake its request (a caller gone right after
                            // calling): remember it briefly. Every node sees every cancel, so
                            // the memory is bounded by age and size.
                            None => self.remember_cancel(c.ticket),
                        }
                        drop(calls);
                    }
                }
            }
        }
    }

    /// `permit`: this call's slot among the node's routed requests in progress.
    async fn serve(self: Arc<Self>, m: async_nats::Message, permit: OwnedSemaphorePermit) {
        let Some(reply_to) = m.reply.clone() else {
            return;
        };
        let req = match RouteRequest::decode(m.payload.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                return self
                    .nack(
                        &m,
                        nack::Reason::BadRequest,
                        &format!("undecodable RouteRequest: {e}"),
                    )
                    .await
            }
        };
        let span = tracing::info_span!("routed", ticket = %req.ticket, endpoint = %req.endpoint, node = %self.registry.node());
        async {
            let Some(target) = self.registry.get(&req.endpoint) else {
                return self.nack(&m, nack::Reason::NotOwner, "endpoint is not owned by this node").await;
            };
            // Queue mode: a bounded FIFO per device; requests wait (acked QUEUED) until it talks.
            // Every device has a FIFO: one request in flight at a time (NSTART = 1, RFC 7252
            // §4.7; small clients drop concurrent requests). Only queue-mode devices bound it.
            let queue = self.registry.queue(&req.endpoint);
            let slot = match queue.as_ref().filter(|_| target.queue_mode) {
                Some(q) => match q.slots.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        return self.nack(&m, nack::Reason::Overloaded, "too many requests are waiting for this sleeping device").await
                    }
                },
                None => None,
            };
            let asleep = target.queue_mode && !self.registry.is_awake(&req.endpoint, self.limits.awake_window);
            let Some(token) = self.register_call(&req.ticket) else {
                tracing::info!("call cancelled before it arrived; dropped");
                return;
            };
            // A queued request is acknowledged at once; a sent one after ACK_GRACE unless its
            // Result is ready by then and stands for the Ack (one bus message less per fast call).
            let mut acked = false;
            if asleep {
                tracing::info!("device asleep, request queued");
                self.ack(&reply_to, ack::State::Queued).await;
                acked = true;
            }
            let deadline = match req.timeout_ms {
                0 => deadline_from(req.deadline_unix_ms),
                ms => Duration::from_millis(ms),
            };
            let work = async {
                match &queue {
                    Some(q) => {
                        let _turn = q.turn.lock().await;
                        if target.queue_mode {
                            self.wait_awake(&req.endpoint, q).await;
                        }
                        // The device may have come back from another address.
                        let target = self.registry.get(&req.endpoint).unwrap_or(target);
                        self.execute(&req.endpoint, &target, req.operation.clone()).await
                    }
                    None => self.execute(&req.endpoint, &target, req.operation.clone()).await,
                }
            };
            tokio::pin!(work);
            let released = queue.as_ref().map(|q| q.released.clone()).unwrap_or_default();
            let lost = self.leases.lost(&req.gateway);
            tokio::pin!(lost);
            let expired = tokio::time::sleep(deadline);
            tokio::pin!(expired);
            let grace = tokio::time::sleep(ACK_GRACE);
            tokio::pin!(grace);
            let result = loop {
                tokio::select! {
                    r = &mut work => break Some(r),
                    _ = &mut grace, if !acked => {
                        self.ack(&reply_to, ack::State::Sent).await;
                        acked = true;
                    }
                    _ = token.cancelled() => break None,
                    _ = released.cancelled() => break Some(Outcome::Done(error_result(error::Kind::Unavailable, "the device moved to another node, or its registration ended, while the request was in progress"))),
                    _ = &mut lost => {
                        tracing::info!(gateway = %req.gateway, "gateway lost its lease, dropping the call");
                        break None;
                    }
                    _ = &mut expired => break Some(Outcome::Done(error_result(error::Kind::Timeout, if asleep { "deadline passed while the request waited for the sleeping device" } else { "deadline passed before the device answered" }))),
                }
            };
            drop(slot);
            match result {
                Some(Outcome::Done(result)) => {
                    self.reply(&reply_to, route_reply::Reply::Result(result)).await;
                }
                Some(Outcome::Streaming(stream, obs)) => {
                    // A stream lasts as long as its caller wants: it must not hold one of the
                    // slots that bound requests in progress, or long-lived observations would
                    // starve every other call.
                    drop(permit);
                    self.stream(&reply_to, &req.gateway, stream, &obs, &token)
                        .await;
                }
                None => {}
            }
            self.lock().remove(&req.ticket);
        }
        .instrument(span)
        .await
    }

    /// Records a call in progress, unless its Cancel came first (then `None`). One step under
    /// the calls lock, which the cancel handler holds too, so no Cancel falls between the two.
    fn register_call(&self, ticket: &str) -> Option<CancellationToken> {
        let mut calls = self.lock();
        if self.was_cancelled(ticket) {
            return None;
        }
        let token = CancellationToken::new();
        calls.insert(ticket.to_string(), token.clone());
        Some(token)
    }

    fn remember_cancel(&self, ticket: String) {
        let mut early = self.early_cancels.lock().unwrap_or_else(|p| p.into_inner());
        if early.len() >= EARLY_CANCELS {
            early.retain(|_, at| at.elapsed() < EARLY_CANCEL_TTL);
            if early.len() >= EARLY_CANCELS {
                early.clear();
            }
        }
        early.insert(ticket, std::time::Instant::now());
    }

    fn was_cancelled(&self, ticket: &str) -> bool {
        let mut early = self.early_cancels.lock().unwrap_or_else(|p| p.into_inner());
        early
            .remove(ticket)
            .is_some_and(|at| at.elapsed() < EARLY_CANCEL_TTL)
    }

    /// Returns once the queue-mode device is awake (it talked within the awake window).
    async fn wait_awake(&self, endpoint: &str, q: &crate::registry::DeviceQueue) {
        loop {
            let woken = q.wake.notified();
            tokio::pin!(woken);
            // Registered as a waiter before checking, so a wake-up in between is not lost.
            woken.as_mut().enable();
            if self.registry.is_awake(endpoint, self.limits.awake_window) {
                return;
            }
            woken.await;
        }
    }

    async fn execute(
        &self,
        endpoint: &str,
        target: &Target,
        op: Option<route_request::Operation>,
    ) -> Outcome {
        use route_request::Operation;
        let (coap, obs) = match (&target.psk_identity, &self.secure) {
            (None, _) => (&self.coap, &self.observations),
            (Some(identity), Some(secure)) => {
                // With no association (e.g. after a restart) the transport handshakes as client
                // with this identity, as Leshan does.
                secure.dtls.set_peer(target.peer, identity.clone(), None);
                (&secure.coap, &secure.observations)
            }
            (Some(_), None) => {
                return Outcome::Done(error_result(
                    error::Kind::Unavailable,
                    "the device registered over DTLS and this node has DTLS off",
                ))
            }
        };
        Outcome::Done(match op {
            Some(Operation::Observe(o)) => {
                return match obs.start_stream(endpoint, target, &o).await {
                    Ok(stream) => Outcome::Streaming(stream, obs.clone()),
                    Err(r) => Outcome::Done(r),
                }
            }
            Some(Operation::CreateObservation(c)) => obs.create_durable(endpoint, target, &c).await,
            Some(Operation::DeleteObservation(d)) => obs.delete_durable(&d.observation_id).await,
            Some(op) => crate::ops::execute(coap, target, op, &self.limits, &self.model).await,
            None => error_result(error::Kind::BadRequest, "no operation"),
        })
    }

    /// The life of a streaming observation after its initial response: every notification goes
    /// to the caller's reply subject until the caller cancels, its gateway loses its lease, or
    /// the observation ends on the device. Then the device is told (RFC 7641 §3.6).
    async fn stream(
        &self,
        reply_to: &async_nats::Subject,
        gateway: &str,
        mut stream: Stream,
        obs: &Observations,
        token: &CancellationToken,
    ) {
        let initial = stream.initial.clone();
        let first = BusResult {
            coap_code: initial.coap_code.clone(),
            error: None,
            response: Some(lwm2m_proto::v1::bus::result::Response::Observe(initial)),
        };
        self.reply(reply_to, route_reply::Reply::Result(first))
            .await;
        tracing::info!("streaming observation started");
        // One lease future for the whole stream: `lost` renews the lease when it starts.
        let lost = self.leases.lost(gateway);
        tokio::pin!(lost);
        loop {
            tokio::select! {
                item = stream.items.recv() => match item {
                    Some(StreamItem::Notification(n)) => {
                        self.reply(reply_to, route_reply::Reply::Notification(n)).await;
                    }
                    Some(StreamItem::Ended(end)) => {
                        self.reply(reply_to, route_reply::Reply::Result(end)).await;
                        break;
                    }
                    None => break,
                },
                _ = token.cancelled() => break,
                _ = &mut lost => {
                    tracing::info!(%gateway, "gateway lost its lease, ending the observation");
                    break;
                }
            }
        }
        obs.end(stream.id).await;
        tracing::info!("streaming observation ended");
    }

    async fn ack(&self, reply_to: &async_nats::Subject, state: ack::State) {
        let ack = Ack {
            state: state as i32,
            node: self.registry.node().into(),
        };
        self.reply(reply_to, route_reply::Reply::Ack(ack)).await;
    }

    async fn nack(&self, m: &async_nats::Message, reason: nack::Reason, message: &str) {
        if let Some(reply_to) = &m.reply {
            let nack = Nack {
                reason: reason as i32,
                message: message.into(),
                node: self.registry.node().into(),
            };
            self.reply(reply_to, route_reply::Reply::Nack(nack)).await;
        }
    }

    async fn reply(&self, to: &async_nats::Subject, reply: route_reply::Reply) {
        let payload = Bytes::from(RouteReply { reply: Some(reply) }.encode_to_vec());
        if let Err(e) = self.client.publish(to.clone(), payload).await {
            tracing::warn!(error = %e, "cannot publish route reply");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn deadline_from(unix_ms: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    // No deadline given: the CoAP layer's own retransmission limit ends the request.
    if unix_ms <= 0 {
        return Duration::from_secs(3600);
    }
    Duration::from_millis(unix_ms.saturating_sub(now).max(0) as u64)
}

fn error_result(kind: error::Kind, message: &str) -> BusResult {
    BusResult {
        coap_code: String::new(),
        error: Some(BusError {
            kind: kind as i32,
            message: message.into(),
        }),
        response: None,
    }
}
