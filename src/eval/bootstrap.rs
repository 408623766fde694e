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

/// One sample of a ranking: its score (predicted severity rank, 0..=4) and whether gold
/// calls it positive (a true positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranked {
    pub score: u8,
    pub positive: bool,
}

/// Area under the ROC curve over `idx`: the probability that a positive outscores a
/// negative, ties counting one half (the Mann–Whitney statistic). `None` unless both
/// classes are present. Scores are severity ranks, so counting per level is exact and
/// linear; a resample that repeats a sample counts it as often as it was drawn.
pub fn auc(points: &[Option<Ranked>], idx: &[usize]) -> Option<f64> {
    let mut pos = [0.0f64; 256];
    let mut neg = [0.0f64; 256];
    for &i in idx {
        if let Some(Some(p)) = points.get(i) {
            if p.positive {
                pos[usize::from(p.score)] += 1.0;
            } else {
                neg[usize::from(p.score)] += 1.0;
            }
        }
    }
    let (np, nn): (f64, f64) = (pos.iter().sum(), neg.iter().sum());
    if np == 0.0 || nn == 0.0 {
        return None;
    }
    // For each score level: positives there beat every negative below and tie the ones at it.
    let (mut wins, mut below) = (0.0, 0.0);
    for level in 0..256 {
        wins += pos[level] * (below + 0.5 * neg[level]);
        below += neg[level];
    }
    Some(wins / (np * nn))
}

/// One sample of a two-class verdict: gold says positive, and whether the prediction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub gold_positive: bool,
    pub predicted_positive: bool,
}

/// Balanced accuracy over `idx`: the mean of the recall on positives and the recall on
/// negatives. `None` unless both classes are present, since a one-class set says nothing
/// about telling them apart.
pub fn balanced_accuracy(points: &[Option<Verdict>], idx: &[usize]) -> Option<f64> {
    let (mut tp, mut p, mut tn, mut n) = (0.0, 0.0, 0.0, 0.0);
    for &i in idx {
        if let Some(Some(v)) = points.get(i) {
            if v.gold_positive {
                p += 1.0;
                tp += f64::from(u8::from(v.predicted_positive));
            } else {
                n += 1.0;
                tn += f64::from(u8::from(!v.predicted_positive));
            }
        }
    }
    (p > 0.0 && n > 0.0).then(|| (tp / p + tn / n) / 2.0)
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

    fn ranked(score: u8, positive: bool) -> Option<Ranked> {
        Some(Ranked { score, positive })
    }

    #[test]
    fn auc_counts_pairs_and_halves_ties() {
        // Positives at 3, 3, 1; negatives at 1, 0. Pairs (pos, neg): (3,1) (3,0) (3,1) (3,0)
        // win, (1,1) ties, (1,0) wins: 5.5 of 6.
        let pts = vec![ranked(3, true), ranked(1, false), ranked(3, true), None, ranked(1, true), ranked(0, false)];
        let all: Vec<usize> = (0..pts.len()).collect();
        assert_eq!(auc(&pts, &all), Some(5.5 / 6.0));
        // A constant score ties every pair.
        let flat = vec![ranked(3, true), ranked(3, false), ranked(3, false)];
        assert_eq!(auc(&flat, &[0, 1, 2]), Some(0.5));
        // Reversed ranking scores 0; one class alone has no AUC.
        let reversed = vec![ranked(0, true), ranked(4, false)];
        assert_eq!(auc(&reversed, &[0, 1]), Some(0.0));
        assert_eq!(auc(&reversed, &[0, 0]), None);
        // A resample that draws a sample twice counts it twice: positives {3, 1}, negatives
        // {1, 1}: (3,1) wins twice, (1,1) ties twice, 3 of 4.
        assert_eq!(auc(&pts, &[0, 1, 1, 4]), Some(3.0 / 4.0));
    }

    #[test]
    fn balanced_accuracy_is_one_half_for_a_constant_verdict() {
        let v = |g, p| Some(Verdict { gold_positive: g, predicted_positive: p });
        let constant = vec![v(true, true), v(true, true), v(true, true), v(false, true)];
        assert_eq!(balanced_accuracy(&constant, &[0, 1, 2, 3]), Some(0.5));
        let mixed = vec![v(true, true), v(true, false), v(false, false), v(false, false), None];
        assert_eq!(balanced_accuracy(&mixed, &[0, 1, 2, 3, 4]), Some(0.75));
        assert_eq!(balanced_accuracy(&mixed, &[0, 1]), None);
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
