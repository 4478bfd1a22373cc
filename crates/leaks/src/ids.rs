//! Object ids of a snapshot, for matching objects across snapshots.

use heapsnap::{HeapGraph, NodeIdx};

/// Node ordinals sorted by V8 object id.
pub struct IdIndex {
    pairs: Vec<(u32, NodeIdx)>,
}

impl IdIndex {
    pub fn new(graph: &HeapGraph) -> IdIndex {
        let mut pairs: Vec<(u32, NodeIdx)> = graph.nodes().map(|n| (graph.id(n), n)).collect();
        if !pairs.is_sorted_by_key(|p| p.0) {
            pairs.sort_unstable_by_key(|p| p.0);
        }
        IdIndex { pairs }
    }

    pub fn get(&self, id: u32) -> Option<NodeIdx> {
        self.pairs
            .binary_search_by_key(&id, |p| p.0)
            .ok()
            .map(|i| self.pairs[i].1)
    }

    pub fn contains(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    /// Whether two snapshots plausibly come from one process with stable ids:
    /// a good share of the older one's JS object ids reappear.
    pub fn overlaps(&self, newer: &IdIndex) -> bool {
        let step = (self.pairs.len() / 1000).max(1);
        let sample: Vec<u32> = self.pairs.iter().step_by(step).map(|p| p.0).collect();
        let hits = sample.iter().filter(|&&id| newer.contains(id)).count();
        hits * 10 >= sample.len()
    }
}
