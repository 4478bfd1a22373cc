//! The explorer's one error type.

/// What can go wrong in the explorer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No object with this V8 id in the snapshot.
    #[error("no object @{id} in {file}")]
    NoObject { id: u32, file: String },
    /// A view asked of a file that cannot give it.
    #[error("{file}: {what}")]
    Unsupported { file: String, what: String },
    /// A request named something that is not there.
    #[error("{0}")]
    NotFound(String),
    /// The server could not bind or serve.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
