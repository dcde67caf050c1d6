//! The Block1/Block2 option value (RFC 7959 §2.2) and the Size1/Size2
//! options (§4), with getters and setters on [`Packet`].

use coap_lite::{CoapOption, Packet};

use super::BlockError;

/// Largest NUM a 3-byte option value can carry: 20 bits (§2.2).
pub const MAX_NUM: u32 = (1 << 20) - 1;

/// A Block1 or Block2 option value (RFC 7959 §2.2): block number NUM, the
/// "more blocks follow" bit M, and the size exponent SZX, where the block
/// size is 2^(SZX+4) bytes, 16..=1024. SZX 7 is reserved (BERT, RFC 8323,
/// is not used over UDP) and rejected on decode.
///
/// Fields are public; a hand-built value with NUM > [`MAX_NUM`] or SZX > 6
/// is caught by [`BlockOption::validate`] (the setters call it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockOption {
    pub num: u32,
    pub more: bool,
    pub szx: u8,
}

impl BlockOption {
    /// A validated value.
    pub fn new(num: u32, more: bool, szx: u8) -> Result<BlockOption, BlockError> {
        let b = BlockOption { num, more, szx };
        b.validate()?;
        Ok(b)
    }

    /// A value from a block size in bytes (16, 32, …, 1024).
    pub fn from_size(num: u32, more: bool, size: usize) -> Result<BlockOption, BlockError> {
        BlockOption::new(num, more, szx_for_size(size)?)
    }

    /// The block size 2^(SZX+4) in bytes (§2.2). An out-of-range SZX is
    /// clamped to 7 (2048) rather than overflowing; `validate` rejects it.
    pub fn size(&self) -> usize {
        1usize << (self.szx.min(7) + 4)
    }

    /// Byte offset of this block in the body: NUM × size (§2.2). Never
    /// overflows: computed in 64 bits from a 32-bit NUM and a size ≤ 2^11.
    pub fn offset(&self) -> u64 {
        u64::from(self.num) * self.size() as u64
    }

    /// NUM fits 20 bits and SZX is not reserved.
    pub fn validate(&self) -> Result<(), BlockError> {
        if self.szx >= 7 {
            return Err(BlockError::InvalidSize(self.size()));
        }
        if self.num > MAX_NUM {
            return Err(BlockError::NumOverflow(self.num.into()));
        }
        Ok(())
    }

    /// Decode an option value of 0–3 bytes, a big-endian unsigned integer
    /// `NUM << 4 | M << 3 | SZX` (§2.2; the empty value means NUM 0, M 0,
    /// SZX 0). Longer values and SZX 7 are errors.
    pub fn decode(bytes: &[u8]) -> Result<BlockOption, BlockError> {
        BlockOption::decode_named(bytes, "Block")
    }

    pub(crate) fn decode_named(
        bytes: &[u8],
        option: &'static str,
    ) -> Result<BlockOption, BlockError> {
        if bytes.len() > 3 {
            return Err(BlockError::Malformed {
                option,
                reason: "longer than 3 bytes",
            });
        }
        let v = bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
        let szx = (v & 0x7) as u8;
        if szx == 7 {
            return Err(BlockError::ReservedSzx { option });
        }
        Ok(BlockOption {
            num: v >> 4,
            more: v & 0x8 != 0,
            szx,
        })
    }

    /// Encode in the fewest bytes (RFC 7252 §3.2 uint): 0 → empty value.
    /// Only NUM's low 20 bits fit; call [`BlockOption::validate`] first if
    /// the value was built by hand (the packet setters do).
    pub fn encode(&self) -> Vec<u8> {
        let v = ((self.num & MAX_NUM) << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 7);
        uint_bytes(v)
    }
}

/// SZX for a block size: `size` must be a power of two in 16..=1024 (§2.2).
pub(crate) fn szx_for_size(size: usize) -> Result<u8, BlockError> {
    if !(16..=1024).contains(&size) || !size.is_power_of_two() {
        return Err(BlockError::InvalidSize(size));
    }
    Ok((size.trailing_zeros() - 4) as u8)
}

/// Minimal big-endian bytes of an unsigned integer (RFC 7252 §3.2).
fn uint_bytes(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count();
    b[skip..].to_vec()
}

/// The single value of a non-repeatable option, or `None`. A repeated
/// critical option must not be silently ignored (RFC 7252 §5.4.5), so it is
/// an error. `clear_option` leaves an empty list behind: that is absent.
fn single<'a>(
    p: &'a Packet,
    opt: CoapOption,
    name: &'static str,
) -> Result<Option<&'a [u8]>, BlockError> {
    let Some(list) = p.get_option(opt) else {
        return Ok(None);
    };
    let mut it = list.iter();
    let first = it.next();
    if it.next().is_some() {
        return Err(BlockError::Malformed {
            option: name,
            reason: "repeated",
        });
    }
    Ok(first.map(Vec::as_slice))
}

fn get_block(
    p: &Packet,
    opt: CoapOption,
    name: &'static str,
) -> Result<Option<BlockOption>, BlockError> {
    single(p, opt, name)?
        .map(|v| BlockOption::decode_named(v, name))
        .transpose()
}

fn set_block(p: &mut Packet, opt: CoapOption, b: BlockOption) -> Result<(), BlockError> {
    b.validate()?;
    p.clear_option(opt);
    p.add_option(opt, b.encode());
    Ok(())
}

fn get_size(p: &Packet, opt: CoapOption, name: &'static str) -> Result<Option<u32>, BlockError> {
    let Some(v) = single(p, opt, name)? else {
        return Ok(None);
    };
    if v.len() > 4 {
        return Err(BlockError::Malformed {
            option: name,
            reason: "longer than 4 bytes",
        });
    }
    Ok(Some(v.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b))))
}

/// The Block2 option of `p` (§2.1: the response payload's block, or in a
/// request the block wanted).
pub fn block2(p: &Packet) -> Result<Option<BlockOption>, BlockError> {
    get_block(p, CoapOption::Block2, "Block2")
}

/// The Block1 option of `p` (§2.1: the request payload's block, or in a
/// response the block acknowledged).
pub fn block1(p: &Packet) -> Result<Option<BlockOption>, BlockError> {
    get_block(p, CoapOption::Block1, "Block1")
}

/// Replace the Block2 option; fails (leaving `p` alone) on an invalid value.
pub fn set_block2(p: &mut Packet, b: BlockOption) -> Result<(), BlockError> {
    set_block(p, CoapOption::Block2, b)
}

/// Replace the Block1 option; fails (leaving `p` alone) on an invalid value.
pub fn set_block1(p: &mut Packet, b: BlockOption) -> Result<(), BlockError> {
    set_block(p, CoapOption::Block1, b)
}

pub fn clear_block2(p: &mut Packet) {
    p.clear_option(CoapOption::Block2);
}

pub fn clear_block1(p: &mut Packet) {
    p.clear_option(CoapOption::Block1);
}

/// Size1 (§4): in a request, the total size of the request body; in a 4.13
/// response, the largest body the server accepts.
pub fn size1(p: &Packet) -> Result<Option<u32>, BlockError> {
    get_size(p, CoapOption::Size1, "Size1")
}

/// Size2 (§4): in a response, the total size of the representation.
pub fn size2(p: &Packet) -> Result<Option<u32>, BlockError> {
    get_size(p, CoapOption::Size2, "Size2")
}

pub fn set_size1(p: &mut Packet, size: u32) {
    p.clear_option(CoapOption::Size1);
    p.add_option(CoapOption::Size1, uint_bytes(size));
}

pub fn set_size2(p: &mut Packet, size: u32) {
    p.clear_option(CoapOption::Size2);
    p.add_option(CoapOption::Size2, uint_bytes(size));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_szx_round_trips() {
        for szx in 0..=6u8 {
            let b = BlockOption::new(5, true, szx).unwrap();
            assert_eq!(b.size(), 16 << szx);
            assert_eq!(BlockOption::from_size(5, true, 16 << szx), Ok(b));
            assert_eq!(BlockOption::decode(&b.encode()), Ok(b));
            // NUM 5, M 1: one byte 0x58 | szx.
            assert_eq!(b.encode(), [0x58 | szx]);
        }
    }

    #[test]
    fn reserved_szx_and_bad_sizes_are_rejected() {
        assert_eq!(
            BlockOption::decode(&[0x0f]),
            Err(BlockError::ReservedSzx { option: "Block" })
        );
        assert!(BlockOption::new(0, false, 7).is_err());
        for size in [0, 8, 15, 17, 48, 1000, 2048, usize::MAX] {
            assert_eq!(
                BlockOption::from_size(0, false, size),
                Err(BlockError::InvalidSize(size))
            );
        }
        assert!(BlockOption::decode(&[0, 0, 0, 0]).is_err());
    }

    #[test]
    fn lengths_zero_to_three_bytes() {
        assert_eq!(
            BlockOption::new(0, false, 0).unwrap().encode(),
            Vec::<u8>::new()
        );
        assert_eq!(
            BlockOption::decode(&[]),
            Ok(BlockOption {
                num: 0,
                more: false,
                szx: 0
            })
        );
        // NUM 15 fits one byte; 16 needs two; 4096 needs three.
        assert_eq!(BlockOption::new(15, false, 6).unwrap().encode().len(), 1);
        assert_eq!(
            BlockOption::new(16, false, 6).unwrap().encode(),
            [0x01, 0x06]
        );
        let big = BlockOption::new(MAX_NUM, true, 6).unwrap();
        assert_eq!(big.encode(), [0xff, 0xff, 0xfe]);
        assert_eq!(BlockOption::decode(&[0xff, 0xff, 0xfe]), Ok(big));
        assert_eq!(big.offset(), u64::from(MAX_NUM) * 1024);
        // Leading zero bytes are tolerated on decode.
        assert_eq!(
            BlockOption::decode(&[0, 0, 0x16]),
            BlockOption::new(1, false, 6)
        );
        assert_eq!(
            BlockOption::new(MAX_NUM + 1, false, 0),
            Err(BlockError::NumOverflow(1 << 20))
        );
    }

    #[test]
    fn packet_helpers() {
        let mut p = Packet::new();
        assert_eq!(block1(&p), Ok(None));
        let b = BlockOption::from_size(3, true, 256).unwrap();
        set_block1(&mut p, b).unwrap();
        set_block2(&mut p, BlockOption::from_size(0, false, 64).unwrap()).unwrap();
        assert_eq!(block1(&p), Ok(Some(b)));
        assert_eq!(block2(&p).unwrap().unwrap().size(), 64);
        clear_block1(&mut p);
        assert_eq!(block1(&p), Ok(None));
        assert!(set_block2(
            &mut p,
            BlockOption {
                num: 0,
                more: false,
                szx: 9
            }
        )
        .is_err());
        set_size1(&mut p, 70_000);
        set_size2(&mut p, 0);
        assert_eq!((size1(&p), size2(&p)), (Ok(Some(70_000)), Ok(Some(0))));
        p.add_option(CoapOption::Block2, vec![0x06]);
        assert!(matches!(
            block2(&p),
            Err(BlockError::Malformed {
                reason: "repeated",
                ..
            })
        ));
        let mut long = Packet::new();
        long.add_option(CoapOption::Size2, vec![1; 5]);
        assert!(matches!(
            size2(&long),
            Err(BlockError::Malformed {
                option: "Size2",
                ..
            })
        ));
        // Wire round trip through coap-lite.
        let mut q = Packet::new();
        set_block2(&mut q, BlockOption::new(MAX_NUM, false, 2).unwrap()).unwrap();
        let q = Packet::from_bytes(&q.to_bytes().unwrap()).unwrap();
        assert_eq!(block2(&q).unwrap().unwrap().num, MAX_NUM);
    }
}
