//! Self sizes above 4 GiB wrap to 32 bits, as in DevTools' `Uint32Array`,
//! and are counted so the CLI can say so.

use heapsnap::synth::SynthSnapshot;
use heapsnap::{NodeIdx, Parser};

#[test]
fn self_sizes_above_4_gib_wrap_and_are_counted() {
    let mut s = SynthSnapshot::with_root();
    let big = s.node("native", "huge buffer", 5_000_000_000);
    let small = s.node("object", "Small", 64);
    s.edge(0, "element", "1", big);
    s.edge(0, "element", "2", small);
    let mut p = Parser::new();
    p.feed(s.to_json().as_bytes()).unwrap();
    let g = p.finish().unwrap();
    assert_eq!(g.wrapped_self_sizes(), 1);
    assert_eq!(
        g.self_size(NodeIdx(big as u32)),
        5_000_000_000u64 % (1 << 32)
    );
    assert_eq!(g.self_size(NodeIdx(small as u32)), 64);
}
