//! Writes small but real `.heapsnapshot` JSON text from a list of nodes and
//! edges, in the exact layout Node 20 uses. Tests build named graphs with it.

use std::fmt::Write as _;

pub const NODE_TYPES: [&str; 15] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
pub const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

#[derive(Debug, Clone)]
pub struct SynthNode {
    pub ty: &'static str,
    pub name: String,
    pub id: u32,
    pub self_size: u64,
}

#[derive(Debug, Clone)]
pub struct SynthEdge {
    pub from: usize,
    pub ty: &'static str,
    /// Property name, or the index (as decimal text) for element/hidden edges.
    pub name: String,
    pub to: usize,
}

/// A snapshot under construction. Node 0 is the root unless you say otherwise.
#[derive(Debug, Clone, Default)]
pub struct SynthSnapshot {
    pub nodes: Vec<SynthNode>,
    pub edges: Vec<SynthEdge>,
    /// (node, script_id, line, column)
    pub locations: Vec<(usize, u32, u32, u32)>,
}

impl SynthSnapshot {
    /// A snapshot with the synthetic root node `""` (id 1) as node 0.
    pub fn with_root() -> Self {
        let mut s = SynthSnapshot::default();
        s.node("synthetic", "", 0);
        s
    }

    /// Adds a node; ids are assigned as V8 does for JS objects (odd, increasing).
    pub fn node(&mut self, ty: &'static str, name: &str, self_size: u64) -> usize {
        let id = 1 + 2 * self.nodes.len() as u32;
        self.nodes.push(SynthNode {
            ty,
            name: name.to_owned(),
            id,
            self_size,
        });
        self.nodes.len() - 1
    }

    pub fn edge(&mut self, from: usize, ty: &'static str, name: &str, to: usize) -> &mut Self {
        self.edges.push(SynthEdge {
            from,
            ty,
            name: name.to_owned(),
            to,
        });
        self
    }

    pub fn location(&mut self, node: usize, script_id: u32, line: u32, column: u32) -> &mut Self {
        self.locations.push((node, script_id, line, column));
        self
    }

    /// The snapshot as V8 would write it.
    pub fn to_json(&self) -> String {
        let mut strings: Vec<String> = vec!["<dummy>".into()];
        let mut intern = |s: &str| -> usize {
            if let Some(p) = strings.iter().position(|x| x == s) {
                p
            } else {
                strings.push(s.to_owned());
                strings.len() - 1
            }
        };
        let mut out = String::new();
        out.push_str(r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["#);
        out.push_str(
            &NODE_TYPES
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str(r#"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["#);
        out.push_str(
            &EDGE_TYPES
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str(r#"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]},"#);
        let _ = write!(
            out,
            "\"node_count\":{},\"edge_count\":{},\"trace_function_count\":0}},\n\"nodes\":[",
            self.nodes.len(),
            self.edges.len()
        );
        let mut edges_by_node: Vec<Vec<&SynthEdge>> = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            edges_by_node[e.from].push(e);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let ty = NODE_TYPES
                .iter()
                .position(|t| *t == n.ty)
                .expect("known node type");
            let name = intern(&n.name);
            if i > 0 {
                out.push_str(",\n");
            }
            let _ = write!(
                out,
                "{ty},{name},{},{},{},0,0",
                n.id,
                n.self_size,
                edges_by_node[i].len()
            );
        }
        out.push_str("],\n\"edges\":[");
        let mut first = true;
        for list in &edges_by_node {
            for e in list {
                let ty = EDGE_TYPES
                    .iter()
                    .position(|t| *t == e.ty)
                    .expect("known edge type");
                let name = if e.ty == "element" || e.ty == "hidden" {
                    e.name.parse::<usize>().expect("numeric element name")
                } else {
                    intern(&e.name)
                };
                if !first {
                    out.push_str(",\n");
                }
                first = false;
                let _ = write!(out, "{ty},{name},{}", e.to * 7);
            }
        }
        out.push_str("],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[");
        let locs: Vec<String> = self
            .locations
            .iter()
            .map(|(n, s, l, c)| format!("{},{s},{l},{c}", n * 7))
            .collect();
        out.push_str(&locs.join(",\n"));
        out.push_str("],\n\"strings\":[");
        let strs: Vec<String> = strings
            .iter()
            .map(|s| serde_json::to_string(s).expect("string"))
            .collect();
        out.push_str(&strs.join(",\n"));
        out.push_str("]}\n");
        out
    }
}
