//! DOM state propagation (DevTools `HeapSnapshot.propagateDOMState`).
//!
//! Embedder (native) nodes may carry a DOM link state in the snapshot's
//! `detachedness` field. DevTools spreads it over native nodes: whatever an
//! attached native node reaches (through edges that are not hidden or weak) is
//! attached, and what a detached one reaches, and nothing attached reaches, is
//! detached. JavaScript nodes stop the propagation. Every native node that ends
//! up detached is renamed `Detached <name>`, which changes its class and the
//! name checks of the later passes.

use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind};

use crate::bits::BitVec;

const UNKNOWN: u8 = 0;
const ATTACHED: u8 = 1;
const DETACHED: u8 = 2;
/// DevTools keeps the DOM link state in the two low bits.
const STATE_MASK: u8 = 3;

/// The native nodes DevTools renames `Detached …`; `None` when the snapshot
/// has no DOM link states at all.
pub(crate) fn detached_nodes(graph: &HeapGraph) -> Option<BitVec> {
    let count = graph.node_count();
    if !graph
        .nodes()
        .any(|n| graph.detachedness(n) & STATE_MASK != UNKNOWN)
    {
        return None;
    }
    let mut state: Vec<u8> = graph
        .nodes()
        .map(|n| graph.detachedness(n) & STATE_MASK)
        .collect();
    let mut visited = BitVec::new(count);
    let mut detached = BitVec::new(count);
    let mut attached_work: Vec<NodeIdx> = Vec::new();
    let mut detached_work: Vec<NodeIdx> = Vec::new();

    let mut process = |n: NodeIdx,
                       new_state: u8,
                       state: &mut [u8],
                       attached_work: &mut Vec<NodeIdx>,
                       detached_work: &mut Vec<NodeIdx>| {
        if visited.get(n.idx()) {
            return;
        }
        visited.set(n.idx());
        // Embedder entry points know their own state: nothing propagates through JS.
        if graph.kind(n) != NodeKind::Native {
            return;
        }
        state[n.idx()] = new_state;
        match new_state {
            ATTACHED => attached_work.push(n),
            DETACHED => {
                detached.set(n.idx());
                detached_work.push(n);
            }
            _ => {}
        }
    };
    let propagates = |kind: EdgeKind| !matches!(kind, EdgeKind::Hidden | EdgeKind::Weak);

    // 1. Nodes with a known state keep it (and are renamed / queued).
    for n in graph.nodes() {
        let s = state[n.idx()];
        if s != UNKNOWN {
            process(n, s, &mut state, &mut attached_work, &mut detached_work);
        }
    }
    // 2. Whatever an attached node reaches is attached.
    while let Some(n) = attached_work.pop() {
        for e in graph.edge_indices(n) {
            if propagates(graph.edge_kind(e)) {
                process(
                    graph.edge_target(e),
                    ATTACHED,
                    &mut state,
                    &mut attached_work,
                    &mut detached_work,
                );
            }
        }
    }
    // 3. Otherwise children inherit their parent's detached state.
    while let Some(n) = detached_work.pop() {
        if state[n.idx()] == ATTACHED {
            continue;
        }
        for e in graph.edge_indices(n) {
            if propagates(graph.edge_kind(e)) {
                process(
                    graph.edge_target(e),
                    DETACHED,
                    &mut state,
                    &mut attached_work,
                    &mut detached_work,
                );
            }
        }
    }
    Some(detached)
}

/// Which nodes DevTools shows as `Detached …`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Detached(Option<BitVec>);

impl Detached {
    pub(crate) fn compute(graph: &HeapGraph) -> Detached {
        Detached(detached_nodes(graph))
    }

    #[inline]
    pub(crate) fn contains(&self, n: NodeIdx) -> bool {
        self.0.as_ref().is_some_and(|b| b.get(n.idx()))
    }

    /// The node's raw name as DevTools sees it after DOM state propagation.
    pub(crate) fn raw_name<'a>(
        &self,
        graph: &'a HeapGraph,
        n: NodeIdx,
    ) -> std::borrow::Cow<'a, str> {
        if self.contains(n) {
            std::borrow::Cow::Owned(format!("Detached {}", graph.name(n)))
        } else {
            std::borrow::Cow::Borrowed(graph.name(n))
        }
    }

    /// `raw_name(n) == name` without allocating.
    #[inline]
    pub(crate) fn name_is(&self, graph: &HeapGraph, n: NodeIdx, name: &str) -> bool {
        if self.contains(n) {
            name.strip_prefix("Detached ") == Some(graph.name(n))
        } else {
            graph.name(n) == name
        }
    }
}

#[cfg(test)]
mod tests {
    use heapsnap::synth::SynthSnapshot;

    use crate::Analysis;

    /// The snapshot with the `detachedness` field of some nodes set.
    fn with_states(s: &SynthSnapshot, states: &[(usize, u8)]) -> heapsnap::HeapGraph {
        let json = s.to_json();
        let start = json.find("\"nodes\":[").expect("nodes") + "\"nodes\":[".len();
        let end = start + json[start..].find(']').expect("end of nodes");
        let mut lines: Vec<String> = json[start..end].split(",\n").map(str::to_owned).collect();
        for &(n, state) in states {
            let line = &mut lines[n];
            let cut = line.rfind(',').expect("last field");
            line.truncate(cut + 1);
            line.push_str(&state.to_string());
        }
        let patched = format!("{}{}{}", &json[..start], lines.join(",\n"), &json[end..]);
        heapsnap::parse_bytes(patched.as_bytes()).expect("patched snapshot parses")
    }

    #[test]
    fn detached_state_spreads_over_native_nodes_only() {
        let mut s = SynthSnapshot::with_root();
        let global = s.node("object", "global", 100);
        s.edge(0, "shortcut", "global", global);
        let detached = s.node("native", "Node / Widget", 10);
        let child = s.node("native", "Node / Child", 10);
        let weakly = s.node("native", "Node / Weakly", 10);
        let js = s.node("object", "JsThing", 10);
        let behind_js = s.node("native", "Node / BehindJs", 10);
        let attached = s.node("native", "Node / Attached", 10);
        let shared = s.node("native", "Node / Shared", 10);
        let buffer = s.node("native", "system / JSArrayBufferData", 8);
        let element = s.node("native", "<div id=\"x\">", 10);
        s.edge(global, "property", "w", detached)
            .edge(global, "property", "a", attached);
        s.edge(detached, "property", "child", child)
            .edge(detached, "weak", "weakly", weakly)
            .edge(detached, "property", "js", js)
            .edge(detached, "property", "shared", shared)
            .edge(detached, "property", "buffer", buffer)
            .edge(detached, "property", "el", element);
        s.edge(global, "property", "weakly", weakly);
        s.edge(js, "property", "behind", behind_js);
        s.edge(attached, "property", "shared", shared);
        let graph = with_states(&s, &[(detached, 2), (attached, 1)]);
        let a = Analysis::run(&graph, |_| {});

        for n in [detached, child, buffer, element] {
            assert!(a.is_detached(heapsnap::NodeIdx(n as u32)), "node {n}");
        }
        for n in [weakly, js, behind_js, attached, shared] {
            assert!(!a.is_detached(heapsnap::NodeIdx(n as u32)), "node {n}");
        }
        let name = |n: usize| a.class_name(&graph, heapsnap::NodeIdx(n as u32)).to_owned();
        assert_eq!(name(child), "Detached Node / Child");
        assert_eq!(name(element), "Detached <div>");
        assert_eq!(name(shared), "Node / Shared");
        assert_eq!(
            a.node_name(&graph, heapsnap::NodeIdx(detached as u32)),
            "Detached Node / Widget"
        );
        // A detached backing store is no longer `system / JSArrayBufferData`.
        assert_eq!(a.statistics.typed_arrays, 0);
        assert_eq!(a.statistics.native, 7 * 10 + 8);
    }
}
