//! Leak patterns: what kind of mistake a cluster looks like, and what to do about it.

use analysis::traces::FrameKind;
use analysis::{Analysis, PathStep};
use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind};

use crate::readable::{self, AnchorKind, Readable, Scripts};
use crate::signature;

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
                "Remove the listener when its owner is done (emitter.off / removeListener; target.removeEventListener for an EventTarget or AbortSignal, or add it with { signal } of a per-request AbortController), register it once instead of per request, or use once; watch emitter.listenerCount(event). A subscription or a registered callback (an RxJS subscribe, an axios interceptor) is the same: keep what registering returns and unsubscribe or eject it when done."
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

/// Names of edges that lead into listener registries: EventEmitter's
/// `_events`, EventTarget's `kEvents` map, and the lists where other
/// libraries keep registered callbacks (an RxJS Subject's `observers`, an
/// axios interceptor manager's `handlers`, component-emitter's
/// `_callbacks`).
fn is_listener_edge(name: &str) -> bool {
    matches!(
        name,
        "_events"
            | "<symbol kEvents>"
            | "<symbol kHandlers>"
            | "listeners"
            | "_listeners"
            | "observers"
            | "_observers"
            | "subscribers"
            | "_subscribers"
            | "handlers"
            | "_handlers"
            | "callbacks"
            | "_callbacks"
    )
}

/// Whether `r` holds a function within `depth` property steps: a
/// subscriber keeps its `next` callback a few objects down
/// (`SafeSubscriber.destination.partialObserver.next`).
fn holds_function(g: &HeapGraph, r: NodeIdx, depth: u32) -> bool {
    !callbacks_within(g, r, depth).is_empty()
}

/// The functions `r` holds at the fewest property steps (at most `depth`),
/// breadth first, a few objects per level; not through its prototype (a
/// class's methods are not what it was given).
fn callbacks_within(g: &HeapGraph, r: NodeIdx, depth: u32) -> Vec<NodeIdx> {
    let mut frontier = vec![r];
    for _ in 0..depth {
        let (mut found, mut next) = (Vec::new(), Vec::new());
        for &n in &frontier {
            for e in g.edge_indices(n).take(32) {
                if g.edge_kind(e) != EdgeKind::Property
                    || matches!(
                        g.edge_name_str(e),
                        Some("__proto__" | "constructor" | "prototype")
                    )
                {
                    continue;
                }
                let t = g.edge_target(e);
                match g.kind(t) {
                    NodeKind::Closure => found.push(t),
                    NodeKind::Object => next.push(t),
                    _ => {}
                }
            }
        }
        if !found.is_empty() || next.is_empty() {
            return found;
        }
        next.truncate(64);
        frontier = next;
    }
    Vec::new()
}

fn is_timer_class(class: &str) -> bool {
    matches!(class, "Timeout" | "Immediate" | "TimersList")
}

fn is_buffer_like(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> bool {
    g.kind(n).is_string()
        || matches!(
            a.class_name(g, n),
            "Buffer" | "Uint8Array" | "ArrayBuffer" | "FastBuffer" | "system / JSArrayBufferData"
        )
}

pub(crate) fn is_collection(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> bool {
    matches!(
        a.class_name(g, n),
        "Map" | "Set" | "Array" | "Object" | "WeakMap" | "(object elements)" | "(array)"
    ) || signature::is_dictionary(g, n)
}

/// The steps from the holder down to the leaked object (all of the path
/// when there is no holder).
fn below_holder(path: &[PathStep], holder_pos: Option<usize>) -> &[PathStep] {
    &path[holder_pos.unwrap_or(0).min(path.len())..]
}

/// Whether the leak sits in a listener registry: an `_events` or `kEvents`
/// edge within the few steps above the holder or below it, with listeners
/// (functions, `Listener` records) as the leaked objects.
fn in_listener_registry(
    g: &HeapGraph,
    a: &Analysis,
    path: &[PathStep],
    holder_pos: Option<usize>,
    roots: &[NodeIdx],
) -> bool {
    let from = holder_pos.map_or(0, |h| h.saturating_sub(3));
    let h = holder_pos.unwrap_or(0);
    // A registry on the way to a function's scope that holds the leak (the
    // SIGTERM listener whose module scope keeps `lastQuote`) is only the
    // route: the holder is that scope's variable, not a registry entry.
    let mut registry = false;
    for (i, s) in path.iter().enumerate().skip(from).take(8) {
        let name = g.edge_name_str(s.edge);
        if name.is_some_and(is_listener_edge) {
            registry = true;
        } else if registry
            && i < h
            && (name == Some("context") || g.edge_kind(s.edge) == EdgeKind::Context)
        {
            registry = false;
        }
    }
    // In a registry: functions, or records holding one (eventemitter3's
    // `EE {fn, context, once}`).
    // A listener array made after the base (an emitter that had one
    // listener or none then) holds them.
    let is_listener_array = |r: NodeIdx| {
        a.class_name(g, r) == "Array"
            && g.edge_indices(r)
                .filter(|&e| g.edge_kind(e) == EdgeKind::Element)
                .take(4)
                .any(|e| g.kind(g.edge_target(e)) == NodeKind::Closure)
    };
    let listeners = roots.iter().take(16).any(|&r| {
        g.kind(r) == NodeKind::Closure
            || is_listener_array(r)
            || a.class_name(g, r) == "Listener"
            || holds_function(g, r, 3)
    });
    // Listener records (EventTarget's `Listener`, a polyfill's
    // `{listener, once, next}`) are listeners wherever they are kept;
    // bare functions only in a registry (else an array of them is a
    // collection: debug's `createDebug.instances`).
    let records = roots.iter().take(16).any(|&r| {
        g.kind(r) != NodeKind::Closure
            && (a.class_name(g, r) == "Listener"
                || g.edge_indices(r).any(|e| {
                    g.edge_name_str(e) == Some("listener")
                        && g.kind(g.edge_target(e)) == NodeKind::Closure
                }))
    });
    (registry && listeners) || records
}

/// Classifies a cluster by what grows: the holder and what it holds. A
/// Map of entries reached through a cleanup timer is a collection (the
/// timer is only how it is reached); functions pushed into an array are
/// registry entries of a collection, not a closure leak.
pub fn classify(
    g: &HeapGraph,
    a: &Analysis,
    path: &[PathStep],
    holder_pos: Option<usize>,
    readable: &Readable,
    roots: &[NodeIdx],
    folds: &[(usize, usize, usize)],
) -> Pattern {
    if in_listener_registry(g, a, path, holder_pos, roots) {
        return Pattern::EventListener;
    }
    let sample: Vec<NodeIdx> = roots.iter().take(64).copied().collect();
    let timers = sample
        .iter()
        .filter(|&&r| is_timer_class(a.class_name(g, r)))
        .count();
    let holder_is_timer_list =
        holder_pos.is_some_and(|h| is_timer_class(a.class_name(g, path[h].from)));
    if timers * 2 > sample.len() || holder_is_timer_list {
        return Pattern::Timer;
    }
    let retained: u64 = roots.iter().map(|r| a.retained.get(r.idx())).sum();
    let buffer_bytes: u64 = roots
        .iter()
        .filter(|&&r| is_buffer_like(g, a, r))
        .map(|r| a.retained.get(r.idx()))
        .sum();
    let avg = retained / roots.len().max(1) as u64;
    if buffer_bytes * 2 > retained && avg >= 1024 {
        return Pattern::StringsOrBuffers;
    }
    // A chain of closures: each holding the previous one's scope
    // (`theThing` replaced by an object whose method captures the previous
    // one), or the previous function itself (a wrapper wrapping a wrapper:
    // `shimmer.wrap` per request, `.__original` ×N).
    let context_chain = folds.iter().any(|&(start, len, _)| {
        let block = &path[start.min(path.len())..(start + len).min(path.len())];
        block
            .iter()
            .any(|s| g.edge_kind(s.edge) == EdgeKind::Context)
            || !block.is_empty() && block.iter().all(|s| g.kind(s.to) == NodeKind::Closure)
    });
    if context_chain {
        return Pattern::Closure;
    }
    let holder = holder_pos.map(|h| path[h].from);
    let holder_collection = holder.is_some_and(|h| is_collection(g, a, h));
    let steps = below_holder(path, holder_pos);
    let into_collection = steps.first().is_some_and(|s| {
        matches!(g.edge_kind(s.edge), EdgeKind::Element | EdgeKind::Hidden)
            || signature::is_dictionary(g, s.from)
            || g.edge_name_str(s.edge) == Some("table")
    });
    let collection = holder_collection || into_collection;
    if collection && readable.anchor.kind == AnchorKind::Global && readable.hops.len() <= 3 {
        return Pattern::GlobalAccumulation;
    }
    if collection || roots.len() >= 16 {
        return Pattern::UnboundedCollection;
    }
    let closures = sample
        .iter()
        .filter(|&&r| g.kind(r) == NodeKind::Closure)
        .count();
    let through_scope = steps
        .iter()
        .any(|s| g.edge_kind(s.edge) == EdgeKind::Context);
    if closures * 2 > sample.len() || through_scope {
        return Pattern::Closure;
    }
    if buffer_bytes * 2 > retained {
        return Pattern::StringsOrBuffers;
    }
    Pattern::Other
}

/// Classifies an object that grew in every snapshot by what it is and
/// where it sits.
pub fn classify_growing(
    g: &HeapGraph,
    a: &Analysis,
    path: &[PathStep],
    readable: &Readable,
    node: NodeIdx,
) -> Pattern {
    let tail = &path[path.len().saturating_sub(3)..];
    let listener_edge = tail
        .iter()
        .any(|s| g.edge_name_str(s.edge).is_some_and(is_listener_edge));
    if listener_edge {
        return Pattern::EventListener;
    }
    if is_timer_class(a.class_name(g, node)) {
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
    let collection = is_collection(g, a, node) || matches!(g.kind(node), NodeKind::Array);
    if collection && readable.anchor.kind == AnchorKind::Global && readable.hops.len() <= 1 {
        return Pattern::GlobalAccumulation;
    }
    if collection || g.kind(node) == NodeKind::Object {
        return Pattern::UnboundedCollection;
    }
    Pattern::Other
}

/// Nodes whose source location tells where a leak comes from, most
/// specific first: the leaked objects themselves when they are closures or
/// instances of a class (where they are made), closures they hold
/// (listener and timer callbacks), then where they are stored: the holder's
/// class or the function that owns the holder; the application's own code
/// before its dependencies'. Closures the GC-root path
/// merely passes through (a SIGTERM handler, `node:timers`) are not listed:
/// they change from run to run and say nothing about the leak.
pub fn code_locations(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    path: &[PathStep],
    holder_pos: Option<usize>,
    roots: &[NodeIdx],
) -> Vec<NodeIdx> {
    let mut out: Vec<NodeIdx> = Vec::new();
    let push = |n: NodeIdx, out: &mut Vec<NodeIdx>| {
        let place = |m: NodeIdx| g.location(m).map(|l| (l.script_id, l.line, l.column));
        if place(n).is_some() && !out.iter().any(|&m| place(m) == place(n)) {
            out.push(n);
        }
    };
    for &r in roots.iter().take(1) {
        push(r, &mut out);
        // A listener or timer record says where by its callback; a leaked
        // function by itself (its own properties are no news).
        if g.kind(r) == NodeKind::Closure {
            continue;
        }
        let before = out.len();
        for e in g.edge_indices(r) {
            let t = g.edge_target(e);
            if g.kind(t) == NodeKind::Closure && g.edge_kind(e) != EdgeKind::Weak {
                push(t, &mut out);
            }
        }
        // A subscriber keeps its callback a few objects down.
        if out.len() == before {
            for t in callbacks_within(g, r, 3) {
                push(t, &mut out);
            }
        }
    }
    // Where the leaked objects are stored: the holder and the named objects
    // just above it (a class instance, a function with statics, the closure
    // whose scope holds the variable).
    if let Some(h) = holder_pos.filter(|&h| h < path.len()) {
        let holder = path[h].from;
        if g.kind(holder) == NodeKind::Closure
            || !readable::is_generic_class(a.class_name(g, holder))
        {
            push(holder, &mut out);
        }
        // The function whose scope is the holder, or whose static it is.
        if let Some(p) = h.checked_sub(1).map(|i| path[i]) {
            let scope = g.edge_name_str(p.edge) == Some("context");
            let is_static = matches!(g.edge_kind(p.edge), EdgeKind::Property);
            let instance = !readable::is_generic_class(a.class_name(g, p.from));
            if g.kind(p.from) == NodeKind::Closure && (scope || is_static) || instance {
                push(p.from, &mut out);
            }
            // A module variable: the function whose scope holds it.
            if g.edge_kind(p.edge) == EdgeKind::Context
                && let Some(q) = h.checked_sub(2).map(|i| path[i])
                && g.kind(q.from) == NodeKind::Closure
            {
                push(q.from, &mut out);
            }
        }
    }
    // The user's own code before a library's (`node_modules`, `node:`):
    // that is where the fix goes.
    out.sort_by_cached_key(|&n| {
        scripts
            .of(g, n)
            .is_some_and(|f| FrameKind::of(&f) != FrameKind::User)
    });
    out.truncate(4);
    out
}
