//! Parity with Chrome DevTools: snapshots of real Node programs are analysed
//! by leakhound and by DevTools' own heap snapshot worker (npm package
//! `chrome-devtools-frontend`, bundled by `oracle/build.mjs`); every number
//! must agree.
//!
//! Needs `node` and the built oracle (`npm ci --prefix oracle && node oracle/build.mjs`);
//! `.ci/run` provides both.

mod common;

use std::collections::HashMap;
use std::path::Path;

use analysis::Analysis;
use heapsnap::HeapGraph;
use serde_json::Value;

use common::{TempDir, node_script, oracle};

fn load(path: &Path) -> (HeapGraph, Analysis) {
    let bytes = std::fs::read(path).expect("snapshot readable");
    let graph = heapsnap::parse_bytes(&bytes).expect("snapshot parses");
    let analysis = Analysis::run(&graph, |_| {});
    (graph, analysis)
}

fn num(v: &Value) -> u64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) as u64
}

fn check_analysis(path: &Path) {
    let (graph, a) = load(path);
    let o = oracle(&["analyze", path.to_str().unwrap(), "--per-node"]);
    let file = path.display();
    assert_eq!(
        graph.node_count() as u64,
        num(&o["node_count"]),
        "{file}: node count"
    );
    assert_eq!(
        graph.edge_count() as u64,
        num(&o["edge_count"]),
        "{file}: edge count"
    );
    assert_eq!(
        a.total_size(&graph),
        num(&o["total_size"]),
        "{file}: total size"
    );
    assert_eq!(
        a.retained.get(graph.root().idx()),
        num(&o["root_retained"]),
        "{file}: root retained"
    );

    let per = &o["per_node"];
    let retained = per["retained"].as_array().expect("per_node.retained");
    let distance = per["distance"].as_array().expect("per_node.distance");
    let dominator = per["dominator"].as_array().expect("per_node.dominator");
    let shallow = per["self"].as_array().expect("per_node.self");
    let mut mismatches = Vec::new();
    for n in graph.nodes() {
        let i = n.idx();
        let ours = (
            a.retained.get(i),
            a.distance[i] as i64,
            a.idom[i].idx() as u64,
            u64::from(a.shallow[i]),
        );
        let theirs = (
            num(&retained[i]),
            distance[i].as_i64().expect("distance"),
            num(&dominator[i]),
            num(&shallow[i]),
        );
        if ours != theirs {
            mismatches.push(format!(
                "node {i} ({} {:?}): ours (retained, distance, idom, self) = {ours:?}, devtools = {theirs:?}",
                graph.node_type_name(n),
                graph.name(n)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{file}: {} of {} nodes differ, first ones:\n{}",
        mismatches.len(),
        graph.node_count(),
        mismatches
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    let s = &a.statistics;
    let st = &o["statistics"];
    assert_eq!(s.total, num(&st["total"]), "{file}: statistics.total");
    assert_eq!(
        s.v8heap,
        num(&st["v8heap"]["total"]),
        "{file}: statistics.v8heap"
    );
    assert_eq!(
        s.code,
        num(&st["v8heap"]["code"]),
        "{file}: statistics.code"
    );
    assert_eq!(
        s.strings,
        num(&st["v8heap"]["strings"]),
        "{file}: statistics.strings"
    );
    assert_eq!(
        s.js_arrays,
        num(&st["v8heap"]["jsArrays"]),
        "{file}: statistics.jsArrays"
    );
    assert_eq!(
        s.system,
        num(&st["v8heap"]["system"]),
        "{file}: statistics.system"
    );
    assert_eq!(
        s.native,
        num(&st["native"]["total"]),
        "{file}: statistics.native"
    );
    assert_eq!(
        s.typed_arrays,
        num(&st["native"]["typedArrays"]),
        "{file}: statistics.typedArrays"
    );

    let ours: HashMap<String, analysis::ClassAggregate> = a
        .aggregates(&graph)
        .into_iter()
        .map(|c| (c.key.clone(), c))
        .collect();
    let theirs = o["classes"].as_array().expect("classes");
    assert_eq!(ours.len(), theirs.len(), "{file}: number of classes");
    for c in theirs {
        let key = c["key"].as_str().expect("key");
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("{file}: class {key:?} missing"));
        let got = (
            mine.name.as_str(),
            mine.count,
            mine.self_size,
            mine.retained_size,
            mine.distance as i64,
        );
        let want = (
            c["name"].as_str().expect("name"),
            num(&c["count"]),
            num(&c["self"]),
            num(&c["retained"]),
            c["distance"].as_i64().expect("distance"),
        );
        assert_eq!(
            got, want,
            "{file}: class {key:?} (name, count, self, retained, distance)"
        );
    }
}

fn check_comparison(base: &Path, target: &Path) {
    let (bg, ba) = load(base);
    let (tg, ta) = load(target);
    let ours: HashMap<String, analysis::diff::ClassDiff> =
        analysis::diff::compare(&bg, &ba, &tg, &ta)
            .into_iter()
            .map(|d| (d.key.clone(), d))
            .collect();
    let o = oracle(&["compare", base.to_str().unwrap(), target.to_str().unwrap()]);
    let theirs = o.as_array().expect("compare output is a list");
    assert_eq!(
        ours.len(),
        theirs.len(),
        "number of classes in the comparison"
    );
    for c in theirs {
        let key = c["key"].as_str().expect("key");
        let d = ours
            .get(key)
            .unwrap_or_else(|| panic!("class {key:?} missing from our comparison"));
        let got = (
            d.added_count,
            d.removed_count,
            d.count_delta,
            d.added_size,
            d.removed_size,
            d.size_delta,
        );
        let want = (
            num(&c["added_count"]),
            num(&c["removed_count"]),
            c["count_delta"].as_i64().expect("count_delta"),
            num(&c["added_size"]),
            num(&c["removed_size"]),
            c["size_delta"].as_i64().expect("size_delta"),
        );
        assert_eq!(
            got, want,
            "class {key:?} (added, removed, count delta, added size, removed size, size delta)"
        );
    }
}

#[test]
fn minimal_process_matches_devtools() {
    let dir = TempDir::new("parity-minimal");
    let snap = dir.path().join("minimal.heapsnapshot");
    node_script("fixtures/heaps/minimal.js", &[snap.to_str().unwrap()]);
    check_analysis(&snap);
}

#[test]
fn many_object_shapes_match_devtools() {
    let dir = TempDir::new("parity-shapes");
    let prefix = dir.path().join("shapes");
    node_script("fixtures/heaps/shapes.js", &[prefix.to_str().unwrap()]);
    let first = dir.path().join("shapes-1.heapsnapshot");
    let second = dir.path().join("shapes-2.heapsnapshot");
    check_analysis(&first);
    check_analysis(&second);
    check_comparison(&first, &second);
}

#[test]
fn http_service_matches_devtools() {
    let dir = TempDir::new("parity-server");
    let snap = dir.path().join("server.heapsnapshot");
    node_script("fixtures/heaps/server.js", &[snap.to_str().unwrap()]);
    check_analysis(&snap);
}

/// Small random graphs with everything the dominator tree must get right as
/// DevTools does: unreachable cycles, objects held only weakly, unreachable
/// objects pointing into the reachable heap, self edges, shortcuts away from
/// the root, arrays and hidden objects handing their size to an owner.
#[test]
fn random_graphs_with_unreachable_parts_match_devtools() {
    let dir = TempDir::new("parity-random");
    // xorshift64*: deterministic, so a failure names a reproducible seed.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
    };
    let mut with_unreachable = 0;
    for case in 0..24 {
        let mut s = heapsnap::synth::SynthSnapshot::with_root();
        let global = s.node("object", "global", 40);
        s.edge(0, "shortcut", "global", global);
        let count = 5 + next(60);
        let mut ids = vec![global];
        for i in 0..count {
            let ty = [
                "object", "object", "object", "array", "hidden", "closure", "string",
            ][next(7)];
            let id = s.node(ty, &format!("N{}", next(4)), (next(200) as u64) * 8);
            // Most nodes hang off an earlier one; the rest may be unreachable.
            if next(10) < 7 {
                let from = ids[next(ids.len())];
                s.edge(from, "property", &format!("p{i}"), id);
            }
            ids.push(id);
        }
        for k in 0..next(count * 2) {
            let from = ids[next(ids.len())];
            let to = ids[next(ids.len())];
            let ty = [
                "property", "internal", "weak", "element", "hidden", "shortcut", "context",
            ][next(7)];
            let name = if matches!(ty, "element" | "hidden") {
                k.to_string()
            } else {
                format!("e{k}")
            };
            s.edge(from, ty, &name, to);
        }
        let snap = dir.path().join(format!("random-{case}.heapsnapshot"));
        std::fs::write(&snap, s.to_json()).expect("write snapshot");
        check_analysis(&snap);
        if load(&snap).1.unreachable_count > 0 {
            with_unreachable += 1;
        }
    }
    assert!(
        with_unreachable >= 12,
        "only {with_unreachable} graphs have unreachable parts"
    );
}
