//! CoAP message layer (RFC 7252), sans-IO.
//!
//! [`Endpoint`] implements the message sub-layer of RFC 7252 §4 plus the
//! request/response matching of §5.3.2: Confirmable retransmission with
//! exponential back-off, duplicate detection, piggy-backed and separate
//! responses, and Reset handling. It never performs I/O and never reads the
//! clock: the driver feeds it datagrams ([`Endpoint::handle_datagram`]) and
//! the current time, then drains [`Endpoint::poll_transmit`] and
//! [`Endpoint::poll_event`], and calls [`Endpoint::handle_timeout`] once
//! [`Endpoint::poll_timeout`] has passed (the quinn-proto pattern).
//!
//! Everything is keyed by the peer's socket address as well as by message ID
//! or token, because message IDs and tokens are only unique per endpoint pair
//! (RFC 7252 §4.4, §5.3.1).
//!
//! Client-side Observe (RFC 7641) lives in `observe.rs`: a request sent with
//! [`Endpoint::send_observe`] yields one `Response` and then a
//! `Notification` per fresh notification (§3.2–§3.4).
//!
//! The server side of Observe is [`Endpoint::notify`] (`notify.rs`): what a
//! device (our simulator) uses to send notifications.
//!
//! Not handled here: block-wise transfer (RFC 7959) and congestion control
//! beyond the retransmission back-off (NSTART is the caller's business;
//! `max_pending_requests` is a global cap).

pub mod block;
mod endpoint;
mod inbound;
mod notify;
mod observe;
mod outbound;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_observe;
#[cfg(test)]
mod tests_timing;

use std::time::Duration;

pub use endpoint::Endpoint;

/// The remote side of a CoAP exchange: over UDP, its socket address.
pub type Peer = std::net::SocketAddr;

/// Transmission parameters (RFC 7252 §4.8, §4.8.2).
#[derive(Debug, Clone)]
pub struct Config {
    /// Initial retransmission timeout of a Confirmable message (ACK_TIMEOUT).
    pub ack_timeout: Duration,
    /// The initial timeout is drawn uniformly from
    /// `[ack_timeout, ack_timeout * ack_random_factor]` (ACK_RANDOM_FACTOR) so
    /// that many clients started together do not retransmit in lockstep.
    pub ack_random_factor: f64,
    /// Retransmissions after the first transmission (MAX_RETRANSMIT).
    pub max_retransmit: u32,
    /// How long a Confirmable message's (peer, message ID) and the response
    /// cached for it are remembered for duplicate detection, and how long a
    /// message ID is not reused towards the same peer (EXCHANGE_LIFETIME).
    pub exchange_lifetime: Duration,
    /// The same for Non-confirmable messages (NON_LIFETIME).
    pub non_lifetime: Duration,
    /// Cap on our outbound requests in flight; `send_request` fails beyond it.
    pub max_pending_requests: usize,
    /// Cap on observations (established plus registering) of our own
    /// (RFC 7641 §3); `send_observe` fails beyond it.
    pub max_observations: usize,
}

impl Default for Config {
    /// The RFC 7252 §4.8 defaults; lifetimes are the derived values of
    /// §4.8.2 (EXCHANGE_LIFETIME 247 s, NON_LIFETIME 145 s).
    fn default() -> Self {
        Config {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            exchange_lifetime: Duration::from_secs(247),
            non_lifetime: Duration::from_secs(145),
            max_pending_requests: 1024,
            max_observations: 100_000,
        }
    }
}

/// An inbound request awaiting our response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeId(pub u64);

/// One of our outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What the endpoint reports to its owner.
#[derive(Debug)]
pub enum Event {
    /// A new (non-duplicate) request from a peer. Answer it with
    /// [`Endpoint::respond`].
    Request {
        exchange: ExchangeId,
        peer: Peer,
        request: coap_lite::Packet,
    },
    /// The response to one of our requests (piggy-backed in an ACK, or a
    /// separate CON/NON response, which the layer ACKs itself).
    Response {
        request: RequestId,
        peer: Peer,
        response: coap_lite::Packet,
    },
    /// A later notification for an observation registered with
    /// [`Endpoint::send_observe`] (RFC 7641 §3.2); CON ones are already
    /// ACKed. `sequence` is the Observe value; a notification with an error
    /// code or without Observe has ended the observation (§3.2).
    Notification {
        request: RequestId,
        peer: Peer,
        response: coap_lite::Packet,
        sequence: Option<u32>,
    },
    /// A peer observing us reset one of our notifications, or never acknowledged a CON one
    /// (RFC 7641 §3.6, §4.5): it no longer observes `token`. Sent by [`Endpoint::notify`].
    ObserverLost { peer: Peer, token: Vec<u8> },
    /// Our request ended without a response.
    RequestFailed {
        request: RequestId,
        peer: Peer,
        reason: FailReason,
    },
    /// A datagram we refused (malformed, unexpected); for a log line. The
    /// layer already sent RST where RFC 7252 says so.
    Rejected { peer: Peer, reason: String },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// MAX_RETRANSMIT retransmissions went unacknowledged, or an empty ACK
    /// arrived but no separate response within EXCHANGE_LIFETIME.
    Timeout,
    /// The peer answered with a Reset message (RFC 7252 §4.2).
    Reset,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// Errors of the CoAP layer's API (never of inbound bytes, which are reported
/// as [`Event::Rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum CoapError {
    /// `max_pending_requests` requests are already in flight.
    #[error("too many requests in flight (limit {limit})")]
    TooManyPending { limit: usize },
    /// The packet passed to `send_request` does not carry a request code.
    #[error("not a request code: {0}")]
    NotARequest(String),
    /// `max_observations` observations are already registered or registering.
    #[error("too many observations (limit {limit})")]
    TooManyObservations { limit: usize },
    /// `send_observe` needs a GET or FETCH (RFC 7641 §2, RFC 8132 §2.4).
    #[error("cannot observe with request code {0}")]
    NotObservable(String),
    /// Every message ID towards this peer is in use (RFC 7252 §4.4 forbids
    /// reusing one within EXCHANGE_LIFETIME).
    #[error("no free message ID towards this peer")]
    MessageIdsExhausted,
    /// The packet could not be serialised (e.g. larger than the size limit).
    #[error("cannot encode CoAP message: {0}")]
    Encode(#[from] coap_lite::error::MessageError),
}
