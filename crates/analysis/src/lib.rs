//! DevTools-exact analysis of a [`HeapGraph`].
//!
//! [`Analysis::run`] computes, with DevTools' rules: page-owned flags, the
//! dominator tree (Lengauer–Tarjan semidominators, then Semi-NCA), shallow-size
//! transfer, retained sizes, class names (with interface inference for plain
//! objects), class retained sizes, distances and statistics. (DevTools computes
//! distances and class names before the dominator tree; neither feeds it, so
//! running them afterwards gives the same results with a lower peak memory
//! use.) The per-class Summary ([`Analysis::aggregates`]) and the Comparison
//! view ([`diff::compare`]) are
//! built on top; [`traces`] reads allocation stacks from snapshots taken
//! with allocation tracking. Nothing here does IO.

mod bits;
mod classes;
pub mod diff;
mod dom;
mod dominators;
mod names;
mod passes;
mod paths;
mod retained;
pub mod scripts;
mod stats;
pub mod traces;
mod weakmap;

use std::collections::HashMap;
use std::sync::OnceLock;

use classes::ClassKey;
pub use classes::{
    ClassAggregate, ClassIdx, ClassNames, InterfaceDefinition, format_property_name,
};
use heapsnap::{HeapGraph, NodeIdx, NodeKind};
pub use names::display_name;
pub use passes::{BASE_SYSTEM_DISTANCE, NO_DISTANCE};
pub use paths::{PathStep, RetainerStep, edge_preference, retainer_path, retainer_step};
pub use retained::RetainedSizes;
pub use stats::Statistics;

/// Steps of [`Analysis::run`], reported to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Flags,
    /// The edges the dominator tree is built on.
    EssentialEdges,
    /// Depth-first numbering, semidominators and immediate dominators.
    Dominators,
    /// The tree mapped back to nodes, shallow sizes (on a second thread)
    /// and retained sizes.
    RetainedSizes,
    ClassNames,
    /// Retained sizes of classes, over the dominator tree.
    ClassRetained,
    /// With statistics (on a second thread).
    Distances,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Flags => "marking page-owned objects",
            Phase::EssentialEdges => "selecting essential edges",
            Phase::Dominators => "building the dominator tree",
            Phase::RetainedSizes => "computing retained sizes",
            Phase::ClassNames => "naming classes",
            Phase::ClassRetained => "summing class retained sizes",
            Phase::Distances => "computing distances",
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
    pub retained: RetainedSizes,
    /// Children in the dominator tree, CSR (`first`, `children`), built on
    /// first use: analyses that never walk down the tree never pay for it.
    dominated: OnceLock<(Vec<u32>, Vec<NodeIdx>)>,
    /// Every node's retainer-path step, built on first use.
    retainer_table: OnceLock<paths::RetainerTable>,
    root: NodeIdx,
    /// Retained size of every class as the Summary view counts it.
    class_retained: ClassRetained,
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
        // Interface inference reads only the graph and needs little memory:
        // it runs on a second thread beside the flags and the dominator tree.
        // Distances come last, when no other per-node working array is alive
        // (beside them, on other threads: statistics). Running them beside
        // class names and class retained sizes saves time but raises the
        // peak by 4-8 bytes per node (measured: 1.04x the file on
        // bench/programs/cache-service.js's heap).
        std::thread::scope(|scope| {
            let interfaces = scope.spawn(|| classes::infer_interfaces(graph));
            progress(Phase::Flags);
            let detached = dom::Detached::compute(graph);
            let page_owned = passes::page_owned(graph);
            // The dominator tree comes first: it needs only the page-owned
            // flags and the WeakMap names, so its working arrays are gone
            // before shallow sizes, distances and class indexes are allocated.
            progress(Phase::EssentialEdges);
            let essential = dominators::essential_edges(graph, &page_owned, &mut weakmaps);
            drop(page_owned);
            progress(Phase::Dominators);
            let doms = dominators::compute(
                graph,
                essential,
                || passes::shallow_sizes(graph, &detached),
                || progress(Phase::RetainedSizes),
            );
            let shallow = doms.shallow;
            progress(Phase::ClassNames);
            let interfaces = join(interfaces);
            let mut class_names = ClassNames::new_for(graph);
            let mut class = classes::class_indexes(graph, &detached, &mut class_names);
            classes::apply_interfaces(graph, &interfaces, &mut class_names, &mut class);
            progress(Phase::ClassRetained);
            // Class retained sizes walk the dominator tree; its child lists
            // live only for that walk.
            let class_retained = class_retained(
                graph,
                &Classes {
                    class: &class,
                    names: &class_names,
                },
                &shallow,
                &doms.retained,
                &doms.idom,
            );
            // Statistics (a few bits per node) beside the distances.
            progress(Phase::Distances);
            let root_retained = doms.retained.get(graph.root().idx());
            let (distance, statistics) = std::thread::scope(|inner| {
                let statistics =
                    inner.spawn(|| stats::statistics(graph, &detached, &shallow, root_retained));
                let distance = passes::distances(graph, &mut weakmaps);
                (distance, join(statistics))
            });
            Analysis {
                shallow,
                distance,
                idom: doms.idom,
                retained: doms.retained,
                dominated: OnceLock::new(),
                retainer_table: OnceLock::new(),
                root: graph.root(),
                class_retained,
                class,
                class_names,
                interfaces,
                statistics,
                unreachable_count: doms.unreachable_count,
                detached,
            }
        })
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
        let (first, children) = self
            .dominated
            .get_or_init(|| dominators::dominated_nodes(self.root, &self.idom));
        &children[first[n.idx()] as usize..first[n.idx() + 1] as usize]
    }

    /// Builds what [`retainer_path`] needs (one pass over the edges), for
    /// callers that want that work done ahead, say on another thread.
    pub fn prepare_retainer_paths(&self, graph: &HeapGraph) {
        self.retainer_table(graph);
    }

    fn retainer_table(&self, graph: &HeapGraph) -> &paths::RetainerTable {
        self.retainer_table
            .get_or_init(|| paths::RetainerTable::build(graph, &self.distance))
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
        aggregate(
            graph,
            &self.classes(),
            &self.shallow,
            Some(&self.distance),
            Some(&self.class_retained),
            true,
        )
    }

    /// [`Analysis::aggregates`] without the instance lists (`nodes` is empty;
    /// `first` is set): what a summary table needs, in far less memory.
    pub fn class_summary(&self, graph: &HeapGraph) -> Vec<ClassAggregate> {
        aggregate(
            graph,
            &self.classes(),
            &self.shallow,
            Some(&self.distance),
            Some(&self.class_retained),
            false,
        )
    }

    /// Root retained size plus native bytes outside the graph (DevTools' "total size").
    pub fn total_size(&self, graph: &HeapGraph) -> u64 {
        self.retained.get(graph.root().idx()) + graph.header().extra_native_bytes as u64
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
        let classes = Classes {
            class: &class,
            names: &names,
        };
        let table = class_retained(graph, &classes, &self.shallow, &self.retained, &self.idom);
        aggregate(
            graph,
            &classes,
            &self.shallow,
            Some(&self.distance),
            Some(&table),
            true,
        )
    }
}

/// One aggregate per class: `distance` and `class_retained` are left at 0
/// when not given (the Comparison view needs neither).
fn aggregate(
    graph: &HeapGraph,
    classes: &Classes<'_>,
    shallow: &[u32],
    distance: Option<&[i32]>,
    class_retained: Option<&ClassRetained>,
    with_nodes: bool,
) -> Vec<ClassAggregate> {
    // Class keys without a location index a dense table; located ones a map.
    let mut by_class: Vec<u32> = vec![u32::MAX; classes.names.len()];
    let mut by_location: HashMap<ClassKey, usize> = HashMap::new();
    let mut aggs: Vec<(ClassKey, ClassAggregate)> = Vec::new();
    let locations = graph.locations();
    let mut next_location = 0;
    for n in graph.nodes() {
        let size = u64::from(shallow[n.idx()]);
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
        let d = distance.map_or(0, |d| d[n.idx()]);
        let found = match key {
            ClassKey::Class(c) => {
                Some(by_class[c.0 as usize] as usize).filter(|&i| i != u32::MAX as usize)
            }
            ClassKey::Located { .. } => by_location.get(&key).copied(),
        };
        match found {
            Some(i) => {
                let a = &mut aggs[i].1;
                a.count += 1;
                a.self_size += size;
                a.distance = a.distance.min(d);
                if with_nodes {
                    a.nodes.push(n);
                }
            }
            None => {
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
                let retained_size = class_retained.map_or(0, |c| c.get(&key));
                aggs.push((
                    key,
                    ClassAggregate {
                        key: String::new(),
                        name: classes.names.get(graph, classes.class[n.idx()]).to_owned(),
                        count: 1,
                        self_size: size,
                        retained_size,
                        distance: d,
                        nodes: if with_nodes { vec![n] } else { Vec::new() },
                        first: n,
                        location,
                    },
                ));
            }
        }
    }
    drop(by_class);
    drop(by_location);
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

/// What the Comparison view needs of a snapshot, without the dominator tree
/// and distances: shallow sizes, class names and interface definitions.
/// [`diff::compare_classified`] on two of these gives exactly what
/// [`diff::compare`] gives on full analyses, in a fraction of the time and
/// memory.
pub struct Classified {
    pub shallow: Vec<u32>,
    pub class: Vec<ClassIdx>,
    pub class_names: ClassNames,
    pub interfaces: Vec<InterfaceDefinition>,
    detached: dom::Detached,
}

impl Classified {
    /// Shallow sizes and classes, with the snapshot's own interface
    /// definitions (inferred on a second thread).
    pub fn run(graph: &HeapGraph) -> Classified {
        std::thread::scope(|scope| {
            let interfaces = scope.spawn(|| classes::infer_interfaces(graph));
            let detached = dom::Detached::compute(graph);
            let shallow = passes::shallow_sizes(graph, &detached);
            let mut class_names = ClassNames::new_for(graph);
            let mut class = classes::class_indexes(graph, &detached, &mut class_names);
            let interfaces = join(interfaces);
            classes::apply_interfaces(graph, &interfaces, &mut class_names, &mut class);
            Classified {
                shallow,
                class,
                class_names,
                interfaces,
                detached,
            }
        })
    }

    /// The aggregates with another snapshot's interface definitions applied
    /// to this one's plain objects (DevTools `aggregatesForDiff`); `distance`
    /// and `retained_size` are 0.
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
        let classes = Classes {
            class: &class,
            names: &names,
        };
        aggregate(graph, &classes, &self.shallow, None, None, true)
    }

    /// DevTools' total size, as [`Analysis::total_size`]: the root retains
    /// every node (unreachable ones hang under it too), so its retained size
    /// is the sum of all shallow sizes.
    pub fn total_size(&self, graph: &HeapGraph) -> u64 {
        self.shallow.iter().map(|&s| u64::from(s)).sum::<u64>()
            + graph.header().extra_native_bytes as u64
    }

    /// One aggregate per class with its instances; `distance` and
    /// `retained_size` are 0.
    pub fn aggregates(&self, graph: &HeapGraph) -> Vec<ClassAggregate> {
        let classes = Classes {
            class: &self.class,
            names: &self.class_names,
        };
        aggregate(graph, &classes, &self.shallow, None, None, true)
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

/// The result of a scoped thread; its panic goes on in the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Retained size per internal class key: the sum over instances (with a
/// non-zero shallow size) that have no dominator ancestor of the same key.
struct ClassRetained {
    by_class: Vec<u64>,
    by_location: HashMap<ClassKey, u64>,
}

impl ClassRetained {
    fn get(&self, key: &ClassKey) -> u64 {
        match key {
            ClassKey::Class(c) => self.by_class[c.0 as usize],
            ClassKey::Located { .. } => self.by_location.get(key).copied().unwrap_or(0),
        }
    }
}

/// Depth-first over the dominator tree (child lists built for the walk and
/// dropped after it); a key is "open" while inside the subtree of a counted
/// instance of it.
fn class_retained(
    graph: &HeapGraph,
    classes: &Classes<'_>,
    shallow: &[u32],
    retained: &RetainedSizes,
    idom: &[NodeIdx],
) -> ClassRetained {
    let root = graph.root();
    let (first, children) = dominators::dominated_nodes(root, idom);
    let dominated = |n: NodeIdx| &children[first[n.idx()] as usize..first[n.idx() + 1] as usize];
    let class_count = classes.names.len();
    let mut sums = vec![0u64; class_count];
    let mut open = vec![false; class_count];
    let mut located: HashMap<ClassKey, usize, foldhash::fast::FixedState> = HashMap::default();
    // Only nodes with a recorded location need the lookup of one.
    let mut located_nodes = bits::BitVec::new(graph.node_count());
    for l in graph.locations() {
        located_nodes.set(l.node.idx());
    }
    // Stack entries: (node, u32::MAX) to enter, (node, key slot) to close it.
    let mut stack: Vec<(NodeIdx, u32)> = vec![(root, u32::MAX)];
    while let Some((n, tag)) = stack.pop() {
        if tag != u32::MAX {
            open[tag as usize] = false;
            continue;
        }
        if shallow[n.idx()] != 0 {
            let key = if located_nodes.get(n.idx()) {
                classes.key(graph, n)
            } else {
                ClassKey::Class(classes.class[n.idx()])
            };
            let slot = match key {
                ClassKey::Class(c) => c.0 as usize,
                key => *located.entry(key).or_insert_with(|| {
                    sums.push(0);
                    open.push(false);
                    sums.len() - 1
                }),
            };
            if !open[slot] {
                sums[slot] += retained.get(n.idx());
                if !dominated(n).is_empty() {
                    open[slot] = true;
                    stack.push((n, slot as u32));
                }
            }
        }
        for &c in dominated(n) {
            stack.push((c, u32::MAX));
        }
    }
    let by_location = located
        .into_iter()
        .map(|(k, slot)| (k, sums[slot]))
        .collect();
    sums.truncate(class_count);
    ClassRetained {
        by_class: sums,
        by_location,
    }
}
