//! One task per target: connect, install the probe, sample every interval,
//! feed the trend, metrics, history and alerts; reconnect with backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use inspector::target::{ProcessInfo, ResolveOptions, TargetSpec, resolve};
use tokio::sync::watch;
use trend::Point;

use crate::alerts::{Evaluator, Rule, Status, Transition};
use crate::config::Metric;
use crate::error::{Error, Result};
use crate::metrics::TrendGauges;
use crate::probe::{self, Sample};
use crate::sites::{self, GrowingSite, SiteSettings, SiteTrends};
use crate::store::{AlertRow, Row, SiteRead, SiteRow, WriterHandle};
use crate::time::{now_ms, rfc3339};
use crate::{Shared, TargetStatus};

/// How to find a target's inspector.
#[derive(Debug, Clone)]
pub enum Source {
    /// By WebSocket URL, port or PID; resolved again after each disconnect.
    Spec {
        spec: TargetSpec,
        opts: ResolveOptions,
    },
    /// The node process whose command line contains this text (found again after a restart).
    Match { text: String, opts: ResolveOptions },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Spec { spec, .. } => write!(f, "{spec}"),
            Source::Match { text, .. } => write!(f, "the node process matching {text:?}"),
        }
    }
}

/// A node process (not us) whose command line contains `text`; the newest if several.
pub fn find_by_cmdline(text: &str) -> Option<u32> {
    let me = std::process::id();
    let mut best: Option<(u64, u32)> = None;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(info) = ProcessInfo::read(pid) else {
            continue;
        };
        if !info.is_node() || !info.cmdline.join(" ").contains(text) {
            continue;
        }
        // Field 22 of /proc/PID/stat: start time in clock ticks.
        let start = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1;
                rest.split_whitespace().nth(19)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        if best.is_none_or(|(s, _)| start > s) {
            best = Some((start, pid));
        }
    }
    best.map(|(_, p)| p)
}

impl Source {
    async fn resolve(&self) -> Result<String> {
        match self {
            Source::Spec { spec, opts } => Ok(resolve(spec, *opts).await?),
            Source::Match { text, opts } => {
                let pid = find_by_cmdline(text).ok_or_else(|| Error::Probe {
                    target: text.clone(),
                    message: "no running node process matches".into(),
                })?;
                Ok(resolve(&TargetSpec::Pid(pid), *opts).await?)
            }
        }
    }
}

/// A target to watch.
#[derive(Debug, Clone)]
pub struct TargetDef {
    pub name: String,
    pub source: Source,
    pub interval: Duration,
}

/// Trend settings.
#[derive(Debug, Clone, Copy)]
pub struct TrendSettings {
    pub window: Duration,
    pub span: Duration,
    pub options: trend::Options,
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings {
            window: Duration::from_secs(60),
            span: Duration::from_secs(1800),
            options: trend::Options::default(),
        }
    }
}

/// The allocation-site trend (`None` in [`Ctx`]: off).
#[derive(Debug, Clone)]
pub struct AllocationSettings {
    /// Time between reads of the sampling profile.
    pub read_every: Duration,
    /// Average bytes between samples (V8's `samplingInterval`).
    pub sampling_interval: u64,
    pub sites: SiteSettings,
    /// Sites on /metrics per target.
    pub top: usize,
    /// Write the profile here as gzipped pprof every `profile_every`.
    pub profile_dir: Option<std::path::PathBuf>,
    pub profile_every: Duration,
}

impl Default for AllocationSettings {
    fn default() -> Self {
        AllocationSettings {
            read_every: Duration::from_secs(10),
            // 8 times V8's default: an Express app under autocannon lost
            // 8% of its throughput at 32 KiB, nothing measurable at 256 KiB
            // (bench/alloc-overhead.sh).
            sampling_interval: 256 * 1024,
            sites: SiteSettings::default(),
            top: 10,
            profile_dir: None,
            profile_every: Duration::from_secs(300),
        }
    }
}

/// Sites kept in the history per read besides the growing ones.
const HISTORY_SITES: usize = 20;

/// Post-GC floors of one process, and the trend over them.
struct Floors {
    settings: TrendSettings,
    points: VecDeque<Point>,
    origin_ms: i64,
}

impl Floors {
    fn new(settings: TrendSettings) -> Floors {
        Floors {
            settings,
            points: VecDeque::new(),
            origin_ms: now_ms(),
        }
    }

    fn clear(&mut self) {
        self.points.clear();
    }

    fn push(&mut self, at_ms: i64, floor: f64) {
        let t = (at_ms - self.origin_ms) as f64 / 1000.0;
        self.points.push_back(Point::new(t, floor));
        let oldest = t - self.settings.span.as_secs_f64();
        while self.points.front().is_some_and(|p| p.t < oldest) {
            self.points.pop_front();
        }
    }

    fn trend(&mut self) -> Option<trend::Trend> {
        let pts = self.points.make_contiguous();
        let minima = trend::window_minima(pts, self.settings.window.as_secs_f64());
        trend::analyze(&minima, &self.settings.options).ok()
    }
}

pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub rules: Vec<Rule>,
    pub actions: Arc<crate::actions::Actions>,
    pub history: Option<WriterHandle>,
    pub trend: TrendSettings,
    pub allocation: Option<AllocationSettings>,
}

/// What the rules see besides the sample itself.
struct Derived<'a> {
    trend: Option<&'a trend::Trend>,
    gc_ratio: f64,
    /// Fastest growing allocation site in MB/min (0: none grows); `None`
    /// while the allocation-site trend is off or has no verdict yet.
    site_growth: Option<f64>,
}

fn metric_value(m: Metric, s: &Sample, d: &Derived) -> Option<f64> {
    let (tr, gc_ratio) = (d.trend, d.gc_ratio);
    match m {
        Metric::AllocationSiteGrowth => d.site_growth,
        Metric::HeapUsedRatio => (s.limit > 0.0).then(|| s.used / s.limit),
        Metric::HeapUsedBytes => Some(s.used),
        Metric::RssBytes => Some(s.rss),
        Metric::ExternalBytes => Some(s.ext),
        Metric::HeapGrowthMbPerMin => tr.map(|t| if t.growing() { t.mb_per_min() } else { 0.0 }),
        Metric::TimeToLimitMinutes => {
            tr.map(|t| t.time_to_limit(s.limit).map_or(f64::INFINITY, |x| x / 60.0))
        }
        Metric::EventloopP99Ms => s.eld_p99().map(|x| x * 1000.0),
        Metric::EventloopLagMs => Some(s.lag * 1000.0),
        Metric::GcTimeRatio => Some(gc_ratio),
    }
}

struct Run<'a> {
    def: &'a TargetDef,
    ctx: &'a Ctx,
    evaluator: Evaluator,
    floors: Floors,
    pid: Option<u32>,
    last_sample_ms: Option<i64>,
    sites: Option<SiteTrends>,
    growing: Vec<GrowingSite>,
    /// Major GCs the target counted since we watch it.
    major_gcs: u64,
    /// Whether the heap's post-GC floor grew significantly at the last sample.
    heap_growing: bool,
    /// When the sampling profiler was started in the current session.
    sampling_started: Option<std::time::SystemTime>,
    /// When a profile was last written to `profile_dir`.
    profile_written: Option<std::time::Instant>,
}

impl Run<'_> {
    fn status(&self, f: impl FnOnce(&mut TargetStatus)) {
        let mut map = self.ctx.shared.status.lock().expect("status lock");
        let st = map.entry(self.def.name.clone()).or_default();
        f(st);
        st.firing = self
            .evaluator
            .firing()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
    }

    async fn apply(&mut self, transitions: Vec<Transition>, session: Option<&inspector::Session>) {
        for t in transitions {
            self.ctx.shared.metrics.set_alert(
                &t.target,
                &t.rule,
                &t.severity,
                t.status == Status::Firing,
            );
            if let Some(h) = &self.ctx.history {
                h.alert(AlertRow {
                    target: t.target.clone(),
                    ts_ms: t.ends_at_ms.unwrap_or(t.starts_at_ms),
                    alert: t.rule.clone(),
                    status: t.status.as_str().into(),
                    value: t.value,
                });
            }
            self.ctx.actions.run(&t, self.pid, session).await;
        }
    }

    async fn on_sample(&mut self, s: Sample, session: &inspector::Session) {
        let now = now_ms();
        if self.pid != Some(s.pid) {
            if self.pid.is_some() {
                tracing::info!("{}: now process {} (restarted)", self.def.name, s.pid);
            }
            self.floors.clear();
            self.pid = Some(s.pid);
        }
        let elapsed = self
            .last_sample_ms
            .map(|l| (now - l) as f64 / 1000.0)
            .unwrap_or(0.0);
        self.last_sample_ms = Some(now);
        let gc_ratio = if elapsed > 0.0 {
            s.gc_seconds() / elapsed
        } else {
            0.0
        };
        self.major_gcs += s.gc.get("major").map_or(0, |g| g.n);
        let metrics = &self.ctx.shared.metrics;
        metrics.record(&self.def.name, &s);
        self.floors.push(now, s.floor);
        let tr = self.floors.trend();
        self.heap_growing = tr.is_some_and(|t| t.growing());
        let gauges = tr.map(|t| TrendGauges {
            growth_bytes_per_second: t.slope,
            significant: t.significant,
            p_value: t.mann_kendall.p_value,
            time_to_limit_seconds: t.time_to_limit(s.limit),
        });
        metrics.record_trend(&self.def.name, gauges);
        if let Some(h) = &self.ctx.history {
            h.sample(Row {
                target: self.def.name.clone(),
                ts_ms: now,
                pid: s.pid,
                heap_used: s.used,
                heap_total: s.total,
                heap_limit: s.limit,
                heap_floor: s.floor,
                external: s.ext,
                rss: s.rss,
                gc_count: s.gc_count(),
                gc_seconds: s.gc_seconds(),
                major_gc_count: s.gc.get("major").map(|g| g.n).unwrap_or(0),
                eventloop_p50_ms: s.eld_at(3).map(|x| x * 1000.0),
                eventloop_p99_ms: s.eld_p99().map(|x| x * 1000.0),
                eventloop_max_ms: s.eld_at(6).map(|x| x * 1000.0),
                lag_ms: s.lag * 1000.0,
                growth_bytes_per_second: tr.map(|t| t.slope),
                trend_significant: tr.map(|t| t.significant),
                trend_p_value: tr.map(|t| t.mann_kendall.p_value),
                time_to_limit_seconds: tr.and_then(|t| t.time_to_limit(s.limit)),
            });
        }
        let derived = Derived {
            trend: tr.as_ref(),
            gc_ratio,
            site_growth: self.site_growth(),
        };
        let mut transitions = self
            .evaluator
            .evaluate(now, |m| metric_value(m, &s, &derived));
        self.name_growing_site(&mut transitions);
        self.apply(transitions, Some(session)).await;
        self.status(|st| {
            st.up = true;
            st.pid = Some(s.pid);
            st.error = None;
            st.last_sample = Some(rfc3339(now));
            st.heap_used_bytes = Some(s.used);
            st.heap_limit_bytes = Some(s.limit);
            st.growth_mb_per_min = tr.map(|t| t.mb_per_min());
            st.trend_significant = tr.map(|t| t.significant);
            st.time_to_limit_seconds = tr.and_then(|t| t.time_to_limit(s.limit));
        });
    }

    /// MB/min of the fastest growing site; `None` before the first verdict.
    fn site_growth(&self) -> Option<f64> {
        let st = self.sites.as_ref()?;
        let settings = self.ctx.allocation.as_ref()?;
        let windows =
            settings.sites.window.as_secs_f64() * settings.sites.options.min_points as f64;
        let enough = st.reads() as f64 * settings.read_every.as_secs_f64() >= windows;
        enough.then(|| {
            self.growing.first().map_or(0.0, |g| {
                g.growth_bytes_per_second * 60.0 / (1024.0 * 1024.0)
            })
        })
    }

    /// An alert on allocation-site growth says which site grows.
    fn name_growing_site(&self, transitions: &mut [Transition]) {
        let Some(g) = self.growing.first() else {
            return;
        };
        for t in transitions.iter_mut() {
            if t.metric == Metric::AllocationSiteGrowth && t.status == Status::Firing {
                t.summary = format!(
                    "{}: {} grows {}/min",
                    t.summary,
                    g.key().label(),
                    human_bytes(g.growth_bytes_per_second * 60.0)
                );
            }
        }
    }

    /// Keeps the read for `/debug/pprof/heap` and writes it to `profile_dir` when due.
    fn keep_profile(
        &mut self,
        p: inspector::profile::SamplingProfile,
        settings: &AllocationSettings,
    ) {
        let latest = Arc::new(crate::LatestProfile {
            profile: p,
            interval: settings.sampling_interval,
            started: self
                .sampling_started
                .unwrap_or_else(std::time::SystemTime::now),
            taken: std::time::SystemTime::now(),
        });
        let mut profiles = self.ctx.shared.profiles.lock().expect("profiles lock");
        profiles.insert(self.def.name.clone(), latest.clone());
        drop(profiles);
        let Some(dir) = settings.profile_dir.clone() else {
            return;
        };
        if self
            .profile_written
            .is_some_and(|t| t.elapsed() < settings.profile_every)
        {
            return;
        }
        self.profile_written = Some(std::time::Instant::now());
        let name = self.def.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::profiles::write(&dir, &name, &latest) {
                tracing::warn!("{name}: {e}");
            }
        });
    }

    /// A read of the sampling profile: feed the site trends, metrics, history, status.
    fn on_profile(&mut self, p: inspector::profile::SamplingProfile, pid: Option<u32>) {
        let Some(settings) = self.ctx.allocation.clone() else {
            return;
        };
        let live = sites::live_by_site(&p);
        self.keep_profile(p, &settings);
        let Some(st) = self.sites.as_mut() else {
            return;
        };
        let now = now_ms();
        st.record(now, &live, self.major_gcs);
        // Sampling sees only objects allocated since it started, so every
        // bounded structure whose objects get replaced (a pool, a cache with
        // a TTL) fills up in the profile once: growth that does not grow the
        // heap is turnover, not a leak.
        self.growing = if self.heap_growing {
            st.growing()
        } else {
            Vec::new()
        };
        let biggest = st.biggest(HISTORY_SITES.max(settings.top));
        self.ctx
            .shared
            .metrics
            .record_sites(&self.def.name, &self.growing, &biggest, settings.top);
        if let Some(h) = &self.ctx.history {
            h.sites(site_read(
                &self.def.name,
                now,
                pid.unwrap_or(0),
                &self.growing,
                &biggest,
            ));
        }
        let growing = self.growing.clone();
        let full_gcs = st.full_gcs();
        self.status(|st| {
            st.allocation_sites = Some(growing);
            st.allocation_full_gcs = Some(full_gcs);
        });
    }

    async fn went_down(&mut self, error: String) {
        self.ctx
            .shared
            .profiles
            .lock()
            .expect("profiles lock")
            .remove(&self.def.name);
        self.ctx.shared.metrics.set_up(&self.def.name, false);
        let transitions = self.evaluator.resolve_all(now_ms());
        self.apply(transitions, None).await;
        self.status(|st| {
            st.up = false;
            st.error = Some(error);
        });
    }
}

fn human_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// The history rows of a read: the growing sites, then the biggest others.
fn site_read(
    target: &str,
    ts_ms: i64,
    pid: u32,
    growing: &[GrowingSite],
    biggest: &[(sites::SiteKey, u64)],
) -> SiteRead {
    let mut rows: Vec<SiteRow> = growing
        .iter()
        .map(|g| SiteRow {
            stack: g.stack.clone(),
            live_bytes: g.live_bytes,
            growth_bytes_per_second: Some(g.growth_bytes_per_second),
            p_value: Some(g.p_value),
        })
        .collect();
    for (k, b) in biggest.iter().take(HISTORY_SITES) {
        if !rows.iter().any(|r| r.stack == k.stack) {
            rows.push(SiteRow {
                stack: k.stack.clone(),
                live_bytes: *b,
                growth_bytes_per_second: None,
                p_value: None,
            });
        }
    }
    SiteRead {
        target: target.to_owned(),
        ts_ms,
        pid,
        sites: rows,
    }
}

/// Starts the sampling heap profiler in a new session when the allocation-site
/// trend is on; says why when it cannot (the heap samples go on).
async fn start_sites(run: &mut Run<'_>, session: &inspector::Session, timeout: Duration) {
    let Some(settings) = run.ctx.allocation.as_ref() else {
        return;
    };
    let started = tokio::time::timeout(
        timeout,
        inspector::profile::start_sampling(session, settings.sampling_interval),
    )
    .await;
    match started {
        Ok(Ok(())) => {
            // Live bytes count objects allocated since sampling started.
            let trends = run
                .sites
                .get_or_insert_with(|| SiteTrends::new(settings.sites, now_ms()));
            trends.reset(now_ms());
            run.growing.clear();
            run.sampling_started = Some(std::time::SystemTime::now());
        }
        Ok(Err(e)) => tracing::warn!("{}: no allocation-site trend: {e}", run.def.name),
        Err(_) => tracing::warn!(
            "{}: no allocation-site trend: the profiler did not start",
            run.def.name
        ),
    }
}

/// Reads the running sampling profile (bounded by `timeout`).
async fn read_sites(run: &mut Run<'_>, session: &inspector::Session, timeout: Duration) {
    match tokio::time::timeout(timeout, inspector::profile::read_sampling(session)).await {
        Ok(Ok(p)) => {
            let pid = run.pid;
            run.on_profile(p, pid)
        }
        Ok(Err(e)) => tracing::debug!("{}: reading the allocation profile: {e}", run.def.name),
        Err(_) => tracing::debug!("{}: reading the allocation profile timed out", run.def.name),
    }
}

/// A ticker that never ticks when `every` is `None`.
async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Samples one target until `shutdown` turns true.
pub(crate) async fn run_target(def: TargetDef, ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    let mut run = Run {
        def: &def,
        ctx: &ctx,
        evaluator: Evaluator::new(&def.name, &ctx.rules),
        floors: Floors::new(ctx.trend),
        pid: None,
        last_sample_ms: None,
        sites: None,
        growing: Vec::new(),
        major_gcs: 0,
        heap_growing: false,
        sampling_started: None,
        profile_written: None,
    };
    run.ctx.shared.metrics.set_up(&def.name, false);
    run.status(|st| st.error = Some("connecting".into()));
    let timeout = def.interval.max(Duration::from_secs(5));
    let mut backoff = Duration::from_millis(500);
    let mut was_up = true;
    let mut failed_connects = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connected = async {
            let ws = def.source.resolve().await?;
            let session = inspector::Session::connect(&ws).await?;
            if let Err(e) = probe::install(&session, timeout).await {
                session.close().await;
                return Err(e);
            }
            Ok::<_, Error>((ws, session))
        };
        let (ws, session) = tokio::select! {
            r = connected => match r {
                Ok(x) => x,
                Err(e) => {
                    let msg = e.to_string();
                    failed_connects += 1;
                    // A process just started may not be ready for the probe: say
                    // so only when it fails twice.
                    if was_up && failed_connects >= 2 {
                        tracing::warn!("{}: {}", def.name, msg.lines().next().unwrap_or(""));
                        was_up = false;
                    } else {
                        tracing::debug!("{}: {msg}", def.name);
                    }
                    run.went_down(msg).await;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        match &def.source {
            Source::Spec {
                spec: TargetSpec::WebSocket(_),
                ..
            } => tracing::info!("{}: watching {ws}", def.name),
            other => tracing::info!("{}: watching {other} ({ws})", def.name),
        }
        failed_connects = 0;
        backoff = Duration::from_millis(500);
        run.ctx.shared.metrics.set_up(&def.name, true);
        start_sites(&mut run, &session, timeout).await;
        let mut ticker = tokio::time::interval(def.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut site_ticker = run.sites.as_ref().and(ctx.allocation.as_ref()).map(|a| {
            let mut t =
                tokio::time::interval_at(tokio::time::Instant::now() + a.read_every, a.read_every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut failures = 0u32;
        let reason = loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tick(&mut site_ticker) => {
                    read_sites(&mut run, &session, timeout).await;
                    continue;
                }
                _ = shutdown.changed() => {
                    if site_ticker.is_some() {
                        let stop = inspector::profile::stop_sampling(&session);
                        let _ = tokio::time::timeout(Duration::from_secs(2), stop).await;
                    }
                    let _ = probe::uninstall(&session, Duration::from_secs(2)).await;
                    session.close().await;
                    return;
                }
            }
            match probe::sample(&session, timeout).await {
                Ok(s) => {
                    failures = 0;
                    run.on_sample(s, &session).await;
                }
                Err(e) => {
                    failures += 1;
                    if session.is_closed() || failures >= 3 {
                        break e.to_string();
                    }
                    tracing::debug!("{}: sample failed: {e}", def.name);
                }
            }
        };
        session.close().await;
        tracing::warn!("{}: lost ({reason}); reconnecting", def.name);
        was_up = false;
        run.went_down(reason).await;
    }
}
