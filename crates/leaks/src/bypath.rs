//! Comparing snapshots of *different processes* of one program by path,
//! without object ids.
//!
//! Object ids only match within one heap-profiler session (`ids.rs`); two
//! pods, a process before and after a restart, or two alert snapshots with
//! the profiler off in between have unrelated ids. What they share is their
//! code, so the same kind of object is reached the same way: by the same
//! normalised retainer path (the one leak clusters are keyed by — indexes
//! and data-like keys erased, repeated stretches folded and keyed by class,
//! see `signature.rs`). Every object of a snapshot gets such a path key;
//! per key, the objects are counted and the retained sizes of those no
//! other object of the key dominates are summed (a linked list counts every
//! member but its size once). Keys are matched across snapshots by a hash of
//! their text, never by object id.
//!
//! A key whose objects grew in number, with its growth carried by the new
//! objects, under a *holder* key that did not (the array, Map or emitter
//! that existed in both and grew), is reported like a find-leaks cluster; a
//! key whose objects did not multiply but grew (a string, a buffer list
//! inside one object), and that nothing reported below it explains, is
//! reported as a growing object. Both must grow by an absolute and a
//! relative threshold, in every interval when there are more than two
//! snapshots.
//!
//! Keys form a trie (a key's parent is the key of the object its objects are
//! reached from), built in one pass over the nodes in distance order from
//! the best-retainer table, so the whole heap costs a few words per node.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use analysis::{Analysis, BASE_SYSTEM_DISTANCE, PathStep};
use heapsnap::{EdgeIdx, EdgeKind, HeapGraph, NodeIdx};

use crate::pattern::{self, Pattern};
use crate::readable::{self, HolderName, Readable, Scripts};
use crate::signature::{self, Signature};
use crate::{Error, Snap, reportable};

type KeyId = u32;
const NONE: u32 = u32::MAX;
/// Longest repeated block folded (as `runs::fold_runs`).
const MAX_BLOCK: usize = 4;

/// A hash of a normalised path's text: equal paths of two snapshots have equal hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathHash(u128);

fn hash_of(parts: impl Hash) -> PathHash {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    0u8.hash(&mut a);
    1u8.hash(&mut b);
    parts.hash(&mut a);
    parts.hash(&mut b);
    PathHash((u128::from(a.finish()) << 64) | u128::from(b.finish()))
}

/// What the objects on one path add up to in one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Objects on the path (V8 internals such as arrays and code are not counted).
    pub count: u64,
    /// Retained size of the objects on the path that no other object on it dominates.
    pub retained: u64,
}

/// Every path of one snapshot with its count and size, and nothing of the
/// graph: what an earlier snapshot leaves for the comparison.
#[derive(Debug, Clone, Default)]
pub struct PathSummary {
    stats: HashMap<PathHash, PathStats>,
    /// Objects by class (a hash of its name), whatever path leads to them.
    classes: HashMap<PathHash, u64>,
}

impl PathSummary {
    pub fn get(&self, h: PathHash) -> PathStats {
        self.stats.get(&h).copied().unwrap_or_default()
    }

    fn class_count(&self, h: PathHash) -> u64 {
        self.classes.get(&h).copied().unwrap_or_default()
    }

    /// Paths with at least one object.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }
}

/// The normalised paths of one snapshot: a trie of keys, each node's key,
/// and per key its count and retained size.
pub struct PathIndex {
    parent: Vec<KeyId>,
    /// The step a key adds to its parent: where a path starts (the class of
    /// its first object), an edge and the class it leads to, or a folded
    /// repeated stretch (its classes); one id per distinct text.
    item: Vec<u32>,
    hash: Vec<PathHash>,
    depth: Vec<u32>,
    /// Block length of a loop key (a folded stretch), 0 otherwise.
    loop_len: Vec<u8>,
    stats: Vec<PathStats>,
    item_text: Vec<String>,
    item_hash: Vec<PathHash>,
    /// Objects by class (a hash of its name).
    classes: HashMap<PathHash, u64>,
    /// Per node, its key (`NONE` outside the heap reachable from user roots).
    key_of: Vec<KeyId>,
    /// Per node, whether it is on its key's path and no other object there dominates it.
    top: Vec<bool>,
    /// Per node, the edge its path comes by (`NONE` where a path starts).
    via: Vec<u32>,
}

impl PathIndex {
    /// Keys every node of a snapshot and adds them up.
    pub fn new(snap: Snap<'_>) -> PathIndex {
        let mut b = Builder::new(snap);
        b.key_nodes();
        let mut index = b.finish();
        index.add_up(snap);
        index
    }

    /// The counts and sizes alone, to compare with later snapshots.
    pub fn summary(&self) -> PathSummary {
        let stats = (0..self.stats.len())
            .filter(|&k| self.stats[k].count > 0)
            .map(|k| (self.hash[k], self.stats[k]))
            .collect();
        PathSummary {
            stats,
            classes: self.classes.clone(),
        }
    }

    /// The path keys are made from, from the path's start to `n`, at most
    /// `max_len` steps (the shortest retainer path, ties broken by path).
    pub fn path(&self, g: &HeapGraph, n: NodeIdx, max_len: usize) -> Vec<PathStep> {
        let mut steps = Vec::new();
        let mut cur = n;
        while self.via[cur.idx()] != NONE && steps.len() < max_len {
            let edge = EdgeIdx(self.via[cur.idx()]);
            let from = g.edge_source(edge);
            steps.push(PathStep {
                from,
                edge,
                to: cur,
            });
            cur = from;
        }
        steps.reverse();
        steps
    }

    /// Keys in the index.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The path key of a node, as text (`None` outside the user-reachable heap).
    pub fn text_of(&self, n: NodeIdx) -> Option<String> {
        let k = self.key_of[n.idx()];
        (k != NONE).then(|| self.text(k))
    }

    /// The key's text: classes and edges, root side first, folded stretches as `( A B )*`.
    fn text(&self, k: KeyId) -> String {
        let mut parts = Vec::new();
        let mut cur = k;
        while cur != NONE {
            parts.push(self.item_text[self.item[cur as usize] as usize].as_str());
            cur = self.parent[cur as usize];
        }
        parts.reverse();
        parts.join(" ")
    }

    /// Counts each key's objects and sums the retained sizes of those with
    /// no dominator on the same key (a walk of the dominator tree keeping,
    /// per key, how many of the current node's dominators are on it).
    fn add_up(&mut self, snap: Snap<'_>) {
        let (g, a) = (snap.graph, snap.analysis);
        let mut active = vec![0u32; self.parent.len()];
        let mut classes: HashMap<u32, u64> = HashMap::new();
        let mut stack: Vec<(NodeIdx, bool)> = vec![(g.root(), false)];
        while let Some((n, exit)) = stack.pop() {
            let k = self.key_of[n.idx()];
            let member = k != NONE && reportable(g, n);
            if exit {
                active[k as usize] -= 1;
                continue;
            }
            if member {
                let s = &mut self.stats[k as usize];
                s.count += 1;
                *classes.entry(a.class[n.idx()].0).or_default() += 1;
                if active[k as usize] == 0 {
                    self.top[n.idx()] = true;
                    s.retained += a.retained.get(n.idx());
                }
                active[k as usize] += 1;
                stack.push((n, true));
            }
            for &c in a.dominated(n) {
                stack.push((c, false));
            }
        }
        for (c, n) in classes {
            let name = a.class_names.get(g, analysis::ClassIdx(c));
            *self.classes.entry(class_hash(name)).or_default() += n;
        }
    }

    /// The key `levels` steps up the trie (`NONE` past the top).
    fn up(&self, mut k: KeyId, levels: usize) -> KeyId {
        for _ in 0..levels {
            if k == NONE {
                break;
            }
            k = self.parent[k as usize];
        }
        k
    }

    /// The key of what holds a key's objects: its parent, past the stretch
    /// a loop was folded from (older members of the same chain) and past
    /// keys of V8 internals alone (a Map's hash table).
    fn holder_key(&self, k: KeyId) -> KeyId {
        let l = usize::from(self.loop_len[k as usize]);
        let mut h = self.up(k, if l > 0 { 2 * l } else { 1 });
        while h != NONE && self.stats[h as usize].count == 0 {
            h = self.parent[h as usize];
        }
        h
    }

    fn ancestors(&self, k: KeyId) -> impl Iterator<Item = KeyId> + '_ {
        let up = |k: KeyId| Some(self.parent[k as usize]).filter(|&p| p != NONE);
        std::iter::successors(up(k), move |&p| up(p))
    }
}

/// Whether a distance is of the heap reachable from user roots.
fn user(d: i32) -> bool {
    (1..BASE_SYSTEM_DISTANCE).contains(&d)
}

/// How good a retainer at distance `sd` by an edge of `kind` is (lower is better).
fn rank_of(sd: i32, kind: EdgeKind) -> u32 {
    ((sd as u32) << 2) | u32::from(analysis::edge_preference(kind))
}

fn class_hash(name: &str) -> PathHash {
    hash_of(("class", name))
}

/// Orders equally short retainers by their path and edge, not by node ordinal.
fn tie_break(key: PathHash, token: PathHash) -> u64 {
    let mut h = DefaultHasher::new();
    (key, token).hash(&mut h);
    h.finish()
}

/// Interning of keys, tokens and loops while nodes are keyed.
struct Builder<'s> {
    g: &'s HeapGraph,
    a: &'s Analysis,
    index: PathIndex,
    children: HashMap<(KeyId, u32), KeyId>,
    /// Item ids by the hash of their text.
    items: HashMap<PathHash, u32>,
    /// Item ids of tokens by (edge type, edge name, source is a dictionary, class).
    tokens: HashMap<(u8, u32, bool, u32), u32>,
    loops: HashMap<Vec<u32>, u32>,
    starts: HashMap<u32, u32>,
    /// Per node: the node its path comes from (`NONE` where the path starts).
    from: Vec<u32>,
    /// Per node: its token (`NONE` for a path's first node).
    token: Vec<u32>,
    /// Per node in a folded stretch: block length << 4 | position in the block.
    state: Vec<u8>,
    /// Per node: 0 unknown, 1 not a dictionary, 2 a dictionary.
    dict: Vec<u8>,
}

impl<'s> Builder<'s> {
    fn new(snap: Snap<'s>) -> Builder<'s> {
        let n = snap.graph.node_count();
        Builder {
            g: snap.graph,
            a: snap.analysis,
            index: PathIndex {
                parent: Vec::new(),
                item: Vec::new(),
                hash: Vec::new(),
                depth: Vec::new(),
                loop_len: Vec::new(),
                stats: Vec::new(),
                item_text: Vec::new(),
                item_hash: Vec::new(),
                classes: HashMap::new(),
                key_of: vec![NONE; n],
                top: vec![false; n],
                via: vec![NONE; n],
            },
            children: HashMap::new(),
            items: HashMap::new(),
            tokens: HashMap::new(),
            loops: HashMap::new(),
            starts: HashMap::new(),
            from: vec![NONE; n],
            token: vec![NONE; n],
            state: vec![0; n],
            dict: vec![0; n],
        }
    }

    fn finish(self) -> PathIndex {
        self.index
    }

    /// Nodes reachable from user roots, closest first (a path's earlier
    /// nodes are keyed before it).
    fn order(&self) -> Vec<u32> {
        let dist = &self.a.distance;
        let max = dist.iter().copied().filter(|&d| user(d)).max().unwrap_or(0) as usize;
        let mut start = vec![0u32; max + 2];
        for &d in dist.iter().filter(|&&d| user(d)) {
            start[d as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut order = vec![0u32; start[max + 1] as usize];
        for (n, &d) in dist.iter().enumerate() {
            if user(d) {
                let slot = &mut start[d as usize];
                order[*slot as usize] = n as u32;
                *slot += 1;
            }
        }
        order
    }

    /// Per node, the best (distance, edge preference) of its retainers:
    /// what a shortest retainer path takes (as `analysis::retainer_path`).
    fn ranks(&self) -> Vec<u32> {
        let (g, dist) = (self.g, &self.a.distance);
        let mut rank = vec![u32::MAX; g.node_count()];
        for src in g.nodes() {
            let sd = dist[src.idx()];
            if !user(sd) {
                continue;
            }
            for e in g.edge_indices(src) {
                let kind = g.edge_kind(e);
                if kind != EdgeKind::Weak {
                    let t = g.edge_target(e).idx();
                    rank[t] = rank[t].min(rank_of(sd, kind));
                }
            }
        }
        rank
    }

    /// Keys every node, closest to the roots first. A node's path comes
    /// from a shortest retainer (closest, then named edges first); among
    /// equal ones, from the one whose path and edge hash lowest, so that two
    /// processes choose alike (node ordinals, which break ties in
    /// DevTools, differ between processes).
    fn key_nodes(&mut self) {
        let rank = self.ranks();
        let mut best = vec![u64::MAX; self.g.node_count()];
        for u in self.order() {
            let u = NodeIdx(u);
            let key = match self.index.via[u.idx()] {
                NONE => self.start_key(u),
                _ => self.extend(u, NodeIdx(self.from[u.idx()]), self.token[u.idx()]),
            };
            self.index.key_of[u.idx()] = key;
            let du = self.a.distance[u.idx()];
            let kh = self.index.hash[key as usize];
            for e in self.g.edge_indices(u) {
                let kind = self.g.edge_kind(e);
                let v = self.g.edge_target(e);
                let dv = self.a.distance[v.idx()];
                if kind == EdgeKind::Weak || !user(dv) || dv <= du {
                    continue;
                }
                if rank[v.idx()] != rank_of(du, kind) {
                    continue;
                }
                let tok = self.token_of(u, e, v);
                let h = tie_break(kh, self.index.item_hash[tok as usize]);
                if h < best[v.idx()] {
                    best[v.idx()] = h;
                    self.index.via[v.idx()] = e.0;
                    self.from[v.idx()] = u.0;
                    self.token[v.idx()] = tok;
                }
            }
        }
    }

    fn class(&self, n: NodeIdx) -> u32 {
        self.a.class[n.idx()].0
    }

    fn class_text(&self, c: u32) -> &str {
        self.a.class_names.get(self.g, analysis::ClassIdx(c))
    }

    /// The id of an item by its text (`kind` keeps starts, steps and loops apart).
    fn item_id(&mut self, kind: &str, text: String) -> u32 {
        let h = hash_of((kind, &text));
        let next = self.index.item_hash.len() as u32;
        let id = *self.items.entry(h).or_insert(next);
        if id == next {
            self.index.item_hash.push(h);
            self.index.item_text.push(text);
        }
        id
    }

    fn start_key(&mut self, n: NodeIdx) -> KeyId {
        let c = self.class(n);
        let id = match self.starts.get(&c) {
            Some(&id) => id,
            None => {
                let id = self.item_id("start", self.class_text(c).to_owned());
                self.starts.insert(c, id);
                id
            }
        };
        self.intern(NONE, id)
    }

    fn is_dict(&mut self, n: NodeIdx) -> bool {
        if self.dict[n.idx()] == 0 {
            self.dict[n.idx()] = 1 + u8::from(signature::is_dictionary(self.g, n));
        }
        self.dict[n.idx()] == 2
    }

    /// The token of the step `from --e--> to`: the normalised edge and the class reached.
    fn token_of(&mut self, from: NodeIdx, e: EdgeIdx, to: NodeIdx) -> u32 {
        let kind = self.g.edge_kind(e);
        let named = !matches!(kind, EdgeKind::Element | EdgeKind::Hidden | EdgeKind::Weak);
        let name = if named {
            self.g.edge_name_or_index(e)
        } else {
            0
        };
        let dict = matches!(kind, EdgeKind::Property | EdgeKind::Shortcut) && self.is_dict(from);
        let class = self.class(to);
        let raw = (self.g.edge_raw_type(e), name, dict, class);
        if let Some(&id) = self.tokens.get(&raw) {
            return id;
        }
        let edge = signature::edge_token_with(self.g, e, || dict);
        let id = self.item_id("step", format!("{edge} {}", self.class_text(class)));
        self.tokens.insert(raw, id);
        id
    }

    fn intern(&mut self, parent: KeyId, item: u32) -> KeyId {
        if let Some(&k) = self.children.get(&(parent, item)) {
            return k;
        }
        let ix = &mut self.index;
        let k = ix.parent.len() as KeyId;
        let item_hash = ix.item_hash[item as usize];
        let (parent_hash, depth) = if parent == NONE {
            (PathHash(0), 0)
        } else {
            (ix.hash[parent as usize], ix.depth[parent as usize] + 1)
        };
        ix.parent.push(parent);
        ix.item.push(item);
        ix.hash.push(hash_of((parent_hash, item_hash)));
        ix.depth.push(depth);
        ix.loop_len.push(0);
        ix.stats.push(PathStats::default());
        self.children.insert((parent, item), k);
        k
    }

    /// The node `levels` steps up `n`'s path.
    fn ancestor(&self, n: NodeIdx, levels: usize) -> Option<NodeIdx> {
        let mut cur = n;
        for _ in 0..levels {
            let f = self.from[cur.idx()];
            if f == NONE {
                return None;
            }
            cur = NodeIdx(f);
        }
        Some(cur)
    }

    /// The key of `n`, reached from `p` by token `tok`: a step more, the
    /// next member of a folded stretch, or a newly folded one.
    fn extend(&mut self, n: NodeIdx, p: NodeIdx, tok: u32) -> KeyId {
        let pk = self.index.key_of[p.idx()];
        let st = self.state[p.idx()];
        if st != 0 {
            let (len, pos) = (usize::from(st >> 4), usize::from(st & 15));
            let again = self
                .ancestor(n, len)
                .is_some_and(|m| self.token[m.idx()] == tok);
            if again {
                let pos = (pos + 1) % len;
                self.state[n.idx()] = ((len as u8) << 4) | pos as u8;
                return if pos == 0 {
                    // Back at the start of the block: the loop's own key.
                    self.index.up(pk, usize::from(st & 15))
                } else {
                    self.intern(pk, tok)
                };
            }
            return self.intern(pk, tok);
        }
        if let Some(len) = self.repeat_ending_at(n) {
            let mut classes = Vec::with_capacity(len);
            for i in (0..len).rev() {
                let m = self.ancestor(n, i).expect("checked by repeat_ending_at");
                classes.push(self.class(m));
            }
            let l = self.loop_id(classes);
            let k = self.intern(pk, l);
            self.index.loop_len[k as usize] = len as u8;
            self.state[n.idx()] = (len as u8) << 4;
            return k;
        }
        self.intern(pk, tok)
    }

    /// The shortest block (1 to 4 steps) that the path ending at `n` repeats
    /// twice in a row, outside any folded stretch.
    fn repeat_ending_at(&self, n: NodeIdx) -> Option<usize> {
        let mut chain = vec![n];
        for len in 1..=MAX_BLOCK {
            while chain.len() < 2 * len {
                let last = *chain.last().expect("not empty");
                let f = self.from[last.idx()];
                if f == NONE {
                    return None;
                }
                let f = NodeIdx(f);
                if self.state[f.idx()] != 0 || self.token[f.idx()] == NONE {
                    return None;
                }
                chain.push(f);
            }
            if (0..len).all(|k| self.token[chain[k].idx()] == self.token[chain[k + len].idx()]) {
                return Some(len);
            }
        }
        None
    }

    fn loop_id(&mut self, classes: Vec<u32>) -> u32 {
        if let Some(&id) = self.loops.get(&classes) {
            return id;
        }
        let names: Vec<String> = classes
            .iter()
            .map(|&c| self.class_text(c).to_owned())
            .collect();
        let id = self.item_id("loop", format!("( {} )*", names.join(" ")));
        self.loops.insert(classes, id);
        id
    }
}

/// Thresholds of the comparison.
#[derive(Debug, Clone)]
pub struct Options {
    /// A path is reported only when its retained size grew by at least this
    /// much from the first snapshot to the last.
    pub min_growth_bytes: u64,
    /// ... and by at least this share of its size in the first snapshot.
    pub min_growth_ratio: f64,
    /// How many paths to report.
    pub max_results: usize,
    /// Longest retainer path followed.
    pub max_path: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_growth_bytes: 256 * 1024,
            min_growth_ratio: 0.2,
            max_results: 10,
            max_path: 100_000,
        }
    }
}

/// How a path grew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// More objects on the path, under a holder that is not itself new: leaked objects.
    NewObjects,
    /// As many objects or fewer, but bigger: an object that grows.
    Grew,
}

/// A path whose retained size grew, described from the last snapshot.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: FindingKind,
    /// The normalised path (the matching key), as text.
    pub signature: String,
    /// Objects on the path in each snapshot, oldest first.
    pub counts: Vec<u64>,
    /// Retained size of the path in each snapshot, oldest first.
    pub sizes: Vec<u64>,
    /// More objects on the path in the last snapshot than in the first.
    pub new_objects: i64,
    /// Retained bytes the path gained from the first snapshot to the last.
    pub growth: u64,
    /// Objects of the last snapshot on the path (no other one dominating them), biggest first.
    pub roots: Vec<NodeIdx>,
    /// The biggest of them; its path is shown.
    pub representative: NodeIdx,
    /// Retainer path of the representative from a GC root, root side first.
    pub path: Vec<PathStep>,
    /// Repeated stretches folded in `path`: (first step, cycle length, repetitions).
    pub folds: Vec<(usize, usize, usize)>,
    pub readable: Readable,
    /// The object of the last snapshot that holds the new objects (on the holder path).
    pub holder: Option<NodeIdx>,
    /// Index in `path` of the step that leaves the holder.
    pub holder_pos: Option<usize>,
    pub holder_name: Option<HolderName>,
    /// The object `holder_name` names.
    pub named: Option<NodeIdx>,
    /// Retained size of the holder's path in each snapshot.
    pub holder_sizes: Vec<Option<u64>>,
    pub pattern: Pattern,
    /// Where in the code the objects are made and stored, most specific first.
    pub code: Vec<NodeIdx>,
}

/// What the comparison found.
#[derive(Debug, Clone)]
pub struct Report {
    pub snapshot_count: usize,
    /// Paths with objects in the last snapshot.
    pub paths: usize,
    /// Paths that grew above the thresholds, by growth, biggest first.
    pub findings: Vec<Finding>,
    /// Paths that grew, but below the thresholds or not in every interval.
    pub ignored: usize,
}

/// Per key, its stats in every snapshot, oldest first.
struct Series<'s> {
    earlier: &'s [PathSummary],
    index: &'s PathIndex,
}

impl Series<'_> {
    fn at(&self, k: KeyId) -> Vec<PathStats> {
        let h = self.index.hash[k as usize];
        self.earlier
            .iter()
            .map(|s| s.get(h))
            .chain(std::iter::once(self.index.stats[k as usize]))
            .collect()
    }

    fn first(&self, k: KeyId) -> PathStats {
        self.earlier[0].get(self.index.hash[k as usize])
    }

    fn last(&self, k: KeyId) -> PathStats {
        self.index.stats[k as usize]
    }

    fn new_count(&self, k: KeyId) -> i64 {
        self.last(k).count as i64 - self.first(k).count as i64
    }

    fn growth(&self, k: KeyId) -> i64 {
        self.last(k).retained as i64 - self.first(k).retained as i64
    }

    /// Whether a key's growth is carried by new objects like its old ones
    /// (it gained objects, and not much more than they would weigh); a key
    /// whose old objects grew (a list that gained members) is a holder.
    fn new_objects(&self, k: KeyId) -> bool {
        let (f, dc) = (self.first(k), self.new_count(k));
        if dc <= 0 {
            return false;
        }
        if f.count == 0 {
            return true;
        }
        let per_object = f.retained as f64 / f.count as f64;
        self.growth(k) as f64 <= 2.0 * dc as f64 * per_object + 1024.0
    }
}

impl Series<'_> {
    /// Whether the new objects of these keys (of one class) are not new in
    /// the heap: about as many objects of their class are in the first
    /// snapshot, reached some other way (a module's exports reached through
    /// another module in one process). A leak adds objects.
    fn moved(&self, keys: &[KeyId], class: &str) -> bool {
        let new: i64 = keys.iter().map(|&k| self.new_count(k)).sum();
        let h = class_hash(class);
        let first = self.earlier[0].class_count(h) as i64;
        let last = self.index.classes.get(&h).copied().unwrap_or_default() as i64;
        (last - first) * 2 < new
    }
}

/// Whether sizes grew in every interval, and `growth` (of them, or what of
/// them is not explained elsewhere) by the absolute and relative thresholds.
fn grew_enough(sizes: &[u64], growth: u64, opts: &Options) -> bool {
    let first = sizes[0];
    sizes.windows(2).all(|w| w[1] > w[0])
        && growth >= opts.min_growth_bytes.max(1)
        && growth as f64 >= opts.min_growth_ratio * first as f64
}

/// Compares snapshots of different processes of one program, oldest first:
/// summaries of the earlier ones and the index of the last (and the last
/// snapshot itself, to describe what grew).
pub fn compare(
    earlier: &[PathSummary],
    last: Snap<'_>,
    index: &PathIndex,
    opts: &Options,
) -> Result<Report, Error> {
    if earlier.is_empty() {
        return Err(Error::TooFewForPaths(earlier.len() + 1));
    }
    let series = Series { earlier, index };
    let keys = index.parent.len() as KeyId;
    let live = |k: KeyId| index.stats[k as usize].count > 0;
    // Keys of new objects under a holder that is not new itself.
    let root: Vec<bool> = (0..keys)
        .map(|k| {
            live(k) && series.growth(k) > 0 && series.new_objects(k) && {
                let h = index.holder_key(k);
                h == NONE || !series.new_objects(h)
            }
        })
        .collect();
    // The outermost of nested ones (new arrays holding new objects: the arrays).
    let roots: Vec<KeyId> = (0..keys)
        .filter(|&k| root[k as usize] && !index.ancestors(k).any(|p| root[p as usize]))
        .collect();
    let mut groups: HashMap<KeyId, Vec<KeyId>> = HashMap::new();
    for &k in &roots {
        let h = index.holder_key(k);
        groups
            .entry(if h == NONE { k } else { h })
            .or_default()
            .push(k);
    }
    let wanted: Vec<KeyId> = roots.iter().chain(groups.keys()).copied().collect();
    let members = Members::new(last, index, &wanted);
    let mut ignored = 0;
    let mut found: Vec<Draft> = Vec::new();
    // Every group explains growth above it, reported or not.
    let mut drafts: Vec<Draft> = Vec::new();
    for (holder, parts) in groups {
        match new_objects(&series, &members, last, holder, parts) {
            Some(d) => drafts.push(d),
            None => ignored += 1,
        }
    }
    share_holders(&mut drafts, index);
    let grown = growing(&series, &drafts, &root, opts, &mut ignored);
    for d in drafts {
        if grew_enough(d.judged(), d.growth(), opts) {
            found.push(d);
        } else {
            ignored += 1;
        }
    }
    found.extend(grown);
    found.sort_by(|x, y| y.growth().cmp(&x.growth()).then(x.key.cmp(&y.key)));
    found.truncate(opts.max_results);
    let scripts = Scripts::new(last.graph);
    let ctx = Describe {
        last,
        index,
        series: &series,
        members: &members,
        scripts: &scripts,
        opts,
    };
    Ok(Report {
        snapshot_count: earlier.len() + 1,
        paths: (0..keys).filter(|&k| live(k)).count(),
        findings: found.iter().map(|d| ctx.finding(d)).collect(),
        ignored,
    })
}

/// The finding for the keys of new objects under one holder, unless they
/// are not new in the heap. Its growth is the new objects', or their
/// holder's when it grew more (a Map's hash table, a dictionary's backing
/// store, the pooled buffers a list keeps).
fn new_objects(
    series: &Series<'_>,
    members: &Members,
    last: Snap<'_>,
    holder: KeyId,
    mut parts: Vec<KeyId>,
) -> Option<Draft> {
    let snapshots = series.earlier.len() + 1;
    // Strings are usually the keys of what leaks: the objects show it better.
    parts.sort_by_key(|&k| {
        let string = members
            .biggest(k)
            .is_some_and(|n| last.graph.kind(n).is_string());
        (string, -series.growth(k), k)
    });
    let main = parts[0];
    let holder = (holder != main).then_some(holder);
    let sum = |keys: &[KeyId], f: fn(PathStats) -> u64| -> Vec<u64> {
        (0..snapshots)
            .map(|i| keys.iter().map(|&k| f(series.at(k)[i])).sum())
            .collect()
    };
    let sizes = sum(&parts, |s| s.retained);
    // A collection's own growth (its hash table or backing store, what
    // its entries share) is theirs; an object that merely leads to them
    // (a module's scope) grows with whatever else it holds.
    let collection = |h: KeyId| {
        members.biggest(h).is_some_and(|n| {
            last.analysis.distance[n.idx()] > 1
                && crate::pattern::is_collection(last.graph, last.analysis, n)
        })
    };
    let holder_sizes = holder
        .filter(|&h| collection(h))
        .map(|h| sum(&[h], |s| s.retained));
    // Objects of the main part's class count on every part (a linked
    // list reached from both ends is two paths); a Map's keys do not.
    let class = |k: KeyId| {
        members
            .biggest(k)
            .map(|n| last.analysis.class_name(last.graph, n))
    };
    let units: Vec<KeyId> = parts
        .iter()
        .copied()
        .filter(|&k| class(k) == class(main))
        .collect();
    let counts = sum(&units, |s| s.count);
    if class(main).is_some_and(|c| series.moved(&units, c)) {
        return None;
    }
    Some(Draft {
        kind: FindingKind::NewObjects,
        key: main,
        holder,
        parts,
        sizes,
        holder_sizes,
        elsewhere: 0,
        counts,
    })
}

/// A finding before it is described.
struct Draft {
    kind: FindingKind,
    key: KeyId,
    holder: Option<KeyId>,
    /// Keys of new objects under one holder (a Map's values and keys), main one first.
    parts: Vec<KeyId>,
    sizes: Vec<u64>,
    /// The holder's retained size in each snapshot.
    holder_sizes: Option<Vec<u64>>,
    /// Of the holder's growth, what other groups below it gained.
    elsewhere: u64,
    counts: Vec<u64>,
}

fn grown(v: &[u64]) -> u64 {
    v[v.len() - 1].saturating_sub(v[0])
}

impl Draft {
    /// What the holder gained that no other group below it explains.
    fn holder_growth(&self) -> u64 {
        self.holder_sizes
            .as_ref()
            .map_or(0, |h| grown(h).saturating_sub(self.elsewhere))
    }

    /// What the path gained, or its holder when that gained more.
    fn growth(&self) -> u64 {
        grown(&self.sizes).max(self.holder_growth())
    }

    /// The sizes the thresholds apply to: the path's, or its holder's when that grew more.
    fn judged(&self) -> &[u64] {
        match &self.holder_sizes {
            Some(h) if self.holder_growth() > grown(&self.sizes) => h,
            _ => &self.sizes,
        }
    }
}

/// Notes, for each group whose holder's growth may count, what the other
/// groups below that holder gained; where they gained a tenth of it or
/// more, whose the rest is cannot be told and it counts for none (a new key
/// string under an emitter's `_events` does not get the growth of the
/// listener array beside it).
fn share_holders(drafts: &mut [Draft], index: &PathIndex) {
    let mut below: HashMap<KeyId, u64> = HashMap::new();
    for d in drafts.iter() {
        for p in index.ancestors(d.key) {
            *below.entry(p).or_default() += grown(&d.sizes);
        }
    }
    for d in drafts.iter_mut() {
        if let Some(h) = d.holder.filter(|_| d.holder_sizes.is_some()) {
            let all = below.get(&h).copied().unwrap_or_default();
            d.elsewhere = all.saturating_sub(grown(&d.sizes));
            if d.elsewhere * 10 >= d.holder_sizes.as_deref().map_or(0, grown) {
                d.holder_sizes = None;
            }
        }
    }
}

/// Keys whose objects did not multiply but grew, innermost first, unless
/// new objects below them explain most of it (the holder of a cluster, the
/// global that leads to it), whether those are reported or too small.
fn growing(
    series: &Series<'_>,
    clusters: &[Draft],
    root: &[bool],
    opts: &Options,
    ignored: &mut usize,
) -> Vec<Draft> {
    let index = series.index;
    let mut covered: HashMap<KeyId, u64> = HashMap::new();
    let cover = |k: KeyId, growth: u64, covered: &mut HashMap<KeyId, u64>| {
        for p in index.ancestors(k) {
            *covered.entry(p).or_default() += growth;
        }
    };
    for d in clusters {
        cover(d.key, d.growth(), &mut covered);
        for &k in &d.parts[1..] {
            cover(k, series.growth(k).max(0) as u64, &mut covered);
        }
    }
    // A reported cluster's holder is shown with it.
    let holders: std::collections::HashSet<KeyId> =
        clusters.iter().filter_map(|d| d.holder).collect();
    let mut candidates: Vec<KeyId> = (0..index.parent.len() as KeyId)
        .filter(|&k| {
            let (f, l) = (series.first(k), series.last(k));
            f.count > 0
                && l.retained > f.retained
                && series.at(k).iter().all(|s| s.count == l.count)
                && !index.ancestors(k).any(|p| root[p as usize])
                && !holders.contains(&k)
        })
        .collect();
    candidates.sort_by_key(|&k| (std::cmp::Reverse(index.depth[k as usize]), k));
    let mut out = Vec::new();
    for k in candidates {
        let sizes: Vec<u64> = series.at(k).iter().map(|s| s.retained).collect();
        let growth = sizes[sizes.len() - 1] - sizes[0];
        if covered.get(&k).is_some_and(|&c| c * 10 >= growth * 8) {
            continue;
        }
        if !grew_enough(&sizes, growth, opts) {
            *ignored += 1;
            continue;
        }
        cover(k, growth, &mut covered);
        out.push(Draft {
            kind: FindingKind::Grew,
            key: k,
            holder: None,
            parts: vec![k],
            counts: series.at(k).iter().map(|s| s.count).collect(),
            sizes,
            holder_sizes: None,
            elsewhere: 0,
        });
    }
    out
}

/// The objects of the last snapshot on the keys that matter, biggest first.
struct Members {
    by_key: HashMap<KeyId, Vec<NodeIdx>>,
}

impl Members {
    /// Collects the top objects of `roots` keys (all keys' biggest is found on demand).
    fn new(last: Snap<'_>, index: &PathIndex, roots: &[KeyId]) -> Members {
        let wanted: std::collections::HashSet<KeyId> = roots.iter().copied().collect();
        let mut by_key: HashMap<KeyId, Vec<NodeIdx>> = HashMap::new();
        for n in last.graph.nodes() {
            let k = index.key_of[n.idx()];
            if index.top[n.idx()] && wanted.contains(&k) {
                by_key.entry(k).or_default().push(n);
            }
        }
        for v in by_key.values_mut() {
            v.sort_by_key(|n| (std::cmp::Reverse(last.analysis.retained.get(n.idx())), *n));
        }
        Members { by_key }
    }

    fn biggest(&self, k: KeyId) -> Option<NodeIdx> {
        self.by_key.get(&k).and_then(|v| v.first().copied())
    }
}

struct Describe<'s, 'a> {
    last: Snap<'a>,
    index: &'s PathIndex,
    series: &'s Series<'s>,
    members: &'s Members,
    scripts: &'s Scripts,
    opts: &'s Options,
}

impl Describe<'_, '_> {
    /// The top objects of a key, biggest first (scanned for keys not collected up front).
    fn objects(&self, k: KeyId) -> Vec<NodeIdx> {
        if let Some(v) = self.members.by_key.get(&k) {
            return v.clone();
        }
        let (g, a) = (self.last.graph, self.last.analysis);
        let mut v: Vec<NodeIdx> = g
            .nodes()
            .filter(|n| self.index.top[n.idx()] && self.index.key_of[n.idx()] == k)
            .collect();
        v.sort_by_key(|n| (std::cmp::Reverse(a.retained.get(n.idx())), *n));
        v
    }

    /// The objects of a key, those under the holder object that holds most
    /// of them first: the path's data-like keys are erased, so one path can
    /// lead through several holders (an emitter's old and new listener
    /// arrays), and the one that holds most is where it grew.
    fn under_busiest_holder(&self, objects: Vec<NodeIdx>, holder: Option<KeyId>) -> Vec<NodeIdx> {
        let Some(h) = holder else {
            return objects;
        };
        let g = self.last.graph;
        let holder_of = |n: NodeIdx| {
            let mut cur = n;
            for _ in 0..64 {
                let via = self.index.via[cur.idx()];
                if via == NONE {
                    return None;
                }
                cur = g.edge_source(EdgeIdx(via));
                if self.index.key_of[cur.idx()] == h {
                    return Some(cur);
                }
            }
            None
        };
        let of: Vec<Option<NodeIdx>> = objects.iter().map(|&n| holder_of(n)).collect();
        let mut count: HashMap<NodeIdx, usize> = HashMap::new();
        for &o in of.iter().flatten() {
            *count.entry(o).or_default() += 1;
        }
        let Some(busiest) = count
            .iter()
            .max_by_key(|&(n, c)| (*c, std::cmp::Reverse(*n)))
            .map(|(n, _)| *n)
        else {
            return objects;
        };
        let (mut first, rest): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .zip(of)
            .partition(|(_, o)| *o == Some(busiest));
        first.extend(rest);
        first.into_iter().map(|(n, _)| n).collect()
    }

    fn finding(&self, d: &Draft) -> Finding {
        let (g, a) = (self.last.graph, self.last.analysis);
        let roots = self.under_busiest_holder(self.objects(d.key), d.holder);
        let representative = roots.first().copied().unwrap_or(g.root());
        let path = self.index.path(g, representative, self.opts.max_path);
        let mut dicts = signature::DictCache::new();
        let folds = Signature::new(g, a, &path, &mut dicts).folds;
        let counts = d.counts.clone();
        let holder_pos = d.holder.and_then(|h| {
            path.iter()
                .rposition(|s| self.index.key_of[s.from.idx()] == h && reportable(g, s.from))
        });
        let holder_sizes = match d.holder {
            Some(h) => self.series.at(h).iter().map(|s| Some(s.retained)).collect(),
            None => vec![None; counts.len()],
        };
        let mut f = Finding {
            kind: d.kind,
            signature: self.index.text(d.key),
            new_objects: counts[counts.len() - 1] as i64 - counts[0] as i64,
            counts,
            sizes: d.sizes.clone(),
            growth: d.growth(),
            roots,
            representative,
            path,
            folds,
            readable: Readable::empty(g),
            holder: None,
            holder_pos,
            holder_name: None,
            named: None,
            holder_sizes,
            pattern: Pattern::Other,
            code: Vec::new(),
        };
        match d.kind {
            FindingKind::NewObjects => self.describe_new(&mut f),
            FindingKind::Grew => self.describe_grown(&mut f),
        }
        f
    }

    /// As find-leaks describes a cluster.
    fn describe_new(&self, f: &mut Finding) {
        let (g, a) = (self.last.graph, self.last.analysis);
        let path = &f.path;
        f.holder = f.holder_pos.map(|i| path[i].from);
        let name_pos = f.holder_pos.or_else(|| {
            path.iter()
                .rposition(|s| reportable(g, s.from) && a.distance[s.from.idx()] > 1)
        });
        f.holder_name = name_pos.filter(|&i| i > 0).map(|i| {
            let scope = g.edge_kind(path[i].edge) == EdgeKind::Context;
            readable::holder_name(g, a, self.scripts, path, if scope { i } else { i - 1 })
        });
        f.named = name_pos.filter(|&i| i > 0).map(|i| path[i].from);
        f.readable = readable::readable(g, a, self.scripts, path, f.holder_pos);
        let sample: Vec<NodeIdx> = f.roots.iter().take(64).copied().collect();
        f.pattern = pattern::classify(g, a, path, f.holder_pos, &f.readable, &sample, &f.folds);
        f.code = pattern::code_locations(g, a, self.scripts, path, f.holder_pos, &sample);
    }

    /// As find-leaks describes an object that grew.
    fn describe_grown(&self, f: &mut Finding) {
        let (g, a) = (self.last.graph, self.last.analysis);
        let path = &f.path;
        let last_step = path.len().checked_sub(1);
        f.readable = readable::readable(g, a, self.scripts, path, last_step);
        f.holder_name = Some(match last_step {
            Some(i) => readable::holder_name(g, a, self.scripts, path, i),
            None => HolderName {
                name: a.class_name(g, f.representative).to_owned(),
                file: None,
            },
        });
        f.named = Some(f.representative);
        f.holder = None;
        f.pattern = pattern::classify_growing(g, a, path, &f.readable, f.representative);
        f.code = pattern::code_locations(g, a, self.scripts, path, last_step.map(|i| i + 1), &[]);
    }
}
