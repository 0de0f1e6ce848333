//! What the commands report: statistics written as JSON, and running spreads of a quantity.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;

/// Writes `stats` to `path` as pretty JSON (atomically: a temporary file, then a rename).
pub(crate) fn write_json(path: &Path, stats: &impl Serialize) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(stats)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// Running minimum, mean and maximum of a quantity (pacing error, say), in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Spread {
    /// Samples taken.
    pub(crate) count: u64,
    /// Sum of samples.
    #[serde(skip)]
    sum: i64,
    /// Mean.
    pub(crate) mean_us: f64,
    /// Largest.
    pub(crate) max_us: i64,
}

impl Spread {
    /// Adds a sample.
    pub(crate) fn add(&mut self, us: i64) {
        self.count += 1;
        self.sum += us;
        self.mean_us = self.sum as f64 / self.count as f64;
        self.max_us = if self.count == 1 {
            us
        } else {
            self.max_us.max(us)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_keeps_mean_and_max() {
        let mut s = Spread::default();
        s.add(-5);
        assert_eq!((s.count, s.max_us), (1, -5));
        s.add(15);
        s.add(2);
        assert_eq!((s.count, s.max_us), (3, 15));
        assert!((s.mean_us - 4.0).abs() < 1e-9, "{}", s.mean_us);
    }
}
