//! The simulated device's side of Observe (RFC 7641 §4) and Send (LwM2M 1.1 §6.4.4): it keeps
//! its observers, answers an Observe with the Observe option, and notifies them when asked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use coap_lite::{CoapOption, Packet};

use super::objects::Objects;

/// One server observing one of our paths.
struct Observer {
    peer: SocketAddr,
    token: Vec<u8>,
    /// The GET or FETCH that registered it, answered again for each notification.
    request: Packet,
    sequence: u32,
}

#[derive(Clone, Default)]
pub struct Observers {
    inner: Arc<Mutex<Vec<Observer>>>,
}

impl Observers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Observer>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// RFC 7641 §3.1 / §3.6: Observe 0 adds (or refreshes) the observer of a 2.05 answer and
    /// marks the answer with the Observe option; Observe 1 removes it. Other requests pass.
    pub fn on_request(&self, peer: SocketAddr, request: &Packet, answer: &mut Packet) {
        let Some(Ok(register)) = request.get_observe_value() else {
            return;
        };
        let token = request.get_token().to_vec();
        let mut all = self.lock();
        all.retain(|o| !(o.peer == peer && o.token == token));
        if register == 0 && u8::from(answer.header.code) == 0x45 {
            let mut plain = request.clone();
            plain.clear_option(CoapOption::Observe);
            all.push(Observer {
                peer,
                token,
                request: plain,
                sequence: 1,
            });
            answer.set_observe_value(1);
        }
    }

    /// The observer at `peer` with `token` is gone (it reset a notification).
    pub fn lost(&self, peer: SocketAddr, token: &[u8]) {
        self.lock()
            .retain(|o| !(o.peer == peer && o.token == token));
    }

    /// A notification for every observer, from the objects as they are now: (peer, token, packet).
    pub fn notifications(&self, objects: &mut Objects) -> Vec<(SocketAddr, Vec<u8>, Packet)> {
        let mut all = self.lock();
        all.iter_mut()
            .map(|o| {
                o.sequence = (o.sequence + 1) & 0xFF_FFFF;
                let mut n = objects.answer(&o.request);
                n.set_observe_value(o.sequence);
                (o.peer, o.token.clone(), n)
            })
            .collect()
    }
}
