//! Block-wise transfer (RFC 7959), sans-IO, layered above [`super::Endpoint`].
//!
//! The message layer moves one request and one response per exchange; this
//! layer turns one *logical* request into several exchanges. Like the
//! message layer it performs no I/O and reads no clock: the state machines
//! return the next [`Packet`] to send and are fed the responses (or, on the
//! server side, the requests) the driver received.
//!
//! * [`BlockOption`] and the `block1`/`block2`/`size1`/`size2` helpers encode
//!   and decode the options of RFC 7959 §2.1–§2.2 and §4.
//! * [`Block2Download`]: we are the client and the device answered with
//!   Block2 M=1; we fetch the remaining blocks (§2.4) and reassemble them.
//! * [`Block1Upload`]: we are the client and send a large body in blocks
//!   (§2.5), honouring a smaller block size the server asks for.
//! * [`Block1Assembler`]: we are the server and a device sends us its request
//!   body in blocks (§2.5); we answer 2.31 Continue (§2.9.1) until the last.
//!
//! Follow-up requests are templates: the caller hands them to
//! [`super::Endpoint::send_request`], which assigns message ID and token.
//! RFC 7959 §2.3/§2.4 allow every block exchange its own token, so the
//! layer matches blocks by position (NUM × size), never by token.
//!
//! Memory is bounded: every transfer has a total-size limit that is checked
//! *before* a buffer grows, and the assembler caps the number
//! of concurrent transfers and expires idle ones.
//!
//! Not supported: BERT (RFC 8323, SZX 7 over reliable transports), and
//! random access to blocks (only sequential transfers from NUM 0).

mod assembler;
mod download;
mod option;
mod upload;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_assembler;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_upload;

use coap_lite::{MessageClass, Packet, ResponseType};

pub use assembler::{Assembled, AssemblerConfig, Block1Assembler};
pub use download::Block2Download;
pub use option::{
    block1, block2, clear_block1, clear_block2, set_block1, set_block2, set_size1, set_size2,
    size1, size2, BlockOption, MAX_NUM,
};
pub use upload::Block1Upload;

/// What a client-side transfer wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this request next (via `Endpoint::send_request`, which sets
    /// message ID and token) and feed its response back.
    Send(Packet),
    /// The transfer is over; this is the final response. For a download it
    /// carries the whole representation and no Block2 option. It may also be
    /// an error response (4.xx/5.xx) or any other response code the peer
    /// answered mid-transfer: check its code.
    Done(Packet),
}

/// Errors of block-wise transfer. None of them is raised by a panic: every
/// input, however malformed, ends in `Ok` or one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A Block1/Block2/Size option value that does not decode: longer than
    /// its maximum length (3 bytes for Block, 4 for Size; §2.2, §4), or the
    /// option repeated although it is not repeatable (§2.1).
    #[error("malformed {option} option: {reason}")]
    Malformed {
        option: &'static str,
        reason: &'static str,
    },
    /// SZX 7 is reserved and MUST NOT be sent; in a request it MUST lead to
    /// 4.00 Bad Request (§2.2).
    #[error("reserved SZX 7 in {option} option")]
    ReservedSzx { option: &'static str },
    /// A block size that is not a power of two in 16..=1024 (§2.2).
    #[error("invalid block size {0} (a power of two in 16..=1024 is required)")]
    InvalidSize(usize),
    /// NUM does not fit the 20 bits of a 3-byte option (§2.2): the body is
    /// too large for the block size.
    #[error("block number {0} exceeds the 20-bit NUM field")]
    NumOverflow(u64),
    /// A block that does not continue the transfer where it stands: a gap or
    /// a block from an unknown transfer (4.08 on the server side, §2.9.2).
    #[error("block out of order: expected byte offset {expected}, got {got}")]
    OutOfOrder { expected: u64, got: u64 },
    /// The body exceeds the configured limit (4.13, §2.9.3).
    #[error("block-wise body exceeds the size limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The ETag changed between Block2 responses: the representation changed
    /// under us mid-transfer (§2.4). Start the download again if wanted.
    #[error("ETag changed between blocks of one representation")]
    EtagMismatch,
    /// The peer broke a rule of §2.2–§2.5 (e.g. a non-final block of the
    /// wrong length, a 2.31 for the last block, Block2 missing mid-transfer).
    #[error("block-wise protocol violation: {0}")]
    Protocol(&'static str),
    /// The assembler already tracks its maximum number of transfers.
    #[error("too many concurrent block-wise transfers (limit {limit})")]
    TooManyTransfers { limit: usize },
    /// `on_response` after the transfer reached `Done` or failed.
    #[error("block-wise transfer already finished")]
    Finished,
}

impl BlockError {
    /// The response code a server answers a request with when reassembling
    /// it failed with this error: 4.13 for size (§2.9.3), 4.08 for a missing
    /// or out-of-order block (§2.9.2), 5.03 when out of transfer slots, and
    /// 4.00 for anything malformed (§2.2).
    pub fn response_code(&self) -> ResponseType {
        match self {
            BlockError::TooLarge { .. } | BlockError::NumOverflow(_) => {
                ResponseType::RequestEntityTooLarge
            }
            BlockError::OutOfOrder { .. } => ResponseType::RequestEntityIncomplete,
            BlockError::TooManyTransfers { .. } => ResponseType::ServiceUnavailable,
            _ => ResponseType::BadRequest,
        }
    }
}

/// The raw Code byte of a packet (RFC 7252 §3).
pub(crate) fn code_byte(p: &Packet) -> u8 {
    p.header.code.into()
}

/// True for 2.xx response codes.
pub(crate) fn is_success(p: &Packet) -> bool {
    code_byte(p) >> 5 == 2
}

/// A response packet with the given code and nothing else.
pub(crate) fn response(code: ResponseType) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Response(code);
    p
}

/// Make room for `extra` more bytes in `buf` without letting its capacity
/// pass `limit`: fails with [`BlockError::TooLarge`] *before* allocating if
/// the content would exceed it. Grows geometrically (capped at `limit`) so
/// reassembling n blocks costs O(n) copying, not O(n²).
pub(crate) fn grow_for(buf: &mut Vec<u8>, extra: usize, limit: usize) -> Result<(), BlockError> {
    let needed = buf
        .len()
        .checked_add(extra)
        .filter(|&n| n <= limit)
        .ok_or(BlockError::TooLarge { limit })?;
    if needed > buf.capacity() {
        let target = buf.capacity().saturating_mul(2).max(needed).min(limit);
        buf.reserve_exact(target - buf.len());
    }
    Ok(())
}
