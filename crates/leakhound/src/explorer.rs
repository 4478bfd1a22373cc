//! `leakhound explore FILE…`: the snapshot explorer, a local web UI
//! (crate `explore`) over heap snapshots and heap profiles.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use explore::{Heap, Item, Workspace};

use crate::findleaks::{self, LeakThresholds};
use crate::load;
use crate::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// Heap snapshots (.heapsnapshot) and sampling heap profiles (.heapprofile)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Address to serve on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Allow --listen on a non-loopback address (snapshots hold the service's data)
    #[arg(long)]
    pub allow_remote: bool,
    /// Open the page in a browser (xdg-open or $BROWSER)
    #[arg(long)]
    pub open: bool,
}

/// What a file holds, by its first bytes.
fn is_profile(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("{}: cannot open", path.display()))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(compact.starts_with("{\"head\""))
}

fn listen_addr(args: &ExploreArgs) -> Result<SocketAddr> {
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "--listen {}: not an address\nhint: give IP:PORT, such as 127.0.0.1:8080",
            args.listen
        )
    })?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        bail!(
            "--listen {addr}: not a loopback address; snapshots hold the service's data (secrets, tokens, user data)\nhint: pass --allow-remote if you mean it (the page is plain HTTP; the token in its URL is the only lock)"
        );
    }
    Ok(addr)
}

fn load_profile(path: &Path) -> Result<inspector::profile::SamplingProfile> {
    let text = load::read_text(path)?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a heap profile (.heapprofile)", path.display()))
}

/// Loads every file (heap snapshots two at a time) and, with three or more
/// snapshots, the find-leaks report.
fn workspace(files: &[PathBuf], progress: &Progress) -> Result<Workspace> {
    let mut kinds = Vec::with_capacity(files.len());
    for f in files {
        kinds.push(is_profile(f)?);
    }
    let heap_files: Vec<PathBuf> = files
        .iter()
        .zip(&kinds)
        .filter(|(_, p)| !**p)
        .map(|(f, _)| f.clone())
        .collect();
    let loaded = findleaks::load_all(&heap_files, progress)?;
    let leaks = if loaded.len() >= 3 {
        let thresholds = LeakThresholds {
            min_leak: None,
            min_growth: 100,
            min_objects: 1,
            top: 20,
            full_path: false,
        };
        findleaks::build_report(&heap_files, &loaded, &thresholds, &[])
            .map_err(|e| crate::one_line(&e))
            .and_then(|r| serde_json::to_value(r).map_err(|e| e.to_string()))
    } else {
        Err("the leaks view needs three or more snapshots of one process".to_owned())
    };
    let mut heaps = loaded.into_iter();
    let mut items = Vec::with_capacity(files.len());
    for (f, profile) in files.iter().zip(kinds) {
        let name = f.display().to_string();
        if profile {
            items.push(Item::Profile {
                file: name,
                profile: Box::new(load_profile(f)?),
            });
        } else {
            let (graph, analysis) = heaps.next().expect("one analysis per snapshot");
            let bytes = std::fs::metadata(f).map_or(0, |m| m.len());
            items.push(Item::Heap(Box::new(Heap::new(
                name, bytes, graph, analysis,
            ))));
        }
    }
    Ok(Workspace::new(items, leaks))
}

pub async fn run(args: &ExploreArgs, progress: &Progress) -> Result<ExitCode> {
    let addr = listen_addr(args)?;
    let server = explore::server::Server::bind(addr).await?;
    let files = args.files.clone();
    let progress = *progress;
    let ws = tokio::task::spawn_blocking(move || workspace(&files, &progress))
        .await
        .context("loading failed")??;
    let url = server.url();
    if !server.addr().ip().is_loopback() {
        eprintln!(
            "leakhound: warning: serving snapshots on {} (plain HTTP)",
            server.addr()
        );
    }
    println!("{url}");
    eprintln!(
        "leakhound: exploring {} file(s) at {url} (Ctrl-C stops)",
        args.files.len()
    );
    if args.open {
        open_browser(&url);
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    };
    server.serve(Arc::new(ws), shutdown).await?;
    eprintln!("leakhound: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Opens `url` with $BROWSER or xdg-open, if there is one; says so otherwise.
fn open_browser(url: &str) {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "xdg-open".to_owned());
    let spawned = std::process::Command::new(&browser)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("leakhound: no browser to open ({browser} not found): open the URL above");
    }
}
