//! Push parser for the V8 `.heapsnapshot` JSON format.
//!
//! The parser is fed byte chunks of any size (a memory-mapped file, or the
//! `addHeapSnapshotChunk` messages of the inspector) and never needs the whole
//! text at once. The large integer arrays are read by a hand-written scanner
//! straight into the columns of the graph; only the small `snapshot` header
//! goes through serde. Every state survives a chunk boundary at any byte.

use crate::error::{ErrorKind, ParseError};
use crate::graph::{
    EdgeKind, HeapGraph, Location, NodeIdx, NodeKind, StrIdx, StringTable, TraceNode,
};
use crate::meta::Header;

/// Upper bound for the `snapshot` header object.
const MAX_HEADER_BYTES: usize = 4 << 20;
/// Upper bound for a top-level key.
const MAX_KEY_BYTES: usize = 256;
/// UTF-8 byte-order mark, tolerated at the very start.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Nodes,
    Edges,
    TraceFunctionInfos,
    TraceTree,
    Samples,
    Locations,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Nodes => "nodes",
            Section::Edges => "edges",
            Section::TraceFunctionInfos => "trace_function_infos",
            Section::TraceTree => "trace_tree",
            Section::Samples => "samples",
            Section::Locations => "locations",
        }
    }
}

/// Phases of the integer array scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntPhase {
    /// Right after `[`: a number, a nested `[` (trace tree only) or `]`.
    First,
    /// After `,`: a number or a nested `[`.
    Value,
    /// Inside a number.
    Number,
    /// After a number or a nested `]`: `,` or `]`.
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrPhase {
    First,
    Value,
    InString,
    Escape,
    Unicode,
    After,
}

#[derive(Debug)]
enum State {
    /// Before the opening brace; `bom` counts the bytes of a UTF-8 byte-order
    /// mark seen so far (it may be split across chunks).
    Start {
        bom: u8,
    },
    KeyOrEnd {
        first: bool,
    },
    Key,
    Colon,
    ValueStart,
    Header {
        depth: u32,
        in_string: bool,
        escape: bool,
    },
    Ints {
        section: Section,
        phase: IntPhase,
        acc: u64,
        depth: u32,
    },
    Strings {
        phase: StrPhase,
    },
    Skip {
        depth: u32,
        in_string: bool,
        escape: bool,
        started: bool,
    },
    AfterValue,
    Done,
}

/// Incremental parser. Feed chunks with [`Parser::feed`], then call [`Parser::finish`].
pub struct Parser {
    state: State,
    /// Absolute offset of the first byte of the chunk being fed.
    base: u64,
    key: Vec<u8>,
    header_buf: Vec<u8>,
    header: Option<Header>,
    seen: Vec<&'static str>,
    size_hint: Option<u64>,
    /// The first error: once input was rejected, `feed` and `finish` repeat it.
    failed: Option<ParseError>,
    b: Builder,
}

/// Without a size hint, never reserve room for more than this many records up front.
const MAX_BLIND_RESERVE: u64 = 1 << 26;

impl Builder {
    /// Reserves the node columns for the count the header announces, bounded
    /// by what the remaining input could possibly hold.
    fn reserve_nodes(&mut self, header: &Header, bytes_left: Option<u64>) {
        let nfc = header.layout.node_field_count.max(1) as u64;
        let bound = bytes_left.map_or(MAX_BLIND_RESERVE, |b| b / (2 * nfc));
        let n = usize::try_from(header.node_count.min(bound)).unwrap_or(usize::MAX);
        // Only a hint: a header that lies (or a size hint that does) must not
        // abort the process on allocation failure, so failures are ignored and
        // the columns grow as values arrive.
        let _ = self.node_type.try_reserve_exact(n);
        let _ = self.node_name.try_reserve_exact(n);
        let _ = self.node_id.try_reserve_exact(n);
        let _ = self.self_size.try_reserve_exact(n);
        let _ = self.edge_counts.try_reserve_exact(n);
    }

    /// Reserves the edge columns (`edge_type` only comes to life if the
    /// types cannot be packed into the names, see [`Builder::unpack_edge_types`]).
    fn reserve_edges(&mut self, header: &Header, bytes_left: Option<u64>) {
        let efc = header.layout.edge_field_count.max(1) as u64;
        let bound = bytes_left.map_or(MAX_BLIND_RESERVE * 4, |b| b / (2 * efc));
        let n = usize::try_from(header.edge_count.min(bound)).unwrap_or(usize::MAX);
        let _ = self.edge_name.try_reserve_exact(n);
        let _ = self.edge_to.try_reserve_exact(n);
    }

    /// Leaves the packed edge layout for good: splits the types out of the
    /// names read so far into their own column.
    #[cold]
    fn unpack_edge_types(&mut self) {
        let shift = self.edge.shift;
        let _ = self.edge_type.try_reserve_exact(self.edge_name.capacity());
        self.edge_type
            .extend(self.edge_name.iter().map(|&w| (w >> shift) as u8));
        for w in &mut self.edge_name {
            *w &= (1 << shift) - 1;
        }
        self.edges_packed = false;
    }
}

/// Bits of an edge name word left for the name when the edge type goes into
/// the bits above them (`edge_type_names` needs `32 - shift` bits).
fn edge_type_shift(header: &Header) -> u32 {
    let type_bits = u32::BITS - (header.edge_type_names.len().max(2) as u32 - 1).leading_zeros();
    u32::BITS - type_bits
}

/// What storing an edge record needs, fixed once "edges" opens (the node
/// count is final by then).
#[derive(Debug, Default, Clone, Copy)]
struct EdgeCtx {
    fields: usize,
    ty: usize,
    name: usize,
    to: usize,
    /// Number of declared edge types.
    types: u64,
    /// Node field count, and `ceil(2^64 / nfc)` to divide by it (0 if nfc < 2).
    nfc: u64,
    recip: u64,
    nodes: u64,
    /// Where the type goes in a packed name word.
    shift: u32,
    /// Bit set of the edge types whose `name_or_index` is an index, not a string.
    index_named: [u64; 4],
}

impl EdgeCtx {
    fn new(header: &Header, nodes: usize) -> EdgeCtx {
        let l = &header.layout;
        let nfc = l.node_field_count as u64;
        let mut index_named = [0u64; 4];
        for (t, name) in header.edge_type_names.iter().enumerate().take(256) {
            if EdgeKind::from_name(name).has_index_name() {
                index_named[t / 64] |= 1 << (t % 64);
            }
        }
        EdgeCtx {
            fields: l.edge_field_count,
            ty: l.edge_type,
            name: l.edge_name,
            to: l.edge_to_node,
            types: header.edge_type_names.len() as u64,
            nfc,
            recip: if nfc >= 2 { u64::MAX / nfc + 1 } else { 0 },
            nodes: nodes as u64,
            shift: edge_type_shift(header),
            index_named,
        }
    }

    /// The node ordinal a `to_node` value points to, if it is a multiple of
    /// the node field count (whether that node exists is checked by the caller).
    #[inline(always)]
    fn node_of(&self, to: u64) -> Option<u64> {
        if to <= u64::from(u32::MAX) && self.recip != 0 {
            // Lemire, Kaser & Kurz, "Faster remainder by direct computation"
            // (2019): for a 32-bit n and M = ceil(2^64 / d), d divides n iff
            // n * M mod 2^64 < M, and n / d is the high word of n * M.
            if to.wrapping_mul(self.recip) < self.recip {
                Some(((u128::from(to) * u128::from(self.recip)) >> 64) as u64)
            } else {
                None
            }
        } else if self.nfc != 0 && to.is_multiple_of(self.nfc) {
            Some(to / self.nfc)
        } else {
            None
        }
    }

    #[inline(always)]
    fn is_index_named(&self, ty: u64) -> bool {
        (self.index_named[(ty as usize / 64) % 4] >> (ty % 64)) & 1 != 0
    }
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

/// Collected columns, filled as values arrive.
#[derive(Default)]
struct Builder {
    rec: [u64; 16],
    rec_len: usize,
    node_field_count: usize,

    node_type: Vec<u8>,
    node_name: Vec<StrIdx>,
    node_id: Vec<u32>,
    self_size: Vec<u32>,
    /// Self sizes above 4 GiB, stored wrapped to 32 bits.
    wrapped_self_sizes: u64,
    edge_counts: Vec<u32>,
    trace_node_id: Vec<u32>,
    detachedness: Vec<u8>,
    nodes_done: bool,

    edge: EdgeCtx,
    /// While true, `edge_name` holds each edge's type in the bits from
    /// `edge.shift` up and `edge_type` is empty (every snapshot V8 writes).
    edges_packed: bool,
    /// The largest name of an edge whose type takes a string name.
    max_string_edge_name: u32,
    edge_type: Vec<u8>,
    edge_name: Vec<u32>,
    edge_to: Vec<NodeIdx>,

    trace_function_infos: Vec<u32>,
    trace_tree: Vec<TraceNode>,
    trace_stack: Vec<u32>,
    samples: Vec<(u64, u64)>,
    raw_locations: Vec<u64>,

    str_data: Vec<u8>,
    str_ends: Vec<u64>,
    str_start: usize,
    str_start_offset: u64,
    unicode: u32,
    unicode_digits: u8,
    pending_high: Option<u32>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            state: State::Start { bom: 0 },
            base: 0,
            key: Vec::new(),
            header_buf: Vec::new(),
            header: None,
            seen: Vec::new(),
            size_hint: None,
            failed: None,
            b: Builder::default(),
        }
    }

    /// A parser for an input of known total size (lets it size its columns once).
    pub fn with_size_hint(total_bytes: u64) -> Parser {
        let mut p = Parser::new();
        p.size_hint = Some(total_bytes);
        p
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base
    }

    /// The header, once it has been read (it is the first section V8 writes).
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Number of nodes read so far.
    pub fn nodes_read(&self) -> usize {
        self.b.node_type.len()
    }

    /// Number of edges read so far.
    pub fn edges_read(&self) -> usize {
        self.b.edge_to.len()
    }

    fn err(&self, pos: usize, kind: ErrorKind) -> ParseError {
        ParseError {
            offset: self.base + pos as u64,
            kind,
        }
    }

    fn unexpected(&self, pos: usize, found: u8, expected: &'static str) -> ParseError {
        self.err(pos, ErrorKind::Unexpected { found, expected })
    }

    /// Feed the next chunk of the snapshot text.
    ///
    /// After an error the parser is spent: further calls (and [`Parser::finish`])
    /// return the same error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.feed_chunk(chunk);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn feed_chunk(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        let mut i = 0;
        let n = chunk.len();
        while i < n {
            match self.state {
                State::Start { bom } => {
                    let c = chunk[i];
                    if bom < 3 && self.base + i as u64 == bom as u64 && c == BOM[bom as usize] {
                        self.state = State::Start { bom: bom + 1 };
                        i += 1;
                    } else if bom == 1 || bom == 2 {
                        return Err(self.unexpected(i, c, "the rest of a UTF-8 byte-order mark"));
                    } else if is_ws(c) {
                        i += 1;
                    } else if c == b'{' {
                        self.state = State::KeyOrEnd { first: true };
                        i += 1;
                    } else {
                        return Err(self.unexpected(i, c, "'{' at the start of a heap snapshot"));
                    }
                }
                State::KeyOrEnd { first } => {
                    let c = chunk[i];
                    i += 1;
                    if is_ws(c) {
                        continue;
                    }
                    if c == b'"' {
                        self.key.clear();
                        self.state = State::Key;
                    } else if c == b'}' && first {
                        self.state = State::Done;
                    } else {
                        return Err(self.unexpected(i - 1, c, "a section name"));
                    }
                }
                State::Key => {
                    let rest = &chunk[i..];
                    let (data, next, closed) = match memchr::memchr(b'"', rest) {
                        Some(p) => (&rest[..p], i + p + 1, true),
                        None => (rest, n, false),
                    };
                    let room = MAX_KEY_BYTES - self.key.len();
                    if data.len() > room {
                        // The first byte over the limit, wherever the chunk ends.
                        return Err(self.err(
                            i + room,
                            ErrorKind::BadHeader("section name too long".into()),
                        ));
                    }
                    self.key.extend_from_slice(data);
                    if closed {
                        self.state = State::Colon;
                    }
                    i = next;
                }
                State::Colon => {
                    let c = chunk[i];
                    i += 1;
                    if is_ws(c) {
                        continue;
                    }
                    if c != b':' {
                        return Err(self.unexpected(i - 1, c, "':'"));
                    }
                    self.state = State::ValueStart;
                }
                State::ValueStart => {
                    let c = chunk[i];
                    if is_ws(c) {
                        i += 1;
                        continue;
                    }
                    self.state = self.start_value(i, c)?;
                    if !matches!(self.state, State::Skip { .. }) {
                        i += 1;
                    }
                }
                State::Header { .. } => i = self.scan_header(chunk, i)?,
                State::Ints { .. } => i = self.scan_ints(chunk, i)?,
                State::Strings { .. } => i = self.scan_strings(chunk, i)?,
                State::Skip { .. } => i = self.scan_skip(chunk, i)?,
                State::AfterValue => {
                    let c = chunk[i];
                    i += 1;
                    if is_ws(c) {
                        continue;
                    }
                    match c {
                        b',' => self.state = State::KeyOrEnd { first: false },
                        b'}' => self.state = State::Done,
                        _ => return Err(self.unexpected(i - 1, c, "',' or '}' after a section")),
                    }
                }
                State::Done => {
                    let c = chunk[i];
                    if !is_ws(c) && c != 0 {
                        return Err(self.err(i, ErrorKind::TrailingData));
                    }
                    i += 1;
                }
            }
        }
        self.base += n as u64;
        Ok(())
    }

    fn start_value(&mut self, pos: usize, c: u8) -> Result<State, ParseError> {
        let key = std::mem::take(&mut self.key);
        let section = match key.as_slice() {
            b"snapshot" => None,
            b"nodes" => Some(Section::Nodes),
            b"edges" => Some(Section::Edges),
            b"trace_function_infos" => Some(Section::TraceFunctionInfos),
            b"trace_tree" => Some(Section::TraceTree),
            b"samples" => Some(Section::Samples),
            b"locations" => Some(Section::Locations),
            b"strings" => {
                self.mark_seen(pos, "strings")?;
                if c != b'[' {
                    return Err(self.unexpected(pos, c, "'[' to open \"strings\""));
                }
                return Ok(State::Strings {
                    phase: StrPhase::First,
                });
            }
            _ => {
                return Ok(State::Skip {
                    depth: 0,
                    in_string: false,
                    escape: false,
                    started: false,
                });
            }
        };
        match section {
            None => {
                self.mark_seen(pos, "snapshot")?;
                if c != b'{' {
                    return Err(self.unexpected(pos, c, "'{' to open the \"snapshot\" header"));
                }
                self.header_buf.clear();
                self.header_buf.push(b'{');
                Ok(State::Header {
                    depth: 1,
                    in_string: false,
                    escape: false,
                })
            }
            Some(section) => {
                self.mark_seen(pos, section.name())?;
                if c != b'[' {
                    return Err(self.unexpected(pos, c, "'[' to open an array"));
                }
                if self.header.is_none() {
                    return Err(self.err(
                        pos,
                        ErrorKind::BadHeader(format!(
                            "section \"{}\" comes before the \"snapshot\" header",
                            section.name()
                        )),
                    ));
                }
                if section == Section::Edges && !self.b.nodes_done {
                    return Err(self.err(
                        pos,
                        ErrorKind::Inconsistent("\"edges\" comes before \"nodes\"".into()),
                    ));
                }
                self.b.rec_len = 0;
                if section == Section::Edges {
                    let header = self.header.as_ref().expect("checked above");
                    let left = self
                        .size_hint
                        .map(|h| h.saturating_sub(self.base + pos as u64));
                    self.b.reserve_edges(header, left);
                    self.b.edge = EdgeCtx::new(header, self.b.node_type.len());
                    self.b.edges_packed = true;
                }
                Ok(State::Ints {
                    section,
                    phase: IntPhase::First,
                    acc: 0,
                    depth: 1,
                })
            }
        }
    }

    fn mark_seen(&mut self, pos: usize, name: &'static str) -> Result<(), ParseError> {
        if self.seen.contains(&name) {
            return Err(self.err(
                pos,
                ErrorKind::Inconsistent(format!("section \"{name}\" appears twice")),
            ));
        }
        self.seen.push(name);
        Ok(())
    }

    fn scan_header(&mut self, chunk: &[u8], start: usize) -> Result<usize, ParseError> {
        let State::Header {
            mut depth,
            mut in_string,
            mut escape,
        } = self.state
        else {
            unreachable!()
        };
        // Never look (or buffer) past the size limit, so that a runaway header
        // fails at the same byte however the input is split into chunks.
        let room = MAX_HEADER_BYTES.saturating_sub(self.header_buf.len());
        let limit = chunk.len().min(start.saturating_add(room));
        let mut i = start;
        let mut end = None;
        while i < limit {
            let c = chunk[i];
            i += 1;
            if in_string {
                if escape {
                    escape = false;
                } else if c == b'\\' {
                    escape = true;
                } else if c == b'"' {
                    in_string = false;
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if end.is_none() && limit < chunk.len() {
            return Err(self.err(
                limit,
                ErrorKind::BadHeader("header object is too large".into()),
            ));
        }
        let stop = end.unwrap_or(i);
        self.header_buf.extend_from_slice(&chunk[start..stop]);
        if let Some(stop) = end {
            let header_start = self.base + stop as u64 - self.header_buf.len() as u64;
            let header =
                Header::from_json_at(&self.header_buf).map_err(|(kind, at)| ParseError {
                    offset: header_start + at as u64,
                    kind,
                })?;
            self.b.node_field_count = header.layout.node_field_count;
            let left = self
                .size_hint
                .map(|h| h.saturating_sub(self.base + stop as u64));
            self.b.reserve_nodes(&header, left);
            self.header = Some(header);
            self.header_buf = Vec::new();
            self.state = State::AfterValue;
        } else {
            self.state = State::Header {
                depth,
                in_string,
                escape,
            };
        }
        Ok(stop)
    }

    fn scan_skip(&mut self, chunk: &[u8], start: usize) -> Result<usize, ParseError> {
        let State::Skip {
            mut depth,
            mut in_string,
            mut escape,
            mut started,
        } = self.state
        else {
            unreachable!()
        };
        let mut i = start;
        while i < chunk.len() {
            let c = chunk[i];
            if in_string {
                i += 1;
                if escape {
                    escape = false;
                } else if c == b'\\' {
                    escape = true;
                } else if c == b'"' {
                    in_string = false;
                    started = true;
                    if depth == 0 {
                        self.state = State::AfterValue;
                        return Ok(i);
                    }
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        self.state = State::AfterValue;
                        return Ok(i + 1);
                    }
                }
                b',' | b'}' | b']' if depth == 0 => {
                    if !started {
                        return Err(self.unexpected(i, c, "a value"));
                    }
                    self.state = State::AfterValue;
                    return Ok(i);
                }
                _ => {}
            }
            if !is_ws(c) {
                started = true;
            }
            i += 1;
        }
        self.state = State::Skip {
            depth,
            in_string,
            escape,
            started,
        };
        Ok(i)
    }

    fn scan_ints(&mut self, chunk: &[u8], start: usize) -> Result<usize, ParseError> {
        let State::Ints {
            section,
            mut phase,
            mut acc,
            mut depth,
        } = self.state
        else {
            unreachable!()
        };
        let mut i = start;
        let n = chunk.len();
        while i < n {
            let c = chunk[i];
            if c.wrapping_sub(b'0') < 10 {
                if matches!(phase, IntPhase::First | IntPhase::Value) {
                    let (next, next_phase) = match section {
                        Section::Nodes => self.fast_ints::<false>(chunk, i, phase)?,
                        Section::Edges => self.fast_ints::<true>(chunk, i, phase)?,
                        _ => (i, phase),
                    };
                    if next != i {
                        i = next;
                        phase = next_phase;
                        continue;
                    }
                }
                let mut v = match phase {
                    IntPhase::Number => acc,
                    IntPhase::First | IntPhase::Value => 0,
                    IntPhase::After => return Err(self.unexpected(i, c, "',' between numbers")),
                };
                phase = IntPhase::Number;
                // The hot loop: a whole run of digits at once.
                while i < n {
                    let d = chunk[i].wrapping_sub(b'0');
                    if d >= 10 {
                        break;
                    }
                    v = match v.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
                        Some(v) => v,
                        None => {
                            return Err(self.err(
                                i,
                                ErrorKind::BadNumber {
                                    section: section.name(),
                                },
                            ));
                        }
                    };
                    i += 1;
                }
                acc = v;
                continue;
            }
            match c {
                b',' => match phase {
                    IntPhase::Number => {
                        self.emit(section, acc).map_err(|k| self.err(i, k))?;
                        phase = IntPhase::Value;
                    }
                    IntPhase::After => phase = IntPhase::Value,
                    _ => return Err(self.unexpected(i, c, "a number")),
                },
                b']' => {
                    match phase {
                        IntPhase::Number => self.emit(section, acc).map_err(|k| self.err(i, k))?,
                        IntPhase::First | IntPhase::After => {}
                        IntPhase::Value => return Err(self.unexpected(i, c, "a number after ','")),
                    }
                    depth -= 1;
                    if section == Section::TraceTree && depth > 0 {
                        if self.b.rec_len != 0 {
                            return Err(self.err(
                                i,
                                ErrorKind::Inconsistent(
                                    "trace tree children end in the middle of a node".into(),
                                ),
                            ));
                        }
                        self.b.trace_stack.pop();
                    }
                    if depth == 0 {
                        self.end_ints(section).map_err(|k| self.err(i, k))?;
                        self.state = State::AfterValue;
                        return Ok(i + 1);
                    }
                    phase = IntPhase::After;
                }
                b'[' if section == Section::TraceTree
                    && matches!(phase, IntPhase::First | IntPhase::Value) =>
                {
                    self.open_trace_children().map_err(|k| self.err(i, k))?;
                    depth += 1;
                    phase = IntPhase::First;
                }
                b' ' | b'\n' | b'\r' | b'\t' => {
                    if phase == IntPhase::Number {
                        self.emit(section, acc).map_err(|k| self.err(i, k))?;
                        phase = IntPhase::After;
                    }
                }
                b'-' | b'.' | b'e' | b'E' | b'+' => {
                    return Err(self.err(
                        i,
                        ErrorKind::BadNumber {
                            section: section.name(),
                        },
                    ));
                }
                _ => return Err(self.unexpected(i, c, "a number, ',' or ']'")),
            }
            i += 1;
        }
        self.state = State::Ints {
            section,
            phase,
            acc,
            depth,
        };
        Ok(i)
    }

    /// The fast path through `nodes` and `edges`, entered at the first digit
    /// of a number. Numbers that end inside the chunk and are followed by `,`
    /// (with or without whitespace around it) or `]` are read 8 bytes at a
    /// time and stored record by record, with the errors [`Parser::emit`]
    /// gives, at the same offsets. It stops at a number boundary before
    /// anything else (a number of 16 digits or more, a byte that is neither
    /// a digit nor a separator, the last 16 bytes of the chunk) and returns
    /// where it stopped: the byte-at-a-time loop of [`Parser::scan_ints`]
    /// goes on from there in the same state it would have reached itself.
    #[inline(always)]
    fn fast_ints<const EDGES: bool>(
        &mut self,
        chunk: &[u8],
        start: usize,
        mut phase: IntPhase,
    ) -> Result<(usize, IntPhase), ParseError> {
        let fields = if EDGES {
            self.b.edge.fields
        } else {
            self.b.node_field_count
        };
        let mut i = start;
        let mut rec_len = self.b.rec_len;
        while let Some(w) = chunk.get(i..).and_then(|rest| rest.first_chunk::<16>()) {
            let Some((v, len)) = leading_number(w) else {
                if is_ws(w[0]) {
                    // Whitespace before a number (",\n" between records).
                    i += 1;
                    while i < chunk.len() && is_ws(chunk[i]) {
                        i += 1;
                    }
                    continue;
                }
                break;
            };
            let end = i + len;
            let (next, next_phase) = match w[len] {
                b',' => (end + 1, IntPhase::Value),
                b']' => (end, IntPhase::After),
                c if is_ws(c) => {
                    let mut k = end + 1;
                    while k < chunk.len() && is_ws(chunk[k]) {
                        k += 1;
                    }
                    if chunk.get(k) == Some(&b',') {
                        (k + 1, IntPhase::Value)
                    } else {
                        (k, IntPhase::After)
                    }
                }
                _ => break,
            };
            self.b.rec[rec_len % 16] = v;
            rec_len += 1;
            if rec_len == fields {
                rec_len = 0;
                self.b.rec_len = 0;
                let pushed = if EDGES {
                    self.push_edge()
                } else {
                    self.push_node()
                };
                pushed.map_err(|k| self.err(end, k))?;
            }
            i = next;
            phase = next_phase;
            if phase == IntPhase::After {
                break;
            }
        }
        self.b.rec_len = rec_len;
        Ok((i, phase))
    }

    #[inline(always)]
    fn emit(&mut self, section: Section, v: u64) -> Result<(), ErrorKind> {
        match section {
            Section::Nodes => {
                let b = &mut self.b;
                b.rec[b.rec_len] = v;
                b.rec_len += 1;
                if b.rec_len == b.node_field_count {
                    b.rec_len = 0;
                    self.push_node()?;
                }
            }
            Section::Edges => {
                let b = &mut self.b;
                b.rec[b.rec_len] = v;
                b.rec_len += 1;
                if b.rec_len == b.edge.fields {
                    b.rec_len = 0;
                    self.push_edge()?;
                }
            }
            Section::TraceFunctionInfos => self
                .b
                .trace_function_infos
                .push(to_u32(v, "trace_function_infos")?),
            Section::TraceTree => {
                let values = self
                    .header
                    .as_ref()
                    .map_or(4, |h| h.layout.trace_tree_value_count);
                let b = &mut self.b;
                if b.rec_len >= values {
                    return Err(ErrorKind::Inconsistent(
                        "trace tree node has too many fields".into(),
                    ));
                }
                b.rec[b.rec_len] = v;
                b.rec_len += 1;
            }
            Section::Samples => {
                let sf = self
                    .header
                    .as_ref()
                    .map_or(2, |h| h.layout.sample_field_count.max(1));
                let b = &mut self.b;
                b.rec[b.rec_len.min(15)] = v;
                b.rec_len += 1;
                if b.rec_len == sf {
                    b.rec_len = 0;
                    let second = if sf > 1 { b.rec[1] } else { 0 };
                    b.samples.push((b.rec[0], second));
                }
            }
            Section::Locations => self.b.raw_locations.push(v),
        }
        Ok(())
    }

    #[inline(always)]
    fn push_node(&mut self) -> Result<(), ErrorKind> {
        let h = self.header.as_ref().expect("header before nodes");
        let l = &h.layout;
        let b = &mut self.b;
        let r = &b.rec;
        let ty = r[l.node_type];
        if ty >= h.node_type_names.len() as u64 {
            return Err(ErrorKind::Inconsistent(format!(
                "node {} has type {ty}, but only {} node types are declared",
                b.node_type.len(),
                h.node_type_names.len()
            )));
        }
        b.node_type.push(ty as u8);
        b.node_name.push(StrIdx(to_u32(r[l.node_name], "nodes")?));
        b.node_id.push(to_u32(r[l.node_id], "nodes")?);
        // Stored in 32 bits, wrapping as DevTools' Uint32Array does (V8
        // writes a size_t; only a native node above 4 GiB could overflow).
        b.self_size.push(r[l.node_self_size] as u32);
        b.wrapped_self_sizes += u64::from(r[l.node_self_size] > u64::from(u32::MAX));
        b.edge_counts.push(to_u32(r[l.node_edge_count], "nodes")?);
        // Mostly all zero: materialised only once a non-zero value shows up.
        let ordinal = b.node_type.len() - 1;
        if let Some(t) = l.node_trace_node_id {
            let v = to_u32(r[t], "nodes")?;
            if v != 0 || !b.trace_node_id.is_empty() {
                b.trace_node_id.resize(ordinal, 0);
                b.trace_node_id.push(v);
            }
        }
        if let Some(d) = l.node_detachedness {
            let v = r[d].min(255) as u8;
            if v != 0 || !b.detachedness.is_empty() {
                b.detachedness.resize(ordinal, 0);
                b.detachedness.push(v);
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn push_edge(&mut self) -> Result<(), ErrorKind> {
        let b = &self.b;
        let e = &b.edge;
        let r = &b.rec;
        let ty = r[e.ty % 16];
        let name = r[e.name % 16];
        let ord = e.node_of(r[e.to % 16]);
        let (ord, name) = match (ord, u32::try_from(name)) {
            (Some(ord), Ok(name)) if ty < e.types && ord < e.nodes => (ord, name),
            _ => self.checked_edge()?,
        };
        let b = &mut self.b;
        let e = &b.edge;
        if !e.is_index_named(ty) {
            b.max_string_edge_name = b.max_string_edge_name.max(name);
        }
        let shift = e.shift;
        if b.edges_packed && name < 1 << shift {
            b.edge_name.push(name | (ty as u32) << shift);
        } else {
            if b.edges_packed {
                b.unpack_edge_types();
            }
            b.edge_type.push(ty as u8);
            b.edge_name.push(name);
        }
        b.edge_to.push(NodeIdx(ord as u32));
        Ok(())
    }

    /// The edge record in `rec` checked step by step, for the first problem
    /// in a fixed order (the fast checks of [`Parser::push_edge`] only tell
    /// that there is one): node ordinal and name.
    #[cold]
    #[inline(never)]
    fn checked_edge(&self) -> Result<(u64, u32), ErrorKind> {
        let h = self.header.as_ref().expect("header before edges");
        let l = &h.layout;
        let b = &self.b;
        let r = &b.rec;
        let edge = b.edge_to.len();
        let ty = r[l.edge_type];
        if ty >= h.edge_type_names.len() as u64 {
            return Err(ErrorKind::Inconsistent(format!(
                "edge {edge} has type {ty}, but only {} edge types are declared",
                h.edge_type_names.len()
            )));
        }
        let to = r[l.edge_to_node];
        let nfc = l.node_field_count as u64;
        if !to.is_multiple_of(nfc) {
            return Err(ErrorKind::Inconsistent(format!(
                "edge {edge} points to node index {to}, which is not a multiple of the node field count {nfc}"
            )));
        }
        let ord = to / nfc;
        if ord >= b.edge.nodes {
            return Err(ErrorKind::Inconsistent(format!(
                "edge {edge} points to node {ord}, but there are only {} nodes",
                b.edge.nodes
            )));
        }
        Ok((ord, to_u32(r[l.edge_name], "edges")?))
    }

    fn open_trace_children(&mut self) -> Result<(), ErrorKind> {
        // Without a header (an error comes later anyway), V8's layout.
        let (values, id, function, count, size) = match &self.header {
            Some(h) => {
                let l = &h.layout;
                (
                    l.trace_tree_value_count,
                    l.trace_tree_id,
                    l.trace_tree_function_info_index,
                    l.trace_tree_count,
                    l.trace_tree_size,
                )
            }
            None => (4, 0, 1, Some(2), Some(3)),
        };
        let b = &mut self.b;
        if b.rec_len != values {
            return Err(ErrorKind::Inconsistent(format!(
                "trace tree node does not have {values} fields before its children"
            )));
        }
        b.rec_len = 0;
        let parent = b.trace_stack.last().copied().unwrap_or(u32::MAX);
        let idx = b.trace_tree.len() as u32;
        b.trace_tree.push(TraceNode {
            id: to_u32(b.rec[id], "trace_tree")?,
            function_info_index: to_u32(b.rec[function], "trace_tree")?,
            count: count.map_or(Ok(0), |c| to_u32(b.rec[c], "trace_tree"))?,
            size: size.map_or(0, |s| b.rec[s]),
            parent,
        });
        b.trace_stack.push(idx);
        Ok(())
    }

    fn end_ints(&mut self, section: Section) -> Result<(), ErrorKind> {
        let b = &mut self.b;
        if b.rec_len != 0 && section != Section::Samples {
            return Err(ErrorKind::Inconsistent(format!(
                "\"{}\" ends in the middle of a record ({} values left over)",
                section.name(),
                b.rec_len
            )));
        }
        b.rec_len = 0;
        if let Some(h) = &self.header {
            check_count(section, h, b.node_type.len(), b.edge_to.len())?;
        }
        if section == Section::Nodes {
            b.nodes_done = true;
        }
        Ok(())
    }

    fn scan_strings(&mut self, chunk: &[u8], start: usize) -> Result<usize, ParseError> {
        let State::Strings { mut phase } = self.state else {
            unreachable!()
        };
        let mut i = start;
        let n = chunk.len();
        while i < n {
            match phase {
                StrPhase::InString => {
                    let rest = &chunk[i..];
                    if self.b.pending_high.is_some() && !matches!(rest[0], b'"' | b'\\') {
                        // A lone high surrogate followed by plain text.
                        self.flush_high_surrogate();
                    }
                    match memchr::memchr2(b'"', b'\\', rest) {
                        None => {
                            self.b.str_data.extend_from_slice(rest);
                            i = n;
                        }
                        Some(p) => {
                            self.b.str_data.extend_from_slice(&rest[..p]);
                            let c = rest[p];
                            i += p + 1;
                            if c == b'"' {
                                self.end_string(i - 1)?;
                                phase = StrPhase::After;
                            } else {
                                phase = StrPhase::Escape;
                            }
                        }
                    }
                }
                StrPhase::Escape => {
                    let c = chunk[i];
                    i += 1;
                    let out = match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            self.b.unicode = 0;
                            self.b.unicode_digits = 0;
                            phase = StrPhase::Unicode;
                            continue;
                        }
                        _ => {
                            return Err(self.err(
                                i - 1,
                                ErrorKind::BadString(format!("unknown escape '\\{}'", c as char)),
                            ));
                        }
                    };
                    self.flush_high_surrogate();
                    self.b.str_data.push(out);
                    phase = StrPhase::InString;
                }
                StrPhase::Unicode => {
                    let c = chunk[i];
                    i += 1;
                    let d = match c {
                        b'0'..=b'9' => c - b'0',
                        b'a'..=b'f' => c - b'a' + 10,
                        b'A'..=b'F' => c - b'A' + 10,
                        _ => {
                            return Err(
                                self.err(i - 1, ErrorKind::BadString("bad \\u escape".into()))
                            );
                        }
                    };
                    self.b.unicode = self.b.unicode * 16 + d as u32;
                    self.b.unicode_digits += 1;
                    if self.b.unicode_digits == 4 {
                        self.push_utf16_unit(self.b.unicode);
                        phase = StrPhase::InString;
                    }
                }
                StrPhase::First | StrPhase::Value | StrPhase::After => {
                    let c = chunk[i];
                    i += 1;
                    if is_ws(c) {
                        continue;
                    }
                    match (phase, c) {
                        (StrPhase::First | StrPhase::Value, b'"') => {
                            self.b.str_start = self.b.str_data.len();
                            self.b.str_start_offset = self.base + i as u64 - 1;
                            phase = StrPhase::InString;
                        }
                        (StrPhase::After, b',') => phase = StrPhase::Value,
                        (StrPhase::First | StrPhase::After, b']') => {
                            self.state = State::AfterValue;
                            return Ok(i);
                        }
                        _ => {
                            return Err(self.unexpected(
                                i - 1,
                                c,
                                "a string, ',' or ']' in \"strings\"",
                            ));
                        }
                    }
                }
            }
        }
        self.state = State::Strings { phase };
        Ok(i)
    }

    fn push_utf16_unit(&mut self, u: u32) {
        let b = &mut self.b;
        if (0xD800..0xDC00).contains(&u) {
            if b.pending_high.is_some() {
                push_char(&mut b.str_data, char::REPLACEMENT_CHARACTER);
            }
            b.pending_high = Some(u);
            return;
        }
        if (0xDC00..0xE000).contains(&u) {
            match b.pending_high.take() {
                Some(h) => {
                    let cp = 0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00);
                    push_char(
                        &mut b.str_data,
                        char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER),
                    );
                }
                None => push_char(&mut b.str_data, char::REPLACEMENT_CHARACTER),
            }
            return;
        }
        self.flush_high_surrogate();
        push_char(
            &mut self.b.str_data,
            char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER),
        );
    }

    /// A lone high surrogate (JS strings may hold one) becomes U+FFFD.
    fn flush_high_surrogate(&mut self) {
        if self.b.pending_high.take().is_some() {
            push_char(&mut self.b.str_data, char::REPLACEMENT_CHARACTER);
        }
    }

    fn end_string(&mut self, _pos: usize) -> Result<(), ParseError> {
        self.flush_high_surrogate();
        let b = &mut self.b;
        if let Err(e) = std::str::from_utf8(&b.str_data[b.str_start..]) {
            return Err(ParseError {
                offset: b.str_start_offset + 1 + e.valid_up_to() as u64,
                kind: ErrorKind::BadString(format!("invalid UTF-8 in string {}", b.str_ends.len())),
            });
        }
        b.str_ends.push(b.str_data.len() as u64);
        Ok(())
    }

    /// Finish parsing: check that the snapshot was complete and consistent and build the graph.
    pub fn finish(self) -> Result<HeapGraph, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let end = self.base;
        let at = |kind| ParseError { offset: end, kind };
        let inside = match self.state {
            State::Done => None,
            State::Start { .. } => Some("the file (no data)"),
            State::Header { .. } => Some("the \"snapshot\" header"),
            State::Ints { section, .. } => Some(section.name()),
            State::Strings { .. } => Some("strings"),
            _ => Some("the top-level object"),
        };
        if let Some(inside) = inside {
            return Err(at(ErrorKind::Truncated { inside }));
        }
        let header = self
            .header
            .ok_or_else(|| at(ErrorKind::MissingSection("snapshot")))?;
        for s in ["nodes", "edges", "strings"] {
            if !self.seen.contains(&s) {
                return Err(at(ErrorKind::MissingSection(s)));
            }
        }
        let b = self.b;
        build_graph(header, b).map_err(at)
    }
}

/// The number of records in `nodes` or `edges` must be what the header announced.
fn check_count(
    section: Section,
    header: &Header,
    node_count: usize,
    edge_count: usize,
) -> Result<(), ErrorKind> {
    match section {
        Section::Nodes if node_count as u64 != header.node_count => {
            Err(ErrorKind::Inconsistent(format!(
                "header says {} nodes, \"nodes\" holds {node_count}",
                header.node_count
            )))
        }
        Section::Edges if edge_count as u64 != header.edge_count => {
            Err(ErrorKind::Inconsistent(format!(
                "header says {} edges, \"edges\" holds {edge_count}",
                header.edge_count
            )))
        }
        _ => Ok(()),
    }
}

fn build_graph(header: Header, b: Builder) -> Result<HeapGraph, ErrorKind> {
    let node_count = b.node_type.len();
    let edge_count = b.edge_to.len();
    check_count(Section::Nodes, &header, node_count, edge_count)?;
    check_count(Section::Edges, &header, node_count, edge_count)?;
    if node_count == 0 {
        return Err(ErrorKind::Inconsistent("the snapshot has no nodes".into()));
    }
    if node_count >= u32::MAX as usize || edge_count >= u32::MAX as usize {
        return Err(ErrorKind::Inconsistent(
            "more than 4 billion nodes or edges".into(),
        ));
    }
    let root = header.root_index / header.layout.node_field_count as u64;
    if root >= node_count as u64 {
        return Err(ErrorKind::Inconsistent(format!(
            "root node {root} does not exist"
        )));
    }

    // Forward CSR from the per-node edge counts.
    let mut first_edge = Vec::with_capacity(node_count + 1);
    let mut acc: u64 = 0;
    for &c in &b.edge_counts {
        first_edge.push(acc as u32);
        acc += c as u64;
        if acc > edge_count as u64 {
            break;
        }
    }
    if acc != edge_count as u64 {
        return Err(ErrorKind::Inconsistent(format!(
            "node edge counts add up to {acc}{}, but \"edges\" holds {edge_count}",
            if first_edge.len() < node_count {
                " or more"
            } else {
                ""
            }
        )));
    }
    first_edge.push(acc as u32);
    drop(b.edge_counts);

    let strings = StringTable {
        data: String::from_utf8(b.str_data)
            .map_err(|_| ErrorKind::BadString("invalid UTF-8".into()))?,
        ends: b.str_ends,
    };
    let string_count = strings.len() as u32;
    if let Some((n, s)) = b
        .node_name
        .iter()
        .enumerate()
        .find(|(_, s)| s.0 >= string_count)
    {
        return Err(ErrorKind::Inconsistent(format!(
            "node {n} names string {}, but there are only {string_count} strings",
            s.0
        )));
    }
    let edge_kind_of: Vec<EdgeKind> = header
        .edge_type_names
        .iter()
        .map(|t| EdgeKind::from_name(t))
        .collect();
    let node_kind_of: Vec<NodeKind> = header
        .node_type_names
        .iter()
        .map(|t| NodeKind::from_name(t))
        .collect();
    if b.max_string_edge_name >= string_count {
        let shift = b.edges_packed.then_some(b.edge.shift);
        for (e, &word) in b.edge_name.iter().enumerate() {
            let (t, name) = match shift {
                Some(s) => ((word >> s) as usize, word & ((1 << s) - 1)),
                None => (b.edge_type[e] as usize, word),
            };
            if !edge_kind_of[t].has_index_name() && name >= string_count {
                return Err(ErrorKind::Inconsistent(format!(
                    "edge {e} names string {name}, but there are only {string_count} strings"
                )));
            }
        }
    }

    let l = &header.layout;
    let mut locations = Vec::new();
    if l.location_field_count > 0 && !b.raw_locations.is_empty() {
        let (Some(oi), Some(si), Some(li), Some(ci)) = (
            l.location_object_index,
            l.location_script_id,
            l.location_line,
            l.location_column,
        ) else {
            return Err(ErrorKind::BadHeader(
                "location_fields lacks object_index/script_id/line/column".into(),
            ));
        };
        if !b.raw_locations.len().is_multiple_of(l.location_field_count) {
            return Err(ErrorKind::Inconsistent(
                "\"locations\" ends in the middle of a record".into(),
            ));
        }
        let nfc = l.node_field_count as u64;
        for rec in b.raw_locations.chunks_exact(l.location_field_count) {
            let obj = rec[oi];
            if obj % nfc != 0 || obj / nfc >= node_count as u64 {
                return Err(ErrorKind::Inconsistent(format!(
                    "location refers to invalid node index {obj}"
                )));
            }
            locations.push(Location {
                node: NodeIdx((obj / nfc) as u32),
                script_id: to_u32(rec[si], "locations")?,
                line: to_u32(rec[li], "locations")?,
                column: to_u32(rec[ci], "locations")?,
            });
        }
        // DevTools keeps the last location recorded for a node.
        locations.reverse();
        locations.sort_by_key(|l| l.node);
        locations.dedup_by_key(|l| l.node);
    }

    let mut trace_node_id = b.trace_node_id;
    if !trace_node_id.is_empty() {
        trace_node_id.resize(node_count, 0);
    }
    let mut detachedness = b.detachedness;
    if !detachedness.is_empty() {
        detachedness.resize(node_count, 0);
    }

    // Edge types went into the high bits of the names as the edges were read
    // (leaving `edge_type` empty), unless some name left no room for them (in
    // practice names always do: 7 types need 3 bits).
    let edge_type = b.edge_type;
    let edge_name = b.edge_name;
    let edge_type_shift = b.edges_packed.then_some(b.edge.shift);

    Ok(HeapGraph {
        node_kind_of,
        edge_kind_of,
        node_type: b.node_type,
        node_name: b.node_name,
        node_id: b.node_id,
        self_size: b.self_size,
        wrapped_self_sizes: b.wrapped_self_sizes,
        first_edge,
        trace_node_id,
        detachedness,
        edge_type,
        edge_name,
        edge_type_shift,
        edge_to: b.edge_to,
        strings,
        locations,
        trace_function_infos: b.trace_function_infos,
        trace_tree: b.trace_tree,
        samples: b.samples,
        root: NodeIdx(root as u32),
        header,
    })
}

/// Eight ASCII zeros: XOR with a word of digits gives their values.
const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);

/// The high bit of every byte of `x` (a word XORed with [`ZEROS`]) that was
/// not an ASCII digit. Only the lowest marked byte is exact: the carry out of
/// a non-digit byte may mark the byte above it too.
#[inline(always)]
fn non_digits(x: u64) -> u64 {
    // A byte below 10 stays below 0x80 after adding 0x76 (and carries
    // nothing out); from 10 up to 0x7f it reaches the high bit; from 0x80 up
    // it had it already.
    (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080
}

/// The number written by eight digit values (0..=9), the first (most
/// significant) in the lowest byte, as `u64::from_le_bytes` reads text:
/// pairs, then quads, then the whole, by multiplications (as simdjson does).
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    let pairs = x.wrapping_mul(10).wrapping_add(x >> 8);
    let lo = pairs & 0x0000_00FF_0000_00FF;
    let hi = (pairs >> 16) & 0x0000_00FF_0000_00FF;
    lo.wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(hi.wrapping_mul(1 + (10_000 << 32)))
        >> 32
}

const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// The number at the start of `w` and its digit count, if `w` starts with
/// 1 to 15 digits (so the byte after them is in `w` too, and the value
/// cannot overflow).
#[inline(always)]
fn leading_number(w: &[u8; 16]) -> Option<(u64, usize)> {
    let both = u128::from_le_bytes(*w);
    let x = both as u64 ^ ZEROS;
    let m = non_digits(x);
    if m != 0 {
        let len = m.trailing_zeros() as usize / 8;
        if len == 0 {
            return None;
        }
        // The digits move to the top bytes; the zero bytes below them are
        // leading zeros.
        return Some((eight_digits(x << (64 - 8 * len)), len));
    }
    let y = (both >> 64) as u64 ^ ZEROS;
    let m = non_digits(y);
    if m == 0 {
        return None;
    }
    let len = m.trailing_zeros() as usize / 8;
    let low = y.checked_shl(64 - 8 * len as u32).map_or(0, eight_digits);
    Some((eight_digits(x) * POW10[len % 8] + low, 8 + len))
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

fn to_u32(v: u64, section: &'static str) -> Result<u32, ErrorKind> {
    u32::try_from(v).map_err(|_| ErrorKind::BadNumber { section })
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Parse a complete snapshot held in memory (feeds it in one chunk).
pub fn parse_bytes(bytes: &[u8]) -> Result<HeapGraph, ParseError> {
    let mut p = Parser::with_size_hint(bytes.len() as u64);
    p.feed(bytes)?;
    p.finish()
}

impl Parser {
    fn in_nodes(&self) -> bool {
        matches!(
            self.state,
            State::Ints {
                section: Section::Nodes,
                ..
            }
        )
    }

    /// A parser for the contents of the "edges" array alone, from absolute
    /// offset `base` (just after its '['). Edge targets are checked against
    /// the header's node count, which the "nodes" array must match anyway.
    fn edges_apart(&self, base: u64) -> Option<Parser> {
        let header = self.header.clone()?;
        let mut p = Parser::new();
        p.base = base;
        p.size_hint = self.size_hint;
        let left = self.size_hint.map(|h| h.saturating_sub(base));
        p.b.reserve_edges(&header, left);
        p.b.edge = EdgeCtx::new(&header, usize::try_from(header.node_count).ok()?);
        p.b.edges_packed = true;
        p.state = State::Ints {
            section: Section::Edges,
            phase: IntPhase::First,
            acc: 0,
            depth: 1,
        };
        p.header = Some(header);
        Some(p)
    }

    /// Whether this parser stands right before the "edges" key at absolute
    /// offset `key`, with the whole "nodes" array read and no error.
    fn ready_for_edges(&self, key: u64) -> bool {
        matches!(self.state, State::KeyOrEnd { first: false })
            && self.failed.is_none()
            && self.base == key
            && self.b.nodes_done
            && !self.seen.contains(&"edges")
    }

    /// Takes the edges `apart` parsed, as if the bytes up to `resume` (just
    /// after the array) had been fed here. Only after [`Parser::ready_for_edges`].
    fn adopt_edges(&mut self, apart: Parser, resume: u64) {
        self.seen.push("edges");
        let (b, a) = (&mut self.b, apart.b);
        b.edge = a.edge;
        b.edges_packed = a.edges_packed;
        b.max_string_edge_name = a.max_string_edge_name;
        b.edge_type = a.edge_type;
        b.edge_name = a.edge_name;
        b.edge_to = a.edge_to;
        self.state = State::AfterValue;
        self.base = resume;
    }
}

/// Where the "edges" array of a snapshot held whole in memory starts, given
/// that `from` is inside the "nodes" array: (opening quote of the "edges"
/// key, its '['). `None` unless "edges" comes right after "nodes", as V8
/// writes it. The nodes array holds no quote, so the next one is the key's;
/// the search goes `chunk` bytes at a time, handing each to `release`.
fn locate_edges(
    bytes: &[u8],
    from: usize,
    chunk: usize,
    release: &dyn Fn(std::ops::Range<usize>),
) -> Option<(usize, usize)> {
    let mut at = from;
    let key = loop {
        let end = (at + chunk).min(bytes.len());
        let found = memchr::memchr(b'"', &bytes[at..end]).map(|p| at + p);
        release(at..found.unwrap_or(end));
        match found {
            Some(q) => break q,
            None if end == bytes.len() => return None,
            None => at = end,
        }
    };
    let mut i = key + b"\"edges\"".len();
    if bytes.get(key..i)? != b"\"edges\"" {
        return None;
    }
    let skip_ws = |mut i: usize| {
        while bytes.get(i).is_some_and(|&c| is_ws(c)) {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(i + 1);
    (bytes.get(i) == Some(&b'[')).then_some((key, i))
}

/// Parses a whole snapshot held in memory (a mapped file), with the "edges"
/// array, the biggest section, parsed on a second thread while this one
/// reads the nodes. The result and any error are exactly those of feeding
/// `bytes` to one [`Parser`] (on a surprising layout it does just that).
///
/// Bytes are read `chunk` at a time. `release(range)` is called for ranges
/// not needed any more (the caller may drop their pages; they may be read
/// again) and `parsed(n)` as `n` more bytes have been parsed (for progress).
pub fn parse_parallel(
    bytes: &[u8],
    chunk: usize,
    release: &(dyn Fn(std::ops::Range<usize>) + Sync),
    parsed: &(dyn Fn(usize) + Sync),
) -> Result<HeapGraph, ParseError> {
    let chunk = chunk.max(1);
    let feed = |p: &mut Parser, range: std::ops::Range<usize>| -> Result<(), ParseError> {
        let mut at = range.start;
        while at < range.end {
            let end = (at + chunk).min(range.end);
            p.feed(&bytes[at..end])?;
            release(at..end);
            parsed(end - at);
            at = end;
        }
        Ok(())
    };
    let mut main = Parser::with_size_hint(bytes.len() as u64);
    // The header, then into "nodes" (64 KiB at a time at most: headers are small).
    let mut at = 0;
    while at < bytes.len() && !main.in_nodes() {
        let end = (at + chunk.min(64 << 10)).min(bytes.len());
        feed(&mut main, at..end)?;
        at = end;
    }
    let split = main
        .in_nodes()
        .then(|| locate_edges(bytes, at, chunk, release))
        .flatten()
        .and_then(|(key, open)| Some((key, open, main.edges_apart(open as u64 + 1)?)));
    let Some((key, open, mut apart)) = split else {
        feed(&mut main, at..bytes.len())?;
        return main.finish();
    };
    let (nodes, apart, close) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            // Up to the first ']', the end of the edges array. An error stays
            // in the parser (`failed`) and is reported in input order below.
            let mut from = open + 1;
            while from < bytes.len() {
                let end = (from + chunk).min(bytes.len());
                let close = memchr::memchr(b']', &bytes[from..end]).map(|p| from + p);
                let stop = close.map_or(end, |c| c + 1);
                if feed(&mut apart, from..stop).is_err() {
                    return (apart, None);
                }
                if close.is_some() {
                    return (apart, close);
                }
                from = end;
            }
            (apart, None)
        });
        let nodes = feed(&mut main, at..key);
        let (apart, close) = worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (nodes, apart, close)
    });
    // Errors in input order: the nodes first, then the edges.
    nodes?;
    let ready =
        main.ready_for_edges(key as u64) && apart.b.edge.nodes == main.b.node_type.len() as u64;
    match (ready, apart.failed.clone(), close) {
        (true, Some(e), _) => {
            main.failed = Some(e.clone());
            return Err(e);
        }
        (true, None, Some(close)) if matches!(apart.state, State::AfterValue) => {
            main.adopt_edges(apart, close as u64 + 1);
            parsed(open + 1 - key);
            feed(&mut main, close + 1..bytes.len())?;
        }
        _ => {
            // Something unusual (or a truncated file): read it all here, in order.
            drop(apart);
            feed(&mut main, key..bytes.len())?;
        }
    }
    main.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_parallel` does split a snapshot in V8's layout (the tests in
    /// `tests/` check that splitting never changes a result or an error).
    #[test]
    fn the_edges_array_is_found_from_inside_the_nodes() {
        let mut s = crate::synth::SynthSnapshot::with_root();
        let a = s.node("object", "A", 10);
        s.edge(0, "property", "a", a).edge(a, "property", "self", a);
        let text = s.to_json();
        let bytes = text.as_bytes();
        let mut p = Parser::new();
        let mut at = 0;
        while !p.in_nodes() {
            p.feed(&bytes[at..at + 1]).unwrap();
            at += 1;
        }
        let released = std::cell::Cell::new(0);
        let (key, open) = locate_edges(bytes, at, 3, &|r| released.set(released.get() + r.len()))
            .expect("edges follow nodes");
        assert!(text[key..].starts_with("\"edges\""));
        assert_eq!(bytes[open], b'[');
        assert_eq!(released.get(), key - at, "what was searched is released");
        assert!(p.edges_apart(open as u64 + 1).is_some());
    }

    fn slow_leading_number(w: &[u8; 16]) -> Option<(u64, usize)> {
        let len = w.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 15 {
            return None;
        }
        let text = std::str::from_utf8(&w[..len]).unwrap();
        Some((text.parse().unwrap(), len))
    }

    #[test]
    fn non_digits_finds_the_first_non_digit_whatever_follows() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                for fill in [b'0', b'9', b',', 0xff, 0x00, b'9' + 1] {
                    let mut w = [b'7'; 8];
                    w[pos] = b;
                    for c in &mut w[pos + 1..] {
                        *c = fill;
                    }
                    let m = non_digits(u64::from_le_bytes(w) ^ ZEROS);
                    let want = w.iter().position(|c| !c.is_ascii_digit());
                    let got = (m != 0).then(|| m.trailing_zeros() as usize / 8);
                    assert_eq!(got, want, "{w:?}");
                }
            }
        }
    }

    #[test]
    fn leading_number_matches_str_parse() {
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let tails: [&[u8]; 6] = [b",", b"]", b"\n,", b" ", b"x", b"0123456789012345"];
        for _ in 0..200_000 {
            let len = (next() % 18) as usize;
            let mut w = [0u8; 16];
            for (k, c) in w.iter_mut().enumerate() {
                *c = if k < len {
                    b'0' + (next() % 10) as u8
                } else {
                    let t = tails[(next() % 6) as usize];
                    t[(k - len) % t.len()]
                };
            }
            if next() % 4 == 0 {
                // Any byte at all after the digits.
                if len < 16 {
                    w[len] = next() as u8;
                }
            }
            assert_eq!(leading_number(&w), slow_leading_number(&w), "{w:?}");
        }
        let mut w = *b"999999999999999,";
        assert_eq!(leading_number(&w), Some((999_999_999_999_999, 15)));
        w[15] = b'9';
        assert_eq!(leading_number(&w), None);
        assert_eq!(leading_number(b"00000000,1234567"), Some((0, 8)));
        assert_eq!(leading_number(b"12345678,1234567"), Some((12_345_678, 8)));
        assert_eq!(leading_number(b"0000000000000007"), None);
        assert_eq!(leading_number(b",000000000000007"), None);
    }

    #[test]
    fn node_of_divides_exactly() {
        for nfc in 2..=16u64 {
            let ctx = EdgeCtx {
                nfc,
                recip: u64::MAX / nfc + 1,
                ..EdgeCtx::default()
            };
            let probes = (0..100_000u64)
                .chain((0..100_000).map(|k| u64::from(u32::MAX) - k))
                .chain((0..100_000).map(|k| u64::from(u32::MAX) + k))
                .chain((0..200_000u64).map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (k % 40)));
            for to in probes {
                let want = to.is_multiple_of(nfc).then(|| to / nfc);
                assert_eq!(ctx.node_of(to), want, "{to} / {nfc}");
            }
        }
    }
}
