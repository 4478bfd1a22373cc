//! `find-leaks` compares objects by V8 object id, which is only stable within
//! one process while the heap profiler stays on. Snapshots of different
//! processes, or of one process with the profiler turned off in between (as
//! separate `leakhound snapshot` calls do), share most of their ids with
//! other objects behind them: they are refused with exit status 2, the two
//! files named, the cause and a hint. Snapshots are generated here from real
//! `node` processes. (That a series from one profiler session is accepted is
//! also checked by `hunt.rs`, on the snapshots `hunt --out-dir` keeps, and by
//! `capture.rs` for `run --keep-profiler`.)
//!
//! Needs `node` on the PATH.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{TempDir, leakhound, repo};

struct FindLeaks {
    code: i32,
    stdout: String,
    stderr: String,
}

fn find_leaks(files: &[&Path]) -> FindLeaks {
    let out = leakhound()
        .args(["find-leaks", "--quiet"])
        .args(files)
        .output()
        .expect("run leakhound find-leaks");
    FindLeaks {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit 2, nothing on stdout, one `error:` line naming both files and the
/// cause, one `hint:` line with the way out.
fn assert_refused(files: &[&Path], earlier: &Path, later: &Path) {
    let r = find_leaks(files);
    let shown = format!("{files:?}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.code, 2, "exit status: {shown}");
    assert!(r.stdout.is_empty(), "no report: {shown}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "an error and a hint: {shown}");
    let (error, hint) = (lines[0], lines[1]);
    let prefix = format!(
        "error: {} and {}: object ids do not match (",
        earlier.display(),
        later.display()
    );
    assert!(
        error.starts_with(&prefix),
        "{error:?} should start {prefix:?}"
    );
    assert!(
        error.contains("different processes, or the heap profiler was turned off between them"),
        "{error}"
    );
    assert!(!error.ends_with('.'), "no trailing full stop: {error}");
    assert!(hint.starts_with("hint: "), "{shown}");
    for way_out in [
        "leakhound hunt",
        "leakhound run --keep-profiler",
        "find-leaks --by-path",
    ] {
        assert!(hint.contains(way_out), "{hint:?} should name {way_out:?}");
    }
}

/// `fixtures/heaps/growing.js` in two processes at once: the same program at
/// the same moments, three snapshots each (`v8.writeHeapSnapshot`, ids
/// stable within each process).
#[test]
fn snapshots_of_two_processes_are_refused() {
    let dir = TempDir::new("same-process-two");
    let script = repo().join("fixtures/heaps/growing.js");
    let children: Vec<Child> = ["a", "b"]
        .iter()
        .map(|p| {
            Command::new("node")
                .arg(&script)
                .arg(dir.path().join(p))
                .stdout(Stdio::null())
                .spawn()
                .expect("start node (is it installed?)")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait for node").success());
    }
    let f = |p: &str, i: u32| dir.path().join(format!("{p}-{i}.heapsnapshot"));
    let (a1, a2, a3) = (f("a", 1), f("a", 2), f("a", 3));
    let (b2, b3) = (f("b", 2), f("b", 3));

    // Each process's own series is accepted (and its growing cache found).
    let ok = find_leaks(&[&a1, &a2, &a3]);
    assert_eq!(ok.code, 1, "{}\n{}", ok.stdout, ok.stderr);
    assert!(ok.stderr.is_empty(), "{}", ok.stderr);

    assert_refused(&[&a1, &a2, &b3], &a1, &b3);
    assert_refused(&[&a1, &b2, &b3], &a1, &b3);
    // The odd one out in the middle.
    assert_refused(&[&a1, &b2, &a3], &b2, &a3);
}

/// A node process with an inspector on a free port; killed when dropped.
struct Inspected {
    child: Child,
    ws_url: String,
}

impl Inspected {
    fn start(app: &str) -> Inspected {
        let mut child = Command::new("node")
            .arg("--inspect=127.0.0.1:0")
            .arg(repo().join("fixtures/apps").join(app))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node (is it installed?)");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut ws_url = String::new();
        let mut line = String::new();
        while ws_url.is_empty() {
            line.clear();
            if stderr.read_line(&mut line).expect("read node's stderr") == 0 {
                panic!("node exited before listening for the inspector");
            }
            if let Some(url) = line.trim().strip_prefix("Debugger listening on ") {
                ws_url = url.to_owned();
            }
        }
        // Keep reading (node writes a line per inspector connection).
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        loop {
            line.clear();
            if stdout.read_line(&mut line).expect("read node's stdout") == 0 {
                panic!("node exited before it was ready");
            }
            if line.trim() == "READY" {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Inspected { child, ws_url }
    }

    fn snapshot(&self, path: &Path, extra: &[&str]) {
        let out = leakhound()
            .args(["snapshot", "--quiet", "--inspect", &self.ws_url, "-o"])
            .arg(path)
            .args(extra)
            .output()
            .expect("run leakhound snapshot");
        assert!(
            out.status.success(),
            "snapshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Inspected {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Separate `leakhound snapshot` calls on one process: each closes its
/// inspector session, which turns the profiler off, so V8 numbers every
/// snapshot afresh — with `--keep-profiler` too.
#[test]
fn lone_snapshot_calls_are_refused() {
    let dir = TempDir::new("same-process-lone");
    let node = Inspected::start("idle.js");
    let files: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("lone-{i}.heapsnapshot")))
        .collect();
    node.snapshot(&files[0], &[]);
    node.snapshot(&files[1], &["--keep-profiler"]);
    node.snapshot(&files[2], &["--keep-profiler"]);
    drop(node);
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    assert_refused(&refs, &files[0], &files[2]);
}
