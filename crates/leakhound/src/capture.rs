//! `leakhound snapshot`, `leakhound profile`, `leakhound run`: capturing from live processes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use heapsnap::{HeapGraph, Parser};
use inspector::Session;
use inspector::snapshot::{SnapshotOptions, estimate, take_heap_snapshot};

use crate::progress::Progress;
use crate::target::{self, TargetArgs, parse_duration};
use crate::{analyze, fmt, output};

/// Where a capture goes while it is being written, and what to do with it.
///
/// The data goes to an unnamed file in the target directory (`O_TMPFILE`)
/// that gets a name only once complete, so nothing is left behind even when
/// leakhound itself is killed (Ctrl-C, OOM). Where the file system cannot
/// do that, a hidden `.NAME.partial-PID` file is used and removed on failure.
struct Sink {
    final_path: PathBuf,
    tmp_path: PathBuf,
    file: Option<BufWriter<File>>,
    /// The file has no name yet (`O_TMPFILE`).
    anonymous: bool,
    /// Renamed into place: nothing to clean up.
    done: bool,
    parser: Option<Parser>,
}

impl Sink {
    fn create(path: &Path, parse: bool) -> Result<Sink> {
        use std::os::unix::fs::OpenOptionsExt;
        // A symlink's target is written; the link stays.
        let path = &crate::output::resolve(path);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .with_context(|| format!("{}: not a file name", path.display()))?;
        let tmp_path = dir.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let anonymous = std::fs::OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir);
        let (file, anonymous) = match anonymous {
            Ok(f) => (f, true),
            Err(_) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp_path)
                    .with_context(|| format!("{}: cannot create", path.display()))?;
                (f, false)
            }
        };
        Ok(Sink {
            final_path: path.to_owned(),
            tmp_path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            anonymous,
            done: false,
            parser: parse.then(Parser::new),
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk)
                .with_context(|| format!("{}: cannot write", self.final_path.display()))?;
        }
        if let Some(p) = self.parser.as_mut() {
            p.feed(chunk).map_err(|e| {
                anyhow!(
                    "{}: the inspector sent an invalid snapshot: {e}",
                    self.final_path.display()
                )
            })?;
        }
        Ok(())
    }

    /// Flushes, syncs and renames into place; returns the parsed graph if parsing was on.
    /// On failure the partial file is removed (by `Drop`).
    fn finish(mut self) -> Result<Option<HeapGraph>> {
        let file = self.file.take().expect("open sink");
        let shown = self.final_path.display().to_string();
        let f = file
            .into_inner()
            .map_err(|e| anyhow!("{shown}: cannot write: {}", e.error()))?;
        f.sync_all()
            .with_context(|| format!("{shown}: cannot write"))?;
        let graph = match self.parser.take() {
            Some(p) => Some(
                p.finish()
                    .map_err(|e| anyhow!("{shown}: the inspector sent an invalid snapshot: {e}"))?,
            ),
            None => None,
        };
        if self.anonymous {
            link_anonymous(&f, &self.tmp_path).with_context(|| format!("{shown}: cannot write"))?;
        }
        drop(f);
        std::fs::rename(&self.tmp_path, &self.final_path)
            .with_context(|| format!("{shown}: cannot rename into place"))?;
        self.done = true;
        Ok(graph)
    }
}

/// Gives an `O_TMPFILE` file the name `to`.
fn link_anonymous(f: &File, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Not renamed into place: the capture failed. Never leave a partial file behind.
        // (An unnamed file vanishes with its descriptor; once linked, it has the temp name.)
        if !self.done {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// A default file name: `heap-<who>-<unix time>.heapsnapshot`.
pub fn default_path(dir: &Path, who: Option<u32>, ext: &str) -> PathBuf {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let who = who.map(|p| format!("{p}-")).unwrap_or_default();
    dir.join(format!("heap-{who}{t}.{ext}"))
}

/// Free memory on this machine (MemAvailable), if known.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub struct CaptureOptions {
    pub snapshot: SnapshotOptions,
    pub parse: bool,
    pub gc_first: bool,
    pub force: bool,
}

/// Takes one heap snapshot into `path` (0600, temp file + rename).
pub async fn capture(
    session: &Session,
    target_name: &str,
    path: &Path,
    opts: &CaptureOptions,
    progress: &Progress,
) -> Result<(u64, Option<HeapGraph>)> {
    if let Ok(est) = estimate(session).await {
        let extra = est.extra_target_memory;
        if extra > 256 << 20 {
            eprintln!(
                "note: {target_name} uses {} of heap (~{} objects); writing the snapshot needs about {} more in the target",
                fmt::bytes(est.heap_used),
                est.estimated_nodes,
                fmt::bytes(extra)
            );
        }
        if let Some(avail) = mem_available()
            && extra > avail
            && !opts.force
        {
            anyhow::bail!(
                "{target_name}: a snapshot needs about {} more memory in the target, only {} is available\nhint: pass --force to capture anyway",
                fmt::bytes(extra),
                fmt::bytes(avail)
            );
        }
    }
    if opts.gc_first {
        inspector::snapshot::collect_garbage(session)
            .await
            .with_context(|| target_name.to_owned())?;
    }
    let mut sink = Sink::create(path, opts.parse)?;
    // Two phases: V8 counts the objects it walks, then streams the file
    // (its size unknown in advance): objects, then bytes received.
    let who = fmt::truncate(target_name, 20);
    let bar = progress.count(0, &format!("walking the heap of {who}"), "objects");
    let walked = std::cell::Cell::new(false);
    let writing = || {
        if !walked.replace(true) {
            bar.set_style(crate::progress::receiving_style());
            bar.set_message(format!("writing the snapshot of {who}"));
            bar.set_position(0);
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
        }
    };
    let result = take_heap_snapshot(
        session,
        opts.snapshot,
        |chunk| {
            writing();
            bar.inc(chunk.len() as u64);
            sink.write(chunk)
        },
        |done, total| {
            if total > 0 && !walked.get() {
                bar.set_length(total);
                bar.set_position(done);
                if done >= total {
                    writing();
                }
            }
        },
    )
    .await;
    bar.finish_and_clear();
    let stats = match result {
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("{target_name}: snapshot failed; no file written")));
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(s)) => s,
    };
    if !stats.between_tasks {
        eprintln!(
            "note: {target_name}: the event loop stayed busy for {}s, so the snapshot was taken in the middle of a task (objects a function was working on are held by its stack)",
            inspector::snapshot::BOUNDARY_WAIT.as_secs()
        );
    }
    let graph = sink.finish()?;
    Ok((stats.bytes, graph))
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output file (default: heap-<pid>-<time>.heapsnapshot in the current directory)
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Analyse the snapshot right after capturing it (parsed while it streams in)
    #[arg(long)]
    pub analyze: bool,
    /// Run a full garbage collection first
    #[arg(long)]
    pub gc: bool,
    /// Do not turn the heap profiler off after the snapshot. V8 forgets object ids when the
    /// inspector session closes (as it does when this command ends), so this does not make a
    /// series of lone snapshots comparable: take series with `hunt` or `run --keep-profiler`
    #[arg(long)]
    pub keep_profiler: bool,
    /// With --activate: leave the inspector open afterwards (by default the one SIGUSR1
    /// opened is closed again: it grants code execution to anyone on the machine)
    #[arg(long)]
    pub keep_inspector: bool,
    /// Include V8 internals (no user roots)
    #[arg(long)]
    pub expose_internals: bool,
    /// Capture even if the target may run out of memory while writing the snapshot
    #[arg(long)]
    pub force: bool,
    /// With -- COMMAND: wait this long after start before capturing
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub delay: Duration,
}

pub async fn snapshot(args: &SnapshotArgs, progress: &Progress) -> Result<()> {
    // Our stdout may carry a report (--analyze): the app's goes to stderr.
    if let Some(p) = &args.output {
        output::check_output(p, &[])?;
        if output::is_stream(p) {
            anyhow::bail!(
                "{}: a snapshot is written to a file, not to a pipe or device\nhint: give a file name, then read it from there",
                p.display()
            );
        }
    }
    let mut t = target::open_with(&args.target, true, Duration::from_secs(30)).await?;
    if t.child.is_some() {
        tokio::time::sleep(args.delay).await;
    }
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_path(Path::new("."), t.pid, "heapsnapshot"));
    let session = match t.connect_live().await {
        Ok(s) => s,
        Err(e) => {
            t.stop().await;
            return Err(e);
        }
    };
    let opts = CaptureOptions {
        snapshot: SnapshotOptions {
            expose_internals: args.expose_internals,
            capture_numeric_value: false,
            keep_profiler_enabled: args.keep_profiler,
        },
        parse: args.analyze,
        gc_first: args.gc,
        force: args.force,
    };
    let result = capture(&session, &t.name, &path, &opts, progress).await;
    t.close_opened_inspector(session, args.keep_inspector).await;
    t.stop().await;
    if t.opened_inspector && !args.keep_inspector {
        eprintln!(
            "leakhound: closed the inspector --activate opened in {}",
            t.name
        );
    }
    let (bytes, graph) = result?;
    eprintln!("wrote {} ({})", path.display(), fmt::bytes(bytes));
    if let Some(graph) = graph {
        let analysis = analysis::Analysis::run(&graph, |_| {});
        let report = analyze::build_report(&path, bytes, &graph, &analysis, 25, 10);
        output::emit(None, &analyze::render(&report))?;
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to sample
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Average bytes between samples (smaller: more detail, more overhead)
    #[arg(long, default_value_t = 32768)]
    pub interval: u64,
    /// Output file (default: heap-<pid>-<time>.heapprofile, or .pb.gz with --format pprof)
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// File format: heapprofile (JSON; opens in Chrome DevTools' Memory panel) or pprof
    /// (gzipped protobuf for `go tool pprof`, Grafana Pyroscope, Parca). Without it, an -o
    /// name ending in .pb.gz means pprof; anything else heapprofile
    #[arg(long, value_enum)]
    pub format: Option<ProfileFormat>,
    /// How many allocation sites to list
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// With --activate: leave the inspector open afterwards (by default the one SIGUSR1
    /// opened is closed again)
    #[arg(long)]
    pub keep_inspector: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileFormat {
    /// V8's JSON (`.heapprofile`)
    Heapprofile,
    /// gzipped pprof protobuf (`.pb.gz`)
    Pprof,
}

impl ProfileFormat {
    /// `--format`, else what the output name says (`.pb.gz`: pprof).
    fn choose(format: Option<ProfileFormat>, output: Option<&Path>) -> ProfileFormat {
        let pb_gz = || output.is_some_and(|p| p.to_string_lossy().ends_with(".pb.gz"));
        match format {
            Some(f) => f,
            None if pb_gz() => ProfileFormat::Pprof,
            None => ProfileFormat::Heapprofile,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ProfileFormat::Heapprofile => "heapprofile",
            ProfileFormat::Pprof => "pb.gz",
        }
    }
}

#[derive(serde::Serialize)]
struct ProfileReport<'a> {
    schema_version: u32,
    kind: &'static str,
    target: &'a str,
    duration_seconds: f64,
    profile_file: String,
    profile_format: ProfileFormat,
    live_bytes_sampled: u64,
    sites: Vec<inspector::profile::AllocationSite>,
}

pub async fn profile(args: &ProfileArgs, progress: &Progress) -> Result<()> {
    output::check_outputs(&[args.output.as_deref()], &[])?;
    let format = ProfileFormat::choose(args.format, args.output.as_deref());
    let mut t = target::open_with(&args.target, true, Duration::from_secs(30)).await?;
    let session = match t.connect_live().await {
        Ok(s) => s,
        Err(e) => {
            t.stop().await;
            return Err(e);
        }
    };
    let spinner = progress.spinner(&format!("sampling allocations for {:?}", args.duration));
    let interval = args.interval.max(1);
    let (started, clock) = (SystemTime::now(), std::time::Instant::now());
    let result = inspector::profile::sample_heap(&session, args.duration, interval).await;
    let sampled_for = clock.elapsed();
    spinner.finish_and_clear();
    t.close_opened_inspector(session, args.keep_inspector).await;
    t.stop().await;
    let profile = result.with_context(|| t.name.clone())?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_path(Path::new("."), t.pid, format.extension()));
    let bytes = match format {
        ProfileFormat::Heapprofile => {
            serde_json::to_vec(&profile).context("cannot serialize the profile")?
        }
        ProfileFormat::Pprof => profile.to_pprof(interval, started, sampled_for),
    };
    output::write_private(&path, &bytes)?;
    let mut sites = profile.top_sites();
    sites.truncate(args.top);
    let report = ProfileReport {
        schema_version: crate::SCHEMA_VERSION,
        kind: "profile",
        target: &t.name,
        duration_seconds: args.duration.as_secs_f64(),
        profile_file: path.display().to_string(),
        profile_format: format,
        live_bytes_sampled: profile.total_bytes(),
        sites,
    };
    if args.json {
        return output::emit(None, &output::json(&report)?);
    }
    let mut out = format!(
        "{}: {} live in sampled allocations after {:?}; profile written to {}\n",
        t.name,
        fmt::bytes(report.live_bytes_sampled),
        args.duration,
        report.profile_file
    );
    if format == ProfileFormat::Pprof {
        out.push_str(&format!(
            "open it with: go tool pprof -http=127.0.0.1:8080 {}\n",
            report.profile_file
        ));
    }
    out.push('\n');
    let mut table = output::table(&["Live bytes", "Share", "Function", "Location"]);
    for s in &report.sites {
        let loc = if s.url.is_empty() {
            "(native)".to_owned()
        } else {
            format!("{}:{}:{}", s.url, s.line, s.column)
        };
        table.add_row(vec![
            fmt::bytes(s.bytes),
            format!("{:.1}%", s.share * 100.0),
            fmt::truncate(&s.function, 40),
            loc,
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    output::emit(None, &out)
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Take a snapshot at this interval (e.g. 10m)
    #[arg(long, value_parser = parse_duration)]
    pub snapshot_every: Option<Duration>,
    /// Directory for snapshots
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Stop taking snapshots after this many
    #[arg(long, default_value_t = 10)]
    pub max_snapshots: u32,
    /// Keep the heap profiler on between snapshots so their object ids match
    /// (for `find-leaks`); the app's GC is ~10x slower from the first snapshot on
    #[arg(long)]
    pub keep_profiler: bool,
    /// The command to run, e.g. -- node app.js
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The exit status a shell would report: the code, or 128 + the signal.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// Runs the app under the inspector; snapshots on SIGUSR2 and on a timer.
pub async fn run(args: &RunArgs, progress: &Progress) -> Result<std::process::ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    // Before the app starts, as hunt --out-dir does.
    output::create_private_dir(&args.dir)?;
    let targs = TargetArgs {
        command: args.command.clone(),
        ..TargetArgs::default()
    };
    // Listen before announcing: a SIGUSR2 sent on seeing the message must not kill us.
    let mut usr2 = signal(SignalKind::user_defined2()).context("cannot listen for SIGUSR2")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut t = target::open(&targs).await?;
    let pid = t.pid.unwrap_or(0);
    eprintln!(
        "leakhound: {} runs as pid {pid}; inspector at {}\nleakhound: send SIGUSR2 to {} for a heap snapshot",
        args.command.join(" "),
        t.ws_url,
        std::process::id()
    );
    let every = args
        .snapshot_every
        .unwrap_or(Duration::from_secs(365 * 24 * 3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut taken = 0u32;
    // With --keep-profiler, the session of the first snapshot stays open.
    let mut kept: Option<Session> = None;
    let opts = CaptureOptions {
        snapshot: SnapshotOptions {
            keep_profiler_enabled: args.keep_profiler,
            ..SnapshotOptions::default()
        },
        parse: false,
        gc_first: false,
        force: false,
    };
    loop {
        let child = &mut t.child.as_mut().expect("launched child").child;
        let want_snapshot = tokio::select! {
            status = child.wait() => {
                let status = status.context("waiting for the app")?;
                if let Some(l) = t.child.as_mut() {
                    l.flush_stderr(Duration::from_secs(2)).await;
                }
                eprintln!("leakhound: the app exited ({status}); {taken} snapshot(s) taken");
                return Ok(std::process::ExitCode::from(exit_code(status)));
            }
            _ = usr2.recv() => true,
            _ = ticker.tick() => args.snapshot_every.is_some(),
            _ = sigint.recv() => { t.stop().await; return Ok(std::process::ExitCode::from(130)); }
            _ = sigterm.recv() => { t.stop().await; return Ok(std::process::ExitCode::from(143)); }
        };
        if !want_snapshot || taken >= args.max_snapshots {
            continue;
        }
        let path = default_path(&args.dir, Some(pid), "heapsnapshot");
        let result = async {
            let session = match kept.take() {
                Some(s) => s,
                None => t.connect().await?,
            };
            let r = capture(&session, &t.name, &path, &opts, progress).await;
            if args.keep_profiler && r.is_ok() {
                // Closing the session would turn the profiler off: V8 then
                // forgets the object ids and numbers the next snapshot afresh.
                kept = Some(session);
            } else {
                session.close().await;
            }
            r
        }
        .await;
        match result {
            Ok((bytes, _)) => {
                taken += 1;
                eprintln!(
                    "leakhound: wrote {} ({})",
                    path.display(),
                    fmt::bytes(bytes)
                );
            }
            Err(e) => eprintln!("leakhound: snapshot failed: {}", crate::one_line(&e)),
        }
    }
}
