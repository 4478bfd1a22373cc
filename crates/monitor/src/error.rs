use std::path::PathBuf;

/// Errors of the watcher.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Inspector(#[from] inspector::Error),
    #[error("{target}: unexpected answer from the sampling probe: {message}")]
    Probe { target: String, message: String },
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Http { what: String, message: String },
    /// A webhook failed; `url` is redacted, the hint goes on its own line.
    #[error("webhook {url}: {message}{}", hint_line(.hint))]
    Webhook {
        url: String,
        message: String,
        hint: Option<String>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
