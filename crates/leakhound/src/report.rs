//! `leakhound report INPUT.json --html OUT.html`: a saved JSON report as a page.

use std::path::PathBuf;

use anyhow::{Result, bail};

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
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let snapshot = text.trim_start().starts_with("{\"snapshot\"")
            || args.input.extension().is_some_and(|x| x == "heapsnapshot");
        let hint = if snapshot {
            "hint: this is a heap snapshot: `leakhound analyze FILE --html OUT.html` makes its page".to_owned()
        } else {
            "hint: save a report with --json, e.g. `leakhound analyze snap.heapsnapshot --json -o report.json`".to_owned()
        };
        anyhow::anyhow!("{shown}: not a JSON report ({e})\n{hint}")
    })?;
    if value.get("snapshot").is_some() && value.get("nodes").is_some() {
        bail!(
            "{shown}: a heap snapshot, not a JSON report\nhint: `leakhound analyze FILE --html OUT.html` makes a snapshot's page"
        );
    }
    output::write_html_value(&args.html, &value).map_err(|e| {
        // What is wrong with the input is said of the input; a write error
        // keeps naming the output.
        match e.chain().find_map(|c| c.downcast_ref::<report::Error>()) {
            Some(bad) => anyhow::anyhow!("{shown}: {bad}"),
            None => e,
        }
    })?;
    eprintln!("leakhound: wrote {}", args.html.display());
    Ok(())
}
