//! Whatever parses must survive the analysis: distances, dominators,
//! retained sizes, class aggregates.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(graph) = heapsnap::parse_bytes(data) else {
        return;
    };
    let analysis = analysis::Analysis::run(&graph, |_| {});
    let _ = analysis.total_size(&graph);
    for agg in analysis.aggregates(&graph) {
        let _ = agg.retained_size;
    }
    for n in graph.nodes() {
        let _ = analysis.class_name(&graph, n);
        let _ = analysis.node_name(&graph, n);
    }
});
