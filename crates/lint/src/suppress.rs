//! Inline suppressions: `// leakhound-ignore-next-line RULE[, RULE…]: reason`
//! silences those rules on the next line.

use oxc::ast::Comment;

use crate::{LineIndex, Rule, Warning};

pub const MARKER: &str = "leakhound-ignore-next-line";

#[derive(Debug, Default)]
pub struct Suppressions {
    /// (line the suppression applies to, rules).
    entries: Vec<(u32, Vec<Rule>)>,
    pub warnings: Vec<Warning>,
}

impl Suppressions {
    pub fn parse(path: &str, source: &str, comments: &[Comment], lines: &LineIndex) -> Self {
        let mut out = Suppressions::default();
        for c in comments {
            let text = &source[c.span.start as usize..c.span.end as usize];
            let Some(at) = text.find(MARKER) else {
                continue;
            };
            let (line, _) = lines.position(c.span.end);
            let rest = text[at + MARKER.len()..].trim_end_matches("*/");
            out.add(path, line, rest);
        }
        out
    }

    fn add(&mut self, path: &str, line: u32, rest: &str) {
        let (names, reason) = match rest.split_once(':') {
            Some((n, r)) => (n, r.trim()),
            None => (rest, ""),
        };
        let mut rules = Vec::new();
        for name in names
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match Rule::from_name(name) {
                Some(r) => rules.push(r),
                None => self.warn(
                    path,
                    line,
                    format!(
                        "{MARKER} names an unknown rule `{name}` (see leakhound lint --explain)"
                    ),
                ),
            }
        }
        if rules.is_empty() && names.trim().is_empty() {
            self.warn(
                path,
                line,
                format!("{MARKER} needs a rule name: `// {MARKER} RULE: reason`"),
            );
        } else if reason.is_empty() && !rules.is_empty() {
            self.warn(
                path,
                line,
                format!("{MARKER} without a reason: add one after a colon"),
            );
        }
        self.entries.push((line + 1, rules));
    }

    fn warn(&mut self, path: &str, line: u32, message: String) {
        self.warnings.push(Warning {
            path: path.to_owned(),
            line,
            message,
        });
    }

    pub fn covers(&self, rule: Rule, line: u32) -> bool {
        self.entries
            .iter()
            .any(|(l, rules)| *l == line && rules.contains(&rule))
    }
}
