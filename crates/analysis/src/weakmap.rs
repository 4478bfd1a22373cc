//! Recognises V8's ephemeron edge names:
//! `<index> / part of key (<name> @<id>) -> value (<name> @<id>) pair in WeakMap (table @<id>)`.

use std::collections::HashMap;

use heapsnap::{HeapGraph, StrIdx};

/// Cache of parsed ephemeron edge names, keyed by string index.
#[derive(Default)]
pub(crate) struct WeakMapNames {
    /// Per string: 0 not looked at, 1 not an ephemeron name, 2 parsed (in `cache`).
    state: Vec<u8>,
    cache: HashMap<u32, Option<(u64, std::ops::Range<usize>)>>,
    re: Option<regex::Regex>,
}

impl WeakMapNames {
    fn parse(&mut self, graph: &HeapGraph, name_idx: u32) -> Option<(u64, std::ops::Range<usize>)> {
        if self.state.len() != graph.strings().len() {
            self.state = vec![0; graph.strings().len()];
        }
        match self.state.get(name_idx as usize) {
            Some(1) | None => return None,
            Some(2) => return self.cache.get(&name_idx).cloned().flatten(),
            _ => {}
        }
        let name = graph.strings().try_get(StrIdx(name_idx)).unwrap_or("");
        let parsed = if name.contains("pair in WeakMap (table @") {
            let re = self.re.get_or_insert_with(|| {
                regex::Regex::new(
                    r"^\d+(?<dup> / part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap \(table @(?<table>\d+)\))$",
                )
                .expect("valid regex")
            });
            re.captures(name).and_then(|c| {
                let table = c.name("table")?.as_str().parse::<u64>().ok()?;
                Some((table, c.name("dup")?.range()))
            })
        } else {
            None
        };
        if parsed.is_some() {
            self.state[name_idx as usize] = 2;
            self.cache.insert(name_idx, parsed.clone());
        } else {
            self.state[name_idx as usize] = 1;
        }
        parsed
    }

    /// The WeakMap table id named by an internal edge, if the edge is an ephemeron edge.
    pub fn table_id(&mut self, graph: &HeapGraph, name_idx: u32) -> Option<u64> {
        self.parse(graph, name_idx).map(|(t, _)| t)
    }

    /// The part of the name shared by the key→value and table→value edges of one pair.
    pub fn duplicated_part<'g>(&mut self, graph: &'g HeapGraph, name_idx: u32) -> Option<&'g str> {
        let (_, range) = self.parse(graph, name_idx)?;
        Some(&graph.string(StrIdx(name_idx))[range])
    }
}
