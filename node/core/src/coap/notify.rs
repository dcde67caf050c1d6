//! The server side of Observe (RFC 7641 §4): sending a notification to an
//! observer. The application (a device) keeps its list of observers; the
//! layer sends each notification with a fresh message ID, retransmits a CON
//! one until it is acknowledged, and reports `Event::ObserverLost` when the
//! observer resets it or never acknowledges it (§3.6, §4.5).

use std::time::Instant;

use coap_lite::Packet;

use super::endpoint::Endpoint;
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
        notification.set_token(token.to_vec());
        let observer = confirmable.then(|| token.to_vec());
        self.send_separate(now, peer, notification, confirmable, observer)
    }
}
