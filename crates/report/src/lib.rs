//! Self-contained, offline HTML reports rendered from leakhound's versioned
//! JSON reports (`analyze`, `find-leaks`, `diff`, `history`).
//!
//! The page inlines everything it needs (CSS, the hand-written SVG charts'
//! JavaScript and the report itself as JSON), so it opens from a file with no
//! network. Text goes through minijinja's HTML autoescaping; the embedded
//! JSON has `<`, `>`, `&`, U+2028 and U+2029 escaped so that strings from the
//! heap (which may contain `</script>`) cannot end the script element.
//!
//! **Invariants:** no IO, no printing, no clock (the caller passes the time).

use minijinja::{AutoEscape, Environment, Value as Tpl, context};
use serde_json::Value;

/// The newest JSON report version this crate renders.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a leakhound report: {0}")]
    NotAReport(&'static str),
    #[error("unknown report kind {0:?} (expected analyze, find-leaks, diff or history)")]
    UnknownKind(String),
    #[error(
        "report schema_version {0} is newer than this leakhound understands ({SCHEMA_VERSION})"
    )]
    UnsupportedVersion(u64),
    #[error("a {kind:?} report needs a {field:?} field; this one has none (is its kind right?)")]
    Incomplete { kind: String, field: String },
    #[error("cannot render the report (do its fields match its kind?): {0}")]
    Template(#[from] minijinja::Error),
    #[error("cannot embed the report: {0}")]
    Json(#[from] serde_json::Error),
}

const BASE: &str = include_str!("../templates/base.html");
const MACROS: &str = include_str!("../templates/macros.html");
const ANALYZE: &str = include_str!("../templates/analyze.html");
const FIND_LEAKS: &str = include_str!("../templates/find-leaks.html");
const DIFF: &str = include_str!("../templates/diff.html");
const HISTORY: &str = include_str!("../templates/history.html");
const CSS: &str = include_str!("../templates/report.css");
const JS: &str = include_str!("../templates/charts.js");

/// Renders a report; the header says when it was generated only if the JSON does.
pub fn render_html(report: &Value) -> Result<String, Error> {
    render_html_at(report, None)
}

/// Renders a report; `generated` (e.g. an RFC 3339 time) is shown in the header.
pub fn render_html_at(report: &Value, generated: Option<&str>) -> Result<String, Error> {
    let obj = report
        .as_object()
        .ok_or(Error::NotAReport("the JSON is not an object"))?;
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(Error::NotAReport("no \"kind\" field"))?;
    let version = match obj.get("schema_version") {
        None => return Err(Error::NotAReport("no \"schema_version\" field")),
        Some(v) => v.as_u64().ok_or(Error::NotAReport(
            "\"schema_version\" is not a whole number",
        ))?,
    };
    if version > SCHEMA_VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    // What each kind's page reads: a report of another kind (or a hand-made
    // one) is refused here, not deep inside a template.
    let (template, needs): (&str, &[&str]) = match kind {
        "analyze" => ("analyze.html", &["statistics", "classes", "top_objects"]),
        "find-leaks" => (
            "find-leaks.html",
            &["snapshots", "clusters", "growing_objects"],
        ),
        "diff" => ("diff.html", &["classes"]),
        "history" => ("history.html", &["targets"]),
        other => return Err(Error::UnknownKind(other.to_owned())),
    };
    if let Some(missing) = needs.iter().find(|k| !obj.contains_key(**k)) {
        return Err(Error::Incomplete {
            kind: kind.to_owned(),
            field: (*missing).to_owned(),
        });
    }
    let env = environment()?;
    let generated = generated.map(str::to_owned).or_else(|| {
        obj.get("generated_at")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let html = env.get_template(template)?.render(context! {
        r => Tpl::from_serialize(report),
        kind => kind,
        generated => generated,
        files => files(kind, report),
        data_json => Tpl::from_safe_string(script_json(report)?),
        css => Tpl::from_safe_string(CSS.to_owned()),
        js => Tpl::from_safe_string(JS.to_owned()),
    })?;
    Ok(html)
}

/// The input files a report names, for the header.
fn files(kind: &str, r: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    match kind {
        "analyze" => s(&r["snapshot"]["file"]).into_iter().collect(),
        "find-leaks" => r["snapshots"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| s(&x["file"])).collect())
            .unwrap_or_default(),
        "diff" => [s(&r["base"]), s(&r["target"])]
            .into_iter()
            .flatten()
            .collect(),
        "history" => s(&r["db"]).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// JSON that is safe inside `<script type="application/json">`: the
/// characters that could close the element or start markup, and the line
/// separators JavaScript once treated as newlines, are `\u` escapes.
pub fn script_json(v: &Value) -> Result<String, serde_json::Error> {
    let raw = serde_json::to_string(v)?;
    let mut out = String::with_capacity(raw.len() + 64);
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_template("base.html", BASE)?;
    env.add_template("macros.html", MACROS)?;
    env.add_template("analyze.html", ANALYZE)?;
    env.add_template("find-leaks.html", FIND_LEAKS)?;
    env.add_template("diff.html", DIFF)?;
    env.add_template("history.html", HISTORY)?;
    env.add_filter("bytes", |v: Tpl| bytes(num(&v)));
    env.add_filter("delta_bytes", |v: Tpl| delta_bytes(num(&v)));
    env.add_filter("count", |v: Tpl| count(num(&v)));
    env.add_filter("percent", |part: Tpl, whole: Tpl| {
        percent(num(&part), num(&whole))
    });
    env.add_filter("signed", |v: Tpl| {
        let n = num(&v);
        if n > 0.0 {
            format!("+{}", count(n))
        } else {
            count(n)
        }
    });
    env.add_filter("edge", |ty: String, name: String| edge_label(&ty, &name));
    env.add_filter("loc", |l: Tpl| location(&l));
    env.add_filter("ms_time", |v: Tpl| ms_time(num(&v)));
    Ok(env)
}

fn num(v: &Tpl) -> f64 {
    if let Some(i) = v.as_i64() {
        return i as f64;
    }
    f64::try_from(v.clone()).unwrap_or(0.0)
}

/// Binary units, like the terminal output: `12.3 MiB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.abs();
    if v < 1024.0 {
        return format!("{} B", n as i64);
    }
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let sign = if n < 0.0 { "-" } else { "" };
    format!("{sign}{v:.1} {}", UNITS[u])
}

fn delta_bytes(n: f64) -> String {
    if n <= 0.0 {
        bytes(n)
    } else {
        format!("+{}", bytes(n))
    }
}

/// `1234567` → `1,234,567`.
fn count(n: f64) -> String {
    let i = n.round() as i64;
    let digits = i.unsigned_abs().to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if i < 0 { format!("-{out}") } else { out }
}

fn percent(part: f64, whole: f64) -> String {
    if whole == 0.0 {
        "-".into()
    } else {
        format!("{:.1}%", part * 100.0 / whole)
    }
}

/// DevTools' way of writing an edge: `.name`, `[3]`, `->ctx`, `{internal}`.
fn edge_label(edge_type: &str, name: &str) -> String {
    match edge_type {
        "element" => format!("[{name}]"),
        "context" => format!("->{name}"),
        "property" | "shortcut" => {
            if name.contains(' ') {
                format!("[\"{name}\"]")
            } else {
                format!(".{name}")
            }
        }
        "weak" => format!("[[{name}]]"),
        _ => format!("{{{name}}}"),
    }
}

fn location(l: &Tpl) -> String {
    let line = l.get_attr("line").ok().map(|v| num(&v)).unwrap_or(0.0);
    let col = l.get_attr("column").ok().map(|v| num(&v)).unwrap_or(0.0);
    match l
        .get_attr("url")
        .ok()
        .filter(|u| !u.is_none() && !u.is_undefined())
    {
        Some(u) => format!("{u}:{line}:{col}"),
        None => {
            let id = l.get_attr("script_id").ok().map(|v| num(&v)).unwrap_or(0.0);
            format!("script {id}:{line}:{col}")
        }
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
fn ms_time(ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(delta_bytes(-2048.0), "-2.0 KiB");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(-1000.0), "-1,000");
        assert_eq!(ms_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(ms_time(1_700_000_000_000.0), "2023-11-14 22:13:20");
        assert_eq!(edge_label("context", "x"), "->x");
    }

    #[test]
    fn script_json_escapes() {
        let v = serde_json::json!({"s": "</script><b>&\u{2028}\u{2029}"});
        let s = script_json(&v).unwrap();
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        assert!(!s.contains('\u{2028}') && !s.contains('\u{2029}'));
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
