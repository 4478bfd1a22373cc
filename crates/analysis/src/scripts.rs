//! Script names (URLs or file paths) by script id, recovered from closures.

use std::collections::HashMap;

use heapsnap::{EdgeIdx, HeapGraph, NodeIdx, NodeKind};

fn edge_named(graph: &HeapGraph, n: NodeIdx, names: &[&str]) -> Option<NodeIdx> {
    graph
        .edge_indices(n)
        .find(|&e: &EdgeIdx| graph.edge_name_str(e).is_some_and(|s| names.contains(&s)))
        .map(|e| graph.edge_target(e))
}

/// The script a closure's code comes from: closure → `shared` (SharedFunctionInfo)
/// → `script_or_debug_info` / `script` (Script, named by its URL).
pub fn closure_script_name(graph: &HeapGraph, closure: NodeIdx) -> Option<&str> {
    let sfi = edge_named(graph, closure, &["shared"])?;
    let mut script = edge_named(graph, sfi, &["script_or_debug_info", "script"])?;
    if graph.name(script).starts_with("system / DebugInfo") {
        script = edge_named(graph, script, &["script"])?;
    }
    let name = graph.name(script);
    (!name.is_empty() && !name.starts_with("system / ")).then_some(name)
}

/// Maps every script id seen in the `locations` section to its name, where a
/// closure of that script tells it.
pub fn script_names(graph: &HeapGraph) -> HashMap<u32, String> {
    let mut out: HashMap<u32, String> = HashMap::new();
    for loc in graph.locations() {
        if out.contains_key(&loc.script_id) || graph.kind(loc.node) != NodeKind::Closure {
            continue;
        }
        if let Some(name) = closure_script_name(graph, loc.node) {
            out.insert(loc.script_id, name.to_owned());
        }
    }
    out
}
