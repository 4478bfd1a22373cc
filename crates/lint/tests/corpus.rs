//! Precision on real code: lints the popular npm packages installed in
//! fixtures/lint-corpus (`npm ci --ignore-scripts --prefix fixtures/lint-corpus`)
//! and compares the findings with the reviewed list in expected-findings.json.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lint-corpus")
}

#[test]
fn corpus_findings_are_the_reviewed_ones() {
    let root = corpus();
    let nm = root.join("node_modules");
    assert!(
        nm.join("express").is_dir(),
        "{} is not installed\nhint: npm ci --ignore-scripts --prefix fixtures/lint-corpus",
        nm.display()
    );
    let mut config = lint::Config::default();
    config.include_node_modules = true;
    std::env::set_current_dir(&root).unwrap();
    let report = lint::lint_paths(&[PathBuf::from("node_modules")], &config).unwrap();
    assert!(report.files > 500, "only {} files linted", report.files);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let got: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| format!("{}:{}:{} {}", f.path, f.line, f.column, f.rule.name()))
        .collect();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("expected-findings.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<String> = expected["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                f["why"].as_str().is_some_and(|w| w.len() > 20),
                "every expected finding needs a justification: {f}"
            );
            f["finding"].as_str().unwrap().to_owned()
        })
        .collect();
    let new: Vec<_> = got.difference(&want).collect();
    let gone: Vec<_> = want.difference(&got).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "corpus findings changed\nnew (review each: fix the rule, or add it to fixtures/lint-corpus/expected-findings.json with a justification): {new:#?}\ngone (remove from expected-findings.json): {gone:#?}"
    );
}
