//! The rota: every live member is asked for a lost packet (the seed's rule), but only the
//! members ranked first for that packet's number answer, so that one repair comes back rather
//! than one per member.
//!
//! The order is [`rota_key`] over the group's members, the requester excepted: every member
//! computes it alike from the member list, and a hash spreads the first place evenly. The
//! requester names how many answer ([`answerers`]): enough to reach the first member it sees
//! live (so a silent or unproven member ranked first does not swallow the request), and every
//! member on a retry. A member ranked below that number leaves the packet to the others
//! ([`answers`]) and counts it in `serve_deferred`.

use groupcast_wire::proto::{MAX_ANSWERERS, SenderId, rota_key};

/// Members ranked this many: beyond, a request names every member (0).
const MAX_MEMBERS: usize = 32;

/// How many members, counted in rota order for RTP packet `wire` of `ssrc`, a request must
/// name so that `want` of the `live` ones answer; 0 (every member) when that is more than
/// [`MAX_ANSWERERS`], when fewer than `want` are live, or when `want` is 0.
///
/// `members` are the group's members other than the requester, with whether each is live.
pub(crate) fn answerers(
    (ssrc, wire): (u32, u16),
    members: impl Iterator<Item = (SenderId, bool)>,
    want: usize,
) -> u8 {
    let mut keyed = [(0u64, SenderId(0), false); MAX_MEMBERS];
    let mut n = 0;
    for (id, live) in members {
        if n == MAX_MEMBERS || want == 0 {
            return 0;
        }
        keyed[n] = (rota_key(ssrc, wire, id), id, live);
        n += 1;
    }
    let keyed = &mut keyed[..n];
    keyed.sort_unstable_by_key(|&(k, id, _)| (k, id));
    let mut found = 0;
    for (i, &(_, _, live)) in keyed.iter().enumerate() {
        found += usize::from(live);
        if found == want {
            return u8::try_from(i + 1)
                .ok()
                .filter(|&a| a <= MAX_ANSWERERS)
                .unwrap_or(0);
        }
    }
    0
}

/// True if `me` answers for RTP packet `wire` of `ssrc` when `from` asks and names
/// `answerers` (0: everyone answers): fewer than `answerers` of the other `members` (the
/// group's members other than `me`) rank before us.
pub(crate) fn answers(
    (ssrc, wire): (u32, u16),
    (me, from): (SenderId, SenderId),
    members: impl Iterator<Item = SenderId>,
    answerers: u8,
) -> bool {
    if answerers == 0 {
        return true;
    }
    let mine = (rota_key(ssrc, wire, me), me);
    let before = members
        .filter(|&id| id != from && id != me)
        .filter(|&id| (rota_key(ssrc, wire, id), id) < mine)
        .take(usize::from(answerers))
        .count();
    before < usize::from(answerers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: [SenderId; 5] = [
        SenderId(11),
        SenderId(22),
        SenderId(33),
        SenderId(44),
        SenderId(55),
    ];

    /// Members of GROUP other than `who`, as `who` sees them, all live but `silent`.
    fn seen_by(who: SenderId, silent: &[SenderId]) -> Vec<(SenderId, bool)> {
        GROUP
            .iter()
            .filter(|&&id| id != who)
            .map(|&id| (id, !silent.contains(&id)))
            .collect()
    }

    /// The members that answer `requester`'s request for `wire` naming `answerers`.
    fn answering(requester: SenderId, wire: u16, n: u8) -> Vec<SenderId> {
        GROUP
            .iter()
            .copied()
            .filter(|&me| me != requester)
            .filter(|&me| answers((7, wire), (me, requester), GROUP.into_iter(), n))
            .collect()
    }

    #[test]
    fn exactly_the_named_number_answer_and_each_member_comes_first_in_turn() {
        let requester = GROUP[0];
        let mut first = [0; 5];
        for wire in 0..2000u16 {
            let n = answerers((7, wire), seen_by(requester, &[]).into_iter(), 1);
            assert_eq!(n, 1);
            let who = answering(requester, wire, n);
            assert_eq!(who.len(), 1, "packet {wire}");
            first[GROUP.iter().position(|&m| m == who[0]).unwrap()] += 1;
            let two = answerers((7, wire), seen_by(requester, &[]).into_iter(), 2);
            assert_eq!(answering(requester, wire, two).len(), 2);
            assert_eq!(answering(requester, wire, 0).len(), 4, "0 is everyone");
        }
        assert_eq!(first[0], 0, "the requester never answers itself");
        assert!(
            first[1..].iter().all(|&f| (400..600).contains(&f)),
            "{first:?}"
        );
    }

    #[test]
    fn a_silent_member_ranked_first_is_skipped() {
        let (requester, silent) = (GROUP[1], GROUP[3]);
        for wire in 0..500u16 {
            let n = answerers((7, wire), seen_by(requester, &[silent]).into_iter(), 1);
            let live: Vec<_> = answering(requester, wire, n)
                .into_iter()
                .filter(|&m| m != silent)
                .collect();
            assert_eq!(live.len(), 1, "packet {wire}: one live member answers");
        }
    }

    #[test]
    fn too_few_live_members_or_too_many_members_name_everyone() {
        let everyone_silent = seen_by(GROUP[0], &GROUP);
        assert_eq!(answerers((7, 1), everyone_silent.into_iter(), 1), 0);
        assert_eq!(answerers((7, 1), seen_by(GROUP[0], &[]).into_iter(), 5), 0);
        assert_eq!(answerers((7, 1), seen_by(GROUP[0], &[]).into_iter(), 0), 0);
        let crowd = (0..40).map(|i| (SenderId(i), true));
        assert_eq!(answerers((7, 1), crowd, 1), 0);
    }
}
