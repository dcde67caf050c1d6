//! Inbound datagram handling: rejection rules, duplicate detection
//! (RFC 7252 §4.5) and matching of ACK/RST and responses (§4.2, §5.3.2).

use std::time::Instant;

use coap_lite::Packet;

use super::endpoint::{later, Endpoint, Inbound, MidKey, Token};
use super::wire::{self, empty, CodeKind, MsgType, RawHeader};
use super::{Event, ExchangeId, FailReason, Peer};

impl Endpoint {
    /// Process one received datagram. Replies (ACK, RST, cached responses)
    /// are queued for `poll_transmit`, news for `poll_event`.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        // Without a complete header there is no message ID to reset: drop.
        let Some(hdr) = RawHeader::peek(bytes) else {
            return self.reject(
                peer,
                "datagram shorter than the 4-byte CoAP header, dropped",
            );
        };
        // §3: "Messages with unknown version numbers MUST be silently ignored."
        if hdr.version != 1 {
            return self.reject(peer, format!("CoAP version {} ignored", hdr.version));
        }
        let packet = match wire::parse(bytes) {
            Ok(p) => p,
            // §4.2: a CON with a message format error is rejected with a RST
            // echoing its message ID. §4.3 only says *may* for NON, and
            // ACK/RST must never be answered, so those are dropped.
            Err(why) if hdr.mtype == MsgType::Con => {
                self.send(peer, empty(MsgType::Rst, hdr.mid));
                return self.reject(peer, format!("malformed CON ({why}), sent RST"));
            }
            Err(why) => return self.reject(peer, format!("malformed message ({why}), dropped")),
        };
        let con = hdr.mtype == MsgType::Con;
        match (hdr.mtype, hdr.kind()) {
            // §4.3: an Empty CON ("CoAP ping") is answered with RST. Not an error.
            (MsgType::Con, CodeKind::Empty) => self.send(peer, empty(MsgType::Rst, hdr.mid)),
            (MsgType::Non, CodeKind::Empty) => self.reject(peer, "Empty NON message, ignored"),
            // §4.2/§4.3: a code in reserved class 1, 6 or 7 is rejected like
            // a message we lack context for: RST for CON, silence otherwise.
            (MsgType::Con | MsgType::Non, CodeKind::Reserved) => {
                if con {
                    self.send(peer, empty(MsgType::Rst, hdr.mid));
                }
                self.reject(peer, format!("reserved code {}", packet.header.get_code()));
            }
            (MsgType::Con | MsgType::Non, CodeKind::Request) => {
                self.on_request(now, peer, con, hdr.mid, packet)
            }
            (MsgType::Con | MsgType::Non, CodeKind::Response) => {
                self.on_separate_response(now, peer, con, hdr.mid, packet)
            }
            (MsgType::Ack, CodeKind::Empty) => self.on_empty_ack(now, peer, hdr.mid),
            (MsgType::Ack, CodeKind::Response) => self.on_piggybacked(now, peer, hdr.mid, packet),
            // §4.2: an ACK carries a response or is Empty; ACKs are never
            // answered, so rejecting means ignoring.
            (MsgType::Ack, _) => self.reject(peer, "ACK carrying a non-response code, ignored"),
            (MsgType::Rst, CodeKind::Empty) => self.on_reset(peer, hdr.mid),
            (MsgType::Rst, _) => self.reject(peer, "non-empty RST, ignored"),
        }
    }

    /// A CON or NON request. Duplicates (same peer and message ID within the
    /// lifetime, §4.5) never produce a second `Request` event: a duplicate
    /// CON gets the cached reply, or — if the application has not answered
    /// yet — an empty ACK, which commits us to a separate response (§5.2.2)
    /// so the peer stops retransmitting.
    fn on_request(&mut self, now: Instant, peer: Peer, con: bool, mid: u16, request: Packet) {
        let key = (peer, mid);
        if let Some(entry) = self.inbound.get_mut(&key) {
            if con && entry.con {
                let reply = match &entry.reply {
                    Some(bytes) => bytes.clone(),
                    None => {
                        let ack = empty(MsgType::Ack, mid);
                        entry.reply = Some(ack.clone());
                        ack
                    }
                };
                self.send(peer, reply);
            }
            return;
        }
        let exchange = ExchangeId(self.fresh_id());
        let lifetime = if con {
            self.config.exchange_lifetime
        } else {
            self.config.non_lifetime
        };
        let entry = Inbound {
            exchange: Some(exchange),
            token: request.get_token().to_vec(),
            con,
            reply: None,
            deadline: later(now, lifetime),
        };
        self.remember_inbound(key, entry);
        self.exchanges.insert(exchange, key);
        self.events.push_back(Event::Request {
            exchange,
            peer,
            request,
        });
    }

    /// A separate response (CON or NON) to one of our requests, matched by
    /// (peer, token) in any state, since the empty ACK may have been lost
    /// (§5.3.2). A matched CON is ACKed and remembered so a retransmission
    /// gets the same ACK again; an unmatched CON gets RST (§5.3.2, §4.2).
    fn on_separate_response(
        &mut self,
        now: Instant,
        peer: Peer,
        con: bool,
        mid: u16,
        response: Packet,
    ) {
        let key: MidKey = (peer, mid);
        if let Some(entry) = self.inbound.get(&key) {
            if con && entry.con {
                if let Some(reply) = entry.reply.clone() {
                    self.send(peer, reply);
                }
            }
            return;
        }
        let matched = Token::try_from(response.get_token())
            .ok()
            .and_then(|t| self.req_by_token.get(&(peer, t)).copied());
        let Some(id) = matched else {
            if let Some(obs) = self.observation_for(peer, response.get_token()) {
                return self.on_notification(now, peer, con, mid, obs, response);
            }
            // RFC 7641 §3.6: rejecting a notification nobody waits for (a forgotten
            // observation, or another peer's token) with RST makes its server stop sending;
            // RFC 7252 §4.3 allows the RST for a NON too.
            self.send(peer, empty(MsgType::Rst, mid));
            let kind = if con { "CON" } else { "NON" };
            return self.reject(
                peer,
                format!("{kind} response with unknown token, sent RST"),
            );
        };
        let req = self.finish_request(id);
        self.maybe_observe(now, id, req, &response);
        self.ack_response(now, peer, mid, con);
        self.events.push_back(Event::Response {
            request: id,
            peer,
            response,
        });
    }

    /// Empty ACK: for our request it means "separate response follows"; for
    /// our separate response it ends retransmission.
    fn on_empty_ack(&mut self, now: Instant, peer: Peer, mid: u16) {
        if let Some(&id) = self.req_by_mid.get(&(peer, mid)) {
            self.request_acked(now, id);
        } else if self.stop_separate((peer, mid)).is_none() {
            self.reject(
                peer,
                format!("empty ACK for unknown message ID {mid}, ignored"),
            );
        }
    }

    /// Piggy-backed response: the ACK's message ID must match our CON and
    /// its token our request's token (§5.3.2).
    fn on_piggybacked(&mut self, now: Instant, peer: Peer, mid: u16, response: Packet) {
        let Some(&id) = self.req_by_mid.get(&(peer, mid)) else {
            return self.reject(peer, format!("ACK for unknown message ID {mid}, ignored"));
        };
        let token_ok = self
            .requests
            .get(&id)
            .is_some_and(|r| r.token[..] == *response.get_token());
        if !token_ok {
            return self.reject(
                peer,
                format!("piggy-backed response with wrong token (MID {mid}), ignored"),
            );
        }
        let req = self.finish_request(id);
        self.maybe_observe(now, id, req, &response);
        self.events.push_back(Event::Response {
            request: id,
            peer,
            response,
        });
    }

    /// RST: the peer rejected our CON (§4.2).
    fn on_reset(&mut self, peer: Peer, mid: u16) {
        if let Some(&id) = self.req_by_mid.get(&(peer, mid)) {
            self.finish_request(id);
            let reason = FailReason::Reset;
            self.events.push_back(Event::RequestFailed {
                request: id,
                peer,
                reason,
            });
        } else if let Some(sep) = self.stop_separate((peer, mid)) {
            // RFC 7641 §3.6: a RST for a notification removes the observer.
            if let Some(token) = sep.observer {
                self.events.push_back(Event::ObserverLost { peer, token });
            }
        } else {
            self.reject(peer, format!("RST for unknown message ID {mid}, ignored"));
        }
    }
}
