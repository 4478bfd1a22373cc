//! The allocation sites `watch --alloc-sites` recorded: the sites that grew
//! in the most recent process, with their live bytes over time.

use monitor::sites::SiteFrame;
use monitor::store::SiteRead;
use serde::Serialize;

use crate::fmt;

/// Sites shown per target at most.
const MAX_SITES: usize = 10;

#[derive(Serialize, schemars::JsonSchema)]
pub struct SitePoint {
    ts_ms: i64,
    live_bytes: u64,
}

/// An allocation site that grew in the most recent process.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SiteHistory {
    /// The function that names the site (the application's own when on the stack).
    function: String,
    file: String,
    line: i64,
    column: i64,
    /// Allocating frame first, up to the named frame.
    stack: Vec<SiteFrame>,
    /// Whether it was still growing at the last read.
    growing: bool,
    /// Live bytes at the last read it was recorded at.
    live_bytes: u64,
    /// The fastest growth recorded for it (bytes per second).
    max_growth_bytes_per_second: f64,
    /// Lowest Mann–Kendall p-value recorded for it.
    p_value: f64,
    series: Vec<SitePoint>,
}

/// The sites that grew at some read of the last process, growing-now first.
pub fn summarize(reads: &[SiteRead]) -> Vec<SiteHistory> {
    let Some(last) = reads.last() else {
        return Vec::new();
    };
    let start = reads
        .iter()
        .rposition(|r| r.pid != last.pid)
        .map_or(0, |i| i + 1);
    let reads = &reads[start..];
    let mut out: Vec<SiteHistory> = Vec::new();
    for r in reads {
        for s in &r.sites {
            let i = match out.iter().position(|h| h.stack == s.stack) {
                Some(i) => i,
                None if s.growth_bytes_per_second.is_some() => {
                    out.push(new_site(&s.stack));
                    out.len() - 1
                }
                None => continue,
            };
            let h = &mut out[i];
            h.live_bytes = s.live_bytes;
            h.series.push(SitePoint {
                ts_ms: r.ts_ms,
                live_bytes: s.live_bytes,
            });
            if let (Some(g), Some(p)) = (s.growth_bytes_per_second, s.p_value) {
                h.max_growth_bytes_per_second = h.max_growth_bytes_per_second.max(g);
                h.p_value = h.p_value.min(p);
            }
        }
    }
    for h in &mut out {
        h.growing = last
            .sites
            .iter()
            .any(|s| s.stack == h.stack && s.growth_bytes_per_second.is_some());
    }
    out.sort_by(|a, b| {
        b.growing.cmp(&a.growing).then_with(|| {
            b.max_growth_bytes_per_second
                .total_cmp(&a.max_growth_bytes_per_second)
        })
    });
    out.truncate(MAX_SITES);
    out
}

fn new_site(stack: &[SiteFrame]) -> SiteHistory {
    let named = stack.last().cloned().unwrap_or(SiteFrame {
        function: "(unknown)".into(),
        file: String::new(),
        line: 0,
        column: 0,
    });
    SiteHistory {
        function: named.function,
        file: named.file,
        line: named.line,
        column: named.column,
        stack: stack.to_vec(),
        growing: false,
        live_bytes: 0,
        max_growth_bytes_per_second: 0.0,
        p_value: 1.0,
        series: Vec::new(),
    }
}

/// `handleRequest (app.js:9:23) via toString → slice`.
fn label(h: &SiteHistory) -> String {
    let mut s = h.stack.last().map(SiteFrame::label).unwrap_or_default();
    if h.stack.len() > 1 {
        let via: Vec<&str> = h.stack[..h.stack.len() - 1]
            .iter()
            .rev()
            .map(|f| f.function.as_str())
            .collect();
        s.push_str(&format!(" via {}", via.join(" → ")));
    }
    s
}

/// The text lines of a target's sites (nothing when none grew).
pub fn text(sites: &[SiteHistory]) -> String {
    if sites.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("  allocation sites that grew (sampling heap profiler, live bytes):\n");
    for h in sites {
        out.push_str(&format!(
            "    {:>12}/min  {}  {}, {} live{}\n",
            format!(
                "+{}",
                fmt::bytes((h.max_growth_bytes_per_second * 60.0) as u64)
            ),
            if h.growing { "growing" } else { "stopped" },
            label(h),
            fmt::bytes(h.live_bytes),
            if h.p_value < 0.001 {
                ", p < 0.001".to_owned()
            } else {
                format!(", p = {:.3}", h.p_value)
            }
        ));
    }
    out
}
