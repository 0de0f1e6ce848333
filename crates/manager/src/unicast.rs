//! Tickets for the unicast fallback (see `groupcast_wire::unicast`): the manager and the
//! relays (edges, the central) share a secret; each session of a channel with a relay gets a
//! ticket naming its metro's relay (else the channel's) with its open, every heartbeat and
//! every group event. A relay checks a ticket without asking the manager; a revoked viewer
//! gets no new one, so its feed ends when the last expires.

use crate::db::hex;
use groupcast_api::{Channel, SessionId, UnicastTicket};
use groupcast_wire::unicast::ticket_key;

/// How long a ticket lasts, at least, ms: a minute of manager outage before a unicast viewer
/// loses its feed, and a minute at most for a revocation to take effect.
const TICKET_MS: u64 = 60_000;
/// Expiries are rounded up to this, so a ticket (and its key) changes every 10 s, not with
/// every heartbeat.
const ROUND_MS: u64 = 10_000;

/// The secret shared with the relays.
pub(crate) struct Unicast {
    /// `GROUPCAST_UNICAST_SECRET`, trimmed.
    secret: Vec<u8>,
}

impl Unicast {
    /// Tickets derived from `secret`.
    pub(crate) fn new(secret: &str) -> Unicast {
        Unicast {
            secret: secret.trim().as_bytes().to_vec(),
        }
    }

    /// The ticket of `session` of `channel` in `metro` at `now_ms`: none when neither the
    /// metro nor the channel has a relay.
    pub(crate) fn ticket(
        &self,
        channel: &Channel,
        session: SessionId,
        metro: &str,
        now_ms: i64,
    ) -> Option<UnicastTicket> {
        let relay = channel.metro_relays.get(metro).or(channel.relay.as_ref())?;
        let expires_ms = ((now_ms.max(0) as u64 + TICKET_MS) / ROUND_MS + 1) * ROUND_MS;
        let key = ticket_key(&self.secret, &channel.name, session, expires_ms);
        Some(UnicastTicket {
            relay: relay.clone(),
            expires_ms,
            key: hex(&key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_api::ChannelId;
    use std::collections::BTreeMap;

    #[test]
    fn a_ticket_names_the_metros_relay_else_the_channels_and_lasts_a_minute() {
        let mut c = Channel {
            id: ChannelId(1),
            name: "news".into(),
            group: "239.255.0.1:5004".into(),
            source: None,
            metro_groups: BTreeMap::new(),
            metro_sources: BTreeMap::new(),
            chunk_packets: 32,
            buffer_ms: 1000,
            group_size: 5,
            uplink_kbps: 0,
            group6: None,
            source6: None,
            relay: None,
            metro_relays: BTreeMap::from([("m1".into(), "192.0.2.1:7000".into())]),
        };
        let u = Unicast::new("a-unicast-secret-of-thirty-two-chars!");
        let now = 1_800_000_000_123;
        assert!(
            u.ticket(&c, SessionId(5), "m2", now).is_none(),
            "no relay for m2"
        );
        let t = u.ticket(&c, SessionId(5), "m1", now).unwrap();
        assert_eq!(t.relay, "192.0.2.1:7000");
        assert!(t.expires_ms >= now as u64 + TICKET_MS && t.expires_ms.is_multiple_of(ROUND_MS));
        let key = ticket_key(
            b"a-unicast-secret-of-thirty-two-chars!",
            "news",
            SessionId(5),
            t.expires_ms,
        );
        assert_eq!(t.key, hex(&key));
        c.relay = Some("192.0.2.9:7000".into());
        assert_eq!(
            u.ticket(&c, SessionId(5), "m2", now).unwrap().relay,
            "192.0.2.9:7000"
        );
        assert_ne!(u.ticket(&c, SessionId(6), "m2", now).unwrap().key, t.key);
    }
}
