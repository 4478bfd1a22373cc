//! Allocation-site trends: V8's sampling heap profiler keeps running in the
//! target (live objects only); each read of its profile gives, per allocation
//! site, the sampled bytes still alive. A site is the allocating function and
//! its callers up to the first frame of the application's own code, so
//! `Buffer.from ← handleRequest` and `handleRequest`'s own objects are two
//! sites. Each site's series goes through the heap's trend statistics: one
//! minimum per window (which drops the short-lived objects a read catches
//! before the next GC), then Mann–Kendall and Theil–Sen. Pure state: no IO,
//! no clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use analysis::traces::FrameKind;
use inspector::profile::{ProfileNode, SamplingProfile};
use serde::Serialize;
use trend::Point;

/// Frames kept below the first user frame, at most (deep internals are cut).
const MAX_DEPTH: usize = 12;

/// One function of a site's stack.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct SiteFrame {
    /// `(anonymous)` for anonymous functions.
    pub function: String,
    /// The script (path, `file://` URL or `node:…`); empty for V8 built-ins.
    pub file: String,
    /// One-based line of the function's start, 0 when unknown.
    pub line: i64,
    /// One-based column of the function's start, 0 when unknown.
    pub column: i64,
}

impl SiteFrame {
    fn kind(&self) -> FrameKind {
        FrameKind::of(&self.file)
    }

    /// `handleRequest (app.js:12:20)`.
    pub fn label(&self) -> String {
        if self.file.is_empty() {
            return self.function.clone();
        }
        format!(
            "{} ({}:{}:{})",
            self.function, self.file, self.line, self.column
        )
    }
}

/// An allocation site: the allocating frame first, then its callers up to
/// and including the first frame of the application's own code (or, when
/// there is none, of a dependency; else up to [`MAX_DEPTH`] frames).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub struct SiteKey {
    pub stack: Vec<SiteFrame>,
}

impl SiteKey {
    /// The frame that names the site: the last one (the application's code
    /// when it is on the stack).
    pub fn named(&self) -> &SiteFrame {
        self.stack.last().expect("a site has at least one frame")
    }

    /// `Buffer.from ← handleRequest (app.js:12:20)`.
    pub fn label(&self) -> String {
        let named = self.named().label();
        match self.stack.first() {
            Some(leaf) if self.stack.len() > 1 => format!("{} ← {named}", leaf.function),
            _ => named,
        }
    }
}

fn frame_of(n: &ProfileNode) -> SiteFrame {
    let f = &n.call_frame;
    SiteFrame {
        function: if f.function_name.is_empty() {
            "(anonymous)".into()
        } else {
            f.function_name.clone()
        },
        file: f.url.clone(),
        line: if f.line_number >= 0 {
            f.line_number + 1
        } else {
            0
        },
        column: if f.column_number >= 0 {
            f.column_number + 1
        } else {
            0
        },
    }
}

/// The site of a node whose callers (root first, the node last) are `path`.
fn site_of(path: &[&ProfileNode]) -> SiteKey {
    let mut stack = Vec::new();
    let mut dependency_at = None;
    for n in path.iter().rev() {
        if n.call_frame.function_name == "(root)" && n.call_frame.url.is_empty() {
            break;
        }
        let f = frame_of(n);
        let kind = f.kind();
        stack.push(f);
        match kind {
            FrameKind::User => return SiteKey { stack },
            FrameKind::NodeModules if dependency_at.is_none() => dependency_at = Some(stack.len()),
            _ => {}
        }
        if stack.len() >= MAX_DEPTH {
            break;
        }
    }
    if let Some(at) = dependency_at {
        stack.truncate(at);
    }
    if stack.is_empty() {
        stack.push(SiteFrame {
            function: "(root)".into(),
            file: String::new(),
            line: 0,
            column: 0,
        });
    }
    SiteKey { stack }
}

/// Live sampled bytes per site in a profile, biggest first.
pub fn live_by_site(p: &SamplingProfile) -> Vec<(SiteKey, u64)> {
    let mut by: HashMap<SiteKey, u64> = HashMap::new();
    // Iterative depth-first walk keeping the path from the root.
    let mut path: Vec<&ProfileNode> = Vec::new();
    let mut todo: Vec<(usize, &ProfileNode)> = vec![(0, &p.head)];
    while let Some((depth, n)) = todo.pop() {
        path.truncate(depth);
        path.push(n);
        let bytes = n.self_size.max(0.0) as u64;
        if bytes > 0 {
            *by.entry(site_of(&path)).or_default() += bytes;
        }
        todo.extend(n.children.iter().map(|c| (depth + 1, c)));
    }
    let mut v: Vec<(SiteKey, u64)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.label().cmp(&b.0.label())));
    v
}

/// Settings of the allocation-site trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteSettings {
    /// One minimum of a site's live bytes per window.
    pub window: Duration,
    /// History the trend is computed over.
    pub span: Duration,
    /// Mann–Kendall significance level and fewest windows for a verdict.
    pub options: trend::Options,
    /// Slower growth is not reported (bytes per second).
    pub min_growth: f64,
    /// Sites followed at most (the biggest by live bytes are kept).
    pub max_sites: usize,
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            window: Duration::from_secs(30),
            span: Duration::from_secs(1800),
            options: trend::Options {
                alpha: 0.01,
                min_points: 8,
            },
            min_growth: 10.0 * 1024.0 / 60.0,
            max_sites: 1000,
        }
    }
}

/// A site whose live bytes grow significantly.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GrowingSite {
    /// The function that names the site (the application's own when on the stack).
    pub function: String,
    pub file: String,
    pub line: i64,
    pub column: i64,
    /// Allocating frame first, up to the named frame.
    pub stack: Vec<SiteFrame>,
    /// Estimated live bytes allocated here since sampling started (last read).
    pub live_bytes: u64,
    /// Theil–Sen slope of the site's window minima, bytes per second.
    pub growth_bytes_per_second: f64,
    /// Lower end of the slope's confidence interval.
    pub growth_lower_bytes_per_second: f64,
    /// Mann–Kendall p-value.
    pub p_value: f64,
    /// Windows the verdict is based on.
    pub points: usize,
}

impl GrowingSite {
    fn new(key: &SiteKey, live: u64, t: &trend::Trend) -> GrowingSite {
        let n = key.named();
        GrowingSite {
            function: n.function.clone(),
            file: n.file.clone(),
            line: n.line,
            column: n.column,
            stack: key.stack.clone(),
            live_bytes: live,
            growth_bytes_per_second: t.slope,
            growth_lower_bytes_per_second: t.slope_lower,
            p_value: t.mann_kendall.p_value,
            points: t.points,
        }
    }

    pub fn key(&self) -> SiteKey {
        SiteKey {
            stack: self.stack.clone(),
        }
    }
}

struct Series {
    points: VecDeque<Point>,
    last: u64,
}

/// The series of every followed site of one process.
pub struct SiteTrends {
    settings: SiteSettings,
    origin_ms: i64,
    sites: HashMap<SiteKey, Series>,
    reads: usize,
    /// Major GCs counted by the target at the last read.
    major_gcs: Option<u64>,
    /// Times of the first read after each major GC, within the span.
    after_gc: VecDeque<f64>,
}

impl SiteTrends {
    pub fn new(settings: SiteSettings, origin_ms: i64) -> SiteTrends {
        SiteTrends {
            settings,
            origin_ms,
            sites: HashMap::new(),
            reads: 0,
            major_gcs: None,
            after_gc: VecDeque::new(),
        }
    }

    /// Forgets everything (a new process, or sampling started again: live
    /// bytes count only objects allocated since sampling started).
    pub fn reset(&mut self, origin_ms: i64) {
        self.sites.clear();
        self.origin_ms = origin_ms;
        self.reads = 0;
        self.major_gcs = None;
        self.after_gc.clear();
    }

    /// Major GCs seen between reads within the span.
    pub fn full_gcs(&self) -> usize {
        self.after_gc.len()
    }

    pub fn reads(&self) -> usize {
        self.reads
    }

    /// Records one read: sites it does not list had no live sampled bytes.
    /// `major_gcs` is the target's count of major (mark-compact) GCs so far.
    pub fn record(&mut self, at_ms: i64, live: &[(SiteKey, u64)], major_gcs: u64) {
        self.reads += 1;
        let t = (at_ms - self.origin_ms) as f64 / 1000.0;
        if self.major_gcs.is_some_and(|m| major_gcs > m) {
            self.after_gc.push_back(t);
        }
        self.major_gcs = Some(major_gcs);
        let mut seen: HashMap<&SiteKey, u64> = HashMap::with_capacity(live.len());
        for (k, b) in live {
            seen.insert(k, *b);
        }
        for (k, s) in self.sites.iter_mut() {
            let v = seen.remove(k).unwrap_or(0);
            s.points.push_back(Point::new(t, v as f64));
            s.last = v;
        }
        // New sites start their series now (no made-up zeros before).
        for (k, v) in seen {
            let mut points = VecDeque::new();
            points.push_back(Point::new(t, v as f64));
            self.sites.insert(k.clone(), Series { points, last: v });
        }
        let oldest = t - self.settings.span.as_secs_f64();
        while self.after_gc.front().is_some_and(|&g| g < oldest) {
            self.after_gc.pop_front();
        }
        self.sites.retain(|_, s| {
            while s.points.front().is_some_and(|p| p.t < oldest) {
                s.points.pop_front();
            }
            s.points.iter().any(|p| p.v > 0.0)
        });
        self.cap();
    }

    /// Keeps the `max_sites` biggest sites (by their largest value in the span).
    fn cap(&mut self) {
        let max = self.settings.max_sites.max(1);
        if self.sites.len() <= max {
            return;
        }
        let mut peaks: Vec<f64> = self
            .sites
            .values()
            .map(|s| s.points.iter().fold(0.0f64, |m, p| m.max(p.v)))
            .collect();
        peaks.sort_by(|a, b| b.total_cmp(a));
        let cut = peaks[max - 1];
        let mut kept = 0usize;
        self.sites.retain(|_, s| {
            let peak = s.points.iter().fold(0.0f64, |m, p| m.max(p.v));
            let keep = peak > cut || (peak == cut && kept < max);
            kept += keep as usize;
            keep
        });
    }

    fn minima(&self, s: &Series) -> Vec<Point> {
        let pts: Vec<Point> = s.points.iter().copied().collect();
        trend::window_minima(&pts, self.settings.window.as_secs_f64())
    }

    /// Whether the site's growth outlived major GCs: between the first and
    /// the last read that followed a major GC (a window apart at least), its
    /// live bytes rose by half the slope at least. Objects that died in the
    /// old generation stay in the profile until a major GC frees them, so
    /// a cache that churns looks like a leak until then.
    fn survives_gc(&self, s: &Series, slope: f64) -> bool {
        let first_t = s.points.front().map_or(f64::INFINITY, |p| p.t);
        let mut marks = self.after_gc.iter().filter(|&&g| g >= first_t);
        let (Some(&a), Some(&b)) = (marks.next(), marks.next_back()) else {
            return false;
        };
        if b - a < self.settings.window.as_secs_f64() {
            return false;
        }
        let at = |t: f64| s.points.iter().find(|p| p.t >= t).map_or(0.0, |p| p.v);
        at(b) - at(a) >= 0.5 * slope * (b - a)
    }

    /// Sites that grow: significant upwards (Mann–Kendall at `alpha` divided
    /// by the number of sites tested), the slope's confidence interval
    /// above zero, the slope at least `min_growth`, and the growth outlived
    /// major GCs. Sites without any script on their stack (`(V8 API)`,
    /// `(EXTERNAL)`, `(BYTECODE_COMPILER)`: native allocations, V8's own
    /// code and feedback, the inspector's objects) are never reported: they
    /// name no code, and what the application keeps through them shows at
    /// the site of its own code too. Sites named by the application's code first, then by a
    /// dependency, then the rest (native allocations such as `(EXTERNAL)`
    /// have no JavaScript stack and follow from the code above them);
    /// fastest first within each.
    pub fn growing(&self) -> Vec<GrowingSite> {
        let candidates: Vec<(&SiteKey, &Series, Vec<Point>)> = self
            .sites
            .iter()
            .filter(|(k, _)| k.stack.iter().any(|f| !f.file.is_empty()))
            .map(|(k, s)| (k, s, self.minima(s)))
            .filter(|(_, _, m)| m.len() >= self.settings.options.min_points)
            .collect();
        // Many sites are tested at once: Bonferroni's correction keeps the
        // chance of naming any site by accident at `alpha`.
        let options = trend::Options {
            alpha: self.settings.options.alpha / candidates.len().max(1) as f64,
            ..self.settings.options
        };
        let mut out: Vec<GrowingSite> = candidates
            .into_iter()
            .filter_map(|(k, s, minima)| {
                let t = trend::analyze(&minima, &options).ok()?;
                let grows = t.growing()
                    && t.slope_lower > 0.0
                    && t.slope >= self.settings.min_growth
                    && self.survives_gc(s, t.slope);
                grows.then(|| GrowingSite::new(k, s.last, &t))
            })
            .collect();
        let rank = |g: &GrowingSite| match FrameKind::of(&g.file) {
            FrameKind::User => 0,
            FrameKind::NodeModules => 1,
            FrameKind::Node => 2,
        };
        out.sort_by(|a, b| {
            rank(a).cmp(&rank(b)).then_with(|| {
                b.growth_bytes_per_second
                    .total_cmp(&a.growth_bytes_per_second)
                    .then_with(|| a.function.cmp(&b.function))
            })
        });
        out
    }

    /// The `n` sites with the most live bytes at the last read.
    pub fn biggest(&self, n: usize) -> Vec<(SiteKey, u64)> {
        let mut v: Vec<(SiteKey, u64)> = self
            .sites
            .iter()
            .filter(|(_, s)| s.last > 0)
            .map(|(k, s)| (k.clone(), s.last))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.label().cmp(&b.0.label())));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests;
