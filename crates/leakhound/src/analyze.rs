//! `leakhound analyze FILE`: totals, statistics, classes and the biggest objects.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use analysis::{Analysis, BASE_SYSTEM_DISTANCE, Phase, Statistics};
use anyhow::Result;
use comfy_table::{CellAlignment, Table};
use heapsnap::{HeapGraph, NodeIdx, NodeKind};
use serde::Serialize;

use crate::describe::{Describer, NodeInfo, RetainerPath, SourceLocation};
use crate::progress::{Progress, Timings};
use crate::{SCHEMA_VERSION, fmt, load, output};

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The .heapsnapshot file
    pub file: PathBuf,
    /// Print the versioned JSON report instead of tables
    #[arg(long)]
    pub json: bool,
    /// How many classes to list (0 = all)
    #[arg(long, default_value_t = 25)]
    pub classes: usize,
    /// How many of the biggest objects to list
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SnapshotInfo {
    pub file: String,
    pub bytes: u64,
    pub node_count: usize,
    pub edge_count: usize,
    pub string_count: usize,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Totals {
    /// DevTools' total: retained size of the root plus native bytes outside the graph.
    pub total_size: u64,
    pub root_retained_size: u64,
    /// Objects not reachable from the GC roots through retaining edges.
    pub unreachable_nodes: usize,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ClassRow {
    pub key: String,
    pub name: String,
    pub count: u64,
    pub self_size: u64,
    pub retained_size: u64,
    pub distance: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TopObject {
    #[serde(flatten)]
    pub node: NodeInfo,
    pub retainer_path: RetainerPath,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct AnalyzeReport {
    pub schema_version: u32,
    #[schemars(extend("const" = "analyze"))]
    pub kind: &'static str,
    pub snapshot: SnapshotInfo,
    pub totals: Totals,
    pub statistics: Statistics,
    pub classes: Vec<ClassRow>,
    pub top_objects: Vec<TopObject>,
}

/// Parses and analyses one file, with progress.
pub fn load_and_analyze(path: &Path, progress: &Progress) -> Result<(HeapGraph, Analysis)> {
    let mut timings = Timings::start();
    let graph = load::load_snapshot(path, progress)?;
    timings.lap("parsing");
    let spinner = progress.spinner("analysing");
    let mut current: Option<Phase> = None;
    let analysis = Analysis::run(&graph, |p: Phase| {
        if let Some(done) = current.replace(p) {
            timings.lap(done.label());
        }
        spinner.set_message(p.label());
    });
    if let Some(done) = current {
        timings.lap(done.label());
    }
    spinner.finish_and_clear();
    Ok((graph, analysis))
}

pub fn run(args: &AnalyzeArgs, progress: &Progress) -> Result<()> {
    output::check_outputs(
        &[args.output.as_deref(), args.html.as_deref()],
        &[args.file.as_path()],
    )?;
    let (graph, analysis) = load_and_analyze(&args.file, progress)?;
    if graph.wrapped_self_sizes() > 0 {
        eprintln!(
            "note: {}: {} object(s) have a self size above 4 GiB; like DevTools, leakhound keeps sizes in 32 bits, so theirs wrapped around",
            args.file.display(),
            graph.wrapped_self_sizes()
        );
    }
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let report = build_report(&args.file, bytes, &graph, &analysis, args.classes, args.top);
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    let text = if args.json {
        output::json(&report)?
    } else {
        render(&report)
    };
    output::emit(args.output.as_deref(), &text)
}

pub fn build_report(
    file: &Path,
    bytes: u64,
    graph: &HeapGraph,
    analysis: &Analysis,
    class_limit: usize,
    top: usize,
) -> AnalyzeReport {
    let mut timings = Timings::start();
    let d = Describer::new(graph, analysis);
    // The retainer paths' table is built on a second thread meanwhile.
    let (mut aggs, chosen) = std::thread::scope(|scope| {
        scope.spawn(|| analysis.prepare_retainer_paths(graph));
        let aggs = analysis.class_summary(graph);
        (aggs, top_objects(graph, analysis, top))
    });
    timings.lap("class summary, retainer paths' table");
    aggs.sort_by(|a, b| {
        b.retained_size
            .cmp(&a.retained_size)
            .then_with(|| a.key.cmp(&b.key))
    });
    if class_limit > 0 {
        aggs.truncate(class_limit);
    }
    let classes = aggs
        .iter()
        .map(|a| ClassRow {
            key: a.key.clone(),
            name: a.name.clone(),
            count: a.count,
            self_size: a.self_size,
            retained_size: a.retained_size,
            distance: a.distance,
            location: a.location.and(d.location(a.first)),
        })
        .collect();
    let top_objects = chosen
        .into_iter()
        .map(|n| TopObject {
            node: d.node(n),
            retainer_path: d.path(n, 32),
        })
        .collect();
    timings.lap("describing the top objects");
    AnalyzeReport {
        schema_version: SCHEMA_VERSION,
        kind: "analyze",
        snapshot: SnapshotInfo {
            file: file.display().to_string(),
            bytes,
            node_count: graph.node_count(),
            edge_count: graph.edge_count(),
            string_count: graph.strings().len(),
        },
        totals: Totals {
            total_size: analysis.total_size(graph),
            root_retained_size: analysis.retained.get(graph.root().idx()),
            unreachable_nodes: analysis.unreachable_count,
        },
        statistics: analysis.statistics,
        classes,
        top_objects,
    }
}

/// The biggest objects by retained size that a developer can act on.
///
/// Candidates are reachable from a user root (distance 2 and more, below the
/// system distance) and are not V8 internals (hidden, array, code, object
/// shape, synthetic). A candidate that sits inside an already listed object
/// and retains at least 90% of it is skipped: it is the same memory.
pub fn top_objects(graph: &HeapGraph, analysis: &Analysis, limit: usize) -> Vec<NodeIdx> {
    let globals = native_context_globals(graph, analysis);
    let eligible = |n: NodeIdx| {
        let dist = analysis.distance[n.idx()];
        (2..BASE_SYSTEM_DISTANCE).contains(&dist)
            && !globals.contains(&n)
            && !matches!(
                graph.kind(n),
                NodeKind::Hidden
                    | NodeKind::Array
                    | NodeKind::Code
                    | NodeKind::ObjectShape
                    | NodeKind::Synthetic
            )
    };
    // Only the head of the ranking matters: the biggest `head` candidates are
    // kept in a min-heap while scanning, (retained size, lower ordinal first).
    let head = limit.max(1) * 64;
    let key = |n: NodeIdx| (analysis.retained.get(n.idx()), std::cmp::Reverse(n));
    let mut heap = std::collections::BinaryHeap::with_capacity(head + 1);
    for n in graph.nodes().filter(|&n| eligible(n)) {
        let k = key(n);
        if heap.len() < head {
            heap.push(std::cmp::Reverse(k));
        } else if heap.peek().is_some_and(|std::cmp::Reverse(min)| k > *min) {
            heap.pop();
            heap.push(std::cmp::Reverse(k));
        }
    }
    // Biggest first; equal sizes by ordinal.
    let candidates: Vec<NodeIdx> = heap
        .into_sorted_vec()
        .into_iter()
        .map(|std::cmp::Reverse((_, std::cmp::Reverse(n)))| n)
        .collect();
    let mut chosen: Vec<NodeIdx> = Vec::new();
    let mut chosen_set: HashSet<NodeIdx> = HashSet::new();
    let root = graph.root();
    for n in candidates {
        if chosen.len() >= limit {
            break;
        }
        let size = analysis.retained.get(n.idx());
        let mut cur = analysis.idom[n.idx()];
        let mut same_memory = false;
        for _ in 0..256 {
            if cur == root {
                break;
            }
            if chosen_set.contains(&cur) {
                same_memory = size * 10 >= analysis.retained.get(cur.idx()) * 9;
                break;
            }
            cur = analysis.idom[cur.idx()];
        }
        if !same_memory {
            chosen.push(n);
            chosen_set.insert(n);
        }
    }
    chosen
}

/// The global objects of native contexts that are user roots (Node 26
/// roots the heap at `system / NativeContext` rather than at `global`):
/// user roots themselves, not "biggest objects" of the app.
fn native_context_globals(graph: &HeapGraph, analysis: &Analysis) -> HashSet<NodeIdx> {
    let root = graph.root();
    graph
        .edge_indices(root)
        .map(|e| graph.edge_target(e))
        .filter(|&n| {
            analysis.distance[n.idx()] == 1 && graph.name(n).starts_with("system / NativeContext")
        })
        .flat_map(|ctx| {
            graph
                .edge_indices(ctx)
                .filter(|&e| {
                    matches!(
                        graph.edge_name_str(e),
                        Some("global_object" | "global_proxy_object")
                    )
                })
                .map(|e| graph.edge_target(e))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn right(table: &mut Table, cols: &[usize]) {
    for &c in cols {
        if let Some(col) = table.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

pub fn render(r: &AnalyzeReport) -> String {
    let mut out = String::new();
    let s = &r.statistics;
    out.push_str(&format!(
        "{}  {} nodes, {} edges, {} on disk\n\n",
        r.snapshot.file,
        r.snapshot.node_count,
        r.snapshot.edge_count,
        fmt::bytes(r.snapshot.bytes)
    ));
    let mut t = output::table(&["Statistics", "Size", "Share"]);
    let total = s.total;
    for (label, v) in [
        ("Total", s.total),
        ("V8 heap", s.v8heap),
        ("  Code", s.code),
        ("  Strings", s.strings),
        ("  JS arrays", s.js_arrays),
        ("  System objects", s.system),
        ("  Other", s.other()),
        ("Native", s.native),
        ("  Typed arrays", s.typed_arrays),
    ] {
        t.add_row(vec![
            label.to_string(),
            fmt::bytes(v),
            fmt::percent(v, total),
        ]);
    }
    right(&mut t, &[1, 2]);
    out.push_str(&t.to_string());
    if r.totals.unreachable_nodes > 0 {
        out.push_str(&format!(
            "\n{} objects are unreachable (only weakly held)\n",
            r.totals.unreachable_nodes
        ));
    }
    out.push_str("\n\nClasses by retained size\n");
    let mut t = output::table(&[
        "Class", "Objects", "Shallow", "Retained", "Share", "Distance",
    ]);
    for c in &r.classes {
        let mut name = fmt::truncate(&c.name, 60);
        if let Some(l) = &c.location {
            name.push_str(&format!("  ({l})"));
        }
        t.add_row(vec![
            name,
            c.count.to_string(),
            fmt::bytes(c.self_size),
            fmt::bytes(c.retained_size),
            fmt::percent(c.retained_size, total),
            distance(c.distance),
        ]);
    }
    right(&mut t, &[1, 2, 3, 4, 5]);
    out.push_str(&t.to_string());
    out.push_str("\n\nBiggest objects by retained size\n");
    let mut t = output::table(&["#", "Object", "Retained", "Shallow", "Held by"]);
    for (i, o) in r.top_objects.iter().enumerate() {
        let mut what = format!("{} @{}", fmt::truncate(&o.node.class, 40), o.node.id);
        if o.node.name != o.node.class && !o.node.name.is_empty() {
            what.push_str(&format!("\n{}", fmt::truncate(&o.node.name, 50)));
        }
        if let Some(l) = &o.node.location {
            what.push_str(&format!("\n{l}"));
        }
        t.add_row(vec![
            (i + 1).to_string(),
            what,
            fmt::bytes(o.node.retained_size),
            fmt::bytes(o.node.self_size),
            fmt::truncate(&o.retainer_path.render(), 400),
        ]);
    }
    right(&mut t, &[0, 2, 3]);
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

pub fn distance(d: i32) -> String {
    if d >= BASE_SYSTEM_DISTANCE {
        "-".into()
    } else {
        d.to_string()
    }
}
