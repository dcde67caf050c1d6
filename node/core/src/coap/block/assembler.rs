//! Server-side Block1 reassembly (RFC 7959 §2.5): a device sends us a
//! request body in blocks (a large Register link list, a Send); we answer
//! 2.31 Continue (§2.9.1) to each non-final block and hand the application
//! the whole request once the last block arrived.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};

use super::option::{block1, set_block1, set_size1, size1, szx_for_size, BlockOption};
use super::{code_byte, grow_for, response, BlockError};
use crate::coap::Peer;

/// Limits of a [`Block1Assembler`]. Worst-case memory is about
/// `max_transfers × max_size` bytes.
#[derive(Debug, Clone)]
pub struct AssemblerConfig {
    /// Largest reassembled body; beyond it the transfer fails with
    /// [`BlockError::TooLarge`] (answer 4.13 with Size1, §2.9.3, §4).
    pub max_size: usize,
    /// Transfers tracked at once; a new one beyond it fails with
    /// [`BlockError::TooManyTransfers`].
    pub max_transfers: usize,
    /// A transfer with no block for this long is dropped. RFC 7959 §2.5
    /// leaves the duration open; the default is EXCHANGE_LIFETIME (247 s).
    pub lifetime: Duration,
    /// Largest block size we want (16..=1024). A client sending bigger
    /// blocks is asked for this size in our 2.31 (late negotiation, §2.5).
    pub block_size: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            max_size: 256 * 1024,
            max_transfers: 32,
            lifetime: Duration::from_secs(247),
            block_size: 1024,
        }
    }
}

/// The outcome of one inbound request.
#[derive(Debug, Clone, PartialEq)]
pub enum Assembled {
    /// A non-final block was stored: answer with this 2.31 Continue, which
    /// echoes Block1 (§2.3, §2.9.1).
    Continue(Packet),
    /// The request is whole: `request` is the last block's request with the
    /// full payload and no Block1/Size1. Process it; its final response
    /// should carry `block1` (the last block's echo, §2.3) if it is `Some`
    /// (set it with [`super::set_block1`]). Requests without Block1 pass
    /// through unchanged with `block1: None`.
    Complete {
        request: Packet,
        block1: Option<BlockOption>,
    },
}

/// A transfer is identified by the peer and the request it belongs to:
/// method, Uri-Path and Uri-Query (§2.5: blocks of one body are requests
/// for the same resource; tokens may differ between them, §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    peer: Peer,
    code: u8,
    path: Vec<Vec<u8>>,
    query: Vec<Vec<u8>>,
}

impl Key {
    fn of(peer: Peer, p: &Packet) -> Key {
        let list = |o| -> Vec<Vec<u8>> {
            p.get_option(o)
                .map(|l| l.iter().cloned().collect())
                .unwrap_or_default()
        };
        Key {
            peer,
            code: code_byte(p),
            path: list(CoapOption::UriPath),
            query: list(CoapOption::UriQuery),
        }
    }
}

#[derive(Debug)]
struct Transfer {
    body: Vec<u8>,
    /// Length of the last block appended, to recognise its retransmission.
    last_len: usize,
    deadline: Instant,
}

/// Reassembles Block1 request bodies from many peers. Sans-IO: pass `now`;
/// call [`Block1Assembler::handle_timeout`] once
/// [`Block1Assembler::poll_timeout`] has passed (requests also expire stale
/// transfers on the way in).
#[derive(Debug)]
pub struct Block1Assembler {
    config: AssemblerConfig,
    szx: u8,
    transfers: HashMap<Key, Transfer>,
}

impl Block1Assembler {
    /// Fails if `config.block_size` is not a valid block size.
    pub fn new(config: AssemblerConfig) -> Result<Block1Assembler, BlockError> {
        Ok(Block1Assembler {
            szx: szx_for_size(config.block_size)?,
            config,
            transfers: HashMap::new(),
        })
    }

    /// Feed an inbound request (any request: one without Block1 passes
    /// through as `Complete`). An error means "answer with
    /// [`Block1Assembler::error_response`]". A block over the size limit or
    /// with a payload length that contradicts its SZX drops its transfer;
    /// after an out-of-order or undecodable block the transfer stays, so
    /// the client may still send the expected block (or it expires).
    pub fn handle_request(
        &mut self,
        now: Instant,
        peer: Peer,
        mut request: Packet,
    ) -> Result<Assembled, BlockError> {
        self.handle_timeout(now);
        let Some(b) = block1(&request)? else {
            return Ok(Assembled::Complete {
                request,
                block1: None,
            });
        };
        let key = Key::of(peer, &request);
        let len = request.payload.len();
        // §2.2: a block with M=1 is exactly 2^(SZX+4) bytes, the last at most.
        if (b.more && len != b.size()) || len > b.size() {
            self.transfers.remove(&key);
            return Err(BlockError::Protocol("block payload does not match its SZX"));
        }
        if b.num == 0 {
            self.begin(&key, &request, now)?;
        }
        let max_size = self.config.max_size;
        let Some(t) = self.transfers.get_mut(&key) else {
            return Err(BlockError::OutOfOrder {
                expected: 0,
                got: b.offset(),
            });
        };
        let end = t.body.len() as u64;
        if b.more && t.last_len == len && b.offset() + len as u64 == end {
            // Retransmission of the block just stored (e.g. the client's
            // exchange timed out after we answered): answer it again.
            t.deadline = deadline(now, self.config.lifetime);
            return Ok(Assembled::Continue(self.continue_response(b)));
        }
        if b.offset() != end {
            return Err(BlockError::OutOfOrder {
                expected: end,
                got: b.offset(),
            });
        }
        if let Err(e) = grow_for(&mut t.body, len, max_size) {
            self.transfers.remove(&key);
            return Err(e);
        }
        t.body.extend_from_slice(&request.payload);
        t.last_len = len;
        t.deadline = deadline(now, self.config.lifetime);
        if b.more {
            return Ok(Assembled::Continue(self.continue_response(b)));
        }
        let t = self.transfers.remove(&key).map(|t| t.body);
        request.payload = t.unwrap_or_default();
        request.clear_option(CoapOption::Block1);
        request.clear_option(CoapOption::Size1);
        Ok(Assembled::Complete {
            request,
            block1: Some(b),
        })
    }

    /// Start (or restart, §2.5: NUM 0 again) the transfer of `key`.
    fn begin(&mut self, key: &Key, request: &Packet, now: Instant) -> Result<(), BlockError> {
        self.transfers.remove(key);
        let limit = self.config.max_size;
        // §4: Size1 announces the total; refuse early instead of at the end.
        let announced = size1(request)?.map(|s| usize::try_from(s).unwrap_or(usize::MAX));
        if announced.is_some_and(|s| s > limit) {
            return Err(BlockError::TooLarge { limit });
        }
        if self.transfers.len() >= self.config.max_transfers {
            return Err(BlockError::TooManyTransfers {
                limit: self.config.max_transfers,
            });
        }
        let mut body = Vec::new();
        body.reserve_exact(announced.unwrap_or(0));
        let t = Transfer {
            body,
            last_len: 0,
            deadline: deadline(now, self.config.lifetime),
        };
        self.transfers.insert(key.clone(), t);
        Ok(())
    }

    /// 2.31 Continue echoing NUM and M=1, with our preferred SZX if smaller.
    fn continue_response(&self, b: BlockOption) -> Packet {
        let mut p = response(ResponseType::Continue);
        let echo = BlockOption {
            szx: b.szx.min(self.szx),
            ..b
        };
        // Cannot fail: `b` was decoded (valid) and szx only got smaller.
        let _ = set_block1(&mut p, echo);
        p
    }

    /// The response for a failed request: 4.13 with Size1 = our limit
    /// (§2.9.3, §4), 4.08 for a missing block (§2.9.2), 4.00 for a
    /// malformed one, 5.03 when out of transfer slots.
    pub fn error_response(&self, error: &BlockError) -> Packet {
        let code = error.response_code();
        let mut p = response(code);
        if p.header.code == MessageClass::Response(ResponseType::RequestEntityTooLarge) {
            set_size1(
                &mut p,
                u32::try_from(self.config.max_size).unwrap_or(u32::MAX),
            );
        }
        p
    }

    /// Drop transfers idle past their deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transfers.retain(|_, t| t.deadline > now);
    }

    /// Earliest expiry deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transfers.values().map(|t| t.deadline).min()
    }

    /// Forget every transfer from `peer` (e.g. on de-registration).
    pub fn remove_peer(&mut self, peer: Peer) {
        self.transfers.retain(|k, _| k.peer != peer);
    }

    /// Transfers in progress.
    pub fn len(&self) -> usize {
        self.transfers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }
}

fn deadline(now: Instant, lifetime: Duration) -> Instant {
    now.checked_add(lifetime).unwrap_or(now)
}
