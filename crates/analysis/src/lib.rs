//! DevTools-exact analysis of a [`HeapGraph`].
//!
//! [`Analysis::run`] computes, in DevTools' order and with DevTools' rules:
//! page-owned flags, shallow-size transfer, the dominator tree by iterative
//! Lengauer–Tarjan, retained sizes, distances, class names (with interface
//! inference for plain objects) and statistics. (DevTools computes distances
//! and class names before the dominator tree; neither feeds it, so running
//! them afterwards gives the same results with a lower peak memory use.) The per-class Summary
//! ([`Analysis::aggregates`]) and the Comparison view ([`diff::compare`]) are
//! built on top. Nothing here does IO.

mod bits;
mod classes;
pub mod diff;
mod dom;
mod dominators;
mod names;
mod passes;
mod paths;
pub mod scripts;
mod stats;
mod weakmap;

use std::collections::HashMap;

use classes::ClassKey;
pub use classes::{
    ClassAggregate, ClassIdx, ClassNames, InterfaceDefinition, format_property_name,
};
use heapsnap::{HeapGraph, NodeIdx, NodeKind};
pub use names::display_name;
pub use passes::{BASE_SYSTEM_DISTANCE, NO_DISTANCE};
pub use paths::{PathStep, RetainerStep, edge_preference, retainer_path, retainer_step};
pub use stats::Statistics;

/// Steps of [`Analysis::run`], reported to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Flags,
    ShallowSizes,
    Dominators,
    RetainedSizes,
    Distances,
    ClassNames,
    Statistics,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Flags => "marking page-owned objects",
            Phase::ShallowSizes => "transferring shallow sizes",
            Phase::Distances => "computing distances",
            Phase::ClassNames => "naming classes",
            Phase::Dominators => "building the dominator tree",
            Phase::RetainedSizes => "summing retained sizes",
            Phase::Statistics => "computing statistics",
        }
    }
}

/// Results of analysing one snapshot.
pub struct Analysis {
    /// Shallow sizes after ownership transfer (what DevTools shows as "Shallow
    /// Size"), 32-bit like DevTools' own; sums of them are `u64`.
    pub shallow: Vec<u32>,
    pub distance: Vec<i32>,
    pub idom: Vec<NodeIdx>,
    pub retained: Vec<u64>,
    first_dominated: Vec<u32>,
    dominated: Vec<NodeIdx>,
    pub class: Vec<ClassIdx>,
    pub class_names: ClassNames,
    pub interfaces: Vec<InterfaceDefinition>,
    pub statistics: Statistics,
    /// Nodes not reachable from the root through edges that retain.
    pub unreachable_count: usize,
    /// Native nodes in a detached DOM state (DevTools names them `Detached …`).
    detached: dom::Detached,
}

impl Analysis {
    /// Runs the whole analysis.
    pub fn run(graph: &HeapGraph, mut progress: impl FnMut(Phase)) -> Analysis {
        let mut weakmaps = weakmap::WeakMapNames::default();
        progress(Phase::Flags);
        let detached = dom::Detached::compute(graph);
        let page_owned = passes::page_owned(graph);
        progress(Phase::ShallowSizes);
        let shallow = passes::shallow_sizes(graph, &detached);
        // The dominator tree comes first: it needs only the page-owned flags,
        // the WeakMap names and the shallow sizes, so its working arrays are
        // gone before distances and class indexes are allocated.
        progress(Phase::Dominators);
        let essential = dominators::essential_edges(graph, &page_owned, &mut weakmaps);
        drop(page_owned);
        let doms = dominators::compute(graph, &essential, &shallow);
        drop(essential);
        progress(Phase::Distances);
        let distance = passes::distances(graph, &mut weakmaps);
        drop(weakmaps);
        progress(Phase::ClassNames);
        let mut class_names = ClassNames::new_for(graph);
        let mut class = classes::class_indexes(graph, &detached, &mut class_names);
        let interfaces = classes::infer_interfaces(graph);
        classes::apply_interfaces(graph, &interfaces, &mut class_names, &mut class);
        progress(Phase::Statistics);
        let statistics = stats::statistics(
            graph,
            &detached,
            &shallow,
            doms.retained[graph.root().idx()],
        );
        Analysis {
            shallow,
            distance,
            idom: doms.idom,
            retained: doms.retained,
            first_dominated: doms.first_dominated,
            dominated: doms.dominated,
            class,
            class_names,
            interfaces,
            statistics,
            unreachable_count: doms.unreachable_count,
            detached,
        }
    }

    /// Whether DevTools shows `n` as a detached DOM (embedder) node: a native
    /// node whose propagated DOM link state is "detached".
    pub fn is_detached(&self, n: NodeIdx) -> bool {
        self.detached.contains(n)
    }

    /// The node's name as DevTools displays it: [`display_name`] with the
    /// `Detached ` prefix DevTools gives detached native nodes.
    pub fn node_name(&self, graph: &HeapGraph, n: NodeIdx) -> String {
        if self.detached.contains(n) {
            format!("Detached {}", display_name(graph, n))
        } else {
            display_name(graph, n)
        }
    }

    /// Children of `n` in the dominator tree.
    pub fn dominated(&self, n: NodeIdx) -> &[NodeIdx] {
        &self.dominated
            [self.first_dominated[n.idx()] as usize..self.first_dominated[n.idx() + 1] as usize]
    }

    pub fn class_name<'a>(&'a self, graph: &'a HeapGraph, n: NodeIdx) -> &'a str {
        self.class_names.get(graph, self.class[n.idx()])
    }

    fn classes(&self) -> Classes<'_> {
        Classes {
            class: &self.class,
            names: &self.class_names,
        }
    }

    /// DevTools' public class key of a node: `,Name` or `scriptId,line,column,Name`.
    pub fn public_class_key(&self, graph: &HeapGraph, n: NodeIdx) -> String {
        let c = self.classes();
        c.public_key(graph, &c.key(graph, n))
    }

    /// The Summary view: one aggregate per class, unsorted.
    ///
    /// Nodes with zero shallow size are left out. A class's retained size sums the
    /// instances that have no dominator ancestor of the same class.
    pub fn aggregates(&self, graph: &HeapGraph) -> Vec<ClassAggregate> {
        self.aggregates_for(graph, &self.classes())
    }

    fn aggregates_for(&self, graph: &HeapGraph, classes: &Classes<'_>) -> Vec<ClassAggregate> {
        // Class keys without a location index a dense table; located ones a map.
        let mut by_class: Vec<u32> = vec![u32::MAX; classes.names.len()];
        let mut by_location: HashMap<ClassKey, usize> = HashMap::new();
        let mut agg_of: Vec<u32> = vec![u32::MAX; graph.node_count()];
        let mut aggs: Vec<(ClassKey, ClassAggregate)> = Vec::new();
        let locations = graph.locations();
        let mut next_location = 0;
        for n in graph.nodes() {
            let size = u64::from(self.shallow[n.idx()]);
            if size == 0 {
                continue;
            }
            while next_location < locations.len() && locations[next_location].node < n {
                next_location += 1;
            }
            let class = classes.class[n.idx()];
            let key = match locations.get(next_location) {
                Some(l) if l.node == n && graph.kind(n) == NodeKind::Object => ClassKey::Located {
                    script_id: l.script_id,
                    line: l.line,
                    column: l.column,
                    class,
                },
                _ => ClassKey::Class(class),
            };
            let d = self.distance[n.idx()];
            let found = match key {
                ClassKey::Class(c) => {
                    Some(by_class[c.0 as usize] as usize).filter(|&i| i != u32::MAX as usize)
                }
                ClassKey::Located { .. } => by_location.get(&key).copied(),
            };
            match found {
                Some(i) => {
                    agg_of[n.idx()] = i as u32;
                    let a = &mut aggs[i].1;
                    a.count += 1;
                    a.self_size += size;
                    a.distance = a.distance.min(d);
                    a.nodes.push(n);
                }
                None => {
                    agg_of[n.idx()] = aggs.len() as u32;
                    match key {
                        ClassKey::Class(c) => by_class[c.0 as usize] = aggs.len() as u32,
                        ClassKey::Located { .. } => {
                            by_location.insert(key.clone(), aggs.len());
                        }
                    }
                    let location = match key {
                        ClassKey::Located {
                            script_id,
                            line,
                            column,
                            ..
                        } => Some((script_id, line, column)),
                        ClassKey::Class(_) => None,
                    };
                    aggs.push((
                        key,
                        ClassAggregate {
                            key: String::new(),
                            name: classes.names.get(graph, classes.class[n.idx()]).to_owned(),
                            count: 1,
                            self_size: size,
                            retained_size: 0,
                            distance: d,
                            nodes: vec![n],
                            location,
                        },
                    ));
                }
            }
        }
        drop(by_class);
        drop(by_location);
        self.class_retained(graph, &agg_of, &mut aggs);
        // Internal keys that share a public key: the later one wins, as in DevTools.
        let mut by_public: HashMap<String, usize> = HashMap::new();
        let mut out: Vec<Option<ClassAggregate>> = Vec::with_capacity(aggs.len());
        for (key, mut agg) in aggs {
            let public = classes.public_key(graph, &key);
            if !agg.nodes.is_sorted_by_key(|&n| graph.id(n)) {
                agg.nodes.sort_unstable_by_key(|&n| graph.id(n));
            }
            agg.key = public.clone();
            match by_public.get(&public) {
                Some(&i) => out[i] = Some(agg),
                None => {
                    by_public.insert(public, out.len());
                    out.push(Some(agg));
                }
            }
        }
        out.into_iter().flatten().collect()
    }

    fn class_retained(
        &self,
        graph: &HeapGraph,
        agg_of: &[u32],
        aggs: &mut [(ClassKey, ClassAggregate)],
    ) {
        // Depth-first over the dominator tree; a class is "open" while we are
        // inside the subtree of a counted instance of it.
        let mut open = vec![false; aggs.len()];
        let root = graph.root();
        // Stack entries: (node, entering?) — on exit we close the class we opened.
        let mut stack: Vec<(NodeIdx, u32)> = vec![(root, u32::MAX)];
        const EXIT: u32 = u32::MAX - 1;
        while let Some((n, tag)) = stack.pop() {
            if tag != u32::MAX {
                open[tag as usize] = false;
                continue;
            }
            let mut opened = None;
            if self.shallow[n.idx()] != 0 {
                let i = agg_of[n.idx()] as usize;
                if !open[i] {
                    aggs[i].1.retained_size += self.retained[n.idx()];
                    if !self.dominated(n).is_empty() {
                        open[i] = true;
                        opened = Some(i as u32);
                    }
                }
            }
            if let Some(i) = opened {
                debug_assert!(i < EXIT);
                stack.push((n, i));
            }
            for &c in self.dominated(n) {
                stack.push((c, u32::MAX));
            }
        }
    }

    /// Root retained size plus native bytes outside the graph (DevTools' "total size").
    pub fn total_size(&self, graph: &HeapGraph) -> u64 {
        self.retained[graph.root().idx()] + graph.header().extra_native_bytes as u64
    }
}

impl Analysis {
    /// Aggregates as they would be with another snapshot's interface definitions
    /// applied to this snapshot's plain objects (DevTools `aggregatesForDiff`).
    pub fn aggregates_with_interfaces(
        &self,
        graph: &HeapGraph,
        defs: &[InterfaceDefinition],
    ) -> Vec<ClassAggregate> {
        if defs == self.interfaces.as_slice() {
            return self.aggregates(graph);
        }
        let mut names = ClassNames::new_for(graph);
        let mut class = classes::class_indexes(graph, &self.detached, &mut names);
        classes::apply_interfaces(graph, defs, &mut names, &mut class);
        self.aggregates_for(
            graph,
            &Classes {
                class: &class,
                names: &names,
            },
        )
    }
}

/// A class assignment: the class of every node and the names they refer to.
struct Classes<'a> {
    class: &'a [ClassIdx],
    names: &'a ClassNames,
}

impl Classes<'_> {
    fn key(&self, graph: &HeapGraph, n: NodeIdx) -> ClassKey {
        let class = self.class[n.idx()];
        if graph.kind(n) == NodeKind::Object
            && let Some(l) = graph.location(n)
        {
            return ClassKey::Located {
                script_id: l.script_id,
                line: l.line,
                column: l.column,
                class,
            };
        }
        ClassKey::Class(class)
    }

    fn public_key(&self, graph: &HeapGraph, key: &ClassKey) -> String {
        match *key {
            ClassKey::Class(c) => format!(",{}", self.names.get(graph, c)),
            ClassKey::Located {
                script_id,
                line,
                column,
                class,
            } => {
                format!(
                    "{script_id},{line},{column},{}",
                    self.names.get(graph, class)
                )
            }
        }
    }
}
