//! The config file, `leakhound.toml` or `.leakhound.toml`, found in the
//! linted path's directory or the nearest one above it:
//!
//! ```toml
//! fail-on = "warning"                    # exit 1 at or above: error | warning | note
//! include-node-modules = false
//! include-tests = false                  # test/, tests/, __tests__/, *.test.js, *.spec.ts, *.min.js
//! ignore = ["dist/", "**/*.min.js"]      # gitignore syntax, relative to this file
//! [rules]
//! unbounded-collection = "error"         # error | warning | note | off
//! closure-chain = "off"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::Deserialize;

use crate::{Error, Rule, Severity};

pub const FILE_NAMES: [&str; 2] = ["leakhound.toml", ".leakhound.toml"];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    fail_on: Option<String>,
    include_node_modules: Option<bool>,
    include_tests: Option<bool>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from, if any.
    pub path: Option<PathBuf>,
    pub fail_on: Severity,
    pub include_node_modules: bool,
    /// Lint test directories and files (`test/`, `*.test.js`, …) and minified `*.min.js` too.
    pub include_tests: bool,
    severities: BTreeMap<Rule, Severity>,
    ignore: Option<Gitignore>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: None,
            fail_on: Severity::Warning,
            include_node_modules: false,
            include_tests: false,
            severities: BTreeMap::new(),
            ignore: None,
        }
    }
}

impl Config {
    pub fn severity(&self, rule: Rule) -> Severity {
        self.severities
            .get(&rule)
            .copied()
            .unwrap_or(rule.default_severity())
    }

    pub fn set_severity(&mut self, rule: Rule, severity: Severity) {
        self.severities.insert(rule, severity);
    }

    /// Is this path ignored by the config's `ignore` patterns?
    pub fn ignores(&self, path: &Path, is_dir: bool) -> bool {
        let Some(gi) = &self.ignore else { return false };
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        abs.starts_with(gi.path()) && gi.matched_path_or_any_parents(&abs, is_dir).is_ignore()
    }

    /// The nearest config file at or above `start` (a file or directory).
    pub fn find(start: &Path) -> Option<PathBuf> {
        let abs = std::path::absolute(start).ok()?;
        let mut dir = if abs.is_dir() {
            Some(abs.as_path())
        } else {
            abs.parent()
        };
        while let Some(d) = dir {
            for name in FILE_NAMES {
                let candidate = d.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
            dir = d.parent();
        }
        None
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let err = |message: String| Error::Config {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Config::parse(&text, path).map_err(err)
    }

    /// Parses config text; `path` anchors the ignore patterns.
    pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut config = Config {
            path: Some(path.to_owned()),
            ..Config::default()
        };
        if let Some(s) = &file.fail_on {
            config.fail_on = Severity::parse(s)
                .filter(|s| *s != Severity::Off)
                .ok_or_else(|| {
                    format!("fail-on = \"{s}\": expected \"error\", \"warning\" or \"note\"")
                })?;
        }
        config.include_node_modules = file.include_node_modules.unwrap_or(false);
        config.include_tests = file.include_tests.unwrap_or(false);
        for (name, sev) in &file.rules {
            let rule = Rule::from_name(name).ok_or_else(|| {
                let known: Vec<_> = Rule::ALL.iter().map(|r| r.name()).collect();
                format!(
                    "unknown rule `{name}` in [rules] (rules: {})",
                    known.join(", ")
                )
            })?;
            let sev = Severity::parse(sev).ok_or_else(|| {
                format!("{name} = \"{sev}\": expected \"error\", \"warning\", \"note\" or \"off\"")
            })?;
            config.severities.insert(rule, sev);
        }
        if !file.ignore.is_empty() {
            let root = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            let mut b = GitignoreBuilder::new(root.parent().unwrap_or(Path::new("/")));
            for pattern in &file.ignore {
                b.add_line(None, pattern)
                    .map_err(|e| format!("ignore pattern `{pattern}`: {e}"))?;
            }
            config.ignore = Some(b.build().map_err(|e| e.to_string())?);
        }
        Ok(config)
    }
}
