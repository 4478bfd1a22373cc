//! Serializable descriptions of nodes and retainer paths, shared by commands.

use std::collections::HashMap;

use analysis::{Analysis, PathStep, retainer_path};
use heapsnap::{HeapGraph, NodeIdx};
use serde::Serialize;

use crate::fmt;

/// Source position, 1-based as editors show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct SourceLocation {
    pub script_id: u32,
    pub url: Option<String>,
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.url {
            Some(u) => write!(f, "{u}:{}:{}", self.line, self.column),
            None => write!(f, "script {}:{}:{}", self.script_id, self.line, self.column),
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NodeInfo {
    /// Node ordinal in the snapshot.
    pub index: u32,
    /// V8 object id (stable across snapshots of one process while the heap profiler stays on).
    pub id: u32,
    #[serde(rename = "type")]
    pub node_type: String,
    pub class: String,
    pub name: String,
    pub self_size: u64,
    pub retained_size: u64,
    pub distance: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PathHop {
    /// Edge type: property, element, context, internal, hidden, shortcut.
    pub edge_type: String,
    pub edge_name: String,
    /// The object the edge points to.
    pub to: String,
    pub to_class: String,
    pub to_id: u32,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RetainerPath {
    /// Where the path starts: a user root (such as the global object) or a synthetic GC root.
    pub root: String,
    pub hops: Vec<PathHop>,
    /// The path on one line, runs of repeated hops folded (`(.next → Listener) ×300`).
    pub text: String,
}

impl RetainerPath {
    /// `global.cache → Map {table} → …`; runs of three or more repeated
    /// hops (linked lists, closure chains) are folded: `(._idleNext → Timeout) ×147`.
    pub fn render(&self) -> String {
        let hops: Vec<String> = self
            .hops
            .iter()
            .map(|h| {
                format!(
                    "{} → {}",
                    edge_label(&h.edge_type, &h.edge_name).trim_start(),
                    fmt::truncate(&h.to_class, 40)
                )
            })
            .collect();
        let mut s = fmt::truncate(&self.root, 40);
        for run in leaks::runs::fold_runs(&hops, 3, |x, y| x == y) {
            if run.reps > 1 {
                let block = &hops[run.start..run.start + run.len];
                s.push_str(&format!(" ({}) ×{}", block.join(" "), run.reps));
            } else {
                let h = &self.hops[run.start];
                s.push_str(&edge_label(&h.edge_type, &h.edge_name));
                s.push_str(" → ");
                s.push_str(&fmt::truncate(&h.to_class, 40));
            }
        }
        s
    }
}

/// DevTools' way of writing an edge: `.name`, `[3]`, `->ctx`, `{internal}`.
pub fn edge_label(edge_type: &str, name: &str) -> String {
    match edge_type {
        "element" => format!("[{name}]"),
        "context" => format!(" ->{name}"),
        "property" | "shortcut" => {
            if name.contains(' ') {
                format!("[\"{name}\"]")
            } else {
                format!(".{name}")
            }
        }
        "weak" => format!("[[{name}]]"),
        _ => format!(" {{{name}}}"),
    }
}

/// Looks up script names once per snapshot.
pub struct Describer<'a> {
    pub graph: &'a HeapGraph,
    pub analysis: &'a Analysis,
    scripts: HashMap<u32, String>,
}

impl<'a> Describer<'a> {
    pub fn new(graph: &'a HeapGraph, analysis: &'a Analysis) -> Describer<'a> {
        Describer {
            graph,
            analysis,
            scripts: analysis::scripts::script_names(graph),
        }
    }

    pub fn location(&self, n: NodeIdx) -> Option<SourceLocation> {
        let l = self.graph.location(n)?;
        Some(SourceLocation {
            script_id: l.script_id,
            url: self.scripts.get(&l.script_id).cloned(),
            line: l.line + 1,
            column: l.column + 1,
        })
    }

    pub fn node(&self, n: NodeIdx) -> NodeInfo {
        let g = self.graph;
        let a = self.analysis;
        NodeInfo {
            index: n.0,
            id: g.id(n),
            node_type: g.node_type_name(n).to_owned(),
            class: a.class_name(g, n).to_owned(),
            name: fmt::truncate(&a.node_name(g, n), 200),
            self_size: u64::from(a.shallow[n.idx()]),
            retained_size: a.retained.get(n.idx()),
            distance: a.distance[n.idx()],
            location: self.location(n),
        }
    }

    pub fn short_name(&self, n: NodeIdx) -> String {
        let g = self.graph;
        let class = self.analysis.class_name(g, n);
        let name = self.analysis.node_name(g, n);
        // `system / NativeContext / ` (Node 26 writes an empty URL after the
        // slash): the name alone, without the trailing slash.
        let trimmed = name.trim_end_matches([' ', '/']);
        if class == "(system)" && trimmed.starts_with("system / ") {
            return trimmed.to_owned();
        }
        if name.is_empty() || name == class {
            class.to_owned()
        } else if g.kind(n).is_string() {
            format!("\"{}\"", fmt::truncate(&name, 40))
        } else {
            format!("{class} {}", fmt::truncate(&name, 40))
        }
    }

    pub fn path(&self, n: NodeIdx, max_len: usize) -> RetainerPath {
        let steps: Vec<PathStep> = retainer_path(self.graph, self.analysis, n, max_len);
        self.path_from_steps(&steps, n)
    }

    /// Describes a path computed elsewhere (root side first) that ends at `n`.
    pub fn path_from_steps(&self, steps: &[PathStep], n: NodeIdx) -> RetainerPath {
        let root = steps.first().map_or(n, |s| s.from);
        let mut path = RetainerPath {
            root: self.short_name(root),
            hops: steps
                .iter()
                .map(|s| PathHop {
                    edge_type: self.graph.edge_type_name(s.edge).to_owned(),
                    edge_name: self.graph.edge_name(s.edge).into_owned(),
                    to: self.short_name(s.to),
                    to_class: self.analysis.class_name(self.graph, s.to).to_owned(),
                    to_id: self.graph.id(s.to),
                })
                .collect(),
            text: String::new(),
        };
        path.text = path.render();
        path
    }
}
