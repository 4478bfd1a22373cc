//! `leakhound report INPUT.json --html OUT.html`: a saved JSON report as a page.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::output;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A JSON report saved from `analyze --json`, `find-leaks --json`, `hunt --json`,
    /// `diff --json` or `history --json`
    #[arg(value_name = "INPUT.json")]
    pub input: PathBuf,
    /// Write a self-contained HTML page (no network needed to view it) to this file (0600)
    #[arg(long, value_name = "OUT.html")]
    pub html: PathBuf,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    output::check_output(&args.html, &[args.input.as_path()])?;
    let shown = args.input.display();
    let text = crate::load::read_text(&args.input)?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{shown}: not JSON\nhint: save a report with `leakhound analyze FILE --json -o {shown}`"
        )
    })?;
    output::write_html_value(&args.html, &value)
        .with_context(|| format!("{shown}: cannot make a page"))?;
    eprintln!("leakhound: wrote {}", args.html.display());
    Ok(())
}
