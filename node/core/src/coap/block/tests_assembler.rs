//! [`Block1Assembler`]: the happy path, out-of-order blocks, expiry and
//! limits.

use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

use super::tests::{body, request, PEER};
use super::*;

const OTHER: crate::coap::Peer = crate::coap::Peer::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    40000,
));

fn assembler(max_size: usize, max_transfers: usize) -> Block1Assembler {
    Block1Assembler::new(AssemblerConfig {
        max_size,
        max_transfers,
        lifetime: Duration::from_secs(60),
        block_size: 1024,
    })
    .unwrap()
}

/// Block `num` of `data` as a POST /rd?ep=dev, in blocks of `size`.
fn block(data: &[u8], num: u32, size: usize) -> Packet {
    let mut p = request(RequestType::Post, "/rd");
    p.add_option(CoapOption::UriQuery, b"ep=dev".to_vec());
    let start = (num as usize * size).min(data.len());
    let end = (start + size).min(data.len());
    set_block1(
        &mut p,
        BlockOption::from_size(num, end < data.len(), size).unwrap(),
    )
    .unwrap();
    p.payload = data[start..end].to_vec();
    p
}

fn code(p: &Packet) -> ResponseType {
    match p.header.code {
        MessageClass::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn happy_path_continues_then_completes() {
    let (mut asm, now, data) = (assembler(4096, 4), Instant::now(), body(300));
    for num in 0..2 {
        let Ok(Assembled::Continue(p)) = asm.handle_request(now, PEER, block(&data, num, 128))
        else {
            panic!("expected 2.31")
        };
        assert_eq!(code(&p), ResponseType::Continue);
        assert_eq!(
            block1(&p).unwrap(),
            BlockOption::new(num, true, 3).ok(),
            "echo (§2.3)"
        );
    }
    assert_eq!(asm.len(), 1);
    let Ok(Assembled::Complete {
        request,
        block1: echo,
    }) = asm.handle_request(now, PEER, block(&data, 2, 128))
    else {
        panic!("expected the whole request")
    };
    assert_eq!(request.payload, data);
    assert_eq!((block1(&request), size1(&request)), (Ok(None), Ok(None)));
    assert_eq!(request.get_option(CoapOption::UriQuery).unwrap().len(), 1);
    assert_eq!(echo, BlockOption::new(2, false, 3).ok());
    assert!(asm.is_empty());
    // No Block1: passed through untouched.
    let plain = request_with_payload(b"</1/0>");
    let Ok(Assembled::Complete {
        request,
        block1: None,
    }) = asm.handle_request(now, PEER, plain.clone())
    else {
        panic!("expected pass-through")
    };
    assert_eq!(request, plain);
}

fn request_with_payload(payload: &[u8]) -> Packet {
    let mut p = request(RequestType::Post, "/rd");
    p.payload = payload.to_vec();
    p
}

#[test]
fn out_of_order_blocks_are_refused_with_4_08() {
    let (mut asm, now, data) = (assembler(4096, 4), Instant::now(), body(600));
    // A block of a transfer we never saw start.
    let err = asm
        .handle_request(now, PEER, block(&data, 1, 128))
        .unwrap_err();
    assert_eq!(
        err,
        BlockError::OutOfOrder {
            expected: 0,
            got: 128
        }
    );
    assert_eq!(
        code(&asm.error_response(&err)),
        ResponseType::RequestEntityIncomplete
    );
    // A gap; the transfer survives and the right block still works.
    asm.handle_request(now, PEER, block(&data, 0, 128)).unwrap();
    let err = asm
        .handle_request(now, PEER, block(&data, 2, 128))
        .unwrap_err();
    assert_eq!(
        err,
        BlockError::OutOfOrder {
            expected: 128,
            got: 256
        }
    );
    // A retransmitted block is answered again, not appended twice.
    for _ in 0..2 {
        let r = asm.handle_request(now, PEER, block(&data, 1, 128));
        assert!(matches!(r, Ok(Assembled::Continue(_))));
    }
    // Same path from another peer, or another query, is another transfer.
    let err = asm
        .handle_request(now, OTHER, block(&data, 2, 128))
        .unwrap_err();
    assert!(matches!(err, BlockError::OutOfOrder { expected: 0, .. }));
    for num in 2..4 {
        asm.handle_request(now, PEER, block(&data, num, 128))
            .unwrap();
    }
    let Ok(Assembled::Complete { request, .. }) =
        asm.handle_request(now, PEER, block(&data, 4, 128))
    else {
        panic!("expected completion")
    };
    assert_eq!(request.payload, data);
}

#[test]
fn idle_transfers_expire() {
    let (mut asm, t0, data) = (assembler(4096, 4), Instant::now(), body(600));
    asm.handle_request(t0, PEER, block(&data, 0, 128)).unwrap();
    asm.handle_request(t0 + Duration::from_secs(30), OTHER, block(&data, 0, 128))
        .unwrap();
    assert_eq!(asm.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    asm.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(asm.len(), 1);
    assert_eq!(asm.poll_timeout(), Some(t0 + Duration::from_secs(90)));
    // A late block of the expired transfer is out of order.
    let err = asm.handle_request(t0 + Duration::from_secs(61), PEER, block(&data, 1, 128));
    assert!(matches!(
        err,
        Err(BlockError::OutOfOrder { expected: 0, .. })
    ));
    // Each block refreshes the deadline; expiry also happens on the way in.
    let r = asm.handle_request(t0 + Duration::from_secs(89), OTHER, block(&data, 1, 128));
    assert!(matches!(r, Ok(Assembled::Continue(_))));
    assert!(asm
        .handle_request(t0 + Duration::from_secs(150), OTHER, block(&data, 2, 128))
        .is_err());
    asm.remove_peer(OTHER);
    assert!(asm.is_empty());
    assert_eq!(asm.poll_timeout(), None);
}

#[test]
fn size_and_transfer_limits() {
    let (mut asm, now, data) = (assembler(300, 2), Instant::now(), body(600));
    asm.handle_request(now, PEER, block(&data, 0, 128)).unwrap();
    asm.handle_request(now, PEER, block(&data, 1, 128)).unwrap();
    let err = asm
        .handle_request(now, PEER, block(&data, 2, 128))
        .unwrap_err();
    assert_eq!(err, BlockError::TooLarge { limit: 300 });
    let resp = asm.error_response(&err);
    assert_eq!(code(&resp), ResponseType::RequestEntityTooLarge);
    assert_eq!(
        size1(&resp),
        Ok(Some(300)),
        "§2.9.3: tell the client the limit"
    );
    assert!(asm.is_empty(), "a transfer over the limit is dropped");
    // Size1 announcing too much is refused on block 0 (§4).
    let mut first = block(&data, 0, 128);
    set_size1(&mut first, 600);
    assert_eq!(
        asm.handle_request(now, PEER, first).unwrap_err(),
        BlockError::TooLarge { limit: 300 }
    );
    // At most two transfers at once.
    asm.handle_request(now, PEER, block(&data, 0, 128)).unwrap();
    asm.handle_request(now, OTHER, block(&data, 0, 128))
        .unwrap();
    let mut third = block(&data, 0, 128);
    third.set_option(CoapOption::UriPath, [b"dp".to_vec()].into_iter().collect());
    let err = asm.handle_request(now, PEER, third).unwrap_err();
    assert_eq!(err, BlockError::TooManyTransfers { limit: 2 });
    assert_eq!(
        code(&asm.error_response(&err)),
        ResponseType::ServiceUnavailable
    );
    // Restarting an existing transfer at NUM 0 does not need a new slot.
    assert!(asm.handle_request(now, PEER, block(&data, 0, 128)).is_ok());
}

#[test]
fn malformed_blocks_and_late_negotiation() {
    let (mut asm, now, data) = (assembler(4096, 4), Instant::now(), body(600));
    let mut bad = block(&data, 0, 128);
    bad.set_option(CoapOption::Block1, [vec![0x0f]].into_iter().collect());
    let err = asm.handle_request(now, PEER, bad).unwrap_err();
    assert_eq!(code(&asm.error_response(&err)), ResponseType::BadRequest);
    let mut short = block(&data, 0, 128);
    short.payload.pop();
    assert!(matches!(
        asm.handle_request(now, PEER, short),
        Err(BlockError::Protocol(_))
    ));
    // A device sending 1024-byte blocks to an assembler wanting 256 is
    // asked for 256 in the 2.31 (§2.5).
    let mut small = Block1Assembler::new(AssemblerConfig {
        block_size: 256,
        ..Default::default()
    })
    .unwrap();
    let big = body(3000);
    let Ok(Assembled::Continue(p)) = small.handle_request(now, PEER, block(&big, 0, 1024)) else {
        panic!("expected 2.31")
    };
    assert_eq!(block1(&p).unwrap(), BlockOption::new(0, true, 4).ok());
    assert!(Block1Assembler::new(AssemblerConfig {
        block_size: 100,
        ..Default::default()
    })
    .is_err());
}
