//! `parse_bytes` on arbitrary bytes: an error or a graph, never a panic,
//! and an error's offset never lies beyond the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match heapsnap::parse_bytes(data) {
        Ok(graph) => {
            // Walk everything the graph hands out: indexes must all be valid.
            for n in graph.nodes() {
                let _ = graph.name(n);
                let _ = graph.node_type_name(n);
                for e in graph.edge_indices(n) {
                    let _ = graph.edge_name(e);
                    let _ = graph.edge_type_name(e);
                    assert!(graph.edge_target(e).idx() < graph.node_count());
                }
                assert_eq!(graph.retainers(n).count(), graph.retainer_count(n));
                let _ = graph.location(n);
            }
        }
        Err(e) => {
            assert!(e.offset <= data.len() as u64, "{e} for {} bytes", data.len());
            let shown = e.to_string();
            assert!(!shown.ends_with('.'), "{shown}");
        }
    }
});
