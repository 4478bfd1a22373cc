//! Allocation profiles written by `watch` (`[allocation] profile_dir`):
//! `TARGET-YYYYMMDDTHHMMSSZ.pb.gz`, gzipped pprof, 0600, written to a
//! temporary file and renamed; the newest [`KEEP`] of each target are kept.

use std::io::Write;
use std::path::Path;

use crate::LatestProfile;
use crate::error::{Error, Result};

/// Profiles kept per target (a day at one every 5 minutes).
pub const KEEP: usize = 288;

fn io(what: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what: what.display().to_string(),
        source,
    }
}

/// A file-name-safe form of a target's name.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes one profile and prunes the target's oldest.
pub fn write(dir: &Path, target: &str, p: &LatestProfile) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    let ms = p
        .taken
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let stamp: String = crate::time::rfc3339(ms)
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    let prefix = format!("{}-", safe(target));
    let path = dir.join(format!("{prefix}{stamp}Z.pb.gz"));
    let tmp = dir.join(format!(".{prefix}{stamp}.tmp"));
    let bytes = p.to_pprof();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&path, e));
    }
    prune(dir, &prefix);
    Ok(())
}

fn prune(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut ours: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".pb.gz"))
        .collect();
    ours.sort();
    let extra = ours.len().saturating_sub(KEEP);
    for n in &ours[..extra] {
        let _ = std::fs::remove_file(dir.join(n));
    }
}
