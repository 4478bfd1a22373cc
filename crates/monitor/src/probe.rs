//! The in-target probe: installed once per connection with `Runtime.evaluate`,
//! then read with one small evaluate per sample. No code change in the target.
//!
//! It keeps its state in a non-enumerable `globalThis[Symbol.for('leakhound')]`:
//! a `PerformanceObserver` for `gc` entries (counts, total time and
//! histogram buckets per kind, and the lowest heap seen right after a
//! collection) and a `monitorEventLoopDelay` histogram; both are read and
//! reset by each sample.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Upper bounds of the GC duration histogram (prom-client's buckets), seconds.
pub const GC_BUCKETS: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 2.0, 5.0];

const INSTALL: &str = r#"(() => {
  const key = Symbol.for('leakhound');
  const old = globalThis[key];
  if (old && old.version === 1) return 'present';
  const load = typeof process.getBuiltinModule === 'function'
    ? (n) => process.getBuiltinModule(n)
    : (process.mainModule && typeof process.mainModule.require === 'function')
      ? (n) => process.mainModule.require(n)
      : (typeof require === 'function' ? require : null);
  if (!load) throw new Error('cannot load node:v8 (needs Node >= 20.16, or a CommonJS main module)');
  const v8 = load('v8');
  const ph = load('perf_hooks');
  const B = [0.001, 0.01, 0.1, 1, 2, 5];
  const KINDS = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
  const s = { version: 1, v8, gc: {}, floor: Infinity };
  s.obs = new ph.PerformanceObserver((list) => {
    const used = v8.getHeapStatistics().used_heap_size;
    if (used < s.floor) s.floor = used;
    for (const e of list.getEntries()) {
      const kind = KINDS[e.detail ? e.detail.kind : e.kind] || 'other';
      const g = s.gc[kind] || (s.gc[kind] = { n: 0, sum: 0, b: [0, 0, 0, 0, 0, 0, 0] });
      const d = e.duration / 1000;
      g.n++;
      g.sum += d;
      let i = 0;
      while (i < B.length && d > B[i]) i++;
      g.b[i]++;
    }
  });
  s.obs.observe({ entryTypes: ['gc'] });
  s.eld = ph.monitorEventLoopDelay({ resolution: 10 });
  s.eld.enable();
  s.sample = () => new Promise((resolve) => {
    const start = process.hrtime.bigint();
    setImmediate(() => {
      const lag = Number(process.hrtime.bigint() - start) / 1e9;
      const m = process.memoryUsage();
      const h = s.v8.getHeapStatistics();
      const e = s.eld;
      const eld = e.count > 0
        ? [e.min, e.mean, e.stddev, e.percentile(50), e.percentile(90), e.percentile(99), e.max].map((x) => (Number.isFinite(x) ? x / 1e9 : 0))
        : null;
      const out = {
        t: Date.now(), pid: process.pid, up: process.uptime(), node: process.version,
        rss: m.rss, used: m.heapUsed, total: m.heapTotal, ext: m.external, ab: m.arrayBuffers,
        limit: h.heap_size_limit,
        spaces: s.v8.getHeapSpaceStatistics().map((x) => [x.space_name, x.space_used_size, x.space_size, x.space_available_size]),
        gc: s.gc, floor: Math.min(s.floor, m.heapUsed), lag, eld,
      };
      s.gc = {};
      s.floor = Infinity;
      e.reset();
      resolve(out);
    });
  });
  s.stop = () => { s.obs.disconnect(); s.eld.disable(); delete globalThis[key]; };
  Object.defineProperty(globalThis, key, { value: s, configurable: true, enumerable: false, writable: true });
  return 'installed';
})()"#;

const SAMPLE: &str =
    "(() => { const s = globalThis[Symbol.for('leakhound')]; return s ? s.sample() : null; })()";

const UNINSTALL: &str =
    "(() => { const s = globalThis[Symbol.for('leakhound')]; if (s) s.stop(); return true; })()";

/// GC activity of one kind since the previous sample.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GcKind {
    /// Collections.
    pub n: u64,
    /// Total time, seconds.
    pub sum: f64,
    /// Counts per bucket of [`GC_BUCKETS`], plus one over the last bound.
    pub b: Vec<u64>,
}

/// One reading of a target.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    /// Target's clock, ms since the epoch.
    pub t: f64,
    pub pid: u32,
    /// Seconds since the process started.
    pub up: f64,
    pub node: String,
    pub rss: f64,
    pub used: f64,
    pub total: f64,
    pub ext: f64,
    pub ab: f64,
    pub limit: f64,
    /// (space name, used, size, available).
    pub spaces: Vec<(String, f64, f64, f64)>,
    /// By kind: minor, major, incremental, weakcb.
    pub gc: BTreeMap<String, GcKind>,
    /// Lowest heap in use seen right after a collection (or now), bytes.
    pub floor: f64,
    /// setImmediate lag, seconds.
    pub lag: f64,
    /// Event-loop delay: min, mean, stddev, p50, p90, p99, max (seconds); none without data.
    pub eld: Option<Vec<f64>>,
}

impl Sample {
    pub fn gc_count(&self) -> u64 {
        self.gc.values().map(|g| g.n).sum()
    }

    pub fn gc_seconds(&self) -> f64 {
        self.gc.values().map(|g| g.sum).sum()
    }

    pub fn eld_at(&self, i: usize) -> Option<f64> {
        self.eld
            .as_ref()
            .and_then(|v| v.get(i).copied())
            .filter(|x| x.is_finite())
    }

    pub fn eld_p99(&self) -> Option<f64> {
        self.eld_at(5)
    }
}

async fn evaluate(session: &inspector::Session, expr: &str, timeout: Duration) -> Result<Value> {
    // Not includeCommandLineAPI: the probe must not depend on the console's helpers.
    let r = session
        .call_timeout(
            "Runtime.evaluate",
            json!({
                "expression": expr,
                "returnByValue": true,
                "silent": true,
                "awaitPromise": true,
            }),
            Some(timeout),
        )
        .await?;
    if let Some(ex) = r.get("exceptionDetails") {
        let text = ex
            .pointer("/exception/description")
            .and_then(Value::as_str)
            .or_else(|| ex.get("text").and_then(Value::as_str))
            .unwrap_or("exception");
        return Err(Error::Probe {
            target: session.target().to_owned(),
            message: text.lines().next().unwrap_or(text).to_owned(),
        });
    }
    Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
}

/// Installs the probe (idempotent).
pub async fn install(session: &inspector::Session, timeout: Duration) -> Result<()> {
    evaluate(session, INSTALL, timeout).await.map(|_| ())
}

/// Reads and resets the probe; installs it again if it is missing.
pub async fn sample(session: &inspector::Session, timeout: Duration) -> Result<Sample> {
    let mut v = evaluate(session, SAMPLE, timeout).await?;
    if v.is_null() {
        install(session, timeout).await?;
        v = evaluate(session, SAMPLE, timeout).await?;
    }
    serde_json::from_value(v).map_err(|e| Error::Probe {
        target: session.target().to_owned(),
        message: e.to_string(),
    })
}

/// Removes the probe from the target.
pub async fn uninstall(session: &inspector::Session, timeout: Duration) -> Result<()> {
    evaluate(session, UNINSTALL, timeout).await.map(|_| ())
}
