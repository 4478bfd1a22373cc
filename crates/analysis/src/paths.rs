//! Retainer paths: how a node is reached from a GC root.

use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

use crate::Analysis;
use crate::bits::BitVec;

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
/// named edges (property, element, context) over internal ones, then the
/// lowest node ordinal, then the first edge. The path ends at a user root
/// (distance 1, such as the global object) or at the synthetic roots. At most
/// `max_len` steps are returned.
pub fn retainer_path(
    graph: &HeapGraph,
    analysis: &Analysis,
    target: NodeIdx,
    max_len: usize,
) -> Vec<PathStep> {
    let mut steps = Vec::new();
    let mut cur = target;
    // Every step but the last goes strictly closer to the roots: no cycles.
    while steps.len() < max_len {
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
///
/// The first call builds the table of every node's step in one pass over the
/// edges (the graph keeps no reverse edges); later calls are a lookup.
pub fn retainer_step(graph: &HeapGraph, analysis: &Analysis, n: NodeIdx) -> Option<RetainerStep> {
    let root = graph.root();
    let d = analysis.distance[n.idx()];
    if n == root || d == 1 {
        return None;
    }
    let e = analysis.retainer_table(graph).edge(n)?;
    let src = graph.edge_source(e);
    let sd = analysis.distance[src.idx()];
    Some(RetainerStep {
        step: PathStep {
            from: src,
            edge: e,
            to: n,
        },
        last: src == root || sd >= d,
    })
}

/// Per node, the edge [`retainer_step`] takes to reach it.
pub(crate) struct RetainerTable {
    /// An edge index where `found` is set; otherwise nothing retains the node.
    edge: Vec<u32>,
    found: BitVec,
}

impl RetainerTable {
    /// Two passes over all edges (sources in ordinal order, their edges in
    /// order): the best (distance, edge preference) per target, then the first
    /// edge with that key, written over it. One `u32` per node, no more.
    pub(crate) fn build(graph: &HeapGraph, distance: &[i32]) -> RetainerTable {
        let n = graph.node_count();
        // (distance << 2 | preference); distances never come near 2^30.
        let key = |sd: i32, kind: EdgeKind| {
            ((sd as u32).min((1 << 30) - 1) << 2) | u32::from(edge_preference(kind))
        };
        // (target, edge, key) of every strong edge from a node with a distance.
        let candidates = |f: &mut dyn FnMut(usize, EdgeIdx, u32)| {
            for src in graph.nodes() {
                let sd = distance[src.idx()];
                if sd < 0 {
                    continue;
                }
                for e in graph.edge_indices(src) {
                    let kind = graph.edge_kind(e);
                    if kind != EdgeKind::Weak {
                        f(graph.edge_target(e).idx(), e, key(sd, kind));
                    }
                }
            }
        };
        let mut edge = vec![u32::MAX; n];
        candidates(&mut |t, _, k| edge[t] = edge[t].min(k));
        let mut found = BitVec::new(n);
        candidates(&mut |t, e, k| {
            if !found.get(t) && edge[t] == k {
                edge[t] = e.0;
                found.set(t);
            }
        });
        RetainerTable { edge, found }
    }

    fn edge(&self, n: NodeIdx) -> Option<EdgeIdx> {
        self.found.get(n.idx()).then(|| EdgeIdx(self.edge[n.idx()]))
    }
}

#[cfg(test)]
mod tests {
    use heapsnap::synth::SynthSnapshot;
    use heapsnap::{EdgeKind, NodeIdx, parse_bytes};

    use super::{edge_preference, retainer_step};
    use crate::Analysis;

    /// The table takes the step its definition names: the closest retainer by
    /// a strong edge, then the preferred edge kind, the lowest source ordinal
    /// and the first edge, found here by scanning every edge for each node.
    #[test]
    fn table_takes_the_defined_step() {
        let mut s = SynthSnapshot::with_root();
        let global = s.node("object", "global", 10);
        s.edge(0, "shortcut", "global", global);
        let arr = s.node("object", "Array", 10);
        s.edge(global, "property", "list", arr);
        s.edge(global, "weak", "w", arr);
        let other = s.node("object", "Other", 10);
        s.edge(global, "property", "other", other);
        let mut prev = other;
        for i in 0..20 {
            let x = s.node("object", "Item", 10);
            s.edge(arr, "element", &i.to_string(), x);
            s.edge(other, "internal", "dup", x);
            if i % 3 == 0 {
                s.edge(arr, "property", "again", x);
                s.edge(x, "property", "back", prev);
            }
            prev = x;
        }
        let g = parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses");
        let a = Analysis::run(&g, |_| {});
        for n in g.nodes() {
            let d = a.distance[n.idx()];
            let naive = (n != g.root() && d != 1)
                .then(|| {
                    g.nodes()
                        .filter(|s| a.distance[s.idx()] >= 0)
                        .flat_map(|s| g.edge_indices(s).map(move |e| (s, e)))
                        .filter(|&(_, e)| g.edge_target(e) == n && g.edge_kind(e) != EdgeKind::Weak)
                        .min_by_key(|&(s, e)| {
                            (a.distance[s.idx()], edge_preference(g.edge_kind(e)), s, e)
                        })
                })
                .flatten();
            let step = retainer_step(&g, &a, n);
            assert_eq!(
                step.map(|s| (s.step.from, s.step.edge)),
                naive,
                "node {n:?}"
            );
            if let Some(s) = step {
                assert_eq!(s.step.to, n);
                let sd = a.distance[s.step.from.idx()];
                assert_eq!(s.last, s.step.from == g.root() || sd >= d);
            }
        }
        assert!(retainer_step(&g, &a, NodeIdx(0)).is_none());
    }
}
