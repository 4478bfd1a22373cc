//! Node names as DevTools displays them.

use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind};

use crate::classes::{format_property_name, js_len};

/// `JSHeapSnapshotNode.name()`: concatenated strings are joined (up to 1024
/// characters), plain objects are named by their properties (`{a, b, …, z}`).
pub fn display_name(graph: &HeapGraph, n: NodeIdx) -> String {
    match graph.kind(n) {
        NodeKind::ConsString => cons_string_name(graph, n),
        NodeKind::Object if graph.name(n) == "Object" => plain_object_name(graph, n),
        _ => graph.name(n).to_owned(),
    }
}

fn cons_string_name(graph: &HeapGraph, n: NodeIdx) -> String {
    let mut stack = vec![n];
    let mut name = String::new();
    let mut len = 0usize;
    while let Some(cur) = stack.pop() {
        if len >= 1024 {
            break;
        }
        if graph.kind(cur) != NodeKind::ConsString {
            let part = graph.name(cur);
            len += js_len(part);
            name.push_str(part);
            continue;
        }
        let (mut first, mut second) = (NodeIdx(0), NodeIdx(0));
        let (mut has_first, mut has_second) = (false, false);
        for e in graph.edge_indices(cur) {
            if has_first && has_second {
                break;
            }
            if graph.edge_kind(e) == EdgeKind::Internal {
                match graph.edge_name_str(e) {
                    Some("first") => {
                        first = graph.edge_target(e);
                        has_first = true;
                    }
                    Some("second") => {
                        second = graph.edge_target(e);
                        has_second = true;
                    }
                    _ => {}
                }
            }
        }
        stack.push(second);
        stack.push(first);
    }
    name
}

fn plain_object_name(graph: &HeapGraph, n: NodeIdx) -> String {
    let edges = graph.edges(n);
    if edges.is_empty() {
        return "{}".to_owned();
    }
    let mut start = String::from("{");
    let mut start_len = 1usize;
    let mut end_parts: Vec<String> = Vec::new();
    let mut end_len = 1usize; // "}"
    let mut from_start = edges.start as i64;
    let mut from_end = edges.end as i64 - 1;
    let mut next_from_end = false;
    while from_start <= from_end {
        let e = heapsnap::EdgeIdx(if next_from_end { from_end } else { from_start } as u32);
        let name = graph.edge_name(e);
        if graph.edge_kind(e) != EdgeKind::Property || name == "__proto__" {
            if next_from_end {
                from_end -= 1;
            } else {
                from_start += 1;
            }
            continue;
        }
        let formatted = format_property_name(&name).into_owned();
        let flen = js_len(&formatted);
        if start_len > 1 && start_len + end_len + flen > 100 {
            break;
        }
        if next_from_end {
            from_end -= 1;
            if end_len > 1 {
                end_len += 2;
            }
            end_len += flen;
            end_parts.push(formatted);
        } else {
            from_start += 1;
            if start_len > 1 {
                start.push_str(", ");
                start_len += 2;
            }
            start_len += flen;
            start.push_str(&formatted);
        }
        next_from_end = !next_from_end;
    }
    if from_start <= from_end {
        start.push_str(", …");
    }
    if end_len > 1 {
        start.push_str(", ");
    }
    end_parts.reverse();
    start.push_str(&end_parts.join(", "));
    start.push('}');
    start
}
