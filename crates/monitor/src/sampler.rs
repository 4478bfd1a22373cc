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
use crate::store::{AlertRow, Row, WriterHandle};
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
}

fn metric_value(m: Metric, s: &Sample, tr: Option<&trend::Trend>, gc_ratio: f64) -> Option<f64> {
    match m {
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
        let metrics = &self.ctx.shared.metrics;
        metrics.record(&self.def.name, &s);
        self.floors.push(now, s.floor);
        let tr = self.floors.trend();
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
        let transitions = self
            .evaluator
            .evaluate(now, |m| metric_value(m, &s, tr.as_ref(), gc_ratio));
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

    async fn went_down(&mut self, error: String) {
        self.ctx.shared.metrics.set_up(&self.def.name, false);
        let transitions = self.evaluator.resolve_all(now_ms());
        self.apply(transitions, None).await;
        self.status(|st| {
            st.up = false;
            st.error = Some(error);
        });
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
        let mut ticker = tokio::time::interval(def.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u32;
        let reason = loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => {
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
