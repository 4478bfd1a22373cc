//! The object view: one object with its edges, retainers, dominators, the
//! readable path from the nearest anchor, its source position, allocation
//! stack and string value. Built by [`object_view`] for both the web UI and
//! `leakhound inspect`.

use analysis::traces::{AllocationTraces, FrameKind};
use heapsnap::{EdgeIdx, EdgeKind, NodeIdx};
use serde::Serialize;

use crate::retainers::{retainers_in_devtools_order, sort_edges_devtools};
use crate::views::Page;
use crate::workspace::Heap;

/// How any view names an object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectRef {
    /// V8 object id: `@id` in DevTools, `#/object/id` in the UI.
    pub id: u32,
    /// Node type: object, closure, string, array, hidden, …
    #[serde(rename = "type")]
    pub node_type: String,
    pub class: String,
    /// DevTools' name of the node (strings shortened to 200 characters).
    pub name: String,
    pub self_size: u64,
    pub retained_size: u64,
    /// Distance from the GC roots (-5: unreachable; 100000000 and more: only
    /// through system roots).
    pub distance: i32,
}

impl ObjectRef {
    pub fn of(heap: &Heap, n: NodeIdx) -> ObjectRef {
        let (g, a) = (&heap.graph, &heap.analysis);
        ObjectRef {
            id: g.id(n),
            node_type: g.node_type_name(n).to_owned(),
            class: a.class_name(g, n).to_owned(),
            name: shorten(&a.node_name(g, n), 200),
            self_size: u64::from(a.shallow[n.idx()]),
            retained_size: a.retained.get(n.idx()),
            distance: a.distance[n.idx()],
        }
    }
}

/// One of an object's own edges.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeRow {
    /// property, element, context, internal, hidden, shortcut, weak
    pub edge_type: String,
    /// The name or index of the edge.
    pub name: String,
    /// A weak edge does not keep its target alive.
    pub weak: bool,
    pub to: ObjectRef,
}

/// A retainer of an object, with its own retainers when expanded.
#[derive(Debug, Clone, Serialize)]
pub struct RetainerRow {
    pub edge_type: String,
    pub name: String,
    pub weak: bool,
    pub from: ObjectRef,
    /// The retainer also appears above in this branch: not expanded again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cycle: bool,
    /// Its retainers, when this level was expanded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retainers: Option<Page<RetainerRow>>,
}

/// A source position, 1-based as editors show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourcePosition {
    pub script_id: u32,
    pub url: Option<String>,
    pub line: u32,
    pub column: u32,
}

/// One hop of the readable path.
#[derive(Debug, Clone, Serialize)]
pub struct ReadableHop {
    /// `.data`, `[3]`, `.get("k1")`, `captures req`; empty for V8-internal links.
    pub access: String,
    pub class: String,
    pub id: u32,
}

/// The path from the nearest meaningful anchor, as `find-leaks` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadableView {
    /// module_variable, global, static, module_exports or gc_root.
    pub anchor_kind: leaks::AnchorKind,
    pub anchor: String,
    pub anchor_id: u32,
    pub file: Option<String>,
    pub hops: Vec<ReadableHop>,
    /// The whole path on one line.
    pub text: String,
}

/// One link of the dominator chain: the object that dominates the one before.
#[derive(Debug, Clone, Serialize)]
pub struct DominatorStep {
    pub object: ObjectRef,
}

/// A frame of the object's allocation stack (innermost first).
#[derive(Debug, Clone, Serialize)]
pub struct AllocationFrame {
    pub function: String,
    pub url: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub kind: FrameKind,
}

/// Everything the object view shows.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectView {
    /// Index of the snapshot in the workspace (0 for `inspect`).
    pub snapshot: usize,
    pub object: ObjectRef,
    /// Where a closure's function (or an object's constructor) is defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourcePosition>,
    /// A string's value (cons strings joined up to 1024 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub edges: Page<EdgeRow>,
    /// Retainers in DevTools' order, expanded to the depth asked for.
    pub retainers: Page<RetainerRow>,
    /// Dominators from the immediate one up to the root (empty when not asked).
    pub dominators: Vec<DominatorStep>,
    pub readable_path: ReadableView,
    /// The shortest path from a GC root, DevTools' way (`root.a.b → …`).
    pub gc_root_path: Vec<ReadableHop>,
    /// When the snapshot was taken with allocation tracking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_stack: Option<Vec<AllocationFrame>>,
}

/// What to include in an object view.
#[derive(Debug, Clone, Copy)]
pub struct ViewOptions {
    pub edges: usize,
    /// Levels of retainers to expand (1: the direct retainers).
    pub retainer_depth: usize,
    /// Retainers shown per object at each level.
    pub retainers_per_level: usize,
    pub dominators: bool,
    /// Weak retainers too (marked; DevTools leaves them out).
    pub weak: bool,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            edges: 50,
            retainer_depth: 1,
            retainers_per_level: 50,
            dominators: true,
            weak: false,
        }
    }
}

/// Builds the object view of `n` (the one function behind `inspect` and
/// the UI's Object view).
pub fn object_view(heap: &Heap, snapshot: usize, n: NodeIdx, opts: &ViewOptions) -> ObjectView {
    let g = &heap.graph;
    let path = analysis::retainer_path(g, &heap.analysis, n, 10_000);
    ObjectView {
        snapshot,
        object: ObjectRef::of(heap, n),
        location: location(heap, n),
        value: g.kind(n).is_string().then(|| analysis::display_name(g, n)),
        edges: edges_page(heap, n, 0, opts.edges),
        retainers: retainers_tree(heap, n, opts, 0),
        dominators: if opts.dominators {
            dominator_chain(heap, n)
        } else {
            Vec::new()
        },
        readable_path: readable(heap, &path),
        gc_root_path: path
            .iter()
            .map(|s| ReadableHop {
                access: edge_label(g, s.edge),
                class: heap.analysis.class_name(g, s.to).to_owned(),
                id: g.id(s.to),
            })
            .collect(),
        allocation_stack: allocation_stack(heap, n),
    }
}

/// A page of `n`'s own edges in DevTools' order.
pub fn edges_page(heap: &Heap, n: NodeIdx, offset: usize, limit: usize) -> Page<EdgeRow> {
    let g = &heap.graph;
    let mut edges: Vec<EdgeIdx> = g
        .edge_indices(n)
        .filter(|&e| g.edge_type_name(e) != "invisible")
        .collect();
    sort_edges_devtools(g, &heap.analysis, &mut edges);
    Page::of(&edges, offset, limit, |&e| EdgeRow {
        edge_type: g.edge_type_name(e).to_owned(),
        name: g.edge_name(e).into_owned(),
        weak: g.edge_kind(e) == EdgeKind::Weak,
        to: ObjectRef::of(heap, g.edge_target(e)),
    })
}

/// The retainers of `n`, a page of them from `offset`, each level expanded
/// to `opts.retainer_depth` (one pass over the edges per level). A retainer
/// already on its branch is marked `cycle` and not expanded.
pub fn retainers_tree(
    heap: &Heap,
    n: NodeIdx,
    opts: &ViewOptions,
    offset: usize,
) -> Page<RetainerRow> {
    let (g, a) = (&heap.graph, &heap.analysis);
    let per = opts.retainers_per_level.max(1);
    // Level by level: the nodes to expand, each with the branch above it.
    let first = retainers_in_devtools_order(g, a, &[n], opts.weak);
    let list = first.get(&n).map_or(&[][..], Vec::as_slice);
    let mut top = Page::of(list, offset, per, |r| row(heap, r.from, r.edge));
    // (pointer into the tree as a path of child positions, node, branch).
    let mut frontier: Vec<(Vec<usize>, NodeIdx, Vec<NodeIdx>)> = top
        .items
        .iter()
        .enumerate()
        .zip(list.iter().skip(offset))
        .map(|((i, _), r)| (vec![i], r.from, vec![n]))
        .collect();
    for _ in 1..opts.retainer_depth {
        frontier.retain(|(path, node, branch)| {
            let row = row_at(&mut top, path);
            if branch.contains(node) {
                row.cycle = true;
            }
            !row.cycle && a.distance[node.idx()] > 1 && *node != g.root()
        });
        if frontier.is_empty() {
            break;
        }
        let nodes: Vec<NodeIdx> = frontier.iter().map(|f| f.1).collect();
        let found = retainers_in_devtools_order(g, a, &nodes, opts.weak);
        let mut next = Vec::new();
        for (path, node, mut branch) in frontier {
            branch.push(node);
            let list = found.get(&node).map_or(&[][..], Vec::as_slice);
            let page = Page::of(list, 0, per, |r| row(heap, r.from, r.edge));
            for (i, r) in list.iter().take(per).enumerate() {
                let mut p = path.clone();
                p.push(i);
                next.push((p, r.from, branch.clone()));
            }
            row_at(&mut top, &path).retainers = Some(page);
        }
        frontier = next;
    }
    top
}

fn row_at<'a>(top: &'a mut Page<RetainerRow>, path: &[usize]) -> &'a mut RetainerRow {
    let mut row = &mut top.items[path[0]];
    for &i in &path[1..] {
        row = &mut row
            .retainers
            .as_mut()
            .expect("expanded along the path")
            .items[i];
    }
    row
}

fn row(heap: &Heap, from: NodeIdx, e: EdgeIdx) -> RetainerRow {
    let g = &heap.graph;
    RetainerRow {
        edge_type: g.edge_type_name(e).to_owned(),
        name: g.edge_name(e).into_owned(),
        weak: g.edge_kind(e) == EdgeKind::Weak,
        from: ObjectRef::of(heap, from),
        cycle: false,
        retainers: None,
    }
}

/// Immediate dominator first, up to the root.
pub fn dominator_chain(heap: &Heap, n: NodeIdx) -> Vec<DominatorStep> {
    let (g, a) = (&heap.graph, &heap.analysis);
    let mut out = Vec::new();
    let mut cur = n;
    while cur != g.root() && out.len() < 100_000 {
        let d = a.idom[cur.idx()];
        if d == cur {
            break;
        }
        out.push(DominatorStep {
            object: ObjectRef::of(heap, d),
        });
        cur = d;
    }
    out
}

fn location(heap: &Heap, n: NodeIdx) -> Option<SourcePosition> {
    let l = heap.graph.location(n)?;
    Some(SourcePosition {
        script_id: l.script_id,
        url: heap.scripts.of(&heap.graph, n),
        line: l.line + 1,
        column: l.column + 1,
    })
}

fn readable(heap: &Heap, path: &[analysis::PathStep]) -> ReadableView {
    let (g, a) = (&heap.graph, &heap.analysis);
    let r = leaks::readable::readable(g, a, &heap.scripts, path, None);
    let hops: Vec<ReadableHop> = r
        .hops
        .iter()
        .filter(|h| !h.access.is_empty() || Some(h.node) == path.last().map(|s| s.to))
        .map(|h| ReadableHop {
            access: h.access.clone(),
            class: h.class.clone(),
            id: g.id(h.node),
        })
        .collect();
    let mut text = match (&r.anchor.file, r.anchor.kind) {
        (Some(f), leaks::AnchorKind::ModuleVariable | leaks::AnchorKind::Static) => {
            format!("{f}: {}", r.anchor.name)
        }
        _ => r.anchor.name.clone(),
    };
    for h in &hops {
        let sep = if h.access.starts_with(['.', '[']) {
            ""
        } else {
            " → "
        };
        text.push_str(&format!("{sep}{} ({})", h.access, h.class));
    }
    ReadableView {
        anchor_kind: r.anchor.kind,
        anchor: r.anchor.name.clone(),
        anchor_id: g.id(r.anchor.node),
        file: r.anchor.file.clone(),
        hops,
        text,
    }
}

/// DevTools' way of writing an edge: `.name`, `[3]`, `->ctx`, `{internal}`.
fn edge_label(g: &heapsnap::HeapGraph, e: EdgeIdx) -> String {
    let name = g.edge_name(e);
    match g.edge_kind(e) {
        EdgeKind::Element => format!("[{name}]"),
        EdgeKind::Context => format!("->{name}"),
        EdgeKind::Property | EdgeKind::Shortcut if name.contains(' ') => format!("[\"{name}\"]"),
        EdgeKind::Property | EdgeKind::Shortcut => format!(".{name}"),
        EdgeKind::Weak => format!("[[{name}]]"),
        _ => format!("{{{name}}}"),
    }
}

fn allocation_stack(heap: &Heap, n: NodeIdx) -> Option<Vec<AllocationFrame>> {
    let traces = AllocationTraces::new(&heap.graph)?;
    let known = |v: u32| (v > 0).then_some(v);
    let frames = traces.stack(n)?;
    Some(
        frames
            .iter()
            .map(|f| AllocationFrame {
                function: if f.function_name.is_empty() {
                    "(anonymous function)".to_owned()
                } else {
                    f.function_name.to_owned()
                },
                url: (!f.script_name.is_empty()).then(|| f.script_name.to_owned()),
                line: known(f.line),
                column: known(f.column),
                kind: f.kind(),
            })
            .collect(),
    )
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
