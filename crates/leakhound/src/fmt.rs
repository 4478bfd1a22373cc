//! Number formatting for terminal output.

/// Human-readable byte count (binary units), e.g. `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Signed byte delta, e.g. `+1.5 MiB`.
pub fn delta_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", bytes(n.unsigned_abs()))
}

/// Percentage of `part` in `whole`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Shortens `s` to at most `max` characters, with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whether to color output for a stream: only on a terminal, and never
/// when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn color_for(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Colors for standard output.
pub fn stdout_color() -> bool {
    color_for(std::io::IsTerminal::is_terminal(&std::io::stdout()))
}

/// Colors for standard error (logs, progress).
pub fn stderr_color() -> bool {
    color_for(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

/// `s` wrapped in an SGR sequence (`"1;31"` bold red…) when `on`.
pub fn paint(s: &str, sgr: &str, on: bool) -> String {
    if on {
        format!("\x1b[{sgr}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

/// A script name as a person in the project would write it: relative to the
/// working directory when the script is under it, without `file://`.
pub fn short_path(script: &str) -> String {
    let path = script.strip_prefix("file://").unwrap_or(script);
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = std::path::Path::new(path).strip_prefix(&cwd)
    {
        return rel.display().to_string();
    }
    path.to_owned()
}

/// A byte rate per request, e.g. `3.3 KiB per request`.
pub fn per_request(rate: f64) -> String {
    format!("{} per request", bytes(rate.max(0.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(delta_bytes(-2048), "-2.0 KiB");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("a\nb", 4), "a b");
    }

    #[test]
    fn color_only_on_terminals() {
        assert!(!color_for(false));
        assert_eq!(paint("x", "1", false), "x");
        assert_eq!(paint("x", "1", true), "\x1b[1mx\x1b[0m");
    }
}
