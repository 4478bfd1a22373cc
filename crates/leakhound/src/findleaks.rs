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
    /// Report a leak only when a cluster retains at least this much
    #[arg(long, value_parser = parse_size, default_value = "256KiB")]
    pub min_leak: u64,
    /// Report a leak only when a cluster has at least this many leaked objects
    #[arg(long, default_value_t = 1)]
    pub min_objects: usize,
    /// How many clusters to show
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

impl LeakThresholds {
    pub fn options(&self) -> Options {
        Options {
            min_cluster_bytes: self.min_leak,
            min_cluster_count: self.min_objects,
            min_growth_bytes: self.min_leak,
            max_results: self.top.max(1),
            ..Options::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct FindLeaksArgs {
    /// Snapshots of one process, oldest first: BASE TARGET FINAL [MORE…]
    #[arg(required = true, num_args = 3.., value_name = "SNAPSHOT")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub thresholds: LeakThresholds,
    /// Print the versioned JSON report
    #[arg(long)]
    pub json: bool,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
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

#[derive(Serialize, schemars::JsonSchema)]
pub struct ClusterReport {
    pub rank: usize,
    pub pattern: Pattern,
    pub title: &'static str,
    pub advice: &'static str,
    pub leaked_objects: usize,
    pub retained_size: u64,
    pub self_size: u64,
    pub signature: String,
    pub retainer_path: RetainerPath,
    pub representative: NodeInfo,
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
    pub pattern: Pattern,
    pub title: &'static str,
    pub advice: &'static str,
    pub sizes: Vec<u64>,
    pub retainer_path: RetainerPath,
    pub code: Vec<CodeRef>,
    /// Whether this object is the holder of a leak cluster (shown with it).
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

pub fn build_report(
    files: &[PathBuf],
    loaded: &[(HeapGraph, Analysis)],
    thresholds: &LeakThresholds,
) -> Result<LeakReport> {
    let snaps: Vec<Snap<'_>> = loaded
        .iter()
        .map(|(g, a)| Snap {
            graph: g,
            analysis: a,
        })
        .collect();
    let report = leaks::find_leaks(&snaps, &thresholds.options())?;
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
            leaked_objects: c.roots.len(),
            retained_size: c.retained_size,
            self_size: c.self_size,
            signature: c.signature.clone(),
            retainer_path: d.path_from_steps(&c.path, c.representative),
            representative: d.node(c.representative),
            holder: c.holder.map(|h| d.node(h)),
            holder_sizes: c.holder_sizes.clone(),
            code: user_code(c.code.iter().filter_map(|&n| code_ref(&d, n)).collect()),
            examples: c.roots.iter().take(3).map(|&n| d.node(n)).collect(),
            allocation_stack: crate::allocstack::for_objects(traces.as_ref(), &c.roots),
        })
        .collect();
    let growing_objects = report
        .growing
        .iter()
        .map(|gr| GrowingReport {
            object: d.node(gr.node),
            pattern: gr.pattern,
            title: gr.pattern.title(),
            advice: gr.pattern.advice(),
            sizes: gr.sizes.clone(),
            retainer_path: d.path_from_steps(&gr.path, gr.node),
            code: user_code(gr.code.iter().filter_map(|&n| code_ref(&d, n)).collect()),
            holds_cluster: report.clusters.iter().any(|c| c.holder == Some(gr.node)),
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
        growing_objects,
    })
}

/// Keeps code locations in the user's own scripts when there are any.
fn user_code(refs: Vec<CodeRef>) -> Vec<CodeRef> {
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

fn code_ref(d: &Describer<'_>, n: NodeIdx) -> Option<CodeRef> {
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
pub fn render(r: &LeakReport, color: bool) -> String {
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
        return out;
    }
    for c in &r.clusters {
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
            "   what:     {}",
            describe_node(&c.representative)
        ));
        out.push('\n');
        out.push_str(&format!("   retained: {}\n", c.retainer_path.render()));
        if let Some(h) = &c.holder {
            let sizes: Vec<String> = c
                .holder_sizes
                .iter()
                .map(|s| s.map_or("-".to_owned(), fmt::bytes))
                .collect();
            out.push_str(&format!(
                "   holder:   {} @{} grew {}\n",
                h.class,
                h.id,
                sizes.join(" → ")
            ));
        }
        for code in &c.code {
            out.push_str(&format!(
                "   code:     {} at {}\n",
                code.function, code.location
            ));
        }
        out.push_str(&crate::allocstack::render(
            c.allocation_stack.as_ref(),
            c.leaked_objects,
        ));
        out.push_str(&format!("   fix:      {}\n\n", c.advice));
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
                "#{} {} — {} @{} grew {}",
                r.clusters.len() + i + 1,
                gr.title,
                gr.object.class,
                gr.object.id,
                sizes.join(" → ")
            );
            out.push_str(&fmt::paint(&heading, "1;33", color));
            out.push('\n');
            out.push_str(&format!("   retained: {}\n", gr.retainer_path.render()));
            for code in &gr.code {
                out.push_str(&format!(
                    "   code:     {} at {}\n",
                    code.function, code.location
                ));
            }
            out.push_str(&format!("   fix:      {}\n\n", gr.advice));
        }
    }
    out
}

fn describe_node(n: &NodeInfo) -> String {
    let mut s = format!(
        "{} @{} ({} retained)",
        n.class,
        n.id,
        fmt::bytes(n.retained_size)
    );
    if !n.name.is_empty() && n.name != n.class {
        s.push_str(&format!(" {}", fmt::truncate(&n.name, 60)));
    }
    if let Some(l) = &n.location {
        s.push_str(&format!(" from {l}"));
    }
    s
}

pub fn run(args: &FindLeaksArgs, progress: &Progress) -> Result<std::process::ExitCode> {
    let loaded = load_all(&args.files, progress)?;
    let report = build_report(&args.files, &loaded, &args.thresholds)?;
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    let text = if args.json {
        output::json(&report)?
    } else {
        render(&report, args.output.is_none() && fmt::stdout_color())
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
    /// How many classes to list (0 = all)
    #[arg(long, default_value_t = 25)]
    pub top: usize,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
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
    let files = [args.base.clone(), args.target.clone()];
    let loaded = load_all(&files, progress)?;
    let (bg, ba) = &loaded[0];
    let (tg, ta) = &loaded[1];
    let mut classes = analysis::diff::compare(bg, ba, tg, ta);
    classes.sort_by(|x, y| {
        y.size_delta
            .cmp(&x.size_delta)
            .then_with(|| x.key.cmp(&y.key))
    });
    let size_delta = ta.total_size(tg) as i64 - ba.total_size(bg) as i64;
    if args.top > 0 {
        classes.truncate(args.top);
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

fn show(p: &Path) -> String {
    p.display().to_string()
}
