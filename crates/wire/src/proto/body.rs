//! Message bodies: request (and absent) ranges, repairs carrying whole UDP datagrams, ping and
//! pong.

use super::{Body, MessageType, ProtoError};
use crate::udp;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Most ranges one request may carry (keeps a request well under 1,200 bytes).
pub const MAX_RANGES: usize = 256;
/// Most answerers a request can name (the count field's top four bits); more is "every member".
pub const MAX_ANSWERERS: u8 = 15;
/// The count field's bits that hold the number of ranges (1 to [`MAX_RANGES`]).
const RANGES_MASK: u16 = 0x01ff;
/// Where the answerers sit in the count field.
const ANSWERERS_SHIFT: u32 = 12;

/// The rota's key of member `id` for RTP packet `sequence` of stream `ssrc`: the members a
/// request names as answerers are the ones with the lowest keys (ties by id), the requester
/// excepted. A hash, so each member comes first for its share of the packets, and every
/// member computes the same order.
pub fn rota_key(ssrc: u32, sequence: u16, id: super::SenderId) -> u64 {
    // splitmix64's finaliser over the packet and the member.
    let mut z = (u64::from(ssrc) << 16 | u64::from(sequence)) ^ id.0.rotate_left(29);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A run of `len` consecutive 16-bit sequence numbers starting at `start` (wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqRange {
    /// First sequence number.
    pub start: u16,
    /// How many, at least 1.
    pub len: u16,
}

impl SeqRange {
    /// Iterates over the sequence numbers in the range.
    pub fn iter(self) -> impl Iterator<Item = u16> {
        (0..self.len).map(move |i| self.start.wrapping_add(i))
    }
}

/// The ranges of a request: a list to send, or the bytes of a received one.
#[derive(Clone, Copy, Debug)]
pub enum Ranges<'a> {
    /// Ranges to be written.
    List(&'a [SeqRange]),
    /// Received ranges, 4 bytes each, already checked.
    Wire(&'a [u8]),
}

impl Ranges<'_> {
    /// Iterates over the ranges.
    pub fn iter(&self) -> impl Iterator<Item = SeqRange> + '_ {
        let (list, wire): (&[SeqRange], &[u8]) = match self {
            Ranges::List(l) => (l, &[]),
            Ranges::Wire(w) => (&[], w),
        };
        list.iter()
            .copied()
            .chain(wire.chunks_exact(4).map(|c| SeqRange {
                start: u16::from_be_bytes([c[0], c[1]]),
                len: u16::from_be_bytes([c[2], c[3]]),
            }))
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        match self {
            Ranges::List(l) => l.len(),
            Ranges::Wire(w) => w.len() / 4,
        }
    }

    /// True when there are no ranges.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Ranges<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Ranges<'_> {}

/// One repaired packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repair<'a> {
    /// The stream.
    pub ssrc: u32,
    /// The packet's 16-bit sequence number.
    pub sequence: u16,
    /// Where the original datagram came from (the source or edge).
    pub src: SocketAddr,
    /// Where it was sent (the multicast group).
    pub dst: SocketAddr,
    /// The RTP packet, i.e. the original UDP payload; checked against the UDP checksum.
    pub rtp: &'a [u8],
}

pub(super) fn emit(body: &Body<'_>, out: &mut [u8]) -> Result<usize, ProtoError> {
    match body {
        Body::Request {
            ssrc,
            answerers,
            ranges,
        } => emit_request(*ssrc, *answerers, ranges, out),
        Body::Absent { ssrc, ranges } => emit_request(*ssrc, 0, ranges, out),
        Body::Repair(r) | Body::Burst(r) => emit_repair(r, out),
        Body::FastStart | Body::NoBurst => Ok(0),
        Body::Ping { nonce } => {
            let out = out.get_mut(..8).ok_or(ProtoError::TooLong)?;
            out.copy_from_slice(&nonce.to_be_bytes());
            Ok(8)
        }
        Body::Pong {
            echo_counter,
            echo_timestamp_us,
            echo_nonce,
        } => {
            let out = out.get_mut(..24).ok_or(ProtoError::TooLong)?;
            out[..8].copy_from_slice(&echo_counter.to_be_bytes());
            out[8..16].copy_from_slice(&echo_timestamp_us.to_be_bytes());
            out[16..].copy_from_slice(&echo_nonce.to_be_bytes());
            Ok(24)
        }
    }
}

fn emit_request(
    ssrc: u32,
    answerers: u8,
    ranges: &Ranges<'_>,
    out: &mut [u8],
) -> Result<usize, ProtoError> {
    let n = ranges.len();
    if n > MAX_RANGES {
        return Err(ProtoError::TooLong);
    }
    if answerers > MAX_ANSWERERS {
        return Err(ProtoError::BadBody);
    }
    let out = out.get_mut(..6 + 4 * n).ok_or(ProtoError::TooLong)?;
    out[..4].copy_from_slice(&ssrc.to_be_bytes());
    let count = n as u16 | u16::from(answerers) << ANSWERERS_SHIFT;
    out[4..6].copy_from_slice(&count.to_be_bytes());
    for (range, slot) in ranges.iter().zip(out[6..].chunks_exact_mut(4)) {
        if range.len == 0 {
            return Err(ProtoError::BadBody);
        }
        slot[..2].copy_from_slice(&range.start.to_be_bytes());
        slot[2..].copy_from_slice(&range.len.to_be_bytes());
    }
    Ok(out.len())
}

fn emit_repair(r: &Repair<'_>, out: &mut [u8]) -> Result<usize, ProtoError> {
    let mut ips = [0u8; 32];
    let (family, ip_len) = match (r.src.ip(), r.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ips[..4].copy_from_slice(&s.octets());
            ips[4..8].copy_from_slice(&d.octets());
            (4u8, 8)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ips[..16].copy_from_slice(&s.octets());
            ips[16..].copy_from_slice(&d.octets());
            (6u8, 32)
        }
        _ => return Err(ProtoError::BadBody),
    };
    let head = out.get_mut(..8 + ip_len).ok_or(ProtoError::TooLong)?;
    head[..4].copy_from_slice(&r.ssrc.to_be_bytes());
    head[4..6].copy_from_slice(&r.sequence.to_be_bytes());
    head[6] = family;
    head[7] = 0;
    head[8..].copy_from_slice(&ips[..ip_len]);
    let n =
        udp::emit(r.src, r.dst, r.rtp, &mut out[8 + ip_len..]).map_err(|_| ProtoError::TooLong)?;
    Ok(8 + ip_len + n)
}

pub(super) fn parse(kind: MessageType, b: &[u8]) -> Result<Body<'_>, ProtoError> {
    match kind {
        MessageType::Request => parse_request(b),
        MessageType::Absent => match parse_request(b)? {
            Body::Request {
                ssrc,
                answerers: 0,
                ranges,
            } => Ok(Body::Absent { ssrc, ranges }),
            _ => Err(ProtoError::BadBody),
        },
        MessageType::Repair => parse_repair(b).map(Body::Repair),
        MessageType::Burst => parse_repair(b).map(Body::Burst),
        MessageType::Ping if b.len() == 8 => Ok(Body::Ping {
            nonce: u64::from_be_bytes(super::array(b)),
        }),
        MessageType::FastStart if b.is_empty() => Ok(Body::FastStart),
        MessageType::NoBurst if b.is_empty() => Ok(Body::NoBurst),
        MessageType::Pong if b.len() == 24 => Ok(Body::Pong {
            echo_counter: u64::from_be_bytes(super::array(&b[..8])),
            echo_timestamp_us: u64::from_be_bytes(super::array(&b[8..16])),
            echo_nonce: u64::from_be_bytes(super::array(&b[16..])),
        }),
        MessageType::Ping | MessageType::Pong | MessageType::FastStart | MessageType::NoBurst => {
            Err(ProtoError::BadBody)
        }
    }
}

fn parse_request(b: &[u8]) -> Result<Body<'_>, ProtoError> {
    let head = b.get(..6).ok_or(ProtoError::Truncated)?;
    let count = u16::from_be_bytes([head[4], head[5]]);
    let n = usize::from(count & RANGES_MASK);
    let reserved = count & !RANGES_MASK & !(0xf << ANSWERERS_SHIFT);
    if reserved != 0 || n == 0 || n > MAX_RANGES || b.len() != 6 + 4 * n {
        return Err(ProtoError::BadBody);
    }
    let ranges = Ranges::Wire(&b[6..]);
    if ranges.iter().any(|r| r.len == 0) {
        return Err(ProtoError::BadBody);
    }
    Ok(Body::Request {
        ssrc: u32::from_be_bytes(super::array(&head[..4])),
        answerers: (count >> ANSWERERS_SHIFT) as u8,
        ranges,
    })
}

fn parse_repair(b: &[u8]) -> Result<Repair<'_>, ProtoError> {
    let head = b.get(..8).ok_or(ProtoError::Truncated)?;
    let (src_ip, dst_ip, at) = match (head[6], head[7]) {
        (4, 0) => {
            let ips = b.get(8..16).ok_or(ProtoError::Truncated)?;
            let s: [u8; 4] = super::array(&ips[..4]);
            let d: [u8; 4] = super::array(&ips[4..]);
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                16,
            )
        }
        (6, 0) => {
            let ips = b.get(8..40).ok_or(ProtoError::Truncated)?;
            let s: [u8; 16] = super::array(&ips[..16]);
            let d: [u8; 16] = super::array(&ips[16..]);
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                40,
            )
        }
        _ => return Err(ProtoError::BadBody),
    };
    let dg = udp::parse_checked(src_ip, dst_ip, &b[at..]).map_err(|_| ProtoError::BadDatagram)?;
    let ssrc = u32::from_be_bytes(super::array(&head[..4]));
    let sequence = u16::from_be_bytes([head[4], head[5]]);
    // The RTP header inside must name the same packet the repair claims to carry.
    let rtp_head = dg.payload.get(..12).ok_or(ProtoError::BadBody)?;
    if rtp_head[2..4] != sequence.to_be_bytes() || rtp_head[8..12] != ssrc.to_be_bytes() {
        return Err(ProtoError::BadBody);
    }
    Ok(Repair {
        ssrc,
        sequence,
        src: SocketAddr::new(src_ip, dg.src_port),
        dst: SocketAddr::new(dst_ip, dg.dst_port),
        rtp: dg.payload,
    })
}
