//! `leakhound inspect` on a snapshot of a real node process
//! (`fixtures/heaps/growing.js`: 6000 `Session`s in `globalThis.sessionCache`).

mod common;

use common::{TempDir, growing_series, leakhound};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = leakhound().args(args).output().expect("run leakhound");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_a_leaked_session() {
    let dir = TempDir::new("inspect");
    let files = growing_series(dir.path());
    let snap = files[2].to_str().unwrap();

    // --class lists instances, biggest retained first.
    let (code, out, err) = run(&[
        "inspect", snap, "--class", "Session", "--limit", "2", "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let lists: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(lists[0]["count"], 6000);
    assert_eq!(lists[0]["instances"]["total"], 6000);
    let id = lists[0]["instances"]["items"][0]["id"].as_u64().unwrap();

    // The object view as JSON: the readable path names the global, the
    // dominator chain goes up through the array to the root.
    let at = format!("@{id}");
    let (code, out, err) = run(&["inspect", snap, &at, "--json", "--dominators"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["object"]["class"], "Session");
    assert_eq!(v["readable_path"]["anchor"], "globalThis.sessionCache");
    assert_eq!(v["retainers"]["items"][0]["from"]["class"], "Array");
    assert_eq!(v["dominators"][0]["object"]["class"], "Array");
    let last = v["dominators"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["object"]["type"], "synthetic", "the root: {last}");
    assert!(
        v["location"]["url"]
            .as_str()
            .unwrap()
            .ends_with("growing.js")
    );

    // The same view as text.
    let (code, out, err) = run(&["inspect", snap, &at, "--dominators", "--edges", "5"]);
    assert_eq!(code, 0, "{err}");
    let repo = common::repo();
    insta::with_settings!({filters => vec![
        (r"@\d+", "@ID"),
        (r"\[\d+\]", "[N]"),
        (r"\{\d+\}", "{N}"),
        (r"session-\d+-", "session-N-"),
        (regex_escape(repo.to_str().unwrap()).as_str(), "[REPO]"),
    ]}, {
        insta::assert_snapshot!("inspect_session_text", out);
    });

    // Bad ids are clean errors.
    let (code, _, err) = run(&["inspect", snap, "@4294967295"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: no object @4294967295 in "), "{err}");
    let (code, _, err) = run(&["inspect", snap, "abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("hint: "), "{err}");
    let (code, _, err) = run(&["inspect", snap, "--class", "NoSuchClass"]);
    assert_eq!(code, 2);
    assert!(err.contains("no class named \"NoSuchClass\""), "{err}");
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}
