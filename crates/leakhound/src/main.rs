//! The `leakhound` command line.

mod allocstack;
mod analyze;
mod bypath;
mod capture;
mod describe;
mod explorer;
mod findleaks;
mod fmt;
mod history;
mod hunt;
mod inspect;
mod lintcmd;
mod load;
mod output;
mod progress;
mod report;
mod schema;
mod target;
mod watch;

use std::process::ExitCode;

use anyhow::Context;

use clap::{Parser, Subcommand};

/// Version of the JSON reports; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Find memory leaks in Node.js services: what leaks, who retains it, where it was made.
#[derive(Parser, Debug)]
#[command(name = "leakhound", version, about, long_about = None)]
struct Cli {
    /// No progress bars
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse a .heapsnapshot: statistics, classes and the biggest objects with their retainers
    Analyze(analyze::AnalyzeArgs),
    /// Compare two snapshots class by class (DevTools' Comparison view)
    Diff(findleaks::DiffArgs),
    /// Find leaks in three or more snapshots of one process (exit 1 when a leak is found)
    #[command(after_long_help = findleaks::READING_HELP)]
    FindLeaks(findleaks::FindLeaksArgs),
    /// Start or attach to a service, drive load, take snapshots and report the leak (exit 1 when found)
    #[command(after_long_help = findleaks::READING_HELP)]
    Hunt(hunt::HuntArgs),
    /// Capture a heap snapshot from a live process over the inspector
    Snapshot(capture::SnapshotArgs),
    /// Sample allocations for a while and list where live memory was allocated
    Profile(capture::ProfileArgs),
    /// Run a command under the inspector; heap snapshots on SIGUSR2 or on a timer
    Run(capture::RunArgs),
    /// Watch services: sample memory, GC and event-loop delay; trends, alerts, /metrics, history
    /// (with -- COMMAND: exit 0 when the app ends cleanly, 3 when it fails)
    Watch(watch::WatchArgs),
    /// Browse snapshots and heap profiles in a local web UI (DevTools' Memory panel, at any size)
    Explore(explorer::ExploreArgs),
    /// One object as DevTools' object view: edges, retainers tree, dominators, paths (text or JSON)
    Inspect(inspect::InspectArgs),
    /// Show the samples and heap trend recorded by `watch`
    History(history::HistoryArgs),
    /// Render a saved JSON report as a self-contained HTML page
    Report(report::ReportArgs),
    /// Print the JSON Schema of a report (generated from the code)
    Schema(schema::SchemaArgs),
    /// Check JavaScript/TypeScript sources for the leak patterns before they ship (exit 1 on findings)
    #[command(after_long_help = lintcmd::AFTER_HELP)]
    Lint(lintcmd::LintArgs),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// Runs a command on the async runtime; Ctrl-C (SIGINT) or SIGTERM abandons
/// it: dropping the future drops what it holds (unnamed temp files, started
/// children, temporary directories), so nothing half-done is left behind.
/// Our own handlers also override a SIGINT that the parent set to ignore.
fn interruptible(fut: impl Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = runtime()?;
    let result = rt.block_on(async {
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = fut => r,
            _ = int.recv() => {
                eprintln!("leakhound: interrupted");
                Ok(ExitCode::from(130))
            }
            _ = term.recv() => {
                eprintln!("leakhound: terminated");
                Ok(ExitCode::from(143))
            }
        }
    });
    // Do not wait for an abandoned analysis on a blocking thread.
    rt.shutdown_background();
    result
}

/// Big allocations (per-node arrays) get their own mappings, returned to the
/// system when freed. glibc would otherwise raise its mmap threshold after the
/// first such free and serve later arrays of just under 32 MiB from the heap,
/// where freed memory stays resident: tens of MiB on a large snapshot.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    let progress = progress::Progress::new(cli.quiet);
    let result = match &cli.command {
        Command::Analyze(args) => analyze::run(args, &progress).map(|()| ExitCode::SUCCESS),
        Command::Diff(args) => findleaks::diff(args, &progress).map(|()| ExitCode::SUCCESS),
        Command::FindLeaks(args) => findleaks::run(args, &progress),
        Command::Hunt(args) => interruptible(hunt::run(args, &progress)),
        Command::Snapshot(args) => interruptible(async {
            capture::snapshot(args, &progress)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
        Command::Profile(args) => interruptible(async {
            capture::profile(args, &progress)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
        Command::Run(args) => runtime().and_then(|rt| rt.block_on(capture::run(args, &progress))),
        Command::Watch(args) => runtime().and_then(|rt| rt.block_on(watch::run(args, cli.quiet))),
        Command::Explore(args) => {
            runtime().and_then(|rt| rt.block_on(explorer::run(args, &progress)))
        }
        Command::Inspect(args) => inspect::run(args, &progress).map(|()| ExitCode::SUCCESS),
        Command::History(args) => history::run(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Schema(args) => schema::run(args).map(|()| ExitCode::SUCCESS),
        Command::Lint(args) => lintcmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line; a hint (a cause starting with "hint:") goes on its own line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if let Some(h) = s.strip_prefix("hint: ") {
            hints.push(h.to_owned());
        } else if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    let mut out = parts.join(": ");
    for h in hints {
        out.push_str("\nhint: ");
        out.push_str(&h);
    }
    out
}
