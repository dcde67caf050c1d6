//! Property tests: no input panics the codecs or the state machines, and
//! downloads/uploads reassemble any body at any block size.

use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use proptest::prelude::*;

use super::tests::{body, download, request, PEER};
use super::tests_upload::upload;
use super::*;

fn arb_option_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..6)
}

/// A response with arbitrary Block2/ETag bytes and payload length.
fn arb_response() -> impl Strategy<Value = Packet> {
    (
        prop_oneof![Just(0x45u8), Just(0x84), any::<u8>()],
        proptest::option::of(arb_option_bytes()),
        proptest::option::of(arb_option_bytes()),
        0usize..1100,
    )
        .prop_map(|(code, b2, etag, len)| {
            let mut p = Packet::new();
            p.header.code = MessageClass::from(code);
            if let Some(v) = b2 {
                p.add_option(CoapOption::Block2, v);
            }
            if let Some(v) = etag {
                p.add_option(CoapOption::ETag, v);
            }
            p.payload = vec![7; len];
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(bytes in arb_option_bytes()) {
        match BlockOption::decode(&bytes) {
            Ok(b) => {
                prop_assert!(bytes.len() <= 3 && b.szx < 7 && b.num <= MAX_NUM);
                prop_assert_eq!(BlockOption::decode(&b.encode()), Ok(b));
                prop_assert!(b.encode().len() <= bytes.len());
            }
            Err(_) => prop_assert!(bytes.len() > 3 || bytes.last().is_some_and(|b| b & 7 == 7)),
        }
    }

    #[test]
    fn encode_decode_round_trip(num in 0..=MAX_NUM, more in any::<bool>(), szx in 0u8..7) {
        let b = BlockOption::new(num, more, szx).unwrap();
        prop_assert_eq!(BlockOption::decode(&b.encode()), Ok(b));
        prop_assert_eq!(b.size(), 16usize << szx);
    }

    #[test]
    fn packet_getters_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = Packet::from_bytes(&bytes) {
            let _ = (block1(&p), block2(&p), size1(&p), size2(&p));
        }
    }

    #[test]
    fn download_round_trip(len in 0usize..5000, szx in 0u8..7, device_szx in 0u8..7) {
        let repr = body(len);
        let (full, asked) = download(&repr, 5000, 16 << szx, 16 << device_szx);
        prop_assert_eq!(&full.payload, &repr);
        prop_assert_eq!(block2(&full), Ok(None));
        let size = 16usize << device_szx.min(szx);
        prop_assert_eq!(asked.len(), len.div_ceil(size).saturating_sub(1));
    }

    #[test]
    fn upload_round_trip(len in 0usize..5000, szx in 0u8..7, device_szx in 0u8..7) {
        let payload = body(len);
        let (sent, fin, got) = upload(payload.clone(), 16 << szx, 16 << device_szx);
        prop_assert_eq!(got.map(|g| g.payload), Some(payload));
        prop_assert_eq!(fin.header.code, MessageClass::Response(ResponseType::Changed));
        let size = 16usize << szx;
        if len <= size {
            prop_assert_eq!(sent.len(), 1);
        } else if device_szx >= szx {
            prop_assert_eq!(sent.len(), len.div_ceil(size));
        } else {
            // Block 0 at our size, the rest at the device's (§2.5).
            let small = 16usize << device_szx;
            prop_assert_eq!(sent.len(), 1 + (len - size).div_ceil(small));
        }
    }

    #[test]
    fn download_survives_arbitrary_responses(
        len in 600usize..3000,
        responses in proptest::collection::vec(arb_response(), 1..8),
    ) {
        let repr = body(len);
        let req = request(RequestType::Get, "/3/0");
        let first = super::tests::serve(&repr, b"e", &req, 256);
        let (mut dl, _) = Block2Download::start(&req, first, 4000).unwrap();
        for r in responses {
            let _ = dl.on_response(r);
            prop_assert!(dl.received() <= 4000);
        }
    }

    #[test]
    fn assembler_survives_arbitrary_requests(
        reqs in proptest::collection::vec(
            (arb_option_bytes(), 0usize..1100, any::<bool>(), 0u64..100),
            1..24,
        ),
    ) {
        let cfg = AssemblerConfig {
            max_size: 2048,
            max_transfers: 3,
            ..AssemblerConfig::default()
        };
        let mut asm = Block1Assembler::new(cfg).unwrap();
        let t0 = Instant::now();
        for (i, (b1, len, other_path, secs)) in reqs.into_iter().enumerate() {
            let mut p = request(RequestType::Post, if other_path { "/dp" } else { "/rd" });
            p.add_option(CoapOption::UriQuery, vec![b'a' + (i % 4) as u8]);
            p.add_option(CoapOption::Block1, b1);
            p.payload = vec![1; len];
            if let Err(e) = asm.handle_request(t0 + Duration::from_secs(secs * 5), PEER, p) {
                let _ = asm.error_response(&e);
            }
            prop_assert!(asm.len() <= 3);
        }
    }
}

/// Blocks of `data` in `size`-byte blocks as POST /dp requests.
fn blocks_of(data: &[u8], size: usize) -> Vec<Packet> {
    let n = data.len().div_ceil(size).max(1);
    (0..n)
        .map(|i| {
            let mut p = request(RequestType::Post, "/dp");
            let end = ((i + 1) * size).min(data.len());
            let b = BlockOption::from_size(i as u32, end < data.len(), size).unwrap();
            set_block1(&mut p, b).unwrap();
            p.payload = data[(i * size).min(end)..end].to_vec();
            p
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn interleaved_transfers_from_two_peers(
        (a, b) in (1usize..3000, 1usize..3000),
        (sa, sb) in (0u8..7, 0u8..7),
        order in proptest::collection::vec(any::<bool>(), 0..400),
    ) {
        let other: crate::coap::Peer = "127.0.0.1:1".parse().unwrap();
        let mut asm = Block1Assembler::new(AssemblerConfig::default()).unwrap();
        let now = Instant::now();
        let (da, db) = (body(a), body(b).into_iter().rev().collect::<Vec<_>>());
        let mut queues = [
            blocks_of(&da, 16 << sa).into_iter(),
            blocks_of(&db, 16 << sb).into_iter(),
        ];
        let mut done: [Option<Vec<u8>>; 2] = [None, None];
        let picks = order
            .into_iter()
            .chain(std::iter::repeat_n(false, 200))
            .chain(std::iter::repeat_n(true, 200));
        for pick in picks {
            let i = usize::from(pick);
            let Some(p) = queues[i].next() else { continue };
            match asm.handle_request(now, if i == 0 { PEER } else { other }, p).unwrap() {
                Assembled::Continue(r) => prop_assert!(block1(&r).unwrap().unwrap().more),
                Assembled::Complete { request, .. } => done[i] = Some(request.payload),
            }
        }
        prop_assert_eq!(done, [Some(da), Some(db)]);
        prop_assert!(asm.is_empty());
    }

    #[test]
    fn upload_survives_arbitrary_responses(
        len in 0usize..3000,
        szx in 0u8..7,
        responses in proptest::collection::vec(
            (
                prop_oneof![Just(0x5fu8), Just(0x44), Just(0x8d), any::<u8>()],
                proptest::option::of(arb_option_bytes()),
            ),
            1..12,
        ),
    ) {
        let mut req = request(RequestType::Put, "/5/0/0");
        req.payload = body(len);
        let (mut up, _) = Block1Upload::start(req, 16 << szx).unwrap();
        for (code, b1) in responses {
            let mut r = Packet::new();
            r.header.code = MessageClass::from(code);
            if let Some(v) = b1 {
                r.add_option(CoapOption::Block1, v);
            }
            let was_finished = up.is_finished();
            match up.on_response(r) {
                Ok(Step::Send(p)) => {
                    let b = block1(&p).unwrap().unwrap();
                    prop_assert!(p.payload.len() <= b.size());
                    prop_assert_eq!(b.offset() as usize, up.acknowledged());
                }
                Ok(Step::Done(_)) | Err(_) => prop_assert!(up.is_finished() || was_finished),
            }
        }
    }
}
