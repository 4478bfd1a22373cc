//! Prometheus metrics, named like prom-client's default metrics and labelled by target.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::probe::{GC_BUCKETS, Sample};
use crate::sites::{GrowingSite, SiteKey};

mod sites;

type G = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetL {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpaceL {
    target: String,
    space: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindL {
    target: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertL {
    target: String,
    alertname: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionL {
    target: String,
    version: String,
    major: String,
    minor: String,
    patch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultL {
    result: String,
}

/// Webhook deliveries by result (`delivered`, `failed`, `dropped`), since
/// start: gauges that only grow, like `history_errors`.
#[derive(Clone, Debug, Default)]
pub struct WebhookCounts(Family<ResultL, prometheus_client::metrics::gauge::Gauge>);

impl WebhookCounts {
    pub fn add(&self, result: &str, n: i64) {
        self.0
            .get_or_create(&ResultL {
                result: result.to_owned(),
            })
            .inc_by(n);
    }

    pub fn get(&self, result: &str) -> i64 {
        self.0
            .get_or_create(&ResultL {
                result: result.to_owned(),
            })
            .get()
    }
}

/// A histogram fed with bucket counts measured elsewhere (in the target).
#[derive(Debug, Default, Clone)]
pub struct BucketHistogram(Arc<Mutex<HistState>>);

#[derive(Debug, Default)]
struct HistState {
    sum: f64,
    count: u64,
    buckets: [u64; GC_BUCKETS.len() + 1],
}

impl BucketHistogram {
    fn add(&self, sum: f64, buckets: &[u64]) {
        let mut s = self.0.lock().expect("histogram lock");
        s.sum += sum;
        for (slot, b) in s.buckets.iter_mut().zip(buckets) {
            *slot += b;
        }
        s.count += buckets.iter().sum::<u64>();
    }
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().expect("histogram lock");
        let buckets: Vec<(f64, u64)> = GC_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(s.buckets.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(s.sum, s.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// What the trend says about a target, for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrendGauges {
    pub growth_bytes_per_second: f64,
    pub significant: bool,
    pub p_value: f64,
    pub time_to_limit_seconds: Option<f64>,
}

/// All metrics of the watcher.
pub struct Metrics {
    registry: Registry,
    heap_used: Family<TargetL, G>,
    heap_total: Family<TargetL, G>,
    external: Family<TargetL, G>,
    array_buffers: Family<TargetL, G>,
    rss: Family<TargetL, G>,
    start_time: Family<TargetL, G>,
    version: Family<VersionL, G>,
    space_used: Family<SpaceL, G>,
    space_total: Family<SpaceL, G>,
    space_available: Family<SpaceL, G>,
    gc: Family<KindL, BucketHistogram>,
    lag: Family<TargetL, G>,
    lag_stats: [Family<TargetL, G>; 7],
    heap_limit: Family<TargetL, G>,
    heap_floor: Family<TargetL, G>,
    growth: Family<TargetL, G>,
    significant: Family<TargetL, G>,
    p_value: Family<TargetL, G>,
    ttl: Family<TargetL, G>,
    up: Family<TargetL, G>,
    alert: Family<AlertL, G>,
    /// Samples and alerts that could not be written to the history (disk
    /// full…), since start: a gauge that only grows (promtool rejects a
    /// counter's help line as prometheus_client writes it).
    pub history_errors: prometheus_client::metrics::gauge::Gauge,
    sites: sites::SiteMetrics,
    /// Alert webhook deliveries by result.
    pub webhook: WebhookCounts,
}

const LAG_STATS: [(&str, &str); 7] = [
    ("min", "The minimum recorded event loop delay"),
    ("mean", "The mean of the recorded event loop delays"),
    (
        "stddev",
        "The standard deviation of the recorded event loop delays",
    ),
    (
        "p50",
        "The 50th percentile of the recorded event loop delays",
    ),
    (
        "p90",
        "The 90th percentile of the recorded event loop delays",
    ),
    (
        "p99",
        "The 99th percentile of the recorded event loop delays",
    ),
    ("max", "The maximum recorded event loop delay"),
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let g = |r: &mut Registry, name: &str, help: &str| {
            let f = Family::<TargetL, G>::default();
            r.register(name, help, f.clone());
            f
        };
        let s = |r: &mut Registry, name: &str, help: &str| {
            let f = Family::<SpaceL, G>::default();
            r.register(name, help, f.clone());
            f
        };
        let heap_used = g(
            &mut r,
            "nodejs_heap_size_used_bytes",
            "Process heap size used from Node.js in bytes",
        );
        let heap_total = g(
            &mut r,
            "nodejs_heap_size_total_bytes",
            "Process heap size from Node.js in bytes",
        );
        let external = g(
            &mut r,
            "nodejs_external_memory_bytes",
            "Node.js external memory size in bytes",
        );
        let array_buffers = g(
            &mut r,
            "nodejs_array_buffers_bytes",
            "Memory allocated for ArrayBuffers and SharedArrayBuffers in bytes",
        );
        let rss = g(
            &mut r,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
        );
        let start_time = g(
            &mut r,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
        );
        let version = Family::<VersionL, G>::default();
        r.register(
            "nodejs_version_info",
            "Node.js version info",
            version.clone(),
        );
        let space_used = s(
            &mut r,
            "nodejs_heap_space_size_used_bytes",
            "Process heap space size used from Node.js in bytes",
        );
        let space_total = s(
            &mut r,
            "nodejs_heap_space_size_total_bytes",
            "Process heap space size total from Node.js in bytes",
        );
        let space_available = s(
            &mut r,
            "nodejs_heap_space_size_available_bytes",
            "Process heap space size available from Node.js in bytes",
        );
        let gc = Family::<KindL, BucketHistogram>::default();
        r.register(
            "nodejs_gc_duration_seconds",
            "Garbage collection duration by kind, one of major, minor, incremental or weakcb",
            gc.clone(),
        );
        let lag = g(
            &mut r,
            "nodejs_eventloop_lag_seconds",
            "Lag of event loop in seconds",
        );
        let lag_stats = LAG_STATS.map(|(stat, help)| {
            g(
                &mut r,
                &format!("nodejs_eventloop_lag_{stat}_seconds"),
                help,
            )
        });
        let heap_limit = g(
            &mut r,
            "leakhound_heap_size_limit_bytes",
            "V8 heap size limit in bytes",
        );
        let heap_floor = g(
            &mut r,
            "leakhound_heap_floor_bytes",
            "Lowest heap used seen after a garbage collection during the last interval, in bytes",
        );
        let growth = g(
            &mut r,
            "leakhound_heap_growth_bytes_per_second",
            "Theil-Sen slope of the post-GC heap floor, in bytes per second",
        );
        let significant = g(
            &mut r,
            "leakhound_heap_trend_significant",
            "1 when the Mann-Kendall test finds a significant trend in the post-GC heap floor",
        );
        let p_value = g(
            &mut r,
            "leakhound_heap_trend_p_value",
            "Mann-Kendall p-value of the post-GC heap floor trend",
        );
        let ttl = g(
            &mut r,
            "leakhound_time_to_heap_limit_seconds",
            "Estimated seconds until the heap floor reaches the heap limit (only while it grows significantly)",
        );
        let up = g(
            &mut r,
            "leakhound_target_up",
            "1 when the target's inspector answers",
        );
        let alert = Family::<AlertL, G>::default();
        r.register(
            "leakhound_alert_firing",
            "1 while an alert is firing",
            alert.clone(),
        );
        let history_errors = prometheus_client::metrics::gauge::Gauge::default();
        r.register(
            "leakhound_history_write_errors",
            "Samples and alerts that could not be written to the history database (since start; only grows)",
            history_errors.clone(),
        );
        let sites = sites::SiteMetrics::new(&mut r);
        let webhook = WebhookCounts::default();
        r.register(
            "leakhound_webhook_deliveries",
            "Alert webhook deliveries by result: delivered, failed (after retries) or dropped (queue full); since start, only grows",
            webhook.0.clone(),
        );
        Metrics {
            sites,
            history_errors,
            webhook,
            registry: r,
            heap_used,
            heap_total,
            external,
            array_buffers,
            rss,
            start_time,
            version,
            space_used,
            space_total,
            space_available,
            gc,
            lag,
            lag_stats,
            heap_limit,
            heap_floor,
            growth,
            significant,
            p_value,
            ttl,
            up,
            alert,
        }
    }

    fn t(target: &str) -> TargetL {
        TargetL {
            target: target.to_owned(),
        }
    }

    /// Records a sample.
    pub fn record(&self, target: &str, s: &Sample) {
        let t = Metrics::t(target);
        self.heap_used.get_or_create(&t).set(s.used);
        self.heap_total.get_or_create(&t).set(s.total);
        self.external.get_or_create(&t).set(s.ext);
        self.array_buffers.get_or_create(&t).set(s.ab);
        self.rss.get_or_create(&t).set(s.rss);
        self.start_time
            .get_or_create(&t)
            .set(((s.t / 1000.0 - s.up) * 1000.0).round() / 1000.0);
        let v = s.node.trim_start_matches('v');
        let mut parts = v.split('.').map(str::to_owned);
        self.version
            .get_or_create(&VersionL {
                target: target.to_owned(),
                version: s.node.clone(),
                major: parts.next().unwrap_or_default(),
                minor: parts.next().unwrap_or_default(),
                patch: parts.next().unwrap_or_default(),
            })
            .set(1.0);
        for (name, used, size, avail) in &s.spaces {
            let l = SpaceL {
                target: target.to_owned(),
                space: name.strip_suffix("_space").unwrap_or(name).to_owned(),
            };
            self.space_used.get_or_create(&l).set(*used);
            self.space_total.get_or_create(&l).set(*size);
            self.space_available.get_or_create(&l).set(*avail);
        }
        for kind in ["minor", "major", "incremental", "weakcb"] {
            let l = KindL {
                target: target.to_owned(),
                kind: kind.to_owned(),
            };
            let h = self.gc.get_or_create(&l);
            if let Some(g) = s.gc.get(kind) {
                h.add(g.sum, &g.b);
            }
        }
        self.lag.get_or_create(&t).set(s.lag);
        for (i, f) in self.lag_stats.iter().enumerate() {
            if let Some(v) = s.eld_at(i) {
                f.get_or_create(&t).set(v);
            }
        }
        self.heap_limit.get_or_create(&t).set(s.limit);
        self.heap_floor.get_or_create(&t).set(s.floor);
    }

    pub fn record_trend(&self, target: &str, trend: Option<TrendGauges>) {
        let t = Metrics::t(target);
        match trend {
            Some(tr) => {
                self.growth
                    .get_or_create(&t)
                    .set(tr.growth_bytes_per_second);
                self.significant
                    .get_or_create(&t)
                    .set(if tr.significant { 1.0 } else { 0.0 });
                self.p_value.get_or_create(&t).set(tr.p_value);
                match tr.time_to_limit_seconds {
                    Some(s) => {
                        self.ttl.get_or_create(&t).set(s);
                    }
                    None => {
                        self.ttl.remove(&t);
                    }
                }
            }
            None => {
                self.growth.remove(&t);
                self.significant.remove(&t);
                self.p_value.remove(&t);
                self.ttl.remove(&t);
            }
        }
    }

    /// Records the allocation sites of a read (top `top` only).
    pub fn record_sites(
        &self,
        target: &str,
        growing: &[GrowingSite],
        biggest: &[(SiteKey, u64)],
        top: usize,
    ) {
        self.sites.record(target, growing, biggest, top);
    }

    pub fn set_up(&self, target: &str, up: bool) {
        self.up
            .get_or_create(&Metrics::t(target))
            .set(if up { 1.0 } else { 0.0 });
    }

    pub fn set_alert(&self, target: &str, alert: &str, severity: &str, firing: bool) {
        self.alert
            .get_or_create(&AlertL {
                target: target.to_owned(),
                alertname: alert.to_owned(),
                severity: severity.to_owned(),
            })
            .set(if firing { 1.0 } else { 0.0 });
    }

    /// The text exposition (OpenMetrics text, which Prometheus also parses as its text format).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
