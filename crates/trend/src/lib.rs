//! Robust trend detection for heap usage series. Pure computation: no IO, no clocks.
//!
//! A healthy Node heap is a sawtooth: it grows between collections and drops
//! after each one. Only the floor of the sawtooth (the heap in use right
//! after a collection) says whether memory is retained, so the series fed
//! here should be post-GC minima, per GC cycle or per time window
//! ([`window_minima`]).
//!
//! * [`theil_sen`]: the median of pairwise slopes, with Sen's confidence
//!   interval. Outliers (a late GC, a burst of requests) barely move it.
//! * [`mann_kendall`]: the Mann–Kendall test for a monotonic trend, with the
//!   tie correction and the normal approximation; `S` is counted in
//!   O(n log n) by merge sort.
//! * [`analyze`]: both, plus growth per minute and time to the heap limit.

mod stats;

pub use stats::{normal_cdf, normal_quantile};

/// One observation: time in seconds (any origin) and a value (bytes).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub t: f64,
    pub v: f64,
}

impl Point {
    pub fn new(t: f64, v: f64) -> Point {
        Point { t, v }
    }
}

/// Why a trend cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("too few points for a trend: {got} (need at least {need})")]
    TooFewPoints { got: usize, need: usize },
    #[error("the series holds a value that is not a finite number")]
    NotFinite,
    #[error("invalid parameter: {0}")]
    BadParameter(String),
}

/// Result of the Mann–Kendall test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MannKendall {
    /// Number of observations.
    pub n: usize,
    /// Concordant minus discordant pairs.
    pub s: i64,
    /// Variance of `s` under the null hypothesis, corrected for ties.
    pub variance: f64,
    /// Normal score with continuity correction.
    pub z: f64,
    /// Two-sided p-value (normal approximation).
    pub p_value: f64,
    /// Kendall's tau-a: `s` over the number of pairs.
    pub tau: f64,
}

/// Mann–Kendall test on values in time order. O(n log n).
pub fn mann_kendall(values: &[f64]) -> Result<MannKendall, Error> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::NotFinite);
    }
    let n = values.len();
    if n < 2 {
        return Err(Error::TooFewPoints { got: n, need: 2 });
    }
    let pairs = (n as i64) * (n as i64 - 1) / 2;
    let mut sorted = values.to_vec();
    let discordant = count_inversions(&mut sorted);
    // `sorted` is now ascending: count tie groups.
    let mut tied_pairs = 0i64;
    let mut tie_term = 0f64;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as i64;
        if t > 1 {
            tied_pairs += t * (t - 1) / 2;
            let tf = t as f64;
            tie_term += tf * (tf - 1.0) * (2.0 * tf + 5.0);
        }
        i = j;
    }
    let s = pairs - tied_pairs - 2 * discordant;
    Ok(finish_mk(n, s, tie_term))
}

pub(crate) fn finish_mk(n: usize, s: i64, tie_term: f64) -> MannKendall {
    let nf = n as f64;
    let variance = ((nf * (nf - 1.0) * (2.0 * nf + 5.0) - tie_term) / 18.0).max(0.0);
    let z = if variance <= 0.0 || s == 0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / variance.sqrt()
    } else {
        (s as f64 + 1.0) / variance.sqrt()
    };
    let p_value = (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0);
    let pairs = nf * (nf - 1.0) / 2.0;
    MannKendall {
        n,
        s,
        variance,
        z,
        p_value,
        tau: if pairs > 0.0 { s as f64 / pairs } else { 0.0 },
    }
}

/// Sorts `v` ascending and returns the number of pairs i < j with v[i] > v[j] (strictly).
fn count_inversions(v: &mut [f64]) -> i64 {
    let mut buf = vec![0f64; v.len()];
    merge_count(v, &mut buf)
}

fn merge_count(v: &mut [f64], buf: &mut [f64]) -> i64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut inv = {
        let (left, right) = v.split_at_mut(mid);
        merge_count(left, &mut buf[..mid]) + merge_count(right, &mut buf[mid..])
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        // Take from the left on equality: ties are not inversions.
        if v[i] <= v[j] {
            buf[k] = v[i];
            i += 1;
        } else {
            buf[k] = v[j];
            inv += (mid - i) as i64;
            j += 1;
        }
        k += 1;
    }
    buf[k..k + (mid - i)].copy_from_slice(&v[i..mid]);
    k += mid - i;
    buf[k..k + (n - j)].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buf[..n]);
    inv
}

/// Theil–Sen estimate with Sen's confidence interval for the slope.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TheilSen {
    /// Median pairwise slope (value units per second).
    pub slope: f64,
    /// Median of `v - slope * t`.
    pub intercept: f64,
    /// Lower bound of the slope's confidence interval.
    pub lower: f64,
    /// Upper bound of the slope's confidence interval.
    pub upper: f64,
}

fn median_in_place(x: &mut [f64]) -> f64 {
    let n = x.len();
    debug_assert!(n > 0);
    let cmp = |a: &f64, b: &f64| a.total_cmp(b);
    let (_, &mut hi, _) = x.select_nth_unstable_by(n / 2, cmp);
    if n % 2 == 1 {
        hi
    } else {
        // The largest of the lower half.
        let lo = x[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

fn nth(x: &mut [f64], k: usize) -> f64 {
    let k = k.min(x.len() - 1);
    *x.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

/// Theil–Sen slope over points (pairs with equal times are skipped).
/// `confidence` (e.g. 0.95) sets the interval; `mk_variance` is the
/// Mann–Kendall variance of the same series. O(n²) time and memory.
pub fn theil_sen(points: &[Point], confidence: f64, mk_variance: f64) -> Result<TheilSen, Error> {
    if points.iter().any(|p| !p.t.is_finite() || !p.v.is_finite()) {
        return Err(Error::NotFinite);
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::BadParameter(format!(
            "confidence must be between 0 and 1, not {confidence}"
        )));
    }
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.t - a.t;
            if dt != 0.0 {
                slopes.push((b.v - a.v) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return Err(Error::TooFewPoints {
            got: points.len(),
            need: 2,
        });
    }
    let slope = median_in_place(&mut slopes);
    let mut residuals: Vec<f64> = points.iter().map(|p| p.v - slope * p.t).collect();
    let intercept = median_in_place(&mut residuals);
    let m = slopes.len() as f64;
    let c = normal_quantile(1.0 - (1.0 - confidence) / 2.0) * mk_variance.max(0.0).sqrt();
    let m1 = ((m - c) / 2.0).floor();
    let m2 = ((m + c) / 2.0).ceil();
    // 1-based ranks m1 and m2 + 1.
    let lower = if m1 >= 1.0 {
        nth(&mut slopes, m1 as usize - 1)
    } else {
        nth(&mut slopes, 0)
    };
    let upper = nth(&mut slopes, m2.max(0.0) as usize);
    Ok(TheilSen {
        slope,
        intercept,
        lower: lower.min(slope),
        upper: upper.max(slope),
    })
}

/// The minimum of each complete time window of `window` seconds, starting at
/// the first point; each minimum keeps the time it was observed. The last,
/// incomplete window is left out (a partial window has a biased minimum).
/// Points must be in time order.
pub fn window_minima(points: &[Point], window: f64) -> Vec<Point> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    if window.is_nan() || window <= 0.0 {
        return points.to_vec();
    }
    let complete = ((last.t - first.t) / window).floor() as i64;
    let mut out: Vec<Point> = Vec::new();
    let mut current: Option<(i64, Point)> = None;
    for p in points {
        let k = ((p.t - first.t) / window).floor() as i64;
        if k >= complete {
            break;
        }
        match current {
            Some((ck, ref mut m)) if ck == k => {
                if p.v < m.v {
                    *m = *p;
                }
            }
            Some((_, m)) => {
                out.push(m);
                current = Some((k, *p));
            }
            None => current = Some((k, *p)),
        }
    }
    if let Some((_, m)) = current {
        out.push(m);
    }
    out
}

/// Settings for [`analyze`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Significance level of the Mann–Kendall test.
    pub alpha: f64,
    /// Fewest points (after windowing) for a verdict.
    pub min_points: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            alpha: 0.05,
            min_points: 8,
        }
    }
}

/// A trend verdict over a series of heap floors.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Trend {
    pub points: usize,
    /// Theil–Sen slope in bytes per second.
    pub slope: f64,
    /// Confidence interval of the slope (at 1 - alpha), bytes per second.
    pub slope_lower: f64,
    pub slope_upper: f64,
    /// Fitted floor at the last point, bytes.
    pub fitted_last: f64,
    pub t_last: f64,
    pub mann_kendall: MannKendall,
    /// Whether the Mann–Kendall test rejects "no trend" at `alpha`.
    pub significant: bool,
    /// 1 - p-value.
    pub confidence: f64,
}

impl Trend {
    /// Significant and upwards.
    pub fn growing(&self) -> bool {
        self.significant && self.slope > 0.0
    }

    pub fn mb_per_min(&self) -> f64 {
        self.slope * 60.0 / (1024.0 * 1024.0)
    }

    /// Seconds until the fitted floor reaches `limit`, when the heap grows
    /// significantly; zero when already there.
    pub fn time_to_limit(&self, limit: f64) -> Option<f64> {
        if !self.growing() || !limit.is_finite() {
            return None;
        }
        Some(((limit - self.fitted_last) / self.slope).max(0.0))
    }
}

/// Trend of `points` (already post-GC minima, in time order).
pub fn analyze(points: &[Point], opts: &Options) -> Result<Trend, Error> {
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        return Err(Error::BadParameter(format!(
            "alpha must be between 0 and 1, not {}",
            opts.alpha
        )));
    }
    let need = opts.min_points.max(3);
    if points.len() < need {
        return Err(Error::TooFewPoints {
            got: points.len(),
            need,
        });
    }
    let values: Vec<f64> = points.iter().map(|p| p.v).collect();
    let mk = mann_kendall(&values)?;
    let ts = theil_sen(points, 1.0 - opts.alpha, mk.variance)?;
    let t_last = points.last().map(|p| p.t).unwrap_or(0.0);
    Ok(Trend {
        points: points.len(),
        slope: ts.slope,
        slope_lower: ts.lower,
        slope_upper: ts.upper,
        fitted_last: ts.intercept + ts.slope * t_last,
        t_last,
        significant: mk.p_value < opts.alpha && mk.s != 0,
        confidence: 1.0 - mk.p_value,
        mann_kendall: mk,
    })
}

#[cfg(test)]
mod tests;
