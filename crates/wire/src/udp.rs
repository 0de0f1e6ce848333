//! The 8-byte UDP header (RFC 768) with its pseudo-header checksum (RFC 768, RFC 8200 §8.1).
//!
//! A repair carries the lost packet as the whole original UDP datagram. The receiver of the
//! multicast keeps only the UDP payload, so a serving peer rebuilds the header from the
//! addresses the packet travelled between; the requester checks the checksum end to end.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;
const PROTO_UDP: u32 = 17;

/// Why a UDP datagram cannot be built or does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpError {
    /// Shorter than its header or than the length field says.
    Truncated,
    /// Length field disagrees with the datagram.
    BadLength,
    /// Checksum does not match the pseudo-header and data.
    BadChecksum,
    /// Source and destination are of different address families.
    MixedFamilies,
    /// Payload longer than a UDP datagram can carry.
    TooLong,
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UdpError::Truncated => "UDP datagram truncated",
            UdpError::BadLength => "UDP length field wrong",
            UdpError::BadChecksum => "UDP checksum mismatch",
            UdpError::MixedFamilies => "UDP addresses of mixed families",
            UdpError::TooLong => "UDP payload too long",
        })
    }
}

impl std::error::Error for UdpError {}

/// A checked UDP datagram borrowing from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload (the RTP packet, for groupcast).
    pub payload: &'a [u8],
}

/// Writes header and payload into `out`; returns the datagram length.
pub fn emit(
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, UdpError> {
    let len = UDP_HEADER_LEN + payload.len();
    let len16 = u16::try_from(len).map_err(|_| UdpError::TooLong)?;
    let out = out.get_mut(..len).ok_or(UdpError::Truncated)?;
    out[0..2].copy_from_slice(&src.port().to_be_bytes());
    out[2..4].copy_from_slice(&dst.port().to_be_bytes());
    out[4..6].copy_from_slice(&len16.to_be_bytes());
    out[6..8].fill(0);
    out[8..].copy_from_slice(payload);
    let sum = checksum(src.ip(), dst.ip(), out)?;
    out[6..8].copy_from_slice(&(if sum == 0 { 0xffff } else { sum }).to_be_bytes());
    Ok(len)
}

/// Checks a datagram's length and checksum against the addresses it travelled between.
///
/// A zero checksum ("not computed" in IPv4) is rejected: repairs are always checksummed.
pub fn parse_checked(src: IpAddr, dst: IpAddr, bytes: &[u8]) -> Result<UdpDatagram<'_>, UdpError> {
    let header = bytes.get(..UDP_HEADER_LEN).ok_or(UdpError::Truncated)?;
    if usize::from(u16::from_be_bytes([header[4], header[5]])) != bytes.len() {
        return Err(UdpError::BadLength);
    }
    if header[6..8] == [0, 0] || checksum(src, dst, bytes)? != 0 {
        return Err(UdpError::BadChecksum);
    }
    Ok(UdpDatagram {
        src_port: u16::from_be_bytes([header[0], header[1]]),
        dst_port: u16::from_be_bytes([header[2], header[3]]),
        payload: &bytes[UDP_HEADER_LEN..],
    })
}

/// The one's-complement checksum over pseudo-header and datagram (0 when it verifies).
fn checksum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> Result<u16, UdpError> {
    let mut sum: u64 = u64::from(PROTO_UDP) + datagram.len() as u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum += words(&s.octets()) + words(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum += words(&s.octets()) + words(&d.octets()),
        _ => return Err(UdpError::MixedFamilies),
    }
    sum += words(datagram);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    Ok(!(sum as u16))
}

/// Sum of big-endian 16-bit words, an odd last byte padded with zero.
fn words(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    let mut sum: u64 = chunks
        .by_ref()
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_ipv4_checksum() {
        // 192.168.0.1:1025 -> 192.168.0.199:53, payload "abc". Expected value worked out
        // separately: one's-complement of the folded sum of pseudo-header words
        // 0xc0a8 0x0001 0xc0a8 0x00c7 0x0011 0x000b, header words 0x0401 0x0035 0x000b,
        // data words 0x6162 0x6300.
        let src: SocketAddr = "192.168.0.1:1025".parse().unwrap();
        let dst: SocketAddr = "192.168.0.199:53".parse().unwrap();
        let mut out = [0u8; 11];
        assert_eq!(emit(src, dst, b"abc", &mut out), Ok(11));
        assert_eq!(&out[..6], &[0x04, 0x01, 0x00, 0x35, 0x00, 0x0b]);
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0xb526);
    }

    #[test]
    fn round_trips_v4_and_v6() {
        for (s, d) in [
            ("127.0.0.1:5000", "239.1.2.3:5004"),
            ("[::1]:5000", "[ff15::1]:5004"),
        ] {
            let (src, dst): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let mut out = [0u8; 64];
            let n = emit(src, dst, b"payload!!", &mut out).unwrap();
            let dg = parse_checked(src.ip(), dst.ip(), &out[..n]).unwrap();
            assert_eq!(
                (dg.src_port, dg.dst_port, dg.payload),
                (5000, 5004, &b"payload!!"[..])
            );
            let mut bad = out;
            bad[10] ^= 1;
            assert_eq!(
                parse_checked(src.ip(), dst.ip(), &bad[..n]),
                Err(UdpError::BadChecksum)
            );
            assert_eq!(
                parse_checked(src.ip(), dst.ip(), &out[..n - 1]),
                Err(UdpError::BadLength)
            );
        }
    }

    #[test]
    fn rejects_mixed_families_and_short_input() {
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(emit(v4, v6, b"", &mut [0; 8]), Err(UdpError::MixedFamilies));
        assert_eq!(
            parse_checked(v4.ip(), v4.ip(), &[0; 4]),
            Err(UdpError::Truncated)
        );
        assert_eq!(
            parse_checked(v4.ip(), v4.ip(), &[0, 1, 0, 1, 0, 8, 0, 0]),
            Err(UdpError::BadChecksum)
        );
    }
}
