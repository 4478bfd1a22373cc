//! The leak finder on small, named series of synthetic snapshots: each
//! scenario builds the heap of one process at several moments, with the
//! same object ids for the same objects (as V8 keeps them while the heap
//! profiler is on).

use analysis::Analysis;
use heapsnap::HeapGraph;
use heapsnap::synth::SynthSnapshot;
use leaks::{Error, Options, Pattern, Snap, find_leaks};

const KB: u64 = 1024;

/// A heap under construction: objects get their ids from a stable key, so
/// the same object has the same id in every snapshot of the series.
struct Heap {
    s: SynthSnapshot,
    global: usize,
}

impl Heap {
    fn new() -> Heap {
        let mut s = SynthSnapshot::with_root();
        let global = s.node("object", "global", 100);
        s.edge(0, "shortcut", "global", global);
        s.nodes[global].id = 3;
        // The runtime: objects alive all along, as most of a real heap is.
        for i in 0..200u32 {
            let n = s.node("object", "Builtin", 24);
            s.nodes[n].id = 101 + 2 * i;
            s.edge(global, "property", &format!("builtin{i}"), n);
        }
        Heap { s, global }
    }

    fn node(&mut self, id: u32, ty: &'static str, name: &str, size: u64) -> usize {
        let n = self.s.node(ty, name, size);
        self.s.nodes[n].id = id;
        n
    }

    fn edge(&mut self, from: usize, ty: &'static str, name: &str, to: usize) {
        self.s.edge(from, ty, name, to);
    }

    /// A module: global.run → closure → context, whose variables hold things.
    fn module(&mut self) -> usize {
        let f = self.node(5, "closure", "handleRequest", 32);
        let ctx = self.node(7, "object", "system / Context", 40);
        // A module's top-level scope: its outer context is the native context.
        let native = self.node(15, "hidden", "system / NativeContext", 200);
        let g = self.global;
        self.edge(g, "property", "run", f);
        self.edge(f, "internal", "context", ctx);
        self.edge(ctx, "internal", "previous", native);
        ctx
    }

    fn graph(&self) -> (HeapGraph, Analysis) {
        let g =
            heapsnap::parse_bytes(self.s.to_json().as_bytes()).expect("synthetic snapshot parses");
        let a = Analysis::run(&g, |_| {});
        (g, a)
    }
}

fn run(heaps: &[Heap], opts: &Options) -> Result<leaks::Report, Error> {
    let built: Vec<(HeapGraph, Analysis)> = heaps.iter().map(Heap::graph).collect();
    let snaps: Vec<Snap<'_>> = built
        .iter()
        .map(|(g, a)| Snap {
            graph: g,
            analysis: a,
        })
        .collect();
    find_leaks(&snaps, opts)
}

/// A module-level Map that gains `per_step` entries of `size` bytes at every step.
fn map_cache(step: usize, per_step: usize, size: u64) -> Heap {
    let mut h = Heap::new();
    let ctx = h.module();
    let map = h.node(9, "object", "Map", 32);
    let table = h.node(11, "array", "", 16);
    h.edge(ctx, "context", "responseCache", map);
    h.edge(map, "internal", "table", table);
    for i in 0..=(step * per_step) {
        let id = 1001 + 4 * i as u32;
        let entry = h.node(id, "object", "Entry", 64);
        let body = h.node(id + 2, "string", "body", size);
        h.edge(table, "internal", &i.to_string(), entry);
        h.edge(entry, "property", "body", body);
    }
    h
}

#[test]
fn growing_map_is_one_cluster_of_an_unbounded_collection() {
    let heaps: Vec<Heap> = (0..3).map(|k| map_cache(k, 20, 16 * KB)).collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert!(r.has_leaks());
    assert_eq!(r.clusters.len(), 1, "{r:#?}");
    let c = &r.clusters[0];
    assert_eq!(
        c.roots.len(),
        20,
        "entries added between base and target, alive in final"
    );
    assert_eq!(c.retained_size, 20 * (64 + 16 * KB));
    assert_eq!(c.pattern, Pattern::UnboundedCollection);
    assert!(c.growing);
    assert_eq!(c.holder_sizes.len(), 3);
    assert!(
        c.holder_sizes.windows(2).all(|w| w[0] < w[1]),
        "{:?}",
        c.holder_sizes
    );
}

#[test]
fn below_the_threshold_is_not_reported() {
    let heaps: Vec<Heap> = (0..3).map(|k| map_cache(k, 2, KB)).collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert!(!r.has_leaks(), "{r:#?}");
    assert!(r.minor_clusters >= 1);
}

/// The same number of entries at every step, each replaced by a new one.
#[test]
fn bounded_churn_is_not_a_leak() {
    let heaps: Vec<Heap> = (0..3)
        .map(|k| {
            let mut h = Heap::new();
            let ctx = h.module();
            let map = h.node(9, "object", "Map", 32);
            h.edge(ctx, "context", "lru", map);
            for i in 0..50 {
                let id = 1001 + 1000 * k as u32 + 2 * i;
                let e = h.node(id, "string", "payload", 16 * KB);
                h.edge(map, "internal", &i.to_string(), e);
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert_eq!(r.candidate_count, 0);
    assert!(!r.has_leaks(), "{r:#?}");
}

/// Timers in a doubly linked list: the shortest path reaches some leaked
/// timers forwards (`_idleNext`) and others backwards (`_idlePrev`); they are
/// one cluster, held by the list.
#[test]
fn doubly_linked_list_is_one_cluster() {
    let heaps: Vec<Heap> = (0..3)
        .map(|k| {
            let mut h = Heap::new();
            let ctx = h.module();
            let list = h.node(9, "object", "TimersList", 48);
            h.edge(ctx, "context", "timerList", list);
            let count = 1 + 40 * k;
            let timers: Vec<usize> = (0..count)
                .map(|i| {
                    let t = h.node(1001 + 4 * i as u32, "object", "Timeout", 64);
                    let state = h.node(1003 + 4 * i as u32, "string", "state", 8 * KB);
                    h.edge(t, "property", "_state", state);
                    t
                })
                .collect();
            let mut ring = vec![list];
            ring.extend(&timers);
            for w in 0..ring.len() {
                let next = ring[(w + 1) % ring.len()];
                let prev = ring[(w + ring.len() - 1) % ring.len()];
                h.edge(ring[w], "property", "_idleNext", next);
                h.edge(ring[w], "property", "_idlePrev", prev);
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert_eq!(r.clusters.len(), 1, "{r:#?}");
    let c = &r.clusters[0];
    assert_eq!(c.roots.len(), 40);
    assert_eq!(c.pattern, Pattern::Timer);
    assert!(c.growing);
    let (g, _) = heaps[2].graph();
    assert_eq!(g.name(c.holder.expect("a holder")), "TimersList");
}

#[test]
fn listeners_under_events_are_event_listener_leaks() {
    let heaps: Vec<Heap> = (0..3)
        .map(|k| {
            let mut h = Heap::new();
            let ctx = h.module();
            let bus = h.node(9, "object", "EventEmitter", 32);
            let events = h.node(11, "object", "Object", 32);
            let arr = h.node(13, "object", "Array", 32);
            h.edge(ctx, "context", "configBus", bus);
            h.edge(bus, "property", "_events", events);
            h.edge(events, "property", "reload", arr);
            for i in 0..=(30 * k) {
                let f = h.node(1001 + 4 * i as u32, "closure", "onReload", 32);
                let scope = h.node(1003 + 4 * i as u32, "object", "Session", 12 * KB);
                h.edge(arr, "element", &i.to_string(), f);
                h.edge(f, "context", "session", scope);
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert_eq!(r.clusters.len(), 1, "{r:#?}");
    assert_eq!(r.clusters[0].pattern, Pattern::EventListener);
    assert_eq!(r.clusters[0].roots.len(), 30);
}

#[test]
fn a_global_array_accumulates() {
    let heaps: Vec<Heap> = (0..4)
        .map(|k| {
            let mut h = Heap::new();
            let log = h.node(9, "object", "Array", 32);
            let g = h.global;
            h.edge(g, "property", "requestLog", log);
            for i in 0..=(25 * k) {
                let e = h.node(1001 + 2 * i as u32, "object", "Entry", 16 * KB);
                h.edge(log, "element", &i.to_string(), e);
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert_eq!(r.snapshot_count, 4);
    assert_eq!(r.clusters.len(), 1, "{r:#?}");
    let c = &r.clusters[0];
    assert_eq!(c.pattern, Pattern::GlobalAccumulation);
    assert_eq!(
        c.roots.len(),
        25,
        "allocated after the base, alive in all three later snapshots"
    );
    assert_eq!(c.holder_sizes.len(), 4);
    assert!(
        r.growing
            .iter()
            .any(|g| g.pattern == Pattern::GlobalAccumulation)
    );
}

#[test]
fn fewer_than_three_snapshots_is_an_error() {
    let heaps: Vec<Heap> = (0..2).map(|k| map_cache(k, 1, KB)).collect();
    assert_eq!(
        run(&heaps, &Options::default()).unwrap_err(),
        Error::TooFewSnapshots(2)
    );
}

#[test]
fn snapshots_of_different_processes_are_an_error() {
    let mut heaps: Vec<Heap> = (0..3).map(|k| map_cache(k, 1, KB)).collect();
    for n in &mut heaps[0].s.nodes {
        n.id += 1_000_000;
    }
    assert_eq!(
        run(&heaps, &Options::default()).unwrap_err(),
        Error::Unrelated(0, 2)
    );
}

/// The heap profiler turned off before the last snapshot: V8 numbers the
/// heap afresh in the order it walks it, so the ids the snapshots share
/// mostly belong to other objects.
#[test]
fn a_renumbered_snapshot_is_an_error() {
    let mut heaps: Vec<Heap> = (0..3).map(|k| map_cache(k, 1, KB)).collect();
    for (i, n) in heaps[2].s.nodes.iter_mut().enumerate() {
        n.id = 1 + 2 * i as u32;
    }
    match run(&heaps, &Options::default()) {
        Err(Error::IdsDoNotMatch {
            earlier: 0,
            later: 2,
            agreement,
        }) => assert!(agreement.mismatched > 0, "{agreement:?}"),
        other => panic!(
            "expected IdsDoNotMatch, got {:?}",
            other.map(|r| r.clusters.len())
        ),
    }
}

/// A shared emitter's listener list as Node's EventTarget keeps it: a
/// sentinel holding a linked list of `Listener` records, `per_step` more
/// at every step; each listener's callback captures a request.
fn listener_list(step: usize, per_step: usize) -> Heap {
    let mut h = Heap::new();
    let ctx = h.module();
    let signal = h.node(9, "object", "AbortSignal", 48);
    h.edge(ctx, "context", "shutdown", signal);
    let events = h.node(11, "object", "Map", 32);
    h.edge(signal, "property", "<symbol kEvents>", events);
    let head = h.node(13, "object", "Object", 24);
    h.edge(events, "internal", "table", head);
    let mut prev = head;
    for i in 0..=(step * per_step) {
        let id = 1001 + 8 * i as u32;
        let l = h.node(id, "object", "Listener", 64);
        let cb = h.node(id + 2, "closure", "onAbort", 32);
        let req = h.node(id + 4, "string", "request body", 4 * KB);
        h.edge(prev, "property", "next", l);
        h.edge(l, "property", "listener", cb);
        h.edge(cb, "context", "req", req);
        prev = l;
    }
    h
}

#[test]
fn every_listener_of_a_linked_list_is_counted() {
    let heaps: Vec<Heap> = (0..4).map(|k| listener_list(k, 30)).collect();
    let opts = Options {
        load: vec![30.0, 30.0, 30.0],
        ..Options::default()
    };
    let r = run(&heaps, &opts).expect("finds");
    let c = &r.clusters[0];
    assert_eq!(
        c.roots.len(),
        1,
        "one chain: its first new listener dominates the rest"
    );
    assert_eq!(
        c.leaked_objects, 30,
        "but every listener leaked in the first phase counts"
    );
    assert_eq!(c.leaked.len(), 30);
    assert_eq!(c.pattern, Pattern::EventListener);
    let holder = c.holder_name.as_ref().expect("named holder");
    assert!(holder.name.starts_with("shutdown"), "{holder:?}");
    assert_eq!(c.readable.anchor.name, "shutdown");
}

/// A module-level plain object used as a map, keyed by session ids.
fn sessions_by_id(step: usize, per_step: usize) -> Heap {
    let mut h = Heap::new();
    let ctx = h.module();
    let sessions = h.node(9, "object", "Object", 32);
    let props = h.node(11, "array", "(object properties)", 64);
    h.edge(ctx, "context", "sessions", sessions);
    h.edge(sessions, "internal", "properties", props);
    for i in 0..=(step * per_step) {
        let id = 1001 + 4 * i as u32;
        let s = h.node(id, "object", "Session", 64);
        let data = h.node(id + 2, "string", "data", 2 * KB);
        let key = format!("s-{:08x}-4b1c-9f7e-{:012x}", i * 7919, i * 104_729);
        h.edge(sessions, "property", &key, s);
        h.edge(s, "property", "data", data);
    }
    h
}

#[test]
fn a_cache_keyed_by_id_strings_is_one_cluster() {
    let heaps: Vec<Heap> = (0..4).map(|k| sessions_by_id(k, 25)).collect();
    let opts = Options {
        load: vec![25.0, 25.0, 25.0],
        min_cluster_bytes: 0,
        ..Options::default()
    };
    let r = run(&heaps, &opts).expect("finds");
    assert_eq!(
        r.clusters.len(),
        1,
        "{:#?}",
        r.clusters.iter().map(|c| &c.signature).collect::<Vec<_>>()
    );
    let c = &r.clusters[0];
    assert_eq!(c.leaked_objects, 25, "every entry counted");
    assert_eq!(c.pattern, Pattern::UnboundedCollection);
    assert_eq!(c.holder_name.as_ref().unwrap().name, "sessions");
}

/// A cache filling up to its bound grows, but slower and slower: not a leak.
#[test]
fn growth_that_slows_down_is_not_a_leak() {
    // Entries per step: 40, then 4 more, then 1 more (a TTL cache reaching its steady size).
    let sizes = [0usize, 40, 44, 45];
    let heaps: Vec<Heap> = sizes
        .iter()
        .map(|&n| {
            let mut h = Heap::new();
            let ctx = h.module();
            let map = h.node(9, "object", "Map", 32);
            let table = h.node(11, "array", "", 16);
            h.edge(ctx, "context", "cache", map);
            h.edge(map, "internal", "table", table);
            for i in 0..n {
                let id = 1001 + 4 * i as u32;
                let e = h.node(id, "object", "Entry", 64);
                let body = h.node(id + 2, "string", "body", 8 * KB);
                h.edge(table, "internal", &i.to_string(), e);
                h.edge(e, "property", "body", body);
            }
            h
        })
        .collect();
    let opts = Options {
        load: vec![40.0, 40.0, 40.0],
        ..Options::default()
    };
    let r = run(&heaps, &opts).expect("runs");
    assert!(
        r.clusters.is_empty(),
        "{:#?}",
        r.clusters
            .iter()
            .map(|c| &c.holder_sizes)
            .collect::<Vec<_>>()
    );
    assert!(r.growing.is_empty());
    assert_eq!(r.uneven_clusters, 1, "said as weak evidence");
}

/// An emitter with no listener at the base: its listener array is made
/// after it, so the array is the leak root; the listeners in it are what
/// leaked, each counted, and it is a listener leak.
#[test]
fn a_listener_array_made_after_the_base_counts_its_listeners() {
    let heaps: Vec<Heap> = (0..4usize)
        .map(|step| {
            let mut h = Heap::new();
            let ctx = h.module();
            let bus = h.node(9, "object", "EventEmitter", 48);
            let events = h.node(11, "object", "Object", 32);
            h.edge(ctx, "context", "bus", bus);
            h.edge(bus, "property", "_events", events);
            if step > 0 {
                let list = h.node(13, "object", "Array", 32);
                h.edge(events, "property", "shutdown", list);
                for i in 0..step * 20 {
                    let id = 1001 + 4 * i as u32;
                    let f = h.node(id, "closure", "onShutdown", 32);
                    let ctx = h.node(id + 2, "string", "captured request", 4 * KB);
                    h.edge(list, "element", &i.to_string(), f);
                    h.edge(f, "context", "req", ctx);
                }
            }
            h
        })
        .collect();
    let opts = Options {
        load: vec![20.0, 20.0, 20.0],
        min_cluster_bytes: 0,
        ..Options::default()
    };
    let r = run(&heaps, &opts).expect("finds");
    let c = &r.clusters[0];
    assert_eq!(c.pattern, Pattern::EventListener);
    assert_eq!(c.leaked_objects, 20, "the listeners, not the array");
    assert!(
        c.holder_name
            .as_ref()
            .unwrap()
            .name
            .starts_with("bus._events")
    );
}

/// An RxJS Subject's subscribers: `config$.observers` gains a
/// `SafeSubscriber` per step, whose callback sits three objects down
/// (`destination.partialObserver.next`) and captures a view.
#[test]
fn subscribers_of_a_subject_are_event_listener_leaks() {
    let heaps: Vec<Heap> = (0..3)
        .map(|k| {
            let mut h = Heap::new();
            let ctx = h.module();
            let subject = h.node(9, "object", "BehaviorSubject", 32);
            let observers = h.node(11, "object", "Array", 32);
            h.edge(ctx, "context", "config$", subject);
            h.edge(subject, "property", "observers", observers);
            for i in 0..=(30 * k) {
                let id = 1001 + 10 * i as u32;
                let sub = h.node(id, "object", "SafeSubscriber", 72);
                let dest = h.node(id + 2, "object", "ConsumerObserver", 32);
                let partial = h.node(id + 4, "object", "Object", 32);
                let next = h.node(id + 6, "closure", "next", 32);
                let view = h.node(id + 8, "object", "View", 8 * KB);
                h.edge(observers, "element", &i.to_string(), sub);
                h.edge(sub, "property", "destination", dest);
                h.edge(dest, "property", "partialObserver", partial);
                h.edge(partial, "property", "next", next);
                h.edge(next, "context", "view", view);
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert_eq!(r.clusters.len(), 1, "{r:#?}");
    assert_eq!(r.clusters[0].pattern, Pattern::EventListener);
}

/// A module scope reached only through a SIGTERM listener
/// (`process._events.SIGTERM` → its scope) holds a chain of quotes, each
/// kept by the previous one's closure: the listener registry is the way
/// there, not what grows, so it is a closure leak.
#[test]
fn a_registry_on_the_way_to_a_scope_is_not_a_listener_leak() {
    let heaps: Vec<Heap> = (0..3)
        .map(|k| {
            let mut h = Heap::new();
            let g = h.global;
            let process = h.node(9, "object", "process", 64);
            let events = h.node(11, "object", "Object", 32);
            let on_term = h.node(13, "closure", "onSigterm", 32);
            let ctx = h.node(17, "object", "system / Context", 40);
            let native = h.node(15, "hidden", "system / NativeContext", 200);
            h.edge(g, "property", "process", process);
            h.edge(process, "property", "_events", events);
            h.edge(events, "property", "SIGTERM", on_term);
            h.edge(on_term, "internal", "context", ctx);
            h.edge(ctx, "internal", "previous", native);
            let mut holder = ctx;
            let mut edge = ("context", "lastQuote");
            for i in (0..=(30 * k)).rev() {
                let id = 1001 + 6 * i as u32;
                let quote = h.node(id, "object", "Quote", 16 * KB);
                let render = h.node(id + 2, "closure", "render", 32);
                let scope = h.node(id + 4, "object", "system / Context", 40);
                h.edge(holder, edge.0, edge.1, quote);
                h.edge(quote, "property", "render", render);
                h.edge(render, "internal", "context", scope);
                holder = scope;
                edge = ("context", "previous");
            }
            h
        })
        .collect();
    let r = run(&heaps, &Options::default()).expect("finds");
    assert!(!r.clusters.is_empty(), "{r:#?}");
    assert_eq!(r.clusters[0].pattern, Pattern::Closure, "{r:#?}");
}
