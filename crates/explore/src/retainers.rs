//! Retainers of objects, found by one pass over the edges (the graph keeps
//! no reverse edges), in the order of DevTools' Retainers view.

use std::cmp::Ordering;
use std::collections::HashMap;

use analysis::Analysis;
use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

/// One edge into an object: `from --edge--> the object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retainer {
    pub from: NodeIdx,
    pub edge: EdgeIdx,
}

/// The retainers of each of `targets`, in DevTools' Retainers view order:
/// by the retainer's distance, then its name (as JavaScript compares
/// strings), then the reverse of the order edges are stored in (DevTools
/// fills its retainer lists from the back). Like DevTools, weak edges and
/// edges from the synthetic root are left out unless `weak` (then weak
/// edges come after the others, in the same order).
pub fn retainers_in_devtools_order(
    graph: &HeapGraph,
    analysis: &Analysis,
    targets: &[NodeIdx],
    weak: bool,
) -> HashMap<NodeIdx, Vec<Retainer>> {
    let mut wanted = vec![0u64; graph.node_count().div_ceil(64)];
    for t in targets {
        wanted[t.idx() / 64] |= 1 << (t.idx() % 64);
    }
    let mut out: HashMap<NodeIdx, Vec<Retainer>> = HashMap::new();
    let root = graph.root();
    for e in 0..graph.edge_count() as u32 {
        let e = EdgeIdx(e);
        let to = graph.edge_target(e);
        if wanted[to.idx() / 64] & (1 << (to.idx() % 64)) == 0 {
            continue;
        }
        let from = graph.edge_source(e);
        let kind = graph.edge_kind(e);
        if from == root || graph.edge_type_name(e) == "invisible" {
            continue;
        }
        if kind == EdgeKind::Weak && !weak {
            continue;
        }
        out.entry(to).or_default().push(Retainer { from, edge: e });
    }
    for list in out.values_mut() {
        sort_devtools(graph, analysis, list);
    }
    out
}

fn sort_devtools(graph: &HeapGraph, analysis: &Analysis, list: &mut [Retainer]) {
    let mut names: HashMap<NodeIdx, Vec<u16>> = HashMap::new();
    for r in list.iter() {
        names.entry(r.from).or_insert_with(|| {
            analysis::display_name(graph, r.from)
                .encode_utf16()
                .collect()
        });
    }
    let is_weak = |r: &Retainer| graph.edge_kind(r.edge) == EdgeKind::Weak;
    list.sort_by(|a, b| {
        is_weak(a)
            .cmp(&is_weak(b))
            .then_with(|| analysis.distance[a.from.idx()].cmp(&analysis.distance[b.from.idx()]))
            .then_with(|| names[&a.from].cmp(&names[&b.from]))
            .then_with(|| b.edge.cmp(&a.edge))
    });
}

/// DevTools' order of an object's own edges (the containment view sorted
/// by retained size, its default): retained size of the target, biggest
/// first, then the edge name (`__proto__` last, names before indexes).
pub fn sort_edges_devtools(graph: &HeapGraph, analysis: &Analysis, edges: &mut [EdgeIdx]) {
    edges.sort_by(|&a, &b| {
        let ra = analysis.retained.get(graph.edge_target(a).idx());
        let rb = analysis.retained.get(graph.edge_target(b).idx());
        rb.cmp(&ra)
            .then_with(|| compare_edge_names(graph, a, b))
            .then_with(|| a.cmp(&b))
    });
}

fn compare_edge_names(graph: &HeapGraph, a: EdgeIdx, b: EdgeIdx) -> Ordering {
    let (na, nb) = (graph.edge_name_str(a), graph.edge_name_str(b));
    if nb == Some("__proto__") {
        return Ordering::Less;
    }
    if na == Some("__proto__") {
        return Ordering::Greater;
    }
    match (na, nb) {
        (Some(x), Some(y)) => x.encode_utf16().cmp(y.encode_utf16()),
        (None, None) => graph
            .edge_name_or_index(a)
            .cmp(&graph.edge_name_or_index(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
    }
}
