//! Times the push parser alone on a snapshot read into memory beforehand,
//! fed in 8 MiB chunks as `leakhound` feeds it (CPU times need Linux):
//! `cargo run --release -p heapsnap --example parse_bench -- FILE [RUNS]`
use std::time::Instant;

/// User and system CPU seconds of this process so far (from /proc, 10 ms ticks).
fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (at(11), at(12))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("snapshot path");
    let runs: usize = args.next().map_or(3, |s| s.parse().expect("runs"));
    let bytes = std::fs::read(&path).expect("read");
    for _ in 0..runs {
        let t = Instant::now();
        let c0 = cpu();
        let mut p = heapsnap::Parser::with_size_hint(bytes.len() as u64);
        for c in bytes.chunks(8 << 20) {
            p.feed(c).expect("parses");
        }
        let fed = t.elapsed();
        let g = p.finish().expect("finishes");
        let all = t.elapsed();
        let c1 = cpu();
        println!(
            "feed {:.3} s  finish {:.3} s  total {:.3} s  user {:.2} s  sys {:.2} s  ({} nodes, {} edges)",
            fed.as_secs_f64(),
            (all - fed).as_secs_f64(),
            all.as_secs_f64(),
            c1.0 - c0.0,
            c1.1 - c0.1,
            g.node_count(),
            g.edge_count()
        );
        drop(g);
    }
}
