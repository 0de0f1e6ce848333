//! Clean start: every sink's output begins at a random access point.
//!
//! A player that gets a transport stream from the middle of a group of pictures shows garbage
//! until the next keyframe ("non-existing PPS", "no frame"). [`CleanStart`] sits between the
//! played TS and the sinks (a file, a socket, each HTTP connection):
//! - it reads the PAT and the PMT to find the video PID and its codec, and keeps the last copy of
//!   each table's packet;
//! - it releases the stream in [`Chunk`]s that each end just before a video PES starts, so a sink
//!   never gets a partial PES, even when the stream restarts in the middle of one (the tail is
//!   held back for one video frame);
//! - a chunk whose video PES starts with a keyframe (the `random_access_indicator`, an H.264
//!   IDR, an HEVC IRAP picture or an MPEG-2 sequence header) is a random access point: it comes
//!   with the PAT and PMT seen before it, and a waiting [`Sink`] starts there;
//! - it holds the stream since the last random access point, up to a byte cap, so that a new
//!   sink starts at once from there instead of waiting for the next keyframe;
//! - [`CleanStart::reset`] forgets everything when the stream restarts (a new SSRC).
//!
//! A program without a video stream starts at each PAT. Time-free: it only moves bytes.

use groupcast_wire::rap::{self, Access, Video};
use groupcast_wire::ts::{TS_PACKET_LEN, TsPacket};
use std::collections::VecDeque;

/// Default bound of the held stream: a few GOPs of an HD channel.
pub const HOLD_CAP: usize = 8 << 20;
/// Elementary stream bytes read at most to decide whether a PES starts with a keyframe.
const PROBE_CAP: usize = 4096;

/// A run of TS to write, ending before a video PES start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// True when `ts` starts at a random access point: a sink may start here.
    pub random_access: bool,
    /// The PAT and PMT packets seen before this random access point, written first by a sink
    /// that starts here (empty when not a random access point, or the PAT starts `ts`).
    pub head: Vec<u8>,
    /// Whole TS packets, as played.
    pub ts: Vec<u8>,
}

/// What the gate counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanCounters {
    /// Random access points found.
    pub random_access_points: u64,
    /// Sinks started at a random access point as it went by.
    pub starts: u64,
    /// Sinks started at once from the held stream.
    pub starts_from_held: u64,
    /// Bytes not written to a sink because it waited for a random access point.
    pub gated_bytes: u64,
    /// Times the held stream outgrew its cap and was dropped.
    pub held_overflows: u64,
    /// Stream restarts.
    pub resets: u64,
}

/// Program tables read from the stream.
#[derive(Clone, Debug, Default)]
struct Tables {
    /// From the PAT: where the PMT is.
    pmt_pid: Option<u16>,
    /// From the PMT: `Some(None)` once read and holding no video.
    video: Option<Option<Video>>,
    /// The last PAT packet.
    pat: Option<[u8; TS_PACKET_LEN]>,
    /// The last PMT packet.
    pmt: Option<[u8; TS_PACKET_LEN]>,
}

/// The clean start gate; see the module documentation.
#[derive(Debug)]
pub struct CleanStart {
    /// Bound of `held` and of `pending`.
    cap: usize,
    /// What the PAT and PMT said.
    tables: Tables,
    /// Bytes of a packet split across two pushes.
    partial: Vec<u8>,
    /// Packets since the last video PES start: released when the next one starts.
    pending: Chunk,
    /// Elementary stream bytes of `pending`'s first PES while undecided whether it is a keyframe.
    probe: Option<Vec<u8>>,
    /// The stream since the last random access point (its head first), for new sinks.
    held: Option<Vec<u8>>,
    /// Chunks released and not yet polled.
    ready: VecDeque<Chunk>,
    /// Counters.
    counters: CleanCounters,
}

impl Default for CleanStart {
    fn default() -> Self {
        CleanStart::new(HOLD_CAP)
    }
}

impl CleanStart {
    /// A gate holding at most `cap` bytes since the last random access point.
    pub fn new(cap: usize) -> CleanStart {
        CleanStart {
            cap,
            tables: Tables::default(),
            partial: Vec::new(),
            pending: Chunk::default(),
            probe: None,
            held: None,
            ready: VecDeque::new(),
            counters: CleanCounters::default(),
        }
    }

    /// Takes played TS (whole packets; a split packet is joined with the next push).
    pub fn push(&mut self, ts: &[u8]) {
        let mut rest = ts;
        if !self.partial.is_empty() {
            let need = (TS_PACKET_LEN - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.partial.len() < TS_PACKET_LEN {
                return;
            }
            let p = std::mem::take(&mut self.partial);
            self.packet(&p);
        }
        let mut packets = rest.chunks_exact(TS_PACKET_LEN);
        for p in packets.by_ref() {
            self.packet(p);
        }
        self.partial.extend_from_slice(packets.remainder());
    }

    /// The next released chunk.
    pub fn poll_chunk(&mut self) -> Option<Chunk> {
        self.ready.pop_front()
    }

    /// The stream held since the last random access point, PAT and PMT first; `None` when the
    /// gate holds none (none seen yet, or it outgrew the cap).
    pub fn held(&self) -> Option<&[u8]> {
        self.held.as_deref()
    }

    /// The stream restarted: forget the tables, the held stream and the unfinished PES.
    pub fn reset(&mut self) {
        *self = CleanStart {
            counters: CleanCounters {
                resets: self.counters.resets + 1,
                ..self.counters
            },
            ..CleanStart::new(self.cap)
        };
    }

    /// Counters so far.
    pub fn counters(&self) -> CleanCounters {
        self.counters
    }

    /// Starts a waiting `sink` from the held stream; returns the bytes it writes first.
    pub fn start_from_held(&mut self, sink: &mut Sink) -> Option<&[u8]> {
        if sink.started {
            return None;
        }
        let held = self.held.as_deref()?;
        sink.started = true;
        self.counters.starts_from_held += 1;
        Some(held)
    }

    /// The parts of `chunk` that `sink` writes, in order: the head and the TS when it starts
    /// here, the TS when it runs, nothing while it waits.
    pub fn admit<'c>(&mut self, sink: &mut Sink, chunk: &'c Chunk) -> [&'c [u8]; 2] {
        if sink.started {
            return [&[], &chunk.ts];
        }
        if !chunk.random_access {
            self.counters.gated_bytes += chunk.ts.len() as u64;
            return [&[], &[]];
        }
        sink.started = true;
        self.counters.starts += 1;
        [&chunk.head, &chunk.ts]
    }

    /// One 188-byte packet.
    fn packet(&mut self, p: &[u8]) {
        if let Ok(pkt) = TsPacket::new_checked(p) {
            if pkt.unit_start() && self.tables(&pkt) {
                return;
            }
            self.probe_more(&pkt);
        }
        self.pending.ts.extend_from_slice(p);
        if self.pending.ts.len() > self.cap {
            self.release(); // no video PES start in sight: do not grow without bound
        }
    }

    /// Reads the PAT and the PMT, and handles a video PES start (true: the packet was taken).
    fn tables(&mut self, pkt: &TsPacket<'_>) -> bool {
        let Ok(payload) = pkt.payload() else {
            return false;
        };
        let pid = pkt.pid();
        if pid == 0 {
            if let Ok(pmt_pid) = rap::parse_pat(payload) {
                self.on_pat(pkt, pmt_pid);
            }
        } else if Some(pid) == self.tables.pmt_pid {
            if let Ok(video) = rap::parse_pmt(payload) {
                self.tables.video = Some(video);
                self.tables.pmt = Some(*pkt.as_bytes());
            }
        } else if let Some(Some(video)) = self.tables.video
            && video.pid == pid
        {
            self.release();
            self.pending.ts.extend_from_slice(pkt.as_bytes());
            let access = if pkt.random_access() {
                Access::Key
            } else {
                let es = rap::pes_payload(payload).unwrap_or_default();
                self.probe = Some(es.to_vec());
                rap::scan_keyframe(video.stream_type, es)
            };
            self.decide(access);
            return true;
        }
        false
    }

    /// A PAT: remembered; for a program without video, a random access point.
    fn on_pat(&mut self, pkt: &TsPacket<'_>, pmt_pid: u16) {
        if self.tables.pmt_pid != Some(pmt_pid) {
            self.tables.video = None;
            self.tables.pmt = None;
        }
        self.tables.pmt_pid = Some(pmt_pid);
        self.tables.pat = Some(*pkt.as_bytes());
        if self.tables.video == Some(None) {
            self.release();
            self.pending.random_access = true;
            self.counters.random_access_points += 1;
        }
    }

    /// A continuation of the video PES being probed: reads on while undecided.
    fn probe_more(&mut self, pkt: &TsPacket<'_>) {
        let (Some(probe), Some(Some(video))) = (&mut self.probe, self.tables.video) else {
            return;
        };
        if pkt.pid() != video.pid {
            return;
        }
        probe.extend_from_slice(pkt.payload().unwrap_or_default());
        let access = rap::scan_keyframe(video.stream_type, probe);
        if access == Access::Unknown && probe.len() < PROBE_CAP {
            return;
        }
        self.decide(access);
    }

    /// Settles whether `pending` starts at a random access point.
    fn decide(&mut self, access: Access) {
        if access == Access::Unknown {
            return;
        }
        self.probe = None;
        if access == Access::NotKey {
            return;
        }
        let (Some(pat), Some(pmt)) = (&self.tables.pat, &self.tables.pmt) else {
            return;
        };
        self.pending.random_access = true;
        self.pending.head = [&pat[..], &pmt[..]].concat();
        self.counters.random_access_points += 1;
    }

    /// Releases `pending` as a chunk, and keeps it in the held stream.
    fn release(&mut self) {
        self.probe = None;
        let chunk = std::mem::take(&mut self.pending);
        if chunk.ts.is_empty() {
            return;
        }
        if chunk.random_access {
            self.held = Some([&chunk.head[..], &chunk.ts[..]].concat());
        } else if let Some(held) = &mut self.held {
            held.extend_from_slice(&chunk.ts);
            if held.len() > self.cap {
                self.held = None;
                self.counters.held_overflows += 1;
            }
        }
        self.ready.push_back(chunk);
    }
}

/// One sink's place in the stream: waiting for a random access point, or started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sink {
    /// Whether it got a random access point and now takes every chunk.
    started: bool,
}

impl Sink {
    /// Whether the sink has started.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The stream restarted: wait for a random access point again.
    pub fn restart(&mut self) {
        self.started = false;
    }
}

#[cfg(test)]
mod tests;
