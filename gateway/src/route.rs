//! The gateway side of the request contract (ARCHITECTURE.md): find the owning node (owner
//! cache, `owners.rs`), publish a RouteRequest on that node's subject with a private reply inbox,
//! wait `ack_timeout` for its Ack, then for the Result until the call's deadline. A node that
//! answers NOT_OWNER, or a node nobody serves any more, sends the call back to Postgres for the
//! current owner. A call that ends any other way — deadline, caller gone — publishes a Cancel
//! from a drop guard, so the node stops retransmitting.

use std::time::Duration;

use bytes::Bytes;
use lwm2m_proto::subjects::{device_cancel, gateway_heartbeat, node_requests, TICKET_HEADER};
use lwm2m_proto::v1::bus::{
    nack, result, route_reply, route_request, Cancel, Result as BusResult, RouteReply, RouteRequest,
};
use lwm2m_proto::v1::Notification;
use prost::Message;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;
use tracing::Instrument;

use crate::owners::Owners;
use crate::replies::{CallReplies, Replies};

/// Replies a one-shot call can have queued (Ack, Result, and a few strays from other nodes).
const PER_CALL: usize = 8;
/// Notifications a streaming call buffers between the node and the caller.
const STREAM_BUFFER: usize = 256;
/// Owners tried per call: the cached one, then at most two more that Postgres names (ownership
/// moving while the call is made).
const OWNER_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct RouteClient {
    client: async_nats::Client,
    owners: Owners,
    ack_timeout: Duration,
    replies: Replies,
    /// This gateway's id in RouteRequests; its heartbeats keep its calls' leases.
    gateway: String,
}

impl RouteClient {
    /// `owner_cache`: endpoints whose owner the gateway remembers at most.
    pub async fn new(
        client: async_nats::Client,
        pool: PgPool,
        ack_timeout: Duration,
        owner_cache: usize,
    ) -> Result<RouteClient, async_nats::SubscribeError> {
        let replies = Replies::start(&client).await?;
        let owners = Owners::start(&client, pool, owner_cache).await?;
        let gateway = format!("gw-{:016x}", rand::random::<u64>());
        tokio::spawn(heartbeat(client.clone(), gateway.clone()));
        Ok(RouteClient {
            client,
            owners,
            ack_timeout,
            replies,
            gateway,
        })
    }

    /// Routes `operation` to the node that owns `endpoint` and returns its Result.
    pub async fn call(
        &self,
        endpoint: &str,
        operation: route_request::Operation,
        deadline: Instant,
    ) -> Result<BusResult, Status> {
        let ticket = format!("{:032x}", rand::random::<u128>());
        let span = tracing::info_span!("route", %ticket, %endpoint);
        self.call_with_ticket(endpoint, operation, deadline, ticket)
            .instrument(span)
            .await
    }

    async fn call_with_ticket(
        &self,
        endpoint: &str,
        operation: route_request::Operation,
        deadline: Instant,
        ticket: String,
    ) -> Result<BusResult, Status> {
        let mut call = self
            .open(endpoint, operation, deadline, ticket, PER_CALL)
            .await?;
        if let Some(r) = call.early.take() {
            call.guard.armed = false;
            return Ok(r);
        }
        // 2. Result from the device, until the deadline.
        loop {
            match tokio::time::timeout_at(deadline, call.replies.rx.recv()).await {
                Ok(Some(m)) => match decode(&m.payload)? {
                    route_reply::Reply::Result(r) => {
                        call.guard.armed = false;
                        return Ok(r);
                    }
                    _ => continue,
                },
                Ok(None) => return Err(closed(endpoint)),
                Err(_) => {
                    tracing::info!("deadline exceeded; cancelling on the node");
                    return Err(Status::deadline_exceeded(format!(
                        "{endpoint}: the device did not answer before the deadline"
                    )));
                }
            }
        }
    }

    /// Routes a streaming Observe: returns the initial notification (within `first_deadline`)
    /// and a receiver of the later ones. The stream ends with an error when the device ends the
    /// observation, or at `until` (the caller's deadline); dropping the receiver (the caller went
    /// away) publishes Cancel, and the node cancels the observation on the device.
    pub async fn observe(
        &self,
        endpoint: &str,
        operation: route_request::Operation,
        first_deadline: Instant,
        until: Option<Instant>,
    ) -> Result<(Notification, mpsc::Receiver<Result<Notification, Status>>), Status> {
        let ticket = format!("{:032x}", rand::random::<u128>());
        let span = tracing::info_span!("observe", %ticket, %endpoint);
        let mut call = self
            .open(endpoint, operation, first_deadline, ticket, STREAM_BUFFER)
            .instrument(span.clone())
            .await?;
        let first = match call.early.take() {
            Some(r) => r,
            None => loop {
                match tokio::time::timeout_at(first_deadline, call.replies.rx.recv()).await {
                    Ok(Some(m)) => match decode(&m.payload)? {
                        route_reply::Reply::Result(r) => break r,
                        _ => continue,
                    },
                    Ok(None) => return Err(closed(endpoint)),
                    Err(_) => {
                        return Err(Status::deadline_exceeded(format!(
                            "{endpoint}: the device did not answer the Observe before the deadline"
                        )))
                    }
                }
            },
        };
        if let Some(status) = crate::status::status_for_result(endpoint, &first) {
            call.guard.armed = false;
            return Err(status);
        }
        let Some(result::Response::Observe(initial)) = first.response else {
            call.guard.armed = false;
            return Err(Status::internal(format!(
                "{endpoint}: node answered with another operation's result"
            )));
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let endpoint = endpoint.to_string();
        tokio::spawn(
            async move {
                let mut call = call;
                let until = until.map(tokio::time::sleep_until);
                let expired = async {
                    match until {
                        Some(s) => s.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::pin!(expired);
                loop {
                    tokio::select! {
                        m = call.replies.rx.recv() => {
                            let Some(m) = m else { break };
                            match decode(&m.payload) {
                                Ok(route_reply::Reply::Notification(n)) => {
                                    if tx.send(Ok(n)).await.is_err() {
                                        break;
                                    }
                                }
                                Ok(route_reply::Reply::Result(r)) => {
                                    call.guard.armed = false;
                                    let status = crate::status::status_for_result(&endpoint, &r)
                                        .unwrap_or_else(|| Status::aborted(format!("{endpoint}: observation ended")));
                                    let _ = tx.send(Err(status)).await;
                                    break;
                                }
                                Ok(_) => continue,
                                Err(status) => {
                                    let _ = tx.send(Err(status)).await;
                                    break;
                                }
                            }
                        }
                        _ = tx.closed() => {
                            tracing::info!("caller left the observation; cancelling on the node");
                            break;
                        }
                        _ = &mut expired => {
                            let _ = tx.send(Err(Status::deadline_exceeded(format!("{endpoint}: the call's deadline ended the observation")))).await;
                            break;
                        }
                    }
                }
            }
            .instrument(span),
        );
        Ok((initial, rx))
    }

    /// Publishes the RouteRequest to the owner and waits for its Ack (step 1 of the contract).
    /// A Result that arrives instead (the node answered at once) is returned in `early`.
    async fn open(
        &self,
        endpoint: &str,
        operation: route_request::Operation,
        deadline: Instant,
        ticket: String,
        capacity: usize,
    ) -> Result<OpenCall, Status> {
        let replies = self.replies.register(&ticket, capacity);
        let mut request = RouteRequest {
            ticket: ticket.clone(),
            endpoint: endpoint.to_string(),
            deadline_unix_ms: unix_ms_at(deadline),
            operation: Some(operation),
            gateway: self.gateway.clone(),
            timeout_ms: 0,
        };
        let mut owner = self.lookup(endpoint, deadline, false).await?;
        // Armed while a node may hold the call (`try_owner`): then any exit but a Result tells
        // the node to stop.
        let guard = CancelGuard {
            client: self.client.clone(),
            endpoint: endpoint.to_string(),
            ticket,
            armed: false,
        };
        let mut call = OpenCall {
            replies,
            guard,
            early: None,
        };
        let mut tried: Vec<crate::owners::Node> = Vec::new();
        for _ in 0..OWNER_ATTEMPTS {
            let Some(node) = owner else {
                return Err(Status::not_found(format!("{endpoint}: not registered")));
            };
            if tried.contains(&node) {
                // Postgres names a node that already said no, or that nobody serves.
                break;
            }
            // Encoded per attempt: the time left shrinks with every owner tried.
            request.timeout_ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64;
            let payload = Bytes::from(request.encode_to_vec());
            match self
                .try_owner(endpoint, &node, &payload, &mut call, deadline)
                .await?
            {
                Tried::Accepted => return Ok(call),
                Tried::Refused => {
                    self.owners.forget(endpoint, &node);
                    tried.push(node);
                    owner = self.lookup(endpoint, deadline, true).await?;
                }
            }
        }
        let nodes: Vec<&str> = tried.iter().map(|n| &**n).collect();
        Err(Status::unavailable(format!(
            "{endpoint}: its owner node is not reachable or does not hold it (tried {})",
            nodes.join(", ")
        )))
    }

    /// The owner of `endpoint` (`fresh`: from Postgres, not the cache), within the call's
    /// deadline: a stalled database must not hold a call past it. `None`: not registered.
    async fn lookup(
        &self,
        endpoint: &str,
        deadline: Instant,
        fresh: bool,
    ) -> Result<Option<crate::owners::Node>, Status> {
        let lookup = async {
            match fresh {
                true => self.owners.refresh(endpoint).await,
                false => self.owners.resolve(endpoint).await,
            }
        };
        match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(owner)) => Ok(owner),
            Ok(Err(e)) => Err(Status::unavailable(format!(
                "{endpoint}: cannot look up the owner: {e}"
            ))),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "{endpoint}: deadline passed while looking up the owning node"
            ))),
        }
    }

    /// Sends the call to `node` and waits for its Ack: `Refused` if nobody serves that node or it
    /// does not own the endpoint (the caller asks Postgres again).
    async fn try_owner(
        &self,
        endpoint: &str,
        node: &str,
        payload: &Bytes,
        call: &mut OpenCall,
        deadline: Instant,
    ) -> Result<Tried, Status> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(TICKET_HEADER, call.guard.ticket.as_str());
        call.guard.armed = true;
        self.client
            .publish_with_reply_and_headers(
                node_requests(node),
                call.replies.subject.clone(),
                headers,
                payload.clone(),
            )
            .await
            .map_err(|e| unavailable(endpoint, e))?;

        let ack_deadline = Instant::now() + self.ack_timeout;
        loop {
            let m =
                match tokio::time::timeout_at(ack_deadline.min(deadline), call.replies.rx.recv())
                    .await
                {
                    Ok(Some(m)) => m,
                    Ok(None) => return Err(closed(endpoint)),
                    Err(_) if deadline <= ack_deadline => {
                        return Err(Status::deadline_exceeded(format!(
                            "{endpoint}: deadline passed before a node acknowledged"
                        )))
                    }
                    Err(_) => {
                        // The node may still be working on it: no retry, but ask Postgres anew
                        // next time.
                        tracing::info!(%node, "owner did not acknowledge within the ack timeout");
                        self.owners.forget(endpoint, node);
                        return Err(Status::unavailable(format!(
                        "{endpoint}: owner node {node} did not acknowledge within the ack timeout"
                    )));
                    }
                };
            if m.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                tracing::info!(%node, "owner node not reachable; asking the database");
                call.guard.armed = false;
                return Ok(Tried::Refused);
            }
            match decode(&m.payload)? {
                route_reply::Reply::Ack(_) => return Ok(Tried::Accepted),
                route_reply::Reply::Nack(n) => {
                    // The node did not take the call: nothing to cancel.
                    call.guard.armed = false;
                    return match nack::Reason::try_from(n.reason) {
                        Ok(nack::Reason::NotOwner) => {
                            tracing::info!(%node, "node does not own the endpoint; asking the database");
                            Ok(Tried::Refused)
                        }
                        Ok(nack::Reason::UnknownEndpoint) => {
                            Err(Status::not_found(format!("{endpoint}: not registered")))
                        }
                        Ok(nack::Reason::Overloaded) => Err(Status::resource_exhausted(format!(
                            "{endpoint}: node {} overloaded",
                            n.node
                        ))),
                        _ => Err(Status::invalid_argument(format!(
                            "{endpoint}: {}",
                            n.message
                        ))),
                    };
                }
                // A fast Result stands for the Ack. The guard stays armed: for a streaming call
                // this is only the initial response, and the caller decides.
                route_reply::Reply::Result(r) => {
                    call.early = Some(r);
                    return Ok(Tried::Accepted);
                }
                route_reply::Reply::Notification(_) => continue,
            }
        }
    }
}

/// How one owner took a call.
enum Tried {
    /// Acknowledged (or answered at once).
    Accepted,
    /// Nobody serves that node, or it does not own the endpoint.
    Refused,
}

/// Publishes this gateway's heartbeat every second while the connection lives; nodes drop the
/// calls of a gateway whose heartbeats stop (ARCHITECTURE.md, request contract 6).
async fn heartbeat(client: async_nats::Client, gateway: String) {
    let subject = gateway_heartbeat(&gateway);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = client.publish(subject.clone(), Bytes::new()).await {
            tracing::debug!(error = %e, "heartbeat not published");
        }
    }
}

fn decode(payload: &[u8]) -> Result<route_reply::Reply, Status> {
    RouteReply::decode(payload)
        .ok()
        .and_then(|r| r.reply)
        .ok_or_else(|| Status::internal("undecodable reply from node"))
}

fn unavailable(endpoint: &str, e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("{endpoint}: NATS: {e}"))
}

fn unix_ms_at(deadline: Instant) -> i64 {
    let left = deadline.saturating_duration_since(Instant::now());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now + left).as_millis() as i64
}

/// A published call, acknowledged by its node.
struct OpenCall {
    replies: CallReplies,
    guard: CancelGuard,
    /// The Result, when it came before (or instead of) the Ack.
    early: Option<BusResult>,
}

fn closed(endpoint: &str) -> Status {
    Status::unavailable(format!("{endpoint}: reply subscription closed"))
}

/// Publishes Cancel when a call ends without a Result: deadline, or the caller dropped the call
/// (tonic drops the handler future when the client goes away).
struct CancelGuard {
    client: async_nats::Client,
    endpoint: String,
    ticket: String,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let client = self.client.clone();
        let subject = device_cancel(&self.endpoint);
        let cancel = Cancel {
            ticket: std::mem::take(&mut self.ticket),
            endpoint: std::mem::take(&mut self.endpoint),
        };
        tracing::info!(ticket = %cancel.ticket, endpoint = %cancel.endpoint, "publishing cancel");
        tokio::spawn(async move {
            let _ = client
                .publish(subject, Bytes::from(cancel.encode_to_vec()))
                .await;
            let _ = client.flush().await;
        });
    }
}
