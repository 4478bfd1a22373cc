//! The compact, immutable heap graph: columnar node arrays, CSR forward
//! edges (no reverse ones), and the string table. Built once by [`crate::Parser`].

use crate::meta::Header;

macro_rules! index_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u32);
        impl $name {
            #[inline]
            pub fn idx(self) -> usize {
                self.0 as usize
            }
            #[inline]
            pub fn from_usize(i: usize) -> Self {
                debug_assert!(i <= u32::MAX as usize);
                Self(i as u32)
            }
        }
    };
}

index_type!(
    /// Ordinal of a node (its position in the `nodes` array divided by the field count).
    NodeIdx
);
index_type!(
    /// Ordinal of an edge in the forward edge array.
    EdgeIdx
);
index_type!(
    /// Index into the snapshot's string table.
    StrIdx
);

/// Node types V8 writes, resolved by name from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Hidden,
    Array,
    String,
    Object,
    Code,
    Closure,
    RegExp,
    Number,
    Native,
    Synthetic,
    ConsString,
    SlicedString,
    Symbol,
    BigInt,
    ObjectShape,
    Other,
}

impl NodeKind {
    pub fn from_name(name: &str) -> NodeKind {
        match name {
            "hidden" => NodeKind::Hidden,
            "array" => NodeKind::Array,
            "string" => NodeKind::String,
            "object" => NodeKind::Object,
            "code" => NodeKind::Code,
            "closure" => NodeKind::Closure,
            "regexp" => NodeKind::RegExp,
            "number" => NodeKind::Number,
            "native" => NodeKind::Native,
            "synthetic" => NodeKind::Synthetic,
            "concatenated string" => NodeKind::ConsString,
            "sliced string" => NodeKind::SlicedString,
            "symbol" => NodeKind::Symbol,
            "bigint" => NodeKind::BigInt,
            "object shape" => NodeKind::ObjectShape,
            _ => NodeKind::Other,
        }
    }

    pub fn is_string(self) -> bool {
        matches!(
            self,
            NodeKind::String | NodeKind::ConsString | NodeKind::SlicedString
        )
    }
}

/// Edge types V8 writes, resolved by name from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    Context,
    Element,
    Property,
    Internal,
    Hidden,
    Shortcut,
    Weak,
    Other,
}

impl EdgeKind {
    pub fn from_name(name: &str) -> EdgeKind {
        match name {
            "context" => EdgeKind::Context,
            "element" => EdgeKind::Element,
            "property" => EdgeKind::Property,
            "internal" => EdgeKind::Internal,
            "hidden" => EdgeKind::Hidden,
            "shortcut" => EdgeKind::Shortcut,
            "weak" => EdgeKind::Weak,
            _ => EdgeKind::Other,
        }
    }

    /// Element and hidden edges carry a numeric index instead of a string name.
    pub fn has_index_name(self) -> bool {
        matches!(self, EdgeKind::Element | EdgeKind::Hidden)
    }
}

/// All strings of the snapshot, stored back to back.
#[derive(Debug, Clone, Default)]
pub struct StringTable {
    pub(crate) data: String,
    /// `ends[i]` is the end offset of string `i` in `data`; string `i` starts at `ends[i-1]`.
    pub(crate) ends: Vec<u64>,
}

impl StringTable {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[inline]
    pub fn get(&self, i: StrIdx) -> &str {
        let end = self.ends[i.idx()] as usize;
        let start = if i.0 == 0 {
            0
        } else {
            self.ends[i.idx() - 1] as usize
        };
        &self.data[start..end]
    }

    pub fn try_get(&self, i: StrIdx) -> Option<&str> {
        (i.idx() < self.len()).then(|| self.get(i))
    }

    /// Bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * 8
    }

    pub fn iter(&self) -> impl Iterator<Item = (StrIdx, &str)> {
        (0..self.len()).map(|i| (StrIdx::from_usize(i), self.get(StrIdx::from_usize(i))))
    }
}

/// Source position of a closure or object constructor (`locations` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub node: NodeIdx,
    pub script_id: u32,
    /// Zero-based line, as V8 writes it.
    pub line: u32,
    /// Zero-based column, as V8 writes it.
    pub column: u32,
}

/// One node of the allocation trace tree (present when allocation tracking was on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceNode {
    pub id: u32,
    pub function_info_index: u32,
    pub count: u32,
    pub size: u64,
    /// Index of the parent in [`HeapGraph::trace_tree`]; `u32::MAX` for the top.
    pub parent: u32,
}

/// A parsed heap snapshot as an immutable graph.
///
/// Nodes and edges are addressed by ordinal ([`NodeIdx`], [`EdgeIdx`]); all
/// per-node and per-edge data lives in parallel vectors. Forward edges are in
/// CSR form (`first_edge`). There are no reverse edges: analyses that need
/// retainers build what they need of them, and drop it when done.
#[derive(Debug, Clone)]
pub struct HeapGraph {
    pub(crate) header: Header,
    pub(crate) node_kind_of: Vec<NodeKind>,
    pub(crate) edge_kind_of: Vec<EdgeKind>,

    pub(crate) node_type: Vec<u8>,
    pub(crate) node_name: Vec<StrIdx>,
    pub(crate) node_id: Vec<u32>,
    /// 32-bit, as in DevTools (its node array is a `Uint32Array`).
    pub(crate) self_size: Vec<u32>,
    /// How many self sizes were above 4 GiB (and wrapped, as in DevTools).
    pub(crate) wrapped_self_sizes: u64,
    pub(crate) first_edge: Vec<u32>,
    pub(crate) trace_node_id: Vec<u32>,
    pub(crate) detachedness: Vec<u8>,

    /// Edge types, unless they are packed into the high bits of `edge_name`
    /// (then empty, and `edge_type_shift` says where they start).
    pub(crate) edge_type: Vec<u8>,
    pub(crate) edge_name: Vec<u32>,
    pub(crate) edge_type_shift: Option<u32>,
    pub(crate) edge_to: Vec<NodeIdx>,

    pub(crate) strings: StringTable,
    pub(crate) locations: Vec<Location>,
    pub(crate) trace_function_infos: Vec<u32>,
    pub(crate) trace_tree: Vec<TraceNode>,
    pub(crate) samples: Vec<(u64, u64)>,
    pub(crate) root: NodeIdx,
}

impl HeapGraph {
    /// How many nodes had a self size above 4 GiB in the file: stored
    /// wrapped to 32 bits, as DevTools' `Uint32Array` keeps them.
    pub fn wrapped_self_sizes(&self) -> u64 {
        self.wrapped_self_sizes
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    #[inline]
    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }

    #[inline]
    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }

    #[inline]
    pub fn root(&self) -> NodeIdx {
        self.root
    }

    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = NodeIdx> + ExactSizeIterator + use<> {
        (0..self.node_count() as u32).map(NodeIdx)
    }

    #[inline]
    pub fn kind(&self, n: NodeIdx) -> NodeKind {
        self.node_kind_of[self.node_type[n.idx()] as usize]
    }

    #[inline]
    pub fn raw_type(&self, n: NodeIdx) -> u8 {
        self.node_type[n.idx()]
    }

    pub fn node_type_name(&self, n: NodeIdx) -> &str {
        &self.header.node_type_names[self.node_type[n.idx()] as usize]
    }

    #[inline]
    pub fn name_idx(&self, n: NodeIdx) -> StrIdx {
        self.node_name[n.idx()]
    }

    /// The raw name V8 wrote for the node.
    #[inline]
    pub fn name(&self, n: NodeIdx) -> &str {
        self.strings.get(self.node_name[n.idx()])
    }

    #[inline]
    pub fn id(&self, n: NodeIdx) -> u32 {
        self.node_id[n.idx()]
    }

    /// Shallow size as written in the snapshot (before DevTools' ownership transfer).
    #[inline]
    pub fn self_size(&self, n: NodeIdx) -> u64 {
        u64::from(self.self_size[n.idx()])
    }

    pub fn self_sizes(&self) -> &[u32] {
        &self.self_size
    }

    pub fn trace_node_id(&self, n: NodeIdx) -> u32 {
        self.trace_node_id.get(n.idx()).copied().unwrap_or(0)
    }

    /// DOM link state (0 unknown, 1 attached, 2 detached).
    pub fn detachedness(&self, n: NodeIdx) -> u8 {
        self.detachedness.get(n.idx()).copied().unwrap_or(0)
    }

    #[inline]
    pub fn edges(&self, n: NodeIdx) -> std::ops::Range<u32> {
        self.first_edge[n.idx()]..self.first_edge[n.idx() + 1]
    }

    pub fn edge_indices(&self, n: NodeIdx) -> impl Iterator<Item = EdgeIdx> + use<> {
        self.edges(n).map(EdgeIdx)
    }

    pub fn edge_count_of(&self, n: NodeIdx) -> usize {
        let r = self.edges(n);
        (r.end - r.start) as usize
    }

    #[inline]
    pub fn edge_kind(&self, e: EdgeIdx) -> EdgeKind {
        self.edge_kind_of[self.edge_raw_type(e) as usize]
    }

    #[inline]
    pub fn edge_raw_type(&self, e: EdgeIdx) -> u8 {
        match self.edge_type_shift {
            Some(shift) => (self.edge_name[e.idx()] >> shift) as u8,
            None => self.edge_type[e.idx()],
        }
    }

    pub fn edge_type_name(&self, e: EdgeIdx) -> &str {
        &self.header.edge_type_names[self.edge_raw_type(e) as usize]
    }

    #[inline]
    pub fn edge_target(&self, e: EdgeIdx) -> NodeIdx {
        self.edge_to[e.idx()]
    }

    /// The raw `name_or_index` value: a string index, or an element/hidden index.
    #[inline]
    pub fn edge_name_or_index(&self, e: EdgeIdx) -> u32 {
        match self.edge_type_shift {
            Some(shift) => self.edge_name[e.idx()] & ((1 << shift) - 1),
            None => self.edge_name[e.idx()],
        }
    }

    /// The string name of an edge, if it has one (element and hidden edges have indexes).
    #[inline]
    pub fn edge_name_str(&self, e: EdgeIdx) -> Option<&str> {
        if self.edge_kind(e).has_index_name() {
            None
        } else {
            Some(self.strings.get(StrIdx(self.edge_name_or_index(e))))
        }
    }

    /// The edge name as DevTools shows it (index edges as decimal numbers).
    pub fn edge_name(&self, e: EdgeIdx) -> std::borrow::Cow<'_, str> {
        match self.edge_name_str(e) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.edge_name_or_index(e).to_string()),
        }
    }

    /// The node an edge starts from (a binary search over the edge ranges).
    pub fn edge_source(&self, e: EdgeIdx) -> NodeIdx {
        NodeIdx(self.first_edge.partition_point(|&f| f <= e.0) as u32 - 1)
    }

    pub fn strings(&self) -> &StringTable {
        &self.strings
    }

    pub fn string(&self, i: StrIdx) -> &str {
        self.strings.get(i)
    }

    pub fn locations(&self) -> &[Location] {
        &self.locations
    }

    /// The source location recorded for a node, if any.
    pub fn location(&self, n: NodeIdx) -> Option<Location> {
        self.locations
            .binary_search_by_key(&n, |l| l.node)
            .ok()
            .map(|i| self.locations[i])
    }

    pub fn trace_function_infos(&self) -> &[u32] {
        &self.trace_function_infos
    }

    pub fn trace_tree(&self) -> &[TraceNode] {
        &self.trace_tree
    }

    pub fn samples(&self) -> &[(u64, u64)] {
        &self.samples
    }

    /// Raw type index of a node type by name, if the snapshot declares it.
    pub fn node_type_index(&self, name: &str) -> Option<u8> {
        self.header
            .node_type_names
            .iter()
            .position(|t| t == name)
            .map(|p| p as u8)
    }

    /// Approximate bytes of memory the graph holds.
    pub fn heap_bytes(&self) -> usize {
        let n = self.node_count();
        let e = self.edge_count();
        n * (1 + 4 + 4 + 4 + 4)
            + (self.trace_node_id.len() * 4 + self.detachedness.len())
            + e * (4 + 4)
            + self.strings.heap_bytes()
            + self.locations.len() * std::mem::size_of::<Location>()
            + self.trace_function_infos.len() * 4
            + self.trace_tree.len() * std::mem::size_of::<TraceNode>()
    }
}
