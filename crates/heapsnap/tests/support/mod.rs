//! Helpers shared by the parser tests: chunked feeding, a whole-graph
//! fingerprint, JSON string encoding with every escape form, and a small
//! snapshot writer with a free field layout.
#![allow(dead_code)]

use heapsnap::{HeapGraph, ParseError, Parser};

/// Feeds `bytes` in pieces of the given sizes (cycled; 0 is read as 1).
pub fn parse_chunked(bytes: &[u8], sizes: &[usize], hint: bool) -> Result<HeapGraph, ParseError> {
    let mut p = if hint {
        Parser::with_size_hint(bytes.len() as u64)
    } else {
        Parser::new()
    };
    let mut at = 0;
    let mut k = 0;
    while at < bytes.len() {
        let n = sizes
            .get(k % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (at + n).min(bytes.len());
        p.feed(&bytes[at..end])?;
        at = end;
        k += 1;
    }
    assert_eq!(p.offset(), bytes.len() as u64);
    p.finish()
}

/// Everything the graph holds, as text (`HeapGraph`'s Debug shows every column).
pub fn fingerprint(g: &HeapGraph) -> String {
    format!("{g:?}")
}

/// Both results the same: equal graphs, or equal errors.
pub fn same(a: &Result<HeapGraph, ParseError>, b: &Result<HeapGraph, ParseError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => fingerprint(x) == fingerprint(y),
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

/// [`heapsnap::parse_parallel`] in pieces of `chunk` bytes, checking that the
/// ranges it releases stay inside the input and that it reports every byte
/// as parsed when it succeeds.
pub fn parse_in_parallel(bytes: &[u8], chunk: usize) -> Result<HeapGraph, ParseError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let parsed = AtomicUsize::new(0);
    let r = heapsnap::parse_parallel(
        bytes,
        chunk,
        &|range| assert!(range.start <= range.end && range.end <= bytes.len()),
        &|n| {
            parsed.fetch_add(n, Ordering::Relaxed);
        },
    );
    if r.is_ok() {
        assert_eq!(
            parsed.load(Ordering::Relaxed),
            bytes.len(),
            "every byte parsed once"
        );
    }
    r
}

/// A tiny deterministic generator (tests must not depend on global state).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `s` as a JSON string literal, choosing at random among the ways JSON may
/// spell each character: raw UTF-8, `\uXXXX` (surrogate pairs above the BMP,
/// either hex case), `\/`, and the short escapes.
pub fn encode_json_string(s: &str, rng: &mut Rng) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '/' => Some("\\/"),
            _ => None,
        };
        let must_escape = (c as u32) < 0x20 || c == '"' || c == '\\';
        let choice = rng.below(3);
        if let (Some(e), true) = (short, must_escape || choice == 0) {
            out.push_str(e);
        } else if must_escape || choice == 1 {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                if rng.below(2) == 0 {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A node for [`write_snapshot`]: values by field name.
#[derive(Debug, Clone, Default)]
pub struct RawNode {
    pub ty: u32,
    pub name: u32,
    pub id: u32,
    pub self_size: u64,
    pub edge_count: u32,
    pub trace_node_id: u32,
    pub detachedness: u32,
}

/// An edge for [`write_snapshot`]; `to` is a node ordinal.
#[derive(Debug, Clone, Default)]
pub struct RawEdge {
    pub ty: u32,
    pub name: u32,
    pub to: u32,
}

pub const NODE_TYPES: &str = r#"["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"]"#;
pub const EDGE_TYPES: &str =
    r#"["context","element","property","internal","hidden","shortcut","weak"]"#;

/// A snapshot with the node and edge fields in the given order; a field name
/// this writer does not know gets the value 7 in every record.
pub fn write_snapshot(
    node_fields: &[&str],
    edge_fields: &[&str],
    nodes: &[RawNode],
    edges: &[RawEdge],
    strings: &[&str],
) -> String {
    let nfc = node_fields.len() as u64;
    let quoted = |f: &[&str]| {
        f.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let node_types = node_fields
        .iter()
        .map(|f| match *f {
            "type" => NODE_TYPES.to_owned(),
            "name" => "\"string\"".into(),
            _ => "\"number\"".into(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let edge_types = edge_fields
        .iter()
        .map(|f| match *f {
            "type" => EDGE_TYPES.to_owned(),
            "name_or_index" => "\"string_or_number\"".into(),
            "to_node" => "\"node\"".into(),
            _ => "\"number\"".into(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut out = format!(
        r#"{{"snapshot":{{"meta":{{"node_fields":[{}],"node_types":[{node_types}],"edge_fields":[{}],"edge_types":[{edge_types}],"location_fields":["object_index","script_id","line","column"]}},"node_count":{},"edge_count":{}}},"nodes":["#,
        quoted(node_fields),
        quoted(edge_fields),
        nodes.len(),
        edges.len()
    );
    let mut vals = Vec::new();
    for n in nodes {
        for f in node_fields {
            vals.push(match *f {
                "type" => n.ty as u64,
                "name" => n.name as u64,
                "id" => n.id as u64,
                "self_size" => n.self_size,
                "edge_count" => n.edge_count as u64,
                "trace_node_id" => n.trace_node_id as u64,
                "detachedness" => n.detachedness as u64,
                _ => 7,
            });
        }
    }
    out.push_str(&join(&vals));
    out.push_str("],\"edges\":[");
    vals.clear();
    for e in edges {
        for f in edge_fields {
            vals.push(match *f {
                "type" => e.ty as u64,
                "name_or_index" => e.name as u64,
                "to_node" => e.to as u64 * nfc,
                _ => 7,
            });
        }
    }
    out.push_str(&join(&vals));
    out.push_str("],\"strings\":[");
    out.push_str(
        &strings
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("]}");
    out
}

fn join(v: &[u64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A small snapshot with every section V8 writes filled in: locations,
/// allocation traces, samples, non-zero trace node ids and detachedness, and
/// strings with escapes and non-ASCII text.
pub fn rich_snapshot() -> String {
    use heapsnap::synth::SynthSnapshot;
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 200);
    s.edge(0, "shortcut", "global", global);
    let roots = s.node("synthetic", "(GC roots)", 0);
    s.edge(0, "element", "1", roots);
    let map = s.node("object", "Map", 80);
    s.edge(global, "property", "caché \"q\" \\ /", map);
    for i in 0..6 {
        let o = s.node("object", &format!("Sëssion{i}\n☃ 😀"), 64 + i);
        s.edge(map, "element", &i.to_string(), o);
        s.edge(o, "weak", "back", map);
        s.location(o, 42, i as u32, 7);
    }
    let f = s.node("closure", "on\tRequest\u{1}", 32);
    s.edge(global, "property", "handler", f);
    s.location(f, 3, 10, 0);
    let text = s.to_json();
    // Trace data the synthesizer does not write.
    let text = text
        .replacen(
            "\"trace_function_count\":0",
            "\"trace_function_count\":2",
            1,
        )
        .replacen(
            "\"trace_function_infos\":[]",
            "\"trace_function_infos\":[1,1,2,42,3,0,\n2,3,2,42,9,4]",
            1,
        )
        .replacen(
            "\"trace_tree\":[]",
            "\"trace_tree\":[1,0,0,0,[2,0,3,192,[],3,1,1,32,[4,1,2,64,[]]]]",
            1,
        )
        .replacen("\"samples\":[]", "\"samples\":[100,3,\n250,9]", 1);
    // Non-zero trace node ids and detachedness on two nodes (fields 6 and 7).
    let text = text
        .replacen(",64,1,0,0", ",64,1,2,1", 1)
        .replacen(",65,1,0,0", ",65,1,4,2", 1);
    // Spell the strings with every escape form, and add some only escapes make.
    let g = heapsnap::parse_bytes(text.as_bytes()).expect("rich snapshot parses");
    let at = text.find("\"strings\":[").expect("strings") + "\"strings\":[".len();
    let mut rng = Rng(0x5eed);
    let mut strs: Vec<String> = g
        .strings()
        .iter()
        .map(|(_, s)| encode_json_string(s, &mut rng))
        .collect();
    strs.push(r#""\ud83d\ude00 pair, \u00e9 \u2603 \"q\" \\ \/ \b\f\n\r\t""#.into());
    strs.push(r#""lone high \ud800 then text""#.into());
    strs.push(r#""lone low \udc00, high at end \uD83D""#.into());
    strs.push(r#""two highs \ud83d\ud83d\ude00""#.into());
    strs.push("\"raw: é ☃ 😀 \u{7f}\"".into());
    format!("{}{}]}}\n", &text[..at], strs.join(",\n"))
}
