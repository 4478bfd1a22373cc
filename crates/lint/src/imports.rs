//! The cross-module half of unbounded-collection: code that runs per request
//! calls a function imported from a relative module (`require('./lib/x')`,
//! `import { f } from './lib/x'`) that adds to a module-level collection
//! there, which only other exported functions of that module remove from,
//! and nothing in the package mentions any of those functions.
//!
//! Two steps, so that a module that is linted too is parsed once: `pending`
//! notes the calls while the file is linted, `finish` judges them once every
//! linted file has told the project what it exports.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use oxc::ast::AstKind;
use oxc::ast::ast::{
    BindingPattern, CallExpression, Comment, Expression, ImportDeclaration,
    ImportDeclarationSpecifier, VariableDeclarator,
};
use oxc::semantic::SymbolId;

use crate::checks::Checker;
use crate::modules::{Module, resolve};
use crate::project::{Project, mentions};
use crate::rules::{Rule, Severity};
use crate::scope::arg_expr;
use crate::suppress::Suppressions;
use crate::{Config, FileResult, Finding, LineIndex};

/// A binding of the linted file that comes from a relative module.
struct Import {
    specifier: String,
    /// The exported name (`openSession`), or `None` for the whole module
    /// (`const s = require('./x')`, `import * as s from './x'`).
    name: Option<String>,
}

/// A linted file's calls to functions of relative modules, in code that runs
/// repeatedly, waiting to be judged.
#[derive(Debug)]
pub struct Pending {
    /// Where the file is (`project::normal`).
    importer: PathBuf,
    /// Its comments, to tell a call from a "forgot to call x()" comment.
    comments: Vec<(u32, u32)>,
    /// Its text without them, when linted from memory (else read when needed).
    code: Option<Vec<u8>>,
    calls: Vec<Call>,
}

impl Pending {
    /// Keeps the text the file was linted from (`lint_source`).
    pub fn keep_text(&mut self, text: &str) {
        self.code = Some(without_comments(text.as_bytes().to_vec(), &self.comments));
    }
}

#[derive(Debug)]
struct Call {
    specifier: String,
    name: String,
    start: (u32, u32),
    end: (u32, u32),
    /// "on every call of handle()".
    every_call: String,
    suppressed: bool,
}

/// Notes the file's calls to functions of relative modules.
pub fn pending(
    c: &Checker,
    comments: &[Comment],
    importer: PathBuf,
    lines: &LineIndex,
    sup: &Suppressions,
) -> Option<Pending> {
    let imports = relative_imports(c);
    if imports.is_empty() {
        return None;
    }
    let mut calls = Vec::new();
    for node in c.fs.nodes().iter() {
        let AstKind::CallExpression(call) = node.kind() else {
            continue;
        };
        let Some((import, name)) = imported_callee(c, &imports, call) else {
            continue;
        };
        if !c.fs.runs_at(node.id()).repeated {
            continue;
        }
        let start = lines.position(call.span.start);
        calls.push(Call {
            specifier: import.specifier.clone(),
            name: name.to_owned(),
            start,
            end: lines.position(call.span.end),
            every_call: c.every_call(node.id()),
            suppressed: sup.covers(Rule::UnboundedCollection, start.0),
        });
    }
    let comments = comments
        .iter()
        .map(|c| (c.span.start, c.span.end))
        .collect();
    (!calls.is_empty()).then_some(Pending {
        importer,
        comments,
        code: None,
        calls,
    })
}

/// Judges a file's pending calls: one finding per store whose adder it calls
/// and whose removers nothing calls.
pub fn finish(r: &mut FileResult, path: &str, config: &Config, project: &Project) {
    let Some(mut p) = r.pending.take() else {
        return;
    };
    let code = p.code.take();
    let severity = config.severity(Rule::UnboundedCollection);
    if severity == Severity::Off {
        return;
    }
    let mut importer = Importer {
        pending: &p,
        project,
        code,
        modules: HashMap::new(),
    };
    let mut seen = HashSet::new();
    for call in &p.calls {
        let Some(found) = importer.adder_call(call) else {
            continue;
        };
        if !seen.insert((found.module.path.clone(), found.store)) {
            continue;
        }
        if call.suppressed {
            r.suppressed += 1;
            continue;
        }
        r.findings.push(Finding {
            path: path.to_owned(),
            line: call.start.0,
            column: call.start.1,
            end_line: call.end.0,
            end_column: call.end.1,
            rule: Rule::UnboundedCollection,
            severity,
            message: found.message(call),
        });
    }
    r.findings.sort_by_key(|f| (f.line, f.column, f.rule));
}

/// A pending file being judged: its text outside comments (read when first
/// needed) and the modules it imports (looked up once per specifier).
struct Importer<'p> {
    pending: &'p Pending,
    project: &'p Project,
    code: Option<Vec<u8>>,
    modules: HashMap<String, Option<(Arc<Module>, String)>>,
}

/// A call to an adder of a store whose removers nothing calls.
struct Found {
    module: Arc<Module>,
    store: usize,
    display: String,
}

impl Importer<'_> {
    fn adder_call(&mut self, call: &Call) -> Option<Found> {
        let (module, display) = self.module(&call.specifier)?;
        let store = module
            .stores
            .iter()
            .position(|s| s.adders.contains(&call.name))?;
        let here = self.pending.importer.as_path();
        let mut roots = vec![self.project.package_root(here)];
        roots.push(self.project.package_root(&module.path));
        roots.dedup();
        let except = [here, module.path.as_path()];
        let project = self.project;
        for r in &module.stores[store].removers {
            let elsewhere = |root: &PathBuf| project.mentioned_elsewhere(root, r, &except);
            if self.mentions(r) || roots.iter().any(elsewhere) {
                return None;
            }
        }
        Some(Found {
            module,
            store,
            display,
        })
    }

    /// The module a specifier names, with its stores, and its name for messages.
    fn module(&mut self, spec: &str) -> Option<(Arc<Module>, String)> {
        if let Some(m) = self.modules.get(spec) {
            return m.clone();
        }
        let here = &self.pending.importer;
        let found = resolve(here.parent()?, spec).and_then(|r| {
            let module = self.project.module(&r.path)?;
            (module.path != *here).then_some((module, r.display))
        });
        self.modules.insert(spec.to_owned(), found.clone());
        found
    }

    /// Does the file name `name` outside comments? (Unreadable now: yes.)
    fn mentions(&mut self, name: &str) -> bool {
        if self.code.is_none() {
            self.code = std::fs::read(&self.pending.importer)
                .ok()
                .map(|text| without_comments(text, &self.pending.comments));
        }
        self.code.as_ref().is_none_or(|code| mentions(code, name))
    }
}

impl Found {
    fn message(&self, call: &Call) -> String {
        let s = &self.module.stores[self.store];
        let removers: Vec<String> = s.removers.iter().map(|r| format!("{r}()")).collect();
        let (which, verb) = match removers.len() {
            1 => ("", "removes"),
            _ => ("any of ", "remove"),
        };
        format!(
            "{}() adds to {} `{}` in {} {}, and nothing in this package calls {which}{}, which {verb} from it (runtime pattern: unbounded_collection)",
            call.name,
            s.noun,
            s.collection,
            self.display,
            call.every_call,
            removers.join(", "),
        )
    }
}

/// The import a call goes to and the exported name it calls: `f(…)` of an
/// imported `f`, or `m.f(…)` of an imported module `m`.
fn imported_callee<'i>(
    c: &Checker,
    imports: &'i HashMap<SymbolId, Import>,
    call: &'i CallExpression,
) -> Option<(&'i Import, &'i str)> {
    match call.callee.get_inner_expression() {
        Expression::Identifier(i) => {
            let import = imports.get(&c.fs.symbol_of(i)?)?;
            Some((import, import.name.as_deref()?))
        }
        Expression::StaticMemberExpression(m) => {
            let Expression::Identifier(i) = m.object.get_inner_expression() else {
                return None;
            };
            let import = imports.get(&c.fs.symbol_of(i)?)?;
            import
                .name
                .is_none()
                .then_some((import, m.property.name.as_str()))
        }
        _ => None,
    }
}

/// Every binding of the file that comes from a relative module.
fn relative_imports(c: &Checker) -> HashMap<SymbolId, Import> {
    let mut out = HashMap::new();
    for node in c.fs.nodes().iter() {
        match node.kind() {
            AstKind::ImportDeclaration(d) => esm_imports(d, &mut out),
            AstKind::VariableDeclarator(d) => require_imports(c, d, &mut out),
            _ => {}
        }
    }
    out
}

/// `import { a, b as c } from './x'`, `import * as m from './x'`.
fn esm_imports(d: &ImportDeclaration, out: &mut HashMap<SymbolId, Import>) {
    let spec = d.source.value.as_str();
    if !is_relative(spec) || d.import_kind.is_type() {
        return;
    }
    for s in d.specifiers.iter().flatten() {
        let (local, name) = match s {
            ImportDeclarationSpecifier::ImportSpecifier(s) if s.import_kind.is_value() => {
                (&s.local, Some(s.imported.name().to_string()))
            }
            ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => (&s.local, None),
            _ => continue,
        };
        if let Some(sym) = local.symbol_id.get() {
            let specifier = spec.to_owned();
            out.insert(sym, Import { specifier, name });
        }
    }
}

/// `const { a, b: c } = require('./x')`, `const m = require('./x')`,
/// `const a = require('./x').a`.
fn require_imports(c: &Checker, d: &VariableDeclarator, out: &mut HashMap<SymbolId, Import>) {
    let Some(init) = d.init.as_ref().map(|e| e.get_inner_expression()) else {
        return;
    };
    let mut add = |sym: Option<SymbolId>, spec: &str, name: Option<String>| {
        if let Some(sym) = sym {
            let specifier = spec.to_owned();
            out.insert(sym, Import { specifier, name });
        }
    };
    if let Expression::StaticMemberExpression(m) = init
        && let Some(spec) = required(c, &m.object)
        && let Some(b) = d.id.get_binding_identifier()
    {
        return add(b.symbol_id.get(), spec, Some(m.property.name.to_string()));
    }
    let Some(spec) = required(c, init) else {
        return;
    };
    match &d.id {
        BindingPattern::BindingIdentifier(b) => add(b.symbol_id.get(), spec, None),
        BindingPattern::ObjectPattern(o) => {
            for p in o.properties.iter().filter(|p| !p.computed) {
                if let (Some(key), BindingPattern::BindingIdentifier(b)) =
                    (p.key.static_name(), &p.value)
                {
                    add(b.symbol_id.get(), spec, Some(key.to_string()));
                }
            }
        }
        _ => {}
    }
}

/// The specifier of `require('./x')` (a relative one, `require` not a local binding).
fn required<'e>(c: &Checker, e: &'e Expression) -> Option<&'e str> {
    let Expression::CallExpression(call) = e.get_inner_expression() else {
        return None;
    };
    let Expression::Identifier(callee) = call.callee.get_inner_expression() else {
        return None;
    };
    if callee.name != "require" || c.fs.symbol_of(callee).is_some() || call.arguments.len() != 1 {
        return None;
    }
    match arg_expr(&call.arguments, 0)? {
        Expression::StringLiteral(s) if is_relative(&s.value) => Some(s.value.as_str()),
        _ => None,
    }
}

fn is_relative(spec: &str) -> bool {
    spec.starts_with("./") || spec.starts_with("../")
}

/// The text with every comment blanked out.
fn without_comments(mut text: Vec<u8>, comments: &[(u32, u32)]) -> Vec<u8> {
    for &(start, end) in comments {
        let end = (end as usize).min(text.len());
        if let Some(range) = text.get_mut(start as usize..end) {
            range.fill(b' ');
        }
    }
    text
}
