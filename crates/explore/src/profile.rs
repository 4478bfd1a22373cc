//! The allocation profile view of a `.heapprofile` (a sampling heap
//! profile): a flame graph of inclusive sizes, laid out flat, and a
//! bottom-up table by function. Walks are iterative.

use std::collections::HashMap;

use analysis::traces::FrameKind;
use inspector::profile::{ProfileNode, SamplingProfile};
use serde::Serialize;

use crate::views::Page;

/// A box of the flame graph: a call path's bytes, self and below.
#[derive(Debug, Clone, Serialize)]
pub struct FlameBox {
    pub function: String,
    pub url: String,
    /// 1-based; 0 when unknown.
    pub line: i64,
    pub column: i64,
    pub kind: FrameKind,
    pub depth: usize,
    /// Bytes of the boxes left of this one under the same parent, plus the parent's start.
    pub start: u64,
    /// Bytes allocated here and in everything it called (live at the end).
    pub total: u64,
    pub self_size: u64,
    /// Node internals folded into this box.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct Flame {
    pub total: u64,
    /// Parents before children; boxes narrower than `min_bytes` left out.
    pub boxes: Vec<FlameBox>,
    pub min_bytes: u64,
}

/// A call tree node after optional folding.
struct Node<'p> {
    frame: &'p ProfileNode,
    self_size: u64,
    children: Vec<usize>,
    folded: usize,
    total: u64,
}

fn kind(n: &ProfileNode) -> FrameKind {
    FrameKind::of(&n.call_frame.url)
}

/// Flattens the profile into a tree of indexes; with `fold`, Node.js
/// internal frames (and built-ins) give their bytes and callees to their caller.
fn tree(p: &SamplingProfile, fold: bool) -> Vec<Node<'_>> {
    let mut nodes = vec![Node {
        frame: &p.head,
        self_size: p.head.self_size.max(0.0) as u64,
        children: Vec::new(),
        folded: 0,
        total: 0,
    }];
    // (profile node, index of the tree node its bytes go to)
    let mut stack: Vec<(&ProfileNode, usize)> = p.head.children.iter().map(|c| (c, 0)).collect();
    while let Some((pn, parent)) = stack.pop() {
        let bytes = pn.self_size.max(0.0) as u64;
        let at = if fold && kind(pn) == FrameKind::Node {
            nodes[parent].self_size += bytes;
            nodes[parent].folded += 1;
            parent
        } else {
            nodes.push(Node {
                frame: pn,
                self_size: bytes,
                children: Vec::new(),
                folded: 0,
                total: 0,
            });
            let i = nodes.len() - 1;
            nodes[parent].children.push(i);
            i
        };
        stack.extend(pn.children.iter().map(|c| (c, at)));
    }
    // Children come after their parents: totals from the back.
    for i in (0..nodes.len()).rev() {
        let below: u64 = nodes[i].children.iter().map(|&c| nodes[c].total).sum();
        nodes[i].total = nodes[i].self_size + below;
    }
    nodes
}

/// The flame graph: boxes of at least `min_share` of the total.
pub fn flame(p: &SamplingProfile, fold: bool, min_share: f64) -> Flame {
    let nodes = tree(p, fold);
    let total = nodes[0].total;
    let min_bytes = ((total as f64) * min_share) as u64;
    let mut boxes = Vec::new();
    let mut stack = vec![(0usize, 0usize, 0u64)];
    while let Some((i, depth, start)) = stack.pop() {
        let n = &nodes[i];
        let f = &n.frame.call_frame;
        boxes.push(FlameBox {
            function: function_name(&f.function_name),
            url: f.url.clone(),
            line: f.line_number + 1,
            column: f.column_number + 1,
            kind: kind(n.frame),
            depth,
            start,
            total: n.total,
            self_size: n.self_size,
            folded: n.folded,
        });
        let mut children = n.children.clone();
        children.sort_by(|&a, &b| nodes[b].total.cmp(&nodes[a].total));
        let mut x = start;
        for c in children {
            if nodes[c].total >= min_bytes.max(1) {
                stack.push((c, depth + 1, x));
            }
            x += nodes[c].total;
        }
    }
    Flame {
        total,
        boxes,
        min_bytes,
    }
}

fn function_name(name: &str) -> String {
    if name.is_empty() {
        "(anonymous)".to_owned()
    } else {
        name.to_owned()
    }
}

/// A function of the bottom-up table.
#[derive(Debug, Clone, Serialize)]
pub struct BottomUpRow {
    /// Names the function in requests (`name url:line:column`).
    pub key: String,
    pub function: String,
    pub url: String,
    pub line: i64,
    pub column: i64,
    pub kind: FrameKind,
    /// Bytes allocated by the function itself.
    pub self_size: u64,
    /// Bytes allocated by it and what it called (recursion counted once).
    pub total: u64,
}

fn key_of(n: &ProfileNode) -> String {
    let f = &n.call_frame;
    format!(
        "{} {}:{}:{}",
        function_name(&f.function_name),
        f.url,
        f.line_number + 1,
        f.column_number + 1
    )
}

/// The bottom-up table, biggest self size first; with `callers_of`, the
/// callers of that function instead, by the bytes it allocated under each.
pub fn bottom_up(
    p: &SamplingProfile,
    fold: bool,
    callers_of: Option<&str>,
    offset: usize,
    limit: usize,
) -> Page<BottomUpRow> {
    let nodes = tree(p, fold);
    let mut parent = vec![usize::MAX; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &c in &n.children {
            parent[c] = i;
        }
    }
    let mut rows: HashMap<String, BottomUpRow> = HashMap::new();
    let mut add = |n: &Node<'_>, key: String, self_size: u64, total: u64| {
        let f = &n.frame.call_frame;
        let row = rows.entry(key.clone()).or_insert_with(|| BottomUpRow {
            key,
            function: function_name(&f.function_name),
            url: f.url.clone(),
            line: f.line_number + 1,
            column: f.column_number + 1,
            kind: kind(n.frame),
            self_size: 0,
            total: 0,
        });
        row.self_size += self_size;
        row.total += total;
    };
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let key = key_of(n.frame);
        match callers_of {
            Some(target) if key == target => {
                let Some(&p) = parent.get(i).filter(|&&p| p != usize::MAX) else {
                    continue;
                };
                add(&nodes[p], key_of(nodes[p].frame), n.self_size, n.total);
            }
            Some(_) => {}
            None => {
                // Total once per stack: not when an ancestor is the same function.
                let mut a = parent[i];
                let mut nested = false;
                while a != usize::MAX && a != 0 {
                    if key_of(nodes[a].frame) == key {
                        nested = true;
                        break;
                    }
                    a = parent[a];
                }
                add(n, key, n.self_size, if nested { 0 } else { n.total });
            }
        }
    }
    let mut rows: Vec<BottomUpRow> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        b.self_size
            .cmp(&a.self_size)
            .then_with(|| b.total.cmp(&a.total))
            .then_with(|| a.key.cmp(&b.key))
    });
    Page::of(&rows, offset, limit, Clone::clone)
}
