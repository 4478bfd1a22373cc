//! How many live objects a sampling heap profile stands for.
//!
//! V8 samples allocations as a Poisson process over allocated bytes with
//! mean interval R: an object of s bytes is sampled with probability
//! 1 − exp(−s/R), so each sample stands for `scale(s) = 1 / (1 − exp(−s/R))`
//! objects. V8's `SamplingHeapProfiler::ScaleSample(size, count)` turns the
//! n live samples of one size at one stack into `round(n · scale(s))`
//! objects; the inspector reports a node's `selfSize` as the sum over its
//! sizes of `s · round(n · scale(s))`, and each sample's `size` as
//! `s · round(scale(s))` (`v8-heap-profiler-agent-impl.cc`) — already
//! scaled, the object size itself is not sent.
//!
//! So a sample's reported size S must be split back into (s, count). For
//! objects over about twice the interval the split is unique, and for
//! many smaller sizes too; but small objects all report about R bytes, and
//! a reported size can have dozens of splits (at R = 32 KiB, 32784 is
//! 16 B × 2049, 24 B × 1366 or 48 B × 683). No data in the profile tells
//! them apart, so the count there is an estimate ([`estimate_node`]).

use std::collections::HashMap;

/// V8's `ScaleSample`: the objects `samples` samples of `size` bytes stand for.
pub fn v8_count(size: u64, samples: u64, rate: u64) -> u64 {
    let scale = 1.0 / (1.0 - (-(size as f64) / rate.max(1) as f64).exp());
    // V8 rounds by adding 0.5 and truncating.
    (samples as f64 * scale + 0.5) as u64
}

/// Every (object size, count) V8 could have turned into a sample of
/// `reported` bytes: `size · v8_count(size, 1) == reported`, sizes a
/// multiple of 4 (V8's smallest tagged size). Biggest size first.
pub fn splits(reported: u64, rate: u64) -> Vec<(u64, u64)> {
    let rate = rate.max(1);
    if reported == 0 {
        return Vec::new();
    }
    // count = round(scale(s)) lies in (scale − ½, scale + ½], so
    // s·(scale(s) − ½) < reported ≤ s·(scale(s) + ½); both bounds grow with s.
    let scale = |s: f64| 1.0 / (1.0 - (-s / rate as f64).exp());
    let lo_s = solve(|s| s * (scale(s) + 0.5), reported as f64);
    let hi_s = solve(|s| s * (scale(s) - 0.5), reported as f64);
    let c_min = ((reported as f64 / hi_s).floor() as u64).max(1);
    let c_max = (reported as f64 / lo_s.max(1.0)).ceil() as u64 + 1;
    // Bounded work for absurd inputs (a count over a million is an object
    // of a few bytes at a multi-megabyte interval).
    let c_max = c_max.min(c_min.saturating_add(1 << 20));
    let mut out = Vec::new();
    for c in c_min..=c_max {
        if reported.is_multiple_of(c) {
            let s = reported / c;
            if s.is_multiple_of(4) && v8_count(s, 1, rate) == c {
                out.push((s, c));
            }
        }
    }
    out
}

/// The s in (0, reported] where the increasing `f(s)` reaches `target`
/// (`reported` itself when it never does).
fn solve(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, target);
    if f(hi) < target {
        return hi;
    }
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The live objects behind the samples of one reported size at one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The sample size V8 reported (object size × its count).
    pub reported: u64,
    /// Bytes per object, when the reported size tells it.
    pub object_size: Option<u64>,
    /// Samples V8 kept.
    pub samples: u64,
    /// V8's estimate of the live objects behind them (see [`estimate_node`]).
    pub objects: u64,
    /// V8's estimate of their live bytes.
    pub bytes: u64,
}

/// Splits a node's samples (their reported sizes) into buckets, given the
/// node's `self_size` as V8 reported it.
///
/// Where a reported size has one split (s, c), the bucket is V8's own:
/// `round(n · scale(s))` objects of s bytes, as in the node's selfSize.
/// Where it has several, the node's selfSize often decides: for a size
/// sampled n ≥ 2 times, `s · round(n · scale(s))` differs between the
/// splits; a size on which every choice adding up to selfSize agrees is
/// settled (a hot allocation site, sampled many times, is resolved this
/// way). What stays open — sizes sampled once, or with several choices
/// that fit — keeps the reported bytes (n · S) and counts the
/// geometric mean of the consistent counts times n: within a factor
/// √(max/min) of V8's count, and without an object size. With no split
/// (not a V8 sample at this rate) each sample counts as one object.
pub fn estimate_node(reported_sizes: &[u64], self_size: u64, rate: u64) -> Vec<Bucket> {
    let mut groups: HashMap<u64, u64> = HashMap::new();
    for &s in reported_sizes {
        *groups.entry(s).or_default() += 1;
    }
    let mut groups: Vec<(u64, u64)> = groups.into_iter().collect();
    groups.sort_unstable();
    let mut buckets = Vec::with_capacity(groups.len());
    // Ambiguous sizes sampled twice or more: their choice changes the bytes.
    let mut open: Vec<(usize, Vec<Bucket>)> = Vec::new();
    for (reported, n) in groups {
        let splits = splits(reported, rate);
        if splits.len() > 1 && n >= 2 {
            let each = splits
                .iter()
                .map(|&sc| bucket(reported, n, &[sc], rate))
                .collect();
            open.push((buckets.len(), each));
        }
        buckets.push(bucket(reported, n, &splits, rate));
    }
    if !open.is_empty() {
        resolve(&mut buckets, &open, self_size);
    }
    buckets
}

/// Most combinations enumerated per half (meet in the middle: up to this
/// squared per node).
const MAX_HALF: usize = 1 << 16;
/// Most fitting combinations considered.
const MAX_FITS: usize = 1 << 16;

/// Takes, for each open bucket, the split that every combination making the
/// node's bytes equal `self_size` agrees on. Meet in the middle: the
/// open buckets go into two halves, the sums of one half are tabled and
/// each sum of the other looks up what it lacks.
fn resolve(buckets: &mut [Bucket], open: &[(usize, Vec<Bucket>)], self_size: u64) {
    let settled: u64 = buckets
        .iter()
        .enumerate()
        .filter(|(i, _)| !open.iter().any(|(j, _)| j == i))
        .map(|(_, b)| b.bytes)
        .sum();
    let Some(wanted) = self_size.checked_sub(settled) else {
        return;
    };
    // Balance the halves by their number of combinations.
    let mut order: Vec<&(usize, Vec<Bucket>)> = open.iter().collect();
    order.sort_by_key(|(_, each)| std::cmp::Reverse(each.len()));
    let (mut left, mut right): (Vec<&[Bucket]>, Vec<&[Bucket]>) = (Vec::new(), Vec::new());
    let (mut nl, mut nr) = (1usize, 1usize);
    let mut slots: Vec<(bool, usize, usize)> = Vec::new(); // (in left, position, bucket index)
    for (i, each) in order {
        if nl <= nr {
            slots.push((true, left.len(), *i));
            left.push(each);
            nl = nl.saturating_mul(each.len());
        } else {
            slots.push((false, right.len(), *i));
            right.push(each);
            nr = nr.saturating_mul(each.len());
        }
    }
    if nl > MAX_HALF || nr > MAX_HALF {
        return;
    }
    let sum = |half: &[&[Bucket]], mut k: usize| {
        half.iter().fold(0u64, |acc, each| {
            let b = each[k % each.len()].bytes;
            k /= each.len();
            acc.saturating_add(b)
        })
    };
    // Left sums and the combinations that give each.
    let mut table: HashMap<u64, Vec<usize>> = HashMap::with_capacity(nl);
    for k in 0..nl {
        table.entry(sum(&left, k)).or_default().push(k);
    }
    let pick = |half: &[&[Bucket]], mut k: usize, at: usize| {
        for each in &half[..at] {
            k /= each.len();
        }
        half[at][k % half[at].len()]
    };
    // Per slot: the choice every fitting combination so far agrees on
    // (None once two disagree); unset until the first fits.
    let mut agreed: Vec<Option<Option<Bucket>>> = vec![None; slots.len()];
    let mut fits = 0usize;
    for kr in 0..nr {
        let Some(need) = wanted.checked_sub(sum(&right, kr)) else {
            continue;
        };
        for &kl in table.get(&need).map_or(&[][..], Vec::as_slice) {
            fits += 1;
            if fits > MAX_FITS {
                return;
            }
            for (slot, &(in_left, at, _)) in agreed.iter_mut().zip(&slots) {
                let choice = if in_left {
                    pick(&left, kl, at)
                } else {
                    pick(&right, kr, at)
                };
                *slot = match *slot {
                    None => Some(Some(choice)),
                    Some(Some(c)) if c == choice => Some(Some(c)),
                    Some(_) => Some(None),
                };
            }
        }
    }
    // A bucket is settled when every fitting combination chooses alike.
    for (slot, (_, _, i)) in agreed.into_iter().zip(slots) {
        if let Some(Some(choice)) = slot {
            buckets[i] = choice;
        }
    }
}

fn bucket(reported: u64, n: u64, splits: &[(u64, u64)], rate: u64) -> Bucket {
    let unsure = |objects| Bucket {
        reported,
        object_size: None,
        samples: n,
        objects,
        bytes: reported.saturating_mul(n),
    };
    match *splits {
        [] => unsure(n),
        [(size, _)] => {
            let objects = v8_count(size, n, rate);
            Bucket {
                reported,
                object_size: Some(size),
                samples: n,
                objects,
                bytes: size.saturating_mul(objects),
            }
        }
        _ => {
            let mean_log =
                splits.iter().map(|&(_, c)| (c as f64).ln()).sum::<f64>() / splits.len() as f64;
            unsure((n as f64 * mean_log.exp()).round() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What V8 reports for a sample of an object of `size` bytes.
    fn reported(size: u64, rate: u64) -> u64 {
        size * v8_count(size, 1, rate)
    }

    #[test]
    fn scale_matches_v8() {
        // 1 / (1 - exp(-s/R)), rounded: big objects count once, small ones
        // stand for about R/s objects.
        assert_eq!(v8_count(1 << 20, 1, 32768), 1);
        assert_eq!(v8_count(32768, 1, 32768), 2); // 1.58
        assert_eq!(v8_count(16, 1, 32768), 2049); // 2048.50…
        assert_eq!(v8_count(24, 1, 32768), 1366); // 1365.83…
        assert_eq!(v8_count(24, 2, 32768), 2732);
        assert_eq!(v8_count(3216, 1, 32768), 11);
    }

    #[test]
    fn every_size_is_among_its_splits() {
        for rate in [1024, 32768, 524288] {
            let mut s = 4;
            while s < 8 * rate {
                let r = reported(s, rate);
                let c = splits(r, rate);
                assert!(
                    c.contains(&(s, v8_count(s, 1, rate))),
                    "rate {rate} size {s}: reported {r}, splits {c:?}"
                );
                assert!(c.iter().all(|&(s2, n)| s2 * n == r));
                s += if s < 4096 { 4 } else { 4 + s / 1000 * 4 };
            }
        }
    }

    #[test]
    fn big_objects_split_uniquely() {
        for s in (73000..300_000).step_by(8) {
            assert_eq!(splits(reported(s, 32768), 32768), [(s, 1)], "{s}");
        }
    }

    #[test]
    fn one_split_is_v8s_bucket_several_the_geometric_mean() {
        let rate = 32768;
        // 16, 24 and 48 B objects report the same sample size.
        assert_eq!(splits(32784, rate), [(48, 683), (24, 1366), (16, 2049)]);
        let b = estimate_node(&[32784, 32784], 65568, rate);
        let mean = (683f64 * 1366.0 * 2049.0).cbrt();
        assert_eq!(
            b,
            [Bucket {
                reported: 32784,
                object_size: None,
                samples: 2,
                objects: (2.0 * mean).round() as u64,
                bytes: 65568
            }]
        );
        // A 100 KB object: counted once, V8's bucket of three.
        let big = 100_000;
        let b = estimate_node(&[big; 3], 3 * big, rate);
        assert_eq!(
            b,
            [Bucket {
                reported: big,
                object_size: Some(big),
                samples: 3,
                objects: 3,
                bytes: 3 * big
            }]
        );
        // Not a size V8 reports at this rate: one object per sample.
        assert_eq!(estimate_node(&[7], 7, rate)[0].objects, 1);
    }

    #[test]
    fn self_size_settles_a_size_sampled_often() {
        let rate = 32768;
        // 3216 B arrays (`new Array(400)`): six splits of 35376...
        assert_eq!(splits(35376, rate).len(), 6);
        // ...but thirty of them make a self size only 3216 B gives, also
        // next to a size sampled once.
        let self_size = 3216 * v8_count(3216, 30, rate) + 32784;
        let mut sizes = vec![35376; 30];
        sizes.push(32784);
        let b = estimate_node(&sizes, self_size, rate);
        assert_eq!(b[1].reported, 35376);
        assert_eq!(b[1].object_size, Some(3216));
        assert_eq!(b[1].objects, v8_count(3216, 30, rate));
        assert_eq!(b.iter().map(|b| b.bytes).sum::<u64>(), self_size);
        assert_eq!(b[0].object_size, None);
        // A self size that fits no choice leaves the geometric mean.
        let b = estimate_node(&sizes, self_size + 8, rate);
        assert_eq!(b[1].object_size, None);
    }

    /// A node like handleRequest in leak-listener.js, measured: four
    /// ambiguous sizes (15 × 27 × 8 × 4 choices). Two combinations fit
    /// (40 + 64 B or 32 + 72 B objects): those two stay open, the others
    /// are settled.
    #[test]
    fn many_open_sizes_meet_in_the_middle() {
        let rate = 32768;
        let truth = [(40, 7), (64, 15), (104, 6), (3248, 512)];
        let mut sizes = Vec::new();
        for &(s, n) in &truth {
            sizes.extend(std::iter::repeat_n(reported(s, rate), n));
        }
        let self_size: u64 = truth
            .iter()
            .map(|&(s, n)| s * v8_count(s, n as u64, rate))
            .sum();
        let b = estimate_node(&sizes, self_size, rate);
        let got: Vec<(Option<u64>, u64)> = b.iter().map(|b| (b.object_size, b.samples)).collect();
        assert_eq!(
            got,
            [(None, 7), (None, 15), (Some(104), 6), (Some(3248), 512)]
        );
    }

    /// Nodes made the way V8 makes them: the bytes are V8's where the
    /// object size is known, the counts V8's there and within the spread
    /// of the candidates elsewhere.
    #[test]
    fn random_nodes_stay_within_bounds() {
        let rate = 32768;
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let (mut known_sizes, mut total) = (0, 0);
        for _ in 0..2000 {
            let big = next(4) == 0;
            let size = 8 * (2 + next(if big { 20000 } else { 100 }));
            let n = 1 + next(6);
            let self_size = size * v8_count(size, n, rate);
            let b = estimate_node(&vec![reported(size, rate); n as usize], self_size, rate);
            assert_eq!(b.len(), 1);
            let b = b[0];
            let cands = splits(b.reported, rate);
            let lo = cands.iter().map(|c| c.1).min().unwrap() * n;
            let hi = cands.iter().map(|c| c.1).max().unwrap() * n;
            assert!(b.objects + n >= lo && b.objects <= hi + n, "{size}: {b:?}");
            total += 1;
            // A known object size is the true one, with V8's count and bytes.
            if let Some(known) = b.object_size {
                known_sizes += 1;
                assert_eq!(known, size, "{b:?}");
                assert_eq!(b.objects, v8_count(size, n, rate));
                assert_eq!(b.bytes, self_size);
            } else {
                assert!(n == 1 || cands.len() > 1, "{size} ×{n}: {b:?}");
                assert_eq!(b.bytes, n * reported(size, rate));
            }
        }
        // Sizes sampled twice or more are nearly always settled.
        assert!(known_sizes * 10 > total * 7, "{known_sizes} of {total}");
    }
}
