//! The server side of Observe (RFC 7641 §4): sending a notification to an
//! observer. The application (a device) keeps its list of observers; the
//! layer sends each notification with a fresh message ID, retransmits a CON
//! one until it is acknowledged, and reports `Event::ObserverLost` when the
//! observer resets it or never acknowledges it (§3.6, §4.5).

use std::time::Instant;

use coap_lite::{MessageType, Packet};

use super::endpoint::{later, Endpoint, Retransmit, Separate, Timer};
use super::wire::{code_kind, CodeKind};
use super::Peer;

impl Endpoint {
    /// Sends `notification` (a response code, normally with an Observe
    /// option set by the caller) to `peer` under the observation's `token`,
    /// as CON or NON. Returns false if it is not a response, the message IDs
    /// towards `peer` are exhausted, or it cannot be encoded.
    pub fn notify(
        &mut self,
        now: Instant,
        peer: Peer,
        token: &[u8],
        mut notification: Packet,
        confirmable: bool,
    ) -> bool {
        if code_kind(notification.header.code.into()) != CodeKind::Response || token.len() > 8 {
            return false;
        }
        let Some(mid) = self.find_free_mid(peer) else {
            return false;
        };
        let (ty, lifetime) = if confirmable {
            (MessageType::Confirmable, self.config.exchange_lifetime)
        } else {
            (MessageType::NonConfirmable, self.config.non_lifetime)
        };
        notification.header.set_version(1);
        notification.header.set_type(ty);
        notification.header.message_id = mid;
        notification.set_token(token.to_vec());
        let Ok(bytes) = notification.to_bytes() else {
            return false;
        };
        self.reserve_mid(now, (peer, mid), lifetime);
        if confirmable {
            let timeout = self.initial_timeout();
            let deadline = later(now, timeout);
            let retx = Retransmit {
                bytes: bytes.clone(),
                count: 0,
                timeout,
            };
            let observer = Some(token.to_vec());
            self.separate.insert(
                (peer, mid),
                Separate {
                    retx,
                    deadline,
                    observer,
                },
            );
            self.timers.insert((deadline, Timer::Separate((peer, mid))));
        }
        self.send(peer, bytes);
        true
    }
}
