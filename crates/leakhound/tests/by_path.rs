//! `find-leaks --by-path` and `diff --by-path` end to end: two separate
//! `node` processes of one service (as two pods are), one given 200
//! requests and the other 800, each snapshotted with `leakhound snapshot`
//! (so their object ids are unrelated). A leaking service must show its
//! holder at rank 1; a leak-free one (a control, a fixed twin) nothing.
//! All processes run at once.
//!
//! Needs `node` and `npm ci --prefix fixtures/realworld` (`.ci/run` does it).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::{TempDir, leakhound, repo};

/// Requests to the quieter and the busier process.
const LOADS: [u32; 2] = [200, 800];

/// A service under test and what a correct report names.
struct Case {
    app: &'static str,
    /// `None`: a leak-free service.
    holder: Option<(&'static str, &'static str, &'static str)>,
}

const CASES: &[Case] = &[
    Case {
        app: "fixtures/apps/leak-listener.js",
        holder: Some((
            "configBus._events.reload",
            "fixtures/apps/leak-listener.js",
            "event_listener",
        )),
    },
    Case {
        app: "fixtures/realworld/abortsignal-listeners/leak.js",
        holder: Some((
            "shutdown.#signal[kEvents]",
            "abortsignal-listeners/leak.js",
            "event_listener",
        )),
    },
    Case {
        app: "fixtures/realworld/prom-client-labels/leak.js",
        holder: Some((
            "httpRequestDuration.hashMap",
            "prom-client-labels/leak.js",
            "unbounded_collection",
        )),
    },
    Case {
        app: "fixtures/apps/control-bounded.js",
        holder: None,
    },
    Case {
        app: "fixtures/realworld/prom-client-labels/fixed.js",
        holder: None,
    },
];

/// A `node` process with the inspector on a free loopback port; killed when dropped.
struct Service {
    child: Child,
    ws_url: String,
    port: u16,
}

impl Service {
    fn start(app: &str) -> Service {
        let mut child = Command::new("node")
            .arg("--inspect=127.0.0.1:0")
            .arg(repo().join(app))
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node (is it installed?)");
        let ws_url = read_until(child.stderr.take().expect("stderr"), app, |l| {
            l.strip_prefix("Debugger listening on ").map(str::to_owned)
        });
        let port = read_until(child.stdout.take().expect("stdout"), app, |l| {
            l.strip_prefix("listening on http://127.0.0.1:")
                .and_then(|p| p.trim_end_matches('/').parse().ok())
        });
        Service {
            child,
            ws_url,
            port,
        }
    }

    /// `n` GET / requests, four at a time, each on its own connection.
    fn load(&self, n: u32) {
        let next = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        request(self.port);
                    }
                });
            }
        });
    }

    fn snapshot(&self, path: &Path) {
        let out = leakhound()
            .args(["snapshot", "--quiet", "--inspect", &self.ws_url, "-o"])
            .arg(path)
            .output()
            .expect("run leakhound snapshot");
        assert!(
            out.status.success(),
            "snapshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines until `f` finds what it looks for; the rest is drained on a thread.
fn read_until<R: Read + Send + 'static, T>(
    stream: R,
    app: &str,
    f: impl Fn(&str) -> Option<T>,
) -> T {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).expect("read node's output") == 0 {
            panic!("{app} exited before it was ready");
        }
        if let Some(v) = f(line.trim()) {
            std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
            return v;
        }
    }
}

fn request(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the service");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read the response");
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &buf[..buf.len().min(80)]
    );
}

/// Two processes of `app` under the two loads, snapshotted: the quieter one first.
fn two_pods(app: &str, dir: &Path) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = LOADS
        .iter()
        .map(|n| dir.join(format!("{n}.heapsnapshot")))
        .collect();
    std::thread::scope(|s| {
        for (n, file) in LOADS.iter().zip(&files) {
            s.spawn(move || {
                let service = Service::start(app);
                service.load(*n);
                // Let the last responses finish and their sockets close.
                std::thread::sleep(Duration::from_millis(500));
                service.snapshot(file);
            });
        }
    });
    files
}

fn by_path(files: &[PathBuf]) -> (i32, Value, String) {
    let out = leakhound()
        .current_dir(repo())
        .args(["find-leaks", "--by-path", "--json", "--quiet"])
        .args(files)
        .output()
        .expect("run leakhound find-leaks --by-path");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What is wrong with the report of one case, if anything.
fn check(case: &Case, files: &[PathBuf]) -> Vec<String> {
    let (code, report, stderr) = by_path(files);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let summary: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "#{} {} {} {:?} {}",
                f["rank"], f["kind"], f["pattern"], f["held_by"]["name"], f["growth"]
            )
        })
        .collect();
    let shown = format!("{}: exit {code}, {summary:?} {stderr}", case.app);
    let mut bad = Vec::new();
    match case.holder {
        None => {
            if code != 0 || !findings.is_empty() {
                bad.push(format!("expected nothing above the threshold: {shown}"));
            }
        }
        Some((holder, file, pattern)) => {
            let first = &findings.first().cloned().unwrap_or(Value::Null);
            let name = first["held_by"]["name"].as_str().unwrap_or("");
            let at = first["held_by"]["file"].as_str().unwrap_or("");
            if code != 1
                || first["kind"] != "new_objects"
                || !name.starts_with(holder)
                || !at.ends_with(file)
                || first["pattern"] != pattern
            {
                bad.push(format!(
                    "expected {holder} in {file} ({pattern}) at rank 1: {shown}"
                ));
            }
            let more = first["new_objects"].as_i64().unwrap_or(0);
            if !(500..=700).contains(&more) {
                bad.push(format!("expected about 600 new objects: {shown}"));
            }
        }
    }
    bad
}

#[test]
fn two_processes_of_a_service_under_different_loads() {
    assert!(
        repo().join("fixtures/realworld/node_modules").is_dir(),
        "fixtures/realworld/node_modules is missing: run `npm ci --prefix fixtures/realworld` (.ci/run does)"
    );
    let dir = TempDir::new("by-path");
    let runs: Vec<(&Case, Vec<PathBuf>)> = std::thread::scope(|s| {
        let handles: Vec<_> = CASES
            .iter()
            .enumerate()
            .map(|(i, case)| {
                let sub = dir.path().join(i.to_string());
                std::fs::create_dir_all(&sub).expect("create a case directory");
                s.spawn(move || (case, two_pods(case.app, &sub)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a case ran"))
            .collect()
    });
    let bad: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(case, files)| s.spawn(move || check(case, files)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a check ran"))
            .collect()
    });
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // The text report of `diff --by-path` reads like a find-leaks finding.
    let listener = &runs[0].1;
    let out = leakhound()
        .current_dir(repo())
        .args(["diff", "--by-path", "--quiet"])
        .args(listener)
        .output()
        .expect("run leakhound diff --by-path");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "#1 event listener never removed — ",
        "   held by:  configBus._events.reload (Array) in fixtures/apps/leak-listener.js, grew ",
        "   path:     fixtures/apps/leak-listener.js: configBus._events.reload (Array) → [",
        "   code:     onConfigReload() at fixtures/apps/leak-listener.js:",
        "   fix:      Remove the listener",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }

    // Without --by-path, two snapshots are refused with a hint to it.
    let out = leakhound()
        .args(["find-leaks", "--quiet"])
        .args(listener)
        .output()
        .expect("run leakhound find-leaks");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .nth(1)
            .is_some_and(|h| h.starts_with("hint: ") && h.contains("--by-path")),
        "{stderr}"
    );
}
