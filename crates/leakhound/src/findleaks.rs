//! `leakhound find-leaks` and `leakhound diff`: comparing snapshots of one process.

use std::path::{Path, PathBuf};

use analysis::Analysis;
use anyhow::Result;
use heapsnap::{HeapGraph, NodeIdx};
use leaks::{Options, Pattern, Snap};
use serde::Serialize;

use crate::describe::{Describer, NodeInfo, RetainerPath, SourceLocation};
use crate::progress::Progress;
use crate::{SCHEMA_VERSION, analyze, fmt, output};

/// How to read a leak report (`--help` of hunt and find-leaks; README says the same).
pub const READING_HELP: &str = "\
Reading a leak report:
  what:     one of the leaked objects, and where it was made (a function's or class's source)
  held by:  the object that holds the leak and grows, named as the code names it
            (configBus._events.reload, createDebug.instances, SessionCache.data), the file it
            lives in, its size in each snapshot and its growth per request
  path:     how it is reached, from the nearest named thing: `file: variable` (a module's
            top-level variable), `globalThis.x`, `file: fn.prop` (a property of a named function
            or class), `file: module.exports`. Then, in code notation: `.prop`, `[3]` (an array
            element), `.get(\"key\")` (a Map entry), `captures x` (a variable a closure keeps),
            `(bound this)`, and `(…) ×N` for N repeats (a linked list). Classes are in parentheses.
  code:     functions and classes that make or store the leaked objects
  gc root:  with --full-path, the shortest path from a GC root as DevTools' Retainers view shows it

A leak is reported only when its holder grows in every load phase, alike per request (a cache
that fills up to a bound, or entries that expire, do not), by at least --min-growth per request.";

/// Parses sizes like `256KiB`, `1MB`, `1.5GiB`, or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (try 512KiB or 10MB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    Ok((v * mult) as u64)
}

#[derive(clap::Args, Debug, Clone)]
pub struct LeakThresholds {
    /// Report a leak only when a cluster retains at least this much (default: 256KiB for
    /// find-leaks, where the load between snapshots is unknown; none for hunt, which judges
    /// growth per request)
    #[arg(long, value_parser = parse_size)]
    pub min_leak: Option<u64>,
    /// hunt: report a leak only when it grows by at least this much per request, alike in
    /// every load phase
    #[arg(long, value_parser = parse_size, default_value = "100B")]
    pub min_growth: u64,
    /// Report a leak only when a cluster has at least this many leaked objects
    #[arg(long, default_value_t = 1)]
    pub min_objects: usize,
    /// How many clusters to show
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Show the full retainer path from the GC root (as DevTools' Retainers view) besides the
    /// readable one
    #[arg(long)]
    pub full_path: bool,
}

impl LeakThresholds {
    /// Options for snapshots with `load` (requests) between consecutive ones; empty when unknown.
    pub fn options(&self, load: &[f64]) -> Options {
        let default_leak = if load.is_empty() { 256 * 1024 } else { 0 };
        let min_leak = self.min_leak.unwrap_or(default_leak);
        Options {
            min_cluster_bytes: min_leak,
            min_cluster_count: self.min_objects,
            min_growth_bytes: self.min_leak.unwrap_or(256 * 1024),
            load: load.to_vec(),
            min_growth_per_unit: self.min_growth as f64,
            max_results: self.top.max(1),
            ..Options::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct FindLeaksArgs {
    /// Snapshots of one process, oldest first: BASE TARGET FINAL [MORE…] (with --by-path: two
    /// or more snapshots of any processes of one program)
    #[arg(required = true, num_args = 2.., value_name = "SNAPSHOT")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub thresholds: LeakThresholds,
    /// Match objects by normalised retainer path instead of object id: for snapshots of
    /// different processes of one program (two pods, before and after a restart, snapshots
    /// with the heap profiler off in between); reports the paths whose retained size grew
    #[arg(long)]
    pub by_path: bool,
    /// With --by-path: report a path only when it grew by at least this share of its size in
    /// the first snapshot (0.2 = 20%), besides --min-leak
    #[arg(long, default_value_t = crate::bypath::DEFAULT_MIN_RATIO, value_parser = crate::bypath::parse_ratio, requires = "by_path")]
    pub min_ratio: f64,
    /// Print the versioned JSON report
    #[arg(long)]
    pub json: bool,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html", conflicts_with = "by_path")]
    pub html: Option<PathBuf>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SnapshotRef {
    pub file: String,
    pub node_count: usize,
    pub total_size: u64,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct CodeRef {
    pub function: String,
    pub location: SourceLocation,
}

/// Where a readable path starts.
#[derive(Serialize, schemars::JsonSchema)]
pub struct AnchorReport {
    pub kind: leaks::AnchorKind,
    /// `cache` (a module variable), `globalThis.log`, `createDebug` (a function whose
    /// property holds the leak), `module.exports`; a GC root's class when none is on the path.
    pub name: String,
    /// The script the anchor lives in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// One step of a readable path: how the code reaches the object, and its class.
#[derive(Serialize, schemars::JsonSchema, Clone, PartialEq)]
pub struct ReadableHop {
    /// `.data`, `[3]`, `.get("k1")`, `captures req`; empty for V8-internal links.
    pub access: String,
    pub class: String,
    pub id: u32,
}

/// A run of hops; `repeat` > 1 folds a linked list or a chain (`(.next Listener) ×300`).
#[derive(Serialize, schemars::JsonSchema)]
pub struct ReadableSegment {
    pub hops: Vec<ReadableHop>,
    pub repeat: usize,
}

/// The retainer path as a person would describe it: from the nearest meaningful anchor
/// (module variable, global, static, exports) to the leaked object, repeats folded.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ReadablePath {
    pub anchor: AnchorReport,
    /// `leak-cache.js: responseCache (Map) → .get("k1") {key, body, headers}`.
    pub text: String,
    pub segments: Vec<ReadableSegment>,
}

/// The object that holds a leak, named as code names it.
#[derive(Serialize, schemars::JsonSchema)]
pub struct HolderReport {
    /// `configBus._events.reload`, `createDebug.instances`, `SessionCache.data`.
    pub name: String,
    /// The script where it lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub class: String,
    /// Bytes it grew per request (hunt) or per interval between snapshots (find-leaks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_per_request: Option<f64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ClusterReport {
    pub rank: usize,
    pub pattern: Pattern,
    pub title: &'static str,
    pub advice: &'static str,
    /// Leaked objects: leak roots and the objects of their class they chain (every listener
    /// of a linked list).
    pub leaked_objects: usize,
    /// Objects no other leaked object dominates (memlab's leak roots).
    pub leak_roots: usize,
    pub retained_size: u64,
    pub self_size: u64,
    pub signature: String,
    /// The readable path: from the nearest named anchor to the leaked object.
    pub path: ReadablePath,
    /// The full shortest path from a GC root, as DevTools' Retainers view shows it.
    pub retainer_path: RetainerPath,
    pub representative: NodeInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HolderReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<NodeInfo>,
    /// Retained size of the holder in each snapshot (null where it did not exist).
    pub holder_sizes: Vec<Option<u64>>,
    pub code: Vec<CodeRef>,
    pub examples: Vec<NodeInfo>,
    /// Where the leaked objects were allocated, when the snapshots carry
    /// allocation traces (`hunt --alloc-stacks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_stack: Option<crate::allocstack::AllocationStack>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct GrowingReport {
    pub object: NodeInfo,
    /// The object named as code names it (`sessions`, `NodeCache.data`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub pattern: Pattern,
    pub title: &'static str,
    pub advice: &'static str,
    pub sizes: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_per_request: Option<f64>,
    pub path: ReadablePath,
    pub retainer_path: RetainerPath,
    pub code: Vec<CodeRef>,
    /// Whether this object holds a leak cluster or lies on its path (shown with it).
    pub holds_cluster: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct LeakReport {
    pub schema_version: u32,
    #[schemars(extend("const" = "find-leaks"))]
    pub kind: &'static str,
    pub snapshots: Vec<SnapshotRef>,
    pub leak_found: bool,
    /// Objects allocated after the base snapshot and alive in every later one.
    pub new_surviving_objects: usize,
    pub new_surviving_bytes: u64,
    pub clusters: Vec<ClusterReport>,
    pub ignored_clusters: usize,
    /// Ignored clusters whose holder grew, but not alike in every phase (weak evidence).
    pub uneven_clusters: usize,
    pub growing_objects: Vec<GrowingReport>,
}

/// Parses and analyses several snapshots, two at a time.
pub fn load_all(files: &[PathBuf], progress: &Progress) -> Result<Vec<(HeapGraph, Analysis)>> {
    let mut out = Vec::with_capacity(files.len());
    for pair in files.chunks(2) {
        let results: Vec<Result<(HeapGraph, Analysis)>> = std::thread::scope(|s| {
            let handles: Vec<_> = pair
                .iter()
                .map(|f| s.spawn(move || analyze::load_and_analyze(f, progress)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("analysis thread panicked")))
                })
                .collect()
        });
        for r in results {
            out.push(r?);
        }
    }
    Ok(out)
}

/// Parses snapshots and classifies their objects (shallow sizes, class
/// names: what the Comparison view needs, no dominator tree), two at a time.
fn load_classified(
    files: &[PathBuf],
    progress: &Progress,
) -> Result<Vec<(HeapGraph, analysis::Classified)>> {
    let results: Vec<Result<(HeapGraph, analysis::Classified)>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| {
                s.spawn(move || {
                    let mut timings = crate::progress::Timings::start();
                    let graph = crate::load::load_snapshot(f, progress)?;
                    timings.lap("parsing");
                    let classified = analysis::Classified::run(&graph);
                    timings.lap("shallow sizes, class names");
                    Ok((graph, classified))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("analysis thread panicked")))
            })
            .collect()
    });
    results.into_iter().collect()
}

pub fn build_report(
    files: &[PathBuf],
    loaded: &[(HeapGraph, Analysis)],
    thresholds: &LeakThresholds,
    load: &[f64],
) -> Result<LeakReport> {
    let snaps: Vec<Snap<'_>> = loaded
        .iter()
        .map(|(g, a)| Snap {
            graph: g,
            analysis: a,
        })
        .collect();
    let report =
        leaks::find_leaks(&snaps, &thresholds.options(load)).map_err(|e| leak_error(files, e))?;
    let (g, a) = loaded.last().expect("at least three snapshots");
    let d = Describer::new(g, a);
    let traces = analysis::traces::AllocationTraces::new(g);
    let clusters = report
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| ClusterReport {
            rank: i + 1,
            pattern: c.pattern,
            title: c.pattern.title(),
            advice: c.pattern.advice(),
            leaked_objects: c.leaked_objects,
            leak_roots: c.roots.len(),
            retained_size: c.retained_size,
            self_size: c.self_size,
            signature: c.signature.clone(),
            path: readable_path(&d, &c.readable, c.representative),
            retainer_path: d.path_from_steps(&c.path, c.representative),
            representative: d.node(c.representative),
            held_by: c
                .named
                .zip(c.holder_name.as_ref())
                .map(|(h, n)| HolderReport {
                    name: n.name.clone(),
                    file: n.file.clone(),
                    class: match a.class_name(g, h) {
                        "system / Context" => "closure scope".to_owned(),
                        c => c.to_owned(),
                    },
                    growth_per_request: c.growth_per_unit.map(round1),
                }),
            holder: c.holder.map(|h| d.node(h)),
            holder_sizes: c.holder_sizes.clone(),
            code: user_code(c.code.iter().filter_map(|&n| code_ref(&d, n)).collect()),
            examples: c.roots.iter().take(3).map(|&n| d.node(n)).collect(),
            allocation_stack: crate::allocstack::for_objects(traces.as_ref(), &c.leaked),
        })
        .collect();
    let growing_objects = report
        .growing
        .iter()
        .map(|gr| GrowingReport {
            object: d.node(gr.node),
            name: gr.name.name.clone(),
            file: gr.name.file.clone(),
            pattern: gr.pattern,
            title: gr.pattern.title(),
            advice: gr.pattern.advice(),
            sizes: gr.sizes.clone(),
            growth_per_request: gr.growth_per_unit.map(round1),
            path: readable_path(&d, &gr.readable, gr.node),
            retainer_path: d.path_from_steps(&gr.path, gr.node),
            code: user_code(gr.code.iter().filter_map(|&n| code_ref(&d, n)).collect()),
            holds_cluster: report
                .clusters
                .iter()
                .any(|c| c.holder == Some(gr.node) || c.path.iter().any(|s| s.to == gr.node)),
        })
        .collect();
    Ok(LeakReport {
        schema_version: SCHEMA_VERSION,
        kind: "find-leaks",
        snapshots: files
            .iter()
            .zip(loaded)
            .map(|(f, (g, a))| SnapshotRef {
                file: f.display().to_string(),
                node_count: g.node_count(),
                total_size: a.total_size(g),
            })
            .collect(),
        leak_found: report.has_leaks(),
        new_surviving_objects: report.candidate_count,
        new_surviving_bytes: report.candidate_bytes,
        clusters,
        ignored_clusters: report.minor_clusters,
        uneven_clusters: report.uneven_clusters,
        growing_objects,
    })
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The readable path of the leak finder, for the report: hops in code
/// notation, repeated runs folded, and the one-line text.
pub(crate) fn readable_path(
    d: &Describer<'_>,
    r: &leaks::Readable,
    leaked: NodeIdx,
) -> ReadablePath {
    let g = d.graph;
    let hops: Vec<ReadableHop> = r
        .hops
        .iter()
        .map(|h| ReadableHop {
            access: h.access.clone(),
            class: if h.node == leaked {
                d.short_name(h.node)
            } else {
                h.class.clone()
            },
            id: g.id(h.node),
        })
        .filter(|h| !h.access.is_empty() || h.id == g.id(leaked))
        .collect();
    let segments = fold_hops(hops);
    let anchor = AnchorReport {
        kind: r.anchor.kind,
        name: r.anchor.name.clone(),
        file: r.anchor.file.clone(),
    };
    let text = readable_text(&anchor, &segments);
    ReadablePath {
        anchor,
        text,
        segments,
    }
}

/// Folds runs of three or more repeated hops (linked lists, closure chains;
/// array indexes aside) into one segment with a repeat count.
fn fold_hops(hops: Vec<ReadableHop>) -> Vec<ReadableSegment> {
    let same = |x: &ReadableHop, y: &ReadableHop| {
        let norm = |s: &str| {
            if s.starts_with('[') && s[1..].starts_with(|c: char| c.is_ascii_digit()) {
                "[]".to_owned()
            } else {
                s.to_owned()
            }
        };
        norm(&x.access) == norm(&y.access) && x.class == y.class
    };
    leaks::runs::fold_runs(&hops, 3, same)
        .into_iter()
        .map(|r| ReadableSegment {
            hops: hops[r.start..r.start + r.len].to_vec(),
            repeat: r.reps,
        })
        .collect()
}

/// Classes worth naming on a readable path (a plain object reached by a
/// property is clear from the property name).
fn shows_class(class: &str) -> bool {
    class != "Object" && !class.starts_with("system / ")
}

/// `file: anchor (Class) → .a.b (Array) → [3] Function f`.
fn readable_text(anchor: &AnchorReport, segments: &[ReadableSegment]) -> String {
    let mut out = match (&anchor.kind, &anchor.file) {
        (leaks::AnchorKind::Global | leaks::AnchorKind::GcRoot, _) | (_, None) => {
            anchor.name.clone()
        }
        (_, Some(f)) => format!("{}: {}", fmt::short_path(f), anchor.name),
    };
    let hop_text = |h: &ReadableHop, last: bool| {
        if last || shows_class(&h.class) {
            format!("{} ({})", h.access, fmt::truncate(&h.class, 40))
        } else {
            h.access.clone()
        }
    };
    let mut open = true; // the text so far ends in a name that accessors can follow
    for (si, seg) in segments.iter().enumerate() {
        let last_seg = si + 1 == segments.len();
        if seg.repeat > 1 {
            let inner: Vec<String> = seg.hops.iter().map(|h| hop_text(h, true)).collect();
            out.push_str(&format!(" → ({}) ×{}", inner.join(" "), seg.repeat));
            open = false;
            continue;
        }
        let h = &seg.hops[0];
        let text = hop_text(h, last_seg);
        let chains = open && (h.access.starts_with('.') || h.access.starts_with('['));
        if chains {
            out.push_str(&text);
        } else if h.access.is_empty() {
            out.push_str(&format!(" → {}", fmt::truncate(&h.class, 40)));
        } else {
            out.push_str(&format!(" → {text}"));
        }
        // After a class note the next accessor starts a new hop:
        // `configBus (EventEmitter) → ._events.reload (Array)`.
        open = !text.ends_with(')');
    }
    out
}

/// The way out when snapshots do not come from one profiler session.
const ONE_SESSION_HINT: &str = "hint: to compare snapshots of different processes (two pods, before and after a restart), match objects by retainer path instead of id: `leakhound find-leaks --by-path FILES…` or `leakhound diff --by-path A B`; for a series that find-leaks can match by id, take it from one process with the heap profiler on throughout: `leakhound hunt` (--out-dir DIR keeps the snapshots), `leakhound run --keep-profiler -- node app.js` (a snapshot on each SIGUSR2), or node's own --heapsnapshot-signal=SIGUSR2";

/// The leak finder's error, naming the files.
fn leak_error(files: &[PathBuf], e: leaks::Error) -> anyhow::Error {
    let file = |i: usize| files.get(i).map_or_else(String::new, |f| show(f));
    match e {
        leaks::Error::IdsDoNotMatch {
            earlier,
            later,
            agreement,
        } => anyhow::anyhow!(
            "{} and {}: object ids do not match ({} of the {} ids they share, {:.0}%, belong to different objects): the snapshots are of different processes, or the heap profiler was turned off between them (as it is after each `leakhound snapshot`)\n{ONE_SESSION_HINT}",
            file(earlier),
            file(later),
            agreement.mismatched,
            agreement.shared,
            agreement.mismatch_ratio() * 100.0
        ),
        leaks::Error::Unrelated(earlier, later) => anyhow::anyhow!(
            "{} and {}: no object ids in common: the snapshots are not of one process\n{ONE_SESSION_HINT}",
            file(earlier),
            file(later)
        ),
        e => e.into(),
    }
}

/// Keeps code locations in the user's own scripts when there are any.
pub(crate) fn user_code(refs: Vec<CodeRef>) -> Vec<CodeRef> {
    let own = |r: &CodeRef| {
        r.location
            .url
            .as_deref()
            .is_some_and(|u| !u.starts_with("node:"))
    };
    if refs.iter().any(own) {
        refs.into_iter().filter(own).collect()
    } else {
        refs
    }
}

pub(crate) fn code_ref(d: &Describer<'_>, n: NodeIdx) -> Option<CodeRef> {
    let location = d.location(n)?;
    let g = d.graph;
    let function = if g.kind(n) == heapsnap::NodeKind::Closure {
        let name = g.name(n);
        if name.is_empty() {
            "(anonymous function)".to_owned()
        } else {
            format!("{name}()")
        }
    } else {
        format!("new {}", d.analysis.class_name(g, n))
    };
    Some(CodeRef { function, location })
}

/// The text report; headings in color when `color` (a terminal without NO_COLOR).
pub fn render(r: &LeakReport, color: bool, full_path: bool) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = r
        .snapshots
        .iter()
        .map(|s| fmt::bytes(s.total_size))
        .collect();
    out.push_str(&format!(
        "Heap over {} snapshots: {}\n",
        r.snapshots.len(),
        sizes.join(" → ")
    ));
    out.push_str(&format!(
        "{} objects ({}) were allocated after the first snapshot and are still alive in the last.\n\n",
        r.new_surviving_objects,
        fmt::bytes(r.new_surviving_bytes)
    ));
    if !r.leak_found {
        out.push_str(&fmt::paint("No leak found", "1;32", color));
        out.push_str(": nothing new keeps growing between snapshots");
        if r.ignored_clusters > 0 {
            out.push_str(&format!(
                " ({} small or steady groups ignored)",
                r.ignored_clusters
            ));
        }
        out.push_str(".\n");
        if r.uneven_clusters > 0 {
            out.push_str(&format!(
                "{} group{} grew, but not alike in every phase (a cache filling up to its bound, \
                 entries expiring): weak evidence, not reported. More phases (--snapshots) or more \
                 load per phase (--requests) would tell.\n",
                r.uneven_clusters,
                if r.uneven_clusters == 1 { "" } else { "s" }
            ));
        }
        return out;
    }
    for c in &r.clusters {
        render_cluster(&mut out, c, color, full_path);
    }
    let growing: Vec<&GrowingReport> = r
        .growing_objects
        .iter()
        .filter(|g| !g.holds_cluster)
        .collect();
    if !growing.is_empty() {
        if !r.clusters.is_empty() {
            out.push_str("Also growing in every snapshot:\n\n");
        }
        for (i, gr) in growing.iter().enumerate() {
            let sizes: Vec<String> = gr.sizes.iter().map(|s| fmt::bytes(*s)).collect();
            let heading = format!(
                "#{} {} — {} ({}) grew {}",
                r.clusters.len() + i + 1,
                gr.title,
                gr.name,
                gr.object.class,
                sizes.join(" → ")
            );
            out.push_str(&fmt::paint(&heading, "1;33", color));
            out.push('\n');
            if let Some(rate) = gr.growth_per_request {
                out.push_str(&format!("   growth:   {}\n", fmt::per_request(rate)));
            }
            out.push_str(&format!("   path:     {}\n", gr.path.text));
            if full_path {
                out.push_str(&format!("   gc root:  {}\n", gr.retainer_path.render()));
            }
            render_code(&mut out, &gr.code);
            out.push_str(&format!(
                "   fix:      {}\n{}\n",
                gr.advice,
                lint_pointer(gr.pattern)
            ));
        }
    }
    out
}

/// `   lint:     leakhound lint --explain RULE` for a pattern a lint rule prevents.
fn lint_pointer(pattern: Pattern) -> String {
    let name = serde_json::to_value(pattern).ok();
    match name
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(lint::Rule::for_pattern)
    {
        Some(rule) => format!("   lint:     leakhound lint --explain {}\n", rule.name()),
        None => String::new(),
    }
}

pub(crate) fn render_code(out: &mut String, code: &[CodeRef]) {
    for c in code {
        let mut loc = c.location.clone();
        loc.url = loc.url.as_deref().map(fmt::short_path);
        out.push_str(&format!("   code:     {} at {loc}\n", c.function));
    }
}

fn render_cluster(out: &mut String, c: &ClusterReport, color: bool, full_path: bool) {
    let heading = format!(
        "#{} {} — {} leaked object{} retaining {}",
        c.rank,
        c.title,
        c.leaked_objects,
        if c.leaked_objects == 1 { "" } else { "s" },
        fmt::bytes(c.retained_size)
    );
    out.push_str(&fmt::paint(&heading, "1;31", color));
    out.push('\n');
    out.push_str(&format!(
        "   what:     {}\n",
        describe_node(&c.representative)
    ));
    if let Some(h) = &c.held_by {
        render_held_by(out, h, &c.holder_sizes);
    }
    out.push_str(&format!("   path:     {}\n", c.path.text));
    if full_path {
        out.push_str(&format!("   gc root:  {}\n", c.retainer_path.render()));
    }
    render_code(out, &c.code);
    out.push_str(&crate::allocstack::render(
        c.allocation_stack.as_ref(),
        c.leaked_objects,
    ));
    out.push_str(&format!(
        "   fix:      {}\n{}\n",
        c.advice,
        lint_pointer(c.pattern)
    ));
}

/// The `held by:` line: the holder's name, class, file and size in each snapshot.
pub(crate) fn render_held_by(out: &mut String, h: &HolderReport, holder_sizes: &[Option<u64>]) {
    let sizes: Vec<String> = holder_sizes
        .iter()
        .map(|s| s.map_or("-".to_owned(), fmt::bytes))
        .collect();
    let file = h
        .file
        .as_deref()
        .map(|f| format!(" in {}", fmt::short_path(f)))
        .unwrap_or_default();
    let rate = h
        .growth_per_request
        .map(|r| format!(", {}", fmt::per_request(r)))
        .unwrap_or_default();
    out.push_str(&format!(
        "   held by:  {} ({}){file}, grew {}{rate}\n",
        h.name,
        h.class,
        sizes.join(" → ")
    ));
}

pub(crate) fn describe_node(n: &NodeInfo) -> String {
    let mut s = n.class.clone();
    if !n.name.is_empty() && n.name != n.class {
        s.push_str(&format!(" {}", fmt::truncate(&n.name, 60)));
    }
    s.push_str(&format!(
        " @{} ({} retained)",
        n.id,
        fmt::bytes(n.retained_size)
    ));
    if let Some(l) = &n.location {
        let mut l = l.clone();
        l.url = l.url.as_deref().map(fmt::short_path);
        s.push_str(&format!(", made at {l}"));
    }
    s
}

pub fn run(args: &FindLeaksArgs, progress: &Progress) -> Result<std::process::ExitCode> {
    if args.by_path {
        return crate::bypath::find_leaks(args, progress);
    }
    if args.files.len() < 3 {
        anyhow::bail!(
            "find-leaks needs at least 3 snapshots of one process (base, target, final), got {}\nhint: to compare two snapshots, of one process or of two, by retainer path: `leakhound find-leaks --by-path A B`",
            args.files.len()
        );
    }
    let inputs: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    output::check_outputs(&[args.output.as_deref(), args.html.as_deref()], &inputs)?;
    let loaded = load_all(&args.files, progress)?;
    let report = build_report(&args.files, &loaded, &args.thresholds, &[])?;
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    let text = if args.json {
        output::json(&report)?
    } else {
        render(
            &report,
            args.output.is_none() && fmt::stdout_color(),
            args.thresholds.full_path,
        )
    };
    output::emit(args.output.as_deref(), &text)?;
    Ok(if report.leak_found {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    })
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot
    pub base: PathBuf,
    /// The newer snapshot
    pub target: PathBuf,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// How many classes to list (default 25; 0 = all); with --by-path, how many paths (default 5)
    #[arg(long)]
    pub top: Option<usize>,
    /// Compare by normalised retainer path instead of class, without object ids: for snapshots
    /// of different processes of one program (two pods, before and after a restart); reports
    /// the paths whose retained size grew, as find-leaks does
    #[arg(long)]
    pub by_path: bool,
    /// With --by-path: report a path only when it grew by at least this much (default 256KiB)
    #[arg(long, value_parser = parse_size, requires = "by_path")]
    pub min_leak: Option<u64>,
    /// With --by-path: report a path only when it grew by at least this share of its size in
    /// the first snapshot (0.2 = 20%)
    #[arg(long, default_value_t = crate::bypath::DEFAULT_MIN_RATIO, value_parser = crate::bypath::parse_ratio, requires = "by_path")]
    pub min_ratio: f64,
    /// With --by-path: show the full retainer path from the GC root besides the readable one
    #[arg(long, requires = "by_path")]
    pub full_path: bool,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html", conflicts_with = "by_path")]
    pub html: Option<PathBuf>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct DiffReport {
    pub schema_version: u32,
    #[schemars(extend("const" = "diff"))]
    pub kind: &'static str,
    pub base: String,
    pub target: String,
    pub size_delta: i64,
    pub classes: Vec<analysis::diff::ClassDiff>,
}

pub fn diff(args: &DiffArgs, progress: &Progress) -> Result<()> {
    if args.by_path {
        return crate::bypath::diff(args, progress);
    }
    let top = args.top.unwrap_or(25);
    output::check_outputs(
        &[args.output.as_deref(), args.html.as_deref()],
        &[args.base.as_path(), args.target.as_path()],
    )?;
    let files = [args.base.clone(), args.target.clone()];
    let loaded = load_classified(&files, progress)?;
    let (bg, ba) = &loaded[0];
    let (tg, ta) = &loaded[1];
    let mut classes = analysis::diff::compare_classified(bg, ba, tg, ta);
    classes.sort_by(|x, y| {
        y.size_delta
            .cmp(&x.size_delta)
            .then_with(|| x.key.cmp(&y.key))
    });
    let size_delta = ta.total_size(tg) as i64 - ba.total_size(bg) as i64;
    if top > 0 {
        classes.truncate(top);
    }
    let report = DiffReport {
        schema_version: SCHEMA_VERSION,
        kind: "diff",
        base: show(&args.base),
        target: show(&args.target),
        size_delta,
        classes,
    };
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    if args.json {
        return output::emit(args.output.as_deref(), &output::json(&report)?);
    }
    let mut out = format!(
        "{} → {}: heap {} ({} → {})\n\n",
        report.base,
        report.target,
        fmt::delta_bytes(size_delta),
        fmt::bytes(ba.total_size(bg)),
        fmt::bytes(ta.total_size(tg))
    );
    let mut t = output::table(&[
        "Class",
        "New",
        "Deleted",
        "Delta",
        "Alloc. size",
        "Freed size",
        "Size delta",
    ]);
    for c in &report.classes {
        t.add_row(vec![
            fmt::truncate(&c.name, 50),
            c.added_count.to_string(),
            c.removed_count.to_string(),
            format!("{:+}", c.count_delta),
            fmt::bytes(c.added_size),
            fmt::bytes(c.removed_size),
            fmt::delta_bytes(c.size_delta),
        ]);
    }
    for col in 1..7 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    out.push_str(&t.to_string());
    out.push('\n');
    output::emit(args.output.as_deref(), &out)
}

pub(crate) fn show(p: &Path) -> String {
    p.display().to_string()
}
