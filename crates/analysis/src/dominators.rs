//! Essential edges, the dominator tree (iterative Lengauer–Tarjan) and retained sizes,
//! following the rules of DevTools' heap snapshot worker.

use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

use crate::bits::BitVec;
use crate::weakmap::WeakMapNames;

/// Which edges take part in the dominator computation.
///
/// An edge is dropped when it is weak, a self edge, a WeakMap table→value
/// ephemeron edge, a shortcut edge from anywhere but the root, or an edge
/// from a node that is not page-owned to a page-owned node.
pub(crate) fn essential_edges(
    graph: &HeapGraph,
    page_owned: &BitVec,
    weakmaps: &mut WeakMapNames,
) -> BitVec {
    let mut essential = BitVec::new(graph.edge_count());
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
        }
    }
    essential
}

/// The dominator tree and retained sizes.
pub(crate) struct Dominators {
    /// Immediate dominator of every node (the root dominates itself).
    pub idom: Vec<NodeIdx>,
    /// Retained size of every node.
    pub retained: Vec<u64>,
    /// Children in the dominator tree, CSR: `dominated[first_dominated[n]..first_dominated[n+1]]`.
    pub first_dominated: Vec<u32>,
    pub dominated: Vec<NodeIdx>,
    /// Nodes that were not reachable from the root through essential edges.
    pub unreachable_count: usize,
}

/// Lengauer–Tarjan with path compression ("simple" eval/link), exactly as
/// DevTools runs it: DFS from the root, then from nodes with only
/// non-essential retainers, then every node still unvisited on its own.
pub(crate) fn compute(graph: &HeapGraph, essential: &BitVec, shallow: &[u32]) -> Dominators {
    let node_count = graph.node_count();
    let len = node_count + 1;
    let essential_slots = essential_by_slot(graph, essential);
    // 1-based vertex numbers; 0 means "none".
    let mut parent = vec![0u32; len];
    let mut vertex = vec![0u32; len];
    let mut semi = vec![0u32; len];
    let mut next_edge = vec![0u32; len];
    let mut n: u32 = 0;

    let edge_to = |e: u32| graph.edge_target(EdgeIdx(e)).0 + 1;
    let first_edge = |v: u32| graph.edges(NodeIdx(v - 1));

    let dfs = |root: u32,
               parent: &mut [u32],
               vertex: &mut [u32],
               semi: &mut [u32],
               next_edge: &mut [u32],
               n: &mut u32| {
        next_edge[root as usize] = first_edge(root).start;
        let mut v = root;
        while v != 0 {
            let vi = v as usize;
            if semi[vi] == 0 {
                *n += 1;
                semi[vi] = *n;
                vertex[*n as usize] = v;
            }
            let mut v_next = parent[vi];
            let end = first_edge(v).end;
            while next_edge[vi] < end {
                let e = next_edge[vi];
                if essential.get(e as usize) {
                    let w = edge_to(e);
                    if semi[w as usize] == 0 {
                        parent[w as usize] = v;
                        next_edge[w as usize] = first_edge(w).start;
                        v_next = w;
                        break;
                    }
                }
                next_edge[vi] += 1;
            }
            v = v_next;
        }
    };

    let r = graph.root().0 + 1;
    dfs(
        r,
        &mut parent,
        &mut vertex,
        &mut semi,
        &mut next_edge,
        &mut n,
    );
    let mut unreachable_count = 0;
    if (n as usize) < node_count {
        unreachable_count = node_count - n as usize;
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 && only_weak_retainers(graph, &essential_slots, NodeIdx(v - 1))
            {
                parent[v as usize] = r;
                dfs(
                    v,
                    &mut parent,
                    &mut vertex,
                    &mut semi,
                    &mut next_edge,
                    &mut n,
                );
            }
        }
    }
    if (n as usize) < node_count {
        for v in 1..=node_count as u32 {
            if semi[v as usize] == 0 {
                parent[v as usize] = r;
                n += 1;
                semi[v as usize] = n;
                vertex[n as usize] = v;
            }
        }
    }
    // Every vertex is numbered now; `next_edge` becomes `label` (initially v itself).
    let mut label = next_edge;
    for (v, l) in label.iter_mut().enumerate() {
        *l = v as u32;
    }

    // The forest of linked vertices lives in `parent`: a vertex's DFS parent
    // is read only when the vertex is linked, and from then on its entry is
    // its forest ancestor. `linked` says which vertices are in the forest.
    let mut linked = BitVec::new(len);
    let mut ancestor = parent;
    // Buckets as singly linked lists; every vertex is in at most one bucket.
    // A vertex's `dom` entry holds its bucket successor until the bucket is
    // emptied, which is when its (semi-)dominator is written there.
    let mut bucket_head = vec![0u32; len];
    let mut dom = vec![0u32; len];
    let mut stack: Vec<u32> = Vec::new();

    let compress = |v: u32,
                    ancestor: &mut [u32],
                    linked: &BitVec,
                    label: &mut [u32],
                    semi: &[u32],
                    stack: &mut Vec<u32>| {
        let mut v = v;
        stack.clear();
        while linked.get(ancestor[v as usize] as usize) {
            stack.push(v);
            v = ancestor[v as usize];
        }
        while let Some(w) = stack.pop() {
            let w = w as usize;
            let a = ancestor[w] as usize;
            if semi[label[a] as usize] < semi[label[w] as usize] {
                label[w] = label[a];
            }
            ancestor[w] = ancestor[a];
        }
    };

    for i in (2..=n).rev() {
        let w = vertex[i as usize];
        let wi = w as usize;
        let mut is_orphan = true;
        let wn = NodeIdx(w - 1);
        let first_slot = graph.first_retainer_slot(wn);
        for (k, &src) in graph.retainer_nodes(wn).iter().enumerate() {
            if !essential_slots.get(first_slot + k) {
                continue;
            }
            is_orphan = false;
            let v = src.0 + 1;
            let u = if !linked.get(v as usize) {
                v
            } else {
                compress(v, &mut ancestor, &linked, &mut label, &semi, &mut stack);
                label[v as usize]
            };
            if semi[u as usize] < semi[wi] {
                semi[wi] = semi[u as usize];
            }
        }
        if is_orphan {
            semi[wi] = semi[r as usize];
        }
        let b = vertex[semi[wi] as usize] as usize;
        dom[wi] = bucket_head[b];
        bucket_head[b] = w;
        // Link w: its `ancestor` entry is its DFS parent.
        let p = ancestor[wi];
        linked.set(wi);
        let mut v = std::mem::take(&mut bucket_head[p as usize]);
        while v != 0 {
            let u = if !linked.get(v as usize) {
                v
            } else {
                compress(v, &mut ancestor, &linked, &mut label, &semi, &mut stack);
                label[v as usize]
            };
            let next = dom[v as usize];
            dom[v as usize] = if semi[u as usize] < semi[v as usize] {
                u
            } else {
                p
            };
            v = next;
        }
    }
    drop(ancestor);
    drop(linked);
    drop(label);
    // Buckets never emptied (DevTools' extra DFS roots can leave some): their
    // vertices have no dominator yet, 0 as in a fresh array.
    for &head in &bucket_head {
        let mut v = head;
        while v != 0 {
            v = std::mem::take(&mut dom[v as usize]);
        }
    }
    drop(bucket_head);

    dom[0] = r;
    dom[r as usize] = r;
    for i in 2..=n {
        let w = vertex[i as usize] as usize;
        if dom[w] != vertex[semi[w] as usize] {
            dom[w] = dom[dom[w] as usize];
        }
    }
    drop(semi);

    // 1-based vertex numbers to node ordinals, in place: `dom` becomes `idom`.
    dom.remove(0);
    let idom: Vec<NodeIdx> = dom.into_iter().map(|d| NodeIdx(d - 1)).collect();
    let mut retained: Vec<u64> = shallow.iter().map(|&s| u64::from(s)).collect();
    for i in (2..=n).rev() {
        let o = (vertex[i as usize] - 1) as usize;
        let d = idom[o].idx();
        retained[d] += retained[o];
    }
    drop(vertex);

    let (first_dominated, dominated) = dominated_nodes(graph.root(), &idom);
    Dominators {
        idom,
        retained,
        first_dominated,
        dominated,
        unreachable_count,
    }
}

fn only_weak_retainers(graph: &HeapGraph, essential_slots: &BitVec, n: NodeIdx) -> bool {
    let first = graph.first_retainer_slot(n);
    (0..graph.retainer_count(n)).all(|k| !essential_slots.get(first + k))
}

/// The essential-edge bits rearranged by retainer slot (the reverse CSR order).
fn essential_by_slot(graph: &HeapGraph, essential: &BitVec) -> BitVec {
    let mut fill: Vec<u32> = graph
        .nodes()
        .map(|n| graph.first_retainer_slot(n) as u32)
        .collect();
    let mut slots = BitVec::new(graph.edge_count());
    for n in graph.nodes() {
        for e in graph.edges(n) {
            let t = graph.edge_target(EdgeIdx(e)).idx();
            let slot = fill[t];
            fill[t] += 1;
            if essential.get(e as usize) {
                slots.set(slot as usize);
            }
        }
    }
    slots
}

fn dominated_nodes(root: NodeIdx, idom: &[NodeIdx]) -> (Vec<u32>, Vec<NodeIdx>) {
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
    /// pass), which leaves buckets that are never emptied: their vertices get
    /// the root as dominator, never themselves.
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
        assert_eq!(an.retained[g.root().idx()], total);
        assert_eq!(an.unreachable_count, 3);
        assert_eq!(an.dominated(NodeIdx(a as u32)), &[]);
    }
}
