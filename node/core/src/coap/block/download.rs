//! Client-side Block2 download (RFC 7959 §2.4): the device answered our GET
//! or FETCH with the first block of a representation (Block2 M=1); request
//! the following blocks until M=0 and reassemble them.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};

use super::option::{block2, set_block2, size2, BlockOption, MAX_NUM};
use super::{code_byte, grow_for, BlockError, Step};

/// One Block2 download in progress. Sans-IO: [`Block2Download::start`] and
/// [`Block2Download::on_response`] return the next request to send (a
/// [`Step::Send`]) until the representation is complete ([`Step::Done`]).
///
/// Follow-up requests repeat the original request's method and options
/// (§2.4: the same request, with Block2 asking for the next NUM and M=0)
/// minus Observe (§2.6: only the first block registers an observation),
/// Block1/Size1/Size2, and the token (the message layer assigns one per
/// exchange, §2.3). The payload is repeated only for FETCH, whose body is
/// part of the request (RFC 8132 §2); after a Block1 upload (§2.7, §3.3)
/// the follow-ups of a POST/PUT carry none.
///
/// The block size follows the server: a smaller SZX in a response is
/// adopted for the following requests (§2.4), a larger one is ignored.
#[derive(Debug)]
pub struct Block2Download {
    /// Follow-up request without a Block2 option.
    template: Packet,
    /// The first response minus its payload: its code and options (e.g.
    /// Content-Format, Observe) head the reassembled response.
    first: Packet,
    body: Vec<u8>,
    szx: u8,
    etag: Option<Vec<Vec<u8>>>,
    max_size: usize,
    finished: bool,
}

impl Block2Download {
    /// Begin from the original `request` and its `first` response. If
    /// `first` has no Block2 option it is returned unchanged as
    /// [`Step::Done`] and the returned state is already finished. Otherwise
    /// `first` must be block 0; a single block (M=0) is also `Done`.
    /// `max_size` bounds the whole representation (checked against Size2,
    /// §4, and before every append).
    pub fn start(
        request: &Packet,
        mut first: Packet,
        max_size: usize,
    ) -> Result<(Block2Download, Step), BlockError> {
        let mut dl = Block2Download {
            template: Packet::new(),
            first: Packet::new(),
            body: Vec::new(),
            szx: 6,
            etag: None,
            max_size,
            finished: true,
        };
        let Some(b) = block2(&first)? else {
            return Ok((dl, Step::Done(first)));
        };
        if b.num != 0 {
            return Err(BlockError::OutOfOrder {
                expected: 0,
                got: b.offset(),
            });
        }
        if let Some(total) = size2(&first)? {
            let total = usize::try_from(total).unwrap_or(usize::MAX);
            if total > max_size {
                return Err(BlockError::TooLarge { limit: max_size });
            }
            dl.body.reserve_exact(total);
        }
        dl.etag = etag(&first);
        dl.szx = b.szx;
        dl.first = first.clone();
        dl.first.payload = Vec::new();
        dl.template = follow_up_template(request);
        let payload = std::mem::take(&mut first.payload);
        dl.finished = false;
        let step = dl.append(b, payload);
        if !matches!(step, Ok(Step::Send(_))) {
            dl.finish();
        }
        step.map(|s| (dl, s))
    }

    /// Feed the response to the last [`Step::Send`]. A response whose code
    /// differs from the first block's (e.g. 4.04, 5.00) ends the transfer
    /// and is returned as-is in [`Step::Done`] so the caller sees the
    /// device's answer. Any error also ends the transfer.
    pub fn on_response(&mut self, mut response: Packet) -> Result<Step, BlockError> {
        if self.finished {
            return Err(BlockError::Finished);
        }
        let step = if code_byte(&response) != code_byte(&self.first) {
            Ok(Step::Done(response))
        } else {
            self.check(&response).and_then(|b| {
                let payload = std::mem::take(&mut response.payload);
                self.append(b, payload)
            })
        };
        if !matches!(step, Ok(Step::Send(_))) {
            self.finish();
        }
        step
    }

    /// Bytes of the representation received so far.
    pub fn received(&self) -> usize {
        self.body.len()
    }

    /// True once `Done` or an error was returned.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Block2 present, ETag unchanged (§2.4), and the block continues
    /// exactly where the body ends.
    fn check(&self, response: &Packet) -> Result<BlockOption, BlockError> {
        let b = block2(response)?.ok_or(BlockError::Protocol("Block2 missing mid-transfer"))?;
        if etag(response) != self.etag {
            return Err(BlockError::EtagMismatch);
        }
        let expected = self.body.len() as u64;
        if b.offset() != expected {
            return Err(BlockError::OutOfOrder {
                expected,
                got: b.offset(),
            });
        }
        Ok(b)
    }

    /// Append block `b` and decide what comes next.
    fn append(&mut self, b: BlockOption, payload: Vec<u8>) -> Result<Step, BlockError> {
        // §2.2: a block with M=1 carries exactly 2^(SZX+4) bytes; the last
        // one at most that many.
        if (b.more && payload.len() != b.size()) || payload.len() > b.size() {
            return Err(BlockError::Protocol("block payload does not match its SZX"));
        }
        grow_for(&mut self.body, payload.len(), self.max_size)?;
        self.body.extend_from_slice(&payload);
        if !b.more {
            let mut done = std::mem::take(&mut self.first);
            done.payload = std::mem::take(&mut self.body);
            done.clear_option(CoapOption::Block2);
            done.clear_option(CoapOption::Size2);
            return Ok(Step::Done(done));
        }
        // Every block so far was a full block of a size ≥ the smallest SZX
        // seen, so the body length is a multiple of that size.
        self.szx = self.szx.min(b.szx);
        let size = 1u64 << (self.szx + 4);
        let num = self.body.len() as u64 / size;
        if num > u64::from(MAX_NUM) {
            return Err(BlockError::NumOverflow(num));
        }
        let mut next = self.template.clone();
        set_block2(&mut next, BlockOption::new(num as u32, false, self.szx)?)?;
        Ok(Step::Send(next))
    }

    fn finish(&mut self) {
        self.finished = true;
        self.body = Vec::new();
        self.template = Packet::new();
    }
}

/// The ETag option values of a response (§2.4 compares them across blocks).
fn etag(p: &Packet) -> Option<Vec<Vec<u8>>> {
    p.get_option(CoapOption::ETag)
        .map(|l| l.iter().cloned().collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
}

/// The original request as a template for the follow-ups (see the type's
/// documentation for what is kept).
fn follow_up_template(request: &Packet) -> Packet {
    let mut t = request.clone();
    t.set_token(Vec::new());
    for opt in [
        CoapOption::Observe,
        CoapOption::Block1,
        CoapOption::Block2,
        CoapOption::Size1,
        CoapOption::Size2,
    ] {
        t.clear_option(opt);
    }
    if t.header.code != MessageClass::Request(RequestType::Fetch) {
        t.payload = Vec::new();
    }
    t
}
