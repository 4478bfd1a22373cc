//! `diff --by-path` and `find-leaks --by-path`: snapshots of different
//! processes of one program compared by normalised retainer path (no object
//! ids), reported like find-leaks findings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use analysis::Analysis;
use anyhow::Result;
use heapsnap::HeapGraph;
use leaks::Pattern;
use leaks::bypath::{self, FindingKind, PathIndex, PathSummary};
use serde::Serialize;

use crate::describe::{Describer, NodeInfo, RetainerPath};
use crate::findleaks::{
    CodeRef, DiffArgs, FindLeaksArgs, HolderReport, ReadablePath, SnapshotRef, code_ref,
    describe_node, readable_path, render_code, render_held_by, show, user_code,
};
use crate::progress::Progress;
use crate::{SCHEMA_VERSION, analyze, fmt, output};

/// `--min-ratio` when not given: a path must grow by a fifth of its size.
pub const DEFAULT_MIN_RATIO: f64 = 0.2;
/// `--min-leak` when not given.
const DEFAULT_MIN_LEAK: u64 = 256 * 1024;

/// Parses a share: `0.2`, `20%`.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(format!(
            "invalid ratio {s:?} (try 0.2 or 20%: a share of the path's size in the first snapshot)"
        )),
    }
}

/// Why a path is reported.
#[derive(Serialize, schemars::JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FindingKindReport {
    /// More objects on the path, held by an object whose own path did not multiply:
    /// leaked objects (the path of each is shown).
    NewObjects,
    /// As many objects on the path or fewer, but bigger: an object that grows.
    Grew,
}

/// A path whose retained size grew between snapshots of different processes.
#[derive(Serialize, schemars::JsonSchema)]
pub struct PathFinding {
    pub rank: usize,
    pub kind: FindingKindReport,
    pub pattern: Pattern,
    pub title: &'static str,
    pub advice: &'static str,
    /// The normalised retainer path the snapshots are matched by (indexes and data-like keys
    /// erased, repeated stretches folded to `( Class … )*`).
    pub signature: String,
    /// Objects on the path in each snapshot, oldest first (V8 internals not counted).
    pub counts: Vec<u64>,
    /// Retained size of the path in each snapshot: of its objects no other object on it
    /// dominates.
    pub sizes: Vec<u64>,
    /// Objects the path gained from the first snapshot to the last (negative: lost).
    pub new_objects: i64,
    /// Bytes gained from the first snapshot to the last, what findings are ranked by: the
    /// path's (with a Map's keys and values, or other paths under the same holder), or its
    /// holder's when the holder is a collection that gained more (its hash table or backing
    /// store, pooled buffers its entries share).
    pub growth: u64,
    /// The readable path, from the nearest named anchor, of the biggest object on the path
    /// in the last snapshot.
    pub path: ReadablePath,
    /// Its full shortest path from a GC root, as DevTools' Retainers view shows it.
    pub retainer_path: RetainerPath,
    /// The biggest object on the path in the last snapshot (its id is of that snapshot only).
    pub representative: NodeInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HolderReport>,
    /// Retained size of the holder's path in each snapshot (null without a holder).
    pub holder_sizes: Vec<Option<u64>>,
    pub code: Vec<CodeRef>,
    /// Up to three objects on the path in the last snapshot, biggest first.
    pub examples: Vec<NodeInfo>,
}

/// `diff --by-path` and `find-leaks --by-path`: paths whose retained size grew.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ByPathReport {
    pub schema_version: u32,
    #[schemars(extend("const" = "by-path"))]
    pub kind: &'static str,
    pub snapshots: Vec<SnapshotRef>,
    /// Whether any path grew above the thresholds.
    pub leak_found: bool,
    /// Least growth of a reported path, in bytes (`--min-leak`).
    pub min_growth: u64,
    /// Least growth of a reported path, as a share of its size in the first snapshot
    /// (`--min-ratio`).
    pub min_growth_ratio: f64,
    /// Paths with objects in the last snapshot.
    pub paths: usize,
    /// Paths that grew above the thresholds, by growth, biggest first.
    pub findings: Vec<PathFinding>,
    /// Paths that grew, but below the thresholds or not in every interval.
    pub ignored_paths: usize,
}

/// What the two commands share.
struct Request<'a> {
    files: &'a [PathBuf],
    opts: bypath::Options,
    json: bool,
    output: Option<&'a Path>,
    full_path: bool,
}

pub fn diff(args: &DiffArgs, progress: &Progress) -> Result<()> {
    let files = [args.base.clone(), args.target.clone()];
    let req = Request {
        files: &files,
        opts: options(args.min_leak, args.min_ratio, args.top),
        json: args.json,
        output: args.output.as_deref(),
        full_path: args.full_path,
    };
    run(&req, progress).map(|_| ())
}

pub fn find_leaks(args: &FindLeaksArgs, progress: &Progress) -> Result<ExitCode> {
    let req = Request {
        files: &args.files,
        opts: options(
            args.thresholds.min_leak,
            args.min_ratio,
            Some(args.thresholds.top),
        ),
        json: args.json,
        output: args.output.as_deref(),
        full_path: args.thresholds.full_path,
    };
    let found = run(&req, progress)?;
    Ok(if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn options(min_leak: Option<u64>, min_ratio: f64, top: Option<usize>) -> bypath::Options {
    bypath::Options {
        min_growth_bytes: min_leak.unwrap_or(DEFAULT_MIN_LEAK),
        min_growth_ratio: min_ratio,
        max_results: top.unwrap_or(5).max(1),
        ..bypath::Options::default()
    }
}

/// Compares, prints; returns whether anything grew above the thresholds.
fn run(req: &Request<'_>, progress: &Progress) -> Result<bool> {
    let inputs: Vec<&Path> = req.files.iter().map(PathBuf::as_path).collect();
    output::check_outputs(&[req.output], &inputs)?;
    let loaded = load(req.files, progress)?;
    let report = build(req, &loaded)?;
    let text = if req.json {
        output::json(&report)?
    } else {
        render(
            &report,
            req.output.is_none() && fmt::stdout_color(),
            req.full_path,
        )
    };
    output::emit(req.output, &text)?;
    Ok(report.leak_found)
}

/// The snapshots, analysed and keyed by path: only the last is kept whole.
struct Loaded {
    earlier: Vec<PathSummary>,
    /// Node count and total size of each snapshot.
    sizes: Vec<(usize, u64)>,
    graph: HeapGraph,
    analysis: Analysis,
    index: PathIndex,
}

enum One {
    Summary(PathSummary, usize, u64),
    Last(Box<(HeapGraph, Analysis, PathIndex)>),
}

/// Loads two snapshots at a time; each earlier one is reduced to its path
/// summary and dropped as soon as it is keyed.
fn load(files: &[PathBuf], progress: &Progress) -> Result<Loaded> {
    let last = files.len() - 1;
    let mut ones = Vec::with_capacity(files.len());
    for (c, pair) in files.chunks(2).enumerate() {
        let results: Vec<Result<One>> = std::thread::scope(|s| {
            let handles: Vec<_> = pair
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let is_last = c * 2 + i == last;
                    s.spawn(move || key_one(f, is_last, progress))
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
        for r in results {
            ones.push(r?);
        }
    }
    let mut earlier = Vec::new();
    let mut sizes = Vec::new();
    let mut whole = None;
    for one in ones {
        match one {
            One::Summary(s, nodes, total) => {
                earlier.push(s);
                sizes.push((nodes, total));
            }
            One::Last(last) => {
                let (g, a, ix) = *last;
                sizes.push((g.node_count(), a.total_size(&g)));
                whole = Some((g, a, ix));
            }
        }
    }
    let (graph, analysis, index) = whole.expect("the last snapshot is kept");
    Ok(Loaded {
        earlier,
        sizes,
        graph,
        analysis,
        index,
    })
}

fn key_one(file: &Path, is_last: bool, progress: &Progress) -> Result<One> {
    let (g, a) = analyze::load_and_analyze(file, progress)?;
    let spinner = progress.spinner("keying objects by path");
    let index = PathIndex::new(leaks::Snap {
        graph: &g,
        analysis: &a,
    });
    spinner.finish_and_clear();
    Ok(if is_last {
        One::Last(Box::new((g, a, index)))
    } else {
        One::Summary(index.summary(), g.node_count(), a.total_size(&g))
    })
}

fn build(req: &Request<'_>, l: &Loaded) -> Result<ByPathReport> {
    let (g, a) = (&l.graph, &l.analysis);
    let snap = leaks::Snap {
        graph: g,
        analysis: a,
    };
    let r = bypath::compare(&l.earlier, snap, &l.index, &req.opts)?;
    let d = Describer::new(g, a);
    let findings = r
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| PathFinding {
            rank: i + 1,
            kind: match f.kind {
                FindingKind::NewObjects => FindingKindReport::NewObjects,
                FindingKind::Grew => FindingKindReport::Grew,
            },
            pattern: f.pattern,
            title: f.pattern.title(),
            advice: f.pattern.advice(),
            signature: f.signature.clone(),
            counts: f.counts.clone(),
            sizes: f.sizes.clone(),
            new_objects: f.new_objects,
            growth: f.growth,
            path: readable_path(&d, &f.readable, f.representative),
            retainer_path: d.path_from_steps(&f.path, f.representative),
            representative: d.node(f.representative),
            held_by: f
                .named
                .zip(f.holder_name.as_ref())
                .map(|(h, n)| HolderReport {
                    name: n.name.clone(),
                    file: n.file.clone(),
                    class: match a.class_name(g, h) {
                        "system / Context" => "closure scope".to_owned(),
                        c => c.to_owned(),
                    },
                    growth_per_request: None,
                }),
            holder_sizes: f.holder_sizes.clone(),
            code: user_code(f.code.iter().filter_map(|&n| code_ref(&d, n)).collect()),
            examples: f.roots.iter().take(3).map(|&n| d.node(n)).collect(),
        })
        .collect::<Vec<_>>();
    Ok(ByPathReport {
        schema_version: SCHEMA_VERSION,
        kind: "by-path",
        snapshots: req
            .files
            .iter()
            .zip(&l.sizes)
            .map(|(f, &(node_count, total_size))| SnapshotRef {
                file: show(f),
                node_count,
                total_size,
            })
            .collect(),
        leak_found: !findings.is_empty(),
        min_growth: req.opts.min_growth_bytes,
        min_growth_ratio: req.opts.min_growth_ratio,
        paths: r.paths,
        findings,
        ignored_paths: r.ignored,
    })
}

/// What the path's own objects gained from the first snapshot to the last.
fn own_growth(sizes: &[u64]) -> u64 {
    match (sizes.first(), sizes.last()) {
        (Some(&f), Some(&l)) => l.saturating_sub(f),
        _ => 0,
    }
}

fn series(values: &[u64], f: impl Fn(u64) -> String) -> String {
    values.iter().map(|&v| f(v)).collect::<Vec<_>>().join(" → ")
}

/// The text report; headings in color when `color`.
pub fn render(r: &ByPathReport, color: bool, full_path: bool) -> String {
    let mut out = String::new();
    let files: Vec<String> = r.snapshots.iter().map(|s| s.file.clone()).collect();
    let heaps: Vec<u64> = r.snapshots.iter().map(|s| s.total_size).collect();
    out.push_str(&format!(
        "{}: heap {}\n",
        files.join(" → "),
        series(&heaps, fmt::bytes)
    ));
    out.push_str(&format!(
        "{} paths compared by retainer path (objects matched by how they are reached, not by id).\n\n",
        r.paths
    ));
    if r.findings.is_empty() {
        out.push_str(&fmt::paint("No path grew", "1;32", color));
        out.push_str(&format!(
            " by at least {} and {:.0}% of its size",
            fmt::bytes(r.min_growth),
            r.min_growth_ratio * 100.0
        ));
        if r.ignored_paths > 0 {
            out.push_str(&format!(
                " ({} smaller or uneven growths ignored)",
                r.ignored_paths
            ));
        }
        out.push_str(".\n");
        return out;
    }
    for f in &r.findings {
        render_finding(&mut out, f, color, full_path);
    }
    out
}

fn render_finding(out: &mut String, f: &PathFinding, color: bool, full_path: bool) {
    let sizes = series(&f.sizes, fmt::bytes);
    let counts = series(&f.counts, |c| c.to_string());
    let heading = match f.kind {
        FindingKindReport::NewObjects => format!(
            "#{} {} — {} more {} on one path ({counts}), retaining {} more ({sizes})",
            f.rank,
            f.title,
            f.new_objects.max(0),
            if f.new_objects == 1 {
                "object"
            } else {
                "objects"
            },
            fmt::bytes(own_growth(&f.sizes))
        ),
        FindingKindReport::Grew => format!(
            "#{} {} — {} ({}) grew {} ({sizes}; objects on the path: {counts})",
            f.rank,
            f.title,
            f.held_by
                .as_ref()
                .map_or(f.representative.class.as_str(), |h| h.name.as_str()),
            f.representative.class,
            fmt::bytes(f.growth)
        ),
    };
    out.push_str(&fmt::paint(&heading, "1;31", color));
    out.push('\n');
    out.push_str(&format!(
        "   what:     {}\n",
        describe_node(&f.representative)
    ));
    if let (FindingKindReport::NewObjects, Some(h)) = (f.kind, &f.held_by) {
        if f.holder_sizes.iter().all(Option::is_some) {
            render_held_by(out, h, &f.holder_sizes);
        } else {
            let file = h
                .file
                .as_deref()
                .map(|f| format!(" in {}", fmt::short_path(f)))
                .unwrap_or_default();
            out.push_str(&format!("   held by:  {} ({}){file}\n", h.name, h.class));
        }
    }
    out.push_str(&format!("   path:     {}\n", f.path.text));
    if full_path {
        out.push_str(&format!("   gc root:  {}\n", f.retainer_path.render()));
    }
    render_code(out, &f.code);
    out.push_str(&format!("   fix:      {}\n\n", f.advice));
}
