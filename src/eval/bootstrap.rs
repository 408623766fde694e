//! Seeded percentile bootstrap over samples. Every metric is a statistic of a multiset of
//! sample indices; an interval is the 2.5th and 97.5th percentiles of that statistic over
//! `resamples` draws of n indices with replacement. Draws depend only on the seed, the
//! group's name and n, so a run is reproducible and all metrics of a group share draws.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub const DEFAULT_RESAMPLES: usize = 1000;
pub const DEFAULT_SEED: u64 = 20_260_301;

/// How intervals are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: DEFAULT_RESAMPLES, seed: DEFAULT_SEED }
    }
}

/// A point estimate with its 95% interval; `value` is `None` when no sample applies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: Option<f64>,
    pub ci: Option<[f64; 2]>,
}

/// One sample's contribution to a ratio metric: the metric is Σnum / Σden.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub num: f64,
    pub den: f64,
}

impl Part {
    pub fn new(num: f64, den: f64) -> Part {
        Part { num, den }
    }

    /// A yes/no outcome counted once.
    pub fn flag(yes: bool) -> Part {
        Part { num: if yes { 1.0 } else { 0.0 }, den: 1.0 }
    }
}

/// Σnum / Σden over `idx`, or `None` when nothing applies.
pub fn ratio(parts: &[Option<Part>], idx: &[usize]) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for &i in idx {
        if let Some(Some(p)) = parts.get(i) {
            num += p.num;
            den += p.den;
        }
    }
    (den > 0.0).then(|| num / den)
}

fn stream_seed(seed: u64, stream: &str) -> u64 {
    // FNV-1a: stable across platforms and Rust versions, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ h
}

/// The resampled index sets of one group of n samples.
pub struct Draws {
    all: Vec<usize>,
    sets: Vec<Vec<usize>>,
}

impl Draws {
    pub fn new(n: usize, b: Bootstrap, stream: &str) -> Draws {
        let mut rng = StdRng::seed_from_u64(stream_seed(b.seed, stream));
        let sets = if n == 0 { Vec::new() } else { (0..b.resamples).map(|_| (0..n).map(|_| rng.random_range(0..n)).collect()).collect() };
        Draws { all: (0..n).collect(), sets }
    }

    /// The statistic on all samples, and its interval over the draws.
    pub fn estimate(&self, stat: impl Fn(&[usize]) -> Option<f64>) -> Estimate {
        let value = stat(&self.all);
        if value.is_none() {
            return Estimate { value, ci: None };
        }
        let values: Vec<f64> = self.sets.iter().filter_map(|s| stat(s)).collect();
        Estimate { value, ci: percentile_interval(values) }
    }
}

/// The 2.5th and 97.5th percentiles (nearest rank on the sorted values).
pub fn percentile_interval(mut values: Vec<f64>) -> Option<[f64; 2]> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((values.len() - 1) as f64 * q).round() as usize;
        values[i.min(values.len() - 1)]
    };
    Some([at(0.025), at(0.975)])
}

/// A quantile (0..=1) of values, by linear interpolation; `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(v[lo] + (v[hi] - v[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_intervals_cover_the_estimate() {
        let parts: Vec<Option<Part>> = (0..50).map(|i| Some(Part::flag(i % 3 != 0))).chain([None]).collect();
        let b = Bootstrap::default();
        let e1 = Draws::new(parts.len(), b, "all").estimate(|idx| ratio(&parts, idx));
        let e2 = Draws::new(parts.len(), b, "all").estimate(|idx| ratio(&parts, idx));
        assert_eq!(e1, e2);
        let v = e1.value.unwrap_or(f64::NAN);
        assert!((v - 33.0 / 50.0).abs() < 1e-9);
        let [lo, hi] = e1.ci.unwrap_or([f64::NAN, f64::NAN]);
        assert!(lo < v && v < hi && hi - lo < 0.4, "{lo} {v} {hi}");
        let other = Draws::new(parts.len(), b, "tag:x").estimate(|idx| ratio(&parts, idx));
        assert_ne!(other.ci, e1.ci);
    }

    #[test]
    fn nothing_applicable_has_no_value() {
        let parts: Vec<Option<Part>> = vec![None, None];
        let e = Draws::new(2, Bootstrap::default(), "x").estimate(|idx| ratio(&parts, idx));
        assert_eq!(e.value, None);
        assert_eq!(e.ci, None);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
    }
}
