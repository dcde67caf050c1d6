//! Client-side Block1 upload (RFC 7959 §2.5): send a large request body —
//! say a firmware image PUT to /5/0/0 — in blocks, one exchange each.

use coap_lite::{CoapOption, Packet};

use super::option::{block1, set_block1, set_size1, szx_for_size, BlockOption, MAX_NUM};
use super::{code_byte, is_success, BlockError, Step};

const CONTINUE: u8 = 0x5f; // 2.31 (§2.9.1)
const TOO_LARGE: u8 = 0x8d; // 4.13 (§2.9.3)

/// One Block1 upload in progress. [`Block1Upload::start`] returns the first
/// block; feed each response to [`Block1Upload::on_response`], which
/// returns the next block to send or the final response.
///
/// Each block request repeats the original method and options, with the
/// token cleared (the message layer assigns one per exchange, §2.3) and
/// Block1 `NUM/M/SZX` set; the first also carries Size1 with the total body
/// size (§4) so the server can refuse early with 4.13.
///
/// Responses: 2.31 Continue with the Block1 echo of the block just sent
/// means "go on" (atomic server, §2.5, §2.9.1); another 2.xx with the echo
/// is a non-atomic server that acted on the block, also "go on" (§2.5). A
/// smaller SZX in that echo is late negotiation (§2.5, Figure 12 of §3.2):
/// the next block keeps the byte offset and is renumbered in the smaller
/// size. A 4.13 to block 0 with a smaller SZX in Block1 restarts at that
/// size (§2.9.3). Any other response ends the upload as [`Step::Done`]:
/// the final response to the last block, or the server's error mid-way.
#[derive(Debug)]
pub struct Block1Upload {
    template: Packet,
    body: Vec<u8>,
    total: usize,
    szx: u8,
    /// The block in flight: number, byte offset and length.
    num: u32,
    offset: usize,
    len: usize,
    /// False if the body fitted one block and went as a plain request.
    blockwise: bool,
    finished: bool,
}

impl Block1Upload {
    /// Split `request`'s payload into blocks of `block_size` bytes (a power
    /// of two in 16..=1024) and return the first request to send. A body
    /// that fits one block is sent as-is without Block1 (nothing to split).
    pub fn start(
        mut request: Packet,
        block_size: usize,
    ) -> Result<(Block1Upload, Packet), BlockError> {
        let szx = szx_for_size(block_size)?;
        let body = std::mem::take(&mut request.payload);
        let last = (body.len().saturating_sub(1) / block_size) as u64;
        if last > u64::from(MAX_NUM) {
            return Err(BlockError::NumOverflow(last));
        }
        request.set_token(Vec::new());
        request.clear_option(CoapOption::Block1);
        request.clear_option(CoapOption::Size1);
        let mut up = Block1Upload {
            template: request,
            total: body.len(),
            body,
            szx,
            num: 0,
            offset: 0,
            len: 0,
            blockwise: false,
            finished: false,
        };
        if up.body.len() <= block_size {
            let mut single = std::mem::take(&mut up.template);
            single.payload = std::mem::take(&mut up.body);
            up.len = single.payload.len();
            return Ok((up, single));
        }
        up.blockwise = true;
        let first = up.block()?;
        Ok((up, first))
    }

    /// Feed the response to the block last sent.
    pub fn on_response(&mut self, response: Packet) -> Result<Step, BlockError> {
        if self.finished {
            return Err(BlockError::Finished);
        }
        let step = self.step(response);
        if !matches!(step, Ok(Step::Send(_))) {
            self.finished = true;
            self.body = Vec::new();
        }
        step
    }

    /// Body bytes sent and acknowledged so far (excluding the block in
    /// flight).
    pub fn acknowledged(&self) -> usize {
        self.offset
    }

    /// Total body size.
    pub fn total(&self) -> usize {
        self.total
    }

    /// True once `Done` or an error was returned.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn size(&self) -> usize {
        1 << (self.szx + 4)
    }

    fn more(&self) -> bool {
        self.offset + self.len < self.body.len()
    }

    fn step(&mut self, response: Packet) -> Result<Step, BlockError> {
        if !self.blockwise {
            return Ok(Step::Done(response));
        }
        let code = code_byte(&response);
        let echo = block1(&response)?;
        if code == CONTINUE || (is_success(&response) && echo.is_some() && self.more()) {
            if !self.more() {
                return Err(BlockError::Protocol("2.31 Continue for the last block"));
            }
            let b = echo.ok_or(BlockError::Protocol("2.31 Continue without Block1"))?;
            if b.num != self.num {
                return Err(BlockError::OutOfOrder {
                    expected: self.offset as u64,
                    got: u64::from(b.num) * self.size() as u64,
                });
            }
            // §2.5 late negotiation: the offset of the next block is a
            // multiple of the old size, hence of any smaller one.
            self.szx = self.szx.min(b.szx);
            self.offset += self.len;
            return self.block().map(Step::Send);
        }
        if code == TOO_LARGE && self.num == 0 {
            if let Some(b) = echo.filter(|b| b.szx < self.szx) {
                self.szx = b.szx;
                return self.block().map(Step::Send);
            }
        }
        Ok(Step::Done(response))
    }

    /// The request carrying the block at `self.offset` in `self.szx`.
    fn block(&mut self) -> Result<Packet, BlockError> {
        let size = self.size();
        let num = self.offset / size;
        self.num = u32::try_from(num)
            .ok()
            .filter(|&n| n <= MAX_NUM)
            .ok_or(BlockError::NumOverflow(num as u64))?;
        self.len = size.min(self.body.len() - self.offset);
        let mut p = self.template.clone();
        set_block1(&mut p, BlockOption::new(self.num, self.more(), self.szx)?)?;
        if self.num == 0 {
            if let Ok(total) = u32::try_from(self.body.len()) {
                set_size1(&mut p, total);
            }
        }
        p.payload = self.body[self.offset..self.offset + self.len].to_vec();
        Ok(p)
    }
}
