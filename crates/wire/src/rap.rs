//! Random access points in an MPEG-2 transport stream (ISO/IEC 13818-1 §2.4.4, §2.4.3.6).
//!
//! A player can start decoding only where the program tables and a keyframe come first. This
//! module reads just enough to find those places, borrowing from the packets:
//! - the PAT ([`parse_pat`]): the first program's PMT PID;
//! - the PMT ([`parse_pmt`]): the video PID and its [`StreamType`];
//! - a PES header ([`pes_payload`]): where the elementary stream starts;
//! - the elementary stream ([`scan_keyframe`]): an H.264 IDR (NAL type 5, or an SPS followed by
//!   one), an HEVC IRAP picture (NAL types 16-21), or an MPEG-2 sequence header.
//!
//! It does not reassemble PSI sections that span packets (such a table is [`RapError::Truncated`])
//! nor check their CRC; none of these functions panics on bad bytes.

use core::fmt;

/// Why a table or header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RapError {
    /// The payload ends before the structure it announces.
    Truncated,
    /// A section with another table id than the one expected (this one).
    WrongTable(u8),
    /// A PES payload that does not begin with the 00 00 01 start code prefix.
    NotPes,
    /// The PAT lists no program.
    NoProgram,
}

impl fmt::Display for RapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RapError::Truncated => f.write_str("truncated PSI section or PES header"),
            RapError::WrongTable(t) => write!(f, "unexpected table id {t:#04x}"),
            RapError::NotPes => f.write_str("payload lacks the PES start code"),
            RapError::NoProgram => f.write_str("the PAT lists no program"),
        }
    }
}

impl std::error::Error for RapError {}

/// The codec of a video elementary stream, from the PMT's `stream_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    /// MPEG-2 video (0x02; 0x01 MPEG-1 is read the same way).
    Mpeg2,
    /// H.264 / AVC (0x1B).
    H264,
    /// H.265 / HEVC (0x24).
    Hevc,
}

impl StreamType {
    /// The video codec a PMT `stream_type` names, if it is one this module reads.
    pub fn from_pmt(stream_type: u8) -> Option<StreamType> {
        match stream_type {
            0x01 | 0x02 => Some(StreamType::Mpeg2),
            0x1b => Some(StreamType::H264),
            0x24 => Some(StreamType::Hevc),
            _ => None,
        }
    }
}

/// What the start of an elementary stream access unit says about random access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A keyframe: decoding can start here.
    Key,
    /// A picture that needs earlier ones.
    NotKey,
    /// The bytes seen so far do not tell (e.g. parameter sets before the first slice).
    Unknown,
}

/// The program map table's video stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Video {
    /// Its PID.
    pub pid: u16,
    /// Its codec.
    pub stream_type: StreamType,
}

/// The section in a payload that starts one (`payload_unit_start_indicator` set): skips the
/// pointer field, checks the table id and returns the section body between the 3-byte header
/// and the CRC.
fn section(payload: &[u8], table_id: u8) -> Result<&[u8], RapError> {
    let (&pointer, rest) = payload.split_first().ok_or(RapError::Truncated)?;
    let sec = rest
        .get(usize::from(pointer)..)
        .ok_or(RapError::Truncated)?;
    let [id, len_hi, len_lo, ..] = *sec else {
        return Err(RapError::Truncated);
    };
    if id != table_id {
        return Err(RapError::WrongTable(id));
    }
    let len = usize::from(u16::from_be_bytes([len_hi & 0x0f, len_lo]));
    if len < 4 {
        return Err(RapError::Truncated);
    }
    sec.get(3..3 + len - 4).ok_or(RapError::Truncated)
}

/// A 13-bit PID from two bytes.
fn pid13(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi & 0x1f, lo])
}

/// The PMT PID of the first program in a PAT packet's payload (which must start the section).
pub fn parse_pat(payload: &[u8]) -> Result<u16, RapError> {
    let body = section(payload, 0x00)?;
    let entries = body.get(5..).ok_or(RapError::Truncated)?;
    entries
        .chunks_exact(4)
        .find(|e| e[0] != 0 || e[1] != 0) // program 0 names the network PID
        .map(|e| pid13(e[2], e[3]))
        .ok_or(RapError::NoProgram)
}

/// The first video stream of a PMT packet's payload (which must start the section), or `None`
/// when the program has no video this module reads.
pub fn parse_pmt(payload: &[u8]) -> Result<Option<Video>, RapError> {
    let body = section(payload, 0x02)?;
    let [_, _, _, _, _, _, _, info_hi, info_lo, ..] = *body else {
        return Err(RapError::Truncated);
    };
    let info = usize::from(u16::from_be_bytes([info_hi & 0x0f, info_lo]));
    let mut es = body.get(9 + info..).ok_or(RapError::Truncated)?;
    while let [st, pid_hi, pid_lo, len_hi, len_lo, rest @ ..] = es {
        if let Some(stream_type) = StreamType::from_pmt(*st) {
            let pid = pid13(*pid_hi, *pid_lo);
            return Ok(Some(Video { pid, stream_type }));
        }
        let len = usize::from(u16::from_be_bytes([len_hi & 0x0f, *len_lo]));
        es = rest.get(len..).ok_or(RapError::Truncated)?;
    }
    Ok(None)
}

/// The elementary stream bytes of a packet payload that starts a PES (after its header).
pub fn pes_payload(payload: &[u8]) -> Result<&[u8], RapError> {
    let [a, b, c, _, _, _, _, _, header_len, ..] = *payload else {
        return Err(RapError::Truncated);
    };
    if [a, b, c] != [0, 0, 1] {
        return Err(RapError::NotPes);
    }
    payload
        .get(9 + usize::from(header_len)..)
        .ok_or(RapError::Truncated)
}

/// Scans elementary stream bytes from the start of an access unit for its first picture.
pub fn scan_keyframe(stream_type: StreamType, es: &[u8]) -> Access {
    let codes = es.windows(4).filter(|w| w[..3] == [0, 0, 1]).map(|w| w[3]);
    for code in codes {
        let access = match stream_type {
            StreamType::H264 => h264(code),
            StreamType::Hevc => hevc(code),
            StreamType::Mpeg2 => mpeg2(code),
        };
        if access != Access::Unknown {
            return access;
        }
    }
    Access::Unknown
}

/// An H.264 NAL unit header byte: an IDR slice is a keyframe, another slice is not; parameter
/// sets (SPS 7, PPS 8), delimiters and SEI tell nothing yet.
fn h264(header: u8) -> Access {
    match header & 0x1f {
        5 => Access::Key,
        1..=4 => Access::NotKey,
        _ => Access::Unknown,
    }
}

/// An HEVC NAL unit header's first byte: IRAP pictures (BLA, IDR, CRA) are keyframes.
fn hevc(header: u8) -> Access {
    match (header >> 1) & 0x3f {
        16..=21 => Access::Key,
        0..=15 => Access::NotKey,
        _ => Access::Unknown,
    }
}

/// An MPEG-2 start code: a sequence header starts a random access point, a picture without one
/// does not.
fn mpeg2(code: u8) -> Access {
    match code {
        0xb3 => Access::Key,
        0x00 => Access::NotKey,
        _ => Access::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PSI payload: pointer field 0, then the section with a dummy CRC.
    fn psi(table_id: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len() + 4;
        let mut p = vec![0, table_id, 0xb0 | (len >> 8) as u8, len as u8];
        p.extend_from_slice(body);
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        p.resize(184, 0xff);
        p
    }

    #[test]
    fn pat_gives_the_first_program_pmt_pid() {
        // tsid, version, section numbers; network PID 0x10, then program 1 on PID 0x1000.
        let body = [0, 1, 0xc1, 0, 0, 0, 0, 0xe0, 0x10, 0, 1, 0xf0, 0x00];
        assert_eq!(parse_pat(&psi(0, &body)), Ok(0x1000));
        assert_eq!(parse_pat(&psi(0, &body[..9])), Err(RapError::NoProgram));
        assert_eq!(parse_pat(&psi(2, &body)), Err(RapError::WrongTable(2)));
        assert_eq!(parse_pat(&[0]), Err(RapError::Truncated));
        assert_eq!(parse_pat(&[]), Err(RapError::Truncated));
    }

    #[test]
    fn pmt_gives_the_video_stream() {
        let mut body = vec![0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00];
        body.extend_from_slice(&[0x0f, 0xe1, 0x01, 0xf0, 0x02, 0x0a, 0x00]); // AAC, 2-byte descr.
        body.extend_from_slice(&[0x1b, 0xe1, 0x00, 0xf0, 0x00]); // H.264 on 0x100
        let v = parse_pmt(&psi(2, &body)).unwrap();
        assert_eq!(
            v,
            Some(Video {
                pid: 0x100,
                stream_type: StreamType::H264
            })
        );
        assert_eq!(parse_pmt(&psi(2, &body[..16])), Ok(None));
        // An ES entry whose descriptors run past the section.
        body.truncate(14);
        body[13] = 0x40;
        assert_eq!(parse_pmt(&psi(2, &body)), Err(RapError::Truncated));
    }

    #[test]
    fn pes_header_is_skipped() {
        let pes = [
            0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 1, 2, 3, 4, 5, 0, 0, 1, 9,
        ];
        assert_eq!(pes_payload(&pes), Ok(&[0, 0, 1, 9][..]));
        assert_eq!(pes_payload(&pes[..8]), Err(RapError::Truncated));
        assert_eq!(pes_payload(&pes[..12]), Err(RapError::Truncated));
        assert_eq!(pes_payload(&[1; 20]), Err(RapError::NotPes));
    }

    #[test]
    fn finds_keyframes_per_codec() {
        let idr = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 0, 0, 1, 0x65,
        ];
        assert_eq!(scan_keyframe(StreamType::H264, &idr), Access::Key);
        assert_eq!(scan_keyframe(StreamType::H264, &idr[..16]), Access::Unknown);
        let p = [0, 0, 0, 1, 0x09, 0x30, 0, 0, 1, 0x41, 0x9a];
        assert_eq!(scan_keyframe(StreamType::H264, &p), Access::NotKey);
        let cra = [0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x2a, 0x01]; // AUD, then CRA (21)
        assert_eq!(scan_keyframe(StreamType::Hevc, &cra), Access::Key);
        let trail = [0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x02, 0x01]; // AUD, then TRAIL_R
        assert_eq!(scan_keyframe(StreamType::Hevc, &trail), Access::NotKey);
        assert_eq!(
            scan_keyframe(StreamType::Mpeg2, &[0, 0, 1, 0xb3]),
            Access::Key
        );
        assert_eq!(
            scan_keyframe(StreamType::Mpeg2, &[0, 0, 1, 0]),
            Access::NotKey
        );
        assert_eq!(scan_keyframe(StreamType::H264, &[]), Access::Unknown);
    }
}
