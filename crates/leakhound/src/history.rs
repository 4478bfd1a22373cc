//! `leakhound history`: samples recorded by `leakhound watch`, with a trend summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use monitor::store::{AlertRow, Row, Store};
use monitor::time::{now_ms, rfc3339};
use serde::Serialize;

use crate::target::parse_duration;
use crate::{fmt, output};

mod sites;

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// History database written by `leakhound watch`
    #[arg(long, default_value = "leakhound-history.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Only this target (service name)
    #[arg(long)]
    pub target: Option<String>,
    /// How far back to look
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub since: Duration,
    /// Rows per target in the table (the most recent)
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// One post-GC heap minimum per window of this length for the trend (default: the window
    /// `watch` used, as recorded in the history; else 60s)
    #[arg(long, value_parser = parse_duration)]
    pub trend_window: Option<Duration>,
    /// Print JSON (every sample) instead of tables
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TrendSummary {
    pid: u32,
    windows: usize,
    growth_mb_per_min: f64,
    growth_mb_per_min_lower: f64,
    growth_mb_per_min_upper: f64,
    p_value: f64,
    significant: bool,
    growing: bool,
    time_to_limit_seconds: Option<f64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TargetHistory {
    target: String,
    samples: Vec<Row>,
    trend: Option<TrendSummary>,
    alerts: Vec<AlertRow>,
    /// Allocation sites that grew in the most recent process (`watch --alloc-sites`).
    allocation_sites: Vec<sites::SiteHistory>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Report {
    schema_version: u32,
    #[schemars(extend("const" = "history"))]
    kind: &'static str,
    db: String,
    since: String,
    targets: Vec<TargetHistory>,
}

/// Trend over the floors of the most recent process (a restart resets the heap).
fn summarize(rows: &[Row], window: Duration) -> Option<TrendSummary> {
    let last = rows.last()?;
    let start = rows
        .iter()
        .rposition(|r| r.pid != last.pid)
        .map_or(0, |i| i + 1);
    let rows = &rows[start..];
    let t0 = rows[0].ts_ms;
    let points: Vec<trend::Point> = rows
        .iter()
        .map(|r| trend::Point::new((r.ts_ms - t0) as f64 / 1000.0, r.heap_floor))
        .collect();
    let minima = trend::window_minima(&points, window.as_secs_f64());
    let t = trend::analyze(&minima, &trend::Options::default()).ok()?;
    let per_min = 60.0 / (1024.0 * 1024.0);
    Some(TrendSummary {
        pid: last.pid,
        windows: t.points,
        growth_mb_per_min: t.mb_per_min(),
        growth_mb_per_min_lower: t.slope_lower * per_min,
        growth_mb_per_min_upper: t.slope_upper * per_min,
        p_value: t.mann_kendall.p_value,
        significant: t.significant,
        growing: t.growing(),
        time_to_limit_seconds: t.time_to_limit(last.heap_limit),
    })
}

fn mb(x: f64) -> String {
    fmt::bytes(x.max(0.0) as u64)
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

fn duration_text(secs: f64) -> String {
    if secs >= 86_400.0 {
        format!("{:.1} d", secs / 86_400.0)
    } else if secs >= 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else if secs >= 60.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

pub fn run(args: &HistoryArgs) -> Result<()> {
    if !args.db.exists() {
        bail!(
            "{}: no such history\nhint: `leakhound watch` writes it (see --db there)",
            args.db.display()
        );
    }
    if !std::fs::metadata(&args.db).is_ok_and(|m| m.is_file()) {
        bail!(
            "{}: not a regular file, so not a history database\nhint: `leakhound watch` writes one (see --db there)",
            args.db.display()
        );
    }
    output::check_outputs(&[args.html.as_deref()], &[args.db.as_path()])?;
    let store = Store::open_read(&args.db)?;
    // Read the samples as `watch` did: with the trend window it used.
    let window = args.trend_window.unwrap_or_else(|| {
        store
            .setting(monitor::store::TREND_WINDOW_MS)
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(60), Duration::from_millis)
    });
    let since_ms = now_ms() - args.since.as_millis() as i64;
    let rows = store.samples(args.target.as_deref(), since_ms)?;
    let alerts = store.alerts(args.target.as_deref(), since_ms)?;
    let site_reads = store.site_reads(args.target.as_deref(), since_ms)?;
    let mut names: Vec<String> = rows.iter().map(|r| r.target.clone()).collect();
    names.dedup();
    if let Some(t) = &args.target
        && names.is_empty()
    {
        let known: Vec<String> = store.targets()?.into_iter().map(|t| t.0).collect();
        if !known.iter().any(|k| k == t) {
            bail!(
                "no target {t:?} in {}{}",
                args.db.display(),
                if known.is_empty() {
                    String::new()
                } else {
                    format!("\nhint: known targets: {}", known.join(", "))
                }
            );
        }
    }
    let targets: Vec<TargetHistory> = names
        .into_iter()
        .map(|name| {
            let samples: Vec<Row> = rows.iter().filter(|r| r.target == name).cloned().collect();
            let trend = summarize(&samples, window);
            let alerts = alerts
                .iter()
                .filter(|a| a.target == name)
                .cloned()
                .collect();
            let reads: Vec<_> = site_reads
                .iter()
                .filter(|r| r.target == name)
                .cloned()
                .collect();
            TargetHistory {
                allocation_sites: sites::summarize(&reads),
                target: name,
                samples,
                trend,
                alerts,
            }
        })
        .collect();
    let report = Report {
        schema_version: crate::SCHEMA_VERSION,
        kind: "history",
        db: args.db.display().to_string(),
        since: rfc3339(since_ms),
        targets,
    };
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    if args.json {
        return output::emit(None, &output::json(&report)?);
    }
    output::emit(None, &text_report(&report, args.limit))
}

/// The terminal form: per target its trend, growing allocation sites, the
/// last `limit` samples and the alerts.
fn text_report(report: &Report, limit: usize) -> String {
    let mut out = String::new();
    if report.targets.is_empty() {
        out.push_str(&format!(
            "no samples in {} since {}\n",
            report.db, report.since
        ));
    }
    for t in &report.targets {
        let first = t.samples.first().map(|r| r.ts_ms).unwrap_or(0);
        let last = t.samples.last().map(|r| r.ts_ms).unwrap_or(0);
        out.push_str(&format!(
            "{}: {} samples from {} to {}\n",
            t.target,
            t.samples.len(),
            rfc3339(first),
            rfc3339(last)
        ));
        match &t.trend {
            None => out.push_str("  trend: not enough post-GC minima yet\n"),
            Some(s) => {
                let verdict = if s.growing {
                    "growing (significant)"
                } else if s.significant {
                    "shrinking (significant)"
                } else {
                    "no significant trend"
                };
                out.push_str(&format!(
                    "  trend (pid {}, {} windows): {verdict}, {:+.2} MB/min [{:+.2}, {:+.2}], p = {:.3}\n",
                    s.pid,
                    s.windows,
                    s.growth_mb_per_min,
                    s.growth_mb_per_min_lower,
                    s.growth_mb_per_min_upper,
                    s.p_value
                ));
                if let Some(ttl) = s.time_to_limit_seconds {
                    out.push_str(&format!(
                        "  at this rate the heap reaches its limit in {}\n",
                        duration_text(ttl)
                    ));
                }
            }
        }
        out.push_str(&sites::text(&t.allocation_sites));
        let mut table = output::table(&[
            "Time",
            "PID",
            "Heap used",
            "Post-GC",
            "Limit",
            "RSS",
            "GCs",
            "GC ms",
            "EL p99 ms",
        ]);
        let skip = t.samples.len().saturating_sub(limit);
        for r in &t.samples[skip..] {
            table.add_row(vec![
                rfc3339(r.ts_ms),
                r.pid.to_string(),
                mb(r.heap_used),
                mb(r.heap_floor),
                if r.heap_limit > 0.0 {
                    format!("{:.1}%", 100.0 * r.heap_used / r.heap_limit)
                } else {
                    "-".into()
                },
                mb(r.rss),
                r.gc_count.to_string(),
                format!("{:.1}", r.gc_seconds * 1000.0),
                ms(r.eventloop_p99_ms),
            ]);
        }
        output::align_right(&mut table, 1..=8);
        out.push_str(&table.to_string());
        out.push('\n');
        for a in &t.alerts {
            out.push_str(&format!(
                "  {} {} {} (value {})\n",
                rfc3339(a.ts_ms),
                a.alert,
                a.status,
                if a.value.is_finite() {
                    format!("{:.3}", a.value)
                } else {
                    "-".into()
                }
            ));
        }
        out.push('\n');
    }
    out
}
