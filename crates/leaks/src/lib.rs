//! Finding leaks in a series of heap snapshots of one process (memlab's method).
//!
//! Given snapshots `S0 (base), S1 … Sk-1, Sk (final)` taken while the same
//! work repeats, a *leak candidate* is an object of the final snapshot that
//! was allocated after the base (its id is not in `S0`) and was alive in every
//! intermediate snapshot. Candidates that no other candidate dominates are
//! the *leak roots*; they are grouped into clusters by their normalised
//! retainer path from the GC roots, ranked by retained size, classified
//! into a leak pattern with advice, and checked for growth: the object that
//! holds a cluster must keep growing from one snapshot to the next.
//!
//! Objects that exist in every snapshot and whose retained size grows each
//! time are reported separately ([`Growing`]).
//!
//! Nothing here does IO; inputs are parsed and analysed snapshots.

pub mod bypath;
mod ids;
mod pattern;
pub mod readable;
pub mod runs;
mod signature;

use std::collections::HashMap;

use analysis::{Analysis, BASE_SYSTEM_DISTANCE, PathStep, retainer_path};
use heapsnap::{HeapGraph, NodeIdx, NodeKind};

pub use ids::{IdAgreement, IdIndex};
pub use pattern::Pattern;
use readable::Scripts;
pub use readable::{Anchor, AnchorKind, HolderName, Readable};
use signature::Signature;

/// One analysed snapshot.
#[derive(Clone, Copy)]
pub struct Snap<'a> {
    pub graph: &'a HeapGraph,
    pub analysis: &'a Analysis,
}

/// Errors of the leak finder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("leak finding needs at least 3 snapshots (base, target, final), got {0}")]
    TooFewSnapshots(usize),
    #[error("comparing by path needs at least 2 snapshots, got {0}")]
    TooFewForPaths(usize),
    /// Snapshots (by position, oldest first) without a single object id in common.
    #[error("snapshots {0} and {1} share no object ids: they are not of the same process")]
    Unrelated(usize, usize),
    /// Snapshots (by position, oldest first) whose shared ids mostly name
    /// different objects: from different processes, or taken with the heap
    /// profiler turned off in between (which makes V8 number objects afresh).
    #[error(
        "the object ids of snapshots {earlier} and {later} do not match: {} of the {} ids they share belong to different objects; they are of different processes, or the heap profiler was turned off between them",
        agreement.mismatched,
        agreement.shared
    )]
    IdsDoNotMatch {
        earlier: usize,
        later: usize,
        agreement: IdAgreement,
    },
}

/// Thresholds of the leak finder.
#[derive(Debug, Clone)]
pub struct Options {
    /// A cluster retaining less than this is not reported as a leak (when the
    /// load between snapshots is not known; with a known load, the rate per
    /// unit of load decides).
    pub min_cluster_bytes: u64,
    /// A cluster with fewer leaked objects than this is not reported (unless it grows).
    pub min_cluster_count: usize,
    /// Growing objects must grow by at least this much from first to last
    /// snapshot (when the load is not known).
    pub min_growth_bytes: u64,
    /// The work done between consecutive snapshots (requests), oldest first:
    /// one entry per interval. Empty when unknown (equal work is assumed).
    pub load: Vec<f64>,
    /// With a known load: the least growth per unit of load (bytes per
    /// request) that counts as a leak.
    pub min_growth_per_unit: f64,
    /// How many clusters and growing objects to report.
    pub max_results: usize,
    /// Longest retainer path followed (linked lists of timers or closures
    /// make paths thousands of hops long).
    pub max_path: usize,
    /// Snapshots are refused as not of one process with stable object ids
    /// when more than this share of the ids they have in common name
    /// different objects (none do within one profiler session; 6% to 90% do
    /// across processes or a profiler restart).
    pub max_id_mismatch: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_cluster_bytes: 256 * 1024,
            min_cluster_count: 1,
            min_growth_bytes: 256 * 1024,
            load: Vec::new(),
            min_growth_per_unit: 100.0,
            max_results: 10,
            max_path: 100_000,
            max_id_mismatch: 0.01,
        }
    }
}

impl Options {
    /// The load of each interval between `n` snapshots (1.0 each when unknown).
    fn intervals(&self, n: usize) -> Vec<f64> {
        if self.load_known(n) {
            self.load.clone()
        } else {
            vec![1.0; n - 1]
        }
    }

    fn load_known(&self, n: usize) -> bool {
        self.load.len() == n - 1 && self.load.iter().all(|&l| l > 0.0)
    }
}

/// A group of leaked objects retained the same way.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Normalised retainer path (array indexes and repeats folded): the grouping key.
    pub signature: String,
    /// Leak roots in the final snapshot, biggest first.
    pub roots: Vec<NodeIdx>,
    /// Leaked objects: the roots, and the objects of the same class each of
    /// them holds in a chain (a linked list of listeners counts every listener).
    pub leaked_objects: usize,
    /// The leaked objects of the cluster's main part: its roots and the
    /// objects they chain (of a merged cluster, the part shown).
    pub leaked: Vec<NodeIdx>,
    /// Sum of the roots' retained sizes (disjoint: no root dominates another).
    pub retained_size: u64,
    pub self_size: u64,
    /// The biggest root; its path is shown.
    pub representative: NodeIdx,
    /// Retainer path of the representative from a GC root, root side first.
    pub path: Vec<PathStep>,
    /// Repeated stretches folded in `path`: (first step index, cycle length, repetitions).
    pub folds: Vec<(usize, usize, usize)>,
    /// The same path as a person would write it, from the nearest named anchor.
    pub readable: Readable,
    /// The last object on the path that already existed in the base snapshot
    /// and dominates the leak: what grows.
    pub holder: Option<NodeIdx>,
    /// Index in `path` of the step that leaves the holder.
    pub holder_pos: Option<usize>,
    /// The holder named as code would name it (`configBus._events.reload`);
    /// without a holder, the nearest object on the path that already
    /// existed in the base (it holds the leak, though not alone).
    pub holder_name: Option<HolderName>,
    /// The object `holder_name` names.
    pub named: Option<NodeIdx>,
    /// Retained size of the holder in each snapshot where it exists (by id), oldest first.
    pub holder_sizes: Vec<Option<u64>>,
    /// Whether the holder kept growing over the snapshots, in step with the load.
    pub growing: bool,
    /// Bytes the holder grew per unit of load (per request), averaged over the intervals.
    pub growth_per_unit: Option<f64>,
    pub pattern: Pattern,
    /// Where in the code the leaked objects are made and stored, most specific first.
    pub code: Vec<NodeIdx>,
}

/// An object present in every snapshot whose retained size grew every time.
#[derive(Debug, Clone)]
pub struct Growing {
    pub node: NodeIdx,
    /// Retained size in each snapshot, oldest first.
    pub sizes: Vec<u64>,
    pub path: Vec<PathStep>,
    pub readable: Readable,
    pub name: HolderName,
    pub growth_per_unit: Option<f64>,
    pub pattern: Pattern,
    /// Closures that tell where in the code this comes from, most specific first.
    pub code: Vec<NodeIdx>,
}

/// What the leak finder found.
#[derive(Debug, Clone)]
pub struct Report {
    pub snapshot_count: usize,
    /// Objects allocated after the base and alive in every later snapshot.
    pub candidate_count: usize,
    pub candidate_bytes: u64,
    /// Leak clusters above the thresholds, biggest first.
    pub clusters: Vec<Cluster>,
    /// Clusters below the thresholds or not growing (for the curious).
    pub minor_clusters: usize,
    /// Of those, clusters whose holder grew, but not in step with the load
    /// (a cache filling up to its bound, entries expiring): weak evidence.
    pub uneven_clusters: usize,
    pub growing: Vec<Growing>,
}

impl Report {
    /// Whether anything should fail a CI gate.
    pub fn has_leaks(&self) -> bool {
        !self.clusters.is_empty() || !self.growing.is_empty()
    }
}

/// Node kinds that can be reported as leaked objects (V8 internals are not).
fn reportable(graph: &HeapGraph, n: NodeIdx) -> bool {
    !matches!(
        graph.kind(n),
        NodeKind::Hidden
            | NodeKind::Array
            | NodeKind::Code
            | NodeKind::ObjectShape
            | NodeKind::Synthetic
            | NodeKind::Number
            | NodeKind::Other
    )
}

/// Runs the leak finder over snapshots of one process, oldest first.
pub fn find_leaks(snaps: &[Snap<'_>], opts: &Options) -> Result<Report, Error> {
    if snaps.len() < 3 {
        return Err(Error::TooFewSnapshots(snaps.len()));
    }
    let indexes: Vec<IdIndex> = snaps.iter().map(|s| IdIndex::new(s.graph)).collect();
    let last = snaps.len() - 1;
    for i in 0..last {
        let agreement = indexes[i].agreement(snaps[i].graph, &indexes[last], snaps[last].graph);
        if agreement.shared == 0 {
            return Err(Error::Unrelated(i, last));
        }
        if agreement.mismatch_ratio() > opts.max_id_mismatch {
            return Err(Error::IdsDoNotMatch {
                earlier: i,
                later: last,
                agreement,
            });
        }
    }
    let fin = snaps[last];
    let (candidate, candidate_count, candidate_bytes) = candidates(fin, &indexes);
    let (roots, chains) = leak_roots(fin, &candidate);
    drop(candidate);
    let scripts = Scripts::new(fin.graph);
    let ctx = Ctx {
        snaps,
        indexes: &indexes,
        opts,
        scripts: &scripts,
    };
    let clusters = merge_by_holder(
        fin.graph,
        group_by_signature(fin, &roots, opts)
            .into_iter()
            .map(|(sig, members)| ctx.cluster(sig, members, &chains))
            .collect(),
    );
    let mut kept = Vec::new();
    let mut minor = 0;
    let mut uneven = 0;
    for c in clusters {
        if ctx.passes(&c) {
            kept.push(c);
        } else {
            minor += 1;
            uneven += usize::from(!c.growing && ctx.gained(&c) >= opts.min_cluster_bytes.max(1));
        }
    }
    kept.sort_by(|x, y| {
        y.retained_size
            .cmp(&x.retained_size)
            .then_with(|| x.signature.cmp(&y.signature))
    });
    kept.truncate(opts.max_results);
    for c in &mut kept {
        ctx.describe(c);
    }
    let growing = growing_objects(&ctx);
    Ok(Report {
        snapshot_count: snaps.len(),
        candidate_count,
        candidate_bytes,
        clusters: kept,
        minor_clusters: minor,
        uneven_clusters: uneven,
        growing,
    })
}

/// Objects of the final snapshot new since the base and alive in every
/// intermediate snapshot: (flags by node, count, shallow bytes).
fn candidates(fin: Snap<'_>, indexes: &[IdIndex]) -> (Vec<bool>, usize, u64) {
    let (g, a) = (fin.graph, fin.analysis);
    let last = indexes.len() - 1;
    let mut candidate = vec![false; g.node_count()];
    let mut count = 0;
    let mut bytes = 0;
    for n in g.nodes() {
        let d = a.distance[n.idx()];
        if !(1..BASE_SYSTEM_DISTANCE).contains(&d) || !reportable(g, n) {
            continue;
        }
        let id = g.id(n);
        if indexes[0].contains(id) || !(1..last).all(|i| indexes[i].contains(id)) {
            continue;
        }
        candidate[n.idx()] = true;
        count += 1;
        bytes += u64::from(a.shallow[n.idx()]);
    }
    (candidate, count, bytes)
}

/// Per leak root, the leaked objects of its class it holds in a chain.
type Chains = HashMap<NodeIdx, Vec<NodeIdx>>;

/// Leak roots (candidates with no candidate among their dominators), and
/// for each root the other leaked objects it stands for: the candidates of
/// its class that it holds in a chain of direct dominators (the rest of a
/// linked list of listeners, of timers, of closures).
fn leak_roots(fin: Snap<'_>, candidate: &[bool]) -> (Vec<NodeIdx>, Chains) {
    let (g, a) = (fin.graph, fin.analysis);
    let mut roots: Vec<NodeIdx> = Vec::new();
    let mut chains: Chains = HashMap::new();
    // (node, the root above it, whether its dominator is in the root's chain)
    let mut stack: Vec<(NodeIdx, Option<NodeIdx>, bool)> = vec![(g.root(), None, false)];
    while let Some((n, root, parent_chained)) = stack.pop() {
        let is_cand = candidate[n.idx()];
        let (root, chained) = match root {
            None if is_cand => {
                roots.push(n);
                (Some(n), true)
            }
            Some(r)
                if is_cand
                    && parent_chained
                    && !ends_chain(g, r)
                    && same_unit(a.class_name(g, n), a.class_name(g, r)) =>
            {
                chains.entry(r).or_default().push(n);
                (Some(r), true)
            }
            // Internal links of a chain (a listener's closure, a context) keep it going.
            Some(r) if is_cand && parent_chained && !ends_chain(g, n) => (Some(r), true),
            other => (other, false),
        };
        for &c in a.dominated(n) {
            stack.push((c, root, chained));
        }
    }
    (roots, chains)
}

/// The objects a JS array that leaked holds as its elements and alone
/// (they leaked with it): empty for anything but an `Array`.
fn array_elements(fin: Snap<'_>, r: NodeIdx) -> Vec<NodeIdx> {
    let (g, a) = (fin.graph, fin.analysis);
    if a.class_name(g, r) != "Array" {
        return Vec::new();
    }
    g.edge_indices(r)
        .filter(|&e| g.edge_kind(e) == heapsnap::EdgeKind::Element)
        .map(|e| g.edge_target(e))
        .filter(|&t| a.idom[t.idx()] == r && reportable(g, t))
        .collect()
}

/// Whether `class` is the kind of leaked object a root of `root_class`
/// stands for: the same class, or the timers of one of Node's timer lists
/// (a list per distinct duration; what the code made are the timers).
fn same_unit(class: &str, root_class: &str) -> bool {
    class == root_class || root_class == "TimersList" && class == "Timeout"
}

/// Whether a node ends a chain of leaked objects of one class: a chain runs
/// through the objects of that class and the small objects between them
/// (closures, contexts), not through strings or arrays they carry.
fn ends_chain(g: &HeapGraph, n: NodeIdx) -> bool {
    !matches!(g.kind(n), NodeKind::Closure | NodeKind::Object)
}

fn group_by_signature(
    fin: Snap<'_>,
    roots: &[NodeIdx],
    opts: &Options,
) -> Vec<(Signature, Vec<NodeIdx>)> {
    let (g, a) = (fin.graph, fin.analysis);
    let mut by_sig: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(Signature, Vec<NodeIdx>)> = Vec::new();
    let mut dicts = signature::DictCache::new();
    for &r in roots {
        let path = retainer_path(g, a, r, opts.max_path);
        let sig = Signature::new(g, a, &path, &mut dicts);
        match by_sig.get(&sig.key) {
            Some(&i) => groups[i].1.push(r),
            None => {
                by_sig.insert(sig.key.clone(), groups.len());
                groups.push((sig, vec![r]));
            }
        }
    }
    groups
}

/// Clusters that share a holder are one leak seen from several of its
/// parts (a cache's values and its keys, entries under different keys):
/// they are merged, the biggest part giving the path shown.
fn merge_by_holder(g: &HeapGraph, mut clusters: Vec<Cluster>) -> Vec<Cluster> {
    // Strings are usually the keys of what leaks: the objects show it better.
    let strings = |c: &Cluster| g.kind(c.representative).is_string();
    clusters.sort_by(|x, y| {
        strings(x)
            .cmp(&strings(y))
            .then(y.retained_size.cmp(&x.retained_size))
            .then_with(|| x.signature.cmp(&y.signature))
    });
    let mut out: Vec<Cluster> = Vec::new();
    let mut by_holder: HashMap<NodeIdx, usize> = HashMap::new();
    for c in clusters {
        let Some(h) = c.holder else {
            out.push(c);
            continue;
        };
        match by_holder.get(&h) {
            Some(&i) => {
                // One leaked unit (a cache entry) can show as several objects (its
                // key and its value): count the units of the biggest part.
                let m = &mut out[i];
                m.roots.extend(c.roots);
                m.leaked_objects = m.leaked_objects.max(c.leaked_objects);
                m.retained_size += c.retained_size;
                m.self_size += c.self_size;
            }
            None => {
                by_holder.insert(h, out.len());
                out.push(c);
            }
        }
    }
    out
}

/// What building a cluster needs besides the cluster's own roots.
struct Ctx<'s, 'a> {
    snaps: &'s [Snap<'a>],
    indexes: &'s [IdIndex],
    opts: &'s Options,
    scripts: &'s Scripts,
}

impl Ctx<'_, '_> {
    fn fin(&self) -> Snap<'_> {
        self.snaps[self.snaps.len() - 1]
    }

    fn cluster(&self, sig: Signature, mut members: Vec<NodeIdx>, chains: &Chains) -> Cluster {
        let fin = self.fin();
        let (g, a) = (fin.graph, fin.analysis);
        members.sort_by(|&x, &y| {
            a.retained
                .get(y.idx())
                .cmp(&a.retained.get(x.idx()))
                .then(x.cmp(&y))
        });
        let retained_size: u64 = members.iter().map(|n| a.retained.get(n.idx())).sum();
        let self_size: u64 = members.iter().map(|n| u64::from(a.shallow[n.idx()])).sum();
        // The roots and the objects they chain: what leaked, one by one.
        let leaked: Vec<NodeIdx> = members
            .iter()
            .flat_map(|&r| {
                // A timer list stands for its timers, not for itself; an
                // array made after the base for the elements it holds.
                let list = a.class_name(g, r) == "TimersList" && chains.contains_key(&r);
                let elements: Vec<NodeIdx> = array_elements(fin, r)
                    .into_iter()
                    .filter(|&t| self.new_and_surviving(g.id(t)))
                    .collect();
                let container = list || !elements.is_empty();
                (!container)
                    .then_some(r)
                    .into_iter()
                    .chain(chains.get(&r).into_iter().flatten().copied())
                    .chain(elements)
            })
            .collect();
        let leaked_objects = leaked.len();
        let representative = members[0];
        let path = retainer_path(g, a, representative, self.opts.max_path);
        let holder_pos = self.holder_position(&path, representative);
        let holder = holder_pos.map(|i| path[i].from);
        let holder_sizes = self.sizes_by_id(holder);
        let (growing, growth_per_unit) = match holder {
            Some(_) => self.growth(&holder_sizes),
            // Without a holder to follow, a cluster needs several leak roots.
            None => (members.len() >= 2, None),
        };
        Cluster {
            signature: sig.display,
            roots: members,
            leaked_objects,
            leaked,
            retained_size,
            self_size,
            representative,
            path,
            folds: sig.folds,
            readable: Readable::empty(g),
            holder,
            holder_pos,
            holder_name: None,
            named: None,
            holder_sizes,
            growing,
            growth_per_unit,
            pattern: Pattern::Other,
            code: Vec::new(),
        }
    }

    /// Names, shows and classifies a reported cluster (done only for the
    /// clusters reported: naming may scan the heap).
    fn describe(&self, c: &mut Cluster) {
        let fin = self.fin();
        let (g, a) = (fin.graph, fin.analysis);
        let path = &c.path;
        // Without a dominating holder (timers are also in the timer queue),
        // the nearest object of the path that existed in the base is named.
        let name_pos = c.holder_pos.or_else(|| {
            path.iter().rposition(|s| {
                self.indexes[0].contains(g.id(s.from))
                    && reportable(g, s.from)
                    && a.distance[s.from.idx()] > 1
            })
        });
        // A scope that holds the leak is named by the variable that leads on.
        c.holder_name = name_pos.filter(|&i| i > 0).map(|i| {
            let scope = g.edge_kind(path[i].edge) == heapsnap::EdgeKind::Context;
            readable::holder_name(g, a, self.scripts, path, if scope { i } else { i - 1 })
        });
        c.named = name_pos.filter(|&i| i > 0).map(|i| path[i].from);
        c.readable = readable::readable(g, a, self.scripts, path, c.holder_pos);
        c.pattern = pattern::classify(g, a, path, c.holder_pos, &c.readable, &c.roots, &c.folds);
        c.code = pattern::code_locations(g, a, self.scripts, path, c.holder_pos, &c.roots);
    }

    /// Whether an object (by id) is a candidate: new since the base and
    /// alive in every intermediate snapshot.
    fn new_and_surviving(&self, id: u32) -> bool {
        let last = self.indexes.len() - 1;
        !self.indexes[0].contains(id) && (1..last).all(|i| self.indexes[i].contains(id))
    }

    /// The holder: the nearest object on the path that existed in the base
    /// snapshot and dominates the leak (so its retained size contains it).
    /// In a doubly linked list the old neighbours on the path do not.
    fn holder_position(&self, path: &[PathStep], representative: NodeIdx) -> Option<usize> {
        let fin = self.fin();
        let (g, a) = (fin.graph, fin.analysis);
        let mut dominators = std::collections::HashSet::new();
        let mut cur = representative;
        while cur != g.root() && dominators.insert(cur) {
            cur = a.idom[cur.idx()];
        }
        // An older member of the same chain (the last listener added before
        // the base, in a linked list of listeners) is not what holds the
        // leak: the object that holds the chain is.
        let class = a.class_name(g, representative);
        path.iter().rposition(|s| {
            dominators.contains(&s.from)
                && self.indexes[0].contains(g.id(s.from))
                && reportable(g, s.from)
                && a.distance[s.from.idx()] > 1
                && a.class_name(g, s.from) != class
        })
    }

    /// Retained size of a node of the final snapshot in each snapshot (by id).
    fn sizes_by_id(&self, n: Option<NodeIdx>) -> Vec<Option<u64>> {
        let g = self.fin().graph;
        match n {
            Some(h) => self
                .snaps
                .iter()
                .zip(self.indexes)
                .map(|(s, ix)| ix.get(g.id(h)).map(|n| s.analysis.retained.get(n.idx())))
                .collect(),
            None => vec![None; self.snaps.len()],
        }
    }

    /// Whether sizes (one per snapshot) grew in step with the load: every
    /// interval adds bytes, and no interval's growth per unit of load is
    /// less than a third of another's (a cache filling up to its bound
    /// grows fast, then slowly, then not at all; a leak grows alike in every
    /// interval). Returns the verdict and the mean growth per unit.
    fn growth(&self, sizes: &[Option<u64>]) -> (bool, Option<f64>) {
        let load = self.opts.intervals(sizes.len());
        let sizes: Vec<u64> = sizes.iter().flatten().copied().collect();
        if sizes.len() != load.len() + 1 {
            return (false, None);
        }
        let rates: Vec<f64> = sizes
            .windows(2)
            .zip(&load)
            .map(|(w, l)| (w[1] as f64 - w[0] as f64) / l)
            .collect();
        let total: f64 = load.iter().sum();
        let mean = (sizes[sizes.len() - 1] as f64 - sizes[0] as f64) / total;
        let max = rates.iter().copied().fold(f64::MIN, f64::max);
        let min = rates.iter().copied().fold(f64::MAX, f64::min);
        let strict = min > 0.0 && min * 3.0 >= max;
        // The inspector can take a snapshot in the middle of a JavaScript
        // task (a loop that moves queued work to a local array): with three
        // or more intervals, one interior dip is allowed when the first
        // interval and the whole series agree on the rate.
        let (first, last) = (rates[0], rates[rates.len() - 1]);
        let dips = rates.iter().filter(|&&r| r <= 0.0).count();
        let robust = rates.len() >= 3
            && first > 0.0
            && last > 0.0
            && dips <= 1
            && first <= mean * 1.5
            && mean <= first * 1.5;
        let consistent = strict || robust;
        let known = self.opts.load_known(sizes.len());
        (consistent, known.then_some(mean))
    }

    /// Whether a cluster is reported: it grows in step with the load and is
    /// big enough, per unit of load when the load is known.
    fn passes(&self, c: &Cluster) -> bool {
        if !c.growing || c.leaked_objects < self.opts.min_cluster_count {
            return false;
        }
        let n = self.snaps.len();
        if self.opts.load_known(n) {
            // The cluster is what the first interval's work left behind.
            let per_unit = c.retained_size as f64 / self.opts.load[0];
            per_unit >= self.opts.min_growth_per_unit
                && c.retained_size >= self.opts.min_cluster_bytes
        } else {
            // Equal work between snapshots: the cluster, or what its holder
            // gained over the series, must reach the threshold.
            c.retained_size.max(self.gained(c)) >= self.opts.min_cluster_bytes
        }
    }

    /// What a cluster's holder gained from the first snapshot to the last.
    fn gained(&self, c: &Cluster) -> u64 {
        let sizes: Vec<u64> = c.holder_sizes.iter().flatten().copied().collect();
        match (sizes.first(), sizes.last()) {
            (Some(&f), Some(&l)) => l.saturating_sub(f),
            _ => 0,
        }
    }
}

fn growing_objects(ctx: &Ctx<'_, '_>) -> Vec<Growing> {
    let (snaps, indexes, opts) = (ctx.snaps, ctx.indexes, ctx.opts);
    let last = snaps.len() - 1;
    let fin = snaps[last];
    let g = fin.graph;
    let a = fin.analysis;
    let known = opts.load_known(snaps.len());
    let total_load: f64 = opts.intervals(snaps.len()).iter().sum();
    let mut found: Vec<(NodeIdx, Vec<u64>, Option<f64>)> = Vec::new();
    for n in g.nodes() {
        if !reportable(g, n) || !(2..BASE_SYSTEM_DISTANCE).contains(&a.distance[n.idx()]) {
            continue;
        }
        let final_size = a.retained.get(n.idx());
        // Cheap filter before looking the node up in every snapshot.
        let floor = if known {
            (opts.min_growth_per_unit * total_load) as u64
        } else {
            opts.min_growth_bytes
        };
        if final_size < floor {
            continue;
        }
        let id = g.id(n);
        let mut sizes = Vec::with_capacity(snaps.len());
        for (s, ix) in snaps[..last].iter().zip(indexes) {
            match ix.get(id) {
                Some(m) => sizes.push(s.analysis.retained.get(m.idx())),
                None => break,
            }
        }
        if sizes.len() != last {
            continue;
        }
        sizes.push(final_size);
        let opt: Vec<Option<u64>> = sizes.iter().map(|&s| Some(s)).collect();
        let (consistent, rate) = ctx.growth(&opt);
        let grew = final_size.saturating_sub(sizes[0]);
        let big_enough = if known {
            rate.is_some_and(|r| r >= opts.min_growth_per_unit)
        } else {
            grew >= opts.min_growth_bytes
        };
        if consistent && big_enough {
            found.push((n, sizes, rate));
        }
    }
    // Keep the innermost of nested growing objects: drop one whose growth is
    // mostly explained by a growing object it dominates.
    let growth = |s: &Vec<u64>| s[s.len() - 1] - s[0];
    let in_set: HashMap<NodeIdx, u64> = found.iter().map(|(n, s, _)| (*n, growth(s))).collect();
    let mut explained = std::collections::HashSet::new();
    for (n, s, _) in &found {
        let mut cur = a.idom[n.idx()];
        let mut hops = 0;
        while cur != g.root() && hops < 10_000 {
            if let Some(&outer_growth) = in_set.get(&cur)
                && growth(s) * 10 >= outer_growth * 8
            {
                explained.insert(cur);
            }
            cur = a.idom[cur.idx()];
            hops += 1;
        }
    }
    found.retain(|(n, _, _)| !explained.contains(n));
    found.sort_by(|x, y| growth(&y.1).cmp(&growth(&x.1)).then(x.0.cmp(&y.0)));
    found.truncate(opts.max_results);
    found
        .into_iter()
        .map(|(node, sizes, growth_per_unit)| {
            let path = retainer_path(g, a, node, opts.max_path);
            let last_step = path.len().checked_sub(1);
            let readable = readable::readable(g, a, ctx.scripts, &path, last_step);
            let name = match last_step {
                Some(i) => readable::holder_name(g, a, ctx.scripts, &path, i),
                None => HolderName {
                    name: a.class_name(g, node).to_owned(),
                    file: None,
                },
            };
            let pattern = pattern::classify_growing(g, a, &path, &readable, node);
            let code =
                pattern::code_locations(g, a, ctx.scripts, &path, last_step.map(|i| i + 1), &[]);
            Growing {
                node,
                sizes,
                path,
                readable,
                name,
                growth_per_unit,
                pattern,
                code,
            }
        })
        .collect()
}
