//! Writing reports: standard output, or a private file written atomically.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).context("cannot serialize the report")?;
    s.push('\n');
    Ok(s)
}

/// A table in the house style; plain ASCII borders when not on a terminal.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if t.width().is_none() {
        t.set_width(120);
    }
    t.set_header(header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    t
}

/// Right-aligns the given columns (numbers line up on their last digit).
pub fn align_right(table: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for c in columns {
        if let Some(col) = table.column_mut(c) {
            col.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
}

/// Prints `text`, or writes it to `path` with mode 0600 (temp file + rename).
pub fn emit(path: Option<&Path>, text: &str) -> Result<()> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e).context("cannot write to standard output"),
            }
        }
        Some(p) => write_private(p, text.as_bytes()),
    }
}

/// Writes a file readable only by its owner; the file appears under its
/// name only once it is complete.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{shown}: not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{shown}: cannot write"));
    }
    Ok(())
}

/// Renders a report as a self-contained HTML page and writes it like
/// [`write_private`]: mode 0600, complete or not at all.
pub fn write_html<T: Serialize>(path: &Path, report: &T) -> Result<()> {
    let value = serde_json::to_value(report).context("cannot serialize the report")?;
    write_html_value(path, &value)
}

/// [`write_html`] for a report already in JSON form.
pub fn write_html_value(path: &Path, report: &serde_json::Value) -> Result<()> {
    let now = monitor::time::rfc3339(monitor::time::now_ms());
    let html = report::render_html_at(report, Some(&now))
        .with_context(|| format!("{}: cannot render the HTML report", path.display()))?;
    write_private(path, html.as_bytes())
}
