//! HTML reports end to end: real snapshots of node programs → `--html` and
//! `leakhound report` → opened in headless Chromium (no console errors, no
//! network requests, charts drawn, a screenshot).
//!
//! Needs `node`, `npm` (installs `tests/browser`'s playwright-core on first
//! use) and Chromium at /usr/bin/chromium or $CHROMIUM (Debian package
//! `chromium`); `.ci/run` provides them. Set LEAKHOUND_SCREENSHOTS=DIR to keep
//! the screenshots.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{TempDir, browser_dir, growing_series, leakhound, node_script};

/// Opens `html` in headless Chromium; asserts a clean load and returns the screenshot's size.
fn check_in_browser(html: &Path, min_charts: usize) -> u64 {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium}: no Chromium (apt-get install chromium; .ci/run installs it)"
    );
    let png = html.with_extension("png");
    let out = Command::new("node")
        .arg(browser_dir().join("check.mjs"))
        .arg(html)
        .arg(&png)
        .arg(min_charts.to_string())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: browser check failed: {stdout}\n{}",
        html.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("checker prints JSON");
    assert_eq!(
        summary["errors"],
        serde_json::json!([]),
        "{}",
        html.display()
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}: not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 10_000,
        "{}: screenshot is nearly empty ({} bytes)",
        png.display(),
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("LEAKHOUND_SCREENSHOTS") {
        let _ = std::fs::create_dir_all(&keep);
        let _ = std::fs::copy(&png, Path::new(&keep).join(png.file_name().unwrap()));
    }
    bytes.len() as u64
}

fn assert_private_page(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .expect("page written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}: mode {mode:o}", path.display());
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for remote in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(remote),
            "{}: loads {remote}…",
            path.display()
        );
    }
    html
}

#[test]
fn analyze_page_in_chromium() {
    let dir = TempDir::new("html-analyze");
    let snap = dir.path().join("minimal.heapsnapshot");
    node_script("fixtures/heaps/minimal.js", &[snap.to_str().unwrap()]);
    let page = dir.path().join("analyze.html");
    let json = dir.path().join("analyze.json");
    run_ok(
        leakhound()
            .arg("analyze")
            .arg(&snap)
            .arg("--json")
            .arg("-o")
            .arg(&json)
            .arg("--html")
            .arg(&page),
    );
    let html = assert_private_page(&page);
    assert!(
        html.contains("Retained size by class")
            && html.contains("Biggest objects by retained size")
    );
    check_in_browser(&page, 3);

    // The same report, from the saved JSON.
    let again = dir.path().join("from-json.html");
    run_ok(
        leakhound()
            .arg("report")
            .arg(&json)
            .arg("--html")
            .arg(&again),
    );
    assert_private_page(&again);
}

#[test]
fn find_leaks_and_diff_pages_in_chromium() {
    let dir = TempDir::new("html-leaks");
    let snaps = growing_series(dir.path());
    let page = dir.path().join("find-leaks.html");
    let out = leakhound()
        .arg("find-leaks")
        .args(&snaps)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a leak is found: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = assert_private_page(&page);
    assert!(html.contains("global variable accumulates"), "cluster card");
    assert!(html.contains("sessionCache"), "retainer path");
    assert!(html.contains("growing.js:"), "code location");
    check_in_browser(&page, 2);

    let json = dir.path().join("diff.json");
    run_ok(
        leakhound()
            .arg("diff")
            .arg(&snaps[0])
            .arg(&snaps[2])
            .arg("--json")
            .arg("-o")
            .arg(&json),
    );
    let page = dir.path().join("diff.html");
    run_ok(
        leakhound()
            .arg("report")
            .arg(&json)
            .arg("--html")
            .arg(&page),
    );
    let html = assert_private_page(&page);
    assert!(html.contains("Session"));
    check_in_browser(&page, 1);
}

#[test]
fn hostile_strings_stay_inert_in_chromium() {
    // A heap string can hold anything; a page built from it must not run it.
    let dir = TempDir::new("html-xss");
    let evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
    let report = serde_json::json!({
        "schema_version": 1, "kind": "diff", "base": evil, "target": "b", "size_delta": 10,
        "classes": [{"key": evil, "name": evil, "added_count": 1, "removed_count": 0, "count_delta": 1,
                     "added_size": 10, "removed_size": 0, "size_delta": 10}]
    });
    let json = dir.path().join("evil.json");
    std::fs::write(&json, report.to_string()).unwrap();
    let page = dir.path().join("evil.html");
    run_ok(
        leakhound()
            .arg("report")
            .arg(&json)
            .arg("--html")
            .arg(&page),
    );
    let html = assert_private_page(&page);
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own scripts"
    );
    // The checker fails on any dialog, page error or network request (the <img>).
    check_in_browser(&page, 1);
}

#[test]
fn report_rejects_bad_input() {
    let dir = TempDir::new("html-bad");
    let json = dir.path().join("bad.json");
    std::fs::write(&json, r#"{"kind": "nope", "schema_version": 1}"#).unwrap();
    let out = leakhound()
        .arg("report")
        .arg(&json)
        .arg("--html")
        .arg(dir.path().join("x.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("unknown report kind"),
        "{err}"
    );
    assert!(!dir.path().join("x.html").exists());

    // Each refusal is one clear line that says what is wrong.
    let cases: [(&str, &str, &str); 4] = [
        (
            r#"{"kind": "analyze", "schema_version": "1"}"#,
            "kind.json",
            "not a whole number",
        ),
        (
            r#"{"kind": "analyze", "schema_version": 1, "clusters": []}"#,
            "kind2.json",
            "needs a \"statistics\" field",
        ),
        ("not json at all", "text.json", "report.json"),
        (
            r#"{"snapshot": {"meta": {}}, "nodes": []}"#,
            "s.heapsnapshot",
            "a heap snapshot",
        ),
    ];
    for (text, name, want) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, text).unwrap();
        let out = leakhound()
            .arg("report")
            .arg(&input)
            .arg("--html")
            .arg(dir.path().join("x.html"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        let overwrite = format!("-o {}", input.display());
        assert!(
            !err.contains(&overwrite),
            "no hint to overwrite the input: {err}"
        );
        assert!(!err.contains("template"), "{name}: {err}");
        assert!(!dir.path().join("x.html").exists());
    }
}

#[test]
fn history_timeline_in_chromium() {
    // The shape `history --json` prints (a real one needs minutes of `watch`).
    let dir = TempDir::new("html-history");
    let t0 = 1_790_000_000_000i64;
    let samples: Vec<serde_json::Value> = (0..120)
        .map(|i| {
            let floor = 20e6 + i as f64 * 150e3;
            serde_json::json!({"target": "api", "ts_ms": t0 + i * 1000, "pid": 7,
                "heap_used": floor + (i % 10) as f64 * 400e3, "heap_total": 80e6, "heap_limit": 2e9,
                "heap_floor": floor, "external": 1e6, "rss": 90e6, "gc_count": 1, "gc_seconds": 0.002,
                "major_gc_count": 0, "eventloop_p50_ms": 1.0, "eventloop_p99_ms": 4.0, "eventloop_max_ms": 9.0,
                "lag_ms": 0.3, "growth_bytes_per_second": null, "trend_significant": null,
                "trend_p_value": null, "time_to_limit_seconds": null})
        })
        .collect();
    let report = serde_json::json!({
        "schema_version": 1, "kind": "history", "db": "h.db", "since": "2026-09-21T00:00:00Z",
        "targets": [{"target": "api", "samples": samples,
            "trend": {"pid": 7, "windows": 12, "growth_mb_per_min": 8.58, "growth_mb_per_min_lower": 8.0,
                      "growth_mb_per_min_upper": 9.0, "p_value": 0.0001, "significant": true, "growing": true,
                      "time_to_limit_seconds": 13000.0},
            "alerts": [{"target": "api", "ts_ms": t0 + 60_000, "alert": "heap_growth", "status": "firing", "value": 8.5},
                       {"target": "api", "ts_ms": t0 + 100_000, "alert": "heap_growth", "status": "resolved", "value": 0.0}]}]
    });
    let json = dir.path().join("history.json");
    std::fs::write(&json, report.to_string()).unwrap();
    let page = dir.path().join("history.html");
    run_ok(
        leakhound()
            .arg("report")
            .arg(&json)
            .arg("--html")
            .arg(&page),
    );
    let html = assert_private_page(&page);
    assert!(html.contains("MB/min post-GC") && html.contains("heap_growth"));
    check_in_browser(&page, 1);
}

/// Runs a leakhound command that must succeed; its stderr explains a failure.
fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("run leakhound");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
