//! The rules' checks over one parsed file. Each returns `Hit`s (rule, span,
//! message); `lib.rs` turns them into findings with lines and severities.

use oxc::ast::AstKind;
use oxc::ast::ast::{
    AssignmentTarget, BindingPattern, CallExpression, Expression, NewExpression, ObjectExpression,
    ObjectPropertyKind, UnaryOperator, VariableDeclarator,
};
use oxc::semantic::{NodeId, SymbolId};
use oxc::span::{GetSpan, Span};

use crate::rules::Rule;
use crate::scope::{FileScope, arg_expr, callee_name, is_function, method_call};

#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: Rule,
    pub span: Span,
    pub message: String,
}

const ADD_LISTENER: &[&str] = &["on", "addListener", "addEventListener", "prependListener"];
const REMOVE_LISTENER: &[&str] = &["off", "removeListener", "removeEventListener"];
const GLOBAL_OBJECTS: &[&str] = &[
    "process",
    "globalThis",
    "global",
    "window",
    "document",
    "self",
];
const GLOBAL_HOLDERS: &[&str] = &["globalThis", "global", "window", "self"];
const PROCESS_LIFECYCLE: &[&str] = &[
    "exit",
    "beforeExit",
    "uncaughtException",
    "unhandledRejection",
    "warning",
    "SIGTERM",
    "SIGINT",
    "SIGHUP",
    "SIGUSR1",
    "SIGUSR2",
    "SIGQUIT",
    "SIGBREAK",
];
const REMOVE_ENTRIES: &[&str] = &[
    "delete", "clear", "shift", "pop", "splice", "evict", "prune",
];
const ADD_ENTRIES: &[&str] = &["set", "add", "push", "unshift"];
const WRAPPERS: &[&str] = &["child", "extend", "fork", "derive", "wrap"];

/// A listener removal somewhere in the file.
struct Removal {
    receiver: String,
    event: Option<String>,
    listener: Option<String>,
    all: bool,
}

pub struct Checker<'s, 'a> {
    pub fs: FileScope<'s, 'a>,
    source: &'a str,
    removals: Vec<Removal>,
    cleared_members: Vec<String>,
    closed_names: Vec<String>,
    trimmed_globals: Vec<String>,
    pub hits: Vec<Hit>,
}

impl<'s, 'a> Checker<'s, 'a> {
    pub fn new(fs: FileScope<'s, 'a>, source: &'a str) -> Self {
        Checker {
            fs,
            source,
            removals: Vec::new(),
            cleared_members: Vec::new(),
            closed_names: Vec::new(),
            trimmed_globals: Vec::new(),
            hits: Vec::new(),
        }
    }

    /// Runs every rule over the file.
    pub fn run(mut self) -> Vec<Hit> {
        self.index();
        let nodes = self.fs.nodes();
        for node in nodes.iter() {
            let id = node.id();
            match node.kind() {
                AstKind::CallExpression(call) => {
                    self.check_listener(id, call);
                    self.check_subscription(id, call);
                    self.check_interval(id, call);
                    self.check_global_push(id, call);
                }
                AstKind::NewExpression(new) => self.check_library_cache(id, new),
                AstKind::VariableDeclarator(decl) => {
                    self.check_collection(decl);
                    self.check_closure_alias(id, decl);
                }
                AstKind::AssignmentExpression(assign) => {
                    self.check_global_index(id, &assign.left);
                    if let AssignmentTarget::AssignmentTargetIdentifier(target) = &assign.left {
                        self.check_wrapper_chain(id, target, &assign.right);
                    }
                }
                _ => {}
            }
        }
        self.hits.sort_by_key(|h| (h.span.start, h.rule));
        self.hits
    }

    fn text(&self, span: Span) -> String {
        key_text(&self.source[span.start as usize..span.end as usize])
    }

    fn hit(&mut self, rule: Rule, span: Span, message: String) {
        self.hits.push(Hit {
            rule,
            span,
            message,
        });
    }

    /// One pass collecting what the rules look up: listener removals, cleared
    /// timer members, closed objects, trimmed globals.
    fn index(&mut self) {
        let nodes = self.fs.nodes();
        for node in nodes.iter() {
            let AstKind::CallExpression(call) = node.kind() else {
                continue;
            };
            if let Some(name) = callee_name(&call.callee)
                && matches!(name, "clearInterval" | "clearTimeout")
                && let Some(Expression::StaticMemberExpression(m)) =
                    arg_expr(&call.arguments, 0).map(|e| e.get_inner_expression())
            {
                self.cleared_members.push(m.property.name.to_string());
            }
            let Some((recv, method)) = method_call(call) else {
                continue;
            };
            let receiver = self.text(recv.span());
            if REMOVE_LISTENER.contains(&method) || method == "removeAllListeners" {
                self.removals.push(Removal {
                    receiver,
                    event: string_arg(call, 0),
                    listener: arg_expr(&call.arguments, 1).map(|e| self.text(e.span())),
                    all: method == "removeAllListeners",
                });
            } else if matches!(method, "close" | "stop" | "destroy" | "flushAll") {
                self.closed_names.push(last_segment(&receiver).to_owned());
            } else if REMOVE_ENTRIES.contains(&method) {
                self.trimmed_globals
                    .push(last_segment(&receiver).to_owned());
            }
        }
        for node in nodes.iter() {
            // `x.length = n`, a size check `x.length > n`, or a reset inside a function.
            if let AstKind::StaticMemberExpression(m) = node.kind()
                && matches!(m.property.name.as_str(), "length" | "size")
                && self.is_size_check(node.id())
            {
                let obj = self.text(m.object.span());
                self.trimmed_globals.push(last_segment(&obj).to_owned());
            }
        }
    }

    // ---- event-listener-in-handler -------------------------------------------------------

    fn check_listener(&mut self, id: NodeId, call: &CallExpression<'a>) {
        let Some((recv, method)) = method_call(call) else {
            return;
        };
        if !ADD_LISTENER.contains(&method) || call.arguments.len() < 2 {
            return;
        }
        // A router's `on('GET', '/path', handler)` is not an event listener.
        if matches!(
            arg_expr(&call.arguments, 1).map(|e| e.get_inner_expression()),
            None | Some(
                Expression::StringLiteral(_)
                    | Expression::TemplateLiteral(_)
                    | Expression::ObjectExpression(_)
                    | Expression::ArrayExpression(_)
            )
        ) {
            return;
        }
        let runs = self.fs.runs_at(id);
        if !runs.repeated || (method == "addEventListener" && !options_allow_leak(call)) {
            return;
        }
        let Some(root) = self.long_lived_root(recv, id) else {
            return;
        };
        let event = string_arg(call, 0);
        if root == "process"
            && !runs.per_request
            && event
                .as_deref()
                .is_none_or(|e| PROCESS_LIFECYCLE.contains(&e))
        {
            return;
        }
        let receiver = self.text(recv.span());
        let listener = arg_expr(&call.arguments, 1).map(|e| self.text(e.span()));
        if self
            .removals
            .iter()
            .any(|r| removal_matches(r, &receiver, &event, &listener))
        {
            return;
        }
        let ev = event
            .map(|e| format!("'{e}'"))
            .unwrap_or_else(|| "an event".to_owned());
        let msg = format!(
            "listener for {ev} is added to long-lived `{receiver}` {} and never removed (runtime pattern: event_listener)",
            self.every_call(id)
        );
        self.hit(Rule::EventListenerInHandler, call.span, msg);
    }

    /// A registration whose only handle is dropped: `subject$.subscribe(cb)`
    /// or axios's `client.interceptors.request.use(fn)` as a statement, on a
    /// long-lived receiver, where it runs repeatedly. The Subscription (the
    /// interceptor's id) is what unsubscribes (ejects) it; without it
    /// nothing can. `subject$.pipe(take(1)).subscribe()` is not flagged:
    /// its receiver is a new observable, not the long-lived one.
    fn check_subscription(&mut self, id: NodeId, call: &CallExpression<'a>) {
        let Some((recv, method)) = method_call(call) else {
            return;
        };
        let receiver = self.text(recv.span());
        let interceptor = method == "use"
            && (receiver.ends_with("interceptors.request")
                || receiver.ends_with("interceptors.response"));
        if !(method == "subscribe" || interceptor) || call.arguments.is_empty() {
            return;
        }
        let statement = matches!(
            self.fs.nodes().kind(self.fs.parent(id)),
            AstKind::ExpressionStatement(_)
        );
        if !statement || !self.fs.runs_at(id).repeated || self.long_lived_root(recv, id).is_none() {
            return;
        }
        let (what, handle, undo) = if interceptor {
            ("interceptor", "id", "ejected")
        } else {
            ("subscription", "Subscription", "unsubscribed")
        };
        let msg = format!(
            "{what} is added to long-lived `{receiver}` {} and its {handle} is dropped, so it is never {undo} (runtime pattern: event_listener)",
            self.every_call(id)
        );
        self.hit(Rule::EventListenerInHandler, call.span, msg);
    }

    /// "on every call of f()" / "on every call".
    pub fn every_call(&self, id: NodeId) -> String {
        let Some(f) = self.fs.enclosing_function(id) else {
            return "on every call".to_owned();
        };
        match self.function_name(f) {
            Some(name) => format!("on every call of {name}()"),
            None => "on every call".to_owned(),
        }
    }

    fn function_name(&self, f: NodeId) -> Option<String> {
        let nodes = self.fs.nodes();
        if let AstKind::Function(func) = nodes.kind(f)
            && let Some(id) = &func.id
        {
            return Some(id.name.to_string());
        }
        match nodes.kind(self.fs.parent(f)) {
            AstKind::VariableDeclarator(d) => {
                d.id.get_binding_identifier().map(|b| b.name.to_string())
            }
            AstKind::MethodDefinition(m) => m.key.static_name().map(|n| n.to_string()),
            AstKind::ObjectProperty(p) => p.key.static_name().map(|n| n.to_string()),
            _ => None,
        }
    }

    /// The root name of a receiver that lives as long as the process: a
    /// long-lived binding, a global object, or `this` of a class made only once.
    fn long_lived_root(&self, recv: &Expression<'a>, at: NodeId) -> Option<String> {
        match member_root(recv) {
            Expression::Identifier(ident) => match self.fs.symbol_of(ident) {
                Some(sym) => self
                    .fs
                    .long_lived_symbol(sym)
                    .then(|| ident.name.to_string()),
                None => GLOBAL_OBJECTS
                    .contains(&ident.name.as_str())
                    .then(|| ident.name.to_string()),
            },
            Expression::ThisExpression(_) if !matches!(recv, Expression::ThisExpression(_)) => {
                self.singleton_this(at).then(|| "this".to_owned())
            }
            _ => None,
        }
    }

    /// Inside a method (not the constructor) of a class that is only ever
    /// instantiated by code that runs once, `this` lives as long as the process.
    fn singleton_this(&self, at: NodeId) -> bool {
        let nodes = self.fs.nodes();
        let Some(f) = self.fs.enclosing_function(at) else {
            return false;
        };
        if let AstKind::MethodDefinition(m) = nodes.kind(self.fs.parent(f))
            && m.kind.is_constructor()
        {
            return false;
        }
        let class = nodes.ancestor_ids(f).find_map(|a| match nodes.kind(a) {
            AstKind::Class(c) => Some(c),
            _ => None,
        });
        let Some(sym) = class
            .and_then(|c| c.id.as_ref())
            .and_then(|i| i.symbol_id.get())
        else {
            return false;
        };
        let refs = self
            .fs
            .scoping()
            .get_resolved_references(sym)
            .collect::<Vec<_>>();
        !refs.is_empty()
            && refs.iter().all(|r| {
                let p = self.fs.parent(r.node_id());
                matches!(nodes.kind(p), AstKind::NewExpression(_)) && !self.fs.runs_at(p).repeated
            })
    }

    // ---- interval-never-cleared ---------------------------------------------------------

    fn check_interval(&mut self, id: NodeId, call: &CallExpression<'a>) {
        let is_interval = match call.callee.get_inner_expression() {
            Expression::Identifier(i) => i.name == "setInterval" && self.fs.symbol_of(i).is_none(),
            Expression::StaticMemberExpression(m) => {
                m.property.name == "setInterval"
                    && matches!(member_root(&m.object), Expression::Identifier(i)
                        if matches!(i.name.as_str(), "timers" | "global" | "globalThis" | "window"))
            }
            _ => false,
        };
        if !is_interval || !self.fs.runs_at(id).repeated {
            return;
        }
        let problem = match self.handle_use(id) {
            HandleUse::Dropped => "its handle is dropped".to_owned(),
            HandleUse::Member(p) if !self.cleared_members.contains(&p) => {
                format!("its handle is stored in `.{p}` but no clearInterval(….{p}) clears it")
            }
            HandleUse::Variable(sym) if !self.variable_cleared(sym) => format!(
                "its handle `{}` is never passed to clearInterval",
                self.fs.scoping().symbol_name(sym)
            ),
            _ => return,
        };
        let msg = format!(
            "setInterval is started {} and {problem}; unref() does not stop it (runtime pattern: timer)",
            self.every_call(id)
        );
        self.hit(Rule::IntervalNeverCleared, call.span, msg);
    }

    /// What happens to a timer handle (looking through `.unref()`/`.ref()`).
    fn handle_use(&self, call: NodeId) -> HandleUse {
        let nodes = self.fs.nodes();
        let mut at = call;
        loop {
            let parent = self.fs.parent(at);
            match nodes.kind(parent) {
                AstKind::ExpressionStatement(_) => return HandleUse::Dropped,
                AstKind::StaticMemberExpression(m)
                    if matches!(m.property.name.as_str(), "unref" | "ref") =>
                {
                    let call = self.fs.parent(parent);
                    if !matches!(nodes.kind(call), AstKind::CallExpression(_)) {
                        return HandleUse::Escapes;
                    }
                    at = call;
                }
                AstKind::VariableDeclarator(d) => {
                    return match &d.id {
                        BindingPattern::BindingIdentifier(b) => b
                            .symbol_id
                            .get()
                            .map(HandleUse::Variable)
                            .unwrap_or(HandleUse::Escapes),
                        _ => HandleUse::Escapes,
                    };
                }
                AstKind::AssignmentExpression(a) => {
                    return match &a.left {
                        AssignmentTarget::StaticMemberExpression(m) => {
                            HandleUse::Member(m.property.name.to_string())
                        }
                        AssignmentTarget::AssignmentTargetIdentifier(i) => self
                            .fs
                            .symbol_of(i)
                            .map(HandleUse::Variable)
                            .unwrap_or(HandleUse::Escapes),
                        _ => HandleUse::Escapes,
                    };
                }
                _ => return HandleUse::Escapes,
            }
        }
    }

    /// A timer variable is fine when it reaches clearInterval/clearTimeout or
    /// goes anywhere else than `.unref()`/`.ref()` (stored, returned, passed on).
    fn variable_cleared(&self, sym: SymbolId) -> bool {
        let nodes = self.fs.nodes();
        self.fs.scoping().get_resolved_references(sym).any(|r| {
            if r.is_write() {
                return false;
            }
            let parent = self.fs.parent(r.node_id());
            match nodes.kind(parent) {
                AstKind::StaticMemberExpression(m) => !matches!(
                    m.property.name.as_str(),
                    "unref" | "ref" | "hasRef" | "refresh"
                ),
                _ => true,
            }
        })
    }

    // ---- interval-never-cleared (timer owners) and unbounded-collection (library caches) --

    fn check_library_cache(&mut self, id: NodeId, new: &NewExpression<'a>) {
        let Some(class) = callee_name(&new.callee) else {
            return;
        };
        let opts = match arg_expr(&new.arguments, 0).map(|e| e.get_inner_expression()) {
            Some(Expression::ObjectExpression(o)) => Some(&**o),
            Some(_) => return, // options we cannot see
            None => None,
        };
        let binding = self.binding_name(id);
        match class {
            "LRUCache" | "LRU" => {
                let Some(o) = opts else { return };
                if has_key(o, "max") || has_key(o, "maxSize") || has_key(o, "ttlAutopurge") {
                    return;
                }
                let msg = "LRUCache without `max` or `maxSize` is unbounded: entries past their ttl are only dropped when read again (runtime pattern: unbounded_collection)".to_owned();
                self.hit(Rule::UnboundedCollection, new.span, msg);
            }
            "NodeCache" => self.check_node_cache(id, new, opts, binding),
            "Keyv" => {
                if opts.is_some_and(|o| has_key(o, "store")) || !self.long_lived_expr(id) {
                    return;
                }
                let msg = "Keyv without a `store` keeps every entry in a plain Map; expired entries are only deleted when read again (runtime pattern: unbounded_collection)".to_owned();
                self.hit(Rule::UnboundedCollection, new.span, msg);
            }
            _ => {}
        }
    }

    fn check_node_cache(
        &mut self,
        id: NodeId,
        new: &NewExpression<'a>,
        opts: Option<&ObjectExpression<'a>>,
        binding: Option<String>,
    ) {
        let runs = self.fs.runs_at(id);
        if runs.repeated {
            let checkperiod_off = opts.is_some_and(|o| key_is_zero(o, "checkperiod"));
            let closed = binding
                .as_ref()
                .is_some_and(|b| self.closed_names.contains(b));
            if checkperiod_off || closed || binding.is_none() {
                return;
            }
            let msg = format!(
                "a NodeCache is made {} and never close()d: its check-period timer keeps it and everything in it alive (runtime pattern: timer)",
                self.every_call(id)
            );
            self.hit(Rule::IntervalNeverCleared, new.span, msg);
            return;
        }
        let ttl = opts.is_some_and(|o| has_key(o, "stdTTL") && !key_is_zero(o, "stdTTL"));
        let max = opts.is_some_and(|o| has_key(o, "maxKeys"));
        if ttl || max {
            return;
        }
        let msg = "NodeCache without `stdTTL` or `maxKeys` never drops an entry (stdTTL 0 means forever) (runtime pattern: unbounded_collection)".to_owned();
        self.hit(Rule::UnboundedCollection, new.span, msg);
    }

    /// The variable or property a `new X()` is stored in.
    fn binding_name(&self, id: NodeId) -> Option<String> {
        match self.fs.nodes().kind(self.fs.parent(id)) {
            AstKind::VariableDeclarator(d) => {
                d.id.get_binding_identifier().map(|b| b.name.to_string())
            }
            AstKind::AssignmentExpression(a) => match &a.left {
                AssignmentTarget::StaticMemberExpression(m) => Some(m.property.name.to_string()),
                AssignmentTarget::AssignmentTargetIdentifier(i) => Some(i.name.to_string()),
                _ => None,
            },
            AstKind::ObjectProperty(p) => p.key.static_name().map(|n| n.to_string()),
            _ => None,
        }
    }

    fn long_lived_expr(&self, id: NodeId) -> bool {
        !self.fs.runs_at(id).repeated
    }

    // ---- unbounded-collection -----------------------------------------------------------

    fn check_collection(&mut self, decl: &VariableDeclarator<'a>) {
        let Some(kind) = decl.init.as_ref().and_then(collection_kind) else {
            return;
        };
        let Some(sym) = decl
            .id
            .get_binding_identifier()
            .and_then(|b| b.symbol_id.get())
        else {
            return;
        };
        if !self.fs.long_lived_symbol(sym) {
            return;
        }
        let mut first_add: Option<(NodeId, Span, &'static str)> = None;
        for r in self.fs.scoping().get_resolved_references(sym) {
            if r.is_write() {
                return; // reset somewhere: bounded by the code that resets it
            }
            match self.collection_use(r.node_id(), kind) {
                Use::Add(node, span, how) => {
                    if first_add.is_none() && self.fs.runs_at(node).repeated {
                        first_add = Some((node, span, how));
                    }
                }
                Use::Bound | Use::Escape => return,
                Use::Read => {}
            }
        }
        let Some((node, span, how)) = first_add else {
            return;
        };
        let name = self.fs.scoping().symbol_name(sym);
        let msg = format!(
            "long-lived {} `{name}` gets entries ({how}) {} and none are ever removed, cleared or size-checked (runtime pattern: unbounded_collection)",
            kind.noun(),
            self.every_call(node)
        );
        self.hit(Rule::UnboundedCollection, span, msg);
    }

    /// What one reference to a collection does with it.
    pub fn collection_use(&self, ref_node: NodeId, kind: Collection) -> Use {
        let nodes = self.fs.nodes();
        let parent = self.fs.parent(ref_node);
        match nodes.kind(parent) {
            AstKind::StaticMemberExpression(m) => {
                let prop = m.property.name.as_str();
                let grand = self.fs.parent(parent);
                let called = matches!(nodes.kind(grand), AstKind::CallExpression(c) if c.callee.span() == m.span);
                if REMOVE_ENTRIES.contains(&prop)
                    || (matches!(prop, "length" | "size") && self.is_size_check(parent))
                {
                    Use::Bound
                } else if called && ADD_ENTRIES.contains(&prop) {
                    match nodes.kind(grand) {
                        AstKind::CallExpression(c) if !self.is_memo(grand, c) => {
                            Use::Add(grand, c.span, add_how(prop))
                        }
                        _ => Use::Read,
                    }
                } else {
                    Use::Read
                }
            }
            AstKind::ComputedMemberExpression(m) => {
                let grand = self.fs.parent(parent);
                match nodes.kind(grand) {
                    AstKind::UnaryExpression(u) if u.operator == UnaryOperator::Delete => {
                        Use::Bound
                    }
                    AstKind::AssignmentExpression(a)
                        if a.left.span() == m.span && kind == Collection::Object =>
                    {
                        if self.is_object_memo(grand, m) {
                            Use::Read
                        } else {
                            Use::Add(grand, a.span, "obj[key] = …")
                        }
                    }
                    _ => Use::Read,
                }
            }
            AstKind::ForOfStatement(_) | AstKind::ForInStatement(_) => Use::Read,
            AstKind::CallExpression(c) if pure_reader(&c.callee) => Use::Read,
            _ => Use::Escape,
        }
    }

    /// `x.length > n`, `if (x.size)`, `x.length = 0`: the code looks at the size.
    fn is_size_check(&self, member: NodeId) -> bool {
        let nodes = self.fs.nodes();
        match nodes.kind(self.fs.parent(member)) {
            AstKind::BinaryExpression(b) => b.operator.is_compare() || b.operator.is_equality(),
            AstKind::AssignmentExpression(_)
            | AstKind::IfStatement(_)
            | AstKind::WhileStatement(_)
            | AstKind::ConditionalExpression(_)
            | AstKind::LogicalExpression(_)
            | AstKind::UnaryExpression(_) => true,
            _ => false,
        }
    }

    /// `cache[k] = v` where the same function also reads `cache[k]`: a memo.
    fn is_object_memo(
        &self,
        assign: NodeId,
        m: &oxc::ast::ast::ComputedMemberExpression<'a>,
    ) -> bool {
        let target = self.text(m.span);
        let f = self.fs.enclosing_function(assign);
        self.fs.nodes().iter().any(|n| match n.kind() {
            AstKind::ComputedMemberExpression(o) => {
                o.span != m.span
                    && self.text(o.span) == target
                    && self.fs.enclosing_function(n.id()) == f
                    && !matches!(self.fs.nodes().kind(self.fs.parent(n.id())), AstKind::AssignmentExpression(a) if a.left.span() == o.span)
            }
            _ => false,
        })
    }

    /// `m.set(k, v)` after `m.get(k)` / `m.has(k)` in the same function: a
    /// get-or-create memo, bounded by the keys it is asked for (which the file
    /// cannot tell), so left alone.
    fn is_memo(&self, call_node: NodeId, call: &CallExpression<'a>) -> bool {
        let Some((recv, method)) = method_call(call) else {
            return false;
        };
        let dedupe_set = method == "add";
        let Some(key) = arg_expr(&call.arguments, 0).map(|k| self.text(k.span())) else {
            return false;
        };
        let recv = self.text(recv.span());
        let f = self.fs.enclosing_function(call_node);
        self.fs.nodes().iter().any(|n| match n.kind() {
            AstKind::CallExpression(c) => match method_call(c) {
                Some((r, "get" | "has")) => {
                    self.text(r.span()) == recv
                        && (dedupe_set
                            || (arg_expr(&c.arguments, 0)
                                .is_some_and(|k| self.text(k.span()) == key)
                                && self.fs.enclosing_function(n.id()) == f))
                }
                _ => false,
            },
            _ => false,
        })
    }

    // ---- global-accumulation ------------------------------------------------------------

    fn check_global_push(&mut self, id: NodeId, call: &CallExpression<'a>) {
        let Some((recv, method)) = method_call(call) else {
            return;
        };
        if !ADD_ENTRIES.contains(&method) {
            return;
        }
        self.check_global(id, recv, call.span, add_how(method));
    }

    fn check_global_index(&mut self, id: NodeId, left: &AssignmentTarget<'a>) {
        if let AssignmentTarget::ComputedMemberExpression(m) = left
            && !matches!(
                m.expression,
                Expression::StringLiteral(_) | Expression::NumericLiteral(_)
            )
        {
            let span = self.fs.nodes().kind(id).span();
            self.check_global(id, &m.object, span, "obj[key] = …");
        }
    }

    fn check_global(&mut self, id: NodeId, recv: &Expression<'a>, span: Span, how: &str) {
        let Expression::StaticMemberExpression(m) = recv.get_inner_expression() else {
            return;
        };
        let Expression::Identifier(root) = member_root(recv) else {
            return;
        };
        if !GLOBAL_HOLDERS.contains(&root.name.as_str()) || self.fs.symbol_of(root).is_some() {
            return;
        }
        if !self.fs.runs_at(id).repeated
            || self
                .trimmed_globals
                .iter()
                .any(|t| t == m.property.name.as_str())
        {
            return;
        }
        let receiver = self.text(recv.span());
        let msg = format!(
            "global `{receiver}` gets entries ({how}) {} and is never trimmed (runtime pattern: global_accumulation)",
            self.every_call(id)
        );
        self.hit(Rule::GlobalAccumulation, span, msg);
    }

    // ---- closure-chain ------------------------------------------------------------------

    /// `const previous = last;` in a repeated function whose closures share a
    /// context with one that captures `previous` while another escapes.
    fn check_closure_alias(&mut self, id: NodeId, decl: &VariableDeclarator<'a>) {
        let Some(Expression::Identifier(src)) =
            decl.init.as_ref().map(|e| e.get_inner_expression())
        else {
            return;
        };
        let Some(src_sym) = self.fs.symbol_of(src) else {
            return;
        };
        let Some(local) = decl
            .id
            .get_binding_identifier()
            .and_then(|b| b.symbol_id.get())
        else {
            return;
        };
        let Some(f) = self.fs.enclosing_function(id) else {
            return;
        };
        if !self.fs.is_module_level(src_sym)
            || !self.fs.scoping().symbol_is_mutated(src_sym)
            || !self.fs.runs_fn(f).repeated
        {
            return;
        }
        let capturing: Vec<NodeId> = self
            .fs
            .scoping()
            .get_resolved_references(local)
            .filter_map(|r| self.fs.enclosing_function(r.node_id()).filter(|&c| c != f))
            .collect();
        if capturing.is_empty() || !self.escaping_sibling_closure(f, &capturing) {
            return;
        }
        let (l, s) = (self.fs.scoping().symbol_name(local), src.name.as_str());
        let msg = format!(
            "`{l}` keeps the previous `{s}` alive: a closure made in the same call captures it and another closure of that call is stored, so each `{s}` keeps the one before (runtime pattern: closure)"
        );
        self.hit(Rule::ClosureChain, decl.span, msg);
    }

    /// Does `f` directly create a closure (not one of `capturing` or inside
    /// them) that is stored or returned: an object property, a return value, an assignment?
    fn escaping_sibling_closure(&self, f: NodeId, capturing: &[NodeId]) -> bool {
        let nodes = self.fs.nodes();
        nodes.iter().any(|n| {
            let c = n.id();
            if !is_function(n.kind())
                || capturing.contains(&c)
                || self.fs.enclosing_function(c) != Some(f)
            {
                return false;
            }
            matches!(
                nodes.kind(self.fs.parent(c)),
                AstKind::ObjectProperty(_)
                    | AstKind::ReturnStatement(_)
                    | AstKind::AssignmentExpression(_)
            )
        })
    }

    /// `log = log.child(...)` (or `new X(log)`, `Object.create(log)`) per call:
    /// each value keeps the one before.
    fn check_wrapper_chain(
        &mut self,
        id: NodeId,
        target: &oxc::ast::ast::IdentifierReference<'a>,
        right: &Expression<'a>,
    ) {
        let Some(sym) = self.fs.symbol_of(target) else {
            return;
        };
        if !self.fs.is_module_level(sym) || !self.fs.runs_at(id).repeated {
            return;
        }
        let wraps = match right.get_inner_expression() {
            Expression::CallExpression(c) => match method_call(c) {
                Some((recv, m)) if WRAPPERS.contains(&m) => self.is_symbol(recv, sym),
                Some((Expression::Identifier(o), "create")) if o.name == "Object" => {
                    arg_expr(&c.arguments, 0).is_some_and(|a| self.is_symbol(a, sym))
                }
                _ => false,
            },
            Expression::NewExpression(n) => n
                .arguments
                .iter()
                .any(|a| a.as_expression().is_some_and(|e| self.is_symbol(e, sym))),
            _ => false,
        };
        if !wraps {
            return;
        }
        let name = target.name.as_str();
        let msg = format!(
            "module variable `{name}` is replaced {} by a value made from itself, so each one keeps the one before (runtime pattern: closure)",
            self.every_call(id)
        );
        let span = self.fs.nodes().kind(id).span();
        self.hit(Rule::ClosureChain, span, msg);
    }

    fn is_symbol(&self, e: &Expression<'a>, sym: SymbolId) -> bool {
        matches!(e.get_inner_expression(), Expression::Identifier(i) if self.fs.symbol_of(i) == Some(sym))
    }
}

enum HandleUse {
    Dropped,
    Member(String),
    Variable(SymbolId),
    Escapes,
}

pub enum Use {
    Add(NodeId, Span, &'static str),
    Bound,
    Escape,
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Map,
    Set,
    Array,
    Object,
}

impl Collection {
    pub fn noun(self) -> &'static str {
        match self {
            Collection::Map => "Map",
            Collection::Set => "Set",
            Collection::Array => "array",
            Collection::Object => "object",
        }
    }
}

pub fn collection_kind(init: &Expression) -> Option<Collection> {
    match init.get_inner_expression() {
        Expression::NewExpression(n) => match callee_name(&n.callee)? {
            "Map" => Some(Collection::Map),
            "Set" => Some(Collection::Set),
            "Array" if n.arguments.is_empty() => Some(Collection::Array),
            _ => None,
        },
        Expression::ArrayExpression(a) if a.elements.is_empty() => Some(Collection::Array),
        Expression::ObjectExpression(o) if o.properties.is_empty() => Some(Collection::Object),
        Expression::CallExpression(c) => match method_call(c) {
            Some((Expression::Identifier(o), "create"))
                if o.name == "Object"
                    && matches!(arg_expr(&c.arguments, 0), Some(Expression::NullLiteral(_))) =>
            {
                Some(Collection::Object)
            }
            _ => None,
        },
        _ => None,
    }
}

fn add_how(method: &str) -> &'static str {
    match method {
        "set" => ".set",
        "add" => ".add",
        "push" => ".push",
        _ => ".unshift",
    }
}

/// Calls that read a collection without keeping or changing it.
fn pure_reader(callee: &Expression) -> bool {
    match callee.get_inner_expression() {
        Expression::StaticMemberExpression(m) => match &m.object {
            Expression::Identifier(o) => matches!(
                (o.name.as_str(), m.property.name.as_str()),
                ("Object", "keys" | "values" | "entries")
                    | ("JSON", "stringify")
                    | ("Array", "from" | "isArray")
                    | ("console", _)
            ),
            _ => false,
        },
        _ => false,
    }
}

/// The identifier or `this` a member chain starts from (`a` of `a.b[c].d`).
fn member_root<'b, 'a>(mut e: &'b Expression<'a>) -> &'b Expression<'a> {
    loop {
        e = e.get_inner_expression();
        match e {
            Expression::StaticMemberExpression(m) => e = &m.object,
            Expression::ComputedMemberExpression(m) => e = &m.object,
            Expression::PrivateFieldExpression(m) => e = &m.object,
            _ => return e,
        }
    }
}

/// Source text without whitespace, optional chaining as plain member access.
fn key_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .replace("?.", ".")
}

fn last_segment(key: &str) -> &str {
    key.rsplit(['.', '#']).next().unwrap_or(key)
}

fn string_arg(call: &CallExpression, i: usize) -> Option<String> {
    match arg_expr(&call.arguments, i)?.get_inner_expression() {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => {
            t.quasis.first().map(|q| q.value.raw.to_string())
        }
        _ => None,
    }
}

fn removal_matches(
    r: &Removal,
    receiver: &str,
    event: &Option<String>,
    listener: &Option<String>,
) -> bool {
    let same_listener = listener.is_some() && r.listener == *listener && !r.all;
    let same_target = r.receiver == receiver
        && (r.all || r.event.is_none() || event.is_none() || r.event == *event);
    same_target || same_listener
}

/// addEventListener's third argument: `{ once: true }` or `{ signal }` remove
/// the listener; options we cannot see are given the benefit of the doubt.
fn options_allow_leak(call: &CallExpression) -> bool {
    match arg_expr(&call.arguments, 2).map(|e| e.get_inner_expression()) {
        None | Some(Expression::BooleanLiteral(_)) => true,
        Some(Expression::ObjectExpression(o)) => {
            !(has_key(o, "signal")
                || o.properties.iter().any(|p| match p {
                    ObjectPropertyKind::ObjectProperty(p) => {
                        p.key.static_name().is_some_and(|k| k == "once")
                            && !matches!(p.value, Expression::BooleanLiteral(ref b) if !b.value)
                    }
                    ObjectPropertyKind::SpreadProperty(_) => true,
                }))
        }
        Some(_) => false,
    }
}

fn has_key(o: &ObjectExpression, key: &str) -> bool {
    o.properties.iter().any(|p| match p {
        ObjectPropertyKind::ObjectProperty(p) => p.key.static_name().is_some_and(|k| k == key),
        ObjectPropertyKind::SpreadProperty(_) => true, // unknown keys: assume present
    })
}

fn key_is_zero(o: &ObjectExpression, key: &str) -> bool {
    o.properties.iter().any(|p| match p {
        ObjectPropertyKind::ObjectProperty(p) => {
            p.key.static_name().is_some_and(|k| k == key)
                && matches!(p.value.get_inner_expression(), Expression::NumericLiteral(n) if n.value == 0.0)
        }
        ObjectPropertyKind::SpreadProperty(_) => false,
    })
}
