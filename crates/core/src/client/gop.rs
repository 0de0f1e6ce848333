//! The GOP store: the datagrams played since the last random access point, kept whole (RTP
//! header and source address) so that a joining member can be sent them as a fast start's
//! burst, and asked for them as repairs.
//!
//! It is filled at play-out, in order, so it never has to reorder or wait. A datagram starts a
//! new GOP when it carries the start of a video PES whose first picture is a keyframe (the
//! `random_access_indicator`, an H.264 IDR, an HEVC IRAP, an MPEG-2 sequence header) or, when
//! the start of the access unit does not show its picture yet, a sequence parameter set.
//! The joiner's own [`CleanStart`](crate::CleanStart) gate makes the exact cut, so an
//! approximate start costs at most a later first picture, never a broken one.
//!
//! A player can start at a keyframe only with the program tables seen before it, so the store
//! keeps the stream from the last PAT and PMT before the random access point.
//!
//! Bounded by bytes: a GOP that outgrows the cap is dropped (counted) and nothing is copied
//! until the next random access point, so a channel whose GOPs never fit costs almost nothing;
//! the GOP after a skipped one is offered only if its tables came with its keyframe.

use groupcast_wire::SeqNo;
use groupcast_wire::rap::{self, Access, StreamType, Video};
use groupcast_wire::ts::{TS_PACKET_LEN, TsPacket};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// One held datagram.
#[derive(Debug)]
struct Held {
    /// Our number for it.
    seq: SeqNo,
    /// Where it came from (kept to rebuild its UDP header).
    src: SocketAddr,
    /// The whole datagram (RTP header and payload).
    bytes: Vec<u8>,
}

/// The stream since the last random access point.
#[derive(Debug, Default)]
pub(crate) struct GopStore {
    /// Most bytes held; 0 keeps nothing.
    cap: usize,
    /// The datagrams since the tables before the last random access point, in order (holes
    /// skipped).
    held: VecDeque<Held>,
    /// True while `held` starts with the tables and a random access point.
    complete: bool,
    /// The last datagrams that carried a PAT and a PMT.
    tables_at: (Option<SeqNo>, Option<SeqNo>),
    /// True after the cap cut a GOP short: nothing is copied until the next keyframe.
    skipping: bool,
    /// Bytes in `held`.
    bytes: usize,
    /// Buffers of dropped entries, reused.
    spare: Vec<Vec<u8>>,
    /// The PMT's PID, from the last PAT.
    pmt_pid: Option<u16>,
    /// The video stream, from the last PMT (`Some(None)`: a program without video).
    video: Option<Option<Video>>,
    /// Random access points dropped for the cap.
    pub(crate) overflows: u64,
}

impl GopStore {
    /// A store of at most `cap` bytes (0: none).
    pub(crate) fn new(cap: usize) -> Self {
        GopStore {
            cap,
            ..GopStore::default()
        }
    }

    /// True if the store keeps anything (a cap above 0).
    pub(crate) fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// Takes the next played datagram, `seq`, from `src`, whose TS payload is `ts`.
    pub(crate) fn push(&mut self, seq: SeqNo, src: SocketAddr, datagram: &[u8], ts: &[u8]) {
        if self.cap == 0 {
            return;
        }
        let random_access = self.scan(seq, ts);
        if self.skipping {
            if !random_access {
                return; // a GOP too long for the cap: nothing to copy until the next one
            }
            self.skipping = false;
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(datagram);
        self.bytes += bytes.len();
        self.held.push_back(Held { seq, src, bytes });
        if random_access {
            let from = match self.tables_at {
                (Some(pat), Some(pmt)) => pat.min(pmt).min(seq),
                _ => seq,
            };
            while self.held.front().is_some_and(|h| h.seq < from) {
                self.pop();
            }
            // Offered only with the tables before the keyframe (not after a skipped GOP).
            self.complete = self.held.front().is_some_and(|h| h.seq <= from)
                && self.tables_at.0.is_some()
                && self.tables_at.1.is_some();
        }
        if self.bytes > self.cap {
            self.overflows += 1;
            self.complete = false;
            self.skipping = true;
            while !self.held.is_empty() {
                self.pop();
            }
        }
    }

    /// Drops the oldest datagram.
    fn pop(&mut self) {
        if let Some(h) = self.held.pop_front() {
            self.bytes -= h.bytes.len();
            if self.spare.len() < 1024 {
                self.spare.push(h.bytes);
            }
        }
    }

    /// Forgets everything (the source restarted).
    pub(crate) fn clear(&mut self) {
        while !self.held.is_empty() {
            self.pop();
        }
        (self.complete, self.skipping) = (false, false);
        (self.pmt_pid, self.video, self.tables_at) = (None, None, (None, None));
    }

    /// The numbers of the first datagram a player can start from (the tables before the last
    /// random access point) and of the last one held.
    pub(crate) fn span(&self) -> Option<(SeqNo, SeqNo)> {
        if !self.complete {
            return None;
        }
        Some((self.held.front()?.seq, self.held.back()?.seq))
    }

    /// The datagram numbered `seq` and where it came from, if held.
    pub(crate) fn get(&self, seq: SeqNo) -> Option<(&[u8], SocketAddr)> {
        let first = self.held.front()?.seq;
        let at = usize::try_from(seq.0.checked_sub(first.0)?).ok()?;
        // Holes make entries sparser than numbers: look from where `seq` would be at most.
        let end = at.min(self.held.len().saturating_sub(1));
        let i = self.held.range(..=end).rposition(|h| h.seq <= seq)?;
        let h = &self.held[i];
        (h.seq == seq).then_some((h.bytes.as_slice(), h.src))
    }

    /// Reads the tables in datagram `seq`'s `ts`; true if a video PES starting with a
    /// keyframe begins in it.
    fn scan(&mut self, seq: SeqNo, ts: &[u8]) -> bool {
        let mut found = false;
        for p in ts.chunks_exact(TS_PACKET_LEN) {
            let Ok(pkt) = TsPacket::new_checked(p) else {
                continue;
            };
            let Ok(payload) = pkt.payload() else {
                continue;
            };
            if !pkt.unit_start() {
                continue;
            }
            let pid = pkt.pid();
            if pid == 0 {
                let pmt = rap::parse_pat(payload).ok();
                if pmt.is_some() && pmt != self.pmt_pid {
                    (self.pmt_pid, self.video) = (pmt, None);
                }
                if pmt.is_some() {
                    self.tables_at.0 = Some(seq);
                }
                // A program without video starts anywhere its tables come.
                found |= self.video == Some(None);
            } else if Some(pid) == self.pmt_pid {
                if let Ok(video) = rap::parse_pmt(payload) {
                    self.video = Some(video);
                    self.tables_at.1 = Some(seq);
                }
            } else if let Some(Some(video)) = self.video
                && video.pid == pid
            {
                found |= pkt.random_access() || keyframe(video.stream_type, payload);
            }
        }
        found
    }
}

/// True if a video PES whose payload starts `payload` starts with a keyframe, or (its picture
/// not in this packet) with a sequence header.
fn keyframe(stream_type: StreamType, payload: &[u8]) -> bool {
    let es = rap::pes_payload(payload).unwrap_or_default();
    match rap::scan_keyframe(stream_type, es) {
        Access::Key => true,
        Access::NotKey => false,
        Access::Unknown => {
            let mut codes = es.windows(4).filter(|w| w[..3] == [0, 0, 1]).map(|w| w[3]);
            match stream_type {
                StreamType::H264 => codes.any(|c| c & 0x1f == 7),
                StreamType::Hevc => codes.any(|c| (c >> 1) & 0x3f == 33),
                StreamType::Mpeg2 => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TS packet on `pid`, unit start, with `payload` (padded with 0xff).
    fn ts(pid: u16, rai: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10];
        if rai {
            p[3] = 0x30;
            p.extend_from_slice(&[1, 0x40]);
        }
        p.extend_from_slice(payload);
        p.resize(TS_PACKET_LEN, 0xff);
        p
    }

    fn tables() -> Vec<u8> {
        // PAT: program 1 on PMT PID 0x100; PMT: H.264 (0x1b) on PID 0x101.
        let pat = [0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe1, 0, 0, 0, 0, 0];
        let pmt = [
            0, 2, 0xb0, 18, 0, 1, 0xc1, 0, 0, 0xe1, 1, 0xf0, 0, 0x1b, 0xe1, 1, 0xf0, 0, 0, 0, 0, 0,
        ];
        [ts(0, false, &pat), ts(0x100, false, &pmt)].concat()
    }

    fn pes(nal: u8) -> Vec<u8> {
        vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, nal]
    }

    fn addr() -> SocketAddr {
        "10.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn keeps_the_stream_from_the_tables_before_the_last_keyframe_within_its_cap() {
        let mut g = GopStore::new(12 * TS_PACKET_LEN);
        let src = addr();
        let p = ts(0x101, false, &pes(0x41));
        g.push(SeqNo(1), src, &p, &p);
        assert_eq!(g.span(), None, "no random access point yet");
        let t = tables();
        g.push(SeqNo(2), src, &t, &t);
        let idr = ts(0x101, false, &pes(0x65));
        g.push(SeqNo(3), src, &idr, &idr);
        g.push(SeqNo(4), src, &p, &p);
        g.push(SeqNo(6), src, &p, &p);
        assert_eq!(g.span(), Some((SeqNo(2), SeqNo(6))), "from the tables");
        assert_eq!(g.get(SeqNo(4)).map(|(b, _)| b.len()), Some(p.len()));
        assert!(g.get(SeqNo(5)).is_none() && g.get(SeqNo(1)).is_none());
        let key = ts(0x101, true, &pes(0x41));
        g.push(SeqNo(7), src, &t, &t);
        g.push(SeqNo(8), src, &key, &key);
        assert_eq!(
            g.span(),
            Some((SeqNo(7), SeqNo(8))),
            "the random_access_indicator"
        );
        for s in 9..30 {
            g.push(SeqNo(s), src, &p, &p);
        }
        assert_eq!(
            (g.span(), g.overflows),
            (None, 1),
            "a GOP over the cap is not offered"
        );
        g.clear();
        g.push(SeqNo(40), src, &idr, &idr);
        assert_eq!(g.span(), None, "tables forgotten with the stream");
        g.push(SeqNo(41), src, &t, &t);
        g.push(SeqNo(42), src, &idr, &idr);
        assert_eq!(g.span(), Some((SeqNo(41), SeqNo(42))));
    }

    #[test]
    fn after_a_gop_too_long_for_the_cap_nothing_is_copied_until_a_whole_one_fits() {
        let mut g = GopStore::new(6 * TS_PACKET_LEN);
        let (src, t) = (addr(), tables());
        let (idr, p) = (ts(0x101, false, &pes(0x65)), ts(0x101, false, &pes(0x41)));
        g.push(SeqNo(1), src, &t, &t);
        g.push(SeqNo(2), src, &idr, &idr);
        for s in 3..10 {
            g.push(SeqNo(s), src, &p, &p);
        }
        assert_eq!(
            (g.span(), g.overflows, g.bytes),
            (None, 1, 0),
            "dropped, not churned"
        );
        g.push(SeqNo(10), src, &t, &t);
        assert_eq!(g.bytes, 0, "skipping until a keyframe");
        g.push(SeqNo(11), src, &idr, &idr);
        assert_eq!(g.span(), None, "its tables were not kept");
        g.push(SeqNo(12), src, &t, &t);
        g.push(SeqNo(13), src, &idr, &idr);
        assert_eq!(g.span(), Some((SeqNo(12), SeqNo(13))));
    }

    #[test]
    fn a_sequence_header_before_an_unseen_picture_starts_a_gop() {
        let mut g = GopStore::new(1 << 20);
        let sps = [tables(), ts(0x101, false, &pes(0x67))].concat();
        g.push(SeqNo(9), addr(), &sps, &sps);
        assert_eq!(g.span(), Some((SeqNo(9), SeqNo(9))));
        assert!(GopStore::new(0).span().is_none());
    }
}
