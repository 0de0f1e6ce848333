//! The manager's HTTP/JSON API (`/api/v1`), as types shared by the manager and its clients.
//!
//! What it does: names every request and response body, so that the manager (which serves
//! them) and the client, the admin CLI and the tests (which send them) cannot drift apart.
//! The manager also serves this contract as OpenAPI at `/api/v1/openapi.json`.
//!
//! What it deliberately does not do: any I/O, validation beyond what serde does, or storage.
//!
//! Ids are the newtypes of `groupcast-base` ([`SessionId`], [`GroupId`], [`GroupEpoch`],
//! [`ChannelId`], [`Ssrc`]), re-exported here. In JSON the 64-bit ones (sessions, groups) are
//! decimal strings, since JavaScript numbers hold 53 bits; the others are bare numbers.
//!
//! Every call but `/api/v1/health` and `/api/v1/openapi.json` carries
//! `Authorization: Bearer TOKEN`. Errors are [`ApiError`] with a 4xx/5xx status.
//!
//! | method and path | who | body | answer |
//! |---|---|---|---|
//! | `GET /api/v1/health` | anyone | | `"ok"` |
//! | `GET /api/v1/me` | any user | | [`User`] |
//! | `POST /api/v1/users` | admin | [`NewUser`] | [`CreatedUser`] (the token, shown once) |
//! | `GET /api/v1/users` | admin | | `[`[`User`]`]` |
//! | `DELETE /api/v1/users/{name}` | admin | | 204 |
//! | `PUT /api/v1/users/{name}/channels/{channel}` | admin | | 204 (entitle) |
//! | `DELETE /api/v1/users/{name}/channels/{channel}` | admin | | 204 |
//! | `POST /api/v1/channels` | admin | [`ChannelSpec`] | [`Channel`] |
//! | `GET /api/v1/channels` | any user | | `[`[`Channel`]`]` (a viewer sees its own) |
//! | `GET /api/v1/channels/{name}` | entitled | | [`Channel`] |
//! | `DELETE /api/v1/channels/{name}` | admin | | 204 |
//! | `POST /api/v1/sessions` | entitled viewer or admin | [`OpenSession`] | [`SessionInfo`] |
//! | `POST /api/v1/sessions/{id}/heartbeat` | the session's user | [`Heartbeat`] | [`Assignment`] (404: session ended, open a new one) |
//! | `GET /api/v1/sessions/{id}/events` | the session's user | | SSE: `event: group`, `data:` [`Assignment`], at once and on every change |
//! | `DELETE /api/v1/sessions/{id}` | the session's user or admin | | 204 |
//! | `GET /api/v1/sessions` | admin | | `[`[`SessionView`]`]` |
//! | `GET /api/v1/overview` | admin | | [`Overview`] (what the dashboard draws) |
//! | `GET /metrics` | anyone | | Prometheus text |

pub use groupcast_base::{ChannelId, GroupEpoch, GroupId, SessionId, Ssrc};
pub use keys::{format_hex, format_key, parse_hex, parse_key};

mod keys;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users and channels, sees everything.
    Admin,
    /// Watches the channels it is entitled to.
    Viewer,
}

/// A user as the API shows it (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Channels it may watch (admins may watch all).
    pub channels: Vec<String>,
}

/// Body of `POST /users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Unique name: 1..=64 of `[A-Za-z0-9._-]`.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Channels it may watch from the start.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// Answer to `POST /users`: the only time the token is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// Its bearer token (the manager stores only a hash).
    pub token: String,
}

/// Body of `POST /channels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Unique name: 1..=64 of `[A-Za-z0-9._-]`.
    pub name: String,
    /// Multicast group and port, e.g. `239.255.0.1:5004` or `[ff3e::1]:5004`.
    pub group: String,
    /// Source address for source-specific multicast, if any.
    #[serde(default)]
    pub source: Option<String>,
    /// Per-metro overrides (metro name to `IP:PORT`) for metros fed by an edge.
    #[serde(default)]
    pub metro_groups: BTreeMap<String, String>,
    /// Per-metro SSM source addresses (metro name to the edge's IP), for metro groups the edge
    /// sends source-specific. Required for every metro group of a channel with a `source`.
    #[serde(default)]
    pub metro_sources: BTreeMap<String, String>,
    /// RTP packets per chunk (default 32).
    #[serde(default)]
    pub chunk_packets: Option<u32>,
    /// Play-out buffer in ms (default 1000).
    #[serde(default)]
    pub buffer_ms: Option<u32>,
    /// Members per repair group (default 5, 2..=16).
    #[serde(default)]
    pub group_size: Option<u32>,
    /// The most one viewer uploads to its repair group, kbit/s (default 0: no cap); a client's
    /// `--uplink-mbps` overrides it.
    #[serde(default)]
    pub uplink_kbps: Option<u32>,
    /// The central's unicast feed, `HOST:PORT` (`groupcast source --unicast-listen`): where
    /// viewers without multicast in metros with no relay of their own get the stream.
    #[serde(default)]
    pub relay: Option<String>,
    /// A dual-stack channel's IPv6 group, `[IP]:PORT` (then `group` is its IPv4 one): the
    /// source sends the very same datagrams to both, and each viewer joins the group of its
    /// peer address's family.
    #[serde(default)]
    pub group6: Option<String>,
    /// The SSM source address of `group6`, if it is sent source-specific.
    #[serde(default)]
    pub source6: Option<String>,
    /// Per-metro unicast feeds (metro name to the edge's `--unicast-listen` `HOST:PORT`).
    #[serde(default)]
    pub metro_relays: BTreeMap<String, String>,
}

/// A channel as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Manager-assigned id; the channel id of the peer protocol.
    pub id: ChannelId,
    /// Unique name.
    pub name: String,
    /// Default multicast group `IP:PORT`.
    pub group: String,
    /// SSM source, if any.
    pub source: Option<String>,
    /// Per-metro group overrides.
    pub metro_groups: BTreeMap<String, String>,
    /// Per-metro SSM sources (the edges' addresses), for metro groups sent source-specific.
    #[serde(default)]
    pub metro_sources: BTreeMap<String, String>,
    /// RTP packets per chunk.
    pub chunk_packets: u32,
    /// Play-out buffer, ms.
    pub buffer_ms: u32,
    /// Members per repair group.
    pub group_size: u32,
    /// Each viewer's uplink budget towards its group, kbit/s (0: no cap).
    #[serde(default)]
    pub uplink_kbps: u32,
    /// The central's unicast feed, if any.
    #[serde(default)]
    pub relay: Option<String>,
    /// A dual-stack channel's IPv6 group (then `group` is its IPv4 one).
    #[serde(default)]
    pub group6: Option<String>,
    /// The SSM source of `group6`, if any.
    #[serde(default)]
    pub source6: Option<String>,
    /// Per-metro unicast feeds (the edges').
    #[serde(default)]
    pub metro_relays: BTreeMap<String, String>,
}

/// Body of `POST /sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    /// Channel name.
    pub channel: String,
    /// The viewer's metro network (any name; new names are registered).
    pub metro: String,
    /// Where the viewer's peer socket listens, `IP:PORT`. An unspecified IP (`0.0.0.0`) is
    /// replaced by the address the request came from. The manager accepts only a unicast
    /// address with a non-zero port (400 otherwise), and only the caller's own IP unless its
    /// operator trusts the caller's network (`--peer-addr-from`; 403 otherwise).
    pub peer_addr: String,
    /// The viewer repairs (the default). `false` (a client run with `--no-repair`, e.g. an
    /// operator's probe measuring what the network alone delivers) gets a group of its own:
    /// it takes no place in anyone's repair group and is nobody's backup.
    #[serde(default = "repairs_by_default")]
    pub repair: bool,
}

/// [`OpenSession::repair`] when the body leaves it out.
fn repairs_by_default() -> bool {
    true
}

/// One member of a repair group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Its session id (the sender id of the peer protocol).
    pub session: SessionId,
    /// Its metro.
    pub metro: String,
    /// Its peer socket, `IP:PORT`.
    pub peer_addr: String,
    /// The key the session this assignment was handed to shares with this member for the
    /// epoch, 64 hex digits; every peer message between the two is authenticated with it.
    /// Empty (and left out of the JSON) for the recipient itself and outside assignments.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// One backup of a session: a member of a neighbouring group in another metro, asked for
/// what the session's own group could not supply in time. Each backup lists the session
/// among its own backups, with the same key and epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// Its session id (the sender id of the peer protocol).
    pub session: SessionId,
    /// Its metro.
    pub metro: String,
    /// Its peer socket, `IP:PORT`.
    pub peer_addr: String,
    /// The epoch of the key below; messages between the two carry it. It changes whenever
    /// either of the two groups changes.
    pub epoch: GroupEpoch,
    /// The key the session this assignment was handed to shares with this backup, 64 hex
    /// digits.
    pub key: String,
}

/// A session's current repair group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The group id (0: no group yet).
    pub group: GroupId,
    /// Bumped on every membership change of the group.
    pub epoch: GroupEpoch,
    /// All members, this session included, each with the key the recipient shares with it.
    /// The group's own secret never leaves the manager: no member can speak for another.
    pub members: Vec<MemberInfo>,
    /// The channel's media keys around now, when the manager hands them (it was given a media
    /// secret): the previous, the current and the next period's. Empty (and left out of the
    /// JSON) otherwise. A stream scrambled by its source plays only with these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_keys: Vec<MediaKeyInfo>,
    /// The session's ticket for the unicast fallback, when the manager issues them (it was
    /// given a unicast secret) and the viewer's metro or the channel has a relay; left out of
    /// the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<UnicastTicket>,
    /// The session's backups (issue 12's second tier), when the manager assigns them (left
    /// out of the JSON otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<BackupInfo>,
}

/// A ticket for the unicast fallback (see `groupcast_wire::unicast`): the relay that feeds
/// the session by unicast if its network carries no multicast, and what proves the session
/// to it until the expiry. Renewed with every heartbeat and group event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastTicket {
    /// The relay, `HOST:PORT`: the viewer's metro's edge, else the central.
    pub relay: String,
    /// Unix ms after which the relay refuses the ticket.
    pub expires_ms: u64,
    /// The ticket's key, 64 hex digits.
    pub key: String,
}

/// One period's media key of a channel (AES-128, see `groupcast_wire::scramble`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaKeyInfo {
    /// The period: milliseconds since the Unix epoch divided by `period_ms`. Its parity is
    /// the one marked in the TS packets it scrambles.
    pub index: u64,
    /// How long each key is in force, ms.
    pub period_ms: u64,
    /// The key, 32 hex digits.
    pub key: String,
}

/// Answer to `POST /sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session id; the client's sender id in the peer protocol.
    pub session: SessionId,
    /// The channel, with `group` already resolved for the session's metro.
    pub channel: Channel,
    /// How often to send heartbeats, ms.
    pub heartbeat_ms: u32,
    /// After how long without heartbeat the session is ended, ms.
    pub timeout_ms: u32,
    /// The current group.
    pub assignment: Assignment,
}

/// Cumulative statistics a client reports with each heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientStats {
    /// Media packets received by multicast.
    pub received: u64,
    /// Packets found missing.
    pub lost: u64,
    /// Missing packets repaired by peers.
    pub repaired: u64,
    /// Packets played out as holes.
    pub unrecovered: u64,
    /// Repair copies after the first.
    pub duplicates: u64,
    /// Repair requests sent.
    pub requests_sent: u64,
    /// Repairs served to peers.
    pub repairs_served: u64,
    /// Datagrams dropped as malformed: bad RTP, a non-TS payload, or a peer message that could
    /// not be parsed or did not fit (unauthenticated and replayed ones are counted apart).
    pub bad_datagrams: u64,
    /// Repair latency, median, µs (0: none yet).
    pub repair_p50_us: u64,
    /// Repair latency, 99th percentile, µs.
    pub repair_p99_us: u64,
    /// Play-out buffer fill, ms.
    pub buffer_ms: u32,
    /// Peers answering.
    pub peers: u32,
}

/// Body of `POST /sessions/{id}/heartbeat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Counters since the session opened.
    pub stats: ClientStats,
    /// SSRC of the stream the losses below belong to.
    #[serde(default)]
    pub ssrc: Ssrc,
    /// RTP sequence numbers missed by multicast since the last heartbeat (at most 512): lets
    /// the manager see packets that a whole metro lost (a failing device there).
    #[serde(default)]
    pub losses: Vec<u16>,
    /// The relay feeding the session by unicast, `HOST:PORT`, when it receives no multicast
    /// (the unicast fallback); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<String>,
}

/// A session as an admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// Session id.
    pub session: SessionId,
    /// User name.
    pub user: String,
    /// Channel name.
    pub channel: String,
    /// Metro name.
    pub metro: String,
    /// Peer socket.
    pub peer_addr: String,
    /// Group id.
    pub group: GroupId,
    /// Group epoch.
    pub epoch: GroupEpoch,
    /// Last reported statistics.
    pub stats: ClientStats,
    /// Unix ms of the last heartbeat.
    pub last_seen_ms: i64,
    /// The relay feeding it by unicast (it receives no multicast), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<String>,
}

/// One metro's figures over one interval.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetroSample {
    /// Unix ms at the end of the interval.
    pub at_ms: i64,
    /// Packets received in the interval (sum over the metro's sessions).
    pub received: u64,
    /// Packets lost.
    pub lost: u64,
    /// Packets repaired.
    pub repaired: u64,
    /// Packets unrecovered.
    pub unrecovered: u64,
}

/// One metro as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetroView {
    /// Metro name.
    pub name: String,
    /// Live sessions there.
    pub viewers: u32,
    /// Recent samples, oldest first.
    pub samples: Vec<MetroSample>,
    /// Share (0..=1) of the metro's recent losses that most of its viewers lost together.
    pub shared_loss: f64,
    /// True when `shared_loss` points at a failing device in the metro.
    pub flagged: bool,
}

/// One group as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// Channel name.
    pub channel: String,
    /// Group id.
    pub group: GroupId,
    /// Epoch.
    pub epoch: GroupEpoch,
    /// Members.
    pub members: Vec<MemberInfo>,
}

/// Answer to `GET /overview`: everything the dashboard draws.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Unix ms when taken.
    pub now_ms: i64,
    /// All channels with their live viewer count.
    pub channels: Vec<(Channel, u32)>,
    /// All live sessions.
    pub sessions: Vec<SessionView>,
    /// All groups.
    pub groups: Vec<GroupView>,
    /// All metros.
    pub metros: Vec<MetroView>,
}

/// Every error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for a person.
    pub error: String,
}

#[cfg(test)]
mod tests;
