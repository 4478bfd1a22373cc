//! Essential edges, the dominator tree (iterative Lengauer–Tarjan) and retained sizes,
//! following the rules of DevTools' heap snapshot worker.

use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

use crate::RetainedSizes;
use crate::bits::BitVec;
use crate::weakmap::WeakMapNames;

/// Which edges take part in the dominator computation.
///
/// An edge is dropped when it is weak, a self edge, a WeakMap table→value
/// ephemeron edge, a shortcut edge from anywhere but the root, or an edge
/// from a node that is not page-owned to a page-owned node.
/// Also returns every node's count of essential retaining edges.
pub(crate) fn essential_edges(
    graph: &HeapGraph,
    page_owned: &BitVec,
    weakmaps: &mut WeakMapNames,
) -> (BitVec, Vec<u32>) {
    let mut essential = BitVec::new(graph.edge_count());
    let mut retainers = vec![0u32; graph.node_count()];
    let root = graph.root();
    for n in graph.nodes() {
        let node_flag = page_owned.get(n.idx());
        for e in graph.edge_indices(n) {
            let kind = graph.edge_kind(e);
            if kind == EdgeKind::Internal
                && let Some(table_id) = weakmaps.table_id(graph, graph.edge_name_or_index(e))
                && table_id == graph.id(n) as u64
            {
                continue;
            }
            if kind == EdgeKind::Weak {
                continue;
            }
            let child = graph.edge_target(e);
            if child == n {
                continue;
            }
            if n != root {
                if kind == EdgeKind::Shortcut {
                    continue;
                }
                if page_owned.get(child.idx()) && !node_flag {
                    continue;
                }
            }
            essential.set(e.idx());
            retainers[child.idx()] += 1;
        }
    }
    (essential, retainers)
}

/// The dominator tree and retained sizes.
pub(crate) struct Dominators {
    /// Immediate dominator of every node (the root dominates itself).
    pub idom: Vec<NodeIdx>,
    /// Retained size of every node.
    pub retained: RetainedSizes,
    /// Shallow sizes, as the caller's closure computed them.
    pub shallow: Vec<u32>,
    /// Nodes that were not reachable from the root through essential edges.
    pub unreachable_count: usize,
}

/// The dominator tree by Lengauer–Tarjan's semidominators followed by the
/// Semi-NCA step, on the spanning tree DevTools' Lengauer–Tarjan builds: DFS
/// from the root over essential edges, then from each unvisited node that has
/// no essential retainer, then every node still unvisited on its own, all
/// three kinds of tree root hung under the root. Both algorithms give the
/// same dominators on that tree (the nodes of the third kind get the root,
/// as DevTools' never-emptied buckets give them), which `tests/parity.rs`
/// checks against DevTools' own worker.
///
/// Memory is the point of the layout: the working arrays are indexed by DFS
/// number, the predecessor lists are built here (the graph keeps no reverse
/// edges) with each vertex's DFS parent first, and a vertex's list later holds
/// its semidominator. At most four `u32` per node plus one per essential edge
/// are alive at once. `shallow` runs once that working memory is gone, on a
/// second thread while the tree is mapped back to node ordinals;
/// `working_arrays_gone` is called just before (the caller may start other
/// work beside).
pub(crate) fn compute(
    graph: &HeapGraph,
    (essential, retainers): (BitVec, Vec<u32>),
    shallow: impl FnOnce() -> Vec<u32> + Send,
    working_arrays_gone: impl FnOnce(),
) -> Dominators {
    let node_count = graph.node_count();
    let n = node_count;
    let mut has_essential_retainer = BitVec::new(node_count);
    for (v, &c) in retainers.iter().enumerate() {
        if c != 0 {
            has_essential_retainer.set(v);
        }
    }
    let essential = &essential;
    let walk = Walk {
        graph,
        essential,
        has_essential_retainer: &has_essential_retainer,
    };

    // DFS numbers (1-based; the root is 1) and each vertex's DFS parent.
    // Tree roots other than the root hang under it without an edge: their
    // parent is "virtual".
    let mut number = vec![0u32; node_count];
    let mut parent = vec![0u32; n + 1];
    let mut virtual_parent = BitVec::new(n + 1);
    let mut count = 0u32;
    let reached = walk.run(|v, p, is_virtual| {
        count += 1;
        number[v.idx()] = count;
        parent[count as usize] = p;
        if is_virtual {
            virtual_parent.set(count as usize);
        }
    });
    debug_assert_eq!(count as usize, n);

    // Predecessor lists by DFS number over essential edges, the DFS parent
    // first: sized by the retainer counts, then filled backwards so that
    // `first[w]` ends at the start of w's list.
    let mut first = vec![0u32; n + 2];
    for (v, c) in retainers.into_iter().enumerate() {
        first[number[v] as usize] = c;
    }
    let mut end = 0u32;
    for f in first.iter_mut() {
        end += *f;
        *f = end;
    }
    let mut preds = vec![0u32; end as usize];
    let mut parent_seen = BitVec::new(n + 1);
    for src in graph.nodes() {
        let v = number[src.idx()];
        for e in graph.edges(src) {
            if !essential.get(e as usize) {
                continue;
            }
            let w = number[graph.edge_target(EdgeIdx(e)).idx()] as usize;
            if v == parent[w] && !virtual_parent.get(w) && !parent_seen.get(w) {
                parent_seen.set(w);
                continue;
            }
            first[w] -= 1;
            preds[first[w] as usize] = v;
        }
    }
    for w in 1..=n {
        if parent_seen.get(w) {
            first[w] -= 1;
            preds[first[w] as usize] = parent[w];
        }
    }
    debug_assert_eq!(first[n + 1], end);
    drop(parent_seen);
    drop(parent);
    drop(number);

    // Semidominators, in decreasing DFS order. Vertices above the current one
    // are linked into the forest; `best[v]` is the smallest semidominator on
    // v's compressed forest path (what `semi[label[v]]` is in the textbook).
    let mut ancestor = vec![0u32; n + 1];
    let mut best = vec![0u32; n + 1];
    let mut stack: Vec<u32> = Vec::new();
    for w in (2..=n as u32).rev() {
        let wi = w as usize;
        let list = first[wi] as usize..first[wi + 1] as usize;
        let semi = if list.is_empty() {
            // No essential retainer at all: the root, as DevTools has it.
            1
        } else {
            let mut semi = w;
            for &v in &preds[list.clone()] {
                let candidate = if v < w {
                    v
                } else {
                    // Compress v's forest path up to the unlinked vertex.
                    let mut x = v;
                    stack.clear();
                    while ancestor[x as usize] > w {
                        stack.push(x);
                        x = ancestor[x as usize];
                    }
                    while let Some(y) = stack.pop() {
                        let y = y as usize;
                        let a = ancestor[y] as usize;
                        if best[a] < best[y] {
                            best[y] = best[a];
                        }
                        ancestor[y] = ancestor[a];
                    }
                    best[v as usize]
                };
                semi = semi.min(candidate);
            }
            semi
        };
        best[wi] = semi;
        let is_virtual = virtual_parent.get(wi);
        ancestor[wi] = if is_virtual { 1 } else { preds[list.start] };
        // The list's tail is read no more: its second slot keeps the
        // semidominator (a list of one is the parent, which is the semidominator).
        if !is_virtual && list.len() >= 2 {
            preds[list.start + 1] = semi;
        }
    }
    drop(best);
    drop(stack);

    // Semi-NCA: the immediate dominator is the nearest ancestor of the DFS
    // parent in the dominator tree built so far whose number is at most the
    // semidominator's. `ancestor` becomes `idom`, by DFS number.
    let mut idom = ancestor;
    idom[1] = 1;
    for w in 2..=n {
        if virtual_parent.get(w) {
            idom[w] = 1;
            continue;
        }
        let list = first[w] as usize..first[w + 1] as usize;
        let p = preds[list.start];
        let semi = if list.len() >= 2 {
            preds[list.start + 1]
        } else {
            p
        };
        let mut d = p;
        while d > semi {
            d = idom[d as usize];
        }
        idom[w] = d;
    }
    drop(preds);
    drop(first);
    drop(virtual_parent);
    working_arrays_gone();

    // Back to node ordinals: the same walk again gives the vertex of every
    // number (cheaper in memory than keeping the numbering alive). Shallow
    // sizes are computed meanwhile on a second thread: the working memory of
    // both together stays below that of the semidominator step.
    let (shallow, vertex, idom_of) = std::thread::scope(|scope| {
        let shallow = scope.spawn(shallow);
        let mut vertex = vec![0u32; n + 1];
        let mut k = 0usize;
        walk.run(|v, _, _| {
            k += 1;
            vertex[k] = v.0;
        });
        let mut idom_of = vec![NodeIdx(0); node_count];
        for i in 1..=n {
            idom_of[vertex[i] as usize] = NodeIdx(vertex[idom[i] as usize]);
        }
        drop(idom);
        let shallow = shallow
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (shallow, vertex, idom_of)
    });
    let mut retained = RetainedSizes::from_shallow(&shallow);
    for i in (2..=n).rev() {
        let o = vertex[i] as usize;
        retained.add(idom_of[o].idx(), retained.get(o));
    }
    Dominators {
        idom: idom_of,
        retained,
        shallow,
        unreachable_count: node_count - reached,
    }
}

/// DevTools' depth-first numbering over essential edges.
struct Walk<'a> {
    graph: &'a HeapGraph,
    essential: &'a BitVec,
    has_essential_retainer: &'a BitVec,
}

impl Walk<'_> {
    /// Calls `visit(node, parent number, parent is virtual)` for every node in
    /// DFS order (the k-th call is number k; the root's parent is 0) and
    /// returns how many nodes the search from the root reached.
    fn run(&self, mut visit: impl FnMut(NodeIdx, u32, bool)) -> usize {
        let g = self.graph;
        let mut seen = BitVec::new(g.node_count());
        let mut count = 0u32;
        // (node, next edge, end of its edges, its number)
        let mut stack: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut search = |start: NodeIdx,
                          parent: u32,
                          seen: &mut BitVec,
                          count: &mut u32,
                          visit: &mut dyn FnMut(NodeIdx, u32, bool)| {
            seen.set(start.idx());
            *count += 1;
            visit(start, parent, parent != 0);
            let r = g.edges(start);
            stack.push((start.0, r.start, r.end, *count));
            while let Some(top) = stack.last_mut() {
                let mut next = None;
                while top.1 < top.2 {
                    let e = top.1;
                    top.1 += 1;
                    if self.essential.get(e as usize) {
                        let w = g.edge_target(EdgeIdx(e));
                        if !seen.get(w.idx()) {
                            next = Some(w);
                            break;
                        }
                    }
                }
                match next {
                    Some(w) => {
                        let p = top.3;
                        seen.set(w.idx());
                        *count += 1;
                        visit(w, p, false);
                        let r = g.edges(w);
                        stack.push((w.0, r.start, r.end, *count));
                    }
                    None => {
                        stack.pop();
                    }
                }
            }
        };
        search(g.root(), 0, &mut seen, &mut count, &mut visit);
        let reached = count as usize;
        for v in g.nodes() {
            if !seen.get(v.idx()) && !self.has_essential_retainer.get(v.idx()) {
                search(v, 1, &mut seen, &mut count, &mut visit);
            }
        }
        for v in g.nodes() {
            if !seen.get(v.idx()) {
                seen.set(v.idx());
                visit(v, 1, true);
            }
        }
        reached
    }
}

pub(crate) fn dominated_nodes(root: NodeIdx, idom: &[NodeIdx]) -> (Vec<u32>, Vec<NodeIdx>) {
    let count = idom.len();
    // first[d] counts d's children, then becomes the end of d's range; filling
    // backwards moves it to the start, with children in ascending order.
    let mut first = vec![0u32; count + 1];
    for (o, d) in idom.iter().enumerate() {
        if o != root.idx() {
            first[d.idx()] += 1;
        }
    }
    let mut end = 0;
    for f in &mut first {
        end += *f;
        *f = end;
    }
    let mut dominated = vec![NodeIdx(0); count.saturating_sub(1)];
    for (o, d) in idom.iter().enumerate().rev() {
        if o != root.idx() {
            let slot = &mut first[d.idx()];
            *slot -= 1;
            dominated[*slot as usize] = NodeIdx(o as u32);
        }
    }
    (first, dominated)
}

#[cfg(test)]
mod tests {
    use heapsnap::synth::SynthSnapshot;
    use heapsnap::{NodeIdx, parse_bytes};

    use crate::Analysis;

    /// An unreachable cycle is numbered one vertex at a time (DevTools' third
    /// pass, where Lengauer–Tarjan's buckets are never emptied): its vertices
    /// get the root as dominator, never themselves.
    #[test]
    fn unreachable_cycle_is_dominated_by_the_root() {
        let mut s = SynthSnapshot::with_root();
        let global = s.node("object", "global", 100);
        s.edge(0, "shortcut", "global", global);
        let a = s.node("object", "A", 10);
        let b = s.node("object", "B", 20);
        let c = s.node("object", "C", 30);
        s.edge(a, "property", "b", b).edge(b, "property", "a", a);
        s.edge(a, "property", "c", c);
        let g = parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses");
        let an = Analysis::run(&g, |_| {});
        for n in [a, b, c] {
            assert_eq!(an.idom[n], g.root(), "node {n}");
        }
        let total: u64 = an.shallow.iter().map(|&s| u64::from(s)).sum();
        assert_eq!(an.retained.get(g.root().idx()), total);
        assert_eq!(an.unreachable_count, 3);
        assert_eq!(an.dominated(NodeIdx(a as u32)), &[]);
    }
}
