//! Class names, interface inference for plain objects, class keys and the
//! per-class Summary aggregates, computed as DevTools does.

use std::cmp::Ordering;
use std::collections::HashMap;

/// A hash map with a fast, fixed hasher, for lookups by small integer keys.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind, StrIdx};

use crate::dom::Detached;

/// A class name: either a string of the snapshot, or a name the analysis added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassIdx(pub u32);

/// Names DevTools adds to the string table (not de-duplicated against the snapshot's own strings).
#[derive(Debug, Clone, Default)]
pub struct ClassNames {
    base: u32,
    added: Vec<String>,
    lookup: HashMap<String, u32>,
}

impl ClassNames {
    pub(crate) fn new_for(graph: &HeapGraph) -> ClassNames {
        ClassNames {
            base: graph.strings().len() as u32,
            added: Vec::new(),
            lookup: HashMap::new(),
        }
    }

    fn add(&mut self, s: &str) -> ClassIdx {
        if let Some(&i) = self.lookup.get(s) {
            return ClassIdx(i);
        }
        let i = self.base + self.added.len() as u32;
        self.added.push(s.to_owned());
        self.lookup.insert(s.to_owned(), i);
        ClassIdx(i)
    }

    /// Number of class indexes (snapshot strings plus added names).
    pub fn len(&self) -> usize {
        self.base as usize + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<'a>(&'a self, graph: &'a HeapGraph, c: ClassIdx) -> &'a str {
        if c.0 < self.base {
            graph.string(StrIdx(c.0))
        } else {
            &self.added[(c.0 - self.base) as usize]
        }
    }
}

/// Class of every node, per DevTools `calculateObjectNames` + interface definitions.
pub(crate) fn class_indexes(
    graph: &HeapGraph,
    detached: &Detached,
    names: &mut ClassNames,
) -> Vec<ClassIdx> {
    let hidden = names.add("(system)");
    let code = names.add("(compiled code)");
    let function = names.add("Function");
    let regexp = names.add("RegExp");
    let mut by_type: HashMap<u8, ClassIdx> = HashMap::new();
    let mut out = Vec::with_capacity(graph.node_count());
    for n in graph.nodes() {
        let c = match graph.kind(n) {
            NodeKind::Hidden => hidden,
            NodeKind::Object | NodeKind::Native if detached.contains(n) => {
                // Renamed by DOM state propagation: a name DevTools added.
                let name = detached.raw_name(graph, n);
                match name.strip_prefix("Detached <").and_then(|r| r.find(' ')) {
                    Some(sp) => names.add(&format!("{}>", &name[.."Detached <".len() + sp])),
                    None => names.add(&name),
                }
            }
            NodeKind::Object | NodeKind::Native => {
                let name = graph.name(n);
                if name.starts_with('<') {
                    match name.find(' ') {
                        Some(sp) => names.add(&format!("{}>", &name[..sp])),
                        None => names.add(name),
                    }
                } else if let Some(rest) = name.strip_prefix("Detached <") {
                    match rest.find(' ') {
                        Some(sp) => names.add(&format!("Detached <{}>", &rest[..sp])),
                        None => names.add(name),
                    }
                } else {
                    ClassIdx(graph.name_idx(n).0)
                }
            }
            NodeKind::Code => code,
            NodeKind::Closure => function,
            NodeKind::RegExp => regexp,
            _ => *by_type
                .entry(graph.raw_type(n))
                .or_insert_with(|| names.add(&format!("({})", graph.node_type_name(n)))),
        };
        out.push(c);
    }
    out
}

/// Length of a string in UTF-16 code units, as JavaScript counts it.
pub(crate) fn js_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// String comparison in UTF-16 code unit order, as JavaScript compares strings.
pub(crate) fn js_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// `JSHeapSnapshotNode.formatPropertyName`.
pub fn format_property_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([',', '\'', '"', '{', '}']) {
        std::borrow::Cow::Owned(serde_json::to_string(name).expect("string serializes"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

const MIN_INTERFACE_PROPERTY_COUNT: usize = 1;
const MAX_INTERFACE_NAME_LENGTH: usize = 120;
const MIN_OBJECT_COUNT_PER_INTERFACE: f64 = 2.0;
const MIN_OBJECT_PROPORTION_PER_INTERFACE: f64 = 1000.0;

/// An inferred interface: objects with at least these properties are named `name`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceDefinition {
    pub name: String,
    pub properties: Vec<String>,
}

fn is_plain_object(graph: &HeapGraph, n: NodeIdx) -> bool {
    graph.kind(n) == NodeKind::Object && graph.name(n) == "Object"
}

/// The string indexes of `n`'s property edge names, in edge order, into
/// `out`: what interface inference and matching depend on, so their results
/// are memoised by it.
fn property_names(graph: &HeapGraph, n: NodeIdx, out: &mut Vec<u32>) {
    out.clear();
    out.extend(
        graph
            .edge_indices(n)
            .filter(|&e| graph.edge_kind(e) == EdgeKind::Property)
            .map(|e| graph.edge_name_or_index(e)),
    );
}

/// `inferInterfaceDefinitions`: the popular property lists of plain objects.
pub(crate) fn infer_interfaces(graph: &HeapGraph) -> Vec<InterfaceDefinition> {
    struct Candidate {
        def: InterfaceDefinition,
        count: usize,
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut total = 0usize;
    // Objects with the same property names in the same order get the same
    // name: it is built once per distinct list.
    let mut seen: FastMap<Vec<u32>, Option<usize>> = FastMap::default();
    let mut key: Vec<u32> = Vec::new();
    for n in graph.nodes() {
        if !is_plain_object(graph, n) {
            continue;
        }
        total += 1;
        property_names(graph, n, &mut key);
        if let Some(&known) = seen.get(key.as_slice()) {
            if let Some(i) = known {
                candidates[i].count += 1;
            }
            continue;
        }
        let mut name = String::from("{");
        let mut name_len = 1usize;
        let mut properties: Vec<String> = Vec::new();
        for e in graph.edge_indices(n) {
            if graph.edge_kind(e) != EdgeKind::Property {
                continue;
            }
            let edge_name = graph.edge_name(e);
            if edge_name == "__proto__" {
                continue;
            }
            let formatted = format_property_name(&edge_name);
            let flen = js_len(&formatted);
            if name_len > MIN_INTERFACE_PROPERTY_COUNT
                && name_len + flen > MAX_INTERFACE_NAME_LENGTH
            {
                break;
            }
            if name_len != 1 {
                name.push_str(", ");
                name_len += 2;
            }
            name.push_str(&formatted);
            name_len += flen;
            properties.push(edge_name.into_owned());
        }
        if properties.is_empty() {
            seen.insert(key.clone(), None);
            continue;
        }
        name.push('}');
        let i = match by_name.get(&name) {
            Some(&i) => {
                candidates[i].count += 1;
                i
            }
            None => {
                by_name.insert(name.clone(), candidates.len());
                candidates.push(Candidate {
                    def: InterfaceDefinition { name, properties },
                    count: 1,
                });
                candidates.len() - 1
            }
        };
        seen.insert(key.clone(), Some(i));
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.count));
    let min_count =
        MIN_OBJECT_COUNT_PER_INTERFACE.max(total as f64 / MIN_OBJECT_PROPORTION_PER_INTERFACE);
    candidates
        .into_iter()
        .take_while(|c| c.count as f64 >= min_count)
        .map(|c| c.def)
        .collect()
}

struct TreeNode {
    next: HashMap<String, usize>,
    /// (name, property count, definition index)
    matched: Option<(usize, usize, usize)>,
    greatest_next: Option<String>,
}

/// `applyInterfaceDefinitions`: renames plain objects matching an interface.
pub(crate) fn apply_interfaces(
    graph: &HeapGraph,
    defs: &[InterfaceDefinition],
    names: &mut ClassNames,
    classes: &mut [ClassIdx],
) {
    let mut tree = vec![TreeNode {
        next: HashMap::new(),
        matched: None,
        greatest_next: None,
    }];
    for (index, def) in defs.iter().enumerate() {
        let mut props = def.properties.clone();
        props.sort_by(|a, b| js_cmp(a, b));
        let mut cur = 0usize;
        for p in &props {
            let next = match tree[cur].next.get(p) {
                Some(&x) => x,
                None => {
                    let x = tree.len();
                    tree.push(TreeNode {
                        next: HashMap::new(),
                        matched: None,
                        greatest_next: None,
                    });
                    tree[cur].next.insert(p.clone(), x);
                    let g = &mut tree[cur].greatest_next;
                    if g.as_deref().is_none_or(|g| js_cmp(g, p) == Ordering::Less) {
                        *g = Some(p.clone());
                    }
                    x
                }
            };
            cur = next;
        }
        if tree[cur].matched.is_none() {
            tree[cur].matched = Some((index, props.len(), index));
        }
    }
    // (definition index or usize::MAX for the fallback, property count, index)
    type Match = (usize, usize, usize);
    const INITIAL: Match = (usize::MAX, 0, usize::MAX);
    fn better(a: Match, b: Option<Match>) -> Match {
        match b {
            None => a,
            Some(b) => {
                if a.1 > b.1 {
                    a
                } else if b.1 > a.1 {
                    b
                } else if a.2 <= b.2 {
                    a
                } else {
                    b
                }
            }
        }
    }
    let mut interface_class: HashMap<usize, ClassIdx> = HashMap::new();
    let mut props: Vec<&str> = Vec::new();
    let mut states: Vec<usize> = Vec::new();
    let mut snapshot: Vec<usize> = Vec::new();
    // The match depends only on the property names: once per distinct list.
    let mut seen: FastMap<Vec<u32>, usize> = FastMap::default();
    let mut key: Vec<u32> = Vec::new();
    for n in graph.nodes() {
        if !is_plain_object(graph, n) {
            continue;
        }
        property_names(graph, n, &mut key);
        let matched = match seen.get(key.as_slice()) {
            Some(&m) => m,
            None => {
                props.clear();
                props.extend(
                    key.iter()
                        .map(|&s| graph.strings().try_get(StrIdx(s)).unwrap_or("")),
                );
                props.sort_by(|a, b| js_cmp(a, b));
                states.clear();
                states.push(0);
                let mut m = better(INITIAL, tree[0].matched);
                for p in &props {
                    snapshot.clear();
                    snapshot.extend_from_slice(&states);
                    for &s in &snapshot {
                        let node = &tree[s];
                        if node
                            .greatest_next
                            .as_deref()
                            .is_none_or(|g| js_cmp(p, g) != Ordering::Less)
                        {
                            states.retain(|&x| x != s);
                        }
                        if let Some(&next) = node.next.get(*p) {
                            if !states.contains(&next) {
                                states.push(next);
                            }
                            m = better(m, tree[next].matched);
                        }
                    }
                }
                seen.insert(key.clone(), m.0);
                m.0
            }
        };
        classes[n.idx()] = if matched == usize::MAX {
            ClassIdx(graph.name_idx(n).0)
        } else {
            *interface_class
                .entry(matched)
                .or_insert_with(|| names.add_interface(&defs[matched].name))
        };
    }
}

impl ClassNames {
    /// Interface names live in their own map in DevTools (`#interfaceNames`).
    fn add_interface(&mut self, s: &str) -> ClassIdx {
        let i = self.base + self.added.len() as u32;
        self.added.push(s.to_owned());
        ClassIdx(i)
    }
}

/// The internal class key: objects with a constructor location are keyed by
/// location and name, everything else by class index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClassKey {
    Class(ClassIdx),
    Located {
        script_id: u32,
        line: u32,
        column: u32,
        class: ClassIdx,
    },
}

/// One row of the Summary view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClassAggregate {
    /// DevTools' public class key (`,Name` or `scriptId,line,column,Name`).
    pub key: String,
    pub name: String,
    pub count: u64,
    /// Sum of shallow sizes (after ownership transfer).
    pub self_size: u64,
    /// Sum of retained sizes of the instances with no same-class dominator ancestor.
    pub retained_size: u64,
    /// Smallest distance of any instance.
    pub distance: i32,
    /// Instances, sorted by node id (empty from [`crate::Analysis::class_summary`]).
    #[serde(skip)]
    pub nodes: Vec<NodeIdx>,
    /// The instance with the lowest ordinal.
    #[serde(skip)]
    pub first: NodeIdx,
    /// Location of the constructor, for location-keyed classes.
    #[serde(skip)]
    pub location: Option<(u32, u32, u32)>,
}
