//! The Statistics view (DevTools `JSHeapSnapshot.calculateStatistics`).

use heapsnap::{EdgeKind, HeapGraph, NodeKind};

use crate::bits::BitVec;
use crate::dom::Detached;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Statistics {
    /// Root retained size plus `extra_native_bytes`.
    pub total: u64,
    /// V8 heap: everything that is not native.
    pub v8heap: u64,
    pub code: u64,
    pub strings: u64,
    pub js_arrays: u64,
    pub system: u64,
    /// Native (embedder) memory, including `extra_native_bytes`.
    pub native: u64,
    pub typed_arrays: u64,
}

impl Statistics {
    /// What DevTools' pie chart calls "Other": the V8 heap not in any named category.
    pub fn other(&self) -> u64 {
        self.v8heap
            .saturating_sub(self.code + self.strings + self.js_arrays + self.system)
    }
}

pub(crate) fn statistics(
    graph: &HeapGraph,
    detached: &Detached,
    shallow: &[u32],
    root_retained: u64,
) -> Statistics {
    let extra = graph.header().extra_native_bytes as u64;
    let total = root_retained + extra;
    let mut native = extra;
    let (mut typed, mut code, mut strings, mut arrays, mut system) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let single = single_retainer(graph);
    for n in graph.nodes() {
        let size = u64::from(shallow[n.idx()]);
        match graph.kind(n) {
            NodeKind::Hidden => system += size,
            NodeKind::Native => {
                native += size;
                if detached.name_is(graph, n, "system / JSArrayBufferData") {
                    typed += size;
                }
            }
            NodeKind::Code => code += size,
            NodeKind::ConsString | NodeKind::SlicedString | NodeKind::String => strings += size,
            _ => {
                if graph.name(n) == "Array" {
                    let mut s = size;
                    for e in graph.edge_indices(n) {
                        if graph.edge_kind(e) == EdgeKind::Internal
                            && graph.edge_name_str(e) == Some("elements")
                        {
                            let el = graph.edge_target(e);
                            if single.get(el.idx()) {
                                s += u64::from(shallow[el.idx()]);
                            }
                            break;
                        }
                    }
                    arrays += s;
                }
            }
        }
    }
    Statistics {
        total,
        v8heap: total - native,
        code,
        strings,
        js_arrays: arrays,
        system,
        native,
        typed_arrays: typed,
    }
}

/// Nodes with exactly one retaining edge (of any kind): two bits per node,
/// counting to "more than one", instead of a reverse edge index.
fn single_retainer(graph: &HeapGraph) -> BitVec {
    let mut once = BitVec::new(graph.node_count());
    let mut more = BitVec::new(graph.node_count());
    for e in 0..graph.edge_count() {
        let t = graph.edge_target(heapsnap::EdgeIdx(e as u32)).idx();
        if once.get(t) {
            more.set(t);
        } else {
            once.set(t);
        }
    }
    once.and_not(&more);
    once
}
