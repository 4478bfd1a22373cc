//! The `snapshot` header: field layout and type names, parsed with serde.

use serde::Deserialize;

use crate::error::ErrorKind;

#[derive(Debug, Clone, Deserialize)]
pub struct RawHeader {
    pub meta: RawMeta,
    pub node_count: u64,
    pub edge_count: u64,
    #[serde(default)]
    pub trace_function_count: u64,
    #[serde(default)]
    pub root_index: Option<u64>,
    #[serde(default)]
    pub extra_native_bytes: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawMeta {
    pub node_fields: Vec<String>,
    pub node_types: Vec<serde_json::Value>,
    pub edge_fields: Vec<String>,
    pub edge_types: Vec<serde_json::Value>,
    #[serde(default)]
    pub trace_function_info_fields: Vec<String>,
    #[serde(default)]
    pub trace_node_fields: Vec<String>,
    #[serde(default)]
    pub sample_fields: Vec<String>,
    #[serde(default)]
    pub location_fields: Vec<String>,
}

/// Field layout of the flat arrays, resolved by field name (never by position).
#[derive(Debug, Clone)]
pub struct Layout {
    pub node_field_count: usize,
    pub node_type: usize,
    pub node_name: usize,
    pub node_id: usize,
    pub node_self_size: usize,
    pub node_edge_count: usize,
    pub node_trace_node_id: Option<usize>,
    pub node_detachedness: Option<usize>,
    pub edge_field_count: usize,
    pub edge_type: usize,
    pub edge_name: usize,
    pub edge_to_node: usize,
    pub location_field_count: usize,
    pub location_object_index: Option<usize>,
    pub location_script_id: Option<usize>,
    pub location_line: Option<usize>,
    pub location_column: Option<usize>,
    pub trace_function_info_field_count: usize,
    /// Values of a `trace_tree` node before its `children` list (V8 writes
    /// `id, function_info_index, count, size, children`), and where each is.
    pub trace_tree_value_count: usize,
    pub trace_tree_id: usize,
    pub trace_tree_function_info_index: usize,
    pub trace_tree_count: Option<usize>,
    pub trace_tree_size: Option<usize>,
    pub sample_field_count: usize,
}

/// Everything the header says about the snapshot, in usable form.
#[derive(Debug, Clone)]
pub struct Header {
    pub layout: Layout,
    pub node_type_names: Vec<String>,
    pub edge_type_names: Vec<String>,
    pub node_count: u64,
    pub edge_count: u64,
    pub trace_function_count: u64,
    pub root_index: u64,
    pub extra_native_bytes: f64,
    pub trace_function_info_fields: Vec<String>,
    pub trace_node_fields: Vec<String>,
    pub sample_fields: Vec<String>,
}

fn position(fields: &[String], name: &str) -> Option<usize> {
    fields.iter().position(|f| f == name)
}

fn required(fields: &[String], name: &'static str, list: &str) -> Result<usize, ErrorKind> {
    position(fields, name)
        .ok_or_else(|| ErrorKind::BadHeader(format!("{list} has no \"{name}\" field")))
}

fn type_names(
    types: &[serde_json::Value],
    at: usize,
    what: &str,
) -> Result<Vec<String>, ErrorKind> {
    let list = types
        .get(at)
        .and_then(|v| v.as_array())
        .ok_or_else(|| ErrorKind::BadHeader(format!("{what} types are not a list of names")))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ErrorKind::BadHeader(format!("{what} type name is not a string")))
        })
        .collect()
}

/// Byte position in `bytes` of serde_json's one-based line and column, and
/// the error message without its "at line L column C" suffix.
fn locate(bytes: &[u8], e: &serde_json::Error) -> (ErrorKind, usize) {
    let text = e.to_string();
    let msg = match text.rfind(" at line ") {
        Some(p) => text[..p].to_owned(),
        None => text,
    };
    let mut line_start = 0;
    for _ in 1..e.line() {
        match memchr::memchr(b'\n', &bytes[line_start..]) {
            Some(p) => line_start += p + 1,
            None => break,
        }
    }
    let at = (line_start + e.column().saturating_sub(1)).min(bytes.len().saturating_sub(1));
    (ErrorKind::BadHeader(msg), at)
}

impl Header {
    pub fn from_json(bytes: &[u8]) -> Result<Header, ErrorKind> {
        Header::from_json_at(bytes).map_err(|(kind, _)| kind)
    }

    /// Like [`Header::from_json`], with the position in `bytes` the error refers to.
    pub(crate) fn from_json_at(bytes: &[u8]) -> Result<Header, (ErrorKind, usize)> {
        let raw: RawHeader = serde_json::from_slice(bytes).map_err(|e| locate(bytes, &e))?;
        Header::from_raw(raw).map_err(|kind| (kind, 0))
    }

    fn from_raw(raw: RawHeader) -> Result<Header, ErrorKind> {
        let m = &raw.meta;
        let nf = &m.node_fields;
        let ef = &m.edge_fields;
        let lf = &m.location_fields;
        let tf = &m.trace_node_fields;
        // The trace tree nests each node's children after its other values,
        // so "children" has to come last; V8's order when the list is absent.
        let (tree_values, tree_id, tree_function, tree_count, tree_size) = if tf.is_empty() {
            (4, 0, 1, Some(2), Some(3))
        } else {
            let children = required(tf, "children", "trace_node_fields")?;
            if children + 1 != tf.len() || tf.len() > 16 {
                return Err(ErrorKind::BadHeader(
                    "trace_node_fields must end with \"children\" (and have at most 16 fields)"
                        .into(),
                ));
            }
            (
                children,
                required(tf, "id", "trace_node_fields")?,
                required(tf, "function_info_index", "trace_node_fields")?,
                position(tf, "count"),
                position(tf, "size"),
            )
        };
        let layout = Layout {
            node_field_count: nf.len(),
            node_type: required(nf, "type", "node_fields")?,
            node_name: required(nf, "name", "node_fields")?,
            node_id: required(nf, "id", "node_fields")?,
            node_self_size: required(nf, "self_size", "node_fields")?,
            node_edge_count: required(nf, "edge_count", "node_fields")?,
            node_trace_node_id: position(nf, "trace_node_id"),
            node_detachedness: position(nf, "detachedness"),
            edge_field_count: ef.len(),
            edge_type: required(ef, "type", "edge_fields")?,
            edge_name: required(ef, "name_or_index", "edge_fields")?,
            edge_to_node: required(ef, "to_node", "edge_fields")?,
            location_field_count: lf.len(),
            location_object_index: position(lf, "object_index"),
            location_script_id: position(lf, "script_id"),
            location_line: position(lf, "line"),
            location_column: position(lf, "column"),
            trace_function_info_field_count: m.trace_function_info_fields.len(),
            trace_tree_value_count: tree_values,
            trace_tree_id: tree_id,
            trace_tree_function_info_index: tree_function,
            trace_tree_count: tree_count,
            trace_tree_size: tree_size,
            sample_field_count: m.sample_fields.len(),
        };
        if layout.node_field_count > 16 || layout.edge_field_count > 16 {
            return Err(ErrorKind::BadHeader("too many node or edge fields".into()));
        }
        let node_type_names = type_names(&m.node_types, layout.node_type, "node")?;
        let edge_type_names = type_names(&m.edge_types, layout.edge_type, "edge")?;
        if node_type_names.len() > 255 || edge_type_names.len() > 255 {
            return Err(ErrorKind::BadHeader("too many node or edge types".into()));
        }
        let root_index = raw.root_index.unwrap_or(0);
        if !root_index.is_multiple_of(layout.node_field_count as u64) {
            return Err(ErrorKind::BadHeader(format!(
                "root_index {root_index} is not a multiple of the node field count"
            )));
        }
        Ok(Header {
            node_type_names,
            edge_type_names,
            node_count: raw.node_count,
            edge_count: raw.edge_count,
            trace_function_count: raw.trace_function_count,
            root_index,
            extra_native_bytes: raw.extra_native_bytes.unwrap_or(0.0),
            trace_function_info_fields: raw.meta.trace_function_info_fields,
            trace_node_fields: raw.meta.trace_node_fields,
            sample_fields: raw.meta.sample_fields,
            layout,
        })
    }
}
