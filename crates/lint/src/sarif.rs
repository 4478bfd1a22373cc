//! SARIF 2.1.0 (what GitHub code scanning and other CI tools read).

use serde_json::{Value, json};

use crate::{Report, Rule, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note | Severity::Off => "note",
    }
}

/// A relative path as a URI reference: `/` separators, everything outside
/// RFC 3986's unreserved characters percent-encoded.
pub fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn rule_descriptor(rule: Rule, config: &crate::Config) -> Value {
    let e = rule.explanation();
    let markdown = format!(
        "{}\n\nBad:\n\n```js\n{}\n```\n\nFixed:\n\n```js\n{}\n```\n\nRuntime pattern: `{}` (`leakhound hunt`).",
        e.paragraph,
        e.bad,
        e.fixed,
        rule.pattern()
    );
    json!({
        "id": rule.name(),
        "name": rule.name(),
        "shortDescription": { "text": e.summary },
        "fullDescription": { "text": e.paragraph },
        "help": { "text": e.paragraph, "markdown": markdown },
        "defaultConfiguration": { "level": level(config.severity(rule)), "enabled": config.severity(rule) != Severity::Off },
        "properties": { "tags": ["memory-leak", rule.pattern()], "pattern": rule.pattern() }
    })
}

/// The report as a SARIF log with one run.
pub fn to_sarif(report: &Report, config: &crate::Config, tool_version: &str) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| rule_descriptor(*r, config))
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule.name(),
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.path), "uriBaseId": "%SRCROOT%" },
                        "region": {
                            "startLine": f.line, "startColumn": f.column,
                            "endLine": f.end_line, "endColumn": f.end_column
                        }
                    }
                }]
            })
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let mut region = json!({});
            if let (Some(l), Some(c)) = (e.line, e.column) {
                region = json!({ "startLine": l, "startColumn": c });
            }
            json!({
                "level": "error",
                "message": { "text": e.message },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": uri(&e.path), "uriBaseId": "%SRCROOT%" },
                    "region": region
                } }]
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "leakhound",
                "semanticVersion": tool_version,
                "rules": rules
            } },
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications
            }],
            "results": results
        }]
    })
}
