//! Client configuration: buffer sizes, timers, strategy, budgets. Checked once by
//! [`Config::validate`]; every field has an operator-sensible default.

use core::fmt;
use groupcast_wire::proto::{ChannelId, KEY_LEN, SenderId};
use std::net::SocketAddr;
use std::time::Duration;

/// Whom a repair request goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestStrategy {
    /// Every live member of the group, every time (the seed's rule).
    #[default]
    All,
    /// The best-ranked peer first (lowest RTT, answering); every live member on retries.
    Ranked,
    /// Every live member is asked, but per packet only the first live member of a rota (a
    /// hash of the packet's number and the member) answers, and every member on a retry:
    /// about a quarter of `All`'s duplicate repairs, at the cost of a retry timer on the
    /// repairs whose first answer fails (docs/simulation.md, "Who answers").
    Rota,
}

/// Everything a [`Client`](crate::Client) needs to know up front.
#[derive(Clone, Debug)]
pub struct Config {
    /// The channel this client watches; peer messages for another channel are dropped.
    pub channel: ChannelId,
    /// This client's session id, as assigned by the manager; signs our messages.
    pub sender: SenderId,
    /// The multicast group the media arrives on; the destination of rebuilt UDP headers.
    pub group: SocketAddr,
    /// Packets per chunk, the P2P unit; raw buffer capacity is a multiple of it.
    pub chunk_packets: usize,
    /// Total buffering (play-out delay): play starts this long after the first packet, and a
    /// packet must be repaired before its chunk is due to play.
    pub buffer: Duration,
    /// How long packets stay in the raw buffer after play-out, to serve slower peers.
    pub retention: Duration,
    /// Packet rate assumed until measured; sizes the raw buffer at start.
    pub expected_pps: u32,
    /// Largest datagram accepted (bytes); slots are allocated this large once.
    pub max_datagram: usize,
    /// How long a gap may stay open before it counts as loss (reordering tolerance).
    pub reorder_hold: Duration,
    /// Smallest and largest retry timer for repair requests.
    pub rto_min: Duration,
    /// See `rto_min`.
    pub rto_max: Duration,
    /// Retry timer used before any RTT is measured.
    pub rto_initial: Duration,
    /// Request attempts per missing packet on the retry timer; then the last resort is
    /// asked, or without one the group again on a doubling timer until the deadline.
    pub max_attempts: u8,
    /// Whom requests go to.
    pub strategy: RequestStrategy,
    /// When false, losses are detected and counted but never requested (a control setting).
    pub repair_enabled: bool,
    /// When false, peers' requests are not answered.
    pub serve_enabled: bool,
    /// Repairs per second one peer may draw from us (token bucket rate), before the stream's
    /// rate is measured and at least after: then `serve_rate_ratio` times the measured rate.
    pub serve_rate: u32,
    /// Token bucket depth for `serve_rate`; once the rate is measured, at least a `buffer`'s
    /// worth of packets (a member can catch up a whole buffer at once).
    pub serve_burst: u32,
    /// How many times the stream's measured rate one peer may draw from us: above 1, so that
    /// a member can catch up after an outage while the stream goes on.
    pub serve_rate_ratio: u32,
    /// Our whole serving upload to the group, bytes per second (the viewer's uplink budget;
    /// 0: no cap). Repairs beyond it are refused and counted, whoever asks.
    pub uplink_bytes_per_sec: u32,
    /// How often each peer is pinged for RTT and liveness.
    pub ping_interval: Duration,
    /// Unanswered pings after which a peer counts as silent.
    pub silent_after_pings: u32,
    /// How long the previous group key stays valid after a rekey.
    pub key_grace: Duration,
    /// First value of our message counter; drivers pass wall-clock microseconds so the
    /// counter keeps increasing across restarts.
    pub initial_counter: u64,
    /// When true, payloads must be whole MPEG-TS packets; others are dropped and counted.
    pub require_ts: bool,
    /// When true, a client that joins with no stream asks a member for a fast start (the
    /// stream since the member's last random access point, as a burst).
    pub fast_start: bool,
    /// Most bytes of the stream since the last random access point kept to serve members'
    /// fast starts and repairs older than the raw buffer (0: none).
    pub gop_bytes: usize,
    /// Our secret for ping nonces (return routability): drivers pass 32 random bytes, so that
    /// no member can predict the nonce it must echo to prove an address it does not receive
    /// at. The default (zeros) is for tests and the simulator.
    pub nonce_secret: [u8; KEY_LEN],
    /// Time kept before a missing packet's deadline for the last resort (the relay, an edge
    /// or the source, asked through the driver: see `Client::drain_escalations`); zero when
    /// there is none. The group is given up on this long before the deadline.
    pub last_resort: Duration,
    /// Time between asks of the last resort for one packet (its round trip and a margin);
    /// zero when there is none.
    pub last_resort_retry: Duration,
}

impl Config {
    /// Defaults for `channel`, `sender` and `group`.
    pub fn new(channel: ChannelId, sender: SenderId, group: SocketAddr) -> Self {
        Config {
            channel,
            sender,
            group,
            chunk_packets: 32,
            buffer: Duration::from_millis(1000),
            retention: Duration::from_millis(500),
            expected_pps: 2000,
            max_datagram: 1500,
            reorder_hold: Duration::from_millis(5),
            rto_min: Duration::from_millis(5),
            rto_max: Duration::from_millis(250),
            rto_initial: Duration::from_millis(40),
            max_attempts: 8,
            strategy: RequestStrategy::All,
            repair_enabled: true,
            serve_enabled: true,
            serve_rate: 1000,
            serve_burst: 200,
            serve_rate_ratio: 2,
            uplink_bytes_per_sec: 0,
            ping_interval: Duration::from_secs(1),
            silent_after_pings: 3,
            key_grace: Duration::from_secs(2),
            initial_counter: 1,
            require_ts: true,
            fast_start: false,
            gop_bytes: 0,
            nonce_secret: [0; KEY_LEN],
            last_resort: Duration::ZERO,
            last_resort_retry: Duration::ZERO,
        }
    }

    /// Checks the values fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &'static str| Err(ConfigError(what));
        if !(1..=4096).contains(&self.chunk_packets) {
            return bad("chunk_packets must be 1..=4096");
        }
        if self.buffer < Duration::from_millis(10) || self.buffer > Duration::from_secs(60) {
            return bad("buffer must be 10 ms..=60 s");
        }
        if !(1..=1_000_000).contains(&self.expected_pps) {
            return bad("expected_pps must be 1..=1000000");
        }
        if !(12 + 188..=65_507).contains(&self.max_datagram) {
            return bad("max_datagram must hold one RTP/TS packet and fit in UDP");
        }
        if self.rto_min.is_zero() || self.rto_min > self.rto_max {
            return bad("rto_min must be non-zero and not above rto_max");
        }
        if !(1..=16).contains(&self.serve_rate_ratio) {
            return bad("serve_rate_ratio must be 1..=16");
        }
        if self.max_attempts == 0 || self.serve_burst == 0 || self.ping_interval.is_zero() {
            return bad("max_attempts, serve_burst and ping_interval must be non-zero");
        }
        if self.last_resort >= self.buffer {
            return bad("last_resort must be below buffer");
        }
        Ok(())
    }
}

/// A configuration value out of range; says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let group = "239.1.1.1:5004".parse().unwrap();
        let mut c = Config::new(ChannelId(1), SenderId(1), group);
        assert_eq!(c.validate(), Ok(()));
        c.chunk_packets = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError("chunk_packets must be 1..=4096"))
        );
        c.chunk_packets = 8;
        c.rto_min = Duration::from_secs(1);
        assert!(c.validate().unwrap_err().0.contains("rto_min"));
    }
}
