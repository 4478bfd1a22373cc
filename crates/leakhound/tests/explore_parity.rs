//! The explorer's object views agree with DevTools' own worker (the oracle,
//! `oracle/`): for sampled objects of snapshots of real node programs —
//! spread over the heap, plus those with the most retainers — the
//! retainers in the Retainers view's order (DevTools hides weak ones and
//! the synthetic root), the immediate dominator and the retained size.

mod common;

use std::path::Path;

use common::{TempDir, get, node_script, oracle, start_explorer};

fn agree(snap: &Path, samples: usize) {
    let want = oracle(&["retainers", snap.to_str().unwrap(), &samples.to_string()]);
    let (_explorer, url) = start_explorer(&[snap]);
    let fetch = |path: String| -> serde_json::Value {
        let (code, body) = get(&format!("{url}api/0/{path}"));
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let objects = want.as_array().unwrap();
    assert!(objects.len() > samples, "samples: {}", objects.len());
    for o in objects {
        let id = &o["id"];
        let view = fetch(format!("object/{id}?limit=1"));
        assert_eq!(
            view["object"]["retained_size"], o["retained"],
            "@{id} retained"
        );
        let dominator = view["dominators"].get(0).map_or(id, |d| &d["object"]["id"]);
        assert_eq!(dominator, &o["dominator"], "@{id} dominator");
        let page = fetch(format!("retainers/{id}?limit=200"));
        assert_eq!(page["total"], o["total_retainers"], "@{id} retainer count");
        let got: Vec<serde_json::Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::json!({"from": r["from"]["id"], "type": r["edge_type"], "name": r["name"]}))
            .collect();
        assert_eq!(
            &serde_json::Value::from(got),
            &o["retainers"],
            "@{id} retainers in order"
        );
    }
}

#[test]
fn object_views_match_devtools() {
    let dir = TempDir::new("explore-parity");
    let prefix = dir.path().join("shapes");
    node_script("fixtures/heaps/shapes.js", &[prefix.to_str().unwrap()]);
    agree(&dir.path().join("shapes-2.heapsnapshot"), 40);
    let prefix = dir.path().join("growing");
    node_script("fixtures/heaps/growing.js", &[prefix.to_str().unwrap()]);
    agree(&dir.path().join("growing-3.heapsnapshot"), 40);
}
