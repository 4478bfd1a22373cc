//! The loaded files: heap snapshots with their analysis, and heap profiles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use analysis::{Analysis, ClassAggregate, diff::ClassDiff};
use heapsnap::{HeapGraph, NodeIdx};
use inspector::profile::SamplingProfile;

use crate::Error;

/// One analysed heap snapshot.
pub struct Heap {
    /// The file as the user named it.
    pub file: String,
    /// Its size on disk.
    pub bytes: u64,
    pub graph: HeapGraph,
    pub analysis: Analysis,
    pub scripts: leaks::readable::Scripts,
    /// The Summary view's classes, built on first use.
    classes: OnceLock<Vec<ClassAggregate>>,
    traces: OnceLock<bool>,
}

impl Heap {
    pub fn new(file: String, bytes: u64, graph: HeapGraph, analysis: Analysis) -> Heap {
        let scripts = leaks::readable::Scripts::new(&graph);
        Heap {
            file,
            bytes,
            graph,
            analysis,
            scripts,
            classes: OnceLock::new(),
            traces: OnceLock::new(),
        }
    }

    /// The node with V8 id `id` (a scan of the id column: ids are not in order).
    pub fn find(&self, id: u32) -> Result<NodeIdx, Error> {
        self.graph
            .nodes()
            .find(|&n| self.graph.id(n) == id)
            .ok_or_else(|| Error::NoObject {
                id,
                file: self.file.clone(),
            })
    }

    /// DevTools' Summary: one aggregate per class, without instance lists.
    pub fn classes(&self) -> &[ClassAggregate] {
        self.classes
            .get_or_init(|| self.analysis.class_summary(&self.graph))
    }

    /// Whether the snapshot carries allocation stacks.
    pub fn has_traces(&self) -> bool {
        *self
            .traces
            .get_or_init(|| analysis::traces::AllocationTraces::new(&self.graph).is_some())
    }
}

/// A loaded file.
pub enum Item {
    Heap(Box<Heap>),
    Profile {
        file: String,
        profile: Box<SamplingProfile>,
    },
}

impl Item {
    pub fn file(&self) -> &str {
        match self {
            Item::Heap(h) => &h.file,
            Item::Profile { file, .. } => file,
        }
    }
}

/// Comparisons computed so far, by (base, target).
type Comparisons = HashMap<(usize, usize), Arc<Vec<ClassDiff>>>;

/// Everything `explore` opened, in the order given.
pub struct Workspace {
    pub items: Vec<Item>,
    /// The `find-leaks` report over the heap snapshots (3 or more of one
    /// process), as JSON, or why there is none.
    pub leaks: Result<serde_json::Value, String>,
    comparisons: Mutex<Comparisons>,
}

impl Workspace {
    pub fn new(items: Vec<Item>, leaks: Result<serde_json::Value, String>) -> Workspace {
        Workspace {
            items,
            leaks,
            comparisons: Mutex::new(HashMap::new()),
        }
    }

    pub fn heap(&self, i: usize) -> Result<&Heap, Error> {
        match self.items.get(i) {
            Some(Item::Heap(h)) => Ok(h),
            Some(other) => Err(Error::Unsupported {
                file: other.file().to_owned(),
                what: "not a heap snapshot".into(),
            }),
            None => Err(Error::NotFound(format!("no file #{i}"))),
        }
    }

    pub fn profile(&self, i: usize) -> Result<(&str, &SamplingProfile), Error> {
        match self.items.get(i) {
            Some(Item::Profile { file, profile }) => Ok((file, profile)),
            Some(other) => Err(Error::Unsupported {
                file: other.file().to_owned(),
                what: "not a heap profile".into(),
            }),
            None => Err(Error::NotFound(format!("no file #{i}"))),
        }
    }

    /// DevTools' Comparison of `target` against `base`, computed once per pair.
    pub fn comparison(&self, base: usize, target: usize) -> Result<Arc<Vec<ClassDiff>>, Error> {
        let (b, t) = (self.heap(base)?, self.heap(target)?);
        if let Some(c) = self.lock().get(&(base, target)) {
            return Ok(c.clone());
        }
        let mut rows = analysis::diff::compare(&b.graph, &b.analysis, &t.graph, &t.analysis);
        rows.sort_by(|x, y| {
            y.size_delta
                .cmp(&x.size_delta)
                .then_with(|| x.key.cmp(&y.key))
        });
        let rows = Arc::new(rows);
        self.lock().insert((base, target), rows.clone());
        Ok(rows)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Comparisons> {
        self.comparisons
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
