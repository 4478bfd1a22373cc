//! Bad input never panics: it gives a `ParseError` whose offset points at the
//! problem and whose message says what is wrong.

mod support;

use heapsnap::synth::SynthSnapshot;
use heapsnap::{ErrorKind, ParseError, Parser, parse_bytes};
use proptest::prelude::*;
use support::{parse_chunked, parse_in_parallel, rich_snapshot, same};

/// root -> global -> Map -> 2 sessions; each session has a name string.
fn base() -> String {
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 200);
    s.edge(0, "shortcut", "global", global);
    let map = s.node("object", "Map", 80);
    s.edge(global, "property", "cache", map);
    for i in 0..2 {
        let o = s.node("object", "Session", 64);
        s.edge(map, "element", &i.to_string(), o);
    }
    s.to_json()
}

/// Parses whole, in 1-byte and 5-byte chunks and with the edges on a second
/// thread; all must agree.
fn parse(text: impl AsRef<[u8]>) -> Result<heapsnap::HeapGraph, ParseError> {
    let bytes = text.as_ref();
    let whole = parse_bytes(bytes);
    for chunk in [1, 7, 4096] {
        let parallel = parse_in_parallel(bytes, chunk);
        assert!(
            same(&whole, &parallel),
            "in parallel with chunks of {chunk}: {:?} vs {:?}",
            whole.as_ref().err(),
            parallel.as_ref().err()
        );
    }
    for sizes in [[1usize], [5]] {
        let chunked = parse_chunked(bytes, &sizes, false);
        assert!(
            same(&whole, &chunked),
            "chunks of {sizes:?} differ: {:?} vs {:?}",
            whole.as_ref().err(),
            chunked.as_ref().err()
        );
    }
    whole
}

/// The error for `text`, checked for the house style.
fn error(text: impl AsRef<[u8]>) -> ParseError {
    let e = match parse(text) {
        Ok(_) => panic!("bad input was accepted"),
        Err(e) => e,
    };
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("byte {}: ", e.offset)),
        "{shown}"
    );
    assert!(!shown.ends_with('.'), "no trailing full stop: {shown}");
    e
}

fn pos(text: &str, needle: &str) -> u64 {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the text")) as u64
}

#[test]
fn base_is_valid() {
    let g = parse(base()).expect("valid");
    assert_eq!(g.node_count(), 5);
    assert_eq!(g.edge_count(), 4);
}

#[test]
fn empty_and_blank_input() {
    let e = error("");
    assert_eq!(e.offset, 0);
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    let e = error(" \n\t ");
    assert_eq!(e.offset, 4);
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    // A valid JSON object that is not a snapshot.
    let e = error("{}");
    assert_eq!(e.kind, ErrorKind::MissingSection("snapshot"));
    let e = error(r#"{"name":"x","version":[1,2]}"#);
    assert_eq!(e.kind, ErrorKind::MissingSection("snapshot"));
    // Not JSON at all: a PNG signature, an HTML page, a JSON array.
    for (text, found) in [
        (&b"\x89PNG\r\n\x1a\n"[..], 0x89u8),
        (&b"<html>"[..], b'<'),
        (&b"[1,2]"[..], b'['),
    ] {
        let e = error(text);
        assert_eq!(e.offset, 0);
        assert!(
            matches!(e.kind, ErrorKind::Unexpected { found: f, .. } if f == found),
            "{e}"
        );
    }
}

#[test]
fn every_prefix_is_truncated() {
    // Every proper prefix of a complete snapshot is an error, and the error
    // says the input ended early, at the end of the input.
    let text = rich_snapshot();
    let bytes = text.as_bytes();
    let complete = text.rfind('}').unwrap() + 1;
    for cut in 0..complete {
        let e = parse_bytes(&bytes[..cut]).expect_err("a prefix must not parse");
        assert_eq!(
            parse_in_parallel(&bytes[..cut], 16).err(),
            Some(e.clone()),
            "cut at {cut}"
        );
        assert!(
            matches!(e.kind, ErrorKind::Truncated { .. }),
            "cut at {cut}: {e}"
        );
        assert_eq!(e.offset, cut as u64, "cut at {cut}: {e}");
    }
    // The closing brace completes it; trailing whitespace is fine.
    assert!(parse_bytes(&bytes[..complete]).is_ok());
    assert!(parse_bytes(bytes).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Prefixes fed in chunks fail the same way.
    #[test]
    fn prefixes_in_chunks(cut in any::<prop::sample::Index>(), sizes in proptest::collection::vec(1usize..50, 1..6)) {
        let text = rich_snapshot();
        let bytes = &text.as_bytes()[..cut.index(text.len())];
        let whole = parse_bytes(bytes);
        let chunked = parse_chunked(bytes, &sizes, false);
        prop_assert!(whole.is_err());
        prop_assert!(same(&whole, &chunked));
        prop_assert!(same(&whole, &parse_in_parallel(bytes, sizes[0])));
    }

    /// Arbitrary bytes never panic, and chunking never changes the outcome.
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), sizes in proptest::collection::vec(1usize..20, 1..4)) {
        let whole = parse_bytes(&bytes);
        prop_assert!(whole.is_err());
        prop_assert!(same(&whole, &parse_chunked(&bytes, &sizes, false)));
        prop_assert!(same(&whole, &parse_in_parallel(&bytes, sizes[0])));
    }
}

#[test]
fn counts_in_the_header_must_match_the_arrays() {
    let text = base();
    let nodes_end = pos(&text, "],\n\"edges\"");
    let edges_end = pos(&text, "],\n\"trace_function_infos\"");
    for (from, to, at, what) in [
        ("\"node_count\":5", "\"node_count\":6", nodes_end, "6 nodes"),
        ("\"node_count\":5", "\"node_count\":4", nodes_end, "4 nodes"),
        ("\"node_count\":5", "\"node_count\":0", nodes_end, "0 nodes"),
        ("\"edge_count\":4", "\"edge_count\":5", edges_end, "5 edges"),
        ("\"edge_count\":4", "\"edge_count\":3", edges_end, "3 edges"),
    ] {
        let bad = text.replacen(from, to, 1);
        // The change in length moves everything after the header.
        let at = at + to.len() as u64 - from.len() as u64;
        let e = error(&bad);
        assert!(matches!(e.kind, ErrorKind::Inconsistent(_)), "{e}");
        assert_eq!(e.offset, at, "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    // Edge counts of the nodes must add up to the edges.
    let bad = text.replacen("\"nodes\":[9,1,1,0,1,", "\"nodes\":[9,1,1,0,2,", 1);
    let e = error(&bad);
    assert!(matches!(e.kind, ErrorKind::Inconsistent(_)), "{e}");
    assert!(e.to_string().contains("edge counts"), "{e}");
    // A record cut short.
    let bad = text.replacen("],\n\"edges\"", ",1],\n\"edges\"", 1);
    let e = error(&bad);
    assert!(e.to_string().contains("middle of a record"), "{e}");
}

#[test]
fn huge_counts_do_not_allocate_absurd_memory() {
    let text = base();
    for count in ["1000000000000", "18446744073709551615", "4294967295"] {
        for key in ["node_count", "edge_count"] {
            let real = if key == "node_count" { "5" } else { "4" };
            let bad = text.replacen(
                &format!("\"{key}\":{real}"),
                &format!("\"{key}\":{count}"),
                1,
            );
            let e = error(&bad);
            assert!(matches!(e.kind, ErrorKind::Inconsistent(_)), "{e}");
            // Streaming without a size hint, and with a size hint that lies.
            for mut p in [Parser::new(), Parser::with_size_hint(u64::MAX)] {
                p.feed(bad.as_bytes()).unwrap_err();
            }
        }
    }
    // Counts JSON can hold but u64 cannot.
    for count in [
        "1e300",
        "-1",
        "18446744073709551616",
        "1.5",
        "\"5\"",
        "null",
    ] {
        let bad = text.replacen("\"node_count\":5", &format!("\"node_count\":{count}"), 1);
        let e = error(&bad);
        assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{count}: {e}");
        // The offset points into the header at the bad value, and the
        // message does not repeat serde's line/column.
        let value_at = pos(&bad, &format!("\"node_count\":{count}"));
        assert!(
            (value_at..=value_at + 14 + count.len() as u64).contains(&e.offset),
            "{count}: {e} (value at {value_at})"
        );
        assert!(!e.to_string().contains(" at line "), "{e}");
    }
}

#[test]
fn edge_targets_must_be_nodes() {
    let text = base();
    // The first edge is root -> global: "5,1,7" (shortcut, "global", node 1 * 7).
    let first = pos(&text, "\"edges\":[") + 9;
    assert_eq!(&text[first as usize..first as usize + 6], "5,2,7,");
    for (to, what) in [
        ("8", "not a multiple"),
        ("35", "only 5 nodes"),
        ("700000", "only 5 nodes"),
    ] {
        let bad = text.replacen("\"edges\":[5,2,7,", &format!("\"edges\":[5,2,{to},"), 1);
        let e = error(&bad);
        assert!(matches!(e.kind, ErrorKind::Inconsistent(_)), "{e}");
        assert!(e.to_string().contains(what), "{e}");
        assert_eq!(e.offset, first + 4 + to.len() as u64, "{e}");
    }
    // Edge and node types out of range.
    let bad = text.replacen("\"edges\":[5,", "\"edges\":[7,", 1);
    assert!(error(&bad).to_string().contains("edge types"));
    let bad = text.replacen("\"nodes\":[9,", "\"nodes\":[15,", 1);
    assert!(error(&bad).to_string().contains("node types"));
    // root_index must name a node.
    let bad = text.replacen("\"trace_function_count\":0", "\"root_index\":3", 1);
    assert!(matches!(error(&bad).kind, ErrorKind::BadHeader(_)));
    let bad = text.replacen("\"trace_function_count\":0", "\"root_index\":70", 1);
    assert!(error(&bad).to_string().contains("root node 10"));
}

#[test]
fn numbers_in_arrays() {
    let text = base();
    let at = pos(&text, "\"nodes\":[") + 9;
    for (value, kind) in [
        ("-9", "number"),
        ("9.0", "number"),
        ("9e0", "number"),
        ("+9", "number"),
        ("99999999999999999999999", "number"),
        ("x", "unexpected"),
        ("null", "unexpected"),
        ("\"9\"", "unexpected"),
        ("[9]", "unexpected"),
        ("", "unexpected"),
        ("9 9", "unexpected"),
    ] {
        let bad = text.replacen("\"nodes\":[9,", &format!("\"nodes\":[{value},"), 1);
        let e = error(&bad);
        match kind {
            "number" => {
                assert!(
                    matches!(e.kind, ErrorKind::BadNumber { section: "nodes" }),
                    "{value}: {e}"
                );
                assert!(e.to_string().contains("\"nodes\""), "{e}");
            }
            _ => assert!(
                matches!(e.kind, ErrorKind::Unexpected { .. }),
                "{value}: {e}"
            ),
        }
        assert!(
            (at..at + value.len().max(1) as u64).contains(&e.offset),
            "{value}: {e}"
        );
    }
    // Too big for u64: the digit that overflows.
    let bad = text.replacen("\"nodes\":[9,", "\"nodes\":[184467440737095516150,", 1);
    assert_eq!(error(&bad).offset, at + 20);
    // Fits u64 but not the u32 column (node id): flagged at the end of the record.
    let bad = text.replacen("\"nodes\":[9,1,1,", "\"nodes\":[9,1,4294967296,", 1);
    let e = error(&bad);
    assert!(matches!(e.kind, ErrorKind::BadNumber { .. }), "{e}");
    // Trailing comma, empty slot.
    let bad = text.replacen("],\n\"edges\"", ",],\n\"edges\"", 1);
    assert!(matches!(
        error(&bad).kind,
        ErrorKind::Unexpected { found: b']', .. }
    ));
    let bad = text.replacen("\"nodes\":[9,", "\"nodes\":[9,,", 1);
    assert!(matches!(
        error(&bad).kind,
        ErrorKind::Unexpected { found: b',', .. }
    ));
    // Whitespace and leading zeros are fine.
    assert!(parse(text.replacen("\"nodes\":[9,", "\"nodes\":[ \r\n\t009 ,\n ", 1)).is_ok());
}

#[test]
fn strings_must_be_valid() {
    let text = base();
    let global = pos(&text, "\"global\"");
    // Invalid UTF-8: a lone continuation byte, an overlong form, an encoded
    // surrogate, a sequence cut short by the closing quote.
    for bad_bytes in [
        &[0x80u8][..],
        &[0xC0, 0xAF],
        &[0xED, 0xA0, 0x80],
        &[0xE2, 0x98],
    ] {
        let mut bytes = text.clone().into_bytes();
        let g = global as usize + 1;
        bytes.splice(g..g + 2, bad_bytes.iter().copied());
        let e = error(&bytes);
        assert!(matches!(e.kind, ErrorKind::BadString(_)), "{e}");
        assert!(e.to_string().contains("UTF-8"), "{e}");
        assert_eq!(e.offset, global + 1, "{bad_bytes:?}: {e}");
    }
    // Broken escapes.
    for (esc, at) in [
        ("\\q", 1),
        ("\\x41", 1),
        ("\\u12G4", 4),
        ("\\u12\"", 4),
        ("\\U0041", 1),
        ("\\'", 1),
    ] {
        let bad = text.replacen("\"global\"", &format!("\"gl{esc}obal\""), 1);
        let e = error(&bad);
        assert!(matches!(e.kind, ErrorKind::BadString(_)), "{esc}: {e}");
        assert_eq!(e.offset, global + 3 + at, "{esc}: {e}");
    }
    // Unterminated string, raw control characters are tolerated (V8 never
    // writes them; JSON.parse would reject them, DevTools never sees them).
    let bad = text.replacen("\"global\"", "\"glo\u{1}bal\"", 1);
    assert!(parse(&bad).is_ok());
    let e = error(&text[..text.len() - 5]);
    assert_eq!(e.kind, ErrorKind::Truncated { inside: "strings" });
    // Not a list of strings.
    for (from, to) in [
        ("\"strings\":[", "\"strings\":[1,"),
        ("\"strings\":[", "\"strings\":{"),
        ("\"strings\":[", "\"strings\":[,"),
        ("\"<dummy>\",", "\"<dummy>\" \"x\","),
        ("]}\n", ",]}\n"),
    ] {
        let e = error(text.replacen(from, to, 1));
        assert!(matches!(e.kind, ErrorKind::Unexpected { .. }), "{to}: {e}");
    }
}

#[test]
fn string_indexes_must_exist() {
    let text = base();
    // Node 0 is named string 1 (""); make it string 99.
    let bad = text.replacen("\"nodes\":[9,1,", "\"nodes\":[9,99,", 1);
    let e = error(&bad);
    assert!(matches!(e.kind, ErrorKind::Inconsistent(_)), "{e}");
    assert!(e.to_string().contains("node 0 names string 99"), "{e}");
    // The first edge is a shortcut named string 2; make it 99.
    let bad = text.replacen("\"edges\":[5,2,", "\"edges\":[5,99,", 1);
    let e = error(&bad);
    assert!(e.to_string().contains("edge 0 names string 99"), "{e}");
    // Element edges hold indexes, not string references: any value is fine.
    let bad = text.replacen(",\n1,1,", ",\n1,4000000000,", 1);
    assert_ne!(bad, text);
    assert!(parse(&bad).is_ok());
}

#[test]
fn structure_errors() {
    let text = base();
    let cases: Vec<(String, &str)> = vec![
        (text.replacen("]}\n", "]}x", 1), "after the end"),
        (text.replacen("]}\n", "]}}", 1), "after the end"),
        (text.replacen("]}\n", "]} {}", 1), "after the end"),
        (text.replacen("]}\n", "]", 1), "ends inside"),
        (text.replacen("\"edges\":", "\"edges\" ", 1), "expected ':'"),
        (
            text.replacen(",\n\"edges\"", "\n\"edges\"", 1),
            "',' or '}'",
        ),
        (text.replacen("\"edges\":[", "\"edges\":{", 1), "'['"),
        (text.replacen("\"snapshot\":{", "\"snapshot\":[", 1), "'{'"),
        (
            text.replacen("{\"snapshot\"", "{snapshot", 1),
            "section name",
        ),
        (
            text.replacen("\"edges\":[", "\"nodes\":[", 1),
            "appears twice",
        ),
        (
            text.replacen("\"strings\"", "\"more\"", 1),
            "missing section \"strings\"",
        ),
        (
            text.replacen("\"edges\"", "\"edgez\"", 1),
            "missing section \"edges\"",
        ),
        (
            text.replacen("\"nodes\"", "\"nodez\"", 1),
            "before \"nodes\"",
        ),
        (
            text.replacen("\"snapshot\"", "\"snapshoz\"", 1),
            "before the \"snapshot\" header",
        ),
        (
            text.replacen("\"trace_tree\":[]", "\"trace_tree\":[1,0,0,0,[2,0,0]]", 1),
            "trace tree",
        ),
        (
            text.replacen(
                "\"trace_tree\":[]",
                "\"trace_tree\":[1,0,0,0,[2,0,0,0,[]],3]",
                1,
            ),
            "middle of a record",
        ),
        (
            text.replacen("\"trace_tree\":[]", "\"trace_tree\":[[]]", 1),
            "trace tree",
        ),
        (
            text.replacen("\"samples\":[]", "\"samples\":[[1]]", 1),
            "a number",
        ),
        (
            text.replacen("\"locations\":[]", "\"locations\":[1,2,3,4]", 1),
            "location",
        ),
        (
            text.replacen("\"locations\":[]", "\"locations\":[7,2,3]", 1),
            "middle of a record",
        ),
        (text.replacen("\"meta\":{", "\"meta\":{\"x\":", 1), "header"),
        (text.replacen("\"meta\":", "\"mota\":", 1), "meta"),
    ];
    for (bad, what) in cases {
        let e = error(&bad);
        assert!(e.to_string().contains(what), "{what:?} not in: {e}");
    }
    // Whitespace and NUL padding after the end are fine.
    assert!(parse(text.replacen("]}\n", "]}\n \0\0", 1)).is_ok());
}

#[test]
fn runaway_header_and_keys_are_bounded() {
    let text = base();
    // A header that never ends: stops at the 4 MiB limit.
    let start = pos(&text, "{\"meta\"");
    let bad = text.replacen(
        "\"meta\":{",
        &format!("\"pad\":\"{}\",\"meta\":{{", "x".repeat(5 << 20)),
        1,
    );
    let e = parse_bytes(bad.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    assert_eq!(e.offset, start + (4 << 20));
    let chunked = parse_chunked(bad.as_bytes(), &[65536, 1, 100_000], false).unwrap_err();
    assert_eq!(chunked, e);
    // Deep nesting inside the header: ignored keys are skipped without
    // recursion; values it reads hit serde's recursion limit, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bad = text.replacen("\"meta\":{", &format!("\"deep\":{deep},\"meta\":{{"), 1);
    assert!(parse(&bad).is_ok());
    let bad = text.replacen("\"node_types\":[", &format!("\"node_types\":[{deep},"), 1);
    let e = error(&bad);
    assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{e}");
    assert!(e.to_string().contains("recursion limit"), "{e}");
    // ... and in an unknown section (skipped without recursion).
    let bad = text.replacen("\"nodes\":", &format!("\"deep\":{deep},\"nodes\":"), 1);
    assert!(parse(&bad).is_ok());
    // A section name that never ends.
    let key = "k".repeat(1000);
    let bad = text.replacen("\"nodes\":", &format!("\"{key}\":1,\"nodes\":"), 1);
    let e = error(&bad);
    assert!(e.to_string().contains("section name too long"), "{e}");
    assert_eq!(e.offset, pos(&bad, &key) + 256);
}

#[test]
fn errors_are_sticky() {
    let text = base();
    let bad = text.replacen("\"nodes\":[9,", "\"nodes\":[x,", 1);
    let mut p = Parser::new();
    let at = pos(&bad, "[x") as usize + 1;
    let e = p.feed(&bad.as_bytes()[..at + 1]).unwrap_err();
    // More input (even input that would fit) gets the same error.
    assert_eq!(p.feed(b"9,1,1,0,1,0,0").unwrap_err(), e);
    assert_eq!(p.feed(b"").unwrap_err(), e);
    assert_eq!(p.finish().unwrap_err(), e);
}
