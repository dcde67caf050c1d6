//! Client-side Observe (RFC 7641): registering an observation, matching
//! notifications by (peer, token), ordering them (§3.4) and ending them
//! (§3.2, §3.6). The server side (sending notifications) is not here.

use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};

use super::endpoint::{later, Endpoint, OutRequest, Token};
use super::wire::{empty, MsgType};
use super::{CoapError, Event, Peer, RequestId};

/// RFC 7641 §3.4: a notification arriving more than 128 seconds after the
/// last delivered one is fresh whatever its sequence number.
const REORDER_WINDOW: Duration = Duration::from_secs(128);

/// An established observation: the registration's first response carried
/// an Observe option (RFC 7641 §3.2).
pub(super) struct Observation {
    pub peer: Peer,
    pub token: Token,
    /// Observe value of the last delivered notification (or of the first
    /// response) and when it arrived, for the §3.4 freshness rule; `None`
    /// for an observation restored after a restart, whose next notification
    /// is fresh whatever its number.
    pub last: Option<(u32, Instant)>,
}

/// RFC 7641 §3.4: is notification `(v2, t2)` newer than `(v1, t1)`? Observe
/// values are 24-bit serial numbers; after 128 s any value is accepted.
pub(super) fn is_fresh(v1: u32, t1: Instant, v2: u32, t2: Instant) -> bool {
    const HALF: u32 = 1 << 23;
    (v1 < v2 && v2 - v1 < HALF) || (v1 > v2 && v1 - v2 > HALF) || t2 > later(t1, REORDER_WINDOW)
}

/// A 2.xx code (RFC 7641 §3.2: only those keep an observation alive).
fn is_success(packet: &Packet) -> bool {
    u8::from(packet.header.code) >> 5 == 2
}

/// The Observe option of `packet`: `None` if absent, `Some(None)` if its
/// value is longer than the 3 bytes RFC 7641 §2 allows.
fn observe_value(packet: &Packet) -> Option<Option<u32>> {
    let value = packet.get_option(CoapOption::Observe)?.front()?;
    if value.len() > 3 {
        return Some(None);
    }
    Some(Some(
        value.iter().fold(0, |acc, b| acc << 8 | u32::from(*b)),
    ))
}

impl Endpoint {
    /// Like [`Endpoint::send_request`], but registers an observation: sets
    /// Observe=0 on the GET or FETCH (RFC 7641 §3.1). The first response is
    /// an `Event::Response`; if it is a 2.xx carrying Observe, the token
    /// stays registered and later notifications become
    /// `Event::Notification`s (§3.2). Fails with `TooManyObservations` once
    /// `max_observations` are registered or registering.
    pub fn send_observe(
        &mut self,
        now: Instant,
        peer: Peer,
        mut request: Packet,
    ) -> Result<RequestId, CoapError> {
        let limit = self.config.max_observations;
        if self.observations.len() + self.observe_pending >= limit {
            return Err(CoapError::TooManyObservations { limit });
        }
        match request.header.code {
            MessageClass::Request(RequestType::Get | RequestType::Fetch) => {}
            _ => return Err(CoapError::NotObservable(request.header.get_code())),
        }
        request.set_observe_value(0);
        let id = self.send_request(now, peer, request)?;
        if let Some(req) = self.requests.get_mut(&id) {
            req.observe = true;
            self.observe_pending += 1;
        }
        Ok(id)
    }

    /// Forget an observation, or the pending registration of one (whose
    /// response then arrives as a plain `Response`). The next notification
    /// gets RST (CON) or is ignored (NON), which cancels the observation at
    /// the server (RFC 7641 §3.6, reactive cancellation). Returns false if
    /// `request` is neither.
    pub fn forget_observation(&mut self, request: RequestId) -> bool {
        if let Some(obs) = self.observations.remove(&request) {
            self.obs_by_token.remove(&(obs.peer, obs.token));
            return true;
        }
        match self.requests.get_mut(&request) {
            Some(req) if req.observe => {
                req.observe = false;
                self.observe_pending -= 1;
                true
            }
            _ => false,
        }
    }

    /// Re-establishes an observation that an earlier run of this process (or
    /// another node) registered with `token` at `peer`, so the notifications
    /// the peer keeps sending are delivered again (persisted observations,
    /// as Leshan restores them after a restart). `None` when `token` is not
    /// one of ours (8 bytes), is already in use towards `peer`, or the
    /// observation cap is reached.
    pub fn restore_observation(&mut self, peer: Peer, token: &[u8]) -> Option<RequestId> {
        let token = Token::try_from(token).ok()?;
        let key = (peer, token);
        let full = self.observations.len() + self.observe_pending >= self.config.max_observations;
        if full || self.obs_by_token.contains_key(&key) || self.req_by_token.contains_key(&key) {
            return None;
        }
        let id = RequestId(self.fresh_id());
        self.obs_by_token.insert(key, id);
        let last = None;
        self.observations
            .insert(id, Observation { peer, token, last });
        Some(id)
    }

    /// Notifications of observation `request` now come from `peer` (the
    /// device's address changed, e.g. a NAT rebinding reported by an Update).
    pub fn move_observation(&mut self, request: RequestId, peer: Peer) -> bool {
        let Some(obs) = self.observations.get_mut(&request) else {
            return false;
        };
        if self.obs_by_token.contains_key(&(peer, obs.token)) {
            return false;
        }
        self.obs_by_token.remove(&(obs.peer, obs.token));
        obs.peer = peer;
        self.obs_by_token.insert((peer, obs.token), request);
        true
    }

    /// Established observations (not counting registrations in flight).
    pub fn observations(&self) -> usize {
        self.observations.len()
    }

    pub(super) fn observation_for(&self, peer: Peer, token: &[u8]) -> Option<RequestId> {
        let token = Token::try_from(token).ok()?;
        self.obs_by_token.get(&(peer, token)).copied()
    }

    /// The first response to a `send_observe` request (already removed
    /// from the pending requests): a success code with an Observe option
    /// means the server added us to its list of observers (RFC 7641 §3.2);
    /// otherwise it is a one-off response and the token is forgotten.
    pub(super) fn maybe_observe(
        &mut self,
        now: Instant,
        id: RequestId,
        req: Option<OutRequest>,
        response: &Packet,
    ) {
        let Some(req) = req.filter(|r| r.observe) else {
            return;
        };
        let success = is_success(response);
        if let (true, Some(Some(seq))) = (success, observe_value(response)) {
            let (peer, token) = (req.peer, req.token);
            self.obs_by_token.insert((peer, token), id);
            let last = Some((seq, now));
            self.observations
                .insert(id, Observation { peer, token, last });
        }
    }

    /// A CON/NON response matching an observation's token (RFC 7641 §3.2),
    /// not a duplicate. CON is ACKed and remembered for duplicate detection
    /// like any separate response. An error code or a missing Observe
    /// option ends the observation; a stale sequence number is dropped
    /// (§3.4, reported as `Rejected`); a malformed Observe value is
    /// rejected (RST for CON, which ends it at the server too, §3.6).
    pub(super) fn on_notification(
        &mut self,
        now: Instant,
        peer: Peer,
        con: bool,
        mid: u16,
        request: RequestId,
        response: Packet,
    ) {
        let observe = observe_value(&response);
        if observe == Some(None) {
            self.forget_observation(request);
            if con {
                self.send(peer, empty(MsgType::Rst, mid));
            }
            return self.reject(peer, "notification with an over-long Observe value");
        }
        self.ack_response(now, peer, mid, con);

        let sequence = observe.flatten();
        let success = is_success(&response);
        match sequence.filter(|_| success) {
            Some(seq) => {
                let Some(obs) = self.observations.get_mut(&request) else {
                    return;
                };
                if let Some((v1, t1)) = obs.last {
                    if !is_fresh(v1, t1, seq, now) {
                        let why = format!("stale notification (Observe {seq} after {v1}), dropped");
                        return self.reject(peer, why);
                    }
                }
                obs.last = Some((seq, now));
            }
            None => {
                self.forget_observation(request);
            }
        }
        self.events.push_back(Event::Notification {
            request,
            peer,
            response,
            sequence,
        });
    }
}
