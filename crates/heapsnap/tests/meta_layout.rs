//! The flat arrays are read by field name from `snapshot.meta`: any order,
//! unknown extra fields, and the optional `trace_node_id`/`detachedness`
//! fields may be absent.

mod support;

use heapsnap::{EdgeKind, ErrorKind, HeapGraph, NodeIdx, NodeKind, parse_bytes};
use support::{RawEdge, RawNode, parse_chunked, write_snapshot};

const NODE_FIELDS: [&str; 7] = [
    "type",
    "name",
    "id",
    "self_size",
    "edge_count",
    "trace_node_id",
    "detachedness",
];
const EDGE_FIELDS: [&str; 3] = ["type", "name_or_index", "to_node"];

const STRINGS: [&str; 6] = ["<dummy>", "", "global", "Map", "cache", "(GC roots)"];

/// root -shortcut global-> global -property cache-> Map; root -element 1-> (GC roots);
/// Map -weak-> global.
fn graph() -> (Vec<RawNode>, Vec<RawEdge>) {
    let node = |ty, name, id, self_size, edge_count, trace_node_id, detachedness| RawNode {
        ty,
        name,
        id,
        self_size,
        edge_count,
        trace_node_id,
        detachedness,
    };
    let nodes = vec![
        node(9, 1, 1, 0, 2, 0, 0),
        node(3, 2, 3, 200, 1, 5, 1),
        node(3, 3, 5, 80, 1, 0, 2),
        node(9, 5, 7, 0, 0, 9, 0),
    ];
    let edges = vec![
        RawEdge {
            ty: 5,
            name: 2,
            to: 1,
        },
        RawEdge {
            ty: 1,
            name: 1,
            to: 3,
        },
        RawEdge {
            ty: 2,
            name: 4,
            to: 2,
        },
        RawEdge {
            ty: 6,
            name: 0,
            to: 1,
        },
    ];
    (nodes, edges)
}

/// What a graph says through its accessors, independent of the field layout.
fn observe(g: &HeapGraph, trace: bool, detached: bool) -> Vec<String> {
    let mut out = vec![format!("root {:?}", g.root())];
    for n in g.nodes() {
        out.push(format!(
            "node {} {:?} {:?} id={} size={} trace={} detached={} edges={:?}",
            n.0,
            g.kind(n),
            g.name(n),
            g.id(n),
            g.self_size(n),
            if trace { g.trace_node_id(n) } else { 0 },
            if detached { g.detachedness(n) } else { 0 },
            g.edge_indices(n)
                .map(|e| (
                    g.edge_kind(e),
                    g.edge_name(e).into_owned(),
                    g.edge_target(e)
                ))
                .collect::<Vec<_>>(),
        ));
        let sources: Vec<_> = g.edge_indices(n).map(|e| g.edge_source(e)).collect();
        assert!(
            sources.iter().all(|&s| s == n),
            "edge_source of {n:?}'s edges"
        );
    }
    out
}

fn check(node_fields: &[&str], edge_fields: &[&str]) {
    let (nodes, edges) = graph();
    let canonical = parse_bytes(
        write_snapshot(&NODE_FIELDS, &EDGE_FIELDS, &nodes, &edges, &STRINGS).as_bytes(),
    )
    .expect("canonical layout parses");
    let text = write_snapshot(node_fields, edge_fields, &nodes, &edges, &STRINGS);
    let g = parse_bytes(text.as_bytes())
        .unwrap_or_else(|e| panic!("{node_fields:?} {edge_fields:?}: {e}\n{text}"));
    let trace = node_fields.contains(&"trace_node_id");
    let detached = node_fields.contains(&"detachedness");
    assert_eq!(
        observe(&g, trace, detached),
        observe(&canonical, trace, detached),
        "{node_fields:?} {edge_fields:?}"
    );
    if !trace {
        assert!(g.nodes().all(|n| g.trace_node_id(n) == 0));
    }
    if !detached {
        assert!(g.nodes().all(|n| g.detachedness(n) == 0));
    }
    let chunked = parse_chunked(text.as_bytes(), &[1, 7], false).expect("parses in chunks");
    assert_eq!(format!("{chunked:?}"), format!("{g:?}"));
}

#[test]
fn canonical_layout() {
    check(&NODE_FIELDS, &EDGE_FIELDS);
    let (nodes, edges) = graph();
    let g = parse_bytes(
        write_snapshot(&NODE_FIELDS, &EDGE_FIELDS, &nodes, &edges, &STRINGS).as_bytes(),
    )
    .unwrap();
    assert_eq!(g.kind(NodeIdx(1)), NodeKind::Object);
    assert_eq!(g.name(NodeIdx(2)), "Map");
    assert_eq!(g.trace_node_id(NodeIdx(1)), 5);
    assert_eq!(g.detachedness(NodeIdx(2)), 2);
    let e = g.edge_indices(NodeIdx(2)).next().unwrap();
    assert_eq!(g.edge_kind(e), EdgeKind::Weak);
    assert_eq!(g.edge_target(e), NodeIdx(1));
}

#[test]
fn fields_in_another_order() {
    check(
        &[
            "detachedness",
            "edge_count",
            "id",
            "trace_node_id",
            "self_size",
            "name",
            "type",
        ],
        &["to_node", "type", "name_or_index"],
    );
    check(
        &[
            "name",
            "type",
            "self_size",
            "id",
            "edge_count",
            "detachedness",
            "trace_node_id",
        ],
        &["name_or_index", "to_node", "type"],
    );
}

#[test]
fn unknown_extra_fields_are_skipped() {
    check(
        &[
            "future",
            "type",
            "name",
            "id",
            "self_size",
            "edge_count",
            "trace_node_id",
            "detachedness",
            "more",
        ],
        &["type", "weight", "name_or_index", "to_node", "x"],
    );
}

#[test]
fn optional_fields_may_be_absent() {
    // Node 12-era snapshots: no detachedness; without allocation tracking
    // some writers drop trace_node_id too.
    check(
        &[
            "type",
            "name",
            "id",
            "self_size",
            "edge_count",
            "trace_node_id",
        ],
        &EDGE_FIELDS,
    );
    check(
        &["type", "name", "id", "self_size", "edge_count"],
        &EDGE_FIELDS,
    );
    check(
        &[
            "edge_count",
            "self_size",
            "id",
            "name",
            "type",
            "detachedness",
        ],
        &EDGE_FIELDS,
    );
}

#[test]
fn required_fields_must_be_there() {
    let (nodes, edges) = graph();
    for missing in ["type", "name", "id", "self_size", "edge_count"] {
        let fields: Vec<&str> = NODE_FIELDS
            .iter()
            .copied()
            .filter(|f| *f != missing)
            .collect();
        let text = write_snapshot(&fields, &EDGE_FIELDS, &nodes, &edges, &STRINGS);
        let e = parse_bytes(text.as_bytes()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{e}");
        assert!(e.to_string().contains(missing), "{e}");
        assert_eq!(e.offset, text.find("{\"meta\"").unwrap() as u64, "{e}");
    }
    for missing in EDGE_FIELDS {
        let fields: Vec<&str> = EDGE_FIELDS
            .iter()
            .copied()
            .filter(|f| *f != missing)
            .collect();
        let text = write_snapshot(&NODE_FIELDS, &fields, &nodes, &edges, &STRINGS);
        let e = parse_bytes(text.as_bytes()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{e}");
        assert!(e.to_string().contains(missing), "{e}");
    }
}

#[test]
fn too_many_fields_is_an_error_not_a_panic() {
    let (nodes, edges) = graph();
    let mut fields: Vec<String> = NODE_FIELDS.iter().map(|s| s.to_string()).collect();
    for i in 0..20 {
        fields.push(format!("extra{i}"));
    }
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let text = write_snapshot(&fields, &EDGE_FIELDS, &nodes, &edges, &STRINGS);
    let e = parse_bytes(text.as_bytes()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{e}");
}

#[test]
fn header_keys_in_any_order_and_unknown_keys() {
    let (nodes, edges) = graph();
    let text = write_snapshot(&NODE_FIELDS, &EDGE_FIELDS, &nodes, &edges, &STRINGS);
    let base = parse_bytes(text.as_bytes()).unwrap();
    // Unknown top-level sections (any JSON value) are skipped; "strings" may
    // come before "nodes".
    let strings_at = text.find(",\"strings\"").unwrap();
    let strings = &text[strings_at + 1..text.len() - 1];
    let moved = text[..strings_at].replacen(
        "\"nodes\":",
        &format!(
            "\"future\":{{\"a\":[1,\"]}}\\\"\",{{}}]}},\"n\":-1.5e3,\"t\":true,{strings},\"nodes\":"
        ),
        1,
    ) + "}";
    let g = parse_bytes(moved.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{moved}"));
    assert_eq!(format!("{g:?}"), format!("{base:?}"));
}

/// The trace tree's node fields are read by name too (DevTools does the
/// same); only "children" has to come last, since it nests.
#[test]
fn trace_node_fields_by_name() {
    use heapsnap::synth::SynthSnapshot;
    let mut s = SynthSnapshot::with_root();
    let f = s.trace_function("make", "/srv/a.js", 3, 2, 5);
    let g2 = s.trace_function("handle", "/srv/a.js", 3, 9, 1);
    let t = s.trace_path(&[g2, f]);
    let o = s.node("object", "A", 48);
    s.edge(0, "element", "0", o).allocated_at(o, t);
    let text = s.to_json();
    let canonical = parse_bytes(text.as_bytes()).expect("parses");
    let tree = canonical.trace_tree();
    assert_eq!(
        tree.iter()
            .map(|t| (t.id, t.function_info_index, t.count, t.size, t.parent))
            .collect::<Vec<_>>(),
        [(1, 0, 0, 0, u32::MAX), (2, 2, 0, 0, 0), (3, 1, 1, 48, 1)]
    );
    // The same tree with its values written as size, count, function, id.
    let fields = r#""trace_node_fields":["id","function_info_index","count","size","children"]"#;
    let reordered = text
        .replacen(
            fields,
            r#""trace_node_fields":["size","count","function_info_index","id","children"]"#,
            1,
        )
        .replacen(
            "\"trace_tree\":[1,0,0,0,[2,2,0,0,[3,1,1,48,[]]]]",
            "\"trace_tree\":[0,0,0,1,[0,0,2,2,[48,1,1,3,[]]]]",
            1,
        );
    assert_ne!(reordered, text);
    let g = parse_bytes(reordered.as_bytes()).expect("parses");
    assert_eq!(g.trace_tree(), canonical.trace_tree());
    // An extra field, and no count or size.
    let extra = text
        .replacen(
            fields,
            r#""trace_node_fields":["id","future","function_info_index","children"]"#,
            1,
        )
        .replacen(
            "\"trace_tree\":[1,0,0,0,[2,2,0,0,[3,1,1,48,[]]]]",
            "\"trace_tree\":[1,7,0,[2,7,2,[3,7,1,[]]]]",
            1,
        );
    let g = parse_bytes(extra.as_bytes()).expect("parses");
    assert_eq!(
        g.trace_tree()
            .iter()
            .map(|t| (t.id, t.function_info_index, t.count, t.size, t.parent))
            .collect::<Vec<_>>(),
        [(1, 0, 0, 0, u32::MAX), (2, 2, 0, 0, 0), (3, 1, 0, 0, 1)]
    );
    let bad = text.replacen(
        fields,
        r#""trace_node_fields":["id","function_info_index","children","count","size"]"#,
        1,
    );
    let e = parse_bytes(bad.as_bytes()).expect_err("children not last");
    assert!(e.to_string().contains("must end with \"children\""), "{e}");
}
