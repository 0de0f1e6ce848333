//! The ids every layer shares, as newtypes: a session is never mistaken for a group, nor an
//! epoch for a channel.
//!
//! With the `serde` feature each id (de)serializes as its bare number, so JSON carrying them
//! reads the same as before the newtypes.

use core::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($inner:ty) $(, $extra:ident)*) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash $(, $extra)*)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub $inner);

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
    /// A viewer session, as numbered by the manager. It also names a group member: the sender
    /// of every peer message is the session that sent it.
    SessionId(u64)
}

id! {
    /// A repair group, as numbered by the manager.
    GroupId(u64)
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
    fn ids_are_plain_numbers_in_json() {
        assert_eq!(serde_json::to_string(&SessionId(42)).unwrap(), "42");
        let g: GroupId = serde_json::from_str("17").unwrap();
        assert_eq!(g, GroupId(17));
    }
}
