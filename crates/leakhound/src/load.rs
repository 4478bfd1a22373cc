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
    if path.as_os_str() == "-" {
        return load_stream(path, std::io::stdin().lock(), progress);
    }
    // Not opened yet: opening a FIFO blocks until a writer comes.
    let kind = std::fs::metadata(path).with_context(|| format!("{shown}: cannot open"))?;
    if !kind.is_file() && !kind.is_dir() {
        return load_stream(path, open_stream(path)?, progress);
    }
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

/// Opens a pipe, FIFO or device without waiting for a writer: a FIFO that
/// nobody writes to reads as empty at once instead of hanging.
fn open_stream(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("{shown}: cannot open"))?;
    // Blocking again for the reads: a slow writer is waited for, not an error.
    // SAFETY: fcntl on a descriptor this function owns.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// Reads a whole text file (a saved JSON report); a pipe, FIFO or
/// standard input (`-`) is read as a stream without waiting for a writer.
pub fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let shown = path.display();
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_string(&mut text)
    } else {
        let kind = std::fs::metadata(path).with_context(|| format!("{shown}: cannot read"))?;
        if kind.is_dir() {
            bail!("{shown}: is a directory");
        }
        let mut f = if kind.is_file() {
            File::open(path).with_context(|| format!("{shown}: cannot read"))?
        } else {
            open_stream(path)?
        };
        f.read_to_string(&mut text)
    };
    read.with_context(|| format!("{shown}: cannot read"))?;
    Ok(text)
}

/// Parses a snapshot read as a stream (standard input, a pipe, a FIFO,
/// process substitution, a device) through the push parser, chunk by chunk.
fn load_stream(
    path: &Path,
    mut input: impl std::io::Read,
    progress: &Progress,
) -> Result<HeapGraph> {
    let shown = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let spinner = progress.spinner(&format!("parsing {shown}"));
    let mut parser = heapsnap::Parser::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("{shown}: cannot read")),
        };
        total += n as u64;
        parser
            .feed(&buf[..n])
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    }
    spinner.finish_and_clear();
    if total == 0 {
        bail!("{shown}: no data (nothing was written to it), not a heap snapshot");
    }
    parser.finish().map_err(|e| anyhow::anyhow!("{shown}: {e}"))
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
