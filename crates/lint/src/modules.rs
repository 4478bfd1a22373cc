//! What a relative module offers the files that import it, for the
//! cross-module half of unbounded-collection: a *store* is a module-level
//! collection that exported functions add to (adders) and only other exported
//! functions remove from (removers). A module that bounds a collection itself
//! (a size check, a sweep, a remover called from inside the module) has no
//! store for it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use oxc::allocator::Allocator;
use oxc::ast::AstKind;
use oxc::ast::ast::{
    AssignmentExpression, AssignmentTarget, Declaration, ExportDeclaration, Expression,
    IdentifierReference, ModuleExportName, ObjectPropertyKind, StaticMemberExpression,
    VariableDeclarator,
};
use oxc::semantic::{NodeId, SemanticBuilder, SymbolId};

use crate::FileError;
use crate::checks::{Checker, Use, collection_kind};
use crate::scope::FileScope;

/// A module-level collection of a module, with the exported functions that
/// add to it and those that remove from it (both by exported name).
#[derive(Debug)]
pub struct Store {
    pub collection: String,
    pub noun: &'static str,
    pub adders: Vec<String>,
    pub removers: Vec<String>,
}

#[derive(Debug)]
pub struct Module {
    /// As `project::normal` spells it.
    pub path: PathBuf,
    pub stores: Vec<Store>,
}

/// A relative import resolved to a file: its path and how to name it to a
/// reader of the importing file (`lib/sessions.js`).
pub struct Resolved {
    pub path: PathBuf,
    pub display: String,
}

/// The suffixes Node (and TypeScript's resolver) try after a relative specifier.
const SUFFIXES: [&str; 7] = ["", ".js", ".cjs", ".mjs", ".ts", "/index.js", "/index.ts"];

/// `./lib/sessions` from `dir`: the file it names, if there is one.
pub fn resolve(dir: &Path, spec: &str) -> Option<Resolved> {
    let named = spec.strip_suffix(".js").map(|s| format!("{s}.ts"));
    let tries = SUFFIXES.iter().map(|s| format!("{spec}{s}")).chain(named); // TypeScript's ESM imports name a .ts file's .js output
    for candidate in tries {
        let path = dir.join(&candidate);
        if path.is_file() && crate::walk::is_source(&path) {
            let path = crate::project::normal(&path);
            let display = candidate.trim_start_matches("./").to_owned();
            return Some(Resolved { path, display });
        }
    }
    None
}

/// Reads and parses a module (`path` from `project::normal`) and finds its stores.
pub fn read_module(path: &Path) -> Result<Module, FileError> {
    let display = path.display().to_string();
    let source = crate::read_source(path, &display)?;
    let allocator = Allocator::default();
    let parsed = crate::parse(&allocator, &display, &source);
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return Err(crate::file_error(&display, "cannot parse"));
    }
    let semantic = SemanticBuilder::new()
        .with_build_nodes(true)
        .build(&parsed.program)
        .semantic;
    let checker = Checker::new(FileScope::new(&semantic), &source);
    Ok(Module {
        path: path.to_owned(),
        stores: stores(&checker),
    })
}

/// The stores of a parsed module.
pub fn stores(c: &Checker) -> Vec<Store> {
    let ex = Exports::find(&c.fs);
    if ex.fns.is_empty() {
        return Vec::new();
    }
    c.fs.nodes()
        .iter()
        .filter_map(|n| match n.kind() {
            AstKind::VariableDeclarator(d) => store(c, &ex, d),
            _ => None,
        })
        .collect()
}

/// The store a declarator makes, if it is a module-level collection that
/// exported functions add to and only other exported functions remove from.
fn store(c: &Checker, ex: &Exports, decl: &VariableDeclarator) -> Option<Store> {
    let kind = decl.init.as_ref().and_then(collection_kind)?;
    let sym = decl.id.get_binding_identifier()?.symbol_id.get()?;
    if !c.fs.is_module_level(sym) {
        return None;
    }
    let (mut adders, mut removers) = (BTreeSet::new(), BTreeSet::new());
    for r in c.fs.scoping().get_resolved_references(sym) {
        if r.is_write() {
            return None; // reset somewhere in the module
        }
        match c.collection_use(r.node_id(), kind) {
            Use::Add(node, _, _) => adders.extend(c.fs.enclosing_function(node)),
            Use::Bound => match c.fs.enclosing_function(r.node_id()) {
                Some(f) if ex.fns.contains_key(&f) => {
                    removers.insert(f);
                }
                _ => return None, // the module bounds it itself
            },
            Use::Escape => return None,
            Use::Read => {}
        }
    }
    adders.retain(|f| ex.fns.contains_key(f));
    if adders.is_empty() || removers.is_empty() || !adders.is_disjoint(&removers) {
        return None;
    }
    if removers.iter().any(|f| ex.used_inside(&c.fs, *f)) {
        return None;
    }
    Some(Store {
        collection: c.fs.scoping().symbol_name(sym).to_owned(),
        noun: kind.noun(),
        adders: ex.names(&adders),
        removers: ex.names(&removers),
    })
}

/// A module's exported functions (only those bound to a local name:
/// `module.exports = { a, b: c }`, `exports.a = a`, `export function a`,
/// `export const a = () => …`, `export { a }`).
struct Exports {
    /// Function node → its symbol and exported names.
    fns: HashMap<NodeId, (SymbolId, Vec<String>)>,
    /// Nodes that only export (`a` in `module.exports = { a }`, `exports.a` in `exports.a = a`).
    sites: HashSet<NodeId>,
}

impl Exports {
    fn find(fs: &FileScope) -> Exports {
        let mut ex = Exports {
            fns: HashMap::new(),
            sites: HashSet::new(),
        };
        for node in fs.nodes().iter() {
            match node.kind() {
                AstKind::AssignmentExpression(a) => ex.commonjs(fs, a),
                AstKind::ExportNamedDeclaration(d) => {
                    for s in &d.specifiers {
                        if let ModuleExportName::IdentifierReference(i) = &s.local {
                            ex.add_reference(fs, i, s.exported.name().as_str());
                        }
                    }
                }
                AstKind::ExportDeclaration(d) => ex.esm_declaration(fs, d),
                _ => {}
            }
        }
        ex
    }

    /// `module.exports = { a, b: c }`, `exports.a = a`, `module.exports.a = a`.
    fn commonjs(&mut self, fs: &FileScope, a: &AssignmentExpression) {
        let AssignmentTarget::StaticMemberExpression(left) = &a.left else {
            return;
        };
        if is_module_exports(fs, left) {
            let Expression::ObjectExpression(o) = a.right.get_inner_expression() else {
                return;
            };
            for p in &o.properties {
                if let ObjectPropertyKind::ObjectProperty(p) = p
                    && !p.computed
                    && let (Some(key), Expression::Identifier(i)) =
                        (p.key.static_name(), p.value.get_inner_expression())
                {
                    self.add_reference(fs, i, &key);
                }
            }
        } else if is_exports_object(fs, &left.object)
            && let Expression::Identifier(i) = a.right.get_inner_expression()
        {
            self.sites.insert(left.node_id.get());
            self.add_reference(fs, i, left.property.name.as_str());
        }
    }

    fn esm_declaration(&mut self, fs: &FileScope, d: &ExportDeclaration) {
        match &d.declaration {
            Declaration::FunctionDeclaration(f) => {
                if let Some(id) = &f.id
                    && let Some(sym) = id.symbol_id.get()
                {
                    self.add_symbol(fs, sym, id.name.as_str());
                }
            }
            Declaration::VariableDeclaration(v) => {
                for d in &v.declarations {
                    if let Some(b) = d.id.get_binding_identifier()
                        && let Some(sym) = b.symbol_id.get()
                    {
                        self.add_symbol(fs, sym, b.name.as_str());
                    }
                }
            }
            _ => {}
        }
    }

    fn add_reference(&mut self, fs: &FileScope, i: &IdentifierReference, name: &str) {
        self.sites.insert(i.node_id.get());
        if let Some(sym) = fs.symbol_of(i) {
            self.add_symbol(fs, sym, name);
        }
    }

    fn add_symbol(&mut self, fs: &FileScope, sym: SymbolId, name: &str) {
        if let Some(f) = function_of(fs, sym) {
            let entry = self.fns.entry(f).or_insert((sym, Vec::new()));
            entry.1.push(name.to_owned());
        }
    }

    fn names(&self, fns: &BTreeSet<NodeId>) -> Vec<String> {
        let mut names: Vec<String> = fns.iter().flat_map(|f| self.fns[f].1.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Does the module use an exported function itself (a call, a callback,
    /// `exports.name(…)`, `this.name`)? Then its removal may run without the importer.
    fn used_inside(&self, fs: &FileScope, f: NodeId) -> bool {
        let (sym, names) = &self.fns[&f];
        let by_symbol = fs
            .scoping()
            .get_resolved_references(*sym)
            .any(|r| !self.sites.contains(&r.node_id()));
        by_symbol
            || fs.nodes().iter().any(|n| match n.kind() {
                AstKind::StaticMemberExpression(m) => {
                    names.iter().any(|x| m.property.name == x.as_str())
                        && !self.sites.contains(&n.id())
                }
                _ => false,
            })
    }
}

/// The function a symbol names: a function declaration, or a `const` bound
/// to a function or arrow expression.
fn function_of(fs: &FileScope, sym: SymbolId) -> Option<NodeId> {
    if fs.scoping().symbol_is_mutated(sym) {
        return None;
    }
    let decl = fs.scoping().symbol_declaration(sym);
    match fs.nodes().kind(decl) {
        AstKind::Function(_) => Some(decl),
        AstKind::VariableDeclarator(d) => match d.init.as_ref()?.get_inner_expression() {
            Expression::FunctionExpression(f) => Some(f.node_id.get()),
            Expression::ArrowFunctionExpression(f) => Some(f.node_id.get()),
            _ => None,
        },
        _ => None,
    }
}

/// `module.exports`, with `module` not a local binding.
fn is_module_exports(fs: &FileScope, m: &StaticMemberExpression) -> bool {
    m.property.name == "exports"
        && matches!(&m.object, Expression::Identifier(i) if i.name == "module" && fs.symbol_of(i).is_none())
}

/// `exports` (not a local binding) or `module.exports`.
fn is_exports_object(fs: &FileScope, e: &Expression) -> bool {
    match e.get_inner_expression() {
        Expression::Identifier(i) => i.name == "exports" && fs.symbol_of(i).is_none(),
        Expression::StaticMemberExpression(m) => is_module_exports(fs, m),
        _ => false,
    }
}
