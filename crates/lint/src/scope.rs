//! What runs how often: the per-file facts every rule shares (is this code
//! run once at start-up, or per request / per call?), from oxc's semantic
//! model (scopes, symbols, references, parent links).

use std::cell::RefCell;
use std::collections::HashMap;

use oxc::ast::AstKind;
use oxc::ast::ast::{
    Argument, BindingPattern, CallExpression, Expression, FormalParameters, IdentifierReference,
};
use oxc::semantic::{AstNodes, NodeId, Scoping, Semantic, SymbolId};

/// How often a function's body runs, as far as the file shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runs {
    /// More than once over the life of the process (per call, event, request, instance).
    pub repeated: bool,
    /// Per request, connection, message or job (a handler, or a request-like parameter).
    pub per_request: bool,
}

const ONCE: Runs = Runs {
    repeated: false,
    per_request: false,
};
const ALWAYS: Runs = Runs {
    repeated: true,
    per_request: false,
};

/// Callees whose callback runs once per event, request or tick.
const HANDLER_CALLEES: &[&str] = &[
    "on",
    "addListener",
    "addEventListener",
    "prependListener",
    "setInterval",
    "createServer",
    "use",
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "all",
    "head",
    "options",
    "route",
    "handle",
    "addHook",
    "hook",
    "subscribe",
    "middleware",
    "handler",
    "process",
];

/// Callees that call their callback at most once per call of the caller (or
/// synchronously over a known collection): the callback runs as often as the caller.
const INHERIT_CALLEES: &[&str] = &[
    "once",
    "prependOnceListener",
    "setTimeout",
    "setImmediate",
    "nextTick",
    "queueMicrotask",
    "then",
    "catch",
    "finally",
    "Promise",
    "forEach",
    "map",
    "filter",
    "reduce",
    "reduceRight",
    "some",
    "every",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "flatMap",
    "sort",
    "listen",
    "close",
    "end",
    "call",
    "apply",
    "bind",
    "run",
    "nextTick",
    "from",
    "describe",
    "it",
    "test",
];

/// First-parameter names that mark a per-request function.
const REQUEST_PARAMS: &[&str] = &[
    "req",
    "request",
    "res",
    "response",
    "reply",
    "ctx",
    "socket",
    "ws",
    "conn",
    "connection",
    "job",
    "msg",
    "message",
];

pub struct FileScope<'s, 'a> {
    pub semantic: &'s Semantic<'a>,
    memo: RefCell<HashMap<NodeId, Runs>>,
    sym_memo: RefCell<HashMap<SymbolId, Runs>>,
}

impl<'s, 'a> FileScope<'s, 'a> {
    pub fn new(semantic: &'s Semantic<'a>) -> Self {
        FileScope {
            semantic,
            memo: RefCell::default(),
            sym_memo: RefCell::default(),
        }
    }

    pub fn nodes(&self) -> &'s AstNodes<'a> {
        self.semantic.nodes()
    }

    pub fn scoping(&self) -> &'s Scoping {
        self.semantic.scoping()
    }

    /// The innermost function (declaration, expression or arrow) around a node.
    pub fn enclosing_function(&self, node: NodeId) -> Option<NodeId> {
        self.nodes()
            .ancestor_ids(node)
            .find(|&id| is_function(self.nodes().kind(id)))
    }

    /// How often the code at `node` runs.
    pub fn runs_at(&self, node: NodeId) -> Runs {
        match self.enclosing_function(node) {
            Some(f) => self.runs_fn(f),
            None => ONCE,
        }
    }

    /// How often a function's body runs (memoised; a cycle counts as "once").
    pub fn runs_fn(&self, f: NodeId) -> Runs {
        if let Some(r) = self.memo.borrow().get(&f) {
            return *r;
        }
        self.memo.borrow_mut().insert(f, ONCE);
        let mut r = self.role(f);
        if request_like(params_of(self.nodes().kind(f))) {
            r.per_request = true;
            r.repeated = true;
        }
        self.memo.borrow_mut().insert(f, r);
        r
    }

    fn role(&self, f: NodeId) -> Runs {
        let nodes = self.nodes();
        let (parent, child) = self.parent_skipping_parens(f);
        match nodes.kind(parent) {
            AstKind::CallExpression(call) => {
                if call.callee.get_inner_expression().span() == nodes.kind(child).span() {
                    return self.runs_at(parent); // IIFE
                }
                self.callback_runs(callee_name(&call.callee), parent, f)
            }
            AstKind::NewExpression(new) => self.callback_runs(callee_name(&new.callee), parent, f),
            AstKind::VariableDeclarator(decl) => match &decl.id {
                BindingPattern::BindingIdentifier(b) => match b.symbol_id.get() {
                    Some(sym) => self.runs_symbol(sym),
                    None => ALWAYS,
                },
                _ => ALWAYS,
            },
            AstKind::Program(_) | AstKind::ExpressionStatement(_) => self.function_declaration(f),
            AstKind::ExportNamedDeclaration(_) | AstKind::ExportDefaultDeclaration(_) => ALWAYS,
            AstKind::LogicalExpression(_) | AstKind::ConditionalExpression(_) => {
                self.runs_at(parent)
            }
            AstKind::MethodDefinition(m) if m.kind.is_constructor() => self.class_runs(parent),
            AstKind::FunctionBody(_) | AstKind::BlockStatement(_) => self.function_declaration(f),
            _ => self.function_declaration_or(f, ALWAYS),
        }
    }

    /// A constructor runs as often as its class is instantiated; a class that
    /// is exported, extended or passed around may be instantiated any number of times.
    fn class_runs(&self, method: NodeId) -> Runs {
        let nodes = self.nodes();
        let class = nodes
            .ancestor_ids(method)
            .find_map(|a| match nodes.kind(a) {
                AstKind::Class(c) => Some(c),
                _ => None,
            });
        let Some(sym) = class
            .and_then(|c| c.id.as_ref())
            .and_then(|i| i.symbol_id.get())
        else {
            return ALWAYS;
        };
        let mut acc = ONCE;
        for r in self.scoping().get_resolved_references(sym) {
            let p = self.parent(r.node_id());
            let run = match nodes.kind(p) {
                AstKind::NewExpression(n) if n.callee.span() == nodes.kind(r.node_id()).span() => {
                    self.runs_at(p)
                }
                _ => ALWAYS,
            };
            acc.repeated |= run.repeated;
            acc.per_request |= run.per_request;
        }
        acc
    }

    fn function_declaration(&self, f: NodeId) -> Runs {
        self.function_declaration_or(f, self.runs_at(f))
    }

    fn function_declaration_or(&self, f: NodeId, otherwise: Runs) -> Runs {
        if let AstKind::Function(func) = self.nodes().kind(f)
            && func.is_declaration()
            && let Some(sym) = func.id.as_ref().and_then(|id| id.symbol_id.get())
        {
            return self.runs_symbol(sym);
        }
        otherwise
    }

    /// A named function runs as often as the code that calls it; passed or
    /// stored anywhere else, it may run any number of times.
    pub fn runs_symbol(&self, sym: SymbolId) -> Runs {
        if let Some(r) = self.sym_memo.borrow().get(&sym) {
            return *r;
        }
        self.sym_memo.borrow_mut().insert(sym, ONCE);
        let mut acc = ONCE;
        for reference in self.scoping().get_resolved_references(sym) {
            let r = self.reference_runs(reference.node_id());
            acc.repeated |= r.repeated;
            acc.per_request |= r.per_request;
        }
        self.sym_memo.borrow_mut().insert(sym, acc);
        acc
    }

    fn reference_runs(&self, id_node: NodeId) -> Runs {
        let (parent, child) = self.parent_skipping_parens(id_node);
        match self.nodes().kind(parent) {
            AstKind::CallExpression(call) => {
                if call.callee.get_inner_expression().span() == self.nodes().kind(child).span() {
                    self.runs_at(parent)
                } else {
                    self.callback_runs(callee_name(&call.callee), parent, id_node)
                }
            }
            AstKind::NewExpression(new) => {
                self.callback_runs(callee_name(&new.callee), parent, id_node)
            }
            _ => ALWAYS,
        }
    }

    fn callback_runs(&self, callee: Option<&str>, call: NodeId, f: NodeId) -> Runs {
        let outer = self.runs_at(call);
        match callee {
            Some(name) if HANDLER_CALLEES.contains(&name) => Runs {
                repeated: true,
                per_request: true,
            },
            Some(name) if INHERIT_CALLEES.contains(&name) => outer,
            _ => {
                let params = params_of(self.nodes().kind(f));
                if request_like(params) {
                    Runs {
                        repeated: true,
                        per_request: true,
                    }
                } else if error_first(params) {
                    outer
                } else {
                    // A callback handed to a function this file cannot see is
                    // most often a handler (serve(fn), cron.schedule(…, fn)).
                    Runs {
                        repeated: true,
                        per_request: outer.per_request,
                    }
                }
            }
        }
    }

    fn parent_skipping_parens(&self, mut node: NodeId) -> (NodeId, NodeId) {
        loop {
            let parent = self.nodes().parent_id(node);
            match self.nodes().kind(parent) {
                AstKind::ParenthesizedExpression(_)
                | AstKind::TSAsExpression(_)
                | AstKind::TSSatisfiesExpression(_)
                | AstKind::TSNonNullExpression(_) => node = parent,
                _ => return (parent, node),
            }
        }
    }

    /// The parent of a node, looking through parentheses and TypeScript casts.
    pub fn parent(&self, node: NodeId) -> NodeId {
        self.parent_skipping_parens(node).0
    }

    /// The symbol an identifier reference resolves to.
    pub fn symbol_of(&self, id: &IdentifierReference) -> Option<SymbolId> {
        let r = id.reference_id.get()?;
        self.scoping().get_reference(r).symbol_id()
    }

    /// Is this binding as long-lived as the process: declared at module level,
    /// or in a function that runs once (its closures keep it)?
    pub fn long_lived_symbol(&self, sym: SymbolId) -> bool {
        let decl = self.scoping().symbol_declaration(sym);
        match self.enclosing_function(decl) {
            None => true,
            Some(f) => !self.runs_fn(f).repeated,
        }
    }

    pub fn is_module_level(&self, sym: SymbolId) -> bool {
        self.scoping().symbol_scope_id(sym) == self.scoping().root_scope_id()
    }
}

pub fn is_function(kind: AstKind) -> bool {
    matches!(
        kind,
        AstKind::Function(_) | AstKind::ArrowFunctionExpression(_)
    )
}

fn params_of<'a>(kind: AstKind<'a>) -> Option<&'a FormalParameters<'a>> {
    match kind {
        AstKind::Function(f) => Some(&f.params),
        AstKind::ArrowFunctionExpression(f) => Some(&f.params),
        _ => None,
    }
}

fn request_like(params: Option<&FormalParameters>) -> bool {
    let Some(first) = params.and_then(|p| p.items.first()) else {
        return false;
    };
    match &first.pattern {
        BindingPattern::BindingIdentifier(b) => REQUEST_PARAMS.contains(&b.name.as_str()),
        _ => false,
    }
}

/// A Node-style completion callback `(err, …)` runs once.
fn error_first(params: Option<&FormalParameters>) -> bool {
    let Some(first) = params.and_then(|p| p.items.first()) else {
        return false;
    };
    match &first.pattern {
        BindingPattern::BindingIdentifier(b) => {
            matches!(b.name.as_str(), "err" | "error" | "e" | "er" | "_err")
        }
        _ => false,
    }
}

/// `f` for `f(...)`, `m` for `a.b.m(...)`.
pub fn callee_name<'a>(callee: &'a Expression<'a>) -> Option<&'a str> {
    match callee.get_inner_expression() {
        Expression::Identifier(id) => Some(id.name.as_str()),
        Expression::StaticMemberExpression(m) => Some(m.property.name.as_str()),
        _ => None,
    }
}

/// The method name and receiver of `recv.method(...)`.
pub fn method_call<'b, 'a>(call: &'b CallExpression<'a>) -> Option<(&'b Expression<'a>, &'b str)> {
    match call.callee.get_inner_expression() {
        Expression::StaticMemberExpression(m) => Some((&m.object, m.property.name.as_str())),
        _ => None,
    }
}

pub fn arg_expr<'b, 'a>(call_args: &'b [Argument<'a>], i: usize) -> Option<&'b Expression<'a>> {
    call_args.get(i).and_then(|a| a.as_expression())
}

use oxc::span::GetSpan;
