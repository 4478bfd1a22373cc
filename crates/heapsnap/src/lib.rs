//! V8 heap snapshot parsing and the compact heap graph.
//!
//! * [`Parser`] is a push parser: feed it byte chunks of any size, then
//!   [`Parser::finish`] returns a [`HeapGraph`]. It does no IO.
//! * [`HeapGraph`] is immutable: columnar node data, CSR forward edges
//!   (no retainers: analyses derive what they need), the string table, locations, trace data. Nodes and edges are
//!   addressed by typed ordinals ([`NodeIdx`], [`EdgeIdx`], [`StrIdx`]).
//! * [`synth`] writes small snapshots from a node/edge list, with allocation
//!   trace data if asked (tests, fuzzing).

mod error;
mod graph;
mod meta;
mod parser;
pub mod synth;

pub use error::{ErrorKind, ParseError};
pub use graph::{
    EdgeIdx, EdgeKind, HeapGraph, Location, NodeIdx, NodeKind, StrIdx, StringTable, TraceNode,
};
pub use meta::{Header, Layout};
pub use parser::{Parser, parse_bytes, parse_parallel};
