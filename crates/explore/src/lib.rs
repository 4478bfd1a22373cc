//! The snapshot explorer: what `leakhound explore` serves and `leakhound
//! inspect` prints.
//!
//! Its vocabulary: a [`Workspace`] of loaded files (heap snapshots with their
//! analysis, sampling heap profiles); *object references* ([`ObjectRef`]),
//! the one way any view names an object (by V8 id, within a snapshot);
//! *views* built from them — the object view ([`object_view`], the same
//! function for the web UI and for `inspect`), the Summary, the dominator
//! tree, the Comparison, the allocation profile; and *pages*
//! ([`Page`]): every list is cut into pages, never sent whole.
//!
//! The server ([`server`]) binds where it is told (the binary refuses
//! non-loopback addresses without `--allow-remote`), requires a random
//! token as the first path segment of every request, and serves the UI from
//! assets embedded in the binary. Nothing here prints.

mod error;
mod object;
pub mod profile;
mod retainers;
pub mod server;
mod views;
mod workspace;

pub use error::Error;
pub use object::{
    AllocationFrame, DominatorStep, EdgeRow, ObjectRef, ObjectView, ReadableHop, ReadableView,
    RetainerRow, SourcePosition, ViewOptions, edges_page, object_view, retainers_tree,
};
pub use retainers::{Retainer, retainers_in_devtools_order};
pub use views::{
    ClassRow, Page, SummaryQuery, comparison, comparison_objects, dominated, instances, summary,
};
pub use workspace::{Heap, Item, Workspace};
