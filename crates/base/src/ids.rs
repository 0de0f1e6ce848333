//! The ids every layer shares, as newtypes: a session is never mistaken for a group, nor an
//! epoch for a channel.
//!
//! With the `serde` feature the 32-bit ids (de)serialize as bare numbers. The 64-bit ones
//! (sessions, groups) serialize as decimal strings: JavaScript numbers hold 53 bits, and a
//! dashboard showed session 292844500124289567 as 292844500124289540 (issue 13, finding 7).
//! They still deserialize from a bare number too, so older clients' JSON reads.

use core::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($inner:ty) $(, $extra:ident)*) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash $(, $extra)*)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub $inner);
        id!(@from $name($inner));
    };
    (@string $(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);
        id!(@from $name($inner));
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(U64Visitor).map($name)
            }
        }
    };
    (@from $name:ident($inner:ty)) => {
        impl From<$inner> for $name {
            #[inline]
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $inner {
            #[inline]
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

id! {
    /// A channel, as numbered by the manager.
    ChannelId(u32)
}

id! {
    @string
    /// A viewer session, as numbered by the manager. It also names a group member: the sender
    /// of every peer message is the session that sent it.
    SessionId(u64)
}

id! {
    @string
    /// A repair group, as numbered by the manager.
    GroupId(u64)
}

/// Reads a 64-bit id from a decimal string or a bare number.
#[cfg(feature = "serde")]
struct U64Visitor;

#[cfg(feature = "serde")]
impl serde::de::Visitor<'_> for U64Visitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a 64-bit id as a decimal string")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        let digits = !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
        digits
            .then(|| v.parse().ok())
            .flatten()
            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
    }
}

id! {
    /// Counts membership changes of a group; every change brings a fresh key.
    GroupEpoch(u32)
}

id! {
    /// A metro network (a failure domain that groups spread over), as numbered by the manager.
    MetroId(u32)
}

id! {
    /// An RTP synchronisation source identifier; a change means the source restarted.
    Ssrc(u32)
}

/// A member of a repair group is named by its session: the same number, another role.
pub type MemberId = SessionId;

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

macro_rules! display_plain {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

display_plain!(ChannelId, SessionId, GroupId, GroupEpoch, MetroId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_convert_and_print() {
        assert_eq!(u64::from(SessionId(7)), 7);
        assert_eq!(GroupId::from(9u64), GroupId(9));
        assert_eq!(Ssrc(0xab).to_string(), "0x000000ab");
        assert_eq!(GroupEpoch(3).to_string(), "3");
        assert!(GroupEpoch(2) > GroupEpoch(1));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn small_ids_are_numbers_and_64_bit_ids_strings_in_json() {
        assert_eq!(serde_json::to_string(&ChannelId(42)).unwrap(), "42");
        let big = SessionId(292_844_500_124_289_567);
        assert_eq!(
            serde_json::to_string(&big).unwrap(),
            r#""292844500124289567""#
        );
        let back: SessionId = serde_json::from_str(r#""292844500124289567""#).unwrap();
        assert_eq!(back, big);
        let g: GroupId = serde_json::from_str("17").unwrap();
        assert_eq!(g, GroupId(17), "a bare number still reads");
        for bad in [
            r#""""#,
            r#""-1""#,
            r#""1e3""#,
            r#"" 7""#,
            r#""18446744073709551616""#,
            "-1",
            "1.5",
            "null",
        ] {
            assert!(serde_json::from_str::<SessionId>(bad).is_err(), "{bad}");
        }
    }
}
