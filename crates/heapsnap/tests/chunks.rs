//! The push parser gives the same graph (or the same error) however its input
//! is cut into chunks, and decodes every JSON string escape.

mod support;

use heapsnap::synth::SynthSnapshot;
use heapsnap::{NodeIdx, StrIdx, parse_bytes};
use proptest::prelude::*;
use support::{
    Rng, encode_json_string, fingerprint, parse_chunked, parse_in_parallel, rich_snapshot, same,
};

#[test]
fn rich_snapshot_has_every_section() {
    let text = rich_snapshot();
    let g = parse_bytes(text.as_bytes()).expect("parses");
    assert_eq!(g.trace_function_infos().len(), 12);
    let tree = g.trace_tree();
    assert_eq!(tree.len(), 4);
    assert_eq!(
        tree.iter().map(|t| (t.id, t.parent)).collect::<Vec<_>>(),
        [(1, u32::MAX), (2, 0), (3, 0), (4, 2)]
    );
    assert_eq!(g.samples(), [(100, 3), (250, 9)]);
    assert_eq!(g.locations().len(), 7);
    let with_trace: Vec<_> = g.nodes().filter(|&n| g.trace_node_id(n) != 0).collect();
    assert_eq!(with_trace.len(), 2);
    assert_eq!(g.trace_node_id(with_trace[0]), 2);
    assert_eq!(g.detachedness(with_trace[0]), 1);
    assert_eq!(g.detachedness(with_trace[1]), 2);
    let strings: Vec<&str> = g.strings().iter().map(|(_, s)| s).collect();
    assert!(strings.contains(&"caché \"q\" \\ /"), "{strings:?}");
    assert!(strings.contains(&"Sëssion3\n☃ 😀"), "{strings:?}");
    assert!(strings.contains(&"on\tRequest\u{1}"), "{strings:?}");
    assert!(strings.contains(&"😀 pair, é ☃ \"q\" \\ / \u{8}\u{c}\n\r\t"));
    assert!(strings.contains(&"raw: é ☃ 😀 \u{7f}"));
}

/// Lone surrogates are what `JSON.parse` keeps in a JS string; DevTools shows
/// them as U+FFFD, and so does the parser: it never rejects them, and the
/// replacement character stands where the surrogate stood.
#[test]
fn lone_surrogates_become_replacement_characters() {
    let g = parse_bytes(rich_snapshot().as_bytes()).expect("parses");
    let strings: Vec<&str> = g.strings().iter().map(|(_, s)| s).collect();
    assert!(
        strings.contains(&"lone high \u{FFFD} then text"),
        "{strings:?}"
    );
    assert!(strings.contains(&"lone low \u{FFFD}, high at end \u{FFFD}"));
    assert!(strings.contains(&"two highs \u{FFFD}😀"));
    for (body, want) in [
        (r#""\ud800""#, "\u{FFFD}"),
        (r#""\udfff\ud800""#, "\u{FFFD}\u{FFFD}"),
        (r#""\ud800\n""#, "\u{FFFD}\n"),
        (r#""\ud800\u0041""#, "\u{FFFD}A"),
        (r#""\ud800x\udc00""#, "\u{FFFD}x\u{FFFD}"),
        (r#""x\uD834\uDD1Ey""#, "x𝄞y"),
    ] {
        let text = one_string_snapshot(body);
        for sizes in [vec![usize::MAX], vec![1], vec![2, 3]] {
            let g = parse_chunked(text.as_bytes(), &sizes, false)
                .unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(g.string(StrIdx(1)), want, "{body} in chunks of {sizes:?}");
        }
    }
}

/// A one-node snapshot whose string 1 is `body` (a JSON string literal).
fn one_string_snapshot(body: &str) -> String {
    let text = SynthSnapshot::with_root().to_json();
    text.replacen(
        "\"strings\":[\"<dummy>\"",
        &format!("\"strings\":[\"<dummy>\",{body}"),
        1,
    )
}

#[test]
fn every_chunk_size_gives_the_same_graph() {
    let text = rich_snapshot();
    let bytes = text.as_bytes();
    let whole = parse_bytes(bytes).expect("parses");
    for size in (1..=64).chain([100, 1000, 4096, bytes.len() - 1]) {
        for hint in [false, true] {
            let g = parse_chunked(bytes, &[size], hint).expect("parses in chunks");
            assert_eq!(fingerprint(&g), fingerprint(&whole), "chunks of {size}");
        }
    }
}

#[test]
fn byte_order_mark_may_be_split() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(SynthSnapshot::with_root().to_json().as_bytes());
    let whole = parse_bytes(&bytes).expect("BOM tolerated");
    for size in [1, 2, 4] {
        let g = parse_chunked(&bytes, &[size], false).expect("split BOM tolerated");
        assert_eq!(fingerprint(&g), fingerprint(&whole));
    }
    // Only a whole BOM, and only at the very start.
    for bad in [&bytes[1..], &bytes[2..]] {
        let e = parse_bytes(bad).unwrap_err();
        assert_eq!(e.offset, 0, "{e}");
        assert!(parse_chunked(bad, &[1], false).is_err());
    }
    let mut partial = vec![0xEF, 0xBB];
    partial.extend_from_slice(&bytes[3..]);
    let e = parse_bytes(&partial).unwrap_err();
    assert_eq!(e, parse_chunked(&partial, &[1], false).unwrap_err());
    assert_eq!(e.offset, 2, "{e}");
    let mut late = b" ".to_vec();
    late.extend_from_slice(&bytes);
    assert_eq!(parse_bytes(&late).unwrap_err().offset, 1);
}

fn names() -> impl Strategy<Value = Vec<String>> {
    let any_text = proptest::collection::vec(any::<char>(), 0..10)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    let tricky = prop::sample::select(vec![
        "",
        "\"",
        "\\",
        "\n\r\t",
        "\u{0}\u{1f}",
        "é",
        "☃",
        "😀",
        "a\u{10ffff}b",
        "\u{ffff}",
        "/\\/",
        "\u{2028}",
    ])
    .prop_map(str::to_owned);
    proptest::collection::vec(prop_oneof![any_text, tricky], 1..12)
}

/// Snapshot text and the names it was built from.
fn snapshot() -> impl Strategy<Value = String> {
    (
        names(),
        proptest::collection::vec((any::<u16>(), any::<u16>(), 0u8..4, any::<u32>()), 0..30),
        proptest::collection::vec((any::<u16>(), 0u32..100, 0u32..100), 0..6),
        any::<u64>(),
    )
        .prop_map(|(names, edges, locs, seed)| {
            let mut s = SynthSnapshot::with_root();
            for (i, n) in names.iter().enumerate() {
                s.node("object", n, i as u64 * 8);
            }
            let count = s.nodes.len();
            for (from, to, ty, name) in edges {
                let (from, to) = (from as usize % count, to as usize % count);
                let (ty, name) = match ty {
                    0 => ("element", (name % 1000).to_string()),
                    1 => ("property", names[name as usize % names.len()].clone()),
                    2 => ("internal", format!("p{}", name % 7)),
                    _ => ("weak", String::new()),
                };
                s.edge(from, ty, &name, to);
            }
            for (node, line, col) in locs {
                s.location(node as usize % count, 1, line, col);
            }
            // Respell the strings with random escapes.
            let text = s.to_json();
            let g = parse_bytes(text.as_bytes()).expect("synth output parses");
            let mut rng = Rng(seed);
            let at = text.find("\"strings\":[").unwrap() + "\"strings\":[".len();
            let strs: Vec<String> = g
                .strings()
                .iter()
                .map(|(_, s)| encode_json_string(s, &mut rng))
                .collect();
            format!("{}{}]}}", &text[..at], strs.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunking_never_changes_the_graph(
        text in snapshot(),
        sizes in proptest::collection::vec(prop_oneof![Just(1usize), 1usize..8, 1usize..300], 1..20),
        hint in any::<bool>(),
    ) {
        let bytes = text.as_bytes();
        let whole = parse_bytes(bytes);
        prop_assert!(whole.is_ok(), "{:?}", whole.err());
        let chunked = parse_chunked(bytes, &sizes, hint);
        prop_assert!(same(&whole, &chunked), "{:?} vs {:?}", whole.err(), chunked.err());
        let parallel = parse_in_parallel(bytes, sizes[0]);
        prop_assert!(same(&whole, &parallel), "{:?} vs {:?}", whole.err(), parallel.err());
    }

    #[test]
    fn escapes_decode_to_the_original_strings(names in names(), seed in any::<u64>()) {
        let mut s = SynthSnapshot::with_root();
        for n in &names {
            s.node("object", n, 1);
        }
        let plain = parse_bytes(s.to_json().as_bytes()).unwrap();
        let text = s.to_json();
        let at = text.find("\"strings\":[").unwrap() + "\"strings\":[".len();
        let mut rng = Rng(seed);
        let strs: Vec<String> =
            plain.strings().iter().map(|(_, s)| encode_json_string(s, &mut rng)).collect();
        let respelled = format!("{}{}]}}", &text[..at], strs.join(","));
        let g = parse_chunked(respelled.as_bytes(), &[1], false).unwrap();
        for (i, n) in names.iter().enumerate() {
            prop_assert_eq!(g.name(NodeIdx(i as u32 + 1)), n.as_str());
        }
        prop_assert_eq!(fingerprint(&g), fingerprint(&plain));
    }

    /// Corrupted input: same error (or same graph) whole and in chunks.
    #[test]
    fn chunking_never_changes_the_error(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        sizes in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let mut bytes = rich_snapshot().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let whole = parse_bytes(&bytes);
        let chunked = parse_chunked(&bytes, &sizes, false);
        prop_assert!(same(&whole, &chunked), "{:?} vs {:?}", whole.err(), chunked.err());
        let parallel = parse_in_parallel(&bytes, sizes[0]);
        prop_assert!(same(&whole, &parallel), "{:?} vs {:?}", whole.err(), parallel.err());
        if let Err(e) = whole {
            prop_assert!(e.offset <= bytes.len() as u64, "{}", e);
            prop_assert!(!e.to_string().ends_with('.'), "{}", e);
        }
    }
}

/// A snapshot of a few MB; `big_index` goes on an element edge near the end.
fn big_snapshot(big_index: u32) -> String {
    let mut s = SynthSnapshot::with_root();
    let mut rng = support::Rng(7);
    for i in 0..40_000u64 {
        s.node("object", &format!("C{}", i % 50), rng.below(1 << 20));
    }
    let count = s.nodes.len();
    for e in 0..120_000usize {
        let from = e * count / 120_000;
        let to = rng.below(count as u64) as usize;
        match e % 3 {
            0 => s.edge(from, "property", &format!("p{}", e % 40), to),
            1 => s.edge(from, "element", &(e % 1000).to_string(), to),
            _ => s.edge(from, "internal", "map", to),
        };
    }
    s.edge(count - 2, "element", &big_index.to_string(), 1);
    s.edges.swap(110_000, 120_000);
    s.to_json()
}

#[test]
fn big_snapshots_in_big_chunks_give_the_same_graph_and_errors() {
    for big in [5, u32::MAX - 1] {
        let text = big_snapshot(big);
        let whole = parse_bytes(text.as_bytes());
        assert!(whole.is_ok(), "{:?}", whole.err());
        for sizes in [vec![4096], vec![300_000, 1 << 20]] {
            let chunked = parse_chunked(text.as_bytes(), &sizes, true);
            assert!(same(&whole, &chunked), "big {big}, chunks of {sizes:?}");
        }
        // Broken near the end, and in the middle: the same error either way.
        for at in [text.len() * 9 / 10, text.len() / 2] {
            let at = at + text[at..].find(',').unwrap() + 1;
            for bad in ["x", "-1", "99999999999999999999999", ",", "3 4"] {
                let broken = format!("{}{bad}{}", &text[..at], &text[at..]);
                let whole = parse_bytes(broken.as_bytes());
                assert!(whole.is_err(), "{bad} at {at}");
                let chunked = parse_chunked(broken.as_bytes(), &[4096], false);
                assert!(same(&whole, &chunked), "{bad} at {at}");
            }
        }
    }
}
