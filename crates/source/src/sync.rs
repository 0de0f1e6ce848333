//! Finds 188-byte TS packet boundaries in a byte stream (a file, or UDP payloads).

use groupcast_wire::ts::{TS_PACKET_LEN, TS_SYNC};

/// Turns arbitrary byte chunks into aligned TS packets, skipping (and counting) garbage.
///
/// A position is accepted as a packet start when it and the next two packet starts carry the
/// sync byte (or the data ends first), so a stray 0x47 in payload does not derail it.
#[derive(Debug, Default)]
pub struct TsSync {
    /// Bytes not yet consumed.
    buf: Vec<u8>,
    /// Bytes skipped while searching for sync.
    skipped: u64,
}

impl TsSync {
    /// An aligner that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes skipped so far because they were not part of an aligned packet.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Adds bytes and calls `each` for every whole packet now available.
    pub fn push(&mut self, bytes: &[u8], mut each: impl FnMut(&[u8; TS_PACKET_LEN])) {
        // Fast path: a datagram of whole, aligned packets (the usual live input).
        let whole = !bytes.is_empty() && bytes.len().is_multiple_of(TS_PACKET_LEN);
        if self.buf.is_empty()
            && whole
            && bytes.chunks_exact(TS_PACKET_LEN).all(|p| p[0] == TS_SYNC)
        {
            bytes
                .chunks_exact(TS_PACKET_LEN)
                .filter_map(|p| p.try_into().ok())
                .for_each(&mut each);
            return;
        }
        self.buf.extend_from_slice(bytes);
        self.drain(false, each);
    }

    /// Emits what can be emitted; without `at_end`, keeps two packets of look-ahead.
    fn drain(&mut self, at_end: bool, mut each: impl FnMut(&[u8; TS_PACKET_LEN])) {
        let mut at = 0;
        loop {
            let left = self.buf.len() - at;
            if left < TS_PACKET_LEN || (!at_end && left < 3 * TS_PACKET_LEN) {
                break;
            }
            let starts = (0..3).all(|k| {
                self.buf
                    .get(at + k * TS_PACKET_LEN)
                    .is_none_or(|&b| b == TS_SYNC)
            });
            match self.buf[at..at + TS_PACKET_LEN].try_into() {
                Ok(pkt) if starts => {
                    each(pkt);
                    at += TS_PACKET_LEN;
                }
                _ => {
                    at += 1;
                    self.skipped += 1;
                }
            }
        }
        self.buf.drain(..at);
    }

    /// Emits the packets still held (end of input) and drops any partial one.
    pub fn finish(&mut self, each: impl FnMut(&[u8; TS_PACKET_LEN])) {
        self.drain(true, each);
        self.skipped += self.buf.len() as u64;
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let mut p = [i as u8; TS_PACKET_LEN];
                p[0] = TS_SYNC;
                p
            })
            .collect()
    }

    #[test]
    fn aligns_after_garbage_and_across_chunks() {
        let mut data = vec![1, 2, TS_SYNC, 9];
        data.extend(packets(10));
        let mut sync = TsSync::new();
        let mut got = Vec::new();
        for chunk in data.chunks(100) {
            sync.push(chunk, |p| got.push(p[1]));
        }
        sync.finish(|p| got.push(p[1]));
        assert_eq!(got.len(), 10);
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        assert_eq!(sync.skipped(), 4);
    }

    #[test]
    fn whole_datagrams_pass_straight_through() {
        let mut sync = TsSync::new();
        let mut n = 0;
        sync.push(&packets(7), |_| n += 1);
        assert_eq!(n, 7, "no look-ahead wait for aligned datagrams");
    }
}
