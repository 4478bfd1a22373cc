//! `leakhound hunt` end to end: each leaky fixture service under
//! fixtures/apps/ is started under the inspector, loaded, snapshotted three
//! times; the culprit must be the first finding, with the right pattern,
//! the names of the retaining variables on its path and the fixture's own
//! source file among its code locations. The leak-free controls (heavy but
//! bounded churn) must report no leak.
//!
//! Needs `node` on the PATH.

mod common;

use serde_json::Value;

use common::{TempDir, leakhound, repo};

struct Hunt {
    code: i32,
    report: Value,
    stderr: String,
}

fn hunt(fixture: &str, extra: &[&str]) -> Hunt {
    let dir = TempDir::new("hunt");
    let app = repo().join("fixtures/apps").join(fixture);
    let out = leakhound()
        .args(["hunt", "--quiet", "--json", "--out-dir"])
        .arg(dir.path())
        .args(extra)
        .arg("--")
        .arg("node")
        .arg(&app)
        .output()
        .expect("run leakhound hunt");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{fixture}: hunt failed with {code}:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{fixture}: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{fixture}: JSON report: {e}\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["kind"], "find-leaks");
    Hunt {
        code,
        report,
        stderr,
    }
}

/// The first finding: the top cluster, or the top growing object when no cluster passed.
fn culprit(h: &Hunt) -> &Value {
    let clusters = h.report["clusters"].as_array().expect("clusters");
    if let Some(c) = clusters.first() {
        return c;
    }
    h.report["growing_objects"]
        .as_array()
        .expect("growing_objects")
        .first()
        .unwrap_or_else(|| panic!("no finding:\n{}\n{}", h.report, h.stderr))
}

fn path_text(finding: &Value) -> String {
    let hops = finding["retainer_path"]["hops"].as_array().expect("hops");
    hops.iter()
        .map(|h| {
            format!(
                "{}:{}>{}",
                h["edge_type"].as_str().unwrap(),
                h["edge_name"].as_str().unwrap(),
                h["to_class"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn code_files(finding: &Value) -> Vec<String> {
    finding["code"]
        .as_array()
        .expect("code")
        .iter()
        .filter_map(|c| c["location"]["url"].as_str().map(str::to_owned))
        .collect()
}

fn assert_leak(fixture: &str, pattern: &str, path_names: &[&str], own_code: bool) {
    let h = hunt(fixture, &[]);
    assert_eq!(
        h.code, 1,
        "{fixture}: exit code (1 = leak found)\n{}\n{}",
        h.report, h.stderr
    );
    assert_eq!(h.report["leak_found"], true);
    let c = culprit(&h);
    assert_eq!(
        c["pattern"], pattern,
        "{fixture}: pattern of the first finding\n{c:#}"
    );
    let path = path_text(c);
    for name in path_names {
        assert!(
            path.contains(name),
            "{fixture}: retainer path lacks {name:?}: {path}"
        );
    }
    if own_code {
        let files = code_files(c);
        assert!(
            files
                .iter()
                .any(|f| f.ends_with(&format!("fixtures/apps/{fixture}"))),
            "{fixture}: code locations {files:?} do not name the fixture"
        );
    }
    let retained = c["retained_size"]
        .as_u64()
        .or_else(|| c["sizes"].as_array().and_then(|s| s.last()?.as_u64()));
    assert!(
        retained.unwrap_or(0) >= 256 * 1024,
        "{fixture}: culprit retains {retained:?}"
    );
}

#[test]
fn listener_never_removed() {
    assert_leak(
        "leak-listener.js",
        "event_listener",
        &["_events", "reload", "configBus"],
        true,
    );
}

#[test]
fn interval_never_cleared() {
    assert_leak(
        "leak-timer.js",
        "timer",
        &["timerListMap", "TimersList", "Timeout"],
        true,
    );
}

#[test]
fn closure_chain() {
    assert_leak(
        "leak-closure.js",
        "closure",
        &["theThing", "originalThing", "someMethod"],
        true,
    );
}

#[test]
fn unbounded_map_cache() {
    assert_leak(
        "leak-cache.js",
        "unbounded_collection",
        &["responseCache", "Map"],
        true,
    );
}

#[test]
fn global_array_accumulates() {
    assert_leak(
        "leak-global.js",
        "global_accumulation",
        &["requestLog"],
        false,
    );
}

#[test]
fn buffers_kept() {
    assert_leak(
        "leak-buffers.js",
        "strings_or_buffers",
        &["kept", "Buffer"],
        false,
    );
}

fn assert_no_leak(fixture: &str) {
    let h = hunt(fixture, &[]);
    assert_eq!(
        h.code, 0,
        "{fixture}: a leak-free service was reported as leaking:\n{:#}\n{}",
        h.report, h.stderr
    );
    assert_eq!(h.report["leak_found"], false);
    assert!(h.report["clusters"].as_array().unwrap().is_empty());
}

#[test]
fn bounded_churn_is_not_a_leak() {
    assert_no_leak("control-bounded.js");
}

#[test]
fn stateless_service_is_not_a_leak() {
    assert_no_leak("control-stateless.js");
}

/// A service with a second server (metrics) is not loaded on a guessed port:
/// hunt names both ports and asks for --url.
#[test]
fn several_ports_ask_for_url() {
    let dir = TempDir::new("hunt-ports");
    let out = leakhound()
        .args(["hunt", "--quiet", "--json", "--out-dir"])
        .arg(dir.path())
        .arg("--")
        .arg("node")
        .arg(repo().join("fixtures/apps/two-ports.js"))
        .output()
        .expect("run leakhound hunt");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let ports: Vec<&str> = stderr
        .lines()
        .find_map(|l| l.strip_prefix("api on "))
        .expect("the app's line")
        .split(", metrics on ")
        .collect();
    assert!(
        stderr.contains(&format!(
            "the app listens on ports {}; leakhound cannot tell which one serves the requests to load",
            {
                let mut p = ports.clone();
                p.sort_by_key(|p| p.parse::<u16>().unwrap());
                p.join(", ")
            }
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pass --url http://127.0.0.1:PORT/"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// More snapshots: every one is kept and the holder is followed through all.
#[test]
fn four_snapshots() {
    let dir = TempDir::new("hunt4");
    let app = repo().join("fixtures/apps/leak-cache.js");
    let out = leakhound()
        .args([
            "hunt",
            "--quiet",
            "--json",
            "--snapshots",
            "4",
            "--requests",
            "200",
            "--out-dir",
        ])
        .arg(dir.path())
        .arg("--")
        .arg("node")
        .arg(&app)
        .output()
        .expect("run leakhound hunt");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["snapshots"].as_array().unwrap().len(), 4);
    let c = &report["clusters"][0];
    assert_eq!(c["holder_sizes"].as_array().unwrap().len(), 4);
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "1-base.heapsnapshot",
            "2-target.heapsnapshot",
            "3-target.heapsnapshot",
            "4-final.heapsnapshot"
        ]
    );

    // find-leaks on the kept files agrees with hunt.
    let mut cmd = leakhound();
    cmd.args(["find-leaks", "--quiet", "--json"]);
    for f in &files {
        cmd.arg(dir.path().join(f));
    }
    let again = cmd.output().expect("run find-leaks");
    assert_eq!(again.status.code(), Some(1));
    let r2: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(r2["clusters"][0]["signature"], c["signature"]);
    assert_eq!(r2["clusters"][0]["retained_size"], c["retained_size"]);
}

/// A scenario command drives the load instead of built-in requests.
#[test]
fn scenario_drives_load() {
    let h = hunt(
        "leak-global.js",
        &[
            "--scenario",
            "for i in $(seq 1 $LEAKHOUND_REQUESTS); do curl -s \"$LEAKHOUND_URL\" >/dev/null || exit 1; done",
        ],
    );
    assert_eq!(h.code, 1, "{}\n{}", h.report, h.stderr);
    assert_eq!(culprit(&h)["pattern"], "global_accumulation");
}
