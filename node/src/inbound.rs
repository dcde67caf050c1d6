//! Inbound requests from devices, before the LwM2M handlers: Block1 reassembly (RFC 7959 §2.5,
//! clients split large Register/Update payloads) and refusal of critical options we do not
//! understand (4.02, RFC 7252 §5.4.1). Runs in the one task that drains the driver's queue.

use std::sync::Arc;

use lwm2m_core::coap::block::{Assembled, AssemblerConfig, Block1Assembler};
use lwm2m_core::lwm2m::options::{response, unknown_critical_option};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::registration::RegistrationHandler;
use crate::udp::{CoapHandle, Incoming};

const BAD_OPTION: u8 = 0x82;

/// Serves inbound requests until `shutdown`; each complete request is handled in its own task on
/// `requests` (which the caller drains at shutdown).
pub async fn run(
    mut incoming: mpsc::Receiver<Incoming>,
    handler: Arc<RegistrationHandler>,
    coap: CoapHandle,
    requests: TaskTracker,
    shutdown: CancellationToken,
) {
    // Registration payloads are small: 64 KiB bounds what one device can make us hold.
    let config = AssemblerConfig {
        max_size: 64 * 1024,
        max_transfers: 1024,
        ..AssemblerConfig::default()
    };
    let Ok(mut assembler) = Block1Assembler::new(config) else {
        return;
    };
    loop {
        let inc = tokio::select! {
            _ = shutdown.cancelled() => break,
            inc = incoming.recv() => match inc { Some(inc) => inc, None => break },
        };
        if let Some(option) = unknown_critical_option(&inc.request) {
            tracing::info!(peer = %inc.peer, option, "request with an unknown critical option, answering 4.02");
            coap.respond(inc.exchange, response(BAD_OPTION)).await;
            continue;
        }
        let Incoming {
            exchange,
            peer,
            request,
            identity,
        } = inc;
        match assembler.handle_request(std::time::Instant::now(), peer, request) {
            Err(e) => coap.respond(exchange, assembler.error_response(&e)).await,
            Ok(Assembled::Continue(p)) => coap.respond(exchange, p).await,
            Ok(Assembled::Complete { request, block1 }) => {
                let handler = handler.clone();
                requests.spawn(async move {
                    handler
                        .handle(
                            Incoming {
                                exchange,
                                peer,
                                request,
                                identity,
                            },
                            block1,
                        )
                        .await;
                });
            }
        }
    }
}
