//! Edge types share a column with edge names when the names leave room for
//! them; an element index too large for that keeps them apart. Both read the same.

use heapsnap::synth::SynthSnapshot;
use heapsnap::{EdgeIdx, EdgeKind, NodeIdx, parse_bytes};

fn edges_of(big_index: u32) -> Vec<(EdgeKind, String, u32, String, NodeIdx)> {
    let mut s = SynthSnapshot::with_root();
    let a = s.node("object", "A", 10);
    let b = s.node("array", "B", 20);
    s.edge(0, "shortcut", "a", a)
        .edge(a, "element", &big_index.to_string(), b)
        .edge(a, "weak", "w", b)
        .edge(b, "hidden", "3", a)
        .edge(b, "property", "p", a);
    let g = parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses");
    assert_eq!(g.edge_count(), 5);
    (0..g.edge_count() as u32)
        .map(EdgeIdx)
        .map(|e| {
            (
                g.edge_kind(e),
                g.edge_type_name(e).to_owned(),
                g.edge_name_or_index(e),
                g.edge_name(e).into_owned(),
                g.edge_target(e),
            )
        })
        .collect()
}

#[test]
fn packed_and_unpacked_edges_read_the_same() {
    for big in [7, (1 << 29) - 1, 1 << 29, u32::MAX - 1] {
        let edges = edges_of(big);
        assert_eq!(edges[1].0, EdgeKind::Element);
        assert_eq!(edges[1].1, "element");
        assert_eq!(edges[1].2, big);
        assert_eq!(edges[1].3, big.to_string());
        assert_eq!(edges[2].0, EdgeKind::Weak);
        assert_eq!(edges[2].3, "w");
        assert_eq!(edges[3].0, EdgeKind::Hidden);
        assert_eq!(edges[3].2, 3);
        assert_eq!(edges[4].1, "property");
        assert_eq!(edges[4].3, "p");
        assert_eq!(edges[0].0, EdgeKind::Shortcut);
    }
}
