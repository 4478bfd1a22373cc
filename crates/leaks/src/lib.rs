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

mod ids;
mod pattern;
mod signature;

use analysis::{Analysis, BASE_SYSTEM_DISTANCE, PathStep, retainer_path};
use heapsnap::{HeapGraph, NodeIdx, NodeKind};

pub use ids::{IdAgreement, IdIndex};
pub use pattern::Pattern;
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
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A cluster retaining less than this is not reported as a leak.
    pub min_cluster_bytes: u64,
    /// A cluster with fewer leak roots than this is not reported (unless it grows).
    pub min_cluster_count: usize,
    /// Growing objects must grow by at least this much from first to last snapshot.
    pub min_growth_bytes: u64,
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
            max_results: 10,
            max_path: 100_000,
            max_id_mismatch: 0.01,
        }
    }
}

/// A group of leaked objects retained the same way.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Normalised retainer path (array indexes and repeats folded): the grouping key.
    pub signature: String,
    /// Leak roots in the final snapshot, biggest first.
    pub roots: Vec<NodeIdx>,
    /// Sum of the roots' retained sizes (disjoint: no root dominates another).
    pub retained_size: u64,
    pub self_size: u64,
    /// The biggest root; its path is shown.
    pub representative: NodeIdx,
    /// Retainer path of the representative, root side first.
    pub path: Vec<PathStep>,
    /// Repeated stretches folded in `path`: (first step index, cycle length, repetitions).
    pub folds: Vec<(usize, usize, usize)>,
    /// The last object on the path that already existed in the base snapshot.
    pub holder: Option<NodeIdx>,
    /// Retained size of the holder in each snapshot where it exists (by id), oldest first.
    pub holder_sizes: Vec<Option<u64>>,
    /// Whether the holder kept growing over the snapshots.
    pub growing: bool,
    pub pattern: Pattern,
    /// Closures and constructors that tell where in the code this comes from, most specific first.
    pub code: Vec<NodeIdx>,
}

/// An object present in every snapshot whose retained size grew every time.
#[derive(Debug, Clone)]
pub struct Growing {
    pub node: NodeIdx,
    /// Retained size in each snapshot, oldest first.
    pub sizes: Vec<u64>,
    pub path: Vec<PathStep>,
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
    let g = fin.graph;
    let a = fin.analysis;

    // Candidates: new since the base, alive in every intermediate snapshot.
    let mut candidate = vec![false; g.node_count()];
    let mut candidate_count = 0;
    let mut candidate_bytes = 0;
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
        candidate_count += 1;
        candidate_bytes += u64::from(a.shallow[n.idx()]);
    }

    // Leak roots: candidates with no candidate among their dominators.
    let mut roots: Vec<NodeIdx> = Vec::new();
    let mut stack: Vec<(NodeIdx, bool)> = vec![(g.root(), false)];
    while let Some((n, under_candidate)) = stack.pop() {
        let is_cand = candidate[n.idx()];
        if is_cand && !under_candidate {
            roots.push(n);
        }
        let below = under_candidate || is_cand;
        for &c in a.dominated(n) {
            stack.push((c, below));
        }
    }
    drop(candidate);

    // Cluster by normalised retainer path.
    let mut by_sig: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(Signature, Vec<NodeIdx>)> = Vec::new();
    for &r in &roots {
        let path = retainer_path(g, a, r, opts.max_path);
        let sig = Signature::new(g, a, &path);
        match by_sig.get(&sig.key) {
            Some(&i) => groups[i].1.push(r),
            None => {
                by_sig.insert(sig.key.clone(), groups.len());
                groups.push((sig, vec![r]));
            }
        }
    }

    let mut clusters = Vec::new();
    let mut minor = 0;
    for (sig, mut members) in groups {
        members.sort_by(|&x, &y| {
            a.retained
                .get(y.idx())
                .cmp(&a.retained.get(x.idx()))
                .then(x.cmp(&y))
        });
        let retained_size: u64 = members.iter().map(|n| a.retained.get(n.idx())).sum();
        let self_size: u64 = members.iter().map(|n| u64::from(a.shallow[n.idx()])).sum();
        let representative = members[0];
        let path = retainer_path(g, a, representative, opts.max_path);
        // The holder: the nearest object on the path that existed in the base
        // snapshot and dominates the leak (so its retained size contains it).
        // In a doubly linked list the old neighbours on the path do not.
        let dominators: std::collections::HashSet<NodeIdx> = {
            let mut set = std::collections::HashSet::new();
            let mut cur = representative;
            while cur != g.root() && set.insert(cur) {
                cur = a.idom[cur.idx()];
            }
            set
        };
        let holder_pos = path.iter().rposition(|s| {
            dominators.contains(&s.from)
                && indexes[0].contains(g.id(s.from))
                && reportable(g, s.from)
                && a.distance[s.from.idx()] > 1
        });
        let holder = holder_pos.map(|i| path[i].from);
        let holder_sizes: Vec<Option<u64>> = match holder {
            Some(h) => snaps
                .iter()
                .zip(&indexes)
                .map(|(s, ix)| ix.get(g.id(h)).map(|n| s.analysis.retained.get(n.idx())))
                .collect(),
            None => vec![None; snaps.len()],
        };
        let growing = is_growing(&holder_sizes, retained_size, members.len(), snaps.len());
        // Classify by the end of the path, from just above the holder: what
        // lies nearer the roots (say a SIGTERM handler's closure) says
        // nothing about this leak.
        let tail_from = holder_pos.map_or(path.len().saturating_sub(4), |i| i.saturating_sub(2));
        let pattern = pattern::classify(g, a, &path[tail_from..], &members);
        let code = pattern::code_locations(g, &path, &members);
        let cluster = Cluster {
            signature: sig.display,
            roots: members,
            retained_size,
            self_size,
            representative,
            path,
            folds: sig.folds,
            holder,
            holder_sizes,
            growing,
            pattern,
            code,
        };
        if cluster.retained_size >= opts.min_cluster_bytes
            && cluster.roots.len() >= opts.min_cluster_count
            && cluster.growing
        {
            clusters.push(cluster);
        } else {
            minor += 1;
        }
    }
    clusters.sort_by(|x, y| {
        y.retained_size
            .cmp(&x.retained_size)
            .then_with(|| x.signature.cmp(&y.signature))
    });
    clusters.truncate(opts.max_results);

    let growing = growing_objects(snaps, &indexes, opts);
    Ok(Report {
        snapshot_count: snaps.len(),
        candidate_count,
        candidate_bytes,
        clusters,
        minor_clusters: minor,
        growing,
    })
}

/// A cluster is growing when its holder's retained size rose from each
/// snapshot to the next after the base (1% noise allowed) by at least a
/// quarter of what the cluster retains in all — with the same work between
/// snapshots, a leak adds about as much again each time. Without a holder to
/// follow, a cluster needs several leak roots.
fn is_growing(holder_sizes: &[Option<u64>], retained: u64, roots: usize, n: usize) -> bool {
    let sizes: Vec<u64> = holder_sizes[1..].iter().flatten().copied().collect();
    if sizes.len() == n - 1 && sizes.len() >= 2 {
        let steady = sizes.windows(2).all(|w| w[1] as f64 >= w[0] as f64 * 0.99);
        let growth = sizes[sizes.len() - 1].saturating_sub(sizes[0]);
        return steady && growth * 4 >= retained;
    }
    roots >= 2
}

fn growing_objects(snaps: &[Snap<'_>], indexes: &[IdIndex], opts: &Options) -> Vec<Growing> {
    let last = snaps.len() - 1;
    let fin = snaps[last];
    let g = fin.graph;
    let a = fin.analysis;
    let mut found: Vec<(NodeIdx, Vec<u64>)> = Vec::new();
    for n in g.nodes() {
        if !reportable(g, n) || !(2..BASE_SYSTEM_DISTANCE).contains(&a.distance[n.idx()]) {
            continue;
        }
        let final_size = a.retained.get(n.idx());
        if final_size < opts.min_growth_bytes {
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
        let strictly = sizes.windows(2).all(|w| w[1] > w[0]);
        if strictly && final_size - sizes[0] >= opts.min_growth_bytes {
            found.push((n, sizes));
        }
    }
    // Keep the innermost of nested growing objects: drop one whose growth is
    // mostly explained by a growing object it dominates.
    let growth = |s: &Vec<u64>| s[s.len() - 1] - s[0];
    let in_set: std::collections::HashMap<NodeIdx, u64> =
        found.iter().map(|(n, s)| (*n, growth(s))).collect();
    let mut explained = std::collections::HashSet::new();
    for (n, s) in &found {
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
    let mut out: Vec<Growing> = found
        .into_iter()
        .filter(|(n, _)| !explained.contains(n))
        .map(|(node, sizes)| Growing {
            node,
            sizes,
            path: Vec::new(),
            pattern: Pattern::Other,
            code: Vec::new(),
        })
        .collect();
    out.sort_by(|x, y| {
        growth(&y.sizes)
            .cmp(&growth(&x.sizes))
            .then(x.node.cmp(&y.node))
    });
    out.truncate(opts.max_results);
    for gr in &mut out {
        gr.path = retainer_path(g, a, gr.node, opts.max_path);
        let tail = &gr.path[gr.path.len().saturating_sub(3)..];
        gr.pattern = pattern::classify_growing(g, a, tail, gr.node);
        gr.code = pattern::code_locations(g, &gr.path, &[]);
    }
    out
}
