//! `leakhound lint` as users run it: text output (insta), exit statuses,
//! errors, --explain, config discovery, and SARIF validated against the
//! SARIF 2.1.0 JSON Schema (from the npm registry, see fixtures/lint-corpus).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, leakhound};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn run(args: &[&str], cwd: &Path) -> (String, String, i32) {
    let out = leakhound()
        .arg("lint")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        s(&out.stdout),
        s(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn text_output_on_the_example_services() {
    let (out, err, code) = run(&["--no-config", "."], &fixtures().join("apps"));
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("lint_apps_text", format!("{out}--- stderr\n{err}"));
}

#[test]
fn exit_statuses_and_errors() {
    let apps = fixtures().join("apps");
    assert_eq!(run(&["--no-config", "control-bounded.js"], &apps).2, 0);
    // Only warnings: clean at --fail-on error.
    assert_eq!(
        run(
            &["--no-config", "--fail-on", "error", "leak-cache.js"],
            &apps
        )
        .2,
        0
    );
    assert_eq!(run(&["--no-config", "leak-cache.js"], &apps).2, 1);
    let (_, err, code) = run(&["--no-config", "no-such-dir"], &apps);
    assert_eq!(
        (code, err.as_str()),
        (2, "error: no-such-dir: no such file or directory\n")
    );
    let dir = TempDir::new("lint-bad");
    std::fs::write(dir.path().join("ok.js"), "setInterval(() => 1, 10);\n").unwrap();
    std::fs::write(dir.path().join("broken.ts"), "export const x: = 1;\n").unwrap();
    let (_, err, code) = run(&["--no-config", "."], dir.path());
    assert_eq!(code, 2);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("error: ./broken.ts:1:"), "{err}");
    assert!(lines[1].starts_with("hint: "), "{err}");
    let (_, err, code) = run(&["--explain", "no-such-rule"], dir.path());
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: unknown rule `no-such-rule`\nhint: rules are "),
        "{err}"
    );
}

#[test]
fn explain_names_the_runtime_pattern() {
    let (out, _, code) = run(&["--explain", "event-listener-in-handler"], &fixtures());
    assert_eq!(code, 0);
    insta::assert_snapshot!("lint_explain_listener", out);
    // A hunt finding's pattern finds its rule too.
    let (out, _, _) = run(&["--explain", "timer"], &fixtures());
    assert!(
        out.starts_with("interval-never-cleared (error, runtime pattern: timer)"),
        "{out}"
    );
}

#[test]
fn config_file_is_found_upwards_and_applies() {
    let dir = TempDir::new("lint-config");
    let src = dir.path().join("src/api");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("h.js"),
        "const seen = [];\nmodule.exports = (req) => { seen.push(req); };\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("src/gen")).unwrap();
    std::fs::write(
        dir.path().join("src/gen/g.js"),
        "const a = [];\nmodule.exports = (req) => { a.push(req); };\n",
    )
    .unwrap();
    assert_eq!(run(&["src"], dir.path()).2, 1);
    std::fs::write(
        dir.path().join(".leakhound.toml"),
        "fail-on = \"error\"\nignore = [\"gen/\"]\n[rules]\nunbounded-collection = \"note\"\n",
    )
    .unwrap();
    let (out, err, code) = run(&["src"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "src/api/h.js:2:29 unbounded-collection long-lived array `seen` gets entries (.push) on every call and none are ever removed, cleared or size-checked (runtime pattern: unbounded_collection)\n"
    );
    std::fs::write(
        dir.path().join(".leakhound.toml"),
        "[rules]\nunbounded = \"off\"\n",
    )
    .unwrap();
    let (_, err, code) = run(&["src"], dir.path());
    assert_eq!(code, 2);
    assert!(
        err.contains(".leakhound.toml: unknown rule `unbounded`") && err.contains("\nhint: "),
        "{err}"
    );
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let validator = fixtures().join("lint-corpus/validate-sarif.cjs");
    assert!(
        fixtures().join("lint-corpus/node_modules/ajv").is_dir(),
        "the SARIF schema and validator are not installed\nhint: npm ci --ignore-scripts --prefix fixtures/lint-corpus"
    );
    let dir = TempDir::new("lint-sarif");
    std::fs::write(dir.path().join("broken file.js"), "let = ;\n").unwrap();
    for (cwd, arg) in [
        (fixtures(), "apps"),
        (fixtures(), "realworld"),
        (dir.path().to_owned(), "."),
    ] {
        let (sarif, _, _) = run(&["--no-config", "--format", "sarif", arg], &cwd);
        let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let mut node = Command::new("node")
            .arg(&validator)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        node.stdin
            .take()
            .unwrap()
            .write_all(sarif.as_bytes())
            .unwrap();
        let out = node.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{arg}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (sarif, _, _) = run(
        &["--no-config", "--format", "sarif", "leak-listener.js"],
        &fixtures().join("apps"),
    );
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let r = &v["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "event-listener-in-handler");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "leak-listener.js"
    );
}

#[test]
fn json_output() {
    let (out, _, code) = run(
        &["--no-config", "--format", "json", "leak-timer.js"],
        &fixtures().join("apps"),
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["files"].as_u64()),
        (Some("lint"), Some(1))
    );
    let f = &v["findings"][0];
    assert_eq!(
        (
            f["rule"].as_str(),
            f["line"].as_u64(),
            f["severity"].as_str()
        ),
        (Some("interval-never-cleared"), Some(7), Some("error"))
    );
}
