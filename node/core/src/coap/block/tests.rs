//! [`Block2Download`] end to end against a fake device function, and the
//! helpers the other test modules share.

use coap_lite::{CoapOption, ContentFormat, MessageClass, Packet, RequestType, ResponseType};

use super::*;

pub(super) const PEER: crate::coap::Peer = crate::coap::Peer::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    5683,
));

pub(super) fn request(method: RequestType, path: &str) -> Packet {
    let mut p = Packet::new();
    p.header.code = MessageClass::Request(method);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    p
}

/// A recognisable body: byte i is i mod 251.
pub(super) fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A device serving `repr` block-wise: the block the request asks for (by
/// byte offset), in the requested size capped at `max_size`.
pub(super) fn serve(repr: &[u8], etag: &[u8], req: &Packet, max_size: usize) -> Packet {
    let want = block2(req).unwrap().unwrap_or(BlockOption {
        num: 0,
        more: false,
        szx: 6,
    });
    let size = want.size().min(max_size);
    let offset = want.offset() as usize;
    let end = (offset + size).min(repr.len());
    let mut p = response(ResponseType::Content);
    p.set_content_format(ContentFormat::ApplicationVndOmaLwm2mTlv);
    p.add_option(CoapOption::ETag, etag.to_vec());
    let b = BlockOption::from_size((offset / size) as u32, end < repr.len(), size).unwrap();
    set_block2(&mut p, b).unwrap();
    p.payload = repr[offset..end].to_vec();
    p
}

/// Run a download to the end, asking for `want`-byte blocks in the first
/// request (early negotiation, §2.4); returns the final packet and every
/// Block2 NUM/size requested after the first exchange.
pub(super) fn download(
    repr: &[u8],
    max: usize,
    want: usize,
    device_size: usize,
) -> (Packet, Vec<(u32, usize)>) {
    let mut req = request(RequestType::Get, "/3/0");
    set_block2(&mut req, BlockOption::from_size(0, false, want).unwrap()).unwrap();
    let first = serve(repr, b"v1", &req, device_size);
    let (mut dl, mut step) = Block2Download::start(&req, first, max).unwrap();
    let mut asked = Vec::new();
    loop {
        match step {
            Step::Done(p) => return (p, asked),
            Step::Send(next) => {
                let b = block2(&next).unwrap().unwrap();
                assert!(!b.more, "Block2 M is 0 in requests (§2.2)");
                asked.push((b.num, b.size()));
                step = dl
                    .on_response(serve(repr, b"v1", &next, device_size))
                    .unwrap();
            }
        }
    }
}

#[test]
fn download_3000_bytes_in_512_byte_blocks() {
    let repr = body(3000);
    let mut req = request(RequestType::Get, "/3/0");
    req.set_observe_value(0);
    req.set_token(vec![1, 2, 3]);
    let first = serve(&repr, b"v1", &req, 512);
    let (mut dl, mut step) = Block2Download::start(&req, first, 4096).unwrap();
    let mut nums = Vec::new();
    while let Step::Send(next) = step {
        let b = block2(&next).unwrap().unwrap();
        nums.push(b.num);
        assert_eq!((b.more, b.size()), (false, 512));
        assert_eq!(next.header.code, MessageClass::Request(RequestType::Get));
        assert_eq!(
            next.get_token(),
            &[] as &[u8],
            "the message layer sets the token"
        );
        assert!(
            next.get_observe_value().is_none(),
            "Observe only on block 0 (§2.6)"
        );
        let path: Vec<_> = next
            .get_option(CoapOption::UriPath)
            .unwrap()
            .iter()
            .cloned()
            .collect();
        assert_eq!(path, [b"3".to_vec(), b"0".to_vec()]);
        step = dl.on_response(serve(&repr, b"v1", &next, 512)).unwrap();
    }
    assert_eq!(nums, [1, 2, 3, 4, 5]);
    let Step::Done(full) = step else {
        unreachable!()
    };
    assert_eq!(full.payload, repr);
    assert_eq!(block2(&full), Ok(None));
    assert_eq!(
        full.header.code,
        MessageClass::Response(ResponseType::Content)
    );
    assert_eq!(
        full.get_content_format(),
        Some(ContentFormat::ApplicationVndOmaLwm2mTlv)
    );
    assert!(dl.is_finished());
    assert_eq!(
        dl.on_response(response(ResponseType::Content)),
        Err(BlockError::Finished)
    );
}

#[test]
fn non_blockwise_and_single_block_responses_are_done_at_once() {
    let req = request(RequestType::Get, "/1/0");
    let mut plain = response(ResponseType::Content);
    plain.payload = b"hello".to_vec();
    let (dl, step) = Block2Download::start(&req, plain.clone(), 16).unwrap();
    assert_eq!(step, Step::Done(plain));
    assert!(dl.is_finished());
    let (full, asked) = download(&body(100), 1000, 1024, 512);
    assert_eq!((full.payload, asked), (body(100), vec![]));
}

#[test]
fn download_follows_a_smaller_device_block_size() {
    // The device answers block 0 in 512 and then only 128-byte blocks:
    // requests are renumbered by offset (§2.4).
    let repr = body(1000);
    let req = request(RequestType::Get, "/3/0");
    let first = serve(&repr, b"v1", &req, 512);
    let (mut dl, mut step) = Block2Download::start(&req, first, 4096).unwrap();
    let mut asked = Vec::new();
    while let Step::Send(next) = step {
        let b = block2(&next).unwrap().unwrap();
        asked.push((b.num, b.size()));
        step = dl.on_response(serve(&repr, b"v1", &next, 128)).unwrap();
    }
    // First follow-up asks 1/512 (offset 512), the device gives 4/128.
    assert_eq!(asked, [(1, 512), (5, 128), (6, 128), (7, 128)]);
    let Step::Done(full) = step else {
        unreachable!()
    };
    assert_eq!(full.payload, repr);
}

#[test]
fn etag_change_mid_transfer_is_an_error() {
    let repr = body(2000);
    let req = request(RequestType::Get, "/3/0");
    let (mut dl, step) = Block2Download::start(&req, serve(&repr, b"v1", &req, 512), 4096).unwrap();
    let Step::Send(next) = step else {
        panic!("expected a follow-up")
    };
    let Step::Send(next) = dl.on_response(serve(&repr, b"v1", &next, 512)).unwrap() else {
        panic!("expected a follow-up")
    };
    assert_eq!(
        dl.on_response(serve(&repr, b"v2", &next, 512)),
        Err(BlockError::EtagMismatch)
    );
    assert!(dl.is_finished());
    assert_eq!(dl.received(), 0, "buffers are released");
}

#[test]
fn size_limit_is_enforced_before_growing() {
    let repr = body(3000);
    let req = request(RequestType::Get, "/3/0");
    let (mut dl, mut step) =
        Block2Download::start(&req, serve(&repr, b"e", &req, 512), 2000).unwrap();
    let mut result = Ok(());
    while let Step::Send(next) = step {
        match dl.on_response(serve(&repr, b"e", &next, 512)) {
            Ok(s) => step = s,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    assert_eq!(result, Err(BlockError::TooLarge { limit: 2000 }));
    // A Size2 announcing too much fails at once (§4).
    let mut first = serve(&repr, b"e", &req, 512);
    set_size2(&mut first, 3000);
    assert_eq!(
        Block2Download::start(&req, first, 2999).unwrap_err(),
        BlockError::TooLarge { limit: 2999 }
    );
}

#[test]
fn device_errors_and_protocol_violations_end_the_download() {
    let repr = body(2000);
    let req = request(RequestType::Get, "/3/0");
    let begin = || Block2Download::start(&req, serve(&repr, b"e", &req, 512), 4096).unwrap();
    // A different code mid-way comes back as Done so the caller sees it.
    let (mut dl, _) = begin();
    let not_found = response(ResponseType::NotFound);
    assert_eq!(dl.on_response(not_found.clone()), Ok(Step::Done(not_found)));
    // A block at the wrong offset.
    let (mut dl, _) = begin();
    let mut wrong = req.clone();
    set_block2(&mut wrong, BlockOption::from_size(3, false, 512).unwrap()).unwrap();
    assert_eq!(
        dl.on_response(serve(&repr, b"e", &wrong, 512)),
        Err(BlockError::OutOfOrder {
            expected: 512,
            got: 1536
        })
    );
    // Same code but no Block2, and a short non-final block.
    let (mut dl, _) = begin();
    assert!(matches!(
        dl.on_response(response(ResponseType::Content)),
        Err(BlockError::Protocol(_))
    ));
    let (mut dl, Step::Send(next)) = begin() else {
        unreachable!()
    };
    let mut short = serve(&repr, b"e", &next, 512);
    short.payload.pop();
    assert!(matches!(
        dl.on_response(short),
        Err(BlockError::Protocol(_))
    ));
    // A first response that is not block 0.
    let mut late = req.clone();
    set_block2(&mut late, BlockOption::from_size(1, false, 512).unwrap()).unwrap();
    let err = Block2Download::start(&req, serve(&repr, b"e", &late, 512), 4096).unwrap_err();
    assert!(matches!(err, BlockError::OutOfOrder { expected: 0, .. }));
}

#[test]
fn fetch_repeats_its_body_post_does_not() {
    let repr = body(100);
    for (method, kept) in [(RequestType::Fetch, true), (RequestType::Post, false)] {
        let mut req = request(method, "/3/0");
        req.payload = b"query".to_vec();
        let (_, step) = Block2Download::start(&req, serve(&repr, b"e", &req, 16), 200).unwrap();
        let Step::Send(next) = step else {
            panic!("expected a follow-up")
        };
        assert_eq!(next.payload.is_empty(), !kept);
        assert_eq!(next.header.code, MessageClass::Request(method));
    }
}
