//! The source's input as a state machine: what to send and when, from a file paced by its
//! clock or from live UDP/RTP input.
//!
//! The driver reads the file or the input socket and passes the bytes in with the time;
//! it sends what [`SourceInput::poll_datagram`] gives, and sleeps until
//! [`SourceInput::poll_timeout`] (or until input arrives). The machine decides everything
//! else: the pacing origin and each datagram's due time (file), the regrouping into 7-packet
//! datagrams, the partial flush after [`FLUSH_AFTER`] and the stall after [`STALL_AFTER`]
//! (live).
//!
//! ```
//! # use groupcast_source::{Pacer, SourceInput};
//! # use groupcast_base::Time;
//! let mut input = SourceInput::file(Pacer::by_bitrate(1_000_000), true, false);
//! let mut out = Vec::new();
//! let now = Time::ZERO;
//! while input.wants_data() {
//!     // a real driver reads the next chunk of the file here
//!     let chunk = [0u8; 0];
//!     if chunk.is_empty() {
//!         input.handle_end(now)?;
//!     }
//! }
//! while let Some(d) = input.poll_datagram(now, &mut out) {
//!     // stamp and send `out`, timed `d.ticks`
//! }
//! // sleep until input.poll_timeout(), then input.handle_timeout(now)
//! assert!(input.finished());
//! # Ok::<(), groupcast_source::PaceError>(())
//! ```

mod file;
mod live;

use crate::pacer::{PaceError, Pacer};
use file::FileInput;
use groupcast_base::Time;
use live::LiveInput;
pub use live::{FLUSH_AFTER, STALL_AFTER};
use std::time::Duration;

/// A datagram's worth of TS, ready to stamp and send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Stream time of its first packet, in 27 MHz ticks.
    pub ticks: u64,
    /// How late it is against its due time (paced file input only).
    pub late: Option<Duration>,
}

/// Something the driver should log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputEvent {
    /// No input for [`STALL_AFTER`]; waiting for it.
    Stalled,
    /// Input arrived again after a stall.
    Resumed,
}

/// What the input counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Bytes skipped while finding TS packet boundaries.
    pub bytes_skipped: u64,
    /// Live RTP datagrams that did not parse.
    pub bad_input: u64,
    /// Live input stalls.
    pub input_stalls: u64,
    /// Times a looped file started over.
    pub loops: u64,
    /// PCR discontinuities bridged (file input).
    pub pcr_discontinuities: u64,
}

/// The source's input state machine.
#[derive(Debug)]
pub struct SourceInput {
    /// File or live.
    kind: Kind,
}

/// The two kinds of input.
#[derive(Debug)]
enum Kind {
    /// A file, paced.
    File(FileInput),
    /// Live UDP or RTP.
    Live(LiveInput),
}

impl SourceInput {
    /// A file timed by `pacer`: `paced` waits for each datagram's time (else as fast as
    /// possible), `looped` starts it again at its end with continuous time.
    pub fn file(pacer: Pacer, paced: bool, looped: bool) -> Self {
        SourceInput {
            kind: Kind::File(FileInput::new(pacer, paced, looped)),
        }
    }

    /// Live input starting at `now`: raw TS datagrams, or RTP-wrapped TS if `rtp`.
    pub fn live(now: Time, rtp: bool) -> Self {
        SourceInput {
            kind: Kind::Live(LiveInput::new(now, rtp)),
        }
    }

    /// True while the driver should read more of the file (never for live input).
    pub fn wants_data(&self) -> bool {
        matches!(&self.kind, Kind::File(f) if f.wants_data())
    }

    /// True once an unlooped file has been sent to its end (never for live input).
    pub fn finished(&self) -> bool {
        matches!(&self.kind, Kind::File(f) if f.finished())
    }

    /// Takes the next chunk of the file, or one live datagram.
    pub fn handle_data(&mut self, now: Time, bytes: &[u8]) -> Result<(), PaceError> {
        match &mut self.kind {
            Kind::File(f) => f.handle_data(now, bytes),
            Kind::Live(l) => {
                l.handle_data(now, bytes);
                Ok(())
            }
        }
    }

    /// Takes the end of the file; true when the driver should open it again (looped).
    pub fn handle_end(&mut self, now: Time) -> Result<bool, PaceError> {
        match &mut self.kind {
            Kind::File(f) => f.handle_end(now),
            Kind::Live(_) => Ok(false),
        }
    }

    /// Runs timers (live input: partial flush, stall).
    pub fn handle_timeout(&mut self, now: Time) {
        if let Kind::Live(l) = &mut self.kind {
            l.handle_timeout(now);
        }
    }

    /// The next time there is work: a datagram comes due or a live timer runs out. `None`
    /// when only input can move it on.
    pub fn poll_timeout(&self) -> Option<Time> {
        match &self.kind {
            Kind::File(f) => f.poll_timeout(),
            Kind::Live(l) => l.poll_timeout(),
        }
    }

    /// Moves the next datagram due at `now` into `out` (replacing its contents).
    pub fn poll_datagram(&mut self, now: Time, out: &mut Vec<u8>) -> Option<Ready> {
        match &mut self.kind {
            Kind::File(f) => f.poll_datagram(now, out),
            Kind::Live(l) => l.poll_datagram(out),
        }
    }

    /// The next stall or resumption to log.
    pub fn poll_event(&mut self) -> Option<InputEvent> {
        match &mut self.kind {
            Kind::File(_) => None,
            Kind::Live(l) => l.poll_event(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> InputStats {
        match &self.kind {
            Kind::File(f) => InputStats {
                bytes_skipped: f.bytes_skipped(),
                loops: f.loops(),
                pcr_discontinuities: f.discontinuities(),
                ..InputStats::default()
            },
            Kind::Live(l) => InputStats {
                bytes_skipped: l.bytes_skipped(),
                bad_input: l.bad(),
                input_stalls: l.stalls(),
                ..InputStats::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupcast_wire::ts::TS_PACKET_LEN;

    /// `n` TS packets (null payload) for the input machines' tests.
    pub(super) fn packets(n: usize) -> Vec<u8> {
        let mut p = [0u8; TS_PACKET_LEN];
        p[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x10]);
        p.repeat(n)
    }

    #[test]
    fn live_input_never_wants_file_data_nor_finishes() {
        let mut input = SourceInput::live(Time::ZERO, false);
        assert!(!input.wants_data() && !input.finished());
        assert_eq!(input.handle_end(Time::ZERO), Ok(false));
        input.handle_data(Time::ZERO, &packets(8)).unwrap();
        let mut out = Vec::new();
        assert!(input.poll_datagram(Time::ZERO, &mut out).is_some());
        input.handle_timeout(Time::from_secs(2));
        assert!(
            input.poll_datagram(Time::ZERO, &mut out).is_some(),
            "flushed"
        );
        assert_eq!(input.poll_event(), Some(InputEvent::Stalled));
        assert_eq!(input.stats().input_stalls, 1);
        assert_eq!(input.poll_timeout(), None);
    }

    #[test]
    fn file_input_counts_loops_and_has_no_events() {
        let mut input = SourceInput::file(Pacer::by_bitrate(1_000_000), true, true);
        input.handle_data(Time::ZERO, &packets(3)).unwrap();
        assert!(input.wants_data());
        assert_eq!(input.handle_end(Time::ZERO), Ok(true));
        assert_eq!(input.stats().loops, 1);
        assert_eq!(input.poll_event(), None);
        input.handle_timeout(Time::from_secs(9));
        assert!(!input.finished());
    }
}
