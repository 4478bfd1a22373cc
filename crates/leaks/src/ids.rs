//! Object ids of a snapshot, for matching objects across snapshots.
//!
//! V8 gives a heap object its id (odd numbers, in steps of 2) when the heap
//! profiler first sees it, and keeps it while the profiler stays enabled.
//! Turning the profiler off (`HeapProfiler.disable`, or closing the inspector
//! session) forgets every id: the next snapshot numbers the heap afresh in
//! the order it walks it, from the same small numbers. Every process numbers
//! its first snapshot that way too, so snapshots of different processes, or
//! of one process with the profiler off in between, share most of their ids —
//! but behind a shared id there is then mostly a different object.
//! [`IdIndex::agreement`] measures that.

use heapsnap::{HeapGraph, NodeIdx, NodeKind};

/// Node ordinals sorted by V8 object id.
pub struct IdIndex {
    pairs: Vec<(u32, NodeIdx)>,
}

/// How the JS object ids (odd) two snapshots share compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdAgreement {
    /// Ids present in both snapshots.
    pub shared: usize,
    /// Shared ids whose node has another type or name in the other snapshot.
    pub mismatched: usize,
}

impl IdAgreement {
    /// Share of the shared ids that name different objects (0 when none are shared).
    pub fn mismatch_ratio(&self) -> f64 {
        if self.shared == 0 {
            0.0
        } else {
            self.mismatched as f64 / self.shared as f64
        }
    }
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

    /// Compares the objects behind the JS object ids this snapshot (`graph`)
    /// shares with another one. In a series of one process with the heap
    /// profiler on throughout, a shared id is the same object, so its type
    /// and name agree (measured on real Node services: no mismatch in tens of
    /// thousands); across processes or a profiler restart, from 6% to 90%
    /// of them differ. Native (embedder) nodes, with even ids, are left out.
    pub fn agreement(
        &self,
        graph: &HeapGraph,
        other: &IdIndex,
        other_graph: &HeapGraph,
    ) -> IdAgreement {
        let (a, b) = (&self.pairs, &other.pairs);
        let (mut i, mut j) = (0, 0);
        let mut agreement = IdAgreement {
            shared: 0,
            mismatched: 0,
        };
        while i < a.len() && j < b.len() {
            let (ida, na) = a[i];
            let (idb, nb) = b[j];
            if ida < idb {
                i += 1;
            } else if idb < ida {
                j += 1;
            } else {
                if ida % 2 == 1 {
                    agreement.shared += 1;
                    if !same_object(graph, na, other_graph, nb) {
                        agreement.mismatched += 1;
                    }
                }
                i += 1;
                j += 1;
            }
        }
        agreement
    }
}

fn is_string(k: NodeKind) -> bool {
    matches!(
        k,
        NodeKind::String | NodeKind::ConsString | NodeKind::SlicedString
    )
}

/// Whether two nodes with one id can be one object seen at two moments.
fn same_object(ga: &HeapGraph, a: NodeIdx, gb: &HeapGraph, b: NodeIdx) -> bool {
    let (ka, kb) = (ga.kind(a), gb.kind(b));
    if is_string(ka) && is_string(kb) {
        // A string can turn into a thin or external one in place (interned,
        // say); a concatenated or sliced string then shows its text instead
        // of "(concatenated string)". Only two plain strings can be compared.
        return ka != NodeKind::String || kb != NodeKind::String || ga.name(a) == gb.name(b);
    }
    if ga.node_type_name(a) != gb.node_type_name(b) {
        return false;
    }
    if ka == NodeKind::Number {
        // The value of a heap number in an object field changes in place.
        return true;
    }
    let (na, nb) = (ga.name(a), gb.name(b));
    // Names in parentheses are roles V8 gives an internal array from whoever
    // it meets first ("(object elements)", "(constant pool)"); they can change.
    na == nb || na.starts_with('(') || nb.starts_with('(')
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap::synth::SynthSnapshot;

    fn graph(s: &SynthSnapshot) -> HeapGraph {
        heapsnap::parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses")
    }

    /// A heap with `n` objects named after their class, ids in node order as
    /// V8 gives them when the profiler starts.
    fn fresh(classes: &[&str]) -> SynthSnapshot {
        let mut s = SynthSnapshot::with_root();
        for c in classes {
            let n = s.node("object", c, 32);
            s.edge(0, "element", &n.to_string(), n);
        }
        s
    }

    fn agreement(a: &SynthSnapshot, b: &SynthSnapshot) -> IdAgreement {
        let (ga, gb) = (graph(a), graph(b));
        IdIndex::new(&ga).agreement(&ga, &IdIndex::new(&gb), &gb)
    }

    #[test]
    fn one_heap_numbered_twice_agrees() {
        let s = fresh(&["A", "B", "C"]);
        let a = agreement(&s, &s);
        assert_eq!(
            a,
            IdAgreement {
                shared: 4,
                mismatched: 0
            }
        );
    }

    #[test]
    fn renumbered_heap_disagrees() {
        // One object more near the start shifts every later id by 2.
        let before = fresh(&["A", "B", "C", "D"]);
        let after = fresh(&["A", "X", "B", "C", "D"]);
        let a = agreement(&before, &after);
        assert_eq!(a.shared, 5);
        assert_eq!(a.mismatched, 3, "{a:?}");
        assert!(a.mismatch_ratio() > 0.5);
    }

    #[test]
    fn strings_changed_in_place_and_role_names_agree() {
        let mut before = SynthSnapshot::with_root();
        let cons = before.node("concatenated string", "(concatenated string)", 32);
        let text = before.node("string", "hello", 32);
        let elems = before.node("array", "(object elements)", 32);
        let num = before.node("number", "1.5", 16);
        let mut after = before.clone();
        after.nodes[cons].ty = "string";
        after.nodes[cons].name = "interned now".into();
        after.nodes[elems].name = "(constant pool)".into();
        after.nodes[num].name = "2.5".into();
        assert_eq!(agreement(&before, &after).mismatched, 0);
        after.nodes[text].name = "other".into();
        assert_eq!(agreement(&before, &after).mismatched, 1);
    }

    #[test]
    fn even_ids_are_not_compared() {
        let mut before = SynthSnapshot::with_root();
        let n = before.node("native", "Node / A", 32);
        before.nodes[n].id = 2;
        let mut after = before.clone();
        after.nodes[n].name = "Node / B".into();
        assert_eq!(
            agreement(&before, &after),
            IdAgreement {
                shared: 1,
                mismatched: 0
            }
        );
    }
}
