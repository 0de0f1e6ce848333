//! A TS file played out in real time: timed by the [`Pacer`] (PCR or fixed bitrate), each
//! datagram released when its stream time comes due against the pacing origin.

use super::Ready;
use crate::pacer::{PaceError, Pacer};
use crate::sync::TsSync;
use groupcast_base::Time;
use std::time::Duration;

/// Ticks of the 27 MHz stream clock per microsecond.
const TICKS_PER_MICRO: u64 = 27;

/// The file side of the source's input.
#[derive(Debug)]
pub(crate) struct FileInput {
    /// Finds packet boundaries in the chunks read.
    sync: TsSync,
    /// Times the packets and groups them into datagrams.
    pacer: Pacer,
    /// Wait for each datagram's time; without it, send as fast as possible (benchmarks).
    paced: bool,
    /// Start again at the end, with continuous stream time.
    looped: bool,
    /// The pacing origin: when the first datagram was ready, and its stream time.
    origin: Option<(Time, u64)>,
    /// Stream time of the datagram in `next`, if one is waiting.
    next_at: Option<u64>,
    /// The next datagram, taken from the pacer ahead of its time.
    next: Vec<u8>,
    /// The end of a file that is not looped has been read.
    ended: bool,
    /// Times the input started over.
    loops: u64,
}

impl FileInput {
    /// A file timed by `pacer`; `paced` waits for each datagram's time; `looped` plays on.
    pub(crate) fn new(pacer: Pacer, paced: bool, looped: bool) -> Self {
        FileInput {
            sync: TsSync::new(),
            pacer,
            paced,
            looped,
            origin: None,
            next_at: None,
            next: Vec::new(),
            ended: false,
            loops: 0,
        }
    }

    /// True while the next datagram needs more of the file.
    pub(crate) fn wants_data(&self) -> bool {
        !self.ended && self.next_at.is_none()
    }

    /// True once the whole (unlooped) file has been sent.
    pub(crate) fn finished(&self) -> bool {
        self.ended && self.next_at.is_none()
    }

    /// Takes the next chunk of the file.
    pub(crate) fn handle_data(&mut self, now: Time, bytes: &[u8]) -> Result<(), PaceError> {
        let (sync, pacer) = (&mut self.sync, &mut self.pacer);
        let mut err = None;
        sync.push(bytes, |p| err = err.or(pacer.push(*p).err()));
        self.refill(now);
        err.map_or(Ok(()), Err)
    }

    /// Takes the end of the file. Returns true when the driver should open it again (looped).
    pub(crate) fn handle_end(&mut self, now: Time) -> Result<bool, PaceError> {
        let (sync, pacer) = (&mut self.sync, &mut self.pacer);
        let mut err = None;
        sync.finish(|p| err = err.or(pacer.push(*p).err()));
        if let Some(e) = err {
            return Err(e);
        }
        if self.looped {
            self.loops += 1;
            self.pacer.restart_input();
        } else {
            self.pacer.finish();
            self.ended = true;
        }
        self.refill(now);
        Ok(self.looped)
    }

    /// Moves the next datagram into `out` when it is due at `now`.
    pub(crate) fn poll_datagram(&mut self, now: Time, out: &mut Vec<u8>) -> Option<Ready> {
        let at = self.next_at?;
        let due = self.due(at);
        if self.paced && now < due {
            return None;
        }
        std::mem::swap(out, &mut self.next);
        self.next_at = None;
        self.refill(now);
        Some(Ready {
            ticks: at,
            late: self.paced.then(|| now.saturating_since(due)),
        })
    }

    /// When the waiting datagram is due; `None` when none is waiting (read more).
    pub(crate) fn poll_timeout(&self) -> Option<Time> {
        let at = self.next_at?;
        Some(if self.paced { self.due(at) } else { Time::ZERO })
    }

    /// Times the input started over.
    pub(crate) fn loops(&self) -> u64 {
        self.loops
    }

    /// Bytes skipped while finding packet boundaries.
    pub(crate) fn bytes_skipped(&self) -> u64 {
        self.sync.skipped()
    }

    /// PCR discontinuities bridged.
    pub(crate) fn discontinuities(&self) -> u64 {
        self.pacer.discontinuities()
    }

    /// Takes the next datagram from the pacer, if it has one; the first sets the origin.
    fn refill(&mut self, now: Time) {
        if self.next_at.is_some() {
            return;
        }
        self.next_at = self.pacer.poll(self.ended, &mut self.next);
        if let Some(at) = self.next_at {
            self.origin.get_or_insert((now, at));
        }
    }

    /// When a datagram of stream time `at` is due.
    fn due(&self, at: u64) -> Time {
        let (t0, a0) = self.origin.unwrap_or((Time::ZERO, at));
        t0 + Duration::from_micros(at.saturating_sub(a0) / TICKS_PER_MICRO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacer::TICKS_PER_SEC;
    use groupcast_wire::ts::TS_PACKET_LEN;

    /// `n` null packets (no PCR).
    fn nulls(n: usize) -> Vec<u8> {
        let mut p = [0xffu8; TS_PACKET_LEN];
        p[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
        p.repeat(n)
    }

    /// 14 packets at 1 Mbit/s: one datagram every 7 x 188 x 8 / 1e6 s = 10,528 us.
    fn by_bitrate(paced: bool, looped: bool) -> FileInput {
        FileInput::new(Pacer::by_bitrate(1_000_000), paced, looped)
    }

    const STEP_US: u64 = 10_528;

    #[test]
    fn datagrams_come_due_by_stream_time_from_the_origin() {
        let mut f = by_bitrate(true, false);
        assert!(f.wants_data());
        let t0 = Time::from_millis(100);
        f.handle_data(t0, &nulls(14)).unwrap();
        assert!(!f.wants_data(), "one datagram waits");
        let mut out = Vec::new();
        let first = f.poll_datagram(t0, &mut out).unwrap();
        assert_eq!((first.ticks, first.late), (0, Some(Duration::ZERO)));
        assert_eq!(out.len(), 7 * TS_PACKET_LEN);
        let due = t0 + Duration::from_micros(STEP_US);
        assert_eq!(f.poll_timeout(), Some(due));
        assert!(
            f.poll_datagram(due - Duration::from_micros(1), &mut out)
                .is_none()
        );
        let late = f
            .poll_datagram(due + Duration::from_micros(40), &mut out)
            .unwrap();
        assert_eq!(late.late, Some(Duration::from_micros(40)));
        assert_eq!(late.ticks, STEP_US * 27, "7 packets' ticks at 1 Mbit/s");
        assert!(f.wants_data() && !f.finished());
        assert!(!f.handle_end(due).unwrap(), "not looped: no reopen");
        assert!(f.finished());
    }

    #[test]
    fn the_end_flushes_a_partial_datagram() {
        let mut f = by_bitrate(false, false);
        f.handle_data(Time::ZERO, &nulls(10)).unwrap();
        let mut out = Vec::new();
        assert!(f.poll_datagram(Time::ZERO, &mut out).is_some());
        assert!(f.poll_datagram(Time::ZERO, &mut out).is_none());
        f.handle_end(Time::ZERO).unwrap();
        let last = f.poll_datagram(Time::ZERO, &mut out).unwrap();
        assert_eq!((out.len(), last.late), (3 * TS_PACKET_LEN, None));
        assert!(f.finished());
    }

    #[test]
    fn unpaced_sends_at_once_and_a_loop_continues_time() {
        let mut f = by_bitrate(false, true);
        let mut out = Vec::new();
        let mut ticks = Vec::new();
        for pass in 0..3 {
            f.handle_data(Time::ZERO, &nulls(7)).unwrap();
            assert_eq!(f.poll_timeout(), Some(Time::ZERO));
            ticks.push(f.poll_datagram(Time::ZERO, &mut out).unwrap().ticks);
            assert!(f.handle_end(Time::ZERO).unwrap(), "looped: reopen");
            assert_eq!(f.loops(), pass + 1);
        }
        assert!(ticks.windows(2).all(|w| w[1] > w[0]), "{ticks:?}");
        assert!(!f.finished());
    }

    #[test]
    fn a_file_without_pcr_is_refused() {
        let mut f = FileInput::new(Pacer::by_pcr(20), true, false);
        assert!(f.handle_data(Time::ZERO, &nulls(10)).is_ok());
        assert_eq!(
            f.handle_data(Time::ZERO, &nulls(30)),
            Err(PaceError::NoPcr(20))
        );
        assert_eq!(TICKS_PER_SEC / 1_000_000, TICKS_PER_MICRO);
    }

    #[test]
    fn garbage_is_skipped_and_counted() {
        let mut f = by_bitrate(true, false);
        let mut bytes = b"junk".to_vec();
        bytes.extend(nulls(7));
        f.handle_data(Time::ZERO, &bytes).unwrap();
        f.handle_end(Time::ZERO).unwrap();
        assert_eq!(f.bytes_skipped(), 4);
        assert_eq!(f.discontinuities(), 0);
    }
}
