//! `leakhound lint`: prints what the `lint` crate finds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use lint::{Config, Report, Rule, Severity};

#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// Files and directories to lint (default: the current directory)
    pub paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at least this severe (default: the config's fail-on, else warning)
    #[arg(long, value_name = "SEVERITY", value_parser = ["error", "warning", "note"])]
    pub fail_on: Option<String>,
    /// Config file (default: leakhound.toml or .leakhound.toml in the first path's directory or above)
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Use no config file
    #[arg(long)]
    pub no_config: bool,
    /// Lint inside node_modules directories too
    #[arg(long)]
    pub include_node_modules: bool,
    /// Lint test files (test/, tests/, __tests__/, *.test.js, *.spec.ts) and *.min.js too
    #[arg(long)]
    pub include_tests: bool,
    /// Explain a rule (name or runtime pattern) with a bad and a fixed example, and exit
    #[arg(long, value_name = "RULE", exclusive = true)]
    pub explain: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

pub const AFTER_HELP: &str = "Rules (leakhound lint --explain RULE):
  event-listener-in-handler  listener added per call to a long-lived emitter, never removed (event_listener)
  interval-never-cleared     setInterval / NodeCache per call, never cleared (timer)
  unbounded-collection       long-lived Map/Set/array/object only grows (unbounded_collection)
  global-accumulation        globalThis/global property only grows (global_accumulation)
  closure-chain              each call keeps the previous value alive (closure)
Suppress one line: // leakhound-ignore-next-line RULE: reason
Exit status: 0 clean, 1 findings at or above --fail-on, 2 errors.";

pub fn run(args: &LintArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.explain {
        print!("{}", explain(name)?);
        return Ok(ExitCode::SUCCESS);
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut config = load_config(args, &paths[0])?;
    if let Some(s) = &args.fail_on {
        config.fail_on = Severity::parse(s).unwrap_or(Severity::Warning);
    }
    config.include_node_modules |= args.include_node_modules;
    config.include_tests |= args.include_tests;
    let mut report = lint::lint_paths(&paths, &config).map_err(|e| anyhow!("{e}"))?;
    lint::sort_findings(&mut report.findings);
    report.errors.sort_by(|a, b| a.path.cmp(&b.path));
    print_report(&report, &config, args.format)?;
    Ok(exit_code(&report, &config))
}

fn load_config(args: &LintArgs, first: &std::path::Path) -> anyhow::Result<Config> {
    if args.no_config {
        return Ok(Config::default());
    }
    let path = match &args.config {
        Some(p) => p.clone(),
        None => match Config::find(first) {
            Some(p) => p,
            None => return Ok(Config::default()),
        },
    };
    Config::load(&path).map_err(|e| {
        anyhow!("{e}\nhint: see \"Prevention: leakhound lint\" in the README for the config keys")
    })
}

fn exit_code(report: &Report, config: &Config) -> ExitCode {
    if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.failing(config.fail_on) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(report: &Report, config: &Config, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Text => print!("{}", text(report)),
        Format::Json => {
            let v = serde_json::json!({
                "schema_version": crate::SCHEMA_VERSION,
                "kind": "lint",
                "files": report.files,
                "findings": report.findings,
                "suppressed": report.suppressed,
                "errors": report.errors,
                "warnings": report.warnings,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Sarif => {
            let v = lint::sarif::to_sarif(report, config, env!("CARGO_PKG_VERSION"));
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    for w in &report.warnings {
        eprintln!("warning: {}:{}: {}", w.path, w.line, w.message);
    }
    for e in &report.errors {
        match (e.line, e.column) {
            (Some(l), Some(c)) => eprintln!("error: {}:{l}:{c}: {}", e.path, e.message),
            _ => eprintln!("error: {}: {}", e.path, e.message),
        }
    }
    if !report.errors.is_empty() {
        eprintln!(
            "hint: fix the syntax, or leave the file out with `ignore = [...]` in leakhound.toml"
        );
    }
    eprintln!("leakhound: {}", summary(report));
    Ok(())
}

/// `file:line:col rule message`, one line per finding.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{}:{}:{} {} {}\n",
            f.path,
            f.line,
            f.column,
            f.rule.name(),
            f.message
        ));
    }
    out
}

fn summary(report: &Report) -> String {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let (e, w, n) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
    );
    let mut parts = vec![];
    for (k, word) in [(e, "error"), (w, "warning"), (n, "note")] {
        if k > 0 {
            parts.push(format!("{k} {word}{}", if k == 1 { "" } else { "s" }));
        }
    }
    let total = report.findings.len();
    let mut s = format!(
        "{total} finding{} in {} file{}",
        if total == 1 { "" } else { "s" },
        report.files,
        if report.files == 1 { "" } else { "s" }
    );
    if !parts.is_empty() {
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    if report.suppressed > 0 {
        s.push_str(&format!(", {} suppressed", report.suppressed));
    }
    if !report.errors.is_empty() {
        s.push_str(&format!(
            ", {} file(s) could not be linted",
            report.errors.len()
        ));
    }
    s
}

/// `--explain`: the rule's paragraph and its bad and fixed examples.
pub fn explain(name: &str) -> anyhow::Result<String> {
    let Some(rule) = Rule::from_name(name).or_else(|| Rule::for_pattern(name)) else {
        let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        bail!(
            "unknown rule `{name}`\nhint: rules are {}",
            known.join(", ")
        );
    };
    let e = rule.explanation();
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    Ok(format!(
        "{} ({}, runtime pattern: {})\n\n{}\n\n{}\n\nBad:\n\n{}\nFixed:\n\n{}",
        rule.name(),
        rule.default_severity().as_str(),
        rule.pattern(),
        e.summary,
        textwrap(e.paragraph, 79),
        indent(e.bad),
        indent(e.fixed)
    ))
}

fn textwrap(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in s.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.chars().count();
    }
    out
}
