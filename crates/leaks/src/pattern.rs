//! Leak patterns: what kind of mistake a cluster looks like, and what to do about it.

use analysis::{Analysis, PathStep};
use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    EventListener,
    Timer,
    Closure,
    UnboundedCollection,
    GlobalAccumulation,
    StringsOrBuffers,
    Other,
}

impl Pattern {
    pub fn title(self) -> &'static str {
        match self {
            Pattern::EventListener => "event listener never removed",
            Pattern::Timer => "timer or interval never cleared",
            Pattern::Closure => "closure keeps a large context alive",
            Pattern::UnboundedCollection => "unbounded Map/Set/Array cache",
            Pattern::GlobalAccumulation => "global variable accumulates",
            Pattern::StringsOrBuffers => "large strings or buffers kept",
            Pattern::Other => "objects accumulate",
        }
    }

    pub fn advice(self) -> &'static str {
        match self {
            Pattern::EventListener => {
                "Remove the listener when its owner is done (emitter.off / removeListener), register it once instead of per request, or use emitter.once; watch emitter.listenerCount(event)."
            }
            Pattern::Timer => {
                "Keep the handle and clearInterval/clearTimeout it when the work ends; call timer.unref() for background timers; do not create an interval per request."
            }
            Pattern::Closure => {
                "The function keeps its whole scope alive. Do not capture large objects in long-lived callbacks; copy out the fields you need, or set the captured variable to null when done."
            }
            Pattern::UnboundedCollection => {
                "Bound the collection: evict old entries (an LRU with a maximum size or a TTL), delete entries when their owner finishes, or key it with a WeakMap/WeakRef so entries die with their keys."
            }
            Pattern::GlobalAccumulation => {
                "A module-level or global variable only grows. Cap it, rotate it, or move the data to request scope or an external store."
            }
            Pattern::StringsOrBuffers => {
                "Large strings or buffers are held. Stream instead of buffering whole payloads, store slices as copies (Buffer.from / slice().toString) so big parents can be freed, and bound any buffer pool."
            }
            Pattern::Other => {
                "Follow the retainer path: the first object on it that should not hold the rest is where to cut the reference."
            }
        }
    }
}

fn has_edge(g: &HeapGraph, path: &[PathStep], names: &[&str]) -> bool {
    path.iter()
        .any(|s| g.edge_name_str(s.edge).is_some_and(|n| names.contains(&n)))
}

fn has_class(
    g: &HeapGraph,
    a: &Analysis,
    path: &[PathStep],
    names: &[&str],
    roots: &[NodeIdx],
) -> bool {
    path.iter()
        .any(|s| names.contains(&a.class_name(g, s.to)) || names.contains(&a.class_name(g, s.from)))
        || roots
            .iter()
            .take(8)
            .any(|&r| names.contains(&a.class_name(g, r)))
}

fn is_buffer_like(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> bool {
    g.kind(n).is_string()
        || matches!(
            a.class_name(g, n),
            "Buffer" | "Uint8Array" | "ArrayBuffer" | "FastBuffer" | "system / JSArrayBufferData"
        )
}

/// Whether a step of `path` leaves a user root (the global object) by a
/// named property: `global.requestLog`, `globalThis.cache`.
fn from_global(g: &HeapGraph, a: &Analysis, path: &[PathStep]) -> bool {
    path.iter()
        .any(|s| a.distance[s.from.idx()] == 1 && g.edge_kind(s.edge) == EdgeKind::Property)
}

fn is_collection(class: &str) -> bool {
    matches!(
        class,
        "Map" | "Set" | "Array" | "Object" | "(object elements)" | "(array)" | "(system)"
    )
}

/// Classifies a cluster from the end of its representative path (from just
/// above the object that holds the leak) and its leak roots.
pub fn classify(g: &HeapGraph, a: &Analysis, tail: &[PathStep], roots: &[NodeIdx]) -> Pattern {
    if has_edge(g, tail, &["_events"]) {
        return Pattern::EventListener;
    }
    if has_class(g, a, tail, &["Timeout", "Immediate", "TimersList"], roots)
        || has_edge(
            g,
            tail,
            &["_onTimeout", "_idleNext", "_idlePrev", "_onImmediate"],
        )
    {
        return Pattern::Timer;
    }
    let sample: Vec<NodeIdx> = roots.iter().take(64).copied().collect();
    let closure_roots = sample
        .iter()
        .filter(|&&r| g.kind(r) == NodeKind::Closure)
        .count();
    let context_hops = tail
        .iter()
        .filter(|s| g.edge_kind(s.edge) == EdgeKind::Context)
        .count();
    let chain = context_hops >= 2
        && tail
            .iter()
            .filter(|s| g.kind(s.to) == NodeKind::Closure)
            .count()
            >= 2;
    if closure_roots * 2 > sample.len() || chain {
        return Pattern::Closure;
    }
    let retained: u64 = roots.iter().map(|r| a.retained.get(r.idx())).sum();
    let buffer_bytes: u64 = roots
        .iter()
        .filter(|&&r| is_buffer_like(g, a, r))
        .map(|r| a.retained.get(r.idx()))
        .sum();
    let avg = retained / roots.len().max(1) as u64;
    let collection = tail.last().is_some_and(|s| {
        matches!(g.edge_kind(s.edge), EdgeKind::Element | EdgeKind::Hidden)
            || matches!(g.edge_kind(s.edge), EdgeKind::Internal | EdgeKind::Property)
                && is_collection(a.class_name(g, s.from))
    }) || tail
        .iter()
        .any(|s| matches!(a.class_name(g, s.from), "Map" | "Set" | "Array"));
    if collection && from_global(g, a, tail) {
        return Pattern::GlobalAccumulation;
    }
    if buffer_bytes * 2 > retained && avg >= 1024 {
        return Pattern::StringsOrBuffers;
    }
    if collection || roots.len() >= 16 {
        return Pattern::UnboundedCollection;
    }
    if buffer_bytes * 2 > retained {
        return Pattern::StringsOrBuffers;
    }
    Pattern::Other
}

/// Classifies an object that grew in every snapshot from the last steps of
/// its retainer path.
pub fn classify_growing(g: &HeapGraph, a: &Analysis, tail: &[PathStep], node: NodeIdx) -> Pattern {
    if has_edge(g, tail, &["_events"]) {
        return Pattern::EventListener;
    }
    if has_class(g, a, tail, &["Timeout", "Immediate", "TimersList"], &[node])
        || has_edge(g, tail, &["_idleNext", "_idlePrev"])
    {
        return Pattern::Timer;
    }
    match g.kind(node) {
        NodeKind::Closure => return Pattern::Closure,
        k if k.is_string() => return Pattern::StringsOrBuffers,
        _ => {}
    }
    let class = a.class_name(g, node);
    if class == "system / Context" {
        return Pattern::Closure;
    }
    if is_buffer_like(g, a, node) {
        return Pattern::StringsOrBuffers;
    }
    let into_node = tail.last().filter(|s| s.to == node);
    if into_node.is_some_and(|s| a.distance[s.from.idx()] == 1) {
        return Pattern::GlobalAccumulation;
    }
    if is_collection(class) || matches!(g.kind(node), NodeKind::Array | NodeKind::Object) {
        return Pattern::UnboundedCollection;
    }
    Pattern::Other
}

/// Nodes whose source location tells where a cluster comes from: the roots
/// themselves when they are closures or constructed objects, closures they
/// hold (listener and timer callbacks), then closures on the path whose
/// scope holds the way to the leak.
pub fn code_locations(g: &HeapGraph, path: &[PathStep], roots: &[NodeIdx]) -> Vec<NodeIdx> {
    let mut out: Vec<NodeIdx> = Vec::new();
    let push = |n: NodeIdx, out: &mut Vec<NodeIdx>| {
        let place = |m: NodeIdx| g.location(m).map(|l| (l.script_id, l.line, l.column));
        if place(n).is_some() && !out.iter().any(|&m| place(m) == place(n)) {
            out.push(n);
        }
    };
    for &r in roots.iter().take(1) {
        push(r, &mut out);
        for e in g.edge_indices(r) {
            let t = g.edge_target(e);
            if g.kind(t) == NodeKind::Closure && g.edge_kind(e) != EdgeKind::Weak {
                push(t, &mut out);
            }
        }
    }
    for s in path.iter().rev() {
        if g.kind(s.to) == NodeKind::Closure {
            push(s.to, &mut out);
        }
        if g.kind(s.from) == NodeKind::Closure {
            push(s.from, &mut out);
        }
    }
    out.truncate(4);
    out
}
