//! What the cross-module pass shares between files linted in parallel: the
//! roots being linted, what each module exports (told by the linted files,
//! read and analysed once for the others), and which files of a package
//! mention a name. Paths are absolute and lexically normalised (`normal`).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Config;
use crate::modules::{Module, Store, read_module};

/// A cached listing: `None` when it could not be made.
type Files = Option<Arc<Vec<PathBuf>>>;

pub struct Project {
    /// The linted paths; a file stands for its directory.
    roots: Vec<PathBuf>,
    /// The walk of a package: the lint walk's filters, node_modules always skipped.
    walk: Config,
    modules: Mutex<HashMap<PathBuf, Option<Arc<Module>>>>,
    files: Mutex<HashMap<PathBuf, Files>>,
    /// (package root, name) → the files of the package that mention the name.
    mentions: Mutex<HashMap<(PathBuf, String), Files>>,
}

impl Project {
    pub fn new(paths: &[PathBuf], config: &Config) -> Project {
        let roots = paths
            .iter()
            .map(|p| normal(p))
            .map(|p| if p.is_dir() { p } else { parent(&p) })
            .collect();
        let mut walk = config.clone();
        walk.include_node_modules = false;
        Project {
            roots,
            walk,
            modules: Mutex::default(),
            files: Mutex::default(),
            mentions: Mutex::default(),
        }
    }

    /// Records what a linted file exports (`path` from `normal`).
    pub fn register(&self, path: PathBuf, stores: Vec<Store>) {
        let module = Module {
            path: path.clone(),
            stores,
        };
        lock(&self.modules).insert(path, Some(Arc::new(module)));
    }

    /// The module at `path` (from `normal`): as a linted file registered it,
    /// or read and analysed once; `None` when it cannot be read or parsed
    /// (it is not ours to report).
    pub fn module(&self, path: &Path) -> Option<Arc<Module>> {
        if let Some(m) = lock(&self.modules).get(path) {
            return m.clone();
        }
        let m = read_module(path).ok().map(Arc::new);
        lock(&self.modules).insert(path.to_owned(), m.clone());
        m
    }

    /// The package a file belongs to: the nearest directory above it with a
    /// package.json, else the repository it is in (`.git`), else the linted
    /// root it is under, else its directory.
    pub fn package_root(&self, file: &Path) -> PathBuf {
        let dir = parent(file);
        for marker in ["package.json", ".git"] {
            if let Some(p) = dir.ancestors().find(|d| d.join(marker).exists()) {
                return p.to_owned();
            }
        }
        self.roots
            .iter()
            .filter(|r| file.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .cloned()
            .unwrap_or(dir)
    }

    /// Does any source file of the package at `root`, other than `except`,
    /// mention `name` as a word (comments too)? A package that cannot be
    /// listed, or a file of it that cannot be read, counts as a mention.
    pub fn mentioned_elsewhere(&self, root: &Path, name: &str, except: &[&Path]) -> bool {
        let Some(files) = self.mentioning(root, name) else {
            return true;
        };
        files.iter().any(|f| !except.contains(&f.as_path()))
    }

    /// The files of a package that mention `name` (cached per package and name).
    fn mentioning(&self, root: &Path, name: &str) -> Files {
        let key = (root.to_owned(), name.to_owned());
        if let Some(m) = lock(&self.mentions).get(&key) {
            return m.clone();
        }
        let found = self.package_files(root).and_then(|files| {
            let mut hits = Vec::new();
            for f in files.iter() {
                let text = std::fs::read(f).ok()?;
                if mentions(&text, name) {
                    hits.push(f.clone());
                }
            }
            Some(Arc::new(hits))
        });
        lock(&self.mentions).insert(key, found.clone());
        found
    }

    fn package_files(&self, root: &Path) -> Files {
        if let Some(f) = lock(&self.files).get(root) {
            return f.clone();
        }
        let files = crate::walk::source_files(&[root.to_owned()], &self.walk)
            .ok()
            .map(Arc::new);
        lock(&self.files).insert(root.to_owned(), files.clone());
        files
    }
}

/// An absolute path with `.` and `..` resolved lexically (no file system
/// access, so a path that names no file still has one spelling).
pub fn normal(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_owned).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Does `text` contain `name` as a whole identifier (not part of a longer one)?
pub fn mentions(text: &[u8], name: &str) -> bool {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let n = name.as_bytes();
    !n.is_empty()
        && text.windows(n.len()).enumerate().any(|(i, w)| {
            w == n
                && (i == 0 || !is_ident(text[i - 1]))
                && text.get(i + n.len()).is_none_or(|&b| !is_ident(b))
        })
}
