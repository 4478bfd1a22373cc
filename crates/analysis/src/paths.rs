//! Retainer paths: how a node is reached from a GC root.

use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

use crate::Analysis;

/// One hop of a retainer path: `from --edge--> to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStep {
    pub from: NodeIdx,
    pub edge: EdgeIdx,
    pub to: NodeIdx,
}

/// How much a retainer path prefers an edge kind (lower is better): named
/// edges first, then shortcuts, then internal ones; weak edges last.
pub fn edge_preference(kind: EdgeKind) -> u8 {
    match kind {
        EdgeKind::Property | EdgeKind::Element | EdgeKind::Context => 0,
        EdgeKind::Shortcut => 1,
        EdgeKind::Internal | EdgeKind::Hidden | EdgeKind::Other => 2,
        EdgeKind::Weak => 3,
    }
}

/// A shortest retainer path from a root to `target`, root first.
///
/// Each step walks to a retainer one hop closer to the roots (by DevTools
/// distance), never over weak edges; among equally close retainers it prefers
/// named edges (property, element, context) over internal ones. The path ends
/// at a user root (distance 1, such as the global object) or at the synthetic
/// roots. At most `max_len` steps are returned.
pub fn retainer_path(
    graph: &HeapGraph,
    analysis: &Analysis,
    target: NodeIdx,
    max_len: usize,
) -> Vec<PathStep> {
    let mut steps = Vec::new();
    let mut cur = target;
    let mut seen = std::collections::HashSet::new();
    while steps.len() < max_len && seen.insert(cur) {
        let Some(step) = retainer_step(graph, analysis, cur) else {
            break;
        };
        steps.push(step.step);
        if step.last {
            break;
        }
        cur = step.step.from;
    }
    steps.reverse();
    steps
}

/// One step up a retainer path, with whether the walk must stop there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainerStep {
    pub step: PathStep,
    /// No retainer is closer to the roots than `step.to`: the path cannot go on.
    pub last: bool,
}

/// The retainer [`retainer_path`] takes from `n`: `None` at the root, at a
/// user root (distance 1) or when nothing retains `n` through a strong edge.
pub fn retainer_step(graph: &HeapGraph, analysis: &Analysis, n: NodeIdx) -> Option<RetainerStep> {
    let root = graph.root();
    let d = analysis.distance[n.idx()];
    if n == root || d == 1 {
        return None;
    }
    // Closest retainers first; edges are looked up only for those.
    let mut sources: Vec<(i32, NodeIdx)> = graph
        .retainer_nodes(n)
        .iter()
        .map(|&s| (analysis.distance[s.idx()], s))
        .filter(|&(d, _)| d >= 0)
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let mut best: Option<(i32, u8, EdgeIdx, NodeIdx)> = None;
    for (sd, src) in sources {
        if best.is_some_and(|b| b.0 < sd) {
            break;
        }
        for e in graph.edge_indices(src) {
            let kind = graph.edge_kind(e);
            if graph.edge_target(e) != n || kind == EdgeKind::Weak {
                continue;
            }
            let cand = (sd, edge_preference(kind), e, src);
            if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                best = Some(cand);
            }
        }
    }
    let (sd, _, e, src) = best?;
    Some(RetainerStep {
        step: PathStep {
            from: src,
            edge: e,
            to: n,
        },
        last: src == root || sd >= d,
    })
}
