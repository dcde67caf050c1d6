//! The association table of the demultiplexer: which peer address has a DTLS association, in
//! which state, and what to do with the next datagram from it. Pure bookkeeping (generic over
//! the connection type, clock passed in) so the rules are unit-tested without sockets:
//!
//! - a datagram from a known peer goes to its association;
//! - a ClientHello without a valid cookie gets a HelloVerifyRequest and changes nothing;
//! - a ClientHello with a valid cookie creates an association, within the handshake cap; from a
//!   peer with an established association it replaces that one (the client lost its state,
//!   e.g. rebooted, and started over in epoch 0);
//! - an association idle longer than its limit (the registration lifetime) is evicted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::cookie::CookieJar;
use super::record;

/// Outbound datagrams held for a peer whose handshake is still running.
const PENDING_MAX: usize = 8;

pub enum State<C> {
    Handshaking {
        started: Instant,
        pending: Vec<Bytes>,
    },
    Established {
        conn: C,
        identity: std::sync::Arc<str>,
    },
}

pub struct Entry<C> {
    pub generation: u64,
    pub feed: mpsc::Sender<Bytes>,
    pub state: State<C>,
    pub last_active: Instant,
    pub idle_limit: Duration,
}

/// What to do with a datagram.
pub enum Route<C> {
    /// Hand it to the peer's connection.
    Forward(mpsc::Sender<Bytes>),
    /// Send this (a HelloVerifyRequest) back; nothing is kept.
    Reply(Vec<u8>),
    /// Start a server handshake: `initial` is the cookie-less ClientHello to feed first, `cookie`
    /// the cookie the connection must expect; `replaced` is the connection this one supersedes.
    Accept {
        initial: Vec<u8>,
        cookie: Vec<u8>,
        replaced: Option<C>,
    },
    Drop(&'static str),
}

pub struct Table<C> {
    entries: HashMap<SocketAddr, Entry<C>>,
    handshaking: usize,
    max_handshakes: usize,
    next_generation: u64,
    /// Idle limit of a new association until a registration sets one.
    pub default_idle: Duration,
    pub handshake_timeout: Duration,
}

impl<C: Clone> Table<C> {
    pub fn new(max_handshakes: usize, default_idle: Duration, handshake_timeout: Duration) -> Self {
        Table {
            entries: HashMap::new(),
            handshaking: 0,
            max_handshakes,
            next_generation: 1,
            default_idle,
            handshake_timeout,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn handshaking(&self) -> usize {
        self.handshaking
    }

    /// Decides what happens to `datagram` from `peer`.
    pub fn route(
        &mut self,
        peer: SocketAddr,
        datagram: &[u8],
        now: Instant,
        cookies: &CookieJar,
    ) -> Route<C> {
        let hello = record::client_hello(datagram);
        let established = match self.entries.get_mut(&peer) {
            Some(e) => match (&e.state, &hello) {
                // Everything during a handshake, ClientHello retransmissions included, and
                // every record but a new ClientHello afterwards.
                (State::Handshaking { .. }, _) | (State::Established { .. }, None) => {
                    e.last_active = now;
                    return Route::Forward(e.feed.clone());
                }
                (State::Established { .. }, Some(_)) => true,
            },
            None => false,
        };
        let Some(hello) = hello else {
            return Route::Drop("no association with this peer");
        };
        if !cookies.verify(peer, hello.params_before_cookie, hello.cookie) {
            let cookie = cookies.make(peer, hello.params_before_cookie);
            return Route::Reply(record::hello_verify_request(&hello, &cookie));
        }
        if self.handshaking >= self.max_handshakes {
            return Route::Drop("too many handshakes in progress");
        }
        let replaced = if established {
            self.remove(peer).and_then(|e| match e.state {
                State::Established { conn, .. } => Some(conn),
                State::Handshaking { .. } => None,
            })
        } else {
            None
        };
        // The ClientHello the client sent before our HelloVerifyRequest had a lower record
        // sequence number; record numbers are outside the handshake transcript.
        let initial = record::initial_client_hello(&hello, hello.record_seq.saturating_sub(1));
        Route::Accept {
            initial,
            cookie: hello.cookie.to_vec(),
            replaced,
        }
    }

    /// Records a handshake starting with `peer` (either role); returns its generation.
    pub fn start_handshake(
        &mut self,
        peer: SocketAddr,
        feed: mpsc::Sender<Bytes>,
        now: Instant,
        pending: Vec<Bytes>,
    ) -> u64 {
        self.remove(peer);
        let generation = self.next_generation;
        self.next_generation += 1;
        self.handshaking += 1;
        self.entries.insert(
            peer,
            Entry {
                generation,
                feed,
                state: State::Handshaking {
                    started: now,
                    pending,
                },
                last_active: now,
                idle_limit: self.default_idle,
            },
        );
        generation
    }

    /// Whether another handshake may start.
    pub fn may_start_handshake(&self) -> bool {
        self.handshaking < self.max_handshakes
    }

    /// The handshake of `generation` succeeded: returns what was sent meanwhile, to flush.
    /// `None` if the association was replaced or evicted meanwhile.
    pub fn establish(
        &mut self,
        peer: SocketAddr,
        generation: u64,
        conn: C,
        identity: std::sync::Arc<str>,
        now: Instant,
    ) -> Option<Vec<Bytes>> {
        let e = self
            .entries
            .get_mut(&peer)
            .filter(|e| e.generation == generation)?;
        let State::Handshaking { pending, .. } = &mut e.state else {
            return None;
        };
        let pending = std::mem::take(pending);
        e.state = State::Established { conn, identity };
        e.last_active = now;
        self.handshaking -= 1;
        Some(pending)
    }

    /// Forgets `peer` if it still has association `generation` (handshake failed, conn closed).
    pub fn remove_generation(&mut self, peer: SocketAddr, generation: u64) -> Option<Entry<C>> {
        if self
            .entries
            .get(&peer)
            .is_some_and(|e| e.generation == generation)
        {
            self.remove(peer)
        } else {
            None
        }
    }

    pub fn remove(&mut self, peer: SocketAddr) -> Option<Entry<C>> {
        let e = self.entries.remove(&peer)?;
        if matches!(e.state, State::Handshaking { .. }) {
            self.handshaking -= 1;
        }
        Some(e)
    }

    pub fn get(&self, peer: SocketAddr) -> Option<&Entry<C>> {
        self.entries.get(&peer)
    }

    /// What sending to `peer` should do: the established connection, or `Held` (queued until
    /// the handshake completes), or `Absent`.
    pub fn outbound(&mut self, peer: SocketAddr, datagram: &Bytes) -> Outbound<C> {
        match self.entries.get_mut(&peer).map(|e| &mut e.state) {
            Some(State::Established { conn, .. }) => Outbound::Conn(conn.clone()),
            Some(State::Handshaking { pending, .. }) => {
                if pending.len() < PENDING_MAX {
                    pending.push(datagram.clone());
                }
                Outbound::Held
            }
            None => Outbound::Absent,
        }
    }

    /// The identity of `peer`'s established association.
    pub fn identity(&self, peer: SocketAddr) -> Option<std::sync::Arc<str>> {
        match &self.entries.get(&peer)?.state {
            State::Established { identity, .. } => Some(identity.clone()),
            State::Handshaking { .. } => None,
        }
    }

    /// Sets how long `peer`'s association may stay idle (its registration lifetime and grace).
    pub fn set_idle_limit(&mut self, peer: SocketAddr, limit: Duration) {
        if let Some(e) = self.entries.get_mut(&peer) {
            e.idle_limit = limit;
        }
    }

    /// Removes associations idle past their limit and handshakes past the timeout; returns the
    /// connections to close.
    pub fn evict(&mut self, now: Instant) -> Vec<(SocketAddr, Option<C>)> {
        let timeout = self.handshake_timeout;
        let gone: Vec<SocketAddr> = self
            .entries
            .iter()
            .filter(|(_, e)| match &e.state {
                State::Handshaking { started, .. } => {
                    now.saturating_duration_since(*started) > timeout * 2
                }
                State::Established { .. } => {
                    now.saturating_duration_since(e.last_active) > e.idle_limit
                }
            })
            .map(|(p, _)| *p)
            .collect();
        gone.into_iter()
            .filter_map(|p| {
                self.remove(p).map(|e| match e.state {
                    State::Established { conn, .. } => (p, Some(conn)),
                    State::Handshaking { .. } => (p, None),
                })
            })
            .collect()
    }
}

impl<C> Table<C> {
    /// Forgets every association (shutdown); returns the established connections to close.
    pub fn drain(&mut self) -> Vec<C> {
        self.handshaking = 0;
        self.entries
            .drain()
            .filter_map(|(_, e)| match e.state {
                State::Established { conn, .. } => Some(conn),
                State::Handshaking { .. } => None,
            })
            .collect()
    }
}

pub enum Outbound<C> {
    Conn(C),
    Held,
    Absent,
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
