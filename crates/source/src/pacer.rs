//! Times TS packets by their program clock reference, so a file plays out at the rate it was
//! muxed for, and groups them into datagrams of 7 packets.
//!
//! Packets between two PCRs are spaced evenly by position (ISO/IEC 13818-1 §2.4.2.2: the
//! PCR is the time the byte arrives at the decoder). Stream time is a 64-bit count of 27 MHz
//! ticks that never goes backwards: PCR wraps, discontinuities and file loops continue it at
//! the last measured rate instead of jumping.

use groupcast_wire::ts::{TS_PACKET_LEN, TS_PER_DATAGRAM, TsPacket};
use std::collections::VecDeque;

/// Ticks of the 27 MHz system clock per second.
pub const TICKS_PER_SEC: u64 = 27_000_000;
/// The PCR wraps at 2^33 x 300 ticks (about 26.5 hours).
const PCR_WRAP: u64 = (1 << 33) * 300;
/// A PCR step further than this from the packet-rate prediction is a discontinuity.
const DISCONTINUITY: u64 = TICKS_PER_SEC / 2;

/// A TS packet.
pub type TsBytes = [u8; TS_PACKET_LEN];

/// Why input cannot be paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaceError {
    /// No PCR within this many packets: the stream has no clock to follow.
    NoPcr(usize),
}

impl core::fmt::Display for PaceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PaceError::NoPcr(n) => write!(
                f,
                "no PCR in the first {n} TS packets; give a bitrate to pace by"
            ),
        }
    }
}

impl std::error::Error for PaceError {}

/// How time is given to packets.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Follow the PCR.
    Pcr,
    /// A fixed bitrate: this many ticks per packet.
    Bitrate(f64),
}

/// The pacer.
#[derive(Debug)]
pub struct Pacer {
    /// PCR or fixed rate.
    mode: Mode,
    /// The PID whose PCR is followed (the first PID seen carrying one).
    pcr_pid: Option<u16>,
    /// Packets waiting for the next PCR to be timed.
    pending: VecDeque<TsBytes>,
    /// Timed packets waiting to be grouped.
    timed: VecDeque<(u64, TsBytes)>,
    /// Packets pushed so far.
    index: u64,
    /// Last PCR: stream time, packet index, raw PCR value.
    last: Option<(u64, u64, u64)>,
    /// Measured ticks per packet.
    ticks_per_packet: f64,
    /// The next PCR continues stream time instead of following its value (after a loop).
    force_discontinuity: bool,
    /// Most packets held before the first PCR.
    max_pending: usize,
    /// Discontinuities bridged so far.
    discontinuities: u64,
}

impl Pacer {
    /// A pacer that follows the PCR; gives up with [`PaceError::NoPcr`] if none appears within
    /// `max_pending` packets.
    pub fn by_pcr(max_pending: usize) -> Self {
        Pacer {
            mode: Mode::Pcr,
            pcr_pid: None,
            pending: VecDeque::new(),
            timed: VecDeque::new(),
            index: 0,
            last: None,
            ticks_per_packet: 0.0,
            force_discontinuity: false,
            max_pending,
            discontinuities: 0,
        }
    }

    /// A pacer at a fixed `bits_per_second`, for streams without PCR.
    pub fn by_bitrate(bits_per_second: u64) -> Self {
        let tpp = (TS_PACKET_LEN * 8) as f64 * TICKS_PER_SEC as f64 / bits_per_second.max(1) as f64;
        Pacer {
            mode: Mode::Bitrate(tpp),
            ticks_per_packet: tpp,
            ..Pacer::by_pcr(0)
        }
    }

    /// PCR discontinuities (jumps, loops) bridged so far.
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }

    /// Takes the next packet of the input.
    pub fn push(&mut self, mut pkt: TsBytes) -> Result<(), PaceError> {
        let index = self.index;
        self.index += 1;
        if let Mode::Bitrate(tpp) = self.mode {
            self.timed.push_back(((index as f64 * tpp) as u64, pkt));
            return Ok(());
        }
        let Some(raw) = self.pcr_of(&pkt) else {
            self.pending.push_back(pkt);
            if self.last.is_none() && self.pending.len() > self.max_pending {
                return Err(PaceError::NoPcr(self.max_pending));
            }
            return Ok(());
        };
        let t = self.stream_time(raw, index);
        if t.1 {
            set_discontinuity_indicator(&mut pkt);
        }
        self.time_pending(t.0, index);
        self.timed.push_back((t.0, pkt));
        self.last = Some((t.0, index, raw));
        Ok(())
    }

    /// The PCR of `pkt`, if it carries the followed one.
    fn pcr_of(&mut self, pkt: &TsBytes) -> Option<u64> {
        let p = TsPacket::new_checked(pkt).ok()?;
        let pcr = p.pcr()?;
        (*self.pcr_pid.get_or_insert(p.pid()) == p.pid()).then_some(pcr)
    }

    /// Stream time for a PCR `raw` at packet `index`, and whether it was a discontinuity.
    fn stream_time(&mut self, raw: u64, index: u64) -> (u64, bool) {
        let Some((lt, li, lraw)) = self.last else {
            return (raw, false);
        };
        let predicted = ((index - li) as f64 * self.ticks_per_packet) as u64;
        let step = (raw + PCR_WRAP - lraw) % PCR_WRAP;
        let known_rate = self.ticks_per_packet > 0.0;
        let jump = step.abs_diff(predicted) > DISCONTINUITY && (known_rate || step > DISCONTINUITY);
        if std::mem::take(&mut self.force_discontinuity) || jump {
            self.discontinuities += 1;
            (lt + predicted.max(1), true)
        } else {
            if index > li {
                self.ticks_per_packet = step as f64 / (index - li) as f64;
            }
            (lt + step, false)
        }
    }

    /// Spreads the packets waiting since the last PCR evenly up to time `t` at `index`.
    fn time_pending(&mut self, t: u64, index: u64) {
        let (lt, li) = self.last.map_or((t, index), |(lt, li, _)| (lt, li));
        let span = (index - li).max(1) as f64;
        for (k, pkt) in self.pending.drain(..).enumerate() {
            let at = lt + ((t - lt) as f64 * (k + 1) as f64 / span) as u64;
            self.timed.push_back((at.min(t), pkt));
        }
    }

    /// Times what is still waiting at the last measured rate (end of input).
    pub fn finish(&mut self) {
        let (lt, _) = self.last.map_or((0, 0), |(lt, li, _)| (lt, li));
        let tpp = self.ticks_per_packet;
        for (k, pkt) in self.pending.drain(..).enumerate() {
            self.timed
                .push_back((lt + (tpp * (k + 1) as f64) as u64, pkt));
        }
    }

    /// The input starts over (a looped file): time continues at the measured rate, and the
    /// next PCR is flagged with the discontinuity indicator.
    pub fn restart_input(&mut self) {
        let pending = self.pending.len() as u64;
        self.finish();
        if let Some((lt, li, lraw)) = self.last {
            let tpp = self.ticks_per_packet;
            self.last = Some((lt + (tpp * pending as f64) as u64, li + pending, lraw));
            self.force_discontinuity = true;
        }
    }

    /// Moves the next datagram's worth of packets (7, or fewer when `flush`) into `out`
    /// (cleared first); returns the stream time (27 MHz ticks) of the first.
    pub fn poll(&mut self, flush: bool, out: &mut Vec<u8>) -> Option<u64> {
        let n = self.timed.len().min(TS_PER_DATAGRAM);
        if n == 0 || (n < TS_PER_DATAGRAM && !flush) {
            return None;
        }
        let at = self.timed.front()?.0;
        out.clear();
        for (_, p) in self.timed.drain(..n) {
            out.extend_from_slice(&p);
        }
        Some(at)
    }
}

/// Sets the discontinuity indicator of a packet with an adaptation field.
fn set_discontinuity_indicator(pkt: &mut TsBytes) {
    if pkt[3] & 0x20 != 0 && pkt[4] > 0 {
        pkt[5] |= 0x80;
    }
}

#[cfg(test)]
mod tests;
