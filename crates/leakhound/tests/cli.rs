//! The command line: output formats on a deterministic synthetic snapshot,
//! and clear one-line errors on bad input.

mod common;

use std::path::Path;

use common::{TempDir, leakhound};
use heapsnap::synth::SynthSnapshot;

/// A small service-like heap: a global with a growing cache of sessions.
fn sample_snapshot() -> SynthSnapshot {
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 200);
    s.edge(0, "shortcut", "global", global);
    let gc_roots = s.node("synthetic", "(GC roots)", 0);
    s.edge(0, "element", "1", gc_roots);
    let cache = s.node("object", "Map", 80);
    let table = s.node("array", "(object elements)", 4000);
    s.edge(global, "property", "sessionCache", cache);
    s.edge(cache, "internal", "table", table);
    for i in 0..20 {
        let session = s.node("object", "Session", 64);
        s.location(session, 42, 10, 2);
        let body = s.node("string", &format!("payload {i} {}", "x".repeat(30)), 1024);
        s.edge(table, "element", &(i * 2).to_string(), session);
        s.edge(session, "property", "body", body);
    }
    let handler = s.node("closure", "onRequest", 64);
    s.edge(global, "property", "handler", handler);
    s.location(handler, 42, 3, 0);
    s
}

fn write_sample(dir: &TempDir) -> std::path::PathBuf {
    let p = dir.path().join("sample.heapsnapshot");
    std::fs::write(&p, sample_snapshot().to_json()).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = leakhound().args(args).output().expect("run leakhound");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn redact(s: &str, dir: &Path) -> String {
    s.replace(dir.to_str().unwrap(), "[TMP]")
}

#[test]
fn analyze_prints_tables() {
    let dir = TempDir::new("cli-analyze");
    let snap = write_sample(&dir);
    let (code, out, err) = run(&["analyze", snap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("analyze_text", redact(&out, dir.path()));
}

#[test]
fn analyze_json_is_versioned() {
    let dir = TempDir::new("cli-analyze-json");
    let snap = write_sample(&dir);
    let (code, out, err) = run(&["analyze", "--json", snap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["kind"], "analyze");
    insta::assert_json_snapshot!("analyze_json", v, {
        ".snapshot.file" => "[FILE]",
    });
}

#[test]
fn analyze_writes_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("cli-analyze-out");
    let snap = write_sample(&dir);
    let out = dir.path().join("report.json");
    let (code, stdout, err) = run(&[
        "analyze",
        "--json",
        "-o",
        out.to_str().unwrap(),
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left behind: {names:?}");
}

fn assert_clean_error(args: &[&str], must_contain: &[&str]) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "exit code for {args:?}; stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{err}");
    assert!(!first.ends_with('.'), "no trailing full stop: {first}");
    for m in must_contain {
        assert!(first.contains(m), "{first:?} should mention {m:?}");
    }
}

#[test]
fn truncated_snapshot_is_a_clean_error() {
    let dir = TempDir::new("cli-truncated");
    let text = sample_snapshot().to_json();
    for cut in [1, text.len() / 3, text.len() / 2, text.len() - 3] {
        let p = dir.path().join(format!("cut{cut}.heapsnapshot"));
        std::fs::write(&p, &text[..cut]).unwrap();
        assert_clean_error(
            &["analyze", p.to_str().unwrap()],
            &[&format!("cut{cut}.heapsnapshot"), "byte"],
        );
    }
}

#[test]
fn corrupt_snapshots_are_clean_errors() {
    let dir = TempDir::new("cli-corrupt");
    let text = sample_snapshot().to_json();
    let cases = [
        (
            "letters",
            text.replacen("\"nodes\":[9,", "\"nodes\":[9x,", 1),
        ),
        (
            "negative",
            text.replacen("\"nodes\":[9,", "\"nodes\":[-9,", 1),
        ),
        (
            "counts",
            text.replacen("\"node_count\":", "\"node_count\":1", 1),
        ),
        ("escape", text.replacen("\"global\"", "\"glo\\qbal\"", 1)),
    ];
    for (name, body) in cases {
        let p = dir.path().join(format!("{name}.heapsnapshot"));
        std::fs::write(&p, body).unwrap();
        assert_clean_error(
            &["analyze", p.to_str().unwrap()],
            &[&format!("{name}.heapsnapshot")],
        );
    }
    let p = dir.path().join("utf8.heapsnapshot");
    let mut bytes = text.into_bytes();
    let at = bytes.windows(8).position(|w| w == b"\"global\"").unwrap() + 2;
    bytes[at] = 0xff;
    std::fs::write(&p, bytes).unwrap();
    assert_clean_error(
        &["analyze", p.to_str().unwrap()],
        &["utf8.heapsnapshot", "UTF-8"],
    );
}

#[test]
fn missing_and_wrong_files_are_clean_errors() {
    let dir = TempDir::new("cli-missing");
    assert_clean_error(
        &["analyze", "/nonexistent/x.heapsnapshot"],
        &["/nonexistent/x.heapsnapshot"],
    );
    assert_clean_error(&["analyze", dir.path().to_str().unwrap()], &["directory"]);
    let empty = dir.path().join("empty.heapsnapshot");
    std::fs::write(&empty, "").unwrap();
    assert_clean_error(
        &["analyze", empty.to_str().unwrap()],
        &["empty.heapsnapshot", "empty"],
    );
    let html = dir.path().join("page.heapsnapshot");
    std::fs::write(&html, "<html></html>").unwrap();
    assert_clean_error(
        &["analyze", html.to_str().unwrap()],
        &["page.heapsnapshot", "byte 0"],
    );
}

/// Node 26 roots the heap at `system / NativeContext / ` instead of the
/// global object: the global is a user root there too (never a "biggest
/// object"), and paths name the context without a stray class or slash.
#[test]
fn node26_native_context_root() {
    let mut s = SynthSnapshot::with_root();
    let ctx = s.node("hidden", "system / NativeContext / ", 2400);
    s.edge(0, "shortcut", "2", ctx);
    let gc_roots = s.node("synthetic", "(GC roots)", 0);
    s.edge(0, "element", "1", gc_roots);
    let global = s.node("object", "global (global*) / ", 48);
    s.edge(ctx, "internal", "global_object", global);
    let cache = s.node("object", "Map", 80);
    s.edge(global, "property", "sessionCache", cache);
    let table = s.node("array", "(object elements)", 64);
    s.edge(cache, "internal", "table", table);
    for i in 0..20 {
        let session = s.node("object", "Session", 64);
        let body = s.node("string", &format!("payload {i}"), 4096);
        s.edge(table, "element", &(i * 2).to_string(), session);
        s.edge(session, "property", "body", body);
    }
    let dir = TempDir::new("node26");
    let file = dir.path().join("n26.heapsnapshot");
    std::fs::write(&file, s.to_json()).unwrap();
    let out = leakhound()
        .args(["analyze", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = r["top_objects"].as_array().unwrap();
    assert_eq!(
        top[0]["class"], "Map",
        "the app's biggest object first: {top:#?}"
    );
    let is_global = |o: &serde_json::Value| {
        ["class", "name"]
            .iter()
            .any(|k| o[*k].as_str().is_some_and(|v| v.starts_with("global")))
    };
    assert!(
        !top.iter().any(is_global),
        "the global is not listed: {top:#?}"
    );
    let path = top[0]["retainer_path"]["text"].as_str().unwrap();
    assert!(path.starts_with("system / NativeContext"), "{path}");
    assert!(
        !path.contains("(system) system") && !path.contains("/  "),
        "{path}"
    );
}
