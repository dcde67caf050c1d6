//! The LwM2M 1.1 Send operation (TS 1.1 §6.4.4): a device pushes SenML to `/dp`. The values go
//! to the same JetStream stream as notifications, marked SEND, and the device hears 2.04 only
//! after JetStream stored them (nothing acknowledged is lost).

use std::net::SocketAddr;
use std::time::SystemTime;

use coap_lite::Packet;
use lwm2m_core::lwm2m::options::response;
use lwm2m_core::lwm2m::report::send_records;
use lwm2m_proto::v1::notification::Kind;

use crate::observe::{notification, Observations};

const CHANGED: u8 = 0x44;
const NOT_FOUND: u8 = 0x84;
const SERVICE_UNAVAILABLE: u8 = 0xA3;

pub async fn handle(obs: &Observations, peer: SocketAddr, request: &Packet) -> Packet {
    // The Send names no endpoint: it is the device registered from this address (and, over
    // DTLS, this security context). Leshan answers an unknown sender 4.04 as well.
    let Some(endpoint) = obs.registry().endpoint_at(peer) else {
        tracing::info!(%peer, "Send from an address with no registration here, answering 4.04");
        return response(NOT_FOUND);
    };
    let Some(target) = obs.registry().get(&endpoint) else {
        return response(NOT_FOUND);
    };
    let span = tracing::info_span!("send", %endpoint, %peer);
    let _enter = span.enter();
    obs.registry().touch(&endpoint);
    let (cf, records) = match send_records(request, obs.model()) {
        Ok(decoded) => decoded,
        Err(e) => {
            tracing::info!(error = %e, "refused Send");
            let mut p = response(e.code());
            p.payload = e.to_string().into_bytes();
            return p;
        }
    };
    let origin = notification::Origin {
        kind: Kind::Send,
        endpoint: &endpoint,
        reg_id: &target.reg_id,
        observation_id: "",
        paths: &[],
        node: obs.registry().node(),
    };
    let n = notification::build(
        &origin,
        SystemTime::now(),
        "2.04".into(),
        cf,
        None,
        &records,
    );
    drop(_enter);
    match obs.publisher().publish_confirmed(&n).await {
        Ok(seq) => {
            tracing::debug!(parent: &span, seq, values = records.len(), "Send stored");
            response(CHANGED)
        }
        Err(e) => {
            tracing::warn!(parent: &span, error = %e, "Send not stored, answering 5.03");
            response(SERVICE_UNAVAILABLE)
        }
    }
}
