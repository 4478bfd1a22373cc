//! The sampling heap profiler: where live memory was allocated.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cdp::Session;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallFrame {
    pub function_name: String,
    pub script_id: String,
    pub url: String,
    /// Zero-based.
    pub line_number: i64,
    /// Zero-based.
    pub column_number: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileNode {
    pub call_frame: CallFrame,
    pub self_size: f64,
    pub id: u64,
    #[serde(default)]
    pub children: Vec<ProfileNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub size: f64,
    pub node_id: u64,
    pub ordinal: f64,
}

/// `HeapProfiler.SamplingHeapProfile`; its JSON is a `.heapprofile` DevTools opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplingProfile {
    pub head: ProfileNode,
    #[serde(default)]
    pub samples: Vec<Sample>,
}

/// Live bytes allocated at one source position (summed over call paths).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AllocationSite {
    pub function: String,
    pub url: String,
    /// One-based, as editors show it (0 when unknown).
    pub line: i64,
    pub column: i64,
    pub bytes: u64,
    /// Share of all sampled live bytes, 0..1.
    pub share: f64,
}

impl SamplingProfile {
    /// Allocation sites by live bytes, biggest first.
    pub fn top_sites(&self) -> Vec<AllocationSite> {
        let mut by_site: HashMap<(String, String, i64, i64), u64> = HashMap::new();
        let mut total = 0u64;
        let mut stack = vec![&self.head];
        while let Some(n) = stack.pop() {
            let bytes = n.self_size.max(0.0) as u64;
            if bytes > 0 {
                let f = &n.call_frame;
                let name = if f.function_name.is_empty() {
                    "(anonymous)".to_owned()
                } else {
                    f.function_name.clone()
                };
                *by_site
                    .entry((name, f.url.clone(), f.line_number, f.column_number))
                    .or_default() += bytes;
                total += bytes;
            }
            stack.extend(n.children.iter());
        }
        let mut sites: Vec<AllocationSite> = by_site
            .into_iter()
            .map(|((function, url, line, column), bytes)| AllocationSite {
                function,
                url,
                line: if line >= 0 { line + 1 } else { 0 },
                column: if column >= 0 { column + 1 } else { 0 },
                bytes,
                share: if total > 0 {
                    bytes as f64 / total as f64
                } else {
                    0.0
                },
            })
            .collect();
        sites.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.function.cmp(&b.function))
        });
        sites
    }

    pub fn total_bytes(&self) -> u64 {
        let mut total = 0u64;
        let mut stack = vec![&self.head];
        while let Some(n) = stack.pop() {
            total += n.self_size.max(0.0) as u64;
            stack.extend(n.children.iter());
        }
        total
    }
}

/// Starts the sampling heap profiler (live objects only) and leaves it running;
/// [`read_sampling`] reads it, [`stop_sampling`] stops it. V8 also stops it when
/// the session closes.
pub async fn start_sampling(session: &Session, interval_bytes: u64) -> Result<()> {
    session.call("HeapProfiler.enable", json!({})).await?;
    session
        .call(
            "HeapProfiler.startSampling",
            json!({
                "samplingInterval": interval_bytes as f64,
                "includeObjectsCollectedByMajorGC": false,
                "includeObjectsCollectedByMinorGC": false,
            }),
        )
        .await?;
    Ok(())
}

/// What the running sampling profiler holds now (objects still alive), without stopping it.
pub async fn read_sampling(session: &Session) -> Result<SamplingProfile> {
    let r = session
        .call("HeapProfiler.getSamplingProfile", json!({}))
        .await?;
    parse_profile(session, r)
}

/// Stops the sampling profiler [`start_sampling`] started and disables the heap profiler.
pub async fn stop_sampling(session: &Session) -> Result<()> {
    session.call("HeapProfiler.stopSampling", json!({})).await?;
    session.call("HeapProfiler.disable", json!({})).await?;
    Ok(())
}

fn parse_profile(session: &Session, r: serde_json::Value) -> Result<SamplingProfile> {
    let profile = r.get("profile").cloned().unwrap_or(r);
    serde_json::from_value(profile).map_err(|e| Error::BadMessage {
        target: session.target().to_owned(),
        message: format!("sampling profile: {e}"),
    })
}

/// Runs the sampling heap profiler for `duration` and returns what is still live.
pub async fn sample_heap(
    session: &Session,
    duration: Duration,
    interval_bytes: u64,
) -> Result<SamplingProfile> {
    start_sampling(session, interval_bytes).await?;
    let mut closed = session.subscribe("Inspector.");
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = async { while closed.recv().await.is_some() {} } => {
            return Err(Error::Closed { target: session.target().to_owned() });
        }
    }
    let r = session.call("HeapProfiler.stopSampling", json!({})).await?;
    let _ = session.call("HeapProfiler.disable", json!({})).await;
    parse_profile(session, r)
}
