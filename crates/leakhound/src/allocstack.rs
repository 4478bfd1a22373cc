//! Allocation stacks of leak clusters, for snapshots taken with allocation
//! tracking on (`hunt --alloc-stacks`, or any snapshots that carry
//! `trace_tree` data): the report type and its lines in the text report.

use analysis::traces::{AllocationTraces, Frame, FrameKind};
use heapsnap::NodeIdx;
use serde::Serialize;

use crate::fmt;

/// Where a cluster's leaked objects were allocated: the most common
/// allocation stack among them (present only when at least a tenth of the
/// leaked objects, and at least two, share it).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AllocationStack {
    /// Innermost function first, as V8 recorded the stack (at most 64
    /// functions). The first frame of kind `user` is where in the
    /// application's own code the objects were made.
    pub frames: Vec<StackFrame>,
    /// Leaked objects allocated with exactly this stack.
    pub objects: usize,
    /// Leaked objects with any allocation stack. Objects allocated before
    /// tracking began have none, and V8 drops the trace of an object that
    /// heap compaction moves once the object has an id (`hunt` turns
    /// compaction off in targets it starts).
    pub objects_with_stack: usize,
}

/// One function of an allocation stack.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StackFrame {
    /// The function's name, `(anonymous function)` for an unnamed one.
    pub function: String,
    /// The script: a file path, a `file://` URL or `node:…`; null for built-ins.
    pub url: Option<String>,
    /// Where the function starts (1-based; V8 records functions, not the
    /// call sites within them); null when unknown.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// `user` (the application's code), `node_modules` (a dependency) or
    /// `node` (Node.js internals and built-ins).
    pub kind: FrameKind,
}

impl StackFrame {
    fn from_frame(f: &Frame<'_>) -> StackFrame {
        let known = |v: u32| (v > 0).then_some(v);
        StackFrame {
            function: if f.function_name.is_empty() {
                "(anonymous function)".to_owned()
            } else {
                fmt::truncate(f.function_name, 200)
            },
            url: (!f.script_name.is_empty()).then(|| f.script_name.to_owned()),
            line: known(f.line),
            column: known(f.column),
            kind: f.kind(),
        }
    }

    /// `name() at file.js:3:14`, as the report's `code:` lines.
    fn show(&self) -> String {
        let name = if self.function.starts_with('(') {
            self.function.clone()
        } else {
            format!("{}()", self.function)
        };
        let url = self.url.as_deref().map(crate::fmt::short_path);
        match (&url, self.line, self.column) {
            (Some(u), Some(l), Some(c)) => format!("{name} at {u}:{l}:{c}"),
            (Some(u), Some(l), None) => format!("{name} at {u}:{l}"),
            (Some(u), _, _) => format!("{name} at {u}"),
            (None, _, _) => format!("{name} (built-in)"),
        }
    }
}

/// The allocation stack of a cluster's leaked objects, if the snapshot
/// carries traces and enough of the objects share one to trust it.
///
/// V8 moves an object's trace with it only until the object gets an id, so
/// objects that heap compaction moves later lose theirs, and may take the
/// stale trace of whatever lived at their new address (`hunt` turns
/// compaction off in targets it starts; attached ones and other snapshots
/// may be affected). Real stacks are shared by many objects of a cluster,
/// stale ones are scattered: a stack is shown when at least a tenth of the
/// leaked objects, and at least two of them, have it.
pub fn for_objects(
    traces: Option<&AllocationTraces<'_>>,
    objects: &[NodeIdx],
) -> Option<AllocationStack> {
    let common = traces?.common_stack(objects.iter().copied())?;
    let trusted =
        common.objects * 10 >= objects.len() && (common.objects >= 2 || objects.len() == 1);
    trusted.then(|| AllocationStack {
        frames: common.frames.iter().map(StackFrame::from_frame).collect(),
        objects: common.objects,
        objects_with_stack: common.objects_with_stack,
    })
}

/// User frames shown in the text report before the rest is summed up.
const MAX_USER_FRAMES: usize = 6;

/// The text report's lines for a cluster: the user's frames, innermost
/// first, then the other frames folded into counts (all of them are in the
/// JSON report). Without user frames, the innermost few frames are shown.
pub fn render(stack: Option<&AllocationStack>, leaked_objects: usize) -> String {
    let Some(st) = stack else {
        return String::new();
    };
    if st.frames.is_empty() {
        return String::new();
    }
    let users: Vec<&StackFrame> = st
        .frames
        .iter()
        .filter(|f| f.kind == FrameKind::User)
        .collect();
    let shown: Vec<&StackFrame> = if users.is_empty() {
        st.frames.iter().take(3).collect()
    } else {
        users.iter().copied().take(MAX_USER_FRAMES).collect()
    };
    let hidden = |kind: FrameKind| {
        st.frames
            .iter()
            .filter(|f| f.kind == kind && !shown.iter().any(|s| std::ptr::eq(*s, *f)))
            .count()
    };
    // (count, what the count is of when it comes first, when it follows)
    let folded: Vec<(usize, &str, &str)> = [
        (hidden(FrameKind::User), "more frame", "more in your code"),
        (hidden(FrameKind::NodeModules), "frame", "in node_modules"),
        (hidden(FrameKind::Node), "frame", "in node: internals"),
    ]
    .into_iter()
    .filter(|f| f.0 > 0)
    .collect();
    let mut out = String::new();
    for (i, f) in shown.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("   allocated: {}", f.show()));
            if st.objects < leaked_objects {
                out.push_str(&format!(" ({} of {leaked_objects} objects)", st.objects));
            }
        } else {
            out.push_str(&format!("              ← {}", f.show()));
        }
        out.push('\n');
    }
    if !folded.is_empty() {
        // "(3 frames in node_modules, 2 in node: internals)"
        let parts: Vec<String> = folded
            .iter()
            .enumerate()
            .map(|(i, &(n, first, then))| {
                if i > 0 {
                    format!("{n} {then}")
                } else {
                    let plural = if n == 1 { "" } else { "s" };
                    let place = then.strip_prefix("more ").unwrap_or(then);
                    format!("{n} {first}{plural} {place}")
                }
            })
            .collect();
        out.push_str(&format!("              ← ({})\n", parts.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap::synth::SynthSnapshot;

    /// 30 leaked objects; `with_stack` of them allocated in makeSession, and
    /// one with a stray trace.
    fn cluster(with_stack: usize) -> Option<AllocationStack> {
        let mut s = SynthSnapshot::with_root();
        let handle = s.trace_function("handleRequest", "/srv/app.js", 80, 8, 23);
        let make = s.trace_function("makeSession", "/srv/lib/s.js", 81, 2, 21);
        let other = s.trace_function("get", "node:_http_incoming", 9, 100, 3);
        let site = s.trace_path(&[handle, make]);
        let stray = s.trace_path(&[other]);
        let objects: Vec<usize> = (0..30).map(|_| s.node("object", "Session", 40)).collect();
        for (i, &o) in objects.iter().enumerate() {
            s.edge(0, "element", &i.to_string(), o);
            if i < with_stack {
                s.allocated_at(o, site);
            }
        }
        s.allocated_at(objects[29], stray);
        let g = heapsnap::parse_bytes(s.to_json().as_bytes()).expect("parses");
        let traces = AllocationTraces::new(&g);
        let idx: Vec<NodeIdx> = objects.iter().map(|&o| NodeIdx(o as u32)).collect();
        for_objects(traces.as_ref(), &idx)
    }

    #[test]
    fn a_shared_stack_is_shown_scattered_traces_are_not() {
        let st = cluster(20).expect("20 of 30 share a stack");
        assert_eq!((st.objects, st.objects_with_stack), (20, 21));
        assert_eq!(st.frames[0].function, "makeSession");
        assert_eq!(st.frames[0].kind, FrameKind::User);
        assert_eq!(
            (st.frames[0].line, st.frames[0].column),
            (Some(2), Some(21))
        );
        assert_eq!(st.frames.len(), 2);
        assert!(cluster(3).is_some(), "a tenth is enough");
        // Only the stray trace (and one real one): not trusted.
        assert!(cluster(1).is_none());
        assert!(cluster(0).is_none());
    }

    fn frame(function: &str, url: &str, kind: FrameKind) -> StackFrame {
        StackFrame {
            function: function.into(),
            url: (!url.is_empty()).then(|| url.to_owned()),
            line: Some(3),
            column: Some(14),
            kind,
        }
    }

    #[test]
    fn user_frames_first_the_rest_folded() {
        let st = AllocationStack {
            frames: vec![
                frame("push", "", FrameKind::Node),
                frame("makeSession", "/srv/lib/sessions.js", FrameKind::User),
                frame(
                    "use",
                    "/srv/node_modules/x/index.js",
                    FrameKind::NodeModules,
                ),
                frame("handleRequest", "/srv/app.js", FrameKind::User),
                frame("emit", "node:events", FrameKind::Node),
            ],
            objects: 280,
            objects_with_stack: 300,
        };
        assert_eq!(
            render(Some(&st), 300),
            "   allocated: makeSession() at /srv/lib/sessions.js:3:14 (280 of 300 objects)\n\
             \x20             ← handleRequest() at /srv/app.js:3:14\n\
             \x20             ← (1 frame in node_modules, 2 in node: internals)\n"
        );
        let all_user = AllocationStack {
            frames: (0..8)
                .map(|i| frame(&format!("f{i}"), "/srv/app.js", FrameKind::User))
                .collect(),
            objects: 3,
            objects_with_stack: 3,
        };
        let text = render(Some(&all_user), 3);
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.ends_with("← (2 more frames in your code)\n"), "{text}");
        let none_user = AllocationStack {
            frames: vec![
                frame(
                    "(anonymous function)",
                    "/srv/node_modules/x/a.js",
                    FrameKind::NodeModules,
                ),
                frame("emit", "node:events", FrameKind::Node),
            ],
            objects: 1,
            objects_with_stack: 1,
        };
        assert_eq!(
            render(Some(&none_user), 1),
            "   allocated: (anonymous function) at /srv/node_modules/x/a.js:3:14\n\
             \x20             ← emit() at node:events:3:14\n"
        );
        assert_eq!(render(None, 1), "");
    }
}
