use super::*;

fn profile(json: serde_json::Value) -> SamplingProfile {
    serde_json::from_value(json).unwrap()
}

fn node(
    id: u64,
    f: &str,
    url: &str,
    line: i64,
    size: f64,
    children: Vec<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "callFrame": {"functionName": f, "scriptId": "1", "url": url, "lineNumber": line, "columnNumber": 2},
        "selfSize": size, "id": id, "children": children
    })
}

/// `(root) → main (app.js) → handle (app.js) → set (node_modules/lru) → Buffer.from (node:buffer)`,
/// plus a timer in node internals with no user frame.
fn sample_profile() -> SamplingProfile {
    profile(serde_json::json!({
        "head": node(1, "(root)", "", -1, 0.0, vec![
            node(2, "main", "/srv/app.js", 0, 0.0, vec![
                node(3, "handle", "/srv/app.js", 9, 1000.0, vec![
                    node(4, "set", "/srv/node_modules/lru/index.js", 40, 300.0, vec![
                        node(5, "from", "node:buffer", 100, 700.0, vec![]),
                    ]),
                ]),
            ]),
            node(6, "listOnTimeout", "node:internal/timers", 500, 0.0, vec![
                node(7, "tick", "/srv/node_modules/pool/index.js", 3, 50.0, vec![
                    node(8, "push", "node:internal/fixed_queue", 1, 20.0, vec![]),
                ]),
            ]),
            node(9, "(GC)", "", -1, 5.0, vec![]),
        ]),
        "samples": []
    }))
}

#[test]
fn sites_end_at_the_first_user_frame() {
    let sites = live_by_site(&sample_profile());
    let labels: Vec<(String, u64)> = sites.iter().map(|(k, b)| (k.label(), *b)).collect();
    assert_eq!(
        labels,
        vec![
            ("handle (/srv/app.js:10:3)".to_owned(), 1000),
            ("from ← handle (/srv/app.js:10:3)".to_owned(), 700),
            ("set ← handle (/srv/app.js:10:3)".to_owned(), 300),
            ("tick (/srv/node_modules/pool/index.js:4:3)".to_owned(), 50),
            (
                "push ← tick (/srv/node_modules/pool/index.js:4:3)".to_owned(),
                20
            ),
            ("(GC)".to_owned(), 5),
        ]
    );
    let from = &sites[1].0;
    assert_eq!(from.stack.len(), 3, "{from:?}");
    assert_eq!(from.named().function, "handle");
}

fn key(name: &str) -> SiteKey {
    SiteKey {
        stack: vec![SiteFrame {
            function: name.into(),
            file: "/srv/app.js".into(),
            line: 1,
            column: 1,
        }],
    }
}

/// A small deterministic noise source (xorshift).
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0
    }
}

fn settings() -> SiteSettings {
    SiteSettings {
        window: Duration::from_secs(3),
        span: Duration::from_secs(120),
        min_growth: 1024.0,
        ..SiteSettings::default()
    }
}

/// Major GCs happen at these seconds.
const FULL_GCS: [i64; 2] = [30, 50];

/// Reads once a second for `secs`: the leak keeps 10 KiB/s plus garbage of its
/// own; the garbage site holds up to 2 MiB of short-lived objects; the cache
/// fills in 10 s and stays full; the slow site grows 100 B/s; the churning
/// cache's dead entries pile up in the old generation (8 KiB/s) until a major
/// GC frees them.
fn scenario(secs: i64) -> SiteTrends {
    let mut s = SiteTrends::new(settings(), 0);
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for i in 0..secs {
        let majors = FULL_GCS.iter().filter(|&&g| g <= i).count() as u64;
        let since_gc = i - FULL_GCS
            .iter()
            .filter(|&&g| g <= i)
            .max()
            .copied()
            .unwrap_or(0);
        let leak = 10_240.0 * i as f64 + 200_000.0 * noise.next();
        let garbage = 2_000_000.0 * noise.next();
        let cache = 500_000.0 * (i.min(10) as f64 / 10.0) + 30_000.0 * noise.next();
        let slow = 100.0 * i as f64;
        let churn = 100_000.0 + 8_192.0 * since_gc as f64 + 5_000.0 * noise.next();
        let live = vec![
            (key("leak"), leak as u64),
            (key("garbage"), garbage as u64),
            (key("cache"), cache as u64),
            (key("slow"), slow as u64),
            (key("churn"), churn as u64),
        ];
        s.record(i * 1000, &live, majors);
    }
    s
}

#[test]
fn the_leak_grows_and_nothing_else() {
    let s = scenario(60);
    let growing = s.growing();
    let names: Vec<&str> = growing.iter().map(|g| g.function.as_str()).collect();
    assert_eq!(names, vec!["leak"], "{growing:#?}");
    let g = &growing[0];
    assert!(
        (8_000.0..12_500.0).contains(&g.growth_bytes_per_second),
        "{g:?}"
    );
    assert!(g.p_value < 0.01);
}

#[test]
fn too_few_windows_say_nothing() {
    let s = scenario(20);
    assert!(s.growing().is_empty());
}

#[test]
fn nothing_grows_before_its_growth_outlives_a_major_gc() {
    // Enough windows for the trend, but only one major GC so far: the leak
    // and the churning cache look alike until a second one.
    let s = scenario(45);
    assert_eq!(s.full_gcs(), 1);
    assert!(s.growing().is_empty(), "{:#?}", s.growing());
}

#[test]
fn reset_forgets_and_span_prunes() {
    let mut s = scenario(200);
    // Only the last 120 s are kept.
    assert!(
        s.biggest(10)
            .iter()
            .any(|(k, _)| k.named().function == "leak")
    );
    s.reset(0);
    assert!(s.biggest(10).is_empty());
    assert_eq!(s.reads(), 0);
}

#[test]
fn the_biggest_sites_are_kept() {
    let mut s = SiteTrends::new(
        SiteSettings {
            max_sites: 2,
            ..settings()
        },
        0,
    );
    let live: Vec<(SiteKey, u64)> = (0..5).map(|i| (key(&format!("f{i}")), i * 10)).collect();
    s.record(0, &live, 0);
    let kept: Vec<String> = s
        .biggest(10)
        .into_iter()
        .map(|(k, _)| k.named().function.clone())
        .collect();
    assert_eq!(kept, vec!["f4", "f3"]);
    // Sites with nothing live at the last read are not among the biggest.
    s.record(1000, &[], 0);
    s.record(2000, &[], 0);
    assert!(s.biggest(10).is_empty());
}
