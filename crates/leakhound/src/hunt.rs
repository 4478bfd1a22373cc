//! `leakhound hunt`: start or attach, drive load, take three snapshots, find the leak.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use inspector::Session;
use inspector::snapshot::SnapshotOptions;
use inspector::target::is_loopback_host;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::capture::{CaptureOptions, capture};
use crate::findleaks::{self, LeakThresholds};
use crate::progress::Progress;
use crate::target::{self, TargetArgs, parse_duration};
use crate::{fmt, output};

#[derive(clap::Args, Debug)]
pub struct HuntArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Requests per load phase (two phases, after a warm-up)
    #[arg(long, default_value_t = 300)]
    pub requests: u32,
    /// Snapshots to take: a base after the warm-up, then one after each load phase (3 or more;
    /// a leak must grow alike in every phase, so more snapshots make the evidence stronger)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(3..=20))]
    pub snapshots: u32,
    /// Let the service settle this long after each load phase before the snapshot (in-flight
    /// work finishes, short-lived cache entries expire, sockets close)
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub settle: Duration,
    /// Warm-up requests before the first snapshot (default: same as --requests)
    #[arg(long)]
    pub warmup: Option<u32>,
    /// URL or path to request (default: / on the port the app listens on)
    #[arg(long)]
    pub url: Option<String>,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4)]
    pub concurrency: u32,
    /// Drive load with this shell command instead of built-in requests (run once per phase;
    /// LEAKHOUND_PHASE, LEAKHOUND_URL and LEAKHOUND_REQUESTS are set)
    #[arg(long)]
    pub scenario: Option<String>,
    /// Keep the snapshots in this directory (default: a temporary directory, removed afterwards)
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Wait at most this long for the app to start listening
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub startup_timeout: Duration,
    /// Record where objects are allocated (V8 allocation tracking, from the base snapshot
    /// to the last): the report then shows each leak's allocation stack. Slows the target
    /// while on (see the README for measurements)
    #[arg(long)]
    pub alloc_stacks: bool,
    #[command(flatten)]
    pub thresholds: LeakThresholds,
    /// Print the versioned JSON report
    #[arg(long)]
    pub json: bool,
    /// Write the report to this file (0600) instead of standard output
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, no network needed) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

/// HTTP ports the target's JavaScript listens on (asked over the inspector).
async fn listening_ports(session: &Session) -> Result<Vec<u16>> {
    const EXPR: &str = "(() => { const ports = []; for (const h of process._getActiveHandles()) { try { if (h && h.listening && typeof h.address === 'function') { const a = h.address(); if (a && a.port) ports.push(a.port); } } catch (e) {} } return ports; })()";
    let v = session.evaluate(EXPR, Duration::from_secs(5)).await?;
    let mut ports: Vec<u16> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_u64())
                .map(|p| p as u16)
                .collect()
        })
        .unwrap_or_default();
    // One port bound on IPv4 and IPv6 is one server.
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

/// The refusal to guess between several listening ports: loading the
/// wrong one (a metrics or admin server, an in-process stub) would report
/// no leak.
fn several_ports(ports: &[u16], path: &str) -> String {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!(
        "the app listens on ports {}; leakhound cannot tell which one serves the requests to load\nhint: pass --url http://127.0.0.1:PORT{path} with the port of the service's API",
        list.join(", ")
    )
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(s: &str) -> Result<Url> {
        let rest = s
            .strip_prefix("http://")
            .with_context(|| format!("{s}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse::<u16>().with_context(|| format!("{s}: bad port"))?,
            ),
            None => (authority.to_owned(), 80),
        };
        Ok(Url { host, port, path })
    }

    fn show(&self) -> String {
        format!("http://{}:{}{}", self.host, self.port, self.path)
    }
}

async fn resolve_url(args: &HuntArgs, session: &Session, started: bool) -> Result<Option<Url>> {
    // A scenario needs no URL, but gets the app's one in LEAKHOUND_URL when it listens.
    let optional = args.scenario.is_some() && args.url.is_none();
    let given = args.url.clone().unwrap_or_else(|| "/".to_owned());
    if given.starts_with("http://") {
        let url = Url::parse(&given)?;
        if !args.target.allow_remote && !is_loopback_host(&url.host) {
            bail!(
                "{given}: load is only sent to loopback addresses\nhint: pass --allow-remote to drive a remote service"
            );
        }
        return Ok(Some(url));
    }
    let path = if given.starts_with('/') {
        given
    } else {
        format!("/{given}")
    };
    let deadline = Instant::now()
        + if started {
            args.startup_timeout
        } else {
            Duration::from_secs(2)
        };
    loop {
        let mut ports = listening_ports(session).await?;
        if !ports.is_empty() {
            // A second server (an admin or metrics port) may follow the first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            ports = listening_ports(session).await?;
        }
        match ports.as_slice() {
            [] => {}
            &[port] => {
                return Ok(Some(Url {
                    host: "127.0.0.1".into(),
                    port,
                    path,
                }));
            }
            _ if optional => return Ok(None),
            many => bail!("{}", several_ports(many, &path)),
        }
        if Instant::now() >= deadline {
            if optional {
                return Ok(None);
            }
            bail!(
                "the app does not listen on any port\nhint: pass --url http://127.0.0.1:PORT/path, or --scenario 'command' to drive it"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn one_request(url: &Url) -> Result<u16> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: leakhound\r\nConnection: close\r\n\r\n",
        url.path, url.host, url.port
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    stream.read_to_end(&mut buf).await?;
    let status = std::str::from_utf8(&buf[..buf.len().min(32)])
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(0);
    Ok(status)
}

/// Sends `n` GET requests, `concurrency` at a time. Returns (ok, failed).
async fn drive(
    url: &Url,
    n: u32,
    concurrency: u32,
    bar: &indicatif::ProgressBar,
) -> Result<(u32, u32)> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let url = Url {
            host: url.host.clone(),
            port: url.port,
            path: url.path.clone(),
        };
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                match tokio::time::timeout(Duration::from_secs(10), one_request(&url)).await {
                    Ok(Ok(s)) if (200..400).contains(&s) => ok += 1,
                    _ => failed += 1,
                }
                bar.inc(1);
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.context("load task failed")?;
        ok += o;
        failed += f;
    }
    Ok((ok, failed))
}

async fn load_phase(
    args: &HuntArgs,
    url: Option<&Url>,
    phase: &str,
    n: u32,
    progress: &Progress,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    if let Some(cmd) = &args.scenario {
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("LEAKHOUND_PHASE", phase)
            .env("LEAKHOUND_URL", url.map(Url::show).unwrap_or_default())
            .env("LEAKHOUND_REQUESTS", n.to_string())
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .with_context(|| format!("cannot run scenario {cmd:?}"))?;
        if !status.success() {
            bail!("scenario {cmd:?} failed in the {phase} phase ({status})");
        }
        return Ok(());
    }
    let url = url.expect("a URL when there is no scenario");
    let bar = progress.count(u64::from(n), &format!("{phase}: load"), "requests");
    let driven = drive(url, n, args.concurrency, &bar).await;
    bar.finish_and_clear();
    let (ok, failed) = driven?;
    if ok == 0 {
        bail!(
            "{}: none of {n} requests succeeded in the {phase} phase",
            url.show()
        );
    }
    if failed > 0 {
        eprintln!(
            "note: {failed} of {n} requests to {} failed in the {phase} phase",
            url.show()
        );
    }
    Ok(())
}

/// Removes the private snapshot directories of hunts that died without
/// cleaning up (killed with SIGKILL): `leakhound-hunt-PID` whose process is gone.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("leakhound-hunt-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        let ours = entry.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: getuid cannot fail.
            m.is_dir() && m.uid() == unsafe { libc::getuid() }
        });
        if gone && ours {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub async fn run(args: &HuntArgs, progress: &Progress) -> Result<ExitCode> {
    sweep_stale_dirs();
    // Before the app starts: a hunt must not end in "cannot write".
    // The snapshot directory first: the report may go there (--html DIR/report.html).
    if let Some(d) = &args.out_dir {
        output::create_private_dir(d)?;
    }
    output::check_outputs(&[args.output.as_deref(), args.html.as_deref()], &[])?;
    // The report is ours to print on stdout; the app's output goes to stderr.
    let mut t = target::open_with(&args.target, true, args.startup_timeout).await?;
    let result = match hunt(args, &t, progress).await {
        Ok(code) => Ok(code),
        Err(e) => Err(t.explain(e, "during the hunt").await),
    };
    t.stop().await;
    result
}

async fn hunt(args: &HuntArgs, t: &target::Target, progress: &Progress) -> Result<ExitCode> {
    let session = t.connect().await?;
    let url = resolve_url(args, &session, t.child.is_some()).await?;
    let (dir, temporary) = match &args.out_dir {
        Some(d) => (d.clone(), false),
        None => {
            // Private (0700): snapshots hold the service's data.
            let d = std::env::temp_dir().join(format!("leakhound-hunt-{}", std::process::id()));
            output::create_private_dir(&d)?;
            (d, true)
        }
    };
    // Removed however this function ends, even when abandoned on Ctrl-C.
    let _cleanup = RemoveOnDrop(temporary.then(|| dir.clone()));
    let outcome = async {
        let warmup = args.warmup.unwrap_or(args.requests);
        let count = args.snapshots as usize;
        let phases: Vec<(String, &str, u32)> = (0..count)
            .map(|i| match i {
                0 => ("warmup".to_owned(), "base", warmup),
                _ if i == count - 1 => ("final".to_owned(), "final", args.requests),
                1 => ("target".to_owned(), "target", args.requests),
                _ => (format!("target{i}"), "target", args.requests),
            })
            .collect();
        let mut files = Vec::new();
        let mut loaded = Vec::new();
        for (i, (phase, label, n)) in phases.iter().enumerate() {
            let started = Instant::now();
            load_phase(args, url.as_ref(), phase, *n, progress).await?;
            let settling = progress.spinner(&format!("{phase}: letting the service settle"));
            tokio::time::sleep(args.settle).await;
            settling.finish_and_clear();
            if i == 0 && args.alloc_stacks {
                start_alloc_stacks(&session, t).await?;
            }
            let path = dir.join(format!("{}-{label}.heapsnapshot", i + 1));
            // The last capture turns the profiler off, allocation tracking with it.
            let opts = CaptureOptions {
                // The profiler stays on between snapshots so object ids match.
                snapshot: SnapshotOptions {
                    keep_profiler_enabled: i + 1 < count,
                    ..SnapshotOptions::default()
                },
                parse: true,
                gc_first: true,
                force: false,
            };
            let (bytes, graph) = capture(&session, &t.name, &path, &opts, progress).await?;
            eprintln!(
                "leakhound: {phase}: {n} requests in {:.1}s, snapshot {} ({})",
                started.elapsed().as_secs_f64(),
                path.display(),
                fmt::bytes(bytes)
            );
            files.push(path);
            loaded.push(graph.context("snapshot was not parsed while capturing")?);
        }
        let analysed: Vec<_> = tokio::task::spawn_blocking(move || {
            std::thread::scope(|s| {
                let hs: Vec<_> = loaded
                    .into_iter()
                    .map(|g| {
                        s.spawn(move || {
                            let a = analysis::Analysis::run(&g, |_| {});
                            (g, a)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().expect("analysis thread"))
                    .collect()
            })
        })
        .await
        .context("analysis failed")?;
        // The work between consecutive snapshots: growth is judged per request.
        let load: Vec<f64> = phases[1..].iter().map(|p| f64::from(p.2)).collect();
        let report = findleaks::build_report(&files, &analysed, &args.thresholds, &load)?;
        anyhow::Ok(report)
    }
    .await;
    if outcome.is_err() && !session.is_closed() {
        // The last snapshot did not turn the profiler off: do it now rather
        // than leave it to the end of the session. (On Ctrl-C this future is
        // dropped; the inspector then turns it off when the socket closes.)
        let _ = inspector::snapshot::stop_heap_profiler(&session, Duration::from_secs(5)).await;
    }
    session.close().await;
    let report = outcome?;
    if let Some(p) = &args.html {
        output::write_html(p, &report)?;
    }
    let text = if args.json {
        output::json(&report)?
    } else {
        findleaks::render(
            &report,
            args.output.is_none() && fmt::stdout_color(),
            args.thresholds.full_path,
        )
    };
    output::emit(args.output.as_deref(), &text)?;
    Ok(if report.leak_found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Turns allocation tracking on, after the warm-up: the leaked objects are
/// allocated after the base snapshot, so the warm-up runs at full speed.
/// In a target started here, heap compaction is turned off as well (the
/// process ends with the hunt): V8 drops the allocation trace of an object
/// that compaction moves once it has an id, so many leaked objects would
/// lose theirs. An attached process is left as it is.
async fn start_alloc_stacks(session: &Session, t: &target::Target) -> Result<()> {
    let compaction = if t.child.is_none() {
        "heap compaction left on: objects it moves may lose their stacks"
    } else {
        match inspector::snapshot::set_compaction(session, false).await {
            Ok(()) => "heap compaction off",
            Err(e) => {
                eprintln!("note: {}: cannot turn heap compaction off: {e}", t.name);
                "heap compaction on: objects it moves may lose their stacks"
            }
        }
    };
    inspector::snapshot::start_allocation_tracking(session)
        .await
        .with_context(|| format!("{}: cannot start allocation tracking", t.name))?;
    eprintln!("leakhound: allocation tracking on until the last snapshot ({compaction})");
    Ok(())
}

/// Removes a temporary directory when dropped.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
