//! `leakhound schema KIND`: the JSON Schema of a report, generated from the code.

use anyhow::Result;

use crate::output;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaKind {
    /// `analyze --json`
    Analyze,
    /// `find-leaks --json` and `hunt --json`
    FindLeaks,
    /// `diff --json`
    Diff,
    /// `diff --by-path --json` and `find-leaks --by-path --json`
    ByPath,
    /// `history --json`
    History,
}

impl SchemaKind {
    pub fn name(self) -> &'static str {
        match self {
            SchemaKind::Analyze => "analyze",
            SchemaKind::FindLeaks => "find-leaks",
            SchemaKind::Diff => "diff",
            SchemaKind::ByPath => "by-path",
            SchemaKind::History => "history",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    /// Which report
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// The schema as pretty JSON with a trailing newline (what docs/schema/KIND.json holds).
pub fn schema_json(kind: SchemaKind) -> Result<String> {
    let mut schema = match kind {
        SchemaKind::Analyze => schemars::schema_for!(crate::analyze::AnalyzeReport),
        SchemaKind::FindLeaks => schemars::schema_for!(crate::findleaks::LeakReport),
        SchemaKind::Diff => schemars::schema_for!(crate::findleaks::DiffReport),
        SchemaKind::ByPath => schemars::schema_for!(crate::bypath::ByPathReport),
        SchemaKind::History => schemars::schema_for!(crate::history::Report),
    };
    schema.insert(
        "description".into(),
        format!(
            "leakhound `{}` JSON report, schema_version {}. Additive changes keep the version; removals and renames bump it.",
            kind.name(),
            crate::SCHEMA_VERSION
        )
        .into(),
    );
    output::json(&schema)
}

pub fn run(args: &SchemaArgs) -> Result<()> {
    output::emit(None, &schema_json(args.kind)?)
}
