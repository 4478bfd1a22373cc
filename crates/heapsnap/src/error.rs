use std::fmt;

/// What went wrong while parsing a snapshot, with the byte offset where it was noticed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {kind}")]
pub struct ParseError {
    /// Offset (from the start of the input) of the byte where the problem was detected.
    pub offset: u64,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// A byte that does not fit the grammar at this point.
    Unexpected { found: u8, expected: &'static str },
    /// The input ended before the snapshot was complete.
    Truncated { inside: &'static str },
    /// Something follows the closing brace of the snapshot.
    TrailingData,
    /// A number in an integer section is too large or is not a plain non-negative integer.
    BadNumber { section: &'static str },
    /// A string is not valid UTF-8 or has a broken escape sequence.
    BadString(String),
    /// The `snapshot` header object could not be understood.
    BadHeader(String),
    /// A section needed to build the graph is missing.
    MissingSection(&'static str),
    /// The counts or cross references in the snapshot do not agree.
    Inconsistent(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Unexpected { found, expected } => {
                write!(f, "expected {expected}, found {}", show_byte(*found))
            }
            ErrorKind::Truncated { inside } => {
                write!(f, "input ends inside {inside} (truncated snapshot?)")
            }
            ErrorKind::TrailingData => write!(f, "unexpected data after the end of the snapshot"),
            ErrorKind::BadNumber { section } => {
                write!(
                    f,
                    "invalid number in \"{section}\" (expected a non-negative integer)"
                )
            }
            ErrorKind::BadString(why) => write!(f, "invalid string: {why}"),
            ErrorKind::BadHeader(why) => write!(f, "invalid \"snapshot\" header: {why}"),
            ErrorKind::MissingSection(name) => write!(f, "missing section \"{name}\""),
            ErrorKind::Inconsistent(why) => write!(f, "inconsistent snapshot: {why}"),
        }
    }
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}
