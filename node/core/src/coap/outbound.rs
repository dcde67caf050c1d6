//! Outbound messages: our requests and our responses to the peer's requests,
//! plus message-ID allocation (RFC 7252 §4.4) and the randomised initial
//! retransmission timeout (§4.2).

use std::time::{Duration, Instant};

use coap_lite::{MessageType, Packet};

use super::endpoint::{later, Endpoint, MidKey, OutRequest, Retransmit, Separate, Timer};
use super::wire::{code_kind, CodeKind};
use super::{CoapError, ExchangeId, Peer, RequestId};

/// Largest message we encode. RFC 7252 §4.6 wants messages to fit the path
/// MTU, but without block-wise transfer a larger LwM2M payload is better sent
/// (and IP-fragmented) than refused; 64 000 stays below the UDP maximum.
const MAX_MESSAGE_SIZE: usize = 64_000;

impl Endpoint {
    /// Answer an inbound request. `response` carries code, options and
    /// payload; the layer sets type, message ID and token. Piggy-backed in
    /// the ACK if the request was CON and no empty ACK was sent yet
    /// (RFC 7252 §5.2.1); otherwise a separate CON response with a new
    /// message ID, retransmitted until ACKed (§5.2.2); a NON request gets a
    /// NON response (§5.2.3). The encoded reply is cached for duplicates.
    ///
    /// Returns false for an unknown or already-answered exchange, and also —
    /// leaving the exchange open so the caller can send e.g. 5.00 instead —
    /// if `response` has no response code (2.xx–5.xx) or cannot be encoded.
    pub fn respond(&mut self, now: Instant, exchange: ExchangeId, mut response: Packet) -> bool {
        if code_kind(response.header.code.into()) != CodeKind::Response {
            return false;
        }
        let Some(&key) = self.exchanges.get(&exchange) else {
            return false;
        };
        let Some(entry) = self.inbound.get(&key) else {
            return false;
        };
        let (peer, con, piggyback) = (key.0, entry.con, entry.con && entry.reply.is_none());
        response.set_token(entry.token.clone());
        response.header.set_version(1);
        if piggyback {
            response.header.set_type(MessageType::Acknowledgement);
            response.header.message_id = key.1;
            let Ok(bytes) = response.to_bytes_with_limit(MAX_MESSAGE_SIZE) else {
                return false;
            };
            if let Some(entry) = self.inbound.get_mut(&key) {
                entry.reply = Some(bytes.clone());
            }
            self.send(peer, bytes);
        } else if !self.send_separate(now, peer, response, con, None) {
            return false;
        }
        self.exchanges.remove(&exchange);
        if let Some(entry) = self.inbound.get_mut(&key) {
            entry.exchange = None;
        }
        true
    }

    /// Sends a response outside an ACK — a separate response (RFC 7252 §5.2.2) or a
    /// notification (RFC 7641 §4.2) — with a fresh message ID, as CON (retransmitted until
    /// ACKed) or NON. `response` carries its token. `observer`: the observation's token, for a
    /// notification whose RST or missing ACK ends the observation. False if the message IDs
    /// towards `peer` are exhausted or it cannot be encoded.
    pub(super) fn send_separate(
        &mut self,
        now: Instant,
        peer: Peer,
        mut response: Packet,
        con: bool,
        observer: Option<Vec<u8>>,
    ) -> bool {
        let Some(mid) = self.find_free_mid(peer) else {
            return false;
        };
        let (ty, lifetime) = if con {
            (MessageType::Confirmable, self.config.exchange_lifetime)
        } else {
            (MessageType::NonConfirmable, self.config.non_lifetime)
        };
        response.header.set_version(1);
        response.header.set_type(ty);
        response.header.message_id = mid;
        let Ok(bytes) = response.to_bytes_with_limit(MAX_MESSAGE_SIZE) else {
            return false;
        };
        self.reserve_mid(now, (peer, mid), lifetime);
        if con {
            let timeout = self.initial_timeout();
            let deadline = later(now, timeout);
            let retx = Retransmit {
                bytes: bytes.clone(),
                count: 0,
                timeout,
            };
            let sep = Separate {
                retx,
                deadline,
                observer,
            };
            self.separate.insert((peer, mid), sep);
            self.timers.insert((deadline, Timer::Separate((peer, mid))));
        }
        self.send(peer, bytes);
        true
    }

    /// Send a CON request; the layer assigns message ID and token and
    /// retransmits with exponential back-off from a random initial timeout
    /// in `[ack_timeout, ack_timeout * ack_random_factor]` (RFC 7252 §4.2).
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        mut request: Packet,
    ) -> Result<RequestId, CoapError> {
        let limit = self.config.max_pending_requests;
        if self.requests.len() >= limit {
            return Err(CoapError::TooManyPending { limit });
        }
        if code_kind(request.header.code.into()) != CodeKind::Request {
            return Err(CoapError::NotARequest(request.header.get_code()));
        }
        let mid = self
            .find_free_mid(peer)
            .ok_or(CoapError::MessageIdsExhausted)?;
        let token = loop {
            let t = self.rng.next_u64().to_be_bytes();
            let key = (peer, t);
            if !self.req_by_token.contains_key(&key) && !self.obs_by_token.contains_key(&key) {
                break t;
            }
        };
        request.header.set_version(1);
        request.header.set_type(MessageType::Confirmable);
        request.header.message_id = mid;
        request.set_token(token.to_vec());
        let bytes = request.to_bytes_with_limit(MAX_MESSAGE_SIZE)?;

        self.reserve_mid(now, (peer, mid), self.config.exchange_lifetime);
        let id = RequestId(self.fresh_id());
        let timeout = self.initial_timeout();
        let deadline = later(now, timeout);
        let retx = Some(Retransmit {
            bytes: bytes.clone(),
            count: 0,
            timeout,
        });
        self.requests.insert(
            id,
            OutRequest {
                peer,
                mid,
                token,
                retx,
                deadline,
                observe: false,
            },
        );
        self.req_by_mid.insert((peer, mid), id);
        self.req_by_token.insert((peer, token), id);
        self.timers.insert((deadline, Timer::Request(id)));
        self.send(peer, bytes);
        Ok(id)
    }

    /// Stop retransmitting and forget the request. A response arriving later
    /// is treated as unknown: a separate CON response gets RST (§5.3.2).
    pub fn cancel_request(&mut self, request: RequestId) -> bool {
        self.finish_request(request).is_some()
    }

    /// Next message ID not used towards `peer` within its lifetime
    /// (RFC 7252 §4.4). One counter serves all peers, so a collision needs
    /// 65 536 messages to one peer inside EXCHANGE_LIFETIME.
    pub(super) fn find_free_mid(&mut self, peer: Peer) -> Option<u16> {
        for _ in 0..=u16::MAX as u32 {
            let mid = self.next_mid;
            self.next_mid = self.next_mid.wrapping_add(1);
            let key = (peer, mid);
            let busy = self.recent_mids.contains_key(&key)
                || self.req_by_mid.contains_key(&key)
                || self.separate.contains_key(&key);
            if !busy {
                return Some(mid);
            }
        }
        None
    }

    pub(super) fn reserve_mid(&mut self, now: Instant, key: MidKey, lifetime: Duration) {
        let until = later(now, lifetime);
        if let Some(old) = self.recent_mids.insert(key, until) {
            self.timers.remove(&(old, Timer::Mid(key)));
        }
        self.timers.insert((until, Timer::Mid(key)));
    }

    /// Uniform in `[ack_timeout, ack_timeout * ack_random_factor]`; a
    /// nonsensical factor (< 1, NaN) degrades to `ack_timeout`.
    pub(super) fn initial_timeout(&mut self) -> Duration {
        let f = self.config.ack_random_factor;
        let f = if f.is_finite() && f >= 1.0 { f } else { 1.0 };
        let scale = 1.0 + self.rng.next_f64() * (f - 1.0);
        let base = self.config.ack_timeout;
        Duration::try_from_secs_f64(base.as_secs_f64() * scale).unwrap_or(base)
    }
}
