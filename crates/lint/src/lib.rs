//! `leakhound lint`: static checks for the leak patterns that `leakhound hunt`
//! finds at run time (event listeners, timers, closures, unbounded collections,
//! global accumulation) in JavaScript and TypeScript, with oxc's parser and
//! semantic model. No printing: the binary prints what this crate returns.

mod checks;
pub mod config;
mod imports;
mod modules;
mod project;
mod rules;
pub mod sarif;
mod scope;
mod suppress;
mod walk;

use std::path::{Path, PathBuf};

use oxc::allocator::Allocator;
use oxc::parser::{ParseOptions, Parser, ParserReturn};
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use rayon::prelude::*;
use serde::Serialize;

pub use config::Config;
use project::Project;
pub use rules::{Explanation, Rule, Severity};

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    /// 1-based line and column (column in Unicode code points).
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    #[serde(serialize_with = "ser_rule")]
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
}

fn ser_rule<S: serde::Serializer>(r: &Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.name())
}

/// A file that could not be read or parsed; linting goes on with the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub path: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

/// Something worth telling the user that is not a finding (a suppression
/// naming an unknown rule, one without a reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub path: String,
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub files: usize,
    pub findings: Vec<Finding>,
    pub suppressed: usize,
    pub errors: Vec<FileError>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// Findings at or above `severity`.
    pub fn failing(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity >= severity)
            .count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    #[error("{path}: not a JavaScript or TypeScript file (.js .cjs .mjs .jsx .ts .mts .cts .tsx)")]
    NotSource { path: String },
    #[error("{path}: {message}")]
    Walk { path: String, message: String },
    #[error("{path}: {message}")]
    Config { path: String, message: String },
}

/// Lints files and directories (recursively, honouring .gitignore, skipping
/// node_modules unless the config says otherwise), in parallel.
pub fn lint_paths(paths: &[PathBuf], config: &Config) -> Result<Report, Error> {
    let files = walk::source_files(paths, config)?;
    let project = Project::new(paths, config);
    let mut results: Vec<FileResult> = files
        .par_iter()
        .map(|p| lint_file_in(p, config, &project))
        .collect();
    // Every linted file has told the project what it exports: judge the
    // calls into other modules.
    results
        .par_iter_mut()
        .zip(&files)
        .for_each(|(r, p)| imports::finish(r, &p.display().to_string(), config, &project));
    let mut report = Report {
        files: files.len(),
        ..Report::default()
    };
    for r in results {
        report.findings.extend(r.findings);
        report.suppressed += r.suppressed;
        report.errors.extend(r.error);
        report.warnings.extend(r.warnings);
    }
    Ok(report)
}

#[derive(Debug, Default)]
pub struct FileResult {
    pub findings: Vec<Finding>,
    pub suppressed: usize,
    pub error: Option<FileError>,
    pub warnings: Vec<Warning>,
    /// Calls into relative modules, judged once every file is linted.
    pending: Option<imports::Pending>,
}

/// Reads and lints one file.
pub fn lint_file(path: &Path, config: &Config) -> FileResult {
    let project = Project::new(&[path.to_owned()], config);
    let mut r = lint_file_in(path, config, &project);
    imports::finish(&mut r, &path.display().to_string(), config, &project);
    r
}

fn lint_file_in(path: &Path, config: &Config, project: &Project) -> FileResult {
    let display = path.display().to_string();
    match read_source(path, &display) {
        Ok(source) => lint_source_in(&display, &source, config, project),
        Err(e) => FileResult {
            error: Some(e),
            ..FileResult::default()
        },
    }
}

/// A file's text, or the `FileError` saying why there is none.
fn read_source(path: &Path, display: &str) -> Result<String, FileError> {
    let bytes =
        std::fs::read(path).map_err(|e| file_error(display, &format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| file_error(display, "not UTF-8 text"))
}

fn file_error(path: &str, message: &str) -> FileError {
    FileError {
        path: path.to_owned(),
        line: None,
        column: None,
        message: message.to_owned(),
    }
}

/// The source type for a path: `.cjs`/`.cts` CommonJS, `.mjs`/`.mts` modules,
/// `.js`/`.ts` whichever the code is (import/export make it a module).
pub fn source_type(path: &str) -> Option<SourceType> {
    let ext = Path::new(path).extension()?.to_str()?;
    let st = SourceType::from_extension(ext).ok()?;
    Some(match ext {
        "js" | "jsx" | "ts" | "tsx" => st.with_unambiguous(true),
        _ => st,
    })
}

/// Parses a file's text in the dialect its path names.
fn parse<'a>(allocator: &'a Allocator, path: &str, source: &'a str) -> ParserReturn<'a> {
    let st = source_type(path).unwrap_or_else(SourceType::cjs);
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    Parser::new(allocator, source, st)
        .with_options(options)
        .parse()
}

/// Lints one file's text; `path` is used in findings, to pick the dialect and
/// to find the relative modules the file imports.
pub fn lint_source(path: &str, source: &str, config: &Config) -> FileResult {
    let project = Project::new(&[PathBuf::from(path)], config);
    let mut r = lint_source_in(path, source, config, &project);
    if let Some(p) = r.pending.as_mut() {
        p.keep_text(source);
    }
    imports::finish(&mut r, path, config, &project);
    r
}

fn lint_source_in(path: &str, source: &str, config: &Config, project: &Project) -> FileResult {
    let allocator = Allocator::default();
    let parsed = parse(&allocator, path, source);
    let lines = LineIndex::new(source);
    if let Some(d) = parsed
        .diagnostics
        .first()
        .filter(|_| parsed.panicked || !parsed.diagnostics.is_empty())
    {
        let (line, column) = match d.labels.first() {
            Some(l) => lines.position(l.offset()),
            None => (1, 1),
        };
        let error = FileError {
            path: path.to_owned(),
            line: Some(line),
            column: Some(column),
            message: format!("cannot parse: {}", d.message),
        };
        return FileResult {
            error: Some(error),
            ..FileResult::default()
        };
    }
    let semantic = SemanticBuilder::new()
        .with_build_nodes(true)
        .build(&parsed.program)
        .semantic;
    let checker = checks::Checker::new(scope::FileScope::new(&semantic), source);
    let comments = &parsed.program.comments;
    let sup = suppress::Suppressions::parse(path, source, comments, &lines);
    let here = project::normal(Path::new(path));
    project.register(here.clone(), modules::stores(&checker));
    let mut out = FileResult {
        warnings: sup.warnings.clone(),
        pending: imports::pending(&checker, comments, here, &lines, &sup),
        ..FileResult::default()
    };
    for h in checker.run() {
        let severity = config.severity(h.rule);
        let (line, column) = lines.position(h.span.start);
        if severity == Severity::Off {
            continue;
        }
        if sup.covers(h.rule, line) {
            out.suppressed += 1;
            continue;
        }
        let (end_line, end_column) = lines.position(h.span.end);
        out.findings.push(Finding {
            path: path.to_owned(),
            line,
            column,
            end_line,
            end_column,
            rule: h.rule,
            severity,
            message: h.message,
        });
    }
    out
}

/// Byte offsets to 1-based lines and code-point columns.
pub struct LineIndex<'s> {
    source: &'s str,
    starts: Vec<u32>,
}

impl<'s> LineIndex<'s> {
    pub fn new(source: &'s str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        LineIndex { source, starts }
    }

    pub fn position(&self, offset: u32) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1] as usize;
        let end = (offset as usize).min(self.source.len());
        let col = self
            .source
            .get(start..end)
            .map_or(end - start, |s| s.chars().count());
        (line as u32, col as u32 + 1)
    }
}

/// Sorts findings by file, line, column and rule (the order every output uses).
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
}
