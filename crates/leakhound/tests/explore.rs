//! `leakhound explore` end to end: snapshots and a heap profile of a real
//! node process (`fixtures/heaps/growing.js` under `node --heap-prof`), the
//! server's token and loopback rules over plain HTTP, then the real UI in
//! headless Chromium (`tests/browser/explore.mjs`, playwright-core), and a
//! clean stop on SIGINT. Screenshots go to `target/explore-screenshots/`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, browser_dir, get, leakhound, repo, start_explorer};

/// Snapshots (oldest first) and the heap profile of one run of growing.js.
fn fixture(dir: &Path) -> (Vec<PathBuf>, PathBuf) {
    let prefix = dir.join("growing");
    let out = Command::new("node")
        .arg("--heap-prof")
        .arg("--heap-prof-dir")
        .arg(dir)
        .arg(repo().join("fixtures/heaps/growing.js"))
        .arg(&prefix)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snaps = (1..=3)
        .map(|i| dir.join(format!("growing-{i}.heapsnapshot")))
        .collect();
    let profile = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "heapprofile"))
        .expect("node --heap-prof wrote a .heapprofile");
    (snaps, profile)
}

#[test]
fn explore_in_chromium() {
    let dir = TempDir::new("explore");
    let (snaps, profile) = fixture(dir.path());
    let files: Vec<&Path> = snaps
        .iter()
        .map(PathBuf::as_path)
        .chain([profile.as_path()])
        .collect();
    let (mut explorer, url) = start_explorer(&files);

    // The token guards everything, the page loads nothing from elsewhere.
    let base = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    assert_eq!(get(&format!("{base}/")).0, 404);
    assert_eq!(get(&format!("{base}/api/files")).0, 404);
    assert_eq!(
        get(&format!(
            "{base}/0123456789abcdef0123456789abcdef/api/files"
        ))
        .0,
        404
    );
    let (code, page) = get(&url);
    assert_eq!(code, 200);
    assert!(!page.contains("http"), "the page names no other origin");
    let (code, body) = get(&format!("{url}api/2/summary?filter=Session&limit=1000000"));
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"][0]["count"], 6000);
    let (code, body) = get(&format!("{url}api/2/instances?key=nope"));
    assert_eq!(code, 404, "{body}");
    let (code, body) = get(&format!(
        "{url}api/2/instances?key={}&limit=100000",
        urlenc(v["items"][0]["key"].as_str().unwrap())
    ));
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 6000);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        500,
        "pages are capped"
    );

    // The real UI, step by step.
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let shots = repo().join("target/explore-screenshots");
    let out = Command::new("node")
        .arg(browser_dir().join("explore.mjs"))
        .arg(&url)
        .arg(&shots)
        .args(["Session", "sessionCache", "3"])
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["steps"].as_array().unwrap().len(), 8, "{summary}");
    assert!(shots.join("7-flame.png").exists());

    // Ctrl-C stops it cleanly.
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc_kill(explorer.0.id() as i32, 2) };
    let status = explorer.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    explorer
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("leakhound: stopped"), "{err}");
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn explore_refuses_remote_addresses() {
    let out = leakhound()
        .args(["explore", "--listen", "0.0.0.0:0", "x.heapsnapshot"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("hint: pass --allow-remote"), "{err}");
}
