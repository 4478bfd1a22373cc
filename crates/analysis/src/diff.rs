//! The Comparison view: per class, objects added and removed between a base
//! snapshot and a target snapshot, matched by node id.

use std::collections::HashMap;

use heapsnap::{HeapGraph, NodeIdx};

use crate::{Analysis, Classified, classes};

/// One row of the Comparison view.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ClassDiff {
    pub key: String,
    pub name: String,
    pub added_count: u64,
    pub removed_count: u64,
    pub count_delta: i64,
    pub added_size: u64,
    pub removed_size: u64,
    pub size_delta: i64,
    /// Added objects (nodes of the target snapshot), by id.
    #[serde(skip)]
    pub added: Vec<NodeIdx>,
    /// Removed objects (nodes of the base snapshot), by id.
    #[serde(skip)]
    pub removed: Vec<NodeIdx>,
}

/// Compares `target` against `base` the way DevTools' Comparison view does:
/// the base snapshot's plain objects are renamed with the target's interface
/// definitions, then each class's instances are matched by id.
pub fn compare(
    base: &HeapGraph,
    base_analysis: &Analysis,
    target: &HeapGraph,
    target_analysis: &Analysis,
) -> Vec<ClassDiff> {
    let base_aggs = base_analysis.aggregates_with_interfaces(base, &target_analysis.interfaces);
    let target_aggs = target_analysis.aggregates(target);
    compare_aggregates(
        (base, &base_analysis.shallow, &base_aggs),
        (target, &target_analysis.shallow, &target_aggs),
    )
}

/// [`compare`] on [`Classified`] snapshots: the same rows, without the
/// dominator trees and distances that the Comparison view does not use.
pub fn compare_classified(
    base: &HeapGraph,
    base_classes: &Classified,
    target: &HeapGraph,
    target_classes: &Classified,
) -> Vec<ClassDiff> {
    let base_aggs = base_classes.aggregates_with_interfaces(base, &target_classes.interfaces);
    let target_aggs = target_classes.aggregates(target);
    compare_aggregates(
        (base, &base_classes.shallow, &base_aggs),
        (target, &target_classes.shallow, &target_aggs),
    )
}

/// A snapshot, its shallow sizes and its class aggregates.
type Side<'a> = (&'a HeapGraph, &'a [u32], &'a [classes::ClassAggregate]);

fn compare_aggregates(
    (base, base_shallow, base_aggs): Side<'_>,
    (target, target_shallow, target_aggs): Side<'_>,
) -> Vec<ClassDiff> {
    let mut target_by_key: HashMap<&str, usize> = HashMap::new();
    for (i, a) in target_aggs.iter().enumerate() {
        target_by_key.insert(&a.key, i);
    }
    let mut out = Vec::new();
    let mut base_keys = std::collections::HashSet::new();
    for b in base_aggs {
        base_keys.insert(b.key.as_str());
        let t = target_by_key.get(b.key.as_str()).map(|&i| &target_aggs[i]);
        if let Some(d) = diff_class((base, base_shallow, Some(b)), (target, target_shallow, t)) {
            out.push(d);
        }
    }
    for t in target_aggs {
        if base_keys.contains(t.key.as_str()) {
            continue;
        }
        if let Some(d) = diff_class(
            (base, base_shallow, None),
            (target, target_shallow, Some(t)),
        ) {
            out.push(d);
        }
    }
    out
}

type Class<'a> = (
    &'a HeapGraph,
    &'a [u32],
    Option<&'a classes::ClassAggregate>,
);

fn diff_class(
    (base, base_shallow, b): Class<'_>,
    (target, target_shallow, t): Class<'_>,
) -> Option<ClassDiff> {
    let empty = Vec::new();
    let bn = b.map_or(&empty, |b| &b.nodes);
    let tn = t.map_or(&empty, |t| &t.nodes);
    let name = t.or(b).map(|a| a.name.clone()).unwrap_or_default();
    let key = t.or(b).map(|a| a.key.clone()).unwrap_or_default();
    let mut d = ClassDiff {
        key,
        name,
        added_count: 0,
        removed_count: 0,
        count_delta: 0,
        added_size: 0,
        removed_size: 0,
        size_delta: 0,
        added: Vec::new(),
        removed: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    while i < bn.len() && j < tn.len() {
        let a_id = base.id(bn[i]);
        let b_id = target.id(tn[j]);
        if a_id < b_id {
            d.removed.push(bn[i]);
            d.removed_size += u64::from(base_shallow[bn[i].idx()]);
            i += 1;
        } else if a_id > b_id {
            d.added.push(tn[j]);
            d.added_size += u64::from(target_shallow[tn[j].idx()]);
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
    for &n in &bn[i..] {
        d.removed.push(n);
        d.removed_size += u64::from(base_shallow[n.idx()]);
    }
    for &n in &tn[j..] {
        d.added.push(n);
        d.added_size += u64::from(target_shallow[n.idx()]);
    }
    d.added_count = d.added.len() as u64;
    d.removed_count = d.removed.len() as u64;
    d.count_delta = d.added_count as i64 - d.removed_count as i64;
    d.size_delta = d.added_size as i64 - d.removed_size as i64;
    (d.added_count > 0 || d.removed_count > 0).then_some(d)
}
