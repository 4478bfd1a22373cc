//! Taking heap snapshots over the inspector, streamed chunk by chunk.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cdp::Session;
use crate::error::{Error, Result};

/// Options for `HeapProfiler.takeHeapSnapshot`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotOptions {
    /// Expose V8 internals (no user roots; DevTools then skips shallow-size transfer).
    pub expose_internals: bool,
    /// Record numeric values of heap numbers.
    pub capture_numeric_value: bool,
    /// Leave the heap profiler enabled afterwards. Object ids then stay stable
    /// between snapshots, but the target's GC stays much slower (about 10×)
    /// until the session closes.
    pub keep_profiler_enabled: bool,
}

/// What a capture produced.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotStats {
    pub bytes: u64,
    pub chunks: u64,
    pub elapsed: Duration,
    /// The snapshot shows the program between two tasks of its event loop
    /// (false when the loop stayed busy for [`BOUNDARY_WAIT`] and the
    /// snapshot was taken wherever the program was).
    pub between_tasks: bool,
}

/// How long a capture waits for the target's event loop to reach the end of
/// its current task before it takes the snapshot anyway.
pub const BOUNDARY_WAIT: Duration = Duration::from_secs(5);

/// Name of the function the target pauses in (see [`pause_between_tasks`]).
const BOUNDARY_FUNCTION: &str = "__leakhoundSnapshotPoint";

/// Heap size figures used to warn before a large capture.
#[derive(Debug, Clone, Copy)]
pub struct HeapEstimate {
    pub heap_used: u64,
    /// Rough number of heap objects (about 50 bytes per object on typical Node heaps).
    pub estimated_nodes: u64,
    /// Extra memory the target needs while V8 writes the snapshot (≈ 265 bytes per object).
    pub extra_target_memory: u64,
}

/// Asks the target how big its heap is, to estimate the cost of a snapshot.
pub async fn estimate(session: &Session) -> Result<HeapEstimate> {
    let v = session
        .evaluate("process.memoryUsage().heapUsed", Duration::from_secs(10))
        .await?;
    let heap_used = v.as_f64().unwrap_or(0.0) as u64;
    let estimated_nodes = heap_used / 50;
    Ok(HeapEstimate {
        heap_used,
        estimated_nodes,
        extra_target_memory: estimated_nodes * 265,
    })
}

/// Takes a heap snapshot. `on_chunk` receives the snapshot text in order;
/// `on_progress` receives (objects done, objects total) while V8 walks the heap.
///
/// If `on_chunk` fails (disk full, parse error), the capture is abandoned and
/// its error returned; if the target dies, [`Error::Closed`] is returned.
///
/// The snapshot is taken between two tasks of the target's event loop (see
/// [`pause_between_tasks`]), so that no function of the program is halfway
/// through its work in it.
pub async fn take_heap_snapshot<E>(
    session: &Session,
    opts: SnapshotOptions,
    on_chunk: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    on_progress: impl FnMut(u64, u64),
) -> Result<std::result::Result<SnapshotStats, E>> {
    let start = Instant::now();
    let between_tasks = pause_between_tasks(session, BOUNDARY_WAIT).await?;
    let result = stream_snapshot(session, opts, on_chunk, on_progress).await;
    if between_tasks {
        // Best effort: if the session is gone, V8 resumes the target itself.
        let _ = session.call("Debugger.resume", json!({})).await;
        let _ = session.call("Debugger.disable", json!({})).await;
    }
    let (bytes, chunks) = match result? {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    if !opts.keep_profiler_enabled {
        session.call("HeapProfiler.disable", json!({})).await?;
    }
    Ok(Ok(SnapshotStats {
        bytes,
        chunks,
        elapsed: start.elapsed(),
        between_tasks,
    }))
}

/// Pauses the target at the end of its current event-loop task and returns
/// true, or returns false when it did not get there within `wait`.
///
/// The inspector serves a command as soon as the program checks for
/// interrupts, which may be in the middle of a task: a timer callback that
/// moved a queue into a local array to retry its items is then caught with
/// half the queue on its stack, and a growing queue seems to shrink. So the
/// snapshot point is a `setImmediate` callback that stops in the debugger:
/// it runs after the current task and its microtasks, and while the target
/// is paused there the inspector still serves `HeapProfiler` commands.
/// Pauses that are not ours (a `debugger` statement in the program, which
/// only stops while a debugger is enabled) are resumed.
async fn pause_between_tasks(session: &Session, wait: Duration) -> Result<bool> {
    let mut paused = session.subscribe("Debugger.paused");
    session.call("Debugger.enable", json!({})).await?;
    let expr = format!("setImmediate(function {BOUNDARY_FUNCTION}() {{ debugger; }}), undefined");
    match session.evaluate(&expr, Duration::from_secs(10)).await {
        Ok(_) => {}
        // Not a Node.js main thread (no setImmediate): snapshot at once.
        Err(Error::Protocol { .. }) => {
            session.call("Debugger.disable", json!({})).await?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ev = match tokio::time::timeout_at(deadline, paused.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                return Err(Error::Closed {
                    target: session.target().to_owned(),
                });
            }
            Err(_) => {
                // With the debugger off, the callback's `debugger` statement
                // does nothing when it runs later.
                session.call("Debugger.disable", json!({})).await?;
                return Ok(false);
            }
        };
        let top = ev
            .params
            .pointer("/callFrames/0/functionName")
            .and_then(Value::as_str);
        if top == Some(BOUNDARY_FUNCTION) {
            return Ok(true);
        }
        session.call("Debugger.resume", json!({})).await?;
    }
}

/// Streams a snapshot through `on_chunk`: (bytes, chunks).
async fn stream_snapshot<E>(
    session: &Session,
    opts: SnapshotOptions,
    mut on_chunk: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<std::result::Result<(u64, u64), E>> {
    let mut events = session.subscribe("HeapProfiler.");
    session.call("HeapProfiler.enable", json!({})).await?;
    let mut reply = session.send(
        "HeapProfiler.takeHeapSnapshot",
        json!({
            "reportProgress": true,
            "exposeInternals": opts.expose_internals,
            "captureNumericValue": opts.capture_numeric_value,
        }),
    )?;
    let mut bytes = 0u64;
    let mut chunks = 0u64;
    let mut handle = |ev: crate::cdp::Event, bytes: &mut u64, chunks: &mut u64| -> Option<E> {
        match ev.method.as_str() {
            "HeapProfiler.addHeapSnapshotChunk" => {
                if let Some(chunk) = ev.params.get("chunk").and_then(Value::as_str) {
                    *bytes += chunk.len() as u64;
                    *chunks += 1;
                    if let Err(e) = on_chunk(chunk.as_bytes()) {
                        return Some(e);
                    }
                }
            }
            "HeapProfiler.reportHeapSnapshotProgress" => {
                let done = ev.params.get("done").and_then(Value::as_u64).unwrap_or(0);
                let total = ev.params.get("total").and_then(Value::as_u64).unwrap_or(0);
                on_progress(done, total);
            }
            _ => {}
        }
        None
    };
    let result = loop {
        tokio::select! {
            biased;
            ev = events.recv() => match ev {
                Some(ev) => {
                    if let Some(e) = handle(ev, &mut bytes, &mut chunks) {
                        return Ok(Err(e));
                    }
                }
                None => return Err(Error::Closed { target: session.target().to_owned() }),
            },
            r = &mut reply => break r,
        }
    };
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(message)) => {
            return Err(Error::Protocol {
                target: session.target().to_owned(),
                method: "HeapProfiler.takeHeapSnapshot".into(),
                message,
            });
        }
        Err(_) => {
            return Err(Error::Closed {
                target: session.target().to_owned(),
            });
        }
    }
    // Chunks are sent before the reply, so they are all queued by now.
    while let Ok(ev) = events.try_recv() {
        if let Some(e) = handle(ev, &mut bytes, &mut chunks) {
            return Ok(Err(e));
        }
    }
    Ok(Ok((bytes, chunks)))
}

/// Asks V8 for a full garbage collection.
pub async fn collect_garbage(session: &Session) -> Result<()> {
    session
        .call("HeapProfiler.collectGarbage", json!({}))
        .await
        .map(|_| ())
}

/// Starts V8's allocation tracking (`HeapProfiler.startTrackingHeapObjects`
/// with `trackAllocations`): from then on every allocation records its
/// JavaScript stack, and snapshots carry the trace tree
/// (`trace_function_infos`, `trace_tree`) and each object's `trace_node_id`.
/// Objects allocated before have no stack. Object ids stay stable as with
/// the profiler merely enabled. It costs the target: allocations leave the
/// inline fast path, and while tracking the inspector also updates heap
/// statistics on a timer (a full GC each time). It lasts until
/// [`stop_heap_profiler`] or the end of the session.
pub async fn start_allocation_tracking(session: &Session) -> Result<()> {
    session.call("HeapProfiler.enable", json!({})).await?;
    session
        .call(
            "HeapProfiler.startTrackingHeapObjects",
            json!({ "trackAllocations": true }),
        )
        .await?;
    Ok(())
}

/// Turns V8's heap compaction off (`false`) or back on (`true`) in the
/// target, through `v8.setFlagsFromString`. V8 moves an object's allocation
/// trace along with it only while the object has no id yet (heap snapshots
/// and the tracking timer give every live object one), so objects that
/// compaction moves after that lose their trace, and can pick up the stale
/// trace of whatever lived at their new address. Without compaction, every
/// object keeps its own trace (checked with Node 20, 22, 24 and 26), at the
/// price of a more fragmented old generation.
pub async fn set_compaction(session: &Session, on: bool) -> Result<()> {
    let flag = if on { "--compact" } else { "--no-compact" };
    // `require` comes with the inspector's command line API; newer Node
    // versions also have process.getBuiltinModule.
    let expr = format!(
        "(() => {{ const v8 = typeof require === 'function' ? require('v8') : process.getBuiltinModule('v8'); v8.setFlagsFromString('{flag}'); return true; }})()"
    );
    session
        .evaluate(&expr, Duration::from_secs(10))
        .await
        .map(|_| ())
}

/// Turns the heap profiler off (`HeapProfiler.disable`), which also stops
/// allocation tracking and forgets object ids. (`stopTrackingHeapObjects`
/// would first stream a whole snapshot nobody asked for.)
pub async fn stop_heap_profiler(session: &Session, timeout: Duration) -> Result<()> {
    session
        .call_timeout("HeapProfiler.disable", json!({}), Some(timeout))
        .await
        .map(|_| ())
}
