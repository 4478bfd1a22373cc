//! The rules: names, the runtime pattern each one prevents, default
//! severities and explanations (`leakhound lint --explain RULE`).

use serde::{Deserialize, Serialize};

/// How serious a finding is; `Off` turns a rule off (config only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Off,
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Off => "off",
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "off" => Some(Severity::Off),
            "note" => Some(Severity::Note),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// A lint rule. Each prevents one runtime leak pattern of `leaks::Pattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    EventListenerInHandler,
    IntervalNeverCleared,
    UnboundedCollection,
    GlobalAccumulation,
    ClosureChain,
}

/// What `--explain` prints and SARIF carries as the rule's help.
pub struct Explanation {
    pub summary: &'static str,
    pub paragraph: &'static str,
    pub bad: &'static str,
    pub fixed: &'static str,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::EventListenerInHandler,
        Rule::IntervalNeverCleared,
        Rule::UnboundedCollection,
        Rule::GlobalAccumulation,
        Rule::ClosureChain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::EventListenerInHandler => "event-listener-in-handler",
            Rule::IntervalNeverCleared => "interval-never-cleared",
            Rule::UnboundedCollection => "unbounded-collection",
            Rule::GlobalAccumulation => "global-accumulation",
            Rule::ClosureChain => "closure-chain",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The runtime pattern (`leakhound hunt`'s `pattern` in JSON) this rule prevents.
    pub fn pattern(self) -> &'static str {
        match self {
            Rule::EventListenerInHandler => "event_listener",
            Rule::IntervalNeverCleared => "timer",
            Rule::UnboundedCollection => "unbounded_collection",
            Rule::GlobalAccumulation => "global_accumulation",
            Rule::ClosureChain => "closure",
        }
    }

    /// The rule that prevents a runtime pattern, if any.
    pub fn for_pattern(pattern: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.pattern() == pattern)
    }

    pub fn default_severity(self) -> Severity {
        match self {
            Rule::EventListenerInHandler | Rule::IntervalNeverCleared => Severity::Error,
            _ => Severity::Warning,
        }
    }

    pub fn explanation(self) -> Explanation {
        match self {
            Rule::EventListenerInHandler => Explanation {
                summary: "A listener is added to a long-lived emitter on every call and never removed",
                paragraph: "A function that runs per request, per connection or per instance adds a listener \
to an emitter that outlives it (a module-level EventEmitter, process, an AbortSignal kept for the \
whole process) and nothing in the file removes it. Every call leaves one more listener behind, and \
the listener keeps everything its closure captured: this is the runtime pattern `event_listener` \
(`leakhound hunt` reports it as \"event listener never removed\", held by `emitter._events.NAME` or an \
EventTarget's `kEvents`). Fix it by removing the listener when the work ends (`off`/`removeListener`/\
`removeEventListener`, in a `finally` or on the response's `close`), by adding it with `once` or \
`{ once: true }` when the event is sure to fire, with `{ signal }` of a per-request AbortController, or \
by registering it once at start-up. A subscription to a long-lived RxJS subject (`config$.subscribe(cb)`) \
and an axios interceptor (`client.interceptors.request.use(fn)`) added per call with the returned \
Subscription or id dropped are the same leak (held by `config$.observers`, `client.interceptors.request.handlers`): \
keep what registering returns and unsubscribe or eject it when done.",
                bad: "const bus = new EventEmitter();\nfunction handle(req) {\n  bus.on('reload', () => refresh(req));\n}",
                fixed: "const bus = new EventEmitter();\nfunction handle(req, res) {\n  const onReload = () => refresh(req);\n  bus.on('reload', onReload);\n  res.once('close', () => bus.off('reload', onReload));\n}",
            },
            Rule::IntervalNeverCleared => Explanation {
                summary: "An interval (or a timer-owning object) is started on every call and never cleared",
                paragraph: "`setInterval` runs until `clearInterval` is called with its handle, and keeps its \
callback and everything the callback captures alive meanwhile. Started inside a function that runs \
per request or per job, with the handle dropped, or stored where no `clearInterval` reaches it, every \
call adds an interval that never ends: the runtime pattern `timer` (`leakhound hunt`: \"timer or \
interval never cleared\", held by Node's timer lists). The same holds for objects that own such a \
timer, like a `new NodeCache()` made per request and never `close()`d. `unref()` does not help: it \
only lets the process exit, the interval still runs and holds its closure. Keep the handle and \
clear it when the work ends, or start one interval at start-up.",
                bad: "function startJob(job) {\n  setInterval(() => renew(job), 10_000);\n}",
                fixed: "function startJob(job) {\n  job.timer = setInterval(() => renew(job), 10_000);\n}\nfunction finishJob(job) {\n  clearInterval(job.timer);\n}",
            },
            Rule::UnboundedCollection => Explanation {
                summary: "A long-lived Map, Set, array or object gets entries per call and none are removed",
                paragraph: "A collection that lives as long as the process (declared at module level, or in a \
function that runs once) is added to by code that runs per request, and nothing in the file ever \
removes an entry, clears it, or checks its size: it grows with the traffic until the process runs \
out of memory. This is the runtime pattern `unbounded_collection` (`leakhound hunt`: \"unbounded \
Map/Set/Array cache\"). Libraries count too: an `LRUCache` without `max`/`maxSize` and a `NodeCache` \
without a TTL or `maxKeys` are unbounded. The collection may live in another module: when per-request \
code calls a function imported from a relative module (`openSession` of `require('./lib/sessions')`) \
that adds to a module-level collection there, the module removes entries only in other exported \
functions (`closeSession`), and no file of the package mentions those, the call is flagged. Fix it by \
deleting entries when their owner is done (call the remover), by bounding the collection (evict the \
oldest when `size` passes a limit, an LRU with a maximum, a TTL), or by keying it with a WeakMap so \
entries die with their keys.",
                bad: "const seen = new Map();\nfunction handle(req) {\n  seen.set(req.id, { at: Date.now(), url: req.url });\n}",
                fixed: "const seen = new Map();\nconst MAX = 1000;\nfunction handle(req) {\n  seen.set(req.id, { at: Date.now(), url: req.url });\n  if (seen.size > MAX) seen.delete(seen.keys().next().value);\n}",
            },
            Rule::GlobalAccumulation => Explanation {
                summary: "A global (globalThis/global/window property) is appended to per call and never trimmed",
                paragraph: "Data pushed onto a property of the global object from code that runs per request \
stays reachable from the global object for the life of the process, whichever module added it, and \
nothing in the file trims it. This is the runtime pattern `global_accumulation` (`leakhound hunt`: \
\"global variable accumulates\", anchored at `globalThis.NAME`). Fix it by capping the collection \
(drop the oldest past a limit), rotating it, flushing it to an external store unconditionally, or \
keeping the data in request scope.",
                bad: "global.requestLog = [];\nfunction handle(req) {\n  global.requestLog.push({ url: req.url, at: Date.now() });\n}",
                fixed: "global.requestLog = [];\nfunction handle(req) {\n  global.requestLog.push({ url: req.url, at: Date.now() });\n  if (global.requestLog.length > 500) global.requestLog.shift();\n}",
            },
            Rule::ClosureChain => Explanation {
                summary: "Each call keeps the previous value of a module variable alive through a closure",
                paragraph: "A function copies a module-level variable into a local (`const previous = last`), a \
closure in it uses that local, and another closure made in the same call is stored in the variable's \
new value. V8 gives all closures of one call a single shared context, so the new value's closure \
keeps `previous` alive even if it never uses it, and `previous` keeps the one before: a chain as long \
as the number of calls. The same chain forms when a call wraps the variable's current value in a new \
one (`log = log.child(...)`). This is the runtime pattern `closure` (`leakhound hunt`: \"closure keeps a \
large context alive\", a path of `captures` hops). Fix it by capturing only the fields you need \
(`const previousRates = last && last.rates`), clearing the local when done, or not chaining.",
                bad: "let last = null;\nfunction update() {\n  const previous = last;\n  const unused = () => previous && 'x';\n  last = { big: load(), read() { return 1; } };\n}",
                fixed: "let last = null;\nfunction update() {\n  const previousBig = last && last.big.length;\n  const unused = () => previousBig && 'x';\n  last = { big: load(), read() { return 1; } };\n}",
            },
        }
    }
}
