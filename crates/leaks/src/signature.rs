//! Normalised retainer paths: the key leak roots are clustered by.

use analysis::{Analysis, PathStep, RetainerStep};
use heapsnap::{EdgeKind, HeapGraph, NodeIdx};

/// The retainer step of every node, computed in one pass over all edges, so
/// that the paths of many leak roots cost O(path length) each. Walking up
/// with [`retainer_step`] instead scans every edge of each retainer: for the
/// elements of one big array that is quadratic.
pub struct PathCache {
    /// Per node: the edge [`retainer_step`] would take to reach it, or `u32::MAX`.
    edge: Vec<u32>,
    /// Per node: the retainer that edge starts from.
    from: Vec<NodeIdx>,
}

impl PathCache {
    pub fn new(g: &HeapGraph, a: &Analysis) -> PathCache {
        let n = g.node_count();
        let mut edge = vec![u32::MAX; n];
        let mut from = vec![NodeIdx(0); n];
        // The best key so far per node: (retainer distance, edge preference).
        let mut best: Vec<(i32, u8)> = vec![(i32::MAX, u8::MAX); n];
        // Sources in ordinal order and their edges in order, keeping the first
        // strictly better candidate: the same tie-breaks as `retainer_step`.
        for src in g.nodes() {
            let sd = a.distance[src.idx()];
            if sd < 0 {
                continue;
            }
            for e in g.edge_indices(src) {
                let kind = g.edge_kind(e);
                if kind == EdgeKind::Weak {
                    continue;
                }
                let t = g.edge_target(e).idx();
                let key = (sd, analysis::edge_preference(kind));
                if key < best[t] {
                    best[t] = key;
                    edge[t] = e.0;
                    from[t] = src;
                }
            }
        }
        PathCache { edge, from }
    }

    fn step(&self, g: &HeapGraph, a: &Analysis, n: NodeIdx) -> Option<RetainerStep> {
        let d = a.distance[n.idx()];
        if n == g.root() || d == 1 || self.edge[n.idx()] == u32::MAX {
            return None;
        }
        let src = self.from[n.idx()];
        let sd = a.distance[src.idx()];
        Some(RetainerStep {
            step: PathStep {
                from: src,
                edge: heapsnap::EdgeIdx(self.edge[n.idx()]),
                to: n,
            },
            last: src == g.root() || sd >= d,
        })
    }

    /// The retainer path of `n`, root side first (as [`analysis::retainer_path`]).
    pub fn path(&self, g: &HeapGraph, a: &Analysis, n: NodeIdx, max: usize) -> Vec<PathStep> {
        let mut out = Vec::new();
        let mut cur = n;
        while out.len() < max {
            let Some(step) = self.step(g, a, cur) else {
                break;
            };
            out.push(step.step);
            // Distances fall at every step that is not the last: no cycles.
            if step.last {
                break;
            }
            cur = step.step.from;
        }
        out.reverse();
        out
    }
}

/// A path reduced to what identifies the way objects are retained.
pub struct Signature {
    /// Grouping key: classes and edge names, indexes and repeats folded.
    pub key: String,
    /// Human form, with repeat counts.
    pub display: String,
    /// (first step, cycle length, repetitions) of each folded stretch.
    pub folds: Vec<(usize, usize, usize)>,
}

fn edge_token(g: &HeapGraph, e: heapsnap::EdgeIdx) -> String {
    match g.edge_kind(e) {
        EdgeKind::Element => "[]".to_owned(),
        EdgeKind::Hidden => "{}".to_owned(),
        EdgeKind::Internal => {
            let name = g.edge_name(e);
            if name.contains(" / part of key ") {
                "{ephemeron}".to_owned()
            } else if name.bytes().all(|b| b.is_ascii_digit()) {
                "{}".to_owned()
            } else {
                format!("{{{name}}}")
            }
        }
        EdgeKind::Context => format!("->{}", g.edge_name(e)),
        EdgeKind::Property | EdgeKind::Shortcut => {
            let name = g.edge_name(e);
            if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
                "[]".to_owned()
            } else if name.contains(' ') {
                format!("[\"{name}\"]")
            } else {
                format!(".{name}")
            }
        }
        EdgeKind::Weak => "[[weak]]".to_owned(),
        EdgeKind::Other => format!("?{}", g.edge_name(e)),
    }
}

fn class_token(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> String {
    a.class_name(g, n).to_owned()
}

impl Signature {
    pub fn new(g: &HeapGraph, a: &Analysis, path: &[PathStep]) -> Signature {
        let mut tokens: Vec<String> = Vec::with_capacity(path.len());
        for s in path {
            tokens.push(format!(
                "{} {}",
                edge_token(g, s.edge),
                class_token(g, a, s.to)
            ));
        }
        let start = path
            .first()
            .map(|s| class_token(g, a, s.from))
            .unwrap_or_default();
        let mut key = start.clone();
        let mut display = start;
        let mut folds = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let mut folded = false;
            for len in 1..=4 {
                if i + 2 * len > tokens.len() {
                    break;
                }
                let block = &tokens[i..i + len];
                let mut reps = 1;
                while i + (reps + 1) * len <= tokens.len()
                    && &tokens[i + reps * len..i + (reps + 1) * len] == block
                {
                    reps += 1;
                }
                if reps >= 2 {
                    let text: String = block.iter().map(|t| format!(" {t}")).collect();
                    // A repeated stretch is a recursive structure (a linked list, a
                    // closure chain): members reached forwards or backwards (`_idleNext`,
                    // `_idlePrev`) belong together, so the key keeps only the classes.
                    let classes: String = block
                        .iter()
                        .map(|t| format!(" {}", t.split_once(' ').map_or(t.as_str(), |(_, c)| c)))
                        .collect();
                    key.push_str(&format!(" ({classes} )*"));
                    display.push_str(&format!(" ({text} ) ×{reps}"));
                    folds.push((i, len, reps));
                    i += reps * len;
                    folded = true;
                    break;
                }
            }
            if !folded {
                key.push(' ');
                key.push_str(&tokens[i]);
                display.push(' ');
                display.push_str(&tokens[i]);
                i += 1;
            }
        }
        Signature {
            key,
            display,
            folds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap::synth::SynthSnapshot;

    /// The one-pass table takes exactly the steps `retainer_step` takes.
    #[test]
    fn table_agrees_with_retainer_step() {
        let mut s = SynthSnapshot::with_root();
        let global = s.node("object", "global", 10);
        s.edge(0, "shortcut", "global", global);
        let arr = s.node("object", "Array", 10);
        s.edge(global, "property", "list", arr);
        s.edge(global, "weak", "w", arr);
        let other = s.node("object", "Other", 10);
        s.edge(global, "property", "other", other);
        for i in 0..20 {
            let x = s.node("object", "Item", 10);
            s.edge(arr, "element", &i.to_string(), x);
            s.edge(other, "internal", "dup", x);
            if i % 3 == 0 {
                s.edge(arr, "property", "again", x);
            }
        }
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).unwrap();
        let a = Analysis::run(&g, |_| {});
        let cache = PathCache::new(&g, &a);
        for n in g.nodes() {
            assert_eq!(
                cache.step(&g, &a, n),
                analysis::retainer_step(&g, &a, n),
                "node {n:?}"
            );
        }
    }
}
