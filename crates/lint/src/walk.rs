//! Which files to lint: the named files, and the JavaScript/TypeScript files
//! under the named directories (honouring .gitignore/.ignore, skipping hidden
//! entries and node_modules, and the config's ignore patterns).

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;

use crate::{Config, Error};

pub const EXTENSIONS: [&str; 8] = ["js", "cjs", "mjs", "jsx", "ts", "mts", "cts", "tsx"];

/// Directories of tests, skipped unless `include-tests`: leaks in test code
/// rarely matter, and tests build up state on purpose.
const TEST_DIRS: [&str; 5] = ["test", "tests", "__tests__", "__mocks__", "spec"];

fn is_test_file(name: &str) -> bool {
    [".test.", ".spec.", "_test.", ".min."]
        .iter()
        .any(|m| name.contains(m))
}

pub fn is_source(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    EXTENSIONS.contains(&ext)
        && !name.ends_with(".d.ts")
        && !name.ends_with(".d.mts")
        && !name.ends_with(".d.cts")
}

/// Every file to lint, sorted, without duplicates.
pub fn source_files(paths: &[PathBuf], config: &Config) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|_| Error::Missing {
            path: root.display().to_string(),
        })?;
        if !meta.is_dir() {
            if !is_source(root) {
                return Err(Error::NotSource {
                    path: root.display().to_string(),
                });
            }
            files.push(root.clone());
            continue;
        }
        walk_dir(root, config, &mut files)?;
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk_dir(root: &Path, config: &Config, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let include_nm = config.include_node_modules;
    let include_tests = config.include_tests;
    let cfg = config.clone();
    let walker = WalkBuilder::new(root)
        .require_git(false)
        .filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if e.depth() == 0 {
                return true;
            }
            let name = e.file_name().to_str().unwrap_or("");
            if is_dir && !include_nm && name == "node_modules" {
                return false;
            }
            if !include_tests
                && (if is_dir {
                    TEST_DIRS.contains(&name)
                } else {
                    is_test_file(name)
                })
            {
                return false;
            }
            !cfg.ignores(e.path(), is_dir)
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Walk {
            path: root.display().to_string(),
            message: e.to_string(),
        })?;
        if entry.file_type().is_some_and(|t| t.is_file()) && is_source(entry.path()) {
            files.push(entry.into_path());
        }
    }
    Ok(())
}
