//! Allocation stacks, from the trace data V8 writes into a snapshot when
//! allocation tracking was on (`HeapProfiler.startTrackingHeapObjects` with
//! `trackAllocations`).
//!
//! V8 records, for each allocation, the JavaScript functions on the stack
//! (at most 64, innermost first) as a path in one tree of calls
//! (`trace_tree`, outermost function at the top, under a `(root)` node),
//! and gives every object allocated while tracking the id of the tree node
//! of its innermost function (`trace_node_id`; 0 for objects allocated
//! before tracking began). Functions (`trace_function_infos`) carry their
//! name, script and the position where the function starts (1-based; 0 when
//! unknown): V8 records functions, not the call sites within them.

use heapsnap::{HeapGraph, NodeIdx, StrIdx};
use serde::Serialize;

/// Where a frame's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// The application's own code.
    User,
    /// A dependency: a script under a `node_modules` directory.
    NodeModules,
    /// Node.js and V8: `node:` modules, built-in functions, code without a script name.
    Node,
}

impl FrameKind {
    /// Classifies a frame by its script name (a path, a `file://` URL, `node:…`).
    pub fn of(script_name: &str) -> FrameKind {
        if script_name.is_empty()
            || script_name.starts_with("node:")
            || script_name.starts_with("internal/")
        {
            FrameKind::Node
        } else if script_name.contains("/node_modules/")
            || script_name.contains("\\node_modules\\")
            || script_name.starts_with("node_modules/")
        {
            FrameKind::NodeModules
        } else {
            FrameKind::User
        }
    }
}

/// One function of an allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'g> {
    /// Empty for anonymous functions.
    pub function_name: &'g str,
    /// Empty for built-ins and code without a script name.
    pub script_name: &'g str,
    pub script_id: u32,
    /// Where the function starts, 1-based as V8 writes it; 0 when unknown.
    pub line: u32,
    pub column: u32,
}

impl Frame<'_> {
    pub fn kind(&self) -> FrameKind {
        FrameKind::of(self.script_name)
    }
}

/// The most common allocation stack among a set of objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonStack<'g> {
    /// Innermost function first.
    pub frames: Vec<Frame<'g>>,
    /// The trace tree node the stack ends at.
    pub trace_node_id: u32,
    /// Objects of the set allocated with exactly this stack.
    pub objects: usize,
    /// Objects of the set with any allocation stack.
    pub objects_with_stack: usize,
}

/// Positions of the function info fields, resolved by name.
#[derive(Debug, Clone, Copy)]
struct InfoFields {
    count: usize,
    name: usize,
    script_name: Option<usize>,
    script_id: Option<usize>,
    line: Option<usize>,
    column: Option<usize>,
}

/// The trace tree of one snapshot, indexed for looking up stacks by trace node id.
pub struct AllocationTraces<'g> {
    graph: &'g HeapGraph,
    /// (trace node id, position in [`HeapGraph::trace_tree`]), sorted by id.
    by_id: Vec<(u32, u32)>,
    fields: InfoFields,
}

impl<'g> AllocationTraces<'g> {
    /// `None` when the snapshot carries no allocation traces (tracking was off).
    pub fn new(graph: &'g HeapGraph) -> Option<AllocationTraces<'g>> {
        let tree = graph.trace_tree();
        if tree.is_empty() || graph.trace_function_infos().is_empty() {
            return None;
        }
        let names = &graph.header().trace_function_info_fields;
        let at = |f: &str| names.iter().position(|n| n == f);
        let fields = if names.is_empty() {
            // V8's order, for a snapshot without the field list.
            InfoFields {
                count: 6,
                name: 1,
                script_name: Some(2),
                script_id: Some(3),
                line: Some(4),
                column: Some(5),
            }
        } else {
            InfoFields {
                count: names.len(),
                name: at("name")?,
                script_name: at("script_name"),
                script_id: at("script_id"),
                line: at("line"),
                column: at("column"),
            }
        };
        let mut by_id: Vec<(u32, u32)> = tree
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i as u32))
            .collect();
        if !by_id.is_sorted_by_key(|p| p.0) {
            by_id.sort_unstable_by_key(|p| p.0);
        }
        Some(AllocationTraces {
            graph,
            by_id,
            fields,
        })
    }

    /// Position in the trace tree of a trace node id.
    fn position(&self, trace_id: u32) -> Option<usize> {
        if trace_id == 0 {
            return None;
        }
        self.by_id
            .binary_search_by_key(&trace_id, |p| p.0)
            .ok()
            .map(|i| self.by_id[i].1 as usize)
    }

    /// The frame of function info `index`, if the snapshot has it.
    fn frame(&self, index: u32) -> Option<Frame<'g>> {
        let f = self.fields;
        let infos = self.graph.trace_function_infos();
        let start = (index as usize).checked_mul(f.count)?;
        let rec = infos.get(start..start.checked_add(f.count)?)?;
        let string = |i: Option<usize>| {
            i.and_then(|i| self.graph.strings().try_get(StrIdx(rec[i])))
                .unwrap_or("")
        };
        let number = |i: Option<usize>| i.map_or(0, |i| rec[i]);
        Some(Frame {
            function_name: string(Some(f.name)),
            script_name: string(f.script_name),
            script_id: number(f.script_id),
            line: number(f.line),
            column: number(f.column),
        })
    }

    /// The allocation stack ending at a trace node, innermost function first
    /// (the tree's `(root)` left out). `None` for an unknown id or 0.
    pub fn stack_of_trace(&self, trace_id: u32) -> Option<Vec<Frame<'g>>> {
        let tree = self.graph.trace_tree();
        let mut at = self.position(trace_id)?;
        let mut frames = Vec::new();
        // Parents come before their children in the tree (the parser records
        // them in that order), so this walk ends; the bound is a second guard.
        for _ in 0..tree.len() {
            let t = tree[at];
            if let Some(frame) = self.frame(t.function_info_index)
                && !(t.parent == u32::MAX && frame.function_name == "(root)")
            {
                frames.push(frame);
            }
            if t.parent == u32::MAX || t.parent as usize >= at {
                break;
            }
            at = t.parent as usize;
        }
        Some(frames)
    }

    /// Where `n` was allocated, innermost function first; `None` when the
    /// object was allocated while tracking was off.
    pub fn stack(&self, n: NodeIdx) -> Option<Vec<Frame<'g>>> {
        self.stack_of_trace(self.graph.trace_node_id(n))
    }

    /// The most common allocation stack among `nodes` (ties: the lower trace
    /// node id); `None` when none of them has one.
    pub fn common_stack(
        &self,
        nodes: impl IntoIterator<Item = NodeIdx>,
    ) -> Option<CommonStack<'g>> {
        let mut ids: Vec<u32> = nodes
            .into_iter()
            .map(|n| self.graph.trace_node_id(n))
            .filter(|&t| self.position(t).is_some())
            .collect();
        ids.sort_unstable();
        let mut best: Option<(u32, usize)> = None;
        for run in ids.chunk_by(|a, b| a == b) {
            if best.is_none_or(|(_, c)| run.len() > c) {
                best = Some((run[0], run.len()));
            }
        }
        let (trace_node_id, objects) = best?;
        Some(CommonStack {
            frames: self.stack_of_trace(trace_node_id)?,
            trace_node_id,
            objects,
            objects_with_stack: ids.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap::synth::SynthSnapshot;

    /// Two sessions made by `makeSession` (helper.js) called from
    /// `handleRequest` (app.js) called from node:events' `emit`; one made by
    /// `handleRequest` directly; one object allocated before tracking.
    fn tracked() -> (SynthSnapshot, [usize; 4]) {
        let mut s = SynthSnapshot::with_root();
        let emit = s.trace_function("emit", "node:events", 7, 489, 44);
        let handle = s.trace_function("handleRequest", "/srv/app.js", 80, 8, 23);
        let make = s.trace_function("makeSession", "/srv/helper.js", 81, 2, 21);
        let deep = s.trace_path(&[emit, handle, make]);
        let shallow = s.trace_path(&[emit, handle]);
        let objs = [
            s.node("object", "Session", 40),
            s.node("object", "Session", 40),
            s.node("object", "Session", 40),
            s.node("object", "Old", 40),
        ];
        for &o in &objs {
            s.edge(0, "element", &o.to_string(), o);
        }
        s.allocated_at(objs[0], deep)
            .allocated_at(objs[1], deep)
            .allocated_at(objs[2], shallow);
        (s, objs)
    }

    #[test]
    fn stacks_come_from_the_trace_tree_innermost_first() {
        let (s, objs) = tracked();
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("parses");
        let t = AllocationTraces::new(&g).expect("has traces");
        let names = |n: usize| -> Vec<&str> {
            t.stack(NodeIdx(n as u32))
                .expect("stack")
                .iter()
                .map(|f| f.function_name)
                .collect()
        };
        assert_eq!(names(objs[0]), ["makeSession", "handleRequest", "emit"]);
        assert_eq!(names(objs[2]), ["handleRequest", "emit"]);
        assert_eq!(t.stack(NodeIdx(objs[3] as u32)), None);
        let top = t.stack(NodeIdx(objs[0] as u32)).unwrap()[0];
        assert_eq!(
            top,
            Frame {
                function_name: "makeSession",
                script_name: "/srv/helper.js",
                script_id: 81,
                line: 2,
                column: 21,
            }
        );
        assert_eq!(top.kind(), FrameKind::User);
        assert_eq!(
            t.stack(NodeIdx(objs[0] as u32)).unwrap()[2].kind(),
            FrameKind::Node
        );
    }

    #[test]
    fn the_common_stack_is_the_most_frequent_one() {
        let (s, objs) = tracked();
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("parses");
        let t = AllocationTraces::new(&g).expect("has traces");
        let c = t
            .common_stack(objs.iter().map(|&o| NodeIdx(o as u32)))
            .expect("a stack");
        assert_eq!(c.objects, 2);
        assert_eq!(c.objects_with_stack, 3);
        assert_eq!(c.frames[0].function_name, "makeSession");
        assert_eq!(t.common_stack([NodeIdx(objs[3] as u32)]), None);
    }

    #[test]
    fn a_deep_tree_is_walked_without_recursion() {
        let mut s = SynthSnapshot::with_root();
        let f = s.trace_function("recurse", "/srv/deep.js", 9, 1, 1);
        let mut at = s.trace_top();
        for _ in 0..100_000 {
            at = s.trace_call(at, f);
        }
        let o = s.node("object", "Deep", 16);
        s.edge(0, "element", "0", o).allocated_at(o, at);
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("parses");
        let t = AllocationTraces::new(&g).expect("has traces");
        assert_eq!(t.stack(NodeIdx(o as u32)).expect("stack").len(), 100_000);
    }

    #[test]
    fn snapshots_without_tracking_have_no_traces() {
        let mut s = SynthSnapshot::with_root();
        let o = s.node("object", "Plain", 16);
        s.edge(0, "element", "0", o);
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("parses");
        assert!(AllocationTraces::new(&g).is_none());
    }

    #[test]
    fn frames_are_classified_by_script() {
        assert_eq!(FrameKind::of("/srv/app.js"), FrameKind::User);
        assert_eq!(FrameKind::of("file:///srv/app.mjs"), FrameKind::User);
        assert_eq!(
            FrameKind::of("/srv/node_modules/express/lib/router/index.js"),
            FrameKind::NodeModules
        );
        assert_eq!(
            FrameKind::of("file:///srv/node_modules/pg/lib/client.js"),
            FrameKind::NodeModules
        );
        assert_eq!(FrameKind::of("node:internal/http"), FrameKind::Node);
        assert_eq!(FrameKind::of(""), FrameKind::Node);
    }
}
