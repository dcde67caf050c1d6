//! [`Block1Upload`] end to end against a [`Block1Assembler`] playing the
//! device, plus scripted responses for the error paths.

use std::time::Instant;

use coap_lite::{MessageClass, Packet, RequestType, ResponseType};

use super::tests::{body, request, PEER};
use super::*;

/// The device: reassembles with `asm`, answers 2.04 Changed with the
/// Block1 echo when the body is complete and stores it in `got`.
pub(super) fn device(asm: &mut Block1Assembler, req: Packet, got: &mut Option<Packet>) -> Packet {
    match asm.handle_request(Instant::now(), PEER, req) {
        Ok(Assembled::Continue(p)) => p,
        Ok(Assembled::Complete { request, block1 }) => {
            let mut p = response(ResponseType::Changed);
            if let Some(b) = block1 {
                set_block1(&mut p, b).unwrap();
            }
            *got = Some(request);
            p
        }
        Err(e) => asm.error_response(&e),
    }
}

/// Upload `payload` in `size` blocks to a device preferring `device_size`;
/// returns every request sent, the final response and what the device got.
pub(super) fn upload(
    payload: Vec<u8>,
    size: usize,
    device_size: usize,
) -> (Vec<Packet>, Packet, Option<Packet>) {
    let mut asm = Block1Assembler::new(AssemblerConfig {
        max_size: 2 << 20,
        block_size: device_size,
        ..AssemblerConfig::default()
    })
    .unwrap();
    let mut req = request(RequestType::Put, "/5/0/0");
    req.payload = payload;
    let (mut up, mut next) = Block1Upload::start(req, size).unwrap();
    let (mut sent, mut got) = (Vec::new(), None);
    loop {
        sent.push(next.clone());
        match up.on_response(device(&mut asm, next, &mut got)).unwrap() {
            Step::Send(p) => next = p,
            Step::Done(fin) => {
                assert!(asm.is_empty(), "the device keeps no state afterwards");
                return (sent, fin, got);
            }
        }
    }
}

#[test]
fn one_mebibyte_firmware_in_1024_byte_blocks() {
    let firmware = body(1 << 20);
    let (sent, fin, got) = upload(firmware.clone(), 1024, 1024);
    assert_eq!(sent.len(), 1024);
    for (i, p) in sent.iter().enumerate() {
        let b = block1(p).unwrap().unwrap();
        assert_eq!((b.num as usize, b.more, b.size()), (i, i < 1023, 1024));
        assert_eq!(p.payload, firmware[i * 1024..(i + 1) * 1024]);
        assert_eq!(p.header.code, MessageClass::Request(RequestType::Put));
        // Size1 announces the total on the first block only (§4).
        assert_eq!(size1(p).unwrap(), (i == 0).then_some(1 << 20));
    }
    assert_eq!(
        fin.header.code,
        MessageClass::Response(ResponseType::Changed)
    );
    assert_eq!(block1(&fin).unwrap(), BlockOption::new(1023, false, 6).ok());
    let got = got.unwrap();
    assert_eq!(got.payload, firmware);
    assert_eq!(block1(&got), Ok(None));
}

#[test]
fn late_negotiation_renumbers_to_the_smaller_size() {
    // §3.2 Figure 12: 1:0/1/128 answered with 2.31 1:0/1/32 → next is 1:4/1/32.
    let payload = body(1000);
    let (sent, fin, got) = upload(payload.clone(), 128, 32);
    let blocks: Vec<_> = sent.iter().map(|p| block1(p).unwrap().unwrap()).collect();
    assert_eq!((blocks[0].num, blocks[0].size()), (0, 128));
    assert_eq!((blocks[1].num, blocks[1].size()), (4, 32));
    assert_eq!(sent.len(), 1 + (1000 - 128usize).div_ceil(32));
    for (b, p) in blocks.iter().zip(&sent) {
        let at = b.offset() as usize;
        assert_eq!(p.payload, payload[at..(at + b.size()).min(1000)]);
    }
    assert!(!blocks.last().unwrap().more);
    assert_eq!(
        fin.header.code,
        MessageClass::Response(ResponseType::Changed)
    );
    assert_eq!(got.unwrap().payload, payload);
}

#[test]
fn small_body_goes_as_one_plain_request() {
    let mut req = request(RequestType::Put, "/3/0/14");
    req.payload = b"+01:00".to_vec();
    req.set_token(vec![9]);
    let (mut up, first) = Block1Upload::start(req, 16).unwrap();
    assert_eq!(block1(&first), Ok(None));
    assert_eq!(first.payload, b"+01:00");
    assert!(first.get_token().is_empty());
    let changed = response(ResponseType::Changed);
    assert_eq!(up.on_response(changed.clone()), Ok(Step::Done(changed)));
    assert_eq!(
        up.on_response(response(ResponseType::Changed)),
        Err(BlockError::Finished)
    );
}

/// Start a 100-byte upload in 32-byte blocks; returns it after block 0.
fn started() -> Block1Upload {
    let mut req = request(RequestType::Post, "/dp");
    req.payload = body(100);
    let (up, first) = Block1Upload::start(req, 32).unwrap();
    assert_eq!(block1(&first).unwrap(), BlockOption::new(0, true, 1).ok());
    up
}

fn reply(code: ResponseType, echo: Option<(u32, bool, u8)>) -> Packet {
    let mut p = response(code);
    if let Some((num, more, szx)) = echo {
        set_block1(&mut p, BlockOption::new(num, more, szx).unwrap()).unwrap();
    }
    p
}

#[test]
fn device_error_mid_upload_is_returned_as_done() {
    let mut up = started();
    let err = reply(ResponseType::RequestEntityIncomplete, None);
    assert_eq!(up.on_response(err.clone()), Ok(Step::Done(err)));
    assert!(up.is_finished());
    // A 2.04 without Block1 echo mid-way also ends it (the caller decides).
    let mut up = started();
    let changed = reply(ResponseType::Changed, None);
    assert_eq!(up.on_response(changed.clone()), Ok(Step::Done(changed)));
}

#[test]
fn non_atomic_server_and_protocol_violations() {
    // 2.04 with the echo on a non-final block: non-atomic server, go on.
    let mut up = started();
    let Ok(Step::Send(p)) = up.on_response(reply(ResponseType::Changed, Some((0, true, 1)))) else {
        panic!("expected the next block")
    };
    assert_eq!(block1(&p).unwrap().unwrap().num, 1);
    assert_eq!(up.acknowledged(), 32);
    // 2.31 acknowledging a block we did not send.
    let mut up = started();
    assert!(matches!(
        up.on_response(reply(ResponseType::Continue, Some((2, true, 1)))),
        Err(BlockError::OutOfOrder { expected: 0, .. })
    ));
    // 2.31 without Block1.
    let mut up = started();
    assert!(matches!(
        up.on_response(reply(ResponseType::Continue, None)),
        Err(BlockError::Protocol(_))
    ));
    // 2.31 for the last block.
    let mut up = started();
    for num in 0..3 {
        assert!(matches!(
            up.on_response(reply(ResponseType::Continue, Some((num, true, 1)))),
            Ok(Step::Send(_))
        ));
    }
    assert!(matches!(
        up.on_response(reply(ResponseType::Continue, Some((3, true, 1)))),
        Err(BlockError::Protocol(_))
    ));
}

#[test]
fn too_large_with_smaller_szx_restarts_and_bad_sizes_fail() {
    let mut up = started();
    let Ok(Step::Send(p)) = up.on_response(reply(
        ResponseType::RequestEntityTooLarge,
        Some((0, false, 0)),
    )) else {
        panic!("expected a restart")
    };
    assert_eq!(block1(&p).unwrap(), BlockOption::new(0, true, 0).ok());
    assert_eq!(p.payload, body(16));
    let too_large = reply(ResponseType::RequestEntityTooLarge, None);
    let mut up = started();
    assert_eq!(up.on_response(too_large.clone()), Ok(Step::Done(too_large)));
    for size in [0, 100, 2048] {
        let err = Block1Upload::start(Packet::new(), size).unwrap_err();
        assert_eq!(err, BlockError::InvalidSize(size));
    }
    let mut huge = request(RequestType::Put, "/5/0/0");
    huge.payload = vec![0; (MAX_NUM as usize + 1) * 16 + 1];
    assert!(matches!(
        Block1Upload::start(huge, 16),
        Err(BlockError::NumOverflow(_))
    ));
}
