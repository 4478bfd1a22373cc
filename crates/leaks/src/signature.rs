//! Normalised retainer paths: the key leak roots are clustered by.

use analysis::{Analysis, PathStep};
use heapsnap::{EdgeKind, HeapGraph, NodeIdx};

/// A path reduced to what identifies the way objects are retained.
pub struct Signature {
    /// Grouping key: classes and edge names, indexes and repeats folded.
    pub key: String,
    /// Human form, with repeat counts.
    pub display: String,
    /// (first step, cycle length, repetitions) of each folded stretch.
    pub folds: Vec<(usize, usize, usize)>,
}

/// Whether an object is in dictionary mode (its properties are a hash
/// table): what code uses as a map keyed by data.
pub fn is_dictionary(g: &HeapGraph, n: NodeIdx) -> bool {
    g.edge_indices(n).any(|e| {
        g.edge_kind(e) == EdgeKind::Internal
            && g.edge_name_str(e) == Some("properties")
            && g.name(g.edge_target(e)) == "(object properties)"
    })
}

/// Whether a property name looks like data (a session id, a UUID, a URL, a
/// label) rather than a name written in code.
pub fn is_data_name(name: &str) -> bool {
    if name.starts_with("<symbol ") {
        return false;
    }
    let identifier = crate::readable::is_identifier(name);
    let digits = name.chars().filter(char::is_ascii_digit).count();
    !identifier || digits >= 3 || name.len() > 40
}

/// Dictionary-mode answers by node: a big dictionary lies on the path of
/// every entry it holds, and its edges are many.
pub type DictCache = std::collections::HashMap<NodeIdx, bool>;

fn edge_token(g: &HeapGraph, from: NodeIdx, e: heapsnap::EdgeIdx, dicts: &mut DictCache) -> String {
    edge_token_with(g, e, || {
        *dicts.entry(from).or_insert_with(|| is_dictionary(g, from))
    })
}

/// The normalised token of an edge; `dictionary` says (when asked) whether
/// the edge's source is in dictionary mode.
pub(crate) fn edge_token_with(
    g: &HeapGraph,
    e: heapsnap::EdgeIdx,
    dictionary: impl FnOnce() -> bool,
) -> String {
    match g.edge_kind(e) {
        EdgeKind::Element => "[]".to_owned(),
        EdgeKind::Hidden => "{}".to_owned(),
        EdgeKind::Internal => {
            let name = g.edge_name(e);
            if name.contains(" / part of key ") {
                "{ephemeron}".to_owned()
            } else if name.bytes().all(|b| b.is_ascii_digit()) {
                "{}".to_owned()
            } else {
                format!("{{{name}}}")
            }
        }
        EdgeKind::Context => format!("->{}", g.edge_name(e)),
        EdgeKind::Property | EdgeKind::Shortcut => {
            let name = g.edge_name(e);
            // Keys that are data, in objects used as maps, are indexes: every
            // entry of a cache keyed by session id belongs to one cluster.
            if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
                || is_data_name(&name)
                || dictionary()
            {
                "[]".to_owned()
            } else if name.contains(' ') {
                format!("[\"{name}\"]")
            } else {
                format!(".{name}")
            }
        }
        EdgeKind::Weak => "[[weak]]".to_owned(),
        EdgeKind::Other => format!("?{}", g.edge_name(e)),
    }
}

fn class_token(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> String {
    a.class_name(g, n).to_owned()
}

impl Signature {
    pub fn new(g: &HeapGraph, a: &Analysis, path: &[PathStep], dicts: &mut DictCache) -> Signature {
        let mut tokens: Vec<String> = Vec::with_capacity(path.len());
        for s in path {
            tokens.push(format!(
                "{} {}",
                edge_token(g, s.from, s.edge, dicts),
                class_token(g, a, s.to)
            ));
        }
        let start = path
            .first()
            .map(|s| class_token(g, a, s.from))
            .unwrap_or_default();
        let mut key = start.clone();
        let mut display = start;
        let mut folds = Vec::new();
        for run in crate::runs::fold_runs(&tokens, 2, |x, y| x == y) {
            let block = &tokens[run.start..run.start + run.len];
            if run.reps == 1 {
                key.push(' ');
                key.push_str(&block[0]);
                display.push(' ');
                display.push_str(&block[0]);
                continue;
            }
            let text: String = block.iter().map(|t| format!(" {t}")).collect();
            // A repeated stretch is a recursive structure (a linked list, a
            // closure chain): members reached forwards or backwards (`_idleNext`,
            // `_idlePrev`) belong together, so the key keeps only the classes.
            let classes: String = block
                .iter()
                .map(|t| format!(" {}", t.split_once(' ').map_or(t.as_str(), |(_, c)| c)))
                .collect();
            key.push_str(&format!(" ({classes} )*"));
            display.push_str(&format!(" ({text} ) ×{}", run.reps));
            folds.push((run.start, run.len, run.reps));
        }
        Signature {
            key,
            display,
            folds,
        }
    }
}
