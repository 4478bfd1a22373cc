//! The `leakhound` command line.

mod analyze;
mod capture;
mod describe;
mod findleaks;
mod fmt;
mod history;
mod hunt;
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
    FindLeaks(findleaks::FindLeaksArgs),
    /// Start or attach to a service, drive load, take three snapshots and report the leak (exit 1 when found)
    Hunt(hunt::HuntArgs),
    /// Capture a heap snapshot from a live process over the inspector
    Snapshot(capture::SnapshotArgs),
    /// Sample allocations for a while and list where live memory was allocated
    Profile(capture::ProfileArgs),
    /// Run a command under the inspector; heap snapshots on SIGUSR2 or on a timer
    Run(capture::RunArgs),
    /// Watch services: sample memory, GC and event-loop delay; trends, alerts, /metrics, history
    Watch(watch::WatchArgs),
    /// Show the samples and heap trend recorded by `watch`
    History(history::HistoryArgs),
    /// Render a saved JSON report as a self-contained HTML page
    Report(report::ReportArgs),
    /// Print the JSON Schema of a report (generated from the code)
    Schema(schema::SchemaArgs),
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

/// The system allocator, asking the kernel for transparent huge pages on big
/// blocks (the graph's columns and per-node arrays, hundreds of MiB on a large
/// snapshot): a fault per 2 MiB instead of per 4 KiB page. Where THP is off
/// or `madvise` fails nothing changes.
struct HugeBlocks;

/// Blocks this big get the advice (smaller ones would round up to 2 MiB).
const HUGE_BLOCK: usize = 8 << 20;

impl HugeBlocks {
    fn advise(ptr: *mut u8, size: usize) {
        #[cfg(target_os = "linux")]
        if size >= HUGE_BLOCK && !ptr.is_null() {
            const HUGE_PAGE: usize = 2 << 20;
            let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
            let end = (ptr as usize + size) / HUGE_PAGE * HUGE_PAGE;
            if end > start {
                // SAFETY: the range lies inside the block just allocated;
                // MADV_HUGEPAGE changes how it is backed, never its contents.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
                }
            }
        }
    }
}

// SAFETY: every call goes to `System` unchanged; `advise` only adds a hint.
unsafe impl std::alloc::GlobalAlloc for HugeBlocks {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { std::alloc::System.alloc(layout) };
        Self::advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        Self::advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        Self::advise(p, new_size);
        p
    }
}

#[global_allocator]
static ALLOCATOR: HugeBlocks = HugeBlocks;

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
        Command::History(args) => history::run(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Schema(args) => schema::run(args).map(|()| ExitCode::SUCCESS),
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
