//! The peer repair protocol, version 1 (specified in `docs/protocol.md`).
//!
//! Every message is `header | body | tag`: a 36-byte header naming channel, group epoch,
//! sender, a per-sender counter (for the replay window) and the sender's clock, then a
//! type-specific body, then a 16-byte truncated HMAC-SHA256 over everything before it.
//!
//! Receiving is two steps so that nothing unauthenticated is parsed further than needed:
//! [`Envelope::parse`] reads the header, the caller picks the key for its epoch and sender,
//! and [`Envelope::open`] verifies the tag and parses the body.

mod auth;
mod body;
mod replay;

pub use auth::{GroupKey, GroupSecret, KEY_LEN, NonceKey, TAG_LEN, backup_secret, pair_key};
pub use body::{MAX_ANSWERERS, MAX_RANGES, Ranges, Repair, SeqRange, rota_key};
pub use replay::{ReplayError, ReplayWindow, WINDOW as REPLAY_WINDOW};

use core::fmt;

/// The two bytes every message starts with ("GC").
pub const MAGIC: [u8; 2] = *b"GC";
/// Protocol version carried in byte 2.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 36;

/// A viewer session names a message's sender (the group member that sent it).
pub use groupcast_base::SessionId as SenderId;
pub use groupcast_base::{ChannelId, GroupEpoch};

/// What a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    /// Asks for missing packets.
    Request = 1,
    /// Carries one lost packet as its whole UDP datagram.
    Repair = 2,
    /// Asks for an echo, to measure round-trip time.
    Ping = 3,
    /// Echoes a ping.
    Pong = 4,
    /// Asks a member for the stream since its last random access point (a fast start).
    FastStart = 5,
    /// Carries one packet of a fast start's burst, laid out as a repair.
    Burst = 6,
    /// Answers a fast start that will not be served (nothing held, busy, asked too often).
    NoBurst = 7,
    /// Answers a request: the sender lacks these packets too (it lost them as well).
    Absent = 8,
}

/// The fields every message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The channel the message is about.
    pub channel: ChannelId,
    /// The sender's group epoch; selects the key.
    pub epoch: GroupEpoch,
    /// Who sent it.
    pub sender: SenderId,
    /// Per-sender counter, strictly increasing; the replay window runs over it.
    pub counter: u64,
    /// The sender's clock in microseconds (echoed by pongs for RTT).
    pub timestamp_us: u64,
}

/// A message's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// Missing packets of stream `ssrc`, as ranges of 16-bit sequence numbers.
    Request {
        /// The stream the packets belong to.
        ssrc: u32,
        /// How many members answer each packet: those ranked first for its number by the
        /// rota (`rota_key`), at most [`MAX_ANSWERERS`]; 0: every member answers.
        answerers: u8,
        /// What is missing.
        ranges: Ranges<'a>,
    },
    /// One lost packet.
    Repair(Repair<'a>),
    /// Asks the peer to echo `header.counter`, `header.timestamp_us` and `nonce`.
    Ping {
        /// Unpredictable to anyone but the pinger: echoing it proves the peer receives at its
        /// registered address (return routability).
        nonce: u64,
    },
    /// Answers a ping.
    Pong {
        /// The ping's counter.
        echo_counter: u64,
        /// The ping's timestamp, in the pinger's clock.
        echo_timestamp_us: u64,
        /// The ping's nonce.
        echo_nonce: u64,
    },
    /// Asks for a burst of the stream from the member's last random access point.
    FastStart,
    /// One packet of a burst (the asker's stream starts at the first one).
    Burst(Repair<'a>),
    /// No burst will come for the last fast start asked: ask someone else.
    NoBurst,
    /// Answers a request for packets of stream `ssrc` that the sender lost as well (they are
    /// missing in its own buffer): when every member says so, the requester need not wait
    /// out its attempts before asking further. Never longer than the request it answers.
    Absent {
        /// The stream the packets belong to.
        ssrc: u32,
        /// The packets the sender lacks.
        ranges: Ranges<'a>,
    },
}

impl Body<'_> {
    /// The type byte for this body.
    pub fn kind(&self) -> MessageType {
        match self {
            Body::Request { .. } => MessageType::Request,
            Body::Repair(_) => MessageType::Repair,
            Body::Ping { .. } => MessageType::Ping,
            Body::Pong { .. } => MessageType::Pong,
            Body::FastStart => MessageType::FastStart,
            Body::Burst(_) => MessageType::Burst,
            Body::NoBurst => MessageType::NoBurst,
            Body::Absent { .. } => MessageType::Absent,
        }
    }
}

/// A whole, authenticated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Common fields.
    pub header: Header,
    /// Type-specific part.
    pub body: Body<'a>,
}

/// Why bytes are not a valid message or a message cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// Too short for the header, the tag or the body it announces.
    Truncated,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A version this build does not speak.
    BadVersion(u8),
    /// Unknown message type.
    BadType(u8),
    /// The tag does not verify under the key.
    BadTag,
    /// The body is malformed (bad range, wrong address family, extra bytes...).
    BadBody,
    /// The repaired datagram's UDP checksum or length does not verify.
    BadDatagram,
    /// The output buffer is too small, or the body has too many ranges.
    TooLong,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Truncated => f.write_str("message truncated"),
            ProtoError::BadMagic => f.write_str("not a groupcast message"),
            ProtoError::BadVersion(v) => write!(f, "unsupported protocol version {v}"),
            ProtoError::BadType(t) => write!(f, "unknown message type {t}"),
            ProtoError::BadTag => f.write_str("authentication failed"),
            ProtoError::BadBody => f.write_str("malformed message body"),
            ProtoError::BadDatagram => f.write_str("repaired datagram fails its UDP check"),
            ProtoError::TooLong => f.write_str("message does not fit"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl Message<'_> {
    /// Writes the message, tagged under `key`, into `out`; returns its length.
    pub fn emit(&self, key: &GroupKey, out: &mut [u8]) -> Result<usize, ProtoError> {
        let head = out.get_mut(..HEADER_LEN).ok_or(ProtoError::TooLong)?;
        head[0..2].copy_from_slice(&MAGIC);
        head[2] = VERSION;
        head[3] = self.body.kind() as u8;
        head[4..8].copy_from_slice(&self.header.channel.0.to_be_bytes());
        head[8..12].copy_from_slice(&self.header.epoch.0.to_be_bytes());
        head[12..20].copy_from_slice(&self.header.sender.0.to_be_bytes());
        head[20..28].copy_from_slice(&self.header.counter.to_be_bytes());
        head[28..36].copy_from_slice(&self.header.timestamp_us.to_be_bytes());
        let body_len = body::emit(&self.body, &mut out[HEADER_LEN..])?;
        let end = HEADER_LEN + body_len;
        let tag = key.tag(&out[..end]);
        out.get_mut(end..end + TAG_LEN)
            .ok_or(ProtoError::TooLong)?
            .copy_from_slice(&tag);
        Ok(end + TAG_LEN)
    }
}

/// A message whose header has been read but whose tag is not yet checked.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// The claimed common fields (not yet authenticated).
    pub header: Header,
    /// The claimed type.
    pub kind: MessageType,
    /// Header and body: what the tag covers.
    signed: &'a [u8],
    /// The tag.
    tag: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Reads the header of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(ProtoError::Truncated);
        }
        if bytes[0..2] != MAGIC {
            return Err(ProtoError::BadMagic);
        }
        if bytes[2] != VERSION {
            return Err(ProtoError::BadVersion(bytes[2]));
        }
        let kind = match bytes[3] {
            1 => MessageType::Request,
            2 => MessageType::Repair,
            3 => MessageType::Ping,
            4 => MessageType::Pong,
            5 => MessageType::FastStart,
            6 => MessageType::Burst,
            7 => MessageType::NoBurst,
            8 => MessageType::Absent,
            t => return Err(ProtoError::BadType(t)),
        };
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let header = Header {
            channel: ChannelId(u32::from_be_bytes(array(&bytes[4..8]))),
            epoch: GroupEpoch(u32::from_be_bytes(array(&bytes[8..12]))),
            sender: SenderId(u64::from_be_bytes(array(&bytes[12..20]))),
            counter: u64::from_be_bytes(array(&bytes[20..28])),
            timestamp_us: u64::from_be_bytes(array(&bytes[28..36])),
        };
        Ok(Envelope {
            header,
            kind,
            signed,
            tag,
        })
    }

    /// Verifies the tag under `key`, then parses the body.
    pub fn open(&self, key: &GroupKey) -> Result<Message<'a>, ProtoError> {
        if !key.verify(self.signed, self.tag) {
            return Err(ProtoError::BadTag);
        }
        let body = body::parse(self.kind, &self.signed[HEADER_LEN..])?;
        Ok(Message {
            header: self.header,
            body,
        })
    }
}

/// The tag of `data` under `key`, for the fuzz targets only (they sign arbitrary bodies to
/// reach the code behind authentication). Not part of the API.
#[doc(hidden)]
pub fn __tag_for_fuzzing(key: &GroupKey, data: &[u8]) -> [u8; TAG_LEN] {
    key.tag(data)
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests;
