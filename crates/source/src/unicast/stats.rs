//! What a relay's unicast side counts.

/// What the unicast feed counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FanoutStats {
    /// Viewers admitted to the feed (a session admitted again after it ended counts again,
    /// and so does a standby viewer that asks for the feed).
    pub joined: u64,
    /// Datagrams queued to viewers (first copies).
    pub sent: u64,
    /// Bytes handed to the socket for viewers (first copies and retransmissions).
    pub bytes_sent: u64,
    /// Datagrams queued again after a NACK.
    pub retransmitted: u64,
    /// NACKed packets no longer (or never) in the ring.
    pub nack_missed: u64,
    /// NACKed packets refused by the viewer's budget.
    pub nack_limited: u64,
    /// Messages that do not verify under the ticket they name (garbage, forged, another
    /// channel's or a stale ticket with a changed expiry).
    pub unauthenticated: u64,
    /// Authenticated messages whose ticket has expired.
    pub expired: u64,
    /// Authenticated messages refused by the replay window.
    pub replayed: u64,
    /// Challenges sent.
    pub challenges: u64,
    /// Challenges and FULL answers not sent for the rate limit.
    pub challenge_limited: u64,
    /// Viewers refused because `max_viewers` were fed.
    pub refused_full: u64,
    /// Feeds ended by LEAVE.
    pub left: u64,
    /// Feeds ended by silence or an expired ticket.
    pub timed_out: u64,
    /// Datagrams not queued because the queue was full.
    pub dropped: u64,
    /// Datagrams not sent to a viewer not fed yet while the stream had just gone on air
    /// ([`ON_AIR_HOLD`](super::ON_AIR_HOLD)).
    pub held: u64,
    /// Viewers admitted for retransmissions only (the last resort), or switched to that.
    pub standby_joined: u64,
    /// Retransmissions to standby viewers (also counted in `retransmitted`).
    pub standby_retransmitted: u64,
    /// NACKed packets of standby viewers refused by their own budget or the relay's.
    pub standby_limited: u64,
    /// Bytes queued as retransmissions, to any viewer or to the multicast group (the relay's
    /// repair egress).
    pub repair_bytes: u64,
    /// Numbers resent to the multicast group because several standby viewers NACKed them.
    pub multicast_resent: u64,
    /// Standby viewers' NACKs answered by a multicast resend just sent (nothing more sent).
    pub multicast_covered: u64,
}
