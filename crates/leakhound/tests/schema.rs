//! The committed JSON Schemas (docs/schema/*.json) match the code.

mod common;

use serde_json::Value;

use common::{TempDir, growing_series, leakhound, repo};

#[test]
fn committed_schemas_are_current() {
    let mut stale = Vec::new();
    for kind in ["analyze", "find-leaks", "diff", "by-path", "history"] {
        let out = leakhound().args(["schema", kind]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let generated = String::from_utf8(out.stdout).unwrap();
        let path = repo().join(format!("docs/schema/{kind}.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(kind);
        }
        let v: serde_json::Value = serde_json::from_str(&generated).expect("schema is JSON");
        assert_eq!(v["properties"]["kind"]["const"], kind);
    }
    assert!(
        stale.is_empty(),
        "docs/schema is stale for {stale:?}; regenerate with:\n  for k in analyze find-leaks diff by-path history; do cargo run -q -p leakhound -- schema $k > docs/schema/$k.json; done\n(and read docs/json.md: removing or renaming a field bumps schema_version)"
    );
}

/// A small structural validator: object keys against `properties` and
/// `required`, array items, `$ref`, `anyOf`/`oneOf`, and JSON types.
fn check(schema: &Value, root: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/$defs/");
        return check(&root["$defs"][name], root, v, at, errors);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema[key].as_array() {
            let ok = alts.iter().any(|alt| {
                let mut e = Vec::new();
                check(alt, root, v, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!("{at}: matches no alternative of {key}"));
            }
            return;
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errors.push(format!("{at}: {v} is not the constant {c}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        errors.push(format!("{at}: {actual}, expected {types:?}"));
        return;
    }
    match v {
        Value::Object(map) => {
            let props = &schema["properties"];
            for (k, x) in map {
                match props.get(k) {
                    Some(p) => check(p, root, x, &format!("{at}.{k}"), errors),
                    None if props.is_object() => {
                        errors.push(format!("{at}.{k}: not in the schema"))
                    }
                    None => {}
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                let k = r.as_str().unwrap_or_default();
                if !map.contains_key(k) {
                    errors.push(format!("{at}.{k}: required but missing"));
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check(&schema["items"], root, x, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn assert_matches(kind: &str, report: &[u8]) {
    let v: Value = serde_json::from_slice(report).expect("report is JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(format!("docs/schema/{kind}.json"))).unwrap(),
    )
    .unwrap();
    let mut errors = Vec::new();
    check(&schema, &schema, &v, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{kind} report does not match docs/schema/{kind}.json:\n{}",
        errors.join("\n")
    );
}

#[test]
fn real_reports_match_their_schemas() {
    let dir = TempDir::new("schema");
    let snaps = growing_series(dir.path());
    let out = leakhound()
        .arg("analyze")
        .arg(&snaps[0])
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_matches("analyze", &out.stdout);
    let out = leakhound()
        .arg("find-leaks")
        .args(&snaps)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_matches("find-leaks", &out.stdout);
    let out = leakhound()
        .arg("diff")
        .arg(&snaps[0])
        .arg(&snaps[2])
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_matches("diff", &out.stdout);
    let out = leakhound()
        .args(["find-leaks", "--by-path", "--json", "--min-leak", "1KiB"])
        .arg(&snaps[0])
        .arg(&snaps[2])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_matches("by-path", &out.stdout);

    // A history as `watch` writes it: samples, an alert without a value.
    let db = dir.path().join("h.db");
    let store = monitor::store::Store::open(&db).unwrap();
    let now = monitor::time::now_ms();
    for i in 0..20 {
        store
            .insert(&monitor::store::Row {
                target: "api".into(),
                ts_ms: now - 20_000 + i * 1000,
                pid: 7,
                heap_used: 1e7 + i as f64 * 1e5,
                heap_floor: 1e7 + i as f64 * 1e5,
                heap_limit: 2e9,
                eventloop_p99_ms: Some(2.5),
                ..Default::default()
            })
            .unwrap();
    }
    store
        .insert_alert(&monitor::store::AlertRow {
            target: "api".into(),
            ts_ms: now,
            alert: "HeapGrowing".into(),
            status: "firing".into(),
            value: f64::NAN,
        })
        .unwrap();
    drop(store);
    let out = leakhound()
        .args(["history", "--json", "--trend-window", "1s", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_matches("history", &out.stdout);
}
