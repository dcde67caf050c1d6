//! The tokio driver of the CoAP message layer over one datagram transport: a UDP socket, or the
//! DTLS transport (`dtls/`) whose datagrams are decrypted CoAP.
//!
//! One task owns the socket and the sans-IO [`Endpoint`]; everything else talks to it through a
//! bounded command channel ([`CoapHandle`]) and receives inbound requests from a bounded channel.
//! There is no task per message and no lock on the hot path.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coap_lite::Packet;
use lwm2m_core::coap::{Config, Endpoint, Event, ExchangeId, FailReason, RequestId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Largest datagram read; CoAP over UDP stays far below (RFC 7252 §4.6).
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams handled per wake-up before the loop services commands and timers again.
const RECV_BURST: usize = 64;

/// An inbound request for the application layer.
#[derive(Debug)]
pub struct Incoming {
    pub exchange: ExchangeId,
    pub peer: SocketAddr,
    pub request: Packet,
    /// The PSK identity of the peer's DTLS association; `None` over plain CoAP.
    pub identity: Option<Arc<str>>,
}

/// What the driver sends and receives datagrams through.
pub trait Transport: Send + 'static {
    fn recv_from(
        &mut self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    /// A datagram already waiting, or `WouldBlock`.
    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    fn send_to(
        &mut self,
        bytes: &[u8],
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// The security identity `peer` authenticated with.
    fn identity(&self, peer: SocketAddr) -> Option<Arc<str>>;
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Plain CoAP: datagrams as they are on the socket.
impl Transport for UdpSocket {
    async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        UdpSocket::recv_from(self, buf).await
    }

    fn try_recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        UdpSocket::try_recv_from(self, buf)
    }

    async fn send_to(&mut self, bytes: &[u8], peer: SocketAddr) -> io::Result<()> {
        UdpSocket::send_to(self, bytes, peer).await.map(|_| ())
    }

    fn identity(&self, _peer: SocketAddr) -> Option<Arc<str>> {
        None
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        UdpSocket::local_addr(self)
    }
}

/// Observe traffic for the application layer (RFC 7641), on its own channel so a burst of
/// notifications never delays inbound requests.
#[derive(Debug)]
pub enum Observed {
    /// A notification of one of our observations (`CoapHandle::observe`, `restore_observation`).
    /// `sequence` is its Observe value; `None` (or an error code) means the device ended it.
    Notification {
        request: RequestId,
        peer: SocketAddr,
        response: Packet,
        sequence: Option<u32>,
    },
    /// A peer that observed us (a simulated device's server) reset or never acknowledged a
    /// notification: it stopped observing `token`.
    ObserverLost { peer: SocketAddr, token: Vec<u8> },
}

/// What `start` returns: the handle, the inbound requests, the observe traffic and the task.
pub struct Started {
    pub handle: CoapHandle,
    pub incoming: mpsc::Receiver<Incoming>,
    pub observed: mpsc::Receiver<Observed>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Notifications buffered for the application; beyond this they are dropped with a warning
/// (RFC 7641 lets a client miss notifications; the next one carries the current state).
const OBSERVED_CAPACITY: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the device did not answer (retransmissions exhausted)")]
    Timeout,
    #[error("the device reset the request")]
    Reset,
    #[error("too many requests in flight")]
    Overloaded,
    #[error("CoAP driver stopped")]
    Closed,
}

enum Command {
    Respond {
        exchange: ExchangeId,
        response: Packet,
    },
    Send {
        key: u64,
        peer: SocketAddr,
        request: Packet,
        /// Register an observation (RFC 7641 §3.1) rather than send a one-off request.
        observe: bool,
        reply: Reply,
    },
    Cancel {
        key: u64,
    },
    Forget {
        request: RequestId,
    },
    Restore {
        peer: SocketAddr,
        token: Vec<u8>,
        reply: oneshot::Sender<Option<RequestId>>,
    },
    Move {
        request: RequestId,
        peer: SocketAddr,
    },
    Notify {
        peer: SocketAddr,
        token: Vec<u8>,
        notification: Packet,
        confirmable: bool,
    },
    /// Start reading the socket (a driver started held).
    Open,
}

type Reply = oneshot::Sender<Result<(RequestId, Packet), RequestError>>;

/// Handle to a running driver; cheap to clone.
#[derive(Clone)]
pub struct CoapHandle {
    commands: mpsc::Sender<Command>,
    keys: Arc<AtomicU64>,
    local: SocketAddr,
}

impl CoapHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Answers an inbound request (piggy-backed or separate, the message layer decides).
    pub async fn respond(&self, exchange: ExchangeId, response: Packet) {
        let _ = self
            .commands
            .send(Command::Respond { exchange, response })
            .await;
    }

    /// Sends a CON request and waits for the response. Dropping the future cancels the request:
    /// retransmission stops (the cancel path of the request contract).
    pub async fn request(&self, peer: SocketAddr, request: Packet) -> Result<Packet, RequestError> {
        Ok(self.send(peer, request, false).await?.1)
    }

    /// Registers an observation (GET or FETCH, RFC 7641 §3.1) and returns its id with the first
    /// response. If that is a 2.xx with an Observe option, the device's later notifications
    /// arrive as [`Observed::Notification`] with this id until [`CoapHandle::forget`].
    pub async fn observe(
        &self,
        peer: SocketAddr,
        request: Packet,
    ) -> Result<(RequestId, Packet), RequestError> {
        self.send(peer, request, true).await
    }

    /// Ends an observation on our side; the device's next notification gets RST, which ends it
    /// there (RFC 7641 §3.6).
    pub async fn forget(&self, request: RequestId) {
        let _ = self.commands.send(Command::Forget { request }).await;
    }

    /// Accepts notifications for `token` from `peer` again (an observation persisted by an
    /// earlier run); `None` if the token cannot be restored.
    pub async fn restore_observation(&self, peer: SocketAddr, token: Vec<u8>) -> Option<RequestId> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Restore { peer, token, reply };
        self.commands.send(cmd).await.ok()?;
        rx.await.ok().flatten()
    }

    /// The device of observation `request` now talks from `peer`.
    pub async fn move_observation(&self, request: RequestId, peer: SocketAddr) {
        let _ = self.commands.send(Command::Move { request, peer }).await;
    }

    /// Lets a driver started with [`start_held`] read its socket.
    pub async fn open(&self) {
        let _ = self.commands.send(Command::Open).await;
    }

    /// Sends a notification to a peer observing us (the device side, used by the simulator).
    pub async fn notify(
        &self,
        peer: SocketAddr,
        token: Vec<u8>,
        notification: Packet,
        confirmable: bool,
    ) {
        let cmd = Command::Notify {
            peer,
            token,
            notification,
            confirmable,
        };
        let _ = self.commands.send(cmd).await;
    }

    async fn send(
        &self,
        peer: SocketAddr,
        request: Packet,
        observe: bool,
    ) -> Result<(RequestId, Packet), RequestError> {
        let key = self.keys.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send {
                key,
                peer,
                request,
                observe,
                reply,
            })
            .await
            .map_err(|_| RequestError::Closed)?;
        let mut guard = CancelGuard {
            commands: Some(self.commands.clone()),
            key,
        };
        let result = rx.await.map_err(|_| RequestError::Closed);
        guard.commands = None;
        result?
    }
}

/// Cancels a request whose caller went away before it completed.
struct CancelGuard {
    commands: Option<mpsc::Sender<Command>>,
    key: u64,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(c) = self.commands.take() {
            let key = self.key;
            // The channel may be full; a cancel must not be lost, so fall back to a task.
            if let Err(mpsc::error::TrySendError::Full(cmd)) = c.try_send(Command::Cancel { key }) {
                tokio::spawn(async move {
                    let _ = c.send(cmd).await;
                });
            }
        }
    }
}

/// Receive buffer asked for the node's socket: a burst of datagrams (a notification storm, a
/// registration storm) waits in the kernel instead of being dropped while the loop is busy. The
/// kernel caps it at `net.core.rmem_max`.
pub const RECV_BUFFER: usize = 4 << 20;

/// A UDP socket bound to `addr` with a receive buffer of `recv_buffer` bytes.
pub fn bind(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
        tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Starts the driver on `socket`. Inbound requests arrive on the returned receiver; when it is
/// full the driver answers 5.03 itself (backpressure instead of memory growth).
pub fn start<T: Transport>(
    socket: T,
    config: Config,
    inbound_capacity: usize,
    shutdown: CancellationToken,
) -> std::io::Result<Started> {
    spawn(socket, config, inbound_capacity, shutdown, true)
}

/// [`start`], but the driver only serves its handle (restoring observations, say) and leaves
/// datagrams in the socket's buffer until [`CoapHandle::open`]: a node that restarts must not
/// answer a device's notification with RST before it restored the token the device notifies.
pub fn start_held<T: Transport>(
    socket: T,
    config: Config,
    inbound_capacity: usize,
    shutdown: CancellationToken,
) -> std::io::Result<Started> {
    spawn(socket, config, inbound_capacity, shutdown, false)
}

fn spawn<T: Transport>(
    socket: T,
    config: Config,
    inbound_capacity: usize,
    shutdown: CancellationToken,
    reading: bool,
) -> std::io::Result<Started> {
    let local = socket.local_addr()?;
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (in_tx, in_rx) = mpsc::channel(inbound_capacity.max(1));
    let (observed_tx, observed_rx) = mpsc::channel(OBSERVED_CAPACITY);
    let seed = rand::random::<u64>();
    let driver = Driver {
        socket,
        endpoint: Endpoint::new(config, seed),
        pending: HashMap::new(),
        by_key: HashMap::new(),
        inbound: in_tx,
        observed: observed_tx,
        reading,
    };
    let task = tokio::spawn(driver.run(cmd_rx, shutdown));
    Ok(Started {
        handle: CoapHandle {
            commands: cmd_tx,
            keys: Arc::new(AtomicU64::new(1)),
            local,
        },
        incoming: in_rx,
        observed: observed_rx,
        task,
    })
}

struct Driver<T> {
    socket: T,
    endpoint: Endpoint,
    pending: HashMap<RequestId, (u64, Reply)>,
    by_key: HashMap<u64, RequestId>,
    inbound: mpsc::Sender<Incoming>,
    observed: mpsc::Sender<Observed>,
    /// Whether the socket is read (see [`start_held`]).
    reading: bool,
}

impl<T: Transport> Driver<T> {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            self.flush().await;
            let deadline = self.endpoint.poll_timeout().map(Instant::from_std);
            // Commands (our answers) and timers go before the socket: under a flood of datagrams
            // the socket is always ready, and answers and retransmissions must still go out.
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(cmd) = commands.recv() => {
                    self.command(cmd);
                    while let Ok(cmd) = commands.try_recv() {
                        self.command(cmd);
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.endpoint.handle_timeout(std::time::Instant::now());
                }
                r = self.socket.recv_from(&mut buf), if self.reading => match r {
                    Ok((n, peer)) => {
                        let _span = tracing::debug_span!("datagram", %peer, len = n).entered();
                        self.endpoint.handle_datagram(std::time::Instant::now(), peer, &buf[..n]);
                        for _ in 0..RECV_BURST {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, peer)) => self.endpoint.handle_datagram(std::time::Instant::now(), peer, &buf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    // ICMP port unreachable surfaces as an error on Linux; it concerns one peer.
                    Err(e) => tracing::debug!(error = %e, "udp recv"),
                },
            }
            self.dispatch();
        }
        self.flush().await;
        for (_, (_, reply)) in self.pending.drain() {
            let _ = reply.send(Err(RequestError::Closed));
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = std::time::Instant::now();
        match cmd {
            Command::Respond { exchange, response } => {
                // An answer the layer cannot send (too large to encode) must not leave the device
                // waiting: it gets 5.00 instead.
                if !self.endpoint.respond(now, exchange, response) {
                    self.endpoint.respond(
                        now,
                        exchange,
                        lwm2m_core::lwm2m::options::response(0xA0),
                    );
                }
            }
            Command::Send {
                key,
                peer,
                request,
                observe,
                reply,
            } => match if observe {
                self.endpoint.send_observe(now, peer, request)
            } else {
                self.endpoint.send_request(now, peer, request)
            } {
                Ok(id) => {
                    self.pending.insert(id, (key, reply));
                    self.by_key.insert(key, id);
                }
                Err(_) => {
                    let _ = reply.send(Err(RequestError::Overloaded));
                }
            },
            Command::Cancel { key } => {
                if let Some(id) = self.by_key.remove(&key) {
                    self.endpoint.cancel_request(id);
                    self.pending.remove(&id);
                }
            }
            Command::Forget { request } => {
                self.endpoint.forget_observation(request);
            }
            Command::Restore { peer, token, reply } => {
                let _ = reply.send(self.endpoint.restore_observation(peer, &token));
            }
            Command::Move { request, peer } => {
                self.endpoint.move_observation(request, peer);
            }
            Command::Notify {
                peer,
                token,
                notification,
                confirmable,
            } => {
                if !self
                    .endpoint
                    .notify(now, peer, &token, notification, confirmable)
                {
                    tracing::debug!(%peer, "notification not sent");
                }
            }
            Command::Open => self.reading = true,
        }
    }

    fn dispatch(&mut self) {
        let now = std::time::Instant::now();
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request {
                    exchange,
                    peer,
                    request,
                } => {
                    if let Err(mpsc::error::TrySendError::Full(incoming)) =
                        self.inbound.try_send(Incoming {
                            exchange,
                            peer,
                            request,
                            identity: self.socket.identity(peer),
                        })
                    {
                        tracing::warn!(peer = %incoming.peer, "inbound queue full, answering 5.03");
                        self.endpoint.respond(
                            now,
                            incoming.exchange,
                            lwm2m_core::lwm2m::options::response(0xA3),
                        );
                    }
                }
                Event::Response {
                    request, response, ..
                } => self.complete(request, Ok((request, response))),
                Event::RequestFailed {
                    request, reason, ..
                } => {
                    let e = match reason {
                        FailReason::Timeout => RequestError::Timeout,
                        FailReason::Reset => RequestError::Reset,
                    };
                    self.complete(request, Err(e));
                }
                Event::Rejected { peer, reason } => {
                    tracing::info!(%peer, %reason, "rejected datagram")
                }
                Event::Notification {
                    request,
                    peer,
                    response,
                    sequence,
                } => self.observed(Observed::Notification {
                    request,
                    peer,
                    response,
                    sequence,
                }),
                Event::ObserverLost { peer, token } => {
                    self.observed(Observed::ObserverLost { peer, token })
                }
            }
        }
    }

    fn observed(&mut self, o: Observed) {
        if let Err(mpsc::error::TrySendError::Full(o)) = self.observed.try_send(o) {
            tracing::warn!(?o, "observe queue full, notification dropped");
        }
    }

    fn complete(&mut self, id: RequestId, result: Result<(RequestId, Packet), RequestError>) {
        if let Some((key, reply)) = self.pending.remove(&id) {
            self.by_key.remove(&key);
            let _ = reply.send(result);
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.bytes, t.peer).await {
                tracing::debug!(peer = %t.peer, error = %e, "udp send");
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
