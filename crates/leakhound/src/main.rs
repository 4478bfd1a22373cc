//! The `leakhound` command line.

mod analyze;
mod describe;
mod fmt;
mod load;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Version of the JSON reports; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Find memory leaks in Node.js services: what leaks, who retains it, where it was made.
#[derive(Parser, Debug)]
#[command(name = "leakhound", version, about, long_about = None)]
struct Cli {
    /// No progress bars
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse a .heapsnapshot: statistics, classes and the biggest objects with their retainers
    Analyze(analyze::AnalyzeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = progress::Progress::new(cli.quiet);
    let result = match &cli.command {
        Command::Analyze(args) => analyze::run(args, &progress).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line; a hint (a cause starting with "hint:") goes on its own line.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if let Some(h) = s.strip_prefix("hint: ") {
            hints.push(h.to_owned());
        } else if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    let mut out = parts.join(": ");
    for h in hints {
        out.push_str("\nhint: ");
        out.push_str(&h);
    }
    out
}
