//! Retainer paths as a person would describe them: from the nearest
//! meaningful *anchor* (a module-scope variable of a named file, a named
//! global, a static property of a named function or class, a module's
//! `exports`) down to the leaked object, in the notation of the code
//! (`configBus._events.reload[318]`, `cache.get("k12")`), and the name of
//! the object that holds a leak (`createDebug.instances`).
//!
//! The GC-root path DevTools shows starts wherever the shortest chain from a
//! root happens to start (often an unrelated global or a signal handler);
//! the anchor is found by walking that path back from the leak.

use std::collections::HashMap;

use analysis::{Analysis, PathStep};
use heapsnap::{EdgeKind, HeapGraph, NodeIdx, NodeKind};

/// What kind of named thing a readable path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnchorKind {
    /// A variable at the top level of a module (`const cache = new Map()`).
    ModuleVariable,
    /// A property of the global object (`globalThis.requestLog`).
    Global,
    /// A property of a named function or class (`createDebug.instances`).
    Static,
    /// A module's `module.exports`.
    ModuleExports,
    /// No named anchor on the path: it starts at a GC root.
    GcRoot,
}

/// Where a readable path starts.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub kind: AnchorKind,
    /// `cache`, `globalThis.requestLog`, `createDebug`, `module.exports`.
    pub name: String,
    /// The script the anchor lives in, where known.
    pub file: Option<String>,
    /// Index in the full path of the first step shown after the anchor.
    pub step: usize,
    /// The object the anchor names (the module's scope, the global, the function).
    pub node: NodeIdx,
}

/// One step of a readable path.
#[derive(Debug, Clone)]
pub struct Hop {
    /// How the code reaches it: `.data`, `[3]`, `.get("k1")`, `captures req`;
    /// empty for V8-internal links that have no name in the code.
    pub access: String,
    /// Class of the object reached.
    pub class: String,
    pub node: NodeIdx,
    /// Index of the step in the full path.
    pub step: usize,
}

/// A path from an anchor to the leaked object.
#[derive(Debug, Clone)]
pub struct Readable {
    pub anchor: Anchor,
    pub hops: Vec<Hop>,
}

impl Readable {
    /// A path not computed yet: it starts and ends at the root.
    pub fn empty(g: &HeapGraph) -> Readable {
        Readable {
            anchor: Anchor {
                kind: AnchorKind::GcRoot,
                name: String::new(),
                file: None,
                step: 0,
                node: g.root(),
            },
            hops: Vec::new(),
        }
    }
}

/// A name for the object that holds a leak, as a person would write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderName {
    /// `configBus._events.reload`, `createDebug.instances`, `SessionCache.data`.
    pub name: String,
    /// The script where the named thing lives, where known.
    pub file: Option<String>,
}

/// Script names by script id, recovered once per snapshot.
pub struct Scripts {
    names: HashMap<u32, String>,
}

impl Scripts {
    pub fn new(g: &HeapGraph) -> Scripts {
        Scripts {
            names: analysis::scripts::script_names(g),
        }
    }

    /// The script of a node's source location (closures, and objects by their constructor).
    pub fn of(&self, g: &HeapGraph, n: NodeIdx) -> Option<String> {
        let l = g.location(n)?;
        self.names.get(&l.script_id).cloned()
    }
}

/// Classes that say nothing about what an object is for.
pub fn is_generic_class(class: &str) -> bool {
    matches!(
        class,
        "Object" | "Array" | "Map" | "Set" | "WeakMap" | "WeakSet" | "Function" | "(array)"
    ) || class.starts_with("system / ")
        || class.starts_with('{')
        || class.starts_with('(')
        || class.is_empty()
}

fn edge_to(g: &HeapGraph, n: NodeIdx, name: &str) -> Option<NodeIdx> {
    g.edge_indices(n)
        .find(|&e| g.edge_name_str(e) == Some(name))
        .map(|e| g.edge_target(e))
}

/// Whether a context is the top-level scope of a module or script: its
/// outer context is the native (or script) context.
pub fn is_module_context(g: &HeapGraph, a: &Analysis, ctx: NodeIdx) -> bool {
    if a.class_name(g, ctx) != "system / Context" {
        return false;
    }
    // Hidden nodes (the native context) have DevTools class `(system)`: look at the name.
    // Node 26 names it `system / NativeContext / <url>`.
    edge_to(g, ctx, "previous").is_some_and(|p| {
        let name = g.name(p);
        name.starts_with("system / NativeContext") || name.starts_with("system / ScriptContext")
    })
}

/// The script a context belongs to: the closure that leads into it on the
/// path, else any closure of the heap whose context it is.
fn context_file(
    g: &HeapGraph,
    scripts: &Scripts,
    path: &[PathStep],
    i: usize,
    ctx: NodeIdx,
) -> Option<String> {
    if i > 0 {
        let prev = path[i - 1];
        if prev.to == ctx
            && g.kind(prev.from) == NodeKind::Closure
            && let Some(f) = scripts.of(g, prev.from)
        {
            return Some(f);
        }
    }
    g.nodes()
        .filter(|&n| g.kind(n) == NodeKind::Closure)
        .find(|&n| edge_to(g, n, "context") == Some(ctx) && g.location(n).is_some())
        .and_then(|n| scripts.of(g, n))
}

/// The script of a module whose top-level scope has a variable holding
/// `target`, if any (one pass over the edges).
fn module_alias_file(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    target: NodeIdx,
) -> Option<String> {
    let ctx = g.nodes().find(|&n| {
        g.kind(n) == NodeKind::Object
            && g.edge_indices(n)
                .any(|e| g.edge_kind(e) == EdgeKind::Context && g.edge_target(e) == target)
            && is_module_context(g, a, n)
    })?;
    context_file(g, scripts, &[], 0, ctx)
}

/// Whether a node is the global object (a user root).
fn is_global(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> bool {
    a.distance[n.idx()] == 1 && g.kind(n) == NodeKind::Object
}

/// A named function (or class) whose properties are statics.
fn named_function(g: &HeapGraph, n: NodeIdx) -> Option<&str> {
    if g.kind(n) != NodeKind::Closure {
        return None;
    }
    let name = g.name(n);
    (!name.is_empty() && name != "native_bind").then_some(name)
}

/// The file a `Module` object was loaded from (its `filename` or `id`).
fn module_filename(g: &HeapGraph, a: &Analysis, n: NodeIdx) -> Option<String> {
    if a.class_name(g, n) != "Module" {
        return None;
    }
    ["filename", "id"]
        .iter()
        .filter_map(|k| edge_to(g, n, k))
        .find(|&s| g.kind(s).is_string())
        .map(|s| g.name(s).to_owned())
}

/// Whether a property name is written `.name` in code (private `#names` too).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$' || c == '#')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `.name`, `["some key"]`, `[kEvents]` for a property name.
pub fn property_access(name: &str) -> String {
    if let Some(sym) = name
        .strip_prefix("<symbol ")
        .and_then(|s| s.strip_suffix('>'))
    {
        return format!("[{sym}]");
    }
    if is_identifier(name) {
        format!(".{name}")
    } else {
        format!("[{:?}]", truncate(name, 40))
    }
}

/// A short literal for a Map key: `"k12"`, `42`, `<Session>`.
fn key_literal(g: &HeapGraph, a: &Analysis, key: NodeIdx) -> String {
    let kind = g.kind(key);
    if kind.is_string() {
        let text = g.name(key);
        // A concatenated or sliced string has no text of its own in a snapshot.
        if text.starts_with('(') && text.ends_with(" string)") {
            "…".to_owned()
        } else {
            format!("{:?}", truncate(text, 40))
        }
    } else if kind == NodeKind::Number || a.class_name(g, key) == "system / HeapNumber" {
        g.name(key).to_owned()
    } else {
        format!("<{}>", truncate(a.class_name(g, key), 30))
    }
}

/// The key stored before a value in a Map's hash table (entries are laid out
/// as key, value, chain): `index` is the value's slot.
fn map_key(g: &HeapGraph, table: NodeIdx, index: &str) -> Option<NodeIdx> {
    let i: u64 = index.parse().ok()?;
    let key_slot = (i.checked_sub(1)?).to_string();
    g.edge_indices(table)
        .find(|&e| {
            matches!(g.edge_kind(e), EdgeKind::Internal | EdgeKind::Element)
                && g.edge_name(e) == key_slot
        })
        .map(|e| g.edge_target(e))
}

/// How the code reaches `path[i].to` from `path[i].from`.
fn access(g: &HeapGraph, a: &Analysis, path: &[PathStep], i: usize) -> String {
    let s = path[i];
    let e = s.edge;
    let name = g.edge_name(e);
    match g.edge_kind(e) {
        EdgeKind::Property | EdgeKind::Shortcut => property_access(&name),
        EdgeKind::Element => format!("[{name}]"),
        EdgeKind::Context => format!("captures {name}"),
        EdgeKind::Weak => String::new(),
        EdgeKind::Hidden | EdgeKind::Internal | EdgeKind::Other => {
            // An entry of a Map or Set: the step before reached the hash table.
            let owner = (i > 0 && path[i - 1].to == s.from)
                .then(|| path[i - 1])
                .filter(|p| g.edge_name_str(p.edge) == Some("table"))
                .map(|p| a.class_name(g, p.from));
            match owner {
                Some("Map") => map_key(g, s.from, &name).map_or_else(
                    || ".get(…)".to_owned(),
                    |k| format!(".get({})", key_literal(g, a, k)),
                ),
                Some("Set") => "(member)".to_owned(),
                Some("WeakMap") | Some("WeakSet") => "(entry)".to_owned(),
                _ if name.contains(" / part of key ") => "(WeakMap value)".to_owned(),
                _ => match name.as_ref() {
                    "bound_this" => "(bound this)".to_owned(),
                    "bound_function" => "(bound function)".to_owned(),
                    n if n.starts_with("bound_argument") => "(bound argument)".to_owned(),
                    _ => String::new(),
                },
            }
        }
    }
}

/// Whether the object `path[i]` leaves is held by a module variable (the
/// step before it). Such a variable names a function the way its user's
/// code does (`inventory.interceptors`, not the name axios gave the
/// function it returns, `wrap`), so it is the anchor rather than the
/// function's own name.
fn held_by_module_variable(g: &HeapGraph, a: &Analysis, path: &[PathStep], i: usize) -> bool {
    i.checked_sub(1).map(|j| path[j]).is_some_and(|prev| {
        g.edge_kind(prev.edge) == EdgeKind::Context && is_module_context(g, a, prev.from)
    })
}

/// Whether `path[i].from` is a meaningful anchor; returns it.
fn anchor_at(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    path: &[PathStep],
    i: usize,
) -> Option<Anchor> {
    let s = path[i];
    let kind = g.edge_kind(s.edge);
    let name = g.edge_name(s.edge);
    if kind == EdgeKind::Context && is_module_context(g, a, s.from) {
        return Some(Anchor {
            kind: AnchorKind::ModuleVariable,
            name: name.into_owned(),
            file: context_file(g, scripts, path, i, s.from),
            step: i + 1,
            node: s.from,
        });
    }
    if !matches!(kind, EdgeKind::Property | EdgeKind::Shortcut) {
        return None;
    }
    if is_global(g, a, s.from) {
        return Some(Anchor {
            kind: AnchorKind::Global,
            name: format!("globalThis{}", property_access(&name)),
            file: None,
            step: i + 1,
            node: s.from,
        });
    }
    if name == "exports"
        && let Some(file) = module_filename(g, a, s.from)
    {
        return Some(Anchor {
            kind: AnchorKind::ModuleExports,
            name: "module.exports".to_owned(),
            file: Some(file),
            step: i + 1,
            node: s.from,
        });
    }
    let fname = named_function(g, s.from)?;
    if matches!(name.as_ref(), "prototype" | "__proto__" | "constructor") {
        return None;
    }
    if held_by_module_variable(g, a, path, i) {
        return None;
    }
    Some(Anchor {
        kind: AnchorKind::Static,
        name: fname.to_owned(),
        file: scripts.of(g, s.from),
        step: i,
        node: s.from,
    })
}

/// The readable path of `path` (a full GC-root path, root side first): it
/// starts at the meaningful anchor nearest the leak, looked for first at or
/// above `limit` (the step that leaves the object holding the leak), then
/// anywhere on the path; without one it starts at the path's root.
pub fn readable(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    path: &[PathStep],
    limit: Option<usize>,
) -> Readable {
    let upto = limit.map_or(path.len(), |l| (l + 1).min(path.len()));
    let anchor = (0..upto)
        .rev()
        .find_map(|i| anchor_at(g, a, scripts, path, i))
        .or_else(|| {
            (upto..path.len())
                .rev()
                .find_map(|i| anchor_at(g, a, scripts, path, i))
        })
        .unwrap_or_else(|| {
            let node = path.first().map_or(g.root(), |s| s.from);
            Anchor {
                kind: AnchorKind::GcRoot,
                name: a.class_name(g, node).to_owned(),
                file: None,
                step: 0,
                node,
            }
        });
    let hops = (anchor.step..path.len())
        .map(|i| Hop {
            access: access(g, a, path, i),
            class: a.class_name(g, path[i].to).to_owned(),
            node: path[i].to,
            step: i,
        })
        .collect();
    Readable { anchor, hops }
}

/// Names the object reached by `path[..=step_into]` (the step into it) the
/// way code would: walking back a few steps to a variable, a global, a named
/// function's static or a module's exports (`configBus._events.reload`,
/// `createDebug.instances`). An object with a specific class met on the way
/// names it instead (`SessionCache.data`) unless a variable holds that
/// object within two more named steps (`shutdown.signal[kEvents]`).
pub fn holder_name(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    path: &[PathStep],
    step_into: usize,
) -> HolderName {
    name_at(g, a, scripts, path, step_into, 0)
}

/// The WeakMap a `part of key … -> value … pair in WeakMap (table @id)` step
/// belongs to, named by its own retainer path: `listenersMap.get(<AbortSignal>)`.
fn weakmap_owner(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    s: PathStep,
) -> Option<HolderName> {
    let name = g.edge_name_str(s.edge)?;
    let table_id: u32 = name
        .rsplit_once("in WeakMap (table @")?
        .1
        .strip_suffix(')')?
        .parse()
        .ok()?;
    let table = g.nodes().find(|&n| g.id(n) == table_id)?;
    let weakmap = g.nodes().find(|&n| {
        g.kind(n) == NodeKind::Object
            && g.edge_indices(n)
                .any(|e| g.edge_name_str(e) == Some("table") && g.edge_target(e) == table)
    })?;
    let path = analysis::retainer_path(g, a, weakmap, 10_000);
    let last = path.len().checked_sub(1)?;
    let owner = name_at(g, a, scripts, &path, last, 1);
    Some(HolderName {
        name: format!(
            "{}.get(<{}>)",
            owner.name,
            truncate(a.class_name(g, s.from), 30)
        ),
        file: owner.file,
    })
}

fn name_at(
    g: &HeapGraph,
    a: &Analysis,
    scripts: &Scripts,
    path: &[PathStep],
    step_into: usize,
    depth: u32,
) -> HolderName {
    const MAX_ACCESSES: usize = 6;
    let mut accesses: Vec<String> = Vec::new();
    let mut by_class: Option<(HolderName, usize)> = None;
    let join = |base: &str, acc: &[String]| {
        let mut s = base.to_owned();
        for x in acc.iter().rev() {
            s.push_str(x);
        }
        s
    };
    let mut i = step_into + 1;
    while i > 0 && accesses.len() <= MAX_ACCESSES {
        i -= 1;
        if let Some(anchor) = anchor_at(g, a, scripts, path, i) {
            let mut acc = accesses.clone();
            if anchor.kind == AnchorKind::Static {
                acc.push(access(g, a, path, i));
            }
            // A global has no file; a module that keeps it in a variable too
            // (`const trail = globalThis.__auditTrail`) says where it is used.
            let file = anchor
                .file
                .or_else(|| module_alias_file(g, a, scripts, path[i].to));
            return HolderName {
                name: join(&anchor.name, &acc),
                file,
            };
        }
        if depth == 0
            && let Some(owner) = weakmap_owner(g, a, scripts, path[i])
        {
            // `listenersMap.get(<AbortSignal>)`: the WeakMap named by its own path.
            return HolderName {
                name: join(&owner.name, &accesses),
                file: owner.file,
            };
        }
        if g.edge_kind(path[i].edge) == EdgeKind::Context {
            // A variable of a function's scope, captured by a closure.
            let var = g.edge_name(path[i].edge).into_owned();
            return HolderName {
                name: join(&var, &accesses),
                file: context_file(g, scripts, path, i, path[i].from),
            };
        }
        let text = access(g, a, path, i);
        let named = !text.is_empty() && !text.starts_with('(');
        if named
            && named_function(g, path[i].from).is_some()
            && held_by_module_variable(g, a, path, i)
        {
            // A function's static, the variable holding the function next.
            accesses.push(text);
            continue;
        }
        if let Some((found, budget)) = &mut by_class {
            // Past an object with a class, only a variable a couple of named
            // steps away may still name the holder.
            if !named || *budget == 0 {
                return found.clone();
            }
            *budget -= 1;
        }
        let from = path[i].from;
        let class = a.class_name(g, from);
        if by_class.is_none() && named && !is_generic_class(class) {
            let mut acc = accesses.clone();
            acc.push(text.clone());
            by_class = Some((
                HolderName {
                    name: join(class, &acc),
                    file: scripts.of(g, from),
                },
                2,
            ));
        }
        if named {
            accesses.push(text);
        } else if !text.is_empty() {
            // `(WeakMap value)`, `(bound this)`: said, so the name does not
            // pretend the holder is the variable's own property.
            accesses.push(format!(" {text}"));
        }
    }
    by_class.map(|(n, _)| n).unwrap_or_else(|| {
        let n = path.get(step_into).map_or(g.root(), |s| s.to);
        HolderName {
            name: a.class_name(g, n).to_owned(),
            file: scripts.of(g, n),
        }
    })
}
