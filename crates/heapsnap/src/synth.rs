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

/// A function of the allocation trace data (`trace_function_infos`).
#[derive(Debug, Clone)]
pub struct SynthFunction {
    pub name: String,
    pub script_name: String,
    pub script_id: u32,
    /// One-based, as V8 writes them; 0 when unknown.
    pub line: u32,
    pub column: u32,
}

/// A node of the allocation trace tree (one call path).
#[derive(Debug, Clone)]
pub struct SynthTraceNode {
    /// Index into [`SynthSnapshot::trace_functions`].
    pub function: usize,
    /// Index of the parent in [`SynthSnapshot::trace_nodes`]; `None` for the top.
    pub parent: Option<usize>,
}

/// A snapshot under construction. Node 0 is the root unless you say otherwise.
#[derive(Debug, Clone, Default)]
pub struct SynthSnapshot {
    pub nodes: Vec<SynthNode>,
    pub edges: Vec<SynthEdge>,
    /// (node, script_id, line, column)
    pub locations: Vec<(usize, u32, u32, u32)>,
    /// Allocation tracking data, as V8 writes it when tracking was on:
    /// function 0 is `(root)` and trace node 0 (id 1) the top of the tree.
    /// Empty: no tracking (empty trace sections, every `trace_node_id` 0).
    pub trace_functions: Vec<SynthFunction>,
    /// Trace node `i` has id `i + 1`.
    pub trace_nodes: Vec<SynthTraceNode>,
    /// (node, trace node id) for objects allocated while tracking.
    pub node_traces: Vec<(usize, u32)>,
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

    /// Adds a function to the allocation trace data (and `(root)` first, if
    /// this is the first one); returns its index.
    pub fn trace_function(
        &mut self,
        name: &str,
        script_name: &str,
        script_id: u32,
        line: u32,
        column: u32,
    ) -> usize {
        self.trace_top();
        self.trace_functions.push(SynthFunction {
            name: name.to_owned(),
            script_name: script_name.to_owned(),
            script_id,
            line,
            column,
        });
        self.trace_functions.len() - 1
    }

    /// The top of the trace tree (`(root)`, id 1), made on first use; returns its id.
    pub fn trace_top(&mut self) -> u32 {
        if self.trace_functions.is_empty() {
            self.trace_functions.push(SynthFunction {
                name: "(root)".into(),
                script_name: String::new(),
                script_id: 0,
                line: 0,
                column: 0,
            });
        }
        if self.trace_nodes.is_empty() {
            self.trace_nodes.push(SynthTraceNode {
                function: 0,
                parent: None,
            });
        }
        1
    }

    /// Adds a call of `function` under the trace node `parent_id`; returns the new node's id.
    pub fn trace_call(&mut self, parent_id: u32, function: usize) -> u32 {
        self.trace_top();
        self.trace_nodes.push(SynthTraceNode {
            function,
            parent: Some(parent_id as usize - 1),
        });
        self.trace_nodes.len() as u32
    }

    /// Adds a call path, outermost function first, under the top; returns the innermost node's id.
    pub fn trace_path(&mut self, functions: &[usize]) -> u32 {
        let mut at = self.trace_top();
        for &f in functions {
            at = self.trace_call(at, f);
        }
        at
    }

    /// Records that `node` was allocated at the trace node `trace_id`.
    pub fn allocated_at(&mut self, node: usize, trace_id: u32) -> &mut Self {
        self.node_traces.push((node, trace_id));
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
            "\"node_count\":{},\"edge_count\":{},\"trace_function_count\":{}}},\n\"nodes\":[",
            self.nodes.len(),
            self.edges.len(),
            self.trace_functions.len()
        );
        let mut trace_of = vec![0u32; self.nodes.len()];
        for &(n, t) in &self.node_traces {
            trace_of[n] = t;
        }
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
                "{ty},{name},{},{},{},{},0",
                n.id,
                n.self_size,
                edges_by_node[i].len(),
                trace_of[i]
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
        out.push_str("],\n\"trace_function_infos\":[");
        let infos: Vec<String> = self
            .trace_functions
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "{},{},{},{},{},{}",
                    // V8 writes the SharedFunctionInfo's object id; any number does here.
                    1000 + 2 * i,
                    intern(&f.name),
                    intern(&f.script_name),
                    f.script_id,
                    f.line,
                    f.column
                )
            })
            .collect();
        out.push_str(&infos.join(",\n"));
        out.push_str("],\n\"trace_tree\":[");
        self.write_trace_tree(&mut out);
        out.push_str("],\n\"samples\":[],\n\"locations\":[");
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

    /// The trace tree as V8 nests it: `id,function_info_index,count,size,[children…]`,
    /// with count and size summed over the objects allocated at each node. Iterative.
    fn write_trace_tree(&self, out: &mut String) {
        let n = self.trace_nodes.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut tops = Vec::new();
        for (i, t) in self.trace_nodes.iter().enumerate() {
            match t.parent {
                Some(p) => children[p].push(i),
                None => tops.push(i),
            }
        }
        let mut count = vec![0u64; n];
        let mut size = vec![0u64; n];
        for &(node, t) in &self.node_traces {
            if let Some(i) = (t as usize).checked_sub(1).filter(|&i| i < n) {
                count[i] += 1;
                size[i] += self.nodes[node].self_size;
            }
        }
        // (list of siblings, next one to write)
        let mut stack: Vec<(&[usize], usize)> = vec![(&tops, 0)];
        while let Some((list, next)) = stack.last_mut() {
            if *next == list.len() {
                stack.pop();
                if !stack.is_empty() {
                    out.push(']');
                }
                continue;
            }
            let i = list[*next];
            if *next > 0 {
                out.push(',');
            }
            *next += 1;
            let _ = write!(
                out,
                "{},{},{},{},[",
                i + 1,
                self.trace_nodes[i].function,
                count[i],
                size[i]
            );
            stack.push((&children[i], 0));
        }
    }
}
