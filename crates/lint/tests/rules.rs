//! Each rule on small bad and good snippets: the bad one is flagged at the
//! right line, the good one (the common correct idiom) is clean.

use lint::{Config, Rule, lint_source};

fn findings(src: &str) -> Vec<(Rule, u32)> {
    let r = lint_source("snippet.js", src, &Config::default());
    assert!(r.error.is_none(), "{:?}", r.error);
    r.findings.iter().map(|f| (f.rule, f.line)).collect()
}

fn clean(src: &str) {
    assert_eq!(findings(src), vec![], "expected no finding in:\n{src}");
}

const HANDLER: &str = "const serve = require('./service');\n";

#[test]
fn listener_added_per_request_is_flagged() {
    let src = format!(
        "{HANDLER}const bus = new (require('events'))();\nserve((req) => {{\n  bus.on('reload', () => req.url);\n}});\n"
    );
    assert_eq!(findings(&src), vec![(Rule::EventListenerInHandler, 4)]);
}

#[test]
fn listener_idioms_are_clean() {
    for body in [
        "bus.once('reload', () => req.url);",
        "const f = () => req.url; bus.on('reload', f); res.on('close', () => bus.off('reload', f));",
        "const f = () => req.url; try { bus.on('reload', f); } finally { bus.removeListener('reload', f); }",
        "signal.addEventListener('abort', () => req.url, { once: true });",
        "signal.addEventListener('abort', () => req.url, { signal: ac.signal });",
        "req.on('data', (c) => c.length);", // the request's own emitter dies with it
        "router.on('GET', '/x', () => 1);", // a router, not an emitter
    ] {
        clean(&format!(
            "{HANDLER}const bus = new (require('events'))();\nconst signal = new AbortController().signal;\nconst router = {{}};\nserve((req, res) => {{\n  const ac = new AbortController();\n  {body}\n}});\n"
        ));
    }
}

#[test]
fn listener_at_startup_and_process_signals_are_clean() {
    clean(
        "const bus = new (require('events'))();\nbus.on('reload', () => 1);\nfunction main() { process.on('SIGTERM', () => process.exit(0)); }\nmain();\n",
    );
    clean("module.exports = function start(app) { process.on('SIGINT', () => app.close()); };\n");
}

#[test]
fn subscription_or_interceptor_per_request_is_flagged() {
    for body in [
        "config$.subscribe((c) => { view.theme = c.theme; });",
        "api.interceptors.request.use((c) => { c.headers.id = req.id; return c; });",
    ] {
        let src = format!(
            "{HANDLER}const config$ = new (require('rxjs').BehaviorSubject)({{}});\nconst api = require('axios').create();\nserve((req, res) => {{\n  const view = {{}};\n  {body}\n}});\n"
        );
        assert_eq!(
            findings(&src),
            vec![(Rule::EventListenerInHandler, 6)],
            "{body}"
        );
    }
}

#[test]
fn subscription_idioms_are_clean() {
    for body in [
        "const sub = config$.subscribe((c) => c); res.on('close', () => sub.unsubscribe());",
        "config$.pipe(take(1)).subscribe((c) => c);", // completes after one value
        "const id = api.interceptors.request.use((c) => c); res.on('close', () => api.interceptors.request.eject(id));",
        "of(req).subscribe((r) => r);", // a new observable per request
        "subs.add(config$.subscribe((c) => c));", // kept somewhere
    ] {
        clean(&format!(
            "{HANDLER}const {{ BehaviorSubject, of, take }} = require('rxjs');\nconst config$ = new BehaviorSubject({{}});\nconst api = require('axios').create();\nserve((req, res) => {{\n  const subs = [];\n  {body}\n}});\n"
        ));
    }
    // Subscribing once at start-up is how a subject is meant to be used.
    clean(
        "const { Subject } = require('rxjs');\nconst s = new Subject();\ns.subscribe((x) => x);\n",
    );
}

#[test]
fn listener_on_singleton_member_is_flagged() {
    let src = "class Client {\n  constructor() { this.life = new AbortController(); }\n  call(x) {\n    this.life.signal.addEventListener('abort', () => x);\n  }\n}\nconst client = new Client();\nmodule.exports = (req) => client.call(req);\n";
    assert_eq!(findings(src), vec![(Rule::EventListenerInHandler, 4)]);
}

#[test]
fn interval_per_call_is_flagged() {
    assert_eq!(
        findings(&format!(
            "{HANDLER}serve((req) => {{\n  setInterval(() => req.url, 1000).unref();\n}});\n"
        )),
        vec![(Rule::IntervalNeverCleared, 3)]
    );
    // Stored under one name, cleared under another.
    assert_eq!(
        findings(
            "function start(job) {\n  job.timer = setInterval(() => job, 10);\n}\nfunction stop(job) { clearInterval(job.renewTimer); }\nmodule.exports = { start, stop };\n"
        ),
        vec![(Rule::IntervalNeverCleared, 2)]
    );
}

#[test]
fn interval_idioms_are_clean() {
    clean("setInterval(() => 1, 1000).unref();\n"); // one interval at start-up
    clean(
        "function start(job) {\n  job.timer = setInterval(() => job, 10);\n}\nfunction stop(job) { clearInterval(job.timer); }\nmodule.exports = { start, stop };\n",
    );
    clean(
        "module.exports = (req) => {\n  const t = setInterval(() => req, 10);\n  req.on('close', () => clearInterval(t));\n};\n",
    );
    clean(
        "module.exports = (req) => {\n  const t = setInterval(() => req, 10);\n  return t;\n};\n",
    );
}

#[test]
fn node_cache_per_request_needs_close() {
    let bad = "const NodeCache = require('node-cache');\nmodule.exports = (req, res) => {\n  const memo = new NodeCache();\n  memo.set('a', req);\n};\n";
    assert_eq!(findings(bad), vec![(Rule::IntervalNeverCleared, 3)]);
    clean(
        "const NodeCache = require('node-cache');\nmodule.exports = (req, res) => {\n  const memo = new NodeCache();\n  res.once('close', () => memo.close());\n};\n",
    );
}

#[test]
fn unbounded_collections_are_flagged() {
    for (decl, add) in [
        ("new Map()", "seen.set(req.id, req)"),
        ("new Set()", "seen.add(req)"),
        ("[]", "seen.push(req)"),
        ("{}", "seen[req.id] = req"),
    ] {
        let src = format!("{HANDLER}const seen = {decl};\nserve((req) => {{\n  {add};\n}});\n");
        assert_eq!(
            findings(&src),
            vec![(Rule::UnboundedCollection, 4)],
            "{decl}"
        );
    }
}

#[test]
fn bounded_collections_are_clean() {
    for extra in [
        "if (seen.size > 100) seen.delete(seen.keys().next().value);",
        "res.on('finish', () => seen.delete(req.id));",
        "if (seen.size > 1000) seen.clear();",
    ] {
        clean(&format!(
            "{HANDLER}const seen = new Map();\nserve((req, res) => {{\n  seen.set(req.id, req);\n  {extra}\n}});\n"
        ));
    }
    clean(&format!(
        "{HANDLER}const log = [];\nserve((req) => {{\n  log.push(req.url);\n  if (log.length > 500) log.shift();\n}});\n"
    ));
    // A get-or-create memo, a dedupe set, a collection handed to other code.
    clean(&format!(
        "{HANDLER}const clients = new Map();\nserve((req) => {{\n  let c = clients.get(req.host);\n  if (!c) {{ c = {{}}; clients.set(req.host, c); }}\n}});\n"
    ));
    clean(&format!(
        "{HANDLER}const warned = new Set();\nserve((req) => {{\n  if (!warned.has(req.code)) warned.add(req.code);\n}});\n"
    ));
    clean(&format!(
        "{HANDLER}const q = [];\nserve((req) => {{ q.push(req); }});\nrequire('./drain')(q);\n"
    ));
    // Per-call collections die with the call.
    clean(&format!(
        "{HANDLER}serve((req) => {{ const rows = []; rows.push(req); return rows; }});\n"
    ));
}

#[test]
fn library_caches() {
    assert_eq!(
        findings(
            "const { LRUCache } = require('lru-cache');\nconst c = new LRUCache({ ttl: 1000 });\n"
        ),
        vec![(Rule::UnboundedCollection, 2)]
    );
    clean(
        "const { LRUCache } = require('lru-cache');\nconst c = new LRUCache({ max: 100, ttl: 1000 });\n",
    );
    assert_eq!(
        findings(
            "const NodeCache = require('node-cache');\nconst c = new NodeCache({ stdTTL: 0 });\n"
        ),
        vec![(Rule::UnboundedCollection, 2)]
    );
    clean("const NodeCache = require('node-cache');\nconst c = new NodeCache({ stdTTL: 60 });\n");
}

#[test]
fn global_accumulation() {
    let bad = format!(
        "{HANDLER}globalThis.audit = [];\nserve((req) => {{\n  globalThis.audit.push(req.url);\n}});\n"
    );
    assert_eq!(findings(&bad), vec![(Rule::GlobalAccumulation, 4)]);
    clean(&format!(
        "{HANDLER}globalThis.audit = [];\nserve((req) => {{\n  globalThis.audit.push(req.url);\n  if (globalThis.audit.length > 200) globalThis.audit.splice(0, 100);\n}});\n"
    ));
}

#[test]
fn closure_chain() {
    let bad = format!(
        "{HANDLER}let last = null;\nfunction next() {{\n  const previous = last;\n  const unused = () => previous;\n  last = {{ big: 'x'.repeat(1e4), read() {{ return 1; }} }};\n}}\nserve(() => next());\n"
    );
    assert_eq!(findings(&bad), vec![(Rule::ClosureChain, 4)]);
    clean(&format!(
        "{HANDLER}let last = null;\nfunction next() {{\n  const previousSize = last && last.big.length;\n  const unused = () => previousSize;\n  last = {{ big: 'x'.repeat(1e4), read() {{ return 1; }} }};\n}}\nserve(() => next());\n"
    ));
    let chain = format!(
        "{HANDLER}let log = require('pino')();\nserve((req) => {{\n  log = log.child({{ id: req.id }});\n}});\n"
    );
    assert_eq!(findings(&chain), vec![(Rule::ClosureChain, 4)]);
}

#[test]
fn suppression_and_config() {
    let src = format!(
        "{HANDLER}const seen = [];\nserve((req) => {{\n  // leakhound-ignore-next-line unbounded-collection: drained by ./flush\n  seen.push(req);\n}});\n"
    );
    let r = lint_source("s.js", &src, &Config::default());
    assert_eq!(
        (r.findings.len(), r.suppressed, r.warnings.len()),
        (0, 1, 0)
    );
    let typo = src.replace("unbounded-collection:", "unbounded-colection:");
    let r = lint_source("s.js", &typo, &Config::default());
    assert_eq!((r.findings.len(), r.warnings.len()), (1, 1));
    let config = Config::parse(
        "[rules]\nunbounded-collection = \"off\"\n",
        std::path::Path::new("/x/leakhound.toml"),
    )
    .unwrap();
    assert!(
        lint_source("s.js", &src.replace("// leakhound", "// x"), &config)
            .findings
            .is_empty()
    );
    assert!(
        Config::parse(
            "[rules]\nno-such-rule = \"off\"\n",
            std::path::Path::new("/x/l.toml")
        )
        .unwrap_err()
        .contains("unknown rule")
    );
}

#[test]
fn typescript_and_esm_parse() {
    let src = "import { EventEmitter } from 'node:events';\nconst bus = new EventEmitter();\nexport function handle(req: { url: string }): void {\n  bus.on('x', () => req.url);\n}\n";
    let r = lint_source("a.ts", src, &Config::default());
    assert_eq!(
        r.findings.iter().map(|f| f.line).collect::<Vec<_>>(),
        vec![4]
    );
    let r = lint_source(
        "a.tsx",
        "export const A = (p: { n: number }) => <div>{p.n}</div>;\n",
        &Config::default(),
    );
    assert!(r.error.is_none() && r.findings.is_empty());
    let r = lint_source("bad.js", "function (", &Config::default());
    assert!(r.error.unwrap().message.starts_with("cannot parse"));
}

// ---- unbounded-collection across modules ------------------------------------------------

/// A session store: `openSession` adds to a module-level Map, the exported
/// `closeSession` is the only code that deletes from it.
const SESSIONS: &str = "const open = new Map();\nfunction openSession(user) {\n  const s = { id: Math.random(), user };\n  open.set(s.id, s);\n  return s;\n}\nfunction closeSession(id) {\n  open.delete(id);\n}\nmodule.exports = { openSession, closeSession };\n";

/// The importer: opens a session per request (line 4) and never closes it.
const OPENS: &str = "const serve = require('./service');\nconst { openSession } = require('./lib/sessions');\nserve((req) => {\n  const s = openSession(req.user);\n  return s.id;\n});\n";

/// Lints a fresh package (a package.json and `files`) and returns each
/// finding's file, rule and line.
fn package(name: &str, files: &[(&str, &str)]) -> Vec<(String, Rule, u32)> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lint-packages")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (rel, text) in files.iter().chain([&("package.json", "{}")]) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let r = lint::lint_paths(std::slice::from_ref(&dir), &Config::default()).unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let mut out: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            let rel = std::path::Path::new(&f.path).strip_prefix(&dir).unwrap();
            (rel.display().to_string(), f.rule, f.line)
        })
        .collect();
    out.sort();
    out
}

fn flagged(file: &str, line: u32) -> Vec<(String, Rule, u32)> {
    vec![(file.to_owned(), Rule::UnboundedCollection, line)]
}

#[test]
fn cross_module_store_never_emptied_is_flagged() {
    let files = [("app.js", OPENS), ("lib/sessions.js", SESSIONS)];
    assert_eq!(package("cjs", &files), flagged("app.js", 4));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lint-packages/cjs");
    let r = lint::lint_file(&dir.join("app.js"), &Config::default());
    assert_eq!(
        r.findings[0].message,
        "openSession() adds to Map `open` in lib/sessions.js on every call, and nothing in this package calls closeSession(), which removes from it (runtime pattern: unbounded_collection)"
    );
    let namespace = "const sessions = require('./lib/sessions');\nmodule.exports = function handle(req) {\n  // Forgot: closeSession\n  return sessions.openSession(req.user).id;\n};\n";
    let files = [("app.js", namespace), ("lib/sessions.js", SESSIONS)];
    assert_eq!(package("namespace", &files), flagged("app.js", 4));
}

#[test]
fn cross_module_esm_import_is_flagged() {
    let lib = "const open = new Set();\nexport function track(job) {\n  open.add(job);\n}\nexport const untrack = (job) => {\n  open.delete(job);\n};\n";
    let app = "import { track } from './lib/jobs.mjs';\nexport function handle(job) {\n  track(job);\n}\n";
    let files = [("app.mjs", app), ("lib/jobs.mjs", lib)];
    assert_eq!(package("esm", &files), flagged("app.mjs", 3));
    let lib = lib.replace("export ", "") + "export { track, untrack };\n";
    let app = app.replace("./lib/jobs.mjs", "./lib/jobs");
    let files = [("app.ts", app.as_str()), ("lib/jobs.ts", lib.as_str())];
    assert_eq!(package("esm-specifiers", &files), flagged("app.ts", 3));
}

#[test]
fn cross_module_fixed_twin_is_clean() {
    let fixed = OPENS
        .replace("return s.id;", "closeSession(s.id);")
        .replace("{ openSession }", "{ openSession, closeSession }");
    let files = [("app.js", fixed.as_str()), ("lib/sessions.js", SESSIONS)];
    assert_eq!(package("fixed", &files), vec![]);
    // Linted from memory (an editor's buffer): the text given counts, not the file's.
    let files = [("app.js", OPENS), ("lib/sessions.js", SESSIONS)];
    package("from-memory", &files);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lint-packages/from-memory");
    let app = dir.join("app.js").display().to_string();
    assert!(
        lint_source(&app, &fixed, &Config::default())
            .findings
            .is_empty()
    );
    assert_eq!(
        lint_source(&app, OPENS, &Config::default()).findings.len(),
        1
    );
}

#[test]
fn cross_module_remover_called_elsewhere_is_clean() {
    let reaper = "const { closeSession } = require('./lib/sessions');\nmodule.exports = (ids) => ids.forEach(closeSession);\n";
    let files = [
        ("app.js", OPENS),
        ("lib/sessions.js", SESSIONS),
        ("reaper.js", reaper),
    ];
    assert_eq!(package("elsewhere", &files), vec![]);
}

#[test]
fn cross_module_store_bounded_by_its_module_is_clean() {
    for (name, bound) in [
        (
            "size",
            "  if (open.size > 1000) open.delete(open.keys().next().value);\n",
        ),
        ("ttl", "  setTimeout(() => open.delete(s.id), 60_000);\n"),
        ("closer", "  s.close = () => closeSession(s.id);\n"),
    ] {
        let lib = SESSIONS.replace("  return s;\n", &format!("{bound}  return s;\n"));
        let files = [("app.js", OPENS), ("lib/sessions.js", lib.as_str())];
        assert_eq!(package(name, &files), vec![], "{name}");
    }
    let sweep = format!("{SESSIONS}setInterval(() => open.clear(), 60_000);\n");
    let files = [("app.js", OPENS), ("lib/sessions.js", sweep.as_str())];
    assert_eq!(package("sweep", &files), vec![]);
}

#[test]
fn cross_module_call_at_startup_is_clean() {
    let app = "const { openSession } = require('./lib/sessions');\nconst admin = openSession('admin');\nmodule.exports = admin;\n";
    let files = [("app.js", app), ("lib/sessions.js", SESSIONS)];
    assert_eq!(package("startup", &files), vec![]);
}
