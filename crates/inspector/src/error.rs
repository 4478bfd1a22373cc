use std::time::Duration;

/// Errors talking to a V8 inspector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{url}: refusing to connect to a non-loopback inspector (it grants code execution in the target)\nhint: pass --allow-remote if you really mean it"
    )]
    NotLoopback { url: String },
    #[error("invalid inspector address {0:?}")]
    BadUrl(String),
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("{target}: websocket handshake failed: {message}")]
    Handshake { target: String, message: String },
    #[error("{target}: no inspector answers at /json/list ({message})")]
    Discovery { target: String, message: String },
    #[error("{target}: the inspector lists no debuggable target")]
    NoTargets { target: String },
    #[error("process {pid}: {message}")]
    Process { pid: u32, message: String },
    #[error("{target}: the connection closed (did the target exit?)")]
    Closed { target: String },
    #[error("{target}: {method} failed: {message}")]
    Protocol {
        target: String,
        method: String,
        message: String,
    },
    #[error("{target}: {what} timed out after {after:?}")]
    Timeout {
        target: String,
        what: String,
        after: Duration,
    },
    #[error("{target}: websocket error: {message}")]
    Socket { target: String, message: String },
    #[error("{target}: invalid message from the inspector: {message}")]
    BadMessage { target: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} exited ({status}) before its inspector was ready")]
    ExitedEarly { program: String, status: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
