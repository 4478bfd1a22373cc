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
    // Not a terminal, or one that reports a width of 0 (`script`, some CI
    // ptys): a sane width instead of one character per column.
    if t.width().is_none_or(|w| w < 40) {
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

/// Where writing to `path` really goes: the target of a symlink (the link
/// stays a link), else `path` itself.
pub fn resolve(path: &Path) -> std::path::PathBuf {
    let mut p = path.to_path_buf();
    // A chain of links, bounded like the kernel's.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&p) {
                Ok(t) if t.is_absolute() => p = t,
                Ok(t) => {
                    p = p.parent().map_or_else(|| t.clone(), |d| d.join(&t));
                }
                Err(_) => break,
            },
            _ => break,
        }
    }
    p
}

/// Whether `path` names something that is written through in place (a
/// terminal, `/dev/null`, a pipe, `/dev/stdout`) rather than replaced.
pub fn is_stream(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Checks an output path before any work is done, so a long hunt or capture
/// does not end in "cannot write": it must not be a directory, its directory
/// must exist and be writable, and it must not be one of the `inputs` (a
/// report written over the snapshot it describes destroys the snapshot).
pub fn check_output(path: &Path, inputs: &[&Path]) -> Result<()> {
    let shown = path.display();
    // Through the original name: `/dev/stdout` is a link to a pipe only
    // the kernel can follow.
    if is_stream(path) {
        return Ok(());
    }
    let target = resolve(path);
    if target.is_dir() {
        anyhow::bail!(
            "{shown}: is a directory\nhint: give a file name, such as {shown}/report.html"
        );
    }
    if is_stream(&target) {
        return Ok(());
    }
    if let Ok(out) = std::fs::metadata(&target) {
        use std::os::unix::fs::MetadataExt;
        for input in inputs {
            if std::fs::metadata(input).is_ok_and(|m| m.dev() == out.dev() && m.ino() == out.ino())
            {
                anyhow::bail!(
                    "{shown}: is also an input ({}); writing the report there would destroy it\nhint: choose another output file",
                    input.display()
                );
            }
        }
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(
            "{shown}: directory {} does not exist\nhint: create it first (mkdir -p {})",
            dir.display(),
            dir.display()
        );
    }
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        .with_context(|| format!("{shown}: not a usable path"))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        anyhow::bail!("{shown}: directory {} is not writable", dir.display());
    }
    Ok(())
}

/// Writes a file readable only by its owner; the file appears under its
/// name only once it is complete (temp file + rename in the same
/// directory). A symlink is followed (its target is written, the link
/// stays); a terminal, pipe or device (`/dev/null`, `/dev/stdout`) is
/// written through, never replaced.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    if is_stream(path) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("{shown}: cannot open for writing"))?;
        return f
            .write_all(data)
            .and_then(|_| f.flush())
            .with_context(|| format!("{shown}: cannot write"));
    }
    let target = resolve(path);
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
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
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{shown}: cannot write"));
    }
    Ok(())
}

/// Creates a directory for snapshots and reports (with its parents), each
/// directory it creates private (0700) whatever the umask; an existing one
/// is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let shown = dir.display();
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        anyhow::bail!("{shown}: exists and is not a directory");
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{shown}: cannot create"))?;
    for d in missing {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{}: cannot make private", d.display()))?;
    }
    Ok(())
}

/// [`check_output`] for each given output path.
pub fn check_outputs(paths: &[Option<&Path>], inputs: &[&Path]) -> Result<()> {
    for p in paths.iter().flatten() {
        check_output(p, inputs)?;
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
