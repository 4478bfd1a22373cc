//! Comparison by path (`leaks::bypath`) on small named heaps of two
//! *processes* of one program: the same code, so the same paths, but
//! objects created in another order and numbered afresh, as two pods or a
//! restart give them. Nothing may depend on object ids or node order.

use analysis::Analysis;
use heapsnap::HeapGraph;
use heapsnap::synth::SynthSnapshot;
use leaks::bypath::{self, FindingKind, Options, PathIndex};
use leaks::{Pattern, Snap};

const KB: u64 = 1024;

/// What one process of the test service holds.
#[derive(Clone, Copy)]
struct Load {
    /// Listeners added to `configBus._events.reload`, each keeping a session.
    listeners: usize,
    /// Entries of a module-level Map (a bounded cache: as many in every process).
    cached: usize,
    /// Listener records in a linked list under `shutdown.head`.
    chain: usize,
    /// Bytes of a module-level string that only grows.
    log: u64,
    /// Creates the module's closures in the other order (node order differs between processes).
    swapped: bool,
}

const IDLE: Load = Load {
    listeners: 20,
    cached: 50,
    chain: 0,
    log: 10 * KB,
    swapped: false,
};

/// The service's heap: a global with builtins, a module whose scope two
/// functions share, and what `load` says it holds.
fn service(load: Load) -> SynthSnapshot {
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 100);
    s.edge(0, "shortcut", "global", global);
    for i in 0..50 {
        let n = s.node("object", "Builtin", 24);
        s.edge(global, "property", &format!("builtin{i}"), n);
    }
    let native = s.node("hidden", "system / NativeContext", 200);
    let ctx = s.node("object", "system / Context", 40);
    s.edge(ctx, "internal", "previous", native);
    let mut names = ["handleRequest", "closeSession"];
    if load.swapped {
        names.reverse();
    }
    for name in names {
        let f = s.node("closure", name, 32);
        s.edge(global, "property", name, f);
        s.edge(f, "internal", "context", ctx);
    }
    listeners(&mut s, ctx, load.listeners);
    cache(&mut s, ctx, load.cached);
    chain(&mut s, ctx, load.chain);
    let log = s.node("string", "GET / 200", load.log);
    s.edge(ctx, "context", "accessLog", log);
    s
}

fn listeners(s: &mut SynthSnapshot, ctx: usize, n: usize) {
    let bus = s.node("object", "EventEmitter", 32);
    let events = s.node("object", "Object", 32);
    let reload = s.node("object", "Array", 32);
    s.edge(ctx, "context", "configBus", bus);
    s.edge(bus, "property", "_events", events);
    s.edge(events, "property", "reload", reload);
    for i in 0..n {
        let f = s.node("closure", "onConfigReload", 32);
        let session = s.node("object", "Session", 4 * KB);
        s.edge(reload, "element", &i.to_string(), f);
        s.edge(f, "context", "session", session);
    }
}

fn cache(s: &mut SynthSnapshot, ctx: usize, n: usize) {
    let map = s.node("object", "Map", 32);
    let table = s.node("array", "", 16);
    s.edge(ctx, "context", "cache", map);
    s.edge(map, "internal", "table", table);
    for i in 0..n {
        let key = s.node("string", &format!("user{i}"), 32);
        let value = s.node("object", "Profile", 2 * KB);
        s.edge(table, "internal", &(3 * i + 1).to_string(), key);
        s.edge(table, "internal", &(3 * i + 2).to_string(), value);
    }
}

fn chain(s: &mut SynthSnapshot, ctx: usize, n: usize) {
    let shutdown = s.node("object", "AbortSignal", 48);
    let head = s.node("object", "Object", 24);
    s.edge(ctx, "context", "shutdown", shutdown);
    s.edge(shutdown, "property", "head", head);
    let mut prev = head;
    for _ in 0..n {
        let l = s.node("object", "Listener", 64);
        let body = s.node("string", "request body", 4 * KB);
        s.edge(prev, "property", "next", l);
        s.edge(l, "property", "body", body);
        prev = l;
    }
}

/// Numbers the objects afresh from the other end: ids unrelated to another snapshot's.
fn renumbered(mut s: SynthSnapshot) -> SynthSnapshot {
    let n = s.nodes.len() as u32;
    for (i, node) in s.nodes.iter_mut().enumerate().skip(1) {
        node.id = 1 + 2 * (n - i as u32) + 10_000;
    }
    s
}

fn analysed(s: &SynthSnapshot) -> (HeapGraph, Analysis) {
    let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("synthetic snapshot parses");
    let a = Analysis::run(&g, |_| {});
    (g, a)
}

fn opts() -> Options {
    Options {
        min_growth_bytes: 64 * KB,
        min_growth_ratio: 0.2,
        ..Options::default()
    }
}

fn snap((g, a): &(HeapGraph, Analysis)) -> Snap<'_> {
    Snap {
        graph: g,
        analysis: a,
    }
}

/// Compares snapshots oldest first, as the CLI does: the earlier ones reduced to summaries.
fn compare(snaps: &[SynthSnapshot]) -> bypath::Report {
    let built: Vec<(HeapGraph, Analysis)> = snaps.iter().map(analysed).collect();
    let (last, earlier) = built.split_last().expect("snapshots");
    let summaries: Vec<_> = earlier
        .iter()
        .map(|b| PathIndex::new(snap(b)).summary())
        .collect();
    let index = PathIndex::new(snap(last));
    bypath::compare(&summaries, snap(last), &index, &opts()).expect("compares")
}

#[test]
fn more_listeners_in_the_busier_process_are_the_leak() {
    let busy = Load {
        listeners: 80,
        swapped: true,
        ..IDLE
    };
    let r = compare(&[service(IDLE), renumbered(service(busy))]);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.kind, FindingKind::NewObjects);
    assert_eq!(f.pattern, Pattern::EventListener);
    assert_eq!(f.counts, vec![20, 80]);
    assert_eq!(f.new_objects, 60);
    assert_eq!(f.growth, 60 * (32 + 4 * KB));
    let holder = f.holder_name.as_ref().expect("a holder");
    assert_eq!(holder.name, "configBus._events.reload");
    assert_eq!(f.holder_sizes.len(), 2);
    assert!(
        f.holder_sizes[0] < f.holder_sizes[1],
        "{:?}",
        f.holder_sizes
    );
    assert_eq!(f.readable.anchor.name, "configBus");
}

#[test]
fn the_same_load_in_another_order_is_clean() {
    let other = Load {
        swapped: true,
        ..IDLE
    };
    let r = compare(&[service(IDLE), renumbered(service(other))]);
    assert!(r.findings.is_empty(), "{r:#?}");
    // A cache full in both, of other entries: as many objects, as big.
    let r = compare(&[service(IDLE), service(IDLE)]);
    assert!(r.findings.is_empty(), "{r:#?}");
}

#[test]
fn object_ids_do_not_matter() {
    let busy = Load {
        listeners: 80,
        chain: 40,
        ..IDLE
    };
    let a = compare(&[service(IDLE), service(busy)]);
    let b = compare(&[renumbered(service(IDLE)), renumbered(service(busy))]);
    let key = |r: &bypath::Report| {
        r.findings
            .iter()
            .map(|f| (f.signature.clone(), f.counts.clone(), f.sizes.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.findings.len(), 2, "{a:#?}");
}

#[test]
fn a_longer_linked_list_counts_its_new_members_under_its_head() {
    let small = Load { chain: 10, ..IDLE };
    let long = Load { chain: 70, ..IDLE };
    let r = compare(&[service(small), renumbered(service(long))]);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.kind, FindingKind::NewObjects);
    assert_eq!(f.new_objects, 60);
    assert_eq!(f.growth, 60 * (64 + 4 * KB));
    // What holds the list is its head, not the oldest listener on it.
    let holder = f.holder_name.as_ref().expect("a holder");
    assert_eq!(holder.name, "shutdown.head");
    assert!(f.signature.contains("( Listener )*"), "{}", f.signature);
}

#[test]
fn a_string_that_grows_is_reported_as_growing() {
    let three: Vec<SynthSnapshot> = [10, 200, 400]
        .iter()
        .map(|&k| {
            service(Load {
                log: k * KB,
                ..IDLE
            })
        })
        .collect();
    let r = compare(&three);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.kind, FindingKind::Grew);
    assert_eq!(f.pattern, Pattern::StringsOrBuffers);
    assert_eq!(f.sizes, vec![10 * KB, 200 * KB, 400 * KB]);
    assert_eq!(f.counts, vec![1, 1, 1]);
    // Growth that does not hold in every interval is not reported.
    let uneven: Vec<SynthSnapshot> = [10, 400, 200]
        .iter()
        .map(|&k| {
            service(Load {
                log: k * KB,
                ..IDLE
            })
        })
        .collect();
    assert!(compare(&uneven).findings.is_empty());
}

#[test]
fn below_the_thresholds_is_not_reported() {
    // 60 KiB more: under the absolute threshold.
    let busy = Load {
        listeners: 35,
        ..IDLE
    };
    let r = compare(&[service(IDLE), service(busy)]);
    assert!(r.findings.is_empty(), "{r:#?}");
    assert!(r.ignored >= 1);
    // 10% more of a big cache: under the relative one.
    let big = Load {
        cached: 500,
        ..IDLE
    };
    let bigger = Load {
        cached: 550,
        ..IDLE
    };
    let r = compare(&[service(big), service(bigger)]);
    assert!(r.findings.is_empty(), "{r:#?}");
}
