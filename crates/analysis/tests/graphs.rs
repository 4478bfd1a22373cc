//! Small named graphs with known answers, and property tests against a naive reference.

use analysis::{Analysis, BASE_SYSTEM_DISTANCE, NO_DISTANCE};
use heapsnap::synth::SynthSnapshot;
use heapsnap::{HeapGraph, NodeIdx, parse_bytes};
use proptest::prelude::*;

fn build(s: &SynthSnapshot) -> (HeapGraph, Analysis) {
    let g = parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses");
    let a = Analysis::run(&g, |_| {});
    (g, a)
}

fn idom(a: &Analysis, n: usize) -> usize {
    a.idom[n].idx()
}

/// root --shortcut--> global: the usual shape of a Node heap's user root.
fn with_global() -> (SynthSnapshot, usize) {
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 100);
    s.edge(0, "shortcut", "global", global);
    (s, global)
}

#[test]
fn diamond() {
    let (mut s, g) = with_global();
    let a = s.node("object", "A", 10);
    let b = s.node("object", "B", 20);
    let c = s.node("object", "C", 30);
    let d = s.node("object", "D", 40);
    s.edge(g, "property", "a", a);
    s.edge(a, "property", "b", b).edge(a, "property", "c", c);
    s.edge(b, "property", "d", d).edge(c, "property", "d", d);
    let (graph, an) = build(&s);
    assert_eq!(
        idom(&an, d),
        a,
        "D is reached through B and C, so A dominates it"
    );
    assert_eq!(idom(&an, b), a);
    assert_eq!(an.retained.get(a), 100);
    assert_eq!(an.retained.get(b), 20);
    assert_eq!(an.distance[g], 1);
    assert_eq!(an.distance[a], 2);
    assert_eq!(an.distance[d], 4);
    assert_eq!(an.retained.get(graph.root().idx()), 200);
    assert_eq!(an.unreachable_count, 0);
}

#[test]
fn orphan_hangs_under_the_root() {
    let (mut s, _g) = with_global();
    let orphan = s.node("object", "Orphan", 64);
    let (graph, an) = build(&s);
    assert_eq!(idom(&an, orphan), graph.root().idx());
    assert_eq!(an.distance[orphan], NO_DISTANCE);
    assert_eq!(an.unreachable_count, 1);
    assert_eq!(
        an.retained.get(graph.root().idx()),
        164,
        "orphans still count in the total"
    );
}

#[test]
fn weak_edges_retain_nothing() {
    let (mut s, g) = with_global();
    let holder = s.node("object", "Holder", 10);
    let weakly = s.node("object", "Weakly", 50);
    let strong = s.node("object", "Strong", 10);
    s.edge(g, "property", "h", holder)
        .edge(g, "property", "s", strong);
    s.edge(holder, "weak", "w", weakly);
    s.edge(strong, "property", "x", weakly);
    let (_graph, an) = build(&s);
    assert_eq!(idom(&an, weakly), strong);
    assert_eq!(an.retained.get(holder), 10);
    assert_eq!(
        an.distance[weakly], 3,
        "distance does not follow the weak edge either"
    );
}

#[test]
fn only_weakly_held_object_is_unreachable() {
    let (mut s, g) = with_global();
    let cache = s.node("object", "Cache", 10);
    let entry = s.node("object", "Entry", 500);
    s.edge(g, "property", "cache", cache);
    s.edge(cache, "weak", "0", entry);
    let (graph, an) = build(&s);
    assert_eq!(idom(&an, entry), graph.root().idx());
    assert_eq!(an.retained.get(cache), 10);
    assert_eq!(an.unreachable_count, 1);
}

#[test]
fn weakmap_value_is_dominated_by_its_key_not_the_table() {
    let (mut s, g) = with_global();
    let map = s.node("object", "WeakMap", 32);
    let table = s.node("array", "(object elements)", 64);
    let key = s.node("object", "Key", 16);
    let value = s.node("object", "Value", 1000);
    s.edge(g, "property", "map", map)
        .edge(g, "property", "key", key);
    s.edge(map, "internal", "table", table);
    let table_id = s.nodes[table].id;
    let key_id = s.nodes[key].id;
    let value_id = s.nodes[value].id;
    let name = format!(
        "1 / part of key (Key @{key_id}) -> value (Value @{value_id}) pair in WeakMap (table @{table_id})"
    );
    s.edge(table, "internal", &name, value);
    s.edge(key, "internal", &name, value);
    let (_graph, an) = build(&s);
    assert_eq!(idom(&an, value), key, "the table→value edge is ignored");
    assert_eq!(an.retained.get(key), 1016);
    // Distance takes the second of the two ephemeron edges to be seen: the
    // greater of key + 1 (3) and table + 1 (4).
    assert_eq!(an.distance[value], 4);
}

#[test]
fn edges_from_non_page_objects_into_the_page_are_ignored() {
    let (mut s, g) = with_global();
    let gc_roots = s.node("synthetic", "(GC roots)", 0);
    let handles = s.node("synthetic", "(Global handles)", 0);
    let debugger_obj = s.node("object", "DebuggerThing", 10);
    let x = s.node("object", "X", 30);
    s.edge(0, "element", "1", gc_roots);
    s.edge(gc_roots, "element", "1", handles);
    s.edge(handles, "element", "1", debugger_obj);
    s.edge(debugger_obj, "property", "x", x);
    s.edge(g, "property", "x", x);
    let (_graph, an) = build(&s);
    assert_eq!(
        idom(&an, x),
        g,
        "DebuggerThing → X does not count: X is page-owned, DebuggerThing is not"
    );
    assert_eq!(an.distance[debugger_obj], BASE_SYSTEM_DISTANCE + 3);
}

#[test]
fn shortcut_edges_only_count_from_the_root() {
    let (mut s, g) = with_global();
    let a = s.node("object", "A", 10);
    let b = s.node("object", "B", 10);
    let c = s.node("object", "C", 10);
    s.edge(g, "property", "a", a).edge(g, "property", "b", b);
    s.edge(a, "property", "c", c);
    s.edge(b, "shortcut", "c", c);
    let (_graph, an) = build(&s);
    assert_eq!(idom(&an, c), a);
}

#[test]
fn self_edges_are_ignored() {
    let (mut s, g) = with_global();
    let a = s.node("object", "A", 10);
    s.edge(g, "property", "a", a).edge(a, "property", "me", a);
    let (_graph, an) = build(&s);
    assert_eq!(idom(&an, a), g);
    assert_eq!(an.retained.get(a), 10);
}

#[test]
fn single_owner_arrays_give_their_size_to_the_owner() {
    let (mut s, g) = with_global();
    let obj = s.node("object", "Array", 32);
    let elements = s.node("array", "(object elements)", 800);
    let shared = s.node("array", "(shared)", 100);
    let other = s.node("object", "Other", 16);
    s.edge(g, "property", "arr", obj)
        .edge(g, "property", "other", other);
    s.edge(obj, "internal", "elements", elements);
    s.edge(obj, "internal", "s", shared)
        .edge(other, "internal", "s", shared);
    let (graph, an) = build(&s);
    assert_eq!(an.shallow[obj], 832);
    assert_eq!(an.shallow[elements], 0);
    assert_eq!(an.shallow[shared], 100, "two owners: nothing moves");
    assert_eq!(
        graph.self_size(NodeIdx(elements as u32)),
        800,
        "the graph keeps the raw size"
    );
    assert_eq!(an.statistics.js_arrays, 832);
}

#[test]
fn retained_sizes_are_64_bit() {
    let (mut s, g) = with_global();
    let a = s.node("object", "Big", 2_000_000_000);
    let b = s.node("object", "Big", 2_000_000_000);
    let c = s.node("native", "system / JSArrayBufferData", 2_000_000_000);
    s.edge(g, "property", "a", a)
        .edge(a, "property", "b", b)
        .edge(b, "internal", "c", c);
    let (graph, an) = build(&s);
    assert_eq!(an.retained.get(a), 6_000_000_000);
    assert_eq!(an.statistics.total, 6_000_000_100);
    assert_eq!(an.statistics.native, 2_000_000_000);
    let aggs = an.aggregates(&graph);
    let big = aggs.iter().find(|x| x.name == "Big").expect("class Big");
    assert_eq!(
        big.retained_size, 6_000_000_000,
        "b is inside a: counted once"
    );
    assert_eq!(big.self_size, 4_000_000_000);
}

#[test]
fn class_retained_counts_outermost_instances_only() {
    let (mut s, g) = with_global();
    let outer = s.node("object", "Node", 10);
    let inner = s.node("object", "Node", 10);
    let sibling = s.node("object", "Node", 10);
    let leaf = s.node("object", "Leaf", 5);
    s.edge(g, "property", "o", outer)
        .edge(g, "property", "s", sibling);
    s.edge(outer, "property", "next", inner)
        .edge(inner, "property", "leaf", leaf);
    let (graph, an) = build(&s);
    let aggs = an.aggregates(&graph);
    let node = aggs.iter().find(|x| x.key == ",Node").expect("class Node");
    assert_eq!(node.count, 3);
    assert_eq!(node.self_size, 30);
    assert_eq!(node.retained_size, 25 + 10);
    assert_eq!(node.distance, 2);
}

#[test]
fn objects_with_a_constructor_location_are_keyed_by_it() {
    let (mut s, g) = with_global();
    let a = s.node("object", "Foo", 10);
    let b = s.node("object", "Foo", 10);
    s.edge(g, "property", "a", a).edge(g, "property", "b", b);
    s.location(a, 7, 2, 4);
    let (graph, an) = build(&s);
    let mut keys: Vec<String> = an.aggregates(&graph).into_iter().map(|x| x.key).collect();
    keys.sort();
    assert!(keys.contains(&"7,2,4,Foo".to_string()), "{keys:?}");
    assert!(keys.contains(&",Foo".to_string()), "{keys:?}");
}

#[test]
fn plain_objects_are_named_by_popular_interfaces() {
    let (mut s, g) = with_global();
    let list = s.node("array", "(object elements)", 16);
    s.edge(g, "property", "list", list);
    for i in 0..3 {
        let o = s.node("object", "Object", 24);
        let v = s.node("number", "heap number", 16);
        s.edge(list, "element", &i.to_string(), o);
        s.edge(o, "property", "id", v)
            .edge(o, "property", "name", v);
    }
    let lonely = s.node("object", "Object", 24);
    let v = s.node("number", "heap number", 16);
    s.edge(list, "element", "9", lonely);
    s.edge(lonely, "property", "zzz", v);
    let (graph, an) = build(&s);
    let names: Vec<String> = an.aggregates(&graph).into_iter().map(|x| x.name).collect();
    assert!(names.contains(&"{id, name}".to_string()), "{names:?}");
    assert!(
        names.contains(&"Object".to_string()),
        "a shape seen once stays Object: {names:?}"
    );
    assert_eq!(
        analysis::display_name(&graph, NodeIdx(lonely as u32)),
        "{zzz}"
    );
}

#[test]
fn comparison_matches_by_id() {
    let (mut s1, g1) = with_global();
    let a = s1.node("object", "Foo", 10);
    let b = s1.node("object", "Foo", 10);
    s1.edge(g1, "property", "a", a).edge(g1, "property", "b", b);
    let mut s2 = s1.clone();
    // b is gone, c and d are new.
    s2.edges.retain(|e| e.to != b);
    let c = s2.node("object", "Foo", 10);
    let d = s2.node("object", "Bar", 99);
    s2.edge(g1, "property", "c", c).edge(g1, "property", "d", d);
    let (base, base_a) = build(&s1);
    let (target, target_a) = build(&s2);
    let diff = analysis::diff::compare(&base, &base_a, &target, &target_a);
    let foo = diff.iter().find(|d| d.key == ",Foo").expect("Foo diff");
    // b is still in s2's node list (it became an orphan), so it is not removed.
    assert_eq!((foo.added_count, foo.removed_count), (1, 0));
    let bar = diff.iter().find(|d| d.key == ",Bar").expect("Bar diff");
    assert_eq!((bar.added_count, bar.size_delta), (1, 99));
}

// ---------------------------------------------------------------------------
// Property tests: random graphs against a naive reference.

#[derive(Debug, Clone)]
struct RandomGraph {
    sizes: Vec<u64>,
    /// (from, to, weak)
    edges: Vec<(usize, usize, bool)>,
}

fn random_graph() -> impl Strategy<Value = RandomGraph> {
    (2usize..40).prop_flat_map(|n| {
        let sizes = proptest::collection::vec(0u64..1000, n);
        let parents = proptest::collection::vec(any::<prop::sample::Index>(), n);
        let extra = proptest::collection::vec((0..n, 0..n, any::<bool>()), 0..(n * 2));
        (sizes, parents, extra).prop_map(move |(sizes, parents, extra)| {
            let mut edges = Vec::new();
            // Node 0 is "global"; every other node gets a strong edge from an earlier node.
            for (i, p) in parents.iter().enumerate().skip(1) {
                edges.push((p.index(i), i, false));
            }
            edges.extend(extra);
            RandomGraph { sizes, edges }
        })
    })
}

fn to_synth(r: &RandomGraph) -> SynthSnapshot {
    let mut s = SynthSnapshot::with_root();
    let ids: Vec<usize> = r
        .sizes
        .iter()
        .map(|&sz| s.node("object", "N", sz))
        .collect();
    s.edge(0, "shortcut", "global", ids[0]);
    for (k, &(from, to, weak)) in r.edges.iter().enumerate() {
        s.edge(
            ids[from],
            if weak { "weak" } else { "property" },
            &format!("p{k}"),
            ids[to],
        );
    }
    s
}

/// Nodes reachable from `start` over strong, non-self edges, skipping `removed`.
fn reachable(r: &RandomGraph, removed: Option<usize>) -> Vec<bool> {
    let n = r.sizes.len();
    let mut seen = vec![false; n];
    if removed == Some(0) {
        return seen;
    }
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(v) = stack.pop() {
        for &(f, t, weak) in &r.edges {
            if f == v && !weak && f != t && Some(t) != removed && !seen[t] {
                seen[t] = true;
                stack.push(t);
            }
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn dominators_match_naive_reference(r in random_graph()) {
        let (_graph, an) = build(&to_synth(&r));
        let n = r.sizes.len();
        let base = reachable(&r, None);
        // dominated_by[d][v]: removing d cuts v off.
        let dominated_by: Vec<Vec<bool>> = (0..n)
            .map(|d| {
                let without = reachable(&r, Some(d));
                base.iter().zip(&without).map(|(&b, &w)| b && !w).collect()
            })
            .collect();
        for v in 0..n {
            let node = v + 1; // node 0 of the snapshot is the synthetic root
            if !base[v] {
                prop_assert_eq!(an.idom[node].idx(), 0);
                continue;
            }
            // The immediate dominator is the strict dominator dominated by all others.
            let strict: Vec<usize> = (0..n).filter(|&d| d != v && dominated_by[d][v]).collect();
            let expected = strict
                .iter()
                .copied()
                .find(|&d| strict.iter().all(|&o| o == d || dominated_by[o][d]))
                .map_or(0, |d| d + 1);
            prop_assert_eq!(an.idom[node].idx(), expected, "idom of {}", v);
            let retained: u64 = (0..n).filter(|&w| w == v || dominated_by[v][w]).map(|w| r.sizes[w]).sum();
            prop_assert_eq!(an.retained.get(node), retained, "retained of {}", v);
        }
        prop_assert_eq!(an.retained.get(0), r.sizes.iter().sum::<u64>());
    }

    #[test]
    fn distances_match_breadth_first_search(r in random_graph()) {
        let (_graph, an) = build(&to_synth(&r));
        let n = r.sizes.len();
        let mut dist = vec![None; n];
        dist[0] = Some(1);
        let mut queue = std::collections::VecDeque::from([0usize]);
        while let Some(v) = queue.pop_front() {
            for &(f, t, weak) in &r.edges {
                if f == v && !weak && dist[t].is_none() {
                    dist[t] = Some(dist[v].unwrap() + 1);
                    queue.push_back(t);
                }
            }
        }
        for (v, d) in dist.iter().enumerate() {
            prop_assert_eq!(an.distance[v + 1], d.unwrap_or(NO_DISTANCE), "distance of {}", v);
        }
    }
}
