//! The gateway side of the request contract (ARCHITECTURE.md): publish a RouteRequest on the
//! endpoint's subject with a private reply inbox, wait `ack_timeout` for the owning node's Ack,
//! then for the Result until the call's deadline. A call that ends any other way — deadline,
//! caller gone — publishes a Cancel from a drop guard, so the node stops retransmitting.

use std::time::Duration;

use bytes::Bytes;
use lwm2m_proto::subjects::{device_cancel, device_requests, gateway_heartbeat, TICKET_HEADER};
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

use crate::replies::{CallReplies, Replies};

/// Replies a one-shot call can have queued (Ack, Result, and a few strays from other nodes).
const PER_CALL: usize = 8;
/// Notifications a streaming call buffers between the node and the caller.
const STREAM_BUFFER: usize = 256;

#[derive(Clone)]
pub struct RouteClient {
    client: async_nats::Client,
    pool: PgPool,
    ack_timeout: Duration,
    replies: Replies,
    /// This gateway's id in RouteRequests; its heartbeats keep its calls' leases.
    gateway: String,
}

impl RouteClient {
    pub async fn new(
        client: async_nats::Client,
        pool: PgPool,
        ack_timeout: Duration,
    ) -> Result<RouteClient, async_nats::SubscribeError> {
        let replies = Replies::start(&client).await?;
        let gateway = format!("gw-{:016x}", rand::random::<u64>());
        tokio::spawn(heartbeat(client.clone(), gateway.clone()));
        Ok(RouteClient {
            client,
            pool,
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

    /// Publishes the RouteRequest and waits for the owner's Ack (step 1 of the contract). A
    /// Result that arrives instead (the node answered at once) is returned in `early`.
    async fn open(
        &self,
        endpoint: &str,
        operation: route_request::Operation,
        deadline: Instant,
        ticket: String,
        capacity: usize,
    ) -> Result<OpenCall, Status> {
        let replies = self.replies.register(&ticket, capacity);
        let inbox = replies.subject.clone();
        let deadline_unix_ms = unix_ms_at(deadline);
        let request = RouteRequest {
            ticket: ticket.clone(),
            endpoint: endpoint.to_string(),
            deadline_unix_ms,
            operation: Some(operation),
            gateway: self.gateway.clone(),
            timeout_ms: deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(TICKET_HEADER, ticket.as_str());
        // Armed before publishing: from here on, any exit but a Result tells the node to stop.
        let guard = CancelGuard {
            client: self.client.clone(),
            endpoint: endpoint.to_string(),
            ticket,
            armed: true,
        };
        let mut call = OpenCall {
            replies,
            guard,
            early: None,
        };
        self.client
            .publish_with_reply_and_headers(
                device_requests(endpoint),
                inbox,
                headers,
                Bytes::from(request.encode_to_vec()),
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
                        tracing::info!("no node acknowledged within the ack timeout");
                        return Err(self
                            .no_owner(
                                endpoint,
                                "no node acknowledged the request within the ack timeout",
                            )
                            .await);
                    }
                };
            if m.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                call.guard.armed = false;
                return Err(self.no_owner(endpoint, "no node owns the endpoint").await);
            }
            match decode(&m.payload)? {
                route_reply::Reply::Ack(_) => return Ok(call),
                route_reply::Reply::Nack(n) => match nack::Reason::try_from(n.reason) {
                    // Ownership is moving: the new owner answers too, keep waiting for it.
                    Ok(nack::Reason::NotOwner) => continue,
                    Ok(nack::Reason::UnknownEndpoint) => {
                        call.guard.armed = false;
                        return Err(Status::not_found(format!("{endpoint}: not registered")));
                    }
                    Ok(nack::Reason::Overloaded) => {
                        call.guard.armed = false;
                        return Err(Status::resource_exhausted(format!(
                            "{endpoint}: node {} overloaded",
                            n.node
                        )));
                    }
                    _ => {
                        call.guard.armed = false;
                        return Err(Status::invalid_argument(format!(
                            "{endpoint}: {}",
                            n.message
                        )));
                    }
                },
                route_reply::Reply::Result(r) => {
                    call.guard.armed = false;
                    call.early = Some(r);
                    return Ok(call);
                }
                route_reply::Reply::Notification(_) => continue,
            }
        }
    }

    /// No node answered: UNAVAILABLE if the endpoint is registered (its node is down), else NOT_FOUND.
    async fn no_owner(&self, endpoint: &str, why: &str) -> Status {
        match lwm2m_node::store::get_registration(&self.pool, endpoint).await {
            Ok(None) => Status::not_found(format!("{endpoint}: not registered")),
            Ok(Some(r)) => Status::unavailable(format!(
                "{endpoint}: {why} (owner node {} not reachable)",
                r.owner_node
            )),
            Err(_) => Status::unavailable(format!("{endpoint}: {why}")),
        }
    }
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
