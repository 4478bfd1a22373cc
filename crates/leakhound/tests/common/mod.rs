//! Helpers shared by the integration tests: temporary directories, running
//! node fixture programs, the DevTools oracle, and the leakhound binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "leakhound-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| {
        panic!("cannot run {what}: {e} (is node installed? .ci/run installs it)")
    });
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `node <repo>/<script> args...` and returns its output; panics on failure.
pub fn node_script(script: &str, args: &[&str]) -> Output {
    let path = repo().join(script);
    check(
        &format!("node {script}"),
        Command::new("node").arg(&path).args(args).output(),
    )
}

/// The bundled DevTools oracle, built on first use (`npm ci --prefix oracle`
/// then `node oracle/build.mjs`; needs the npm registry once). Test threads
/// and test binaries running at the same time build it once, under a lock.
pub fn ensure_oracle() -> PathBuf {
    let root = repo();
    let bundle = root.join("oracle/dist/devtools-oracle.cjs");
    // A bundle older than the oracle's source is rebuilt (new commands).
    let current = || {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        modified(&bundle) >= modified(&root.join("oracle/src/oracle.ts"))
    };
    if current() {
        return bundle;
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("leakhound-oracle-build.lock"))
        .expect("create oracle build lock");
    lock.lock().expect("lock oracle build");
    if !current() {
        let oracle = root.join("oracle");
        if !oracle
            .join("node_modules/chrome-devtools-frontend")
            .exists()
        {
            check(
                "npm ci --prefix oracle",
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&oracle)
                    .output(),
            );
        }
        check(
            "node oracle/build.mjs",
            Command::new("node").arg(oracle.join("build.mjs")).output(),
        );
    }
    assert!(bundle.exists(), "{} was not built", bundle.display());
    bundle
}

/// Runs the DevTools oracle and parses its JSON output.
pub fn oracle(args: &[&str]) -> serde_json::Value {
    let bundle = ensure_oracle();
    let out = check(
        &format!("devtools oracle {}", args.join(" ")),
        Command::new("node")
            .arg("--max-old-space-size=8192")
            .arg(&bundle)
            .args(args)
            .output(),
    );
    serde_json::from_slice(&out.stdout).expect("oracle prints JSON")
}

/// The leakhound binary built for this test run.
pub fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

/// Three snapshots of one process whose session cache grows
/// (`fixtures/heaps/growing.js`), written under `dir`, oldest first.
pub fn growing_series(dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.join("growing");
    node_script(
        "fixtures/heaps/growing.js",
        &[prefix.to_str().expect("UTF-8 temp path")],
    );
    (1..=3)
        .map(|i| dir.join(format!("growing-{i}.heapsnapshot")))
        .collect()
}

/// `tests/browser` with its node_modules, installed once under a lock.
pub fn browser_dir() -> PathBuf {
    let dir = repo().join("crates/leakhound/tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let lock = std::fs::File::create(std::env::temp_dir().join("leakhound-browser-npm.lock"))
            .expect("create npm lock");
        lock.lock().expect("lock npm install");
        if !dir.join("node_modules/playwright-core").exists() {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
                .output()
                .expect("run npm (is it installed? .ci/run installs it)");
            assert!(
                out.status.success(),
                "npm ci --prefix {} failed:\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    dir
}

/// The explorer, killed if the test fails before stopping it.
pub struct Explorer(pub Child);

impl Drop for Explorer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `leakhound explore FILES…` and reads the URL it prints.
pub fn start_explorer(files: &[&Path]) -> (Explorer, String) {
    let mut child = leakhound()
        .arg("explore")
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start leakhound explore");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "URL: {url:?}");
    (Explorer(child), url)
}

/// A GET over plain HTTP/1.1: (status, body).
pub fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map_or("", |x| x.1).to_owned();
    (status, body)
}
