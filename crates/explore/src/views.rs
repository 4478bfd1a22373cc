//! The list views: Summary (classes and their instances), the dominator
//! tree, the Comparison; all in pages.

use analysis::ClassAggregate;
use heapsnap::{NodeIdx, NodeKind};
use serde::Serialize;

use crate::Error;
use crate::object::{ObjectRef, SourcePosition};
use crate::workspace::{Heap, Workspace};

/// A slice of a longer list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// Items in the whole list.
    pub total: usize,
    pub offset: usize,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub fn of<S>(all: &[S], offset: usize, limit: usize, f: impl FnMut(&S) -> T) -> Page<T> {
        let start = offset.min(all.len());
        let end = start.saturating_add(limit).min(all.len());
        Page {
            total: all.len(),
            offset: start,
            items: all[start..end].iter().map(f).collect(),
        }
    }
}

/// One class of the Summary view: DevTools' aggregate (its `key` names
/// the class in requests) and where its constructor is.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRow {
    #[serde(flatten)]
    pub class: ClassAggregate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourcePosition>,
}

/// What the Summary view asks for.
#[derive(Debug, Clone, Default)]
pub struct SummaryQuery {
    /// Case-insensitive part of the class name.
    pub filter: String,
    /// `retained` (default), `self`, `count`, `distance` or `name`.
    pub sort: String,
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// The Summary view: classes matching the filter, sorted, one page.
pub fn summary(heap: &Heap, q: &SummaryQuery) -> Page<ClassRow> {
    let needle = q.filter.to_lowercase();
    let mut rows: Vec<&ClassAggregate> = heap
        .classes()
        .iter()
        .filter(|c| needle.is_empty() || c.name.to_lowercase().contains(&needle))
        .collect();
    rows.sort_by(|a, b| {
        let o = match q.sort.as_str() {
            "self" => a.self_size.cmp(&b.self_size),
            "count" => a.count.cmp(&b.count),
            "distance" => a.distance.cmp(&b.distance),
            "name" => a.name.cmp(&b.name),
            _ => a.retained_size.cmp(&b.retained_size),
        };
        let o = if q.ascending { o } else { o.reverse() };
        o.then_with(|| a.key.cmp(&b.key))
    });
    Page::of(&rows, q.offset, q.limit, |c| class_row(heap, c))
}

fn class_row(heap: &Heap, c: &ClassAggregate) -> ClassRow {
    ClassRow {
        class: c.clone(),
        location: c.location.map(|(script_id, line, column)| SourcePosition {
            script_id,
            url: heap.scripts.of(&heap.graph, c.first),
            line: line + 1,
            column: column + 1,
        }),
    }
}

/// A page of a class's instances, biggest retained size first (DevTools'
/// default), found by a scan of the class column.
pub fn instances(
    heap: &Heap,
    key: &str,
    offset: usize,
    limit: usize,
) -> Result<Page<ObjectRef>, Error> {
    let (g, a) = (&heap.graph, &heap.analysis);
    let class = heap
        .classes()
        .iter()
        .find(|c| c.key == key)
        .ok_or_else(|| Error::NotFound(format!("no class {key:?} in {}", heap.file)))?;
    let c = a.class[class.first.idx()];
    let located = |n: NodeIdx| {
        if g.kind(n) != NodeKind::Object {
            return None;
        }
        g.location(n).map(|l| (l.script_id, l.line, l.column))
    };
    let mut nodes: Vec<NodeIdx> = g
        .nodes()
        .filter(|&n| a.class[n.idx()] == c && a.shallow[n.idx()] != 0)
        .filter(|&n| located(n) == class.location)
        .collect();
    sort_by_retained(heap, &mut nodes);
    Ok(Page::of(&nodes, offset, limit, |&n| ObjectRef::of(heap, n)))
}

fn sort_by_retained(heap: &Heap, nodes: &mut [NodeIdx]) {
    let a = &heap.analysis;
    nodes.sort_by(|&x, &y| {
        a.retained
            .get(y.idx())
            .cmp(&a.retained.get(x.idx()))
            .then_with(|| heap.graph.id(x).cmp(&heap.graph.id(y)))
    });
}

/// The dominator tree below `n` (the root when `None`): a page of the
/// objects it dominates, biggest retained size first.
pub fn dominated(heap: &Heap, n: Option<NodeIdx>, offset: usize, limit: usize) -> Page<ObjectRef> {
    let n = n.unwrap_or(heap.graph.root());
    let mut children = heap.analysis.dominated(n).to_vec();
    sort_by_retained(heap, &mut children);
    Page::of(&children, offset, limit, |&c| ObjectRef::of(heap, c))
}

/// The Comparison of `target` against `base` (rows of `analysis::diff`):
/// classes matching the filter, biggest size delta first.
pub fn comparison(
    ws: &Workspace,
    base: usize,
    target: usize,
    filter: &str,
    offset: usize,
    limit: usize,
) -> Result<Page<serde_json::Value>, Error> {
    let rows = ws.comparison(base, target)?;
    let needle = filter.to_lowercase();
    let matching: Vec<_> = rows
        .iter()
        .filter(|c| needle.is_empty() || c.name.to_lowercase().contains(&needle))
        .collect();
    // Rows as `diff --json` writes them (without the object lists).
    Ok(Page::of(&matching, offset, limit, |c| {
        serde_json::to_value(c).unwrap_or_default()
    }))
}

/// A page of one class's new objects (in the target) or deleted ones (in the base).
pub fn comparison_objects(
    ws: &Workspace,
    base: usize,
    target: usize,
    key: &str,
    added: bool,
    offset: usize,
    limit: usize,
) -> Result<Page<ObjectRef>, Error> {
    let rows = ws.comparison(base, target)?;
    let row = rows
        .iter()
        .find(|c| c.key == key)
        .ok_or_else(|| Error::NotFound(format!("no class {key:?} in the comparison")))?;
    let (heap, nodes) = if added {
        (ws.heap(target)?, &row.added)
    } else {
        (ws.heap(base)?, &row.removed)
    };
    Ok(Page::of(nodes, offset, limit, |&n| ObjectRef::of(heap, n)))
}
