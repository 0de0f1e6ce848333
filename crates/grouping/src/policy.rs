//! How a joining viewer's group is chosen.

use crate::{GroupId, Grouping, MetroId, SessionId};

/// Group choice policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Spread each group over distinct metros (the seed's rule): a joiner goes to the fullest
    /// group with room that has nobody from its metro, else to the fullest group with room.
    CrossMetro,
    /// Keep groups inside one metro (the comparison baseline): a joiner goes to the fullest
    /// group with room made only of its metro, else opens a new group.
    SameMetro,
    /// Any group with room, chosen by a hash of the seed and the session.
    Random {
        /// The seed.
        seed: u64,
    },
}

impl Policy {
    /// A group with room for `session` from `metro`, or `None` to open a new one.
    pub(crate) fn choose(
        &self,
        g: &Grouping,
        session: SessionId,
        metro: MetroId,
    ) -> Option<GroupId> {
        self.choose_excluding(g, session, metro, GroupId(0))
    }

    /// As [`choose`](Self::choose), never picking `exclude`.
    pub(crate) fn choose_excluding(
        &self,
        g: &Grouping,
        session: SessionId,
        metro: MetroId,
        exclude: GroupId,
    ) -> Option<GroupId> {
        let open = g
            .groups
            .iter()
            .filter(|(id, grp)| **id != exclude && grp.members.len() < g.k);
        match self {
            Policy::CrossMetro => open
                .max_by_key(|(id, grp)| {
                    (
                        g.in_metro(**id, metro) == 0,
                        grp.members.len(),
                        std::cmp::Reverse(**id),
                    )
                })
                .map(|(id, _)| *id),
            Policy::SameMetro => open
                .filter(|(id, grp)| g.in_metro(**id, metro) == grp.members.len())
                .max_by_key(|(id, grp)| (grp.members.len(), std::cmp::Reverse(**id)))
                .map(|(id, _)| *id),
            Policy::Random { seed } => {
                let ids: Vec<GroupId> = open.map(|(id, _)| *id).collect();
                (!ids.is_empty()).then(|| ids[(mix(seed ^ session.0) % ids.len() as u64) as usize])
            }
        }
    }
}

/// SplitMix64's finaliser: a well-spread hash of a 64-bit value.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
