//! Whole-graph passes that run before the dominator tree: page-owned flags,
//! shallow-size transfer and distances. Each mirrors one step of DevTools'
//! `JSHeapSnapshot` initialisation.

use std::collections::{HashSet, VecDeque};

use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx, NodeKind};

use crate::bits::BitVec;
use crate::dom::Detached;
use crate::weakmap::WeakMapNames;

/// Distance of nodes that are reachable from the root only through system (synthetic) roots.
pub const BASE_SYSTEM_DISTANCE: i32 = 100_000_000;
/// Distance DevTools uses for nodes it never reached.
pub const NO_DISTANCE: i32 = -5;

/// A user root: a non-synthetic child of the root, or the `(Document DOM trees)` root.
pub(crate) fn is_user_root(graph: &HeapGraph, n: NodeIdx) -> bool {
    graph.kind(n) != NodeKind::Synthetic || is_document_dom_trees_root(graph, n)
}

fn is_document_dom_trees_root(graph: &HeapGraph, n: NodeIdx) -> bool {
    graph.kind(n) == NodeKind::Synthetic && graph.name(n) == "(Document DOM trees)"
}

pub(crate) fn has_user_roots(graph: &HeapGraph) -> bool {
    graph
        .edge_indices(graph.root())
        .any(|e| is_user_root(graph, graph.edge_target(e)))
}

/// Nodes reachable (through non-weak edges) from the root's shortcut edges
/// (global objects) and from `(Document DOM trees)`.
pub(crate) fn page_owned(graph: &HeapGraph) -> BitVec {
    let mut flags = BitVec::new(graph.node_count());
    let mut stack: Vec<NodeIdx> = Vec::new();
    for e in graph.edge_indices(graph.root()) {
        let target = graph.edge_target(e);
        match graph.edge_kind(e) {
            EdgeKind::Element if is_document_dom_trees_root(graph, target) => {}
            EdgeKind::Shortcut => {}
            _ => continue,
        }
        stack.push(target);
        flags.set(target.idx());
    }
    while let Some(n) = stack.pop() {
        for e in graph.edge_indices(n) {
            let child = graph.edge_target(e);
            if flags.get(child.idx()) || graph.edge_kind(e) == EdgeKind::Weak {
                continue;
            }
            stack.push(child);
            flags.set(child.idx());
        }
    }
    flags
}

/// Shallow sizes after DevTools' ownership transfer: a `hidden` or `array`
/// node (or native `system / ExternalStringData`) reachable from exactly one
/// owner gives its size to that owner. Skipped for snapshots without user
/// roots (taken with "expose internals").
pub(crate) fn shallow_sizes(graph: &HeapGraph, detached: &Detached) -> Vec<u32> {
    let mut sizes = graph.self_sizes().to_vec();
    if !has_user_roots(graph) {
        return sizes;
    }
    const UNVISITED: u32 = u32::MAX;
    const MULTIPLE: u32 = u32::MAX - 1;
    let count = graph.node_count();
    let mut owners = vec![0u32; count];
    let mut worklist: Vec<u32> = Vec::new();
    for n in graph.nodes() {
        let kind = graph.kind(n);
        let owned = matches!(kind, NodeKind::Hidden | NodeKind::Array)
            || (kind == NodeKind::Native
                && detached.name_is(graph, n, "system / ExternalStringData"));
        if owned {
            owners[n.idx()] = UNVISITED;
        } else {
            owners[n.idx()] = n.0;
            worklist.push(n.0);
        }
    }
    while let Some(id) = worklist.pop() {
        let owner = owners[id as usize];
        for e in graph.edge_indices(NodeIdx(id)) {
            if graph.edge_kind(e) == EdgeKind::Weak {
                continue;
            }
            let target = graph.edge_target(e).0;
            let current = owners[target as usize];
            if current == UNVISITED {
                owners[target as usize] = owner;
                worklist.push(target);
            } else if current == target || current == owner || current == MULTIPLE {
            } else {
                owners[target as usize] = MULTIPLE;
                worklist.push(target);
            }
        }
    }
    let root = graph.root();
    for i in 0..count {
        let owner = owners[i];
        if owner == UNVISITED || owner == MULTIPLE || owner == i as u32 {
            continue;
        }
        let o = NodeIdx(owner);
        if graph.kind(o) == NodeKind::Synthetic || o == root {
            continue;
        }
        let moved = sizes[i];
        sizes[i] = 0;
        // 32-bit like DevTools' `Uint32Array`, which wraps.
        sizes[owner as usize] = sizes[owner as usize].wrapping_add(moved);
    }
    sizes
}

/// JavaScript's `parseInt(s, 10)`, or `None` for NaN.
fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([
        ' ', '\t', '\n', '\r', '\u{0b}', '\u{0c}', '\u{a0}', '\u{feff}',
    ]);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return None;
    }
    let v = digits[..end.min(18)].parse::<i64>().ok()?;
    Some(if neg { -v } else { v })
}

/// Breadth-first distances from the user roots (1), then from the root for
/// everything else (`BASE_SYSTEM_DISTANCE` + hops). Weak edges are never
/// followed, nor the edges DevTools filters out for JS heaps.
pub(crate) fn distances(graph: &HeapGraph, weakmaps: &mut WeakMapNames) -> Vec<i32> {
    let count = graph.node_count();
    let mut dist = vec![NO_DISTANCE; count];
    // A ring buffer: it holds the frontier only, far fewer nodes than the heap.
    let mut queue: VecDeque<NodeIdx> = VecDeque::new();
    let root = graph.root();
    for e in graph.edge_indices(root) {
        let n = graph.edge_target(e);
        if is_user_root(graph, n) {
            dist[n.idx()] = 1;
            queue.push_back(n);
        }
    }
    let had_user_roots = !queue.is_empty();
    let mut pending: HashSet<String> = HashSet::new();
    let mut filter = |n: NodeIdx, e: EdgeIdx| -> bool {
        let kind = graph.kind(n);
        if kind == NodeKind::Hidden
            && graph.edge_name(e) == "sloppy_function_map"
            && graph.name(n) == "system / NativeContext"
        {
            return false;
        }
        if kind == NodeKind::Array && graph.name(n) == "(map descriptors)" {
            return match parse_int(&graph.edge_name(e)) {
                Some(index) => index < 2 || index % 3 != 1,
                None => true,
            };
        }
        if graph.edge_kind(e) == EdgeKind::Internal
            && let Some(dup) = weakmaps.duplicated_part(graph, graph.edge_name_or_index(e))
            && !pending.remove(dup)
        {
            pending.insert(dup.to_owned());
            return false;
        }
        true
    };
    bfs(graph, &mut queue, &mut dist, &mut filter);
    dist[root.idx()] = if had_user_roots {
        BASE_SYSTEM_DISTANCE
    } else {
        0
    };
    queue.clear();
    queue.push_back(root);
    bfs(graph, &mut queue, &mut dist, &mut filter);
    dist
}

fn bfs(
    graph: &HeapGraph,
    queue: &mut VecDeque<NodeIdx>,
    dist: &mut [i32],
    filter: &mut impl FnMut(NodeIdx, EdgeIdx) -> bool,
) {
    while let Some(n) = queue.pop_front() {
        let d = dist[n.idx()] + 1;
        for e in graph.edge_indices(n) {
            if graph.edge_kind(e) == EdgeKind::Weak {
                continue;
            }
            let child = graph.edge_target(e);
            if dist[child.idx()] != NO_DISTANCE {
                continue;
            }
            if !filter(n, e) {
                continue;
            }
            dist[child.idx()] = d;
            queue.push_back(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn parse_int_matches_javascript() {
        assert_eq!(parse_int("12"), Some(12));
        assert_eq!(parse_int("  7abc"), Some(7));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
    }
}
