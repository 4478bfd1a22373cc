//! Watching live Node.js services over the V8 inspector.
//!
//! * [`probe`]: what runs in the target (one `Runtime.evaluate` per sample).
//! * [`sampler`]: a task per target; reconnects with backoff.
//! * [`trend`](::trend) over post-GC heap floors, [`alerts`] rules with `for`
//!   durations, [`actions`] (log, webhook, heap snapshot, command).
//! * [`webhook`]: http/https deliveries off the sampling loop (bounded
//!   outbox, retries, rustls).
//! * [`store`]: SQLite history; [`server`]: `/metrics` and `/health`.

pub mod actions;
pub mod alerts;
pub mod config;
mod error;
pub mod metrics;
pub mod probe;
pub mod profiles;
pub mod sampler;
pub mod server;
pub mod sites;
pub mod store;
pub mod time;
pub mod webhook;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use config::Config;
pub use error::{Error, Result};
pub use sampler::{AllocationSettings, Source, TargetDef, TrendSettings};

/// What `/health` reports about a target.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TargetStatus {
    pub up: bool,
    pub pid: Option<u32>,
    pub last_sample: Option<String>,
    pub error: Option<String>,
    pub firing: Vec<String>,
    pub heap_used_bytes: Option<f64>,
    pub heap_limit_bytes: Option<f64>,
    pub growth_mb_per_min: Option<f64>,
    pub trend_significant: Option<bool>,
    pub time_to_limit_seconds: Option<f64>,
    /// Allocation sites whose live bytes grow, fastest first (with the
    /// allocation-site trend on; empty until a site grows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_sites: Option<Vec<sites::GrowingSite>>,
    /// Major GCs seen within the trend span while sampling: a site's growth
    /// counts only once it outlived major GCs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_full_gcs: Option<usize>,
}

/// The latest read of a target's sampling heap profile.
pub struct LatestProfile {
    pub profile: inspector::profile::SamplingProfile,
    /// Average bytes between samples.
    pub interval: u64,
    /// When sampling started and when this read was taken.
    pub started: std::time::SystemTime,
    pub taken: std::time::SystemTime,
}

impl LatestProfile {
    /// Gzipped pprof (`space/bytes` and `objects/count` of live objects).
    pub fn to_pprof(&self) -> Vec<u8> {
        let span = self.taken.duration_since(self.started).unwrap_or_default();
        self.profile.to_pprof(self.interval, self.started, span)
    }
}

/// State shared by the samplers and the server.
#[derive(Default)]
pub struct Shared {
    pub metrics: metrics::Metrics,
    pub status: Mutex<BTreeMap<String, TargetStatus>>,
    /// Per target, the latest allocation profile (`watch --alloc-sites`).
    pub profiles: Mutex<BTreeMap<String, Arc<LatestProfile>>>,
}

/// Everything a watcher needs.
pub struct WatchOptions {
    pub targets: Vec<TargetDef>,
    /// Rules and actions come from here.
    pub config: Config,
    pub trend: TrendSettings,
    /// The allocation-site trend; `None`: off.
    pub allocation: Option<AllocationSettings>,
    /// Server address; `None`: no server.
    pub listen: Option<String>,
    pub bearer_token: Option<String>,
    /// History database; `None`: no history.
    pub history: Option<PathBuf>,
    pub retention: Duration,
}

/// A watcher whose server socket and history are open, ready to run.
pub struct Watcher {
    opts: WatchOptions,
    shared: Arc<Shared>,
    listener: Option<tokio::net::TcpListener>,
    writer: Option<store::Writer>,
    actions: Arc<actions::Actions>,
}

impl Watcher {
    /// Opens the history and binds the server (so errors show before anything runs).
    pub async fn start(opts: WatchOptions) -> Result<Watcher> {
        if opts.targets.is_empty() {
            return Err(Error::Invalid("no target to watch".into()));
        }
        let shared = Arc::new(Shared::default());
        let actions = Arc::new(actions::Actions::new(
            &opts.config.actions,
            shared.metrics.webhook.clone(),
        )?);
        let writer = match &opts.history {
            Some(p) => Some(store::Writer::start(
                {
                    let s = store::Store::open(p)?;
                    let window = opts.trend.window.as_millis().to_string();
                    s.set_setting(store::TREND_WINDOW_MS, &window)?;
                    s
                },
                opts.retention,
                shared.metrics.history_errors.clone(),
            )),
            None => None,
        };
        let listener = match &opts.listen {
            Some(a) => Some(server::bind(a).await?),
            None => None,
        };
        Ok(Watcher {
            opts,
            shared,
            listener,
            writer,
            actions,
        })
    }

    /// The server's address, once bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Watches until `shutdown` completes, then stops the samplers (removing
    /// the probe from each target), the server, and flushes the history.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let rules: Vec<alerts::Rule> = self
            .opts
            .config
            .effective_rules()
            .iter()
            .map(|r| alerts::Rule::from_config(r, self.opts.config.actions_of(r)))
            .collect();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ctx = Arc::new(sampler::Ctx {
            shared: self.shared.clone(),
            rules,
            actions: self.actions.clone(),
            history: self.writer.as_ref().map(|w| w.handle()),
            trend: self.opts.trend,
            allocation: self.opts.allocation.clone(),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for def in self.opts.targets.drain(..) {
            tasks.spawn(sampler::run_target(def, ctx.clone(), stop_rx.clone()));
        }
        drop(ctx);
        let server = self.listener.take().map(|l| {
            let mut rx = stop_rx.clone();
            let stopped = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            tokio::spawn(server::serve(
                l,
                self.shared.clone(),
                self.opts.bearer_token.clone(),
                stopped,
            ))
        });
        shutdown.await;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tasks.abort_all();
        }
        while tasks.join_next().await.is_some() {}
        // Alerts already raised still go out (a firing alert queued just
        // before the stop), within a bound.
        self.actions.flush(Duration::from_secs(5)).await;
        let server_result = match server {
            Some(h) => match tokio::time::timeout(Duration::from_secs(5), h).await {
                Ok(Ok(r)) => r,
                _ => Ok(()),
            },
            None => Ok(()),
        };
        if let Some(w) = self.writer.take() {
            tokio::task::spawn_blocking(move || w.finish())
                .await
                .map_err(|e| Error::Io {
                    what: "history".into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        server_result
    }
}
