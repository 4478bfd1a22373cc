use super::*;
use proptest::prelude::*;

/// Deterministic noise in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

const MB: f64 = 1024.0 * 1024.0;

/// Naive O(n²) Mann–Kendall.
fn mk_naive(v: &[f64]) -> (i64, f64) {
    let n = v.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match v[j].partial_cmp(&v[i]).unwrap() {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let mut counts: Vec<(f64, usize)> = Vec::new();
    for &x in v {
        match counts.iter_mut().find(|(y, _)| *y == x) {
            Some((_, c)) => *c += 1,
            None => counts.push((x, 1)),
        }
    }
    let nf = n as f64;
    let ties: f64 = counts
        .iter()
        .map(|&(_, t)| {
            let t = t as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    (s, (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0)
}

/// Naive Theil–Sen: every slope, fully sorted.
fn ts_naive(p: &[Point]) -> f64 {
    let mut s = Vec::new();
    for i in 0..p.len() {
        for j in i + 1..p.len() {
            if p[j].t != p[i].t {
                s.push((p[j].v - p[i].v) / (p[j].t - p[i].t));
            }
        }
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A Node-like heap sampled every `dt` seconds: a sawtooth (allocation
/// between collections) on top of `baseline(t)`, with noise on the floor.
fn sawtooth(n: usize, dt: f64, baseline: impl Fn(f64) -> f64, seed: u64) -> Vec<Point> {
    let mut rng = Rng(seed);
    let period = 7.3; // seconds between major GCs
    (0..n)
        .map(|i| {
            let t = i as f64 * dt;
            let phase = (t % period) / period;
            let v = baseline(t) + 40.0 * MB * phase + 2.0 * MB * rng.next();
            Point::new(t, v)
        })
        .collect()
}

#[test]
fn flat_sawtooth_is_not_significant() {
    for seed in 1..20u64 {
        // 30 minutes at 5 s, one-minute window minima.
        let raw = sawtooth(360, 5.0, |_| 100.0 * MB, seed * 7919);
        let floors = window_minima(&raw, 60.0);
        assert_eq!(floors.len(), 29);
        let t = analyze(&floors, &Options::default()).unwrap();
        assert!(
            !t.growing() || t.mb_per_min() < 0.1,
            "seed {seed}: {t:?} ({} MB/min)",
            t.mb_per_min()
        );
        assert!(
            t.mb_per_min().abs() < 0.2,
            "seed {seed}: {}",
            t.mb_per_min()
        );
    }
}

#[test]
fn rising_baseline_is_significant() {
    for seed in 1..20u64 {
        // 2 MB/min under a 40 MB sawtooth and noise.
        let rate = 2.0 * MB / 60.0;
        let raw = sawtooth(360, 5.0, |t| 100.0 * MB + rate * t, seed * 104_729);
        let floors = window_minima(&raw, 60.0);
        let t = analyze(&floors, &Options::default()).unwrap();
        assert!(t.significant && t.growing(), "seed {seed}: {t:?}");
        assert!(
            (t.mb_per_min() - 2.0).abs() < 0.3,
            "seed {seed}: {}",
            t.mb_per_min()
        );
        assert!(t.slope_lower <= t.slope && t.slope <= t.slope_upper);
        assert!(t.slope_lower > 0.0);
        assert!(t.confidence > 0.99);
        // 4 GB limit: (4096 - ~160) MB at 2 MB/min ≈ 1970 min.
        let ttl = t.time_to_limit(4096.0 * MB).unwrap() / 60.0;
        assert!((ttl - 1968.0).abs() < 300.0, "seed {seed}: {ttl} min");
    }
}

#[test]
fn falling_series_is_significant_but_not_growing() {
    let pts: Vec<Point> = (0..30)
        .map(|i| Point::new(i as f64, 100.0 - i as f64))
        .collect();
    let t = analyze(&pts, &Options::default()).unwrap();
    assert!(t.significant);
    assert!(!t.growing());
    assert_eq!(t.time_to_limit(1000.0), None);
    assert_eq!(t.mann_kendall.s, -(30 * 29 / 2));
    assert!((t.slope + 1.0).abs() < 1e-12);
}

#[test]
fn constant_series_has_no_trend() {
    let pts: Vec<Point> = (0..20).map(|i| Point::new(i as f64, 5.0)).collect();
    let t = analyze(&pts, &Options::default()).unwrap();
    assert!(!t.significant);
    assert_eq!(t.slope, 0.0);
    assert_eq!(t.mann_kendall.s, 0);
    assert_eq!(t.mann_kendall.p_value, 1.0);
}

#[test]
fn known_mann_kendall_values() {
    // S = 8 - 2 = 6 for 1,3,2,4,5? pairs: (1,3)+,(1,2)+,(1,4)+,(1,5)+,(3,2)-,(3,4)+,(3,5)+,(2,4)+,(2,5)+,(4,5)+ → 9-1 = 8.
    let mk = mann_kendall(&[1.0, 3.0, 2.0, 4.0, 5.0]).unwrap();
    assert_eq!(mk.s, 8);
    assert!((mk.variance - 5.0 * 4.0 * 15.0 / 18.0).abs() < 1e-12);
    // z = 7 / sqrt(16.667) = 1.7146; p = 0.0864
    assert!((mk.z - 1.714_643).abs() < 1e-5);
    assert!((mk.p_value - 0.086_411).abs() < 1e-5);
}

#[test]
fn errors() {
    assert!(matches!(
        analyze(&[Point::new(0.0, 1.0)], &Options::default()),
        Err(Error::TooFewPoints { got: 1, .. })
    ));
    assert_eq!(mann_kendall(&[1.0, f64::NAN]), Err(Error::NotFinite));
    let e = Error::TooFewPoints { got: 1, need: 8 }.to_string();
    assert!(!e.ends_with('.'));
}

#[test]
fn window_minima_keep_complete_windows() {
    let pts: Vec<Point> = (0..25)
        .map(|i| Point::new(i as f64, (i % 10) as f64 + i as f64 / 10.0))
        .collect();
    let m = window_minima(&pts, 10.0);
    // Windows [0,10) and [10,20) are complete; [20,24] is not.
    assert_eq!(m, vec![Point::new(0.0, 0.0), Point::new(10.0, 1.0)]);
    assert_eq!(window_minima(&pts, 0.0).len(), 25);
    assert!(window_minima(&[], 5.0).is_empty());
}

proptest! {
    #[test]
    fn mann_kendall_matches_naive(v in prop::collection::vec(0u8..12, 2..80)) {
        let v: Vec<f64> = v.into_iter().map(f64::from).collect();
        let mk = mann_kendall(&v).unwrap();
        let (s, var) = mk_naive(&v);
        prop_assert_eq!(mk.s, s);
        prop_assert!((mk.variance - var.max(0.0)).abs() < 1e-9 * var.abs().max(1.0));
        prop_assert!((0.0..=1.0).contains(&mk.p_value));
    }

    #[test]
    fn mann_kendall_matches_naive_on_reals(v in prop::collection::vec(-1e9f64..1e9, 2..120)) {
        let mk = mann_kendall(&v).unwrap();
        prop_assert_eq!(mk.s, mk_naive(&v).0);
    }

    #[test]
    fn theil_sen_matches_naive(
        v in prop::collection::vec((0u32..1000, -1e6f64..1e6), 2..60)
    ) {
        let mut pts: Vec<Point> = v.into_iter().map(|(t, v)| Point::new(f64::from(t), v)).collect();
        pts.sort_by(|a, b| a.t.total_cmp(&b.t));
        let vals: Vec<f64> = pts.iter().map(|p| p.v).collect();
        let mk = mann_kendall(&vals).unwrap();
        match theil_sen(&pts, 0.95, mk.variance) {
            Ok(ts) => {
                let naive = ts_naive(&pts);
                prop_assert!((ts.slope - naive).abs() <= 1e-9 * naive.abs().max(1.0), "{} vs {}", ts.slope, naive);
                prop_assert!(ts.lower <= ts.slope && ts.slope <= ts.upper);
            }
            Err(Error::TooFewPoints { .. }) => prop_assert!(pts.iter().all(|p| p.t == pts[0].t)),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn slope_is_shift_invariant(
        v in prop::collection::vec(-1e3f64..1e3, 3..40),
        shift in -1e6f64..1e6,
    ) {
        let a: Vec<Point> = v.iter().enumerate().map(|(i, &x)| Point::new(i as f64, x)).collect();
        let b: Vec<Point> = v.iter().enumerate().map(|(i, &x)| Point::new(i as f64, x + shift)).collect();
        let sa = theil_sen(&a, 0.95, 1.0).unwrap().slope;
        let sb = theil_sen(&b, 0.95, 1.0).unwrap().slope;
        prop_assert!((sa - sb).abs() < 1e-6);
    }
}
