//! Reading snapshot files: memory-mapped, fed to the push parser in chunks.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, bail};
use heapsnap::HeapGraph;

use crate::progress::Progress;

/// Bytes fed to the parser per step.
const CHUNK: usize = 8 << 20;

/// Parses a finished `.heapsnapshot` file.
///
/// The file is memory-mapped and fed to the parser in chunks (the edges array
/// on a second thread); pages already parsed are released so the file text
/// never sits in memory as a whole.
pub fn load_snapshot(path: &Path, progress: &Progress) -> Result<HeapGraph> {
    let shown = path.display();
    let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("{shown}: cannot read metadata"))?;
    if meta.is_dir() {
        bail!("{shown}: is a directory, not a heap snapshot");
    }
    let len = meta.len();
    if len == 0 {
        bail!("{shown}: empty file, not a heap snapshot");
    }
    // SAFETY: the mapping is read-only and private; the file is a finished
    // snapshot (capture writes to a temporary name and renames when complete).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("{shown}: cannot map into memory"))?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let bar = progress.bytes(len, &format!("parsing {}", file_name(path)));
    // The edges array is parsed on a second thread; each parsed range is
    // released and counted as soon as it is done.
    let graph = heapsnap::parse_parallel(
        &map,
        CHUNK,
        &|range: std::ops::Range<usize>| release(&map, range.start, range.end),
        &|n| bar.inc(n as u64),
    )
    .map_err(|e| anyhow::anyhow!("{shown}: {e}"));
    bar.finish_and_clear();
    graph
}

/// Drops already-parsed pages of the mapping from memory.
fn release(map: &memmap2::Mmap, start: usize, end: usize) {
    let page = 4096;
    // Only whole pages inside the range: the pages at its ends may still be
    // read by the other thread.
    let start = start.div_ceil(page) * page;
    let end = end / page * page;
    if end > start {
        // SAFETY: no reference into [start, end) outlives this call: the parser
        // copies everything it keeps. For a private read-only file mapping,
        // DONTNEED only discards the cached pages; they would be re-read from
        // the file if touched again.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
