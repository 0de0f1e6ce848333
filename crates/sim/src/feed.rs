//! The source side of a window: the packets sent within it and their fate on each metro's
//! trunk, and the streams (SSRCs) sent so far.

use crate::model::LossState;
use crate::scenario::Scenario;
use crate::source;
use groupcast_core::Time;
use groupcast_wire::Ssrc;
use rand::RngExt;
use rand::rngs::SmallRng;
use std::net::SocketAddr;
use std::rc::Rc;

/// Where the source's datagrams come from.
pub(crate) const SOURCE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);

/// A packet the source sends within the current window.
pub(crate) struct Sent {
    /// Its index in send order.
    pub(crate) n: u64,
    /// When it leaves the source.
    pub(crate) at: Time,
    /// The datagram.
    pub(crate) data: Rc<[u8]>,
}

/// The source and the metro trunks.
pub(crate) struct Feed {
    /// SSRCs used so far, and the current stream's (ssrc, first seq, packets sent).
    pub(crate) sent: Vec<(Ssrc, u16, u64)>,
    /// Just the SSRCs, for checking output.
    pub(crate) streams: Vec<Ssrc>,
    /// Each metro trunk's loss state.
    pub(crate) metro_loss: Vec<LossState>,
    /// The packets of the current window.
    pub(crate) window: Vec<Sent>,
    /// Per window packet and metro: lost on that metro's trunk.
    pub(crate) trunk: Vec<bool>,
    /// Builds the source's datagrams.
    buf: Vec<u8>,
}

impl Feed {
    /// The first stream's SSRC comes from `rng`.
    pub(crate) fn new(s: &Scenario, rng: &mut SmallRng) -> Feed {
        let ssrc = Ssrc(rng.random());
        Feed {
            sent: vec![(ssrc, s.first_seq, 0)],
            streams: vec![ssrc],
            metro_loss: (0..s.metros.max(1))
                .map(|_| LossState::new(s.metro_loss))
                .collect(),
            window: Vec::new(),
            trunk: Vec::new(),
            buf: vec![0u8; 2048],
        }
    }

    /// Starts a new window.
    pub(crate) fn clear(&mut self) {
        self.window.clear();
        self.trunk.clear();
    }

    /// Whether the window's packet `j` is lost on `metro`'s trunk.
    pub(crate) fn trunk_lost(&self, j: usize, metro: usize) -> bool {
        self.trunk[j * self.metro_loss.len() + metro]
    }

    /// The source sends packet `n`: its datagram, and whether each metro's trunk loses it.
    pub(crate) fn send(&mut self, s: &Scenario, at: Time, n: u64, rng: &mut SmallRng) {
        if s.restart_at == Some(n) {
            let ssrc = Ssrc(rng.random());
            self.sent.push((ssrc, rng.random(), 0));
            self.streams.push(ssrc);
        }
        let Some(stream) = self.sent.last_mut() else {
            return;
        };
        let seq = stream.1.wrapping_add(stream.2 as u16);
        stream.2 += 1;
        let (ssrc, ts) = (stream.0, (n * 90_000 / u64::from(s.pps)) as u32);
        let len = source::datagram(ssrc, seq, ts, s.ts_per_datagram, &mut self.buf);
        let data: Rc<[u8]> = Rc::from(&self.buf[..len]);
        for m in 0..self.metro_loss.len() {
            let lost = self.metro_loss[m].lose(rng);
            self.trunk.push(lost || s.metro_cut(m, n));
        }
        self.window.push(Sent { n, at, data });
    }
}
