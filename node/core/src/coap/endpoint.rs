//! The [`Endpoint`] state machine: its state, the polling API and timers.
//! Outbound messages are built in `outbound.rs`, inbound datagrams are
//! dispatched in `inbound.rs`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::observe::Observation;
use super::wire::{empty, MsgType, XorShift};
use super::{Config, Event, ExchangeId, FailReason, Peer, RequestId, Transmit};

/// Our tokens are always 8 bytes (RFC 7252 §5.3.1: enough randomness to
/// make spoofed responses hard to match).
pub(super) type Token = [u8; 8];

pub(super) type MidKey = (Peer, u16);

/// Every deadline lives in one ordered set so `poll_timeout` is O(log n).
/// Each entity stores its own deadline, and the `(deadline, Timer)` pair is
/// removed eagerly whenever the entity changes or goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// Retransmission or, after an empty ACK, the separate-response deadline.
    Request(RequestId),
    /// Retransmission of a separate CON response we sent.
    Separate(MidKey),
    /// Expiry of a duplicate-detection entry for a message we received.
    Inbound(MidKey),
    /// End of the quarantine of a message ID we used (RFC 7252 §4.4).
    Mid(MidKey),
}

/// A Confirmable message awaiting its ACK (RFC 7252 §4.2).
pub(super) struct Retransmit {
    pub bytes: Vec<u8>,
    /// Retransmissions done so far.
    pub count: u32,
    /// Current timeout; doubles after each retransmission.
    pub timeout: Duration,
}

pub(super) struct OutRequest {
    pub peer: Peer,
    pub mid: u16,
    pub token: Token,
    /// `None` once an empty ACK arrived: we now wait for a separate response.
    pub retx: Option<Retransmit>,
    pub deadline: Instant,
    /// Sent by `send_observe`: a 2.xx response with an Observe option turns
    /// the request into an observation (RFC 7641 §3.1).
    pub observe: bool,
}

pub(super) struct Separate {
    pub retx: Retransmit,
    pub deadline: Instant,
    /// Set for a notification we sent as an observed server (`notify.rs`): the token of the
    /// observation, which ends if the peer resets the message or never acknowledges it
    /// (RFC 7641 §3.6, §4.5).
    pub observer: Option<Vec<u8>>,
}

/// A message received from a peer, remembered for duplicate detection
/// (RFC 7252 §4.5) until `deadline`.
pub(super) struct Inbound {
    /// `Some` while the request awaits the application's response.
    pub exchange: Option<ExchangeId>,
    pub token: Vec<u8>,
    pub con: bool,
    /// What a duplicate CON gets: the piggy-backed response, or the empty
    /// ACK we already sent.
    pub reply: Option<Vec<u8>>,
    pub deadline: Instant,
}

/// A CoAP endpoint (client and server roles at once) for many peers.
pub struct Endpoint {
    pub(super) config: Config,
    pub(super) rng: XorShift,
    pub(super) next_mid: u16,
    pub(super) next_id: u64,
    pub(super) events: VecDeque<Event>,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) timers: BTreeSet<(Instant, Timer)>,
    pub(super) requests: HashMap<RequestId, OutRequest>,
    /// Our requests still awaiting their ACK, by (peer, message ID).
    pub(super) req_by_mid: HashMap<MidKey, RequestId>,
    pub(super) req_by_token: HashMap<(Peer, Token), RequestId>,
    pub(super) separate: HashMap<MidKey, Separate>,
    pub(super) recent_mids: HashMap<MidKey, Instant>,
    pub(super) inbound: HashMap<MidKey, Inbound>,
    pub(super) exchanges: HashMap<ExchangeId, MidKey>,
    /// Established observations (RFC 7641 §3), see `observe.rs`.
    pub(super) observations: HashMap<RequestId, Observation>,
    pub(super) obs_by_token: HashMap<(Peer, Token), RequestId>,
    /// `send_observe` requests still awaiting their first response; they
    /// count against `max_observations` too.
    pub(super) observe_pending: usize,
}

impl Endpoint {
    /// `seed` initialises message-ID and token generation; use a fresh
    /// random seed per process in production (RFC 7252 §4.4 asks for a
    /// randomised initial message ID).
    pub fn new(config: Config, seed: u64) -> Endpoint {
        let mut rng = XorShift::new(seed);
        let next_mid = rng.next_u64() as u16;
        Endpoint {
            config,
            rng,
            next_mid,
            next_id: 0,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            timers: BTreeSet::new(),
            requests: HashMap::new(),
            req_by_mid: HashMap::new(),
            req_by_token: HashMap::new(),
            separate: HashMap::new(),
            recent_mids: HashMap::new(),
            inbound: HashMap::new(),
            exchanges: HashMap::new(),
            observations: HashMap::new(),
            obs_by_token: HashMap::new(),
            observe_pending: 0,
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Earliest retransmission or expiry deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Retransmit, fail or expire everything whose deadline is `<= now`.
    /// A retransmission schedules the next one from `now`, so a driver that
    /// calls late sends one retransmission rather than a burst.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Request(id) => self.request_timer(now, id),
                Timer::Separate(key) => self.separate_timer(now, key),
                Timer::Inbound(key) => {
                    if let Some(entry) = self.inbound.remove(&key) {
                        if let Some(ex) = entry.exchange {
                            self.exchanges.remove(&ex);
                        }
                    }
                }
                Timer::Mid(key) => {
                    self.recent_mids.remove(&key);
                }
            }
        }
    }

    /// RFC 7252 §4.2: retransmit with a doubled timeout until MAX_RETRANSMIT
    /// retransmissions have timed out, then give up.
    fn request_timer(&mut self, now: Instant, id: RequestId) {
        let max = self.config.max_retransmit;
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let peer = req.peer;
        match &mut req.retx {
            Some(r) if r.count < max => {
                r.count += 1;
                r.timeout = r.timeout.saturating_mul(2);
                req.deadline = later(now, r.timeout);
                let (bytes, deadline) = (r.bytes.clone(), req.deadline);
                self.timers.insert((deadline, Timer::Request(id)));
                self.send(peer, bytes);
            }
            // Retransmissions exhausted, or the separate response never came.
            _ => {
                self.finish_request(id);
                let reason = FailReason::Timeout;
                self.events.push_back(Event::RequestFailed {
                    request: id,
                    peer,
                    reason,
                });
            }
        }
    }

    /// Same schedule for our separate CON responses; exhaustion is silent
    /// because nobody is waiting on it locally.
    fn separate_timer(&mut self, now: Instant, key: MidKey) {
        let max = self.config.max_retransmit;
        let Some(sep) = self.separate.get_mut(&key) else {
            return;
        };
        if sep.retx.count >= max {
            if let Some(token) = self.separate.remove(&key).and_then(|s| s.observer) {
                let peer = key.0;
                self.events.push_back(Event::ObserverLost { peer, token });
            }
            return;
        }
        sep.retx.count += 1;
        sep.retx.timeout = sep.retx.timeout.saturating_mul(2);
        sep.deadline = later(now, sep.retx.timeout);
        let (bytes, deadline) = (sep.retx.bytes.clone(), sep.deadline);
        self.timers.insert((deadline, Timer::Separate(key)));
        self.send(key.0, bytes);
    }

    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// Remembered inbound (peer, message ID) pairs; for tests and metrics.
    pub fn dedup_entries(&self) -> usize {
        self.inbound.len()
    }

    /// Remove a request with all its indexes and its timer.
    pub(super) fn finish_request(&mut self, id: RequestId) -> Option<OutRequest> {
        let req = self.requests.remove(&id)?;
        self.timers.remove(&(req.deadline, Timer::Request(id)));
        if self.req_by_mid.get(&(req.peer, req.mid)) == Some(&id) {
            self.req_by_mid.remove(&(req.peer, req.mid));
        }
        self.req_by_token.remove(&(req.peer, req.token));
        if req.observe {
            self.observe_pending -= 1;
        }
        Some(req)
    }

    /// An empty ACK for our request: stop retransmitting and wait up to
    /// EXCHANGE_LIFETIME for the separate response (RFC 7252 §5.2.2).
    pub(super) fn request_acked(&mut self, now: Instant, id: RequestId) {
        let lifetime = self.config.exchange_lifetime;
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        self.req_by_mid.remove(&(req.peer, req.mid));
        self.timers.remove(&(req.deadline, Timer::Request(id)));
        req.retx = None;
        req.deadline = later(now, lifetime);
        self.timers.insert((req.deadline, Timer::Request(id)));
    }

    pub(super) fn stop_separate(&mut self, key: MidKey) -> Option<Separate> {
        let sep = self.separate.remove(&key)?;
        self.timers.remove(&(sep.deadline, Timer::Separate(key)));
        Some(sep)
    }

    /// Acknowledges a response or notification that came as CON (RFC 7252 §5.2.2, RFC 7641
    /// §4.2) and remembers its message id, so a duplicate gets the same ACK and no second event.
    pub(super) fn ack_response(&mut self, now: Instant, peer: Peer, mid: u16, con: bool) {
        let reply = con.then(|| empty(MsgType::Ack, mid));
        if let Some(ack) = &reply {
            self.send(peer, ack.clone());
        }
        let lifetime = if con {
            self.config.exchange_lifetime
        } else {
            self.config.non_lifetime
        };
        let entry = Inbound {
            exchange: None,
            token: Vec::new(),
            con,
            reply,
            deadline: later(now, lifetime),
        };
        self.remember_inbound((peer, mid), entry);
    }

    pub(super) fn remember_inbound(&mut self, key: MidKey, entry: Inbound) {
        self.timers.insert((entry.deadline, Timer::Inbound(key)));
        if let Some(old) = self.inbound.insert(key, entry) {
            self.timers.remove(&(old.deadline, Timer::Inbound(key)));
        }
    }

    pub(super) fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    pub(super) fn reject(&mut self, peer: Peer, reason: impl Into<String>) {
        self.events.push_back(Event::Rejected {
            peer,
            reason: reason.into(),
        });
    }

    pub(super) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// `now + d` without the overflow panic of `Instant + Duration`; absurd
/// configured durations saturate to "a century from now".
pub(super) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}
