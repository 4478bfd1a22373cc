//! Rendering every report kind, and hostile strings staying inert.

use serde_json::{Value, json};

const EVIL: &str = "</script><script>alert(1)</script>";

fn node(id: u32, class: &str, name: &str) -> Value {
    json!({"index": id, "id": id, "type": "object", "class": class, "name": name,
           "self_size": 64, "retained_size": 4096, "distance": 3,
           "location": {"script_id": 7, "url": format!("/srv/{EVIL}.js"), "line": 11, "column": 49}})
}

fn path() -> Value {
    json!({"root": EVIL, "hops": [
        {"edge_type": "property", "edge_name": EVIL, "to": EVIL, "to_class": EVIL, "to_id": 5},
        {"edge_type": "element", "edge_name": "3", "to": "Array", "to_class": "Array", "to_id": 6}]})
}

pub fn analyze() -> Value {
    let mut top = node(9, EVIL, EVIL);
    top["retainer_path"] = path();
    json!({"schema_version": 1, "kind": "analyze",
        "snapshot": {"file": format!("/tmp/{EVIL}.heapsnapshot"), "bytes": 123456, "node_count": 1000, "edge_count": 4000, "string_count": 300},
        "totals": {"total_size": 5_000_000, "root_retained_size": 4_900_000, "unreachable_nodes": 2},
        "statistics": {"total": 5_000_000, "v8heap": 4_000_000, "code": 1_000_000, "strings": 500_000, "js_arrays": 400_000, "system": 600_000, "native": 1_000_000, "typed_arrays": 10_000},
        "classes": [
            {"key": EVIL, "name": EVIL, "count": 12, "self_size": 1200, "retained_size": 2_000_000, "distance": 2,
             "location": {"script_id": 7, "url": null, "line": 1, "column": 1}},
            {"key": "Object", "name": "Object", "count": 1200, "self_size": 12000, "retained_size": 900_000, "distance": 100_000_000}],
        "top_objects": [top]})
}

pub fn find_leaks() -> Value {
    json!({"schema_version": 1, "kind": "find-leaks",
        "snapshots": [{"file": "a", "node_count": 10, "total_size": 1000}, {"file": EVIL, "node_count": 20, "total_size": 2000}, {"file": "c", "node_count": 30, "total_size": 3000}],
        "leak_found": true, "new_surviving_objects": 1201, "new_surviving_bytes": 1_000_000,
        "clusters": [{"rank": 1, "pattern": "event_listener", "title": "event listener never removed", "advice": EVIL,
            "leaked_objects": 300, "retained_size": 1_000_000, "self_size": 9000, "signature": EVIL,
            "retainer_path": path(), "representative": node(1, "Function", EVIL), "holder": node(2, "Array", ""),
            "holder_sizes": [null, 2000, 3000],
            "code": [{"function": EVIL, "location": {"script_id": 7, "url": EVIL, "line": 9, "column": 23}}],
            "examples": [node(3, "Function", "x")]}],
        "ignored_clusters": 1,
        "growing_objects": [
            {"object": node(2, "Array", ""), "pattern": "unbounded_collection", "title": "t", "advice": "a", "sizes": [1, 2, 3], "retainer_path": path(), "code": [], "holds_cluster": true},
            {"object": node(4, "Map", EVIL), "pattern": "unbounded_collection", "title": EVIL, "advice": "a", "sizes": [10, 20, 30], "retainer_path": path(), "code": [], "holds_cluster": false}]})
}

fn diff() -> Value {
    json!({"schema_version": 1, "kind": "diff", "base": "a.heapsnapshot", "target": EVIL, "size_delta": 12345,
        "classes": [
            {"key": EVIL, "name": EVIL, "added_count": 3, "removed_count": 1, "count_delta": 2, "added_size": 300, "removed_size": 100, "size_delta": 200},
            {"key": "B", "name": "B", "added_count": 0, "removed_count": 4, "count_delta": -4, "added_size": 0, "removed_size": 400, "size_delta": -400}]})
}

fn history() -> Value {
    let samples: Vec<Value> = (0..30)
        .map(|i| json!({"target": EVIL, "ts_ms": 1_700_000_000_000i64 + i * 5000, "pid": 42,
            "heap_used": 10e6 + (i as f64) * 2e5 + ((i % 4) as f64) * 1e6, "heap_total": 30e6, "heap_limit": 4e9,
            "heap_floor": 10e6 + (i as f64) * 2e5, "external": 1e6, "rss": 60e6, "gc_count": i, "gc_seconds": 0.01,
            "major_gc_count": 1, "eventloop_p50_ms": 1.0, "eventloop_p99_ms": null, "eventloop_max_ms": 3.0, "lag_ms": 0.5,
            "growth_bytes_per_second": null, "trend_significant": null, "trend_p_value": null, "time_to_limit_seconds": null}))
        .collect();
    json!({"schema_version": 1, "kind": "history", "db": "h.db", "since": "2023-11-14T22:00:00Z",
        "targets": [{"target": EVIL, "samples": samples,
            "trend": {"pid": 42, "windows": 10, "growth_mb_per_min": 2.29, "growth_mb_per_min_lower": 2.0, "growth_mb_per_min_upper": 2.5,
                      "p_value": 0.001, "significant": true, "growing": true, "time_to_limit_seconds": 3600.0},
            "alerts": [{"target": EVIL, "ts_ms": 1_700_000_060_000i64, "alert": EVIL, "status": "firing", "value": 2.3}],
            "snapshots": [{"ts_ms": 1_700_000_070_000i64, "file": EVIL}]}]})
}

fn assert_inert(kind: &str, html: &str) {
    // The only script elements are the two the page itself has.
    assert_eq!(
        html.matches("<script").count(),
        2,
        "{kind}: extra <script> in\n{html}"
    );
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "{kind}: extra </script>"
    );
    assert!(!html.contains("alert(1)</"), "{kind}: raw payload");
    assert!(
        html.contains("&lt;&#x2f;script&gt;") || html.contains("&lt;/script&gt;"),
        "{kind}: payload not escaped as text"
    );
    // The embedded data survives intact.
    let start =
        html.find("id=\"report-data\">").expect("data element") + "id=\"report-data\">".len();
    let end = start + html[start..].find("</script>").expect("end of data");
    let v: Value = serde_json::from_str(&html[start..end]).expect("embedded JSON parses");
    assert_eq!(v["kind"], kind);
    assert!(
        v.to_string().contains(EVIL),
        "{kind}: payload round-trips in the data"
    );
}

#[test]
fn every_kind_renders_inert() {
    for (kind, v) in [
        ("analyze", analyze()),
        ("find-leaks", find_leaks()),
        ("diff", diff()),
        ("history", history()),
    ] {
        let html = report::render_html_at(&v, Some("2026-01-01T00:00:00Z"))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_inert(kind, &html);
        assert!(html.contains("2026-01-01T00:00:00Z"));
        assert!(html.contains("data-chart="), "{kind}: no chart");
    }
}

#[test]
fn content() {
    let html = report::render_html(&find_leaks()).unwrap();
    assert!(html.contains("event listener never removed"));
    assert!(html.contains("976.6 KiB"), "cluster retained size");
    assert!(html.contains(":9:23"), "code location");
    let html = report::render_html(&analyze()).unwrap();
    assert!(html.contains("1.9 MiB") && html.contains("1,200"));
}

#[test]
fn rejects_what_it_cannot_render() {
    let e = report::render_html(&json!({"kind": "weird", "schema_version": 1})).unwrap_err();
    assert!(e.to_string().contains("unknown report kind"), "{e}");
    let e = report::render_html(&json!({"kind": "diff", "schema_version": 99})).unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
    assert!(report::render_html(&json!([1])).is_err());
    assert!(report::render_html(&json!({"schema_version": 1})).is_err());
}

/// Writes sample pages to $LEAKHOUND_REPORT_SAMPLES (for looking at them in a browser).
#[test]
fn write_samples() {
    let Some(dir) = std::env::var_os("LEAKHOUND_REPORT_SAMPLES") else {
        return;
    };
    for (kind, v) in [
        ("analyze", analyze()),
        ("find-leaks", find_leaks()),
        ("diff", diff()),
        ("history", history()),
    ] {
        let html = report::render_html(&v).unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{kind}.html")),
            html,
        )
        .unwrap();
    }
}
