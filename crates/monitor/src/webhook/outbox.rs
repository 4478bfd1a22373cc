//! The bounded queue between the alerts and the network: pushing never
//! waits; when the queue is full the oldest delivery is dropped (counted
//! and logged); one worker task delivers in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::sync::{Notify, watch};

use super::Webhook;
use crate::metrics::WebhookCounts;

/// A body to post, and the alert it tells of (for the log).
#[derive(Debug, Clone)]
pub struct Job {
    pub what: String,
    pub body: Bytes,
}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    wake: Notify,
    /// Jobs queued or being delivered.
    pending: watch::Sender<usize>,
    closed: AtomicBool,
    capacity: usize,
    counts: WebhookCounts,
}

/// The webhook's outbox; dropping it lets the worker finish the queue and stop.
pub struct Outbox {
    shared: Arc<Shared>,
}

impl Outbox {
    /// Starts the worker (on the current tokio runtime).
    pub fn start(webhook: Arc<Webhook>, capacity: usize, counts: WebhookCounts) -> Outbox {
        for r in ["delivered", "failed", "dropped"] {
            counts.add(r, 0);
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            pending: watch::channel(0).0,
            closed: AtomicBool::new(false),
            capacity: capacity.max(1),
            counts,
        });
        tokio::spawn(work(webhook, shared.clone()));
        Outbox { shared }
    }

    /// Queues a delivery; never waits.
    pub fn push(&self, job: Job) {
        let s = &self.shared;
        let dropped = {
            let mut q = s.queue.lock().expect("outbox lock");
            let dropped = (q.len() >= s.capacity).then(|| q.pop_front()).flatten();
            q.push_back(job);
            dropped
        };
        match dropped {
            Some(old) => {
                s.counts.add("dropped", 1);
                tracing::warn!(
                    "{}: webhook not sent: {} deliveries already waiting (the oldest is dropped)",
                    old.what,
                    s.capacity
                );
            }
            None => s.pending.send_modify(|n| *n += 1),
        }
        s.wake.notify_one();
    }

    /// Waits until every queued delivery is done, at most `within`; false
    /// if some are left.
    pub async fn flush(&self, within: Duration) -> bool {
        let mut rx = self.shared.pending.subscribe();
        tokio::time::timeout(within, rx.wait_for(|&n| n == 0))
            .await
            .is_ok()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

async fn work(webhook: Arc<Webhook>, s: Arc<Shared>) {
    loop {
        let job = s.queue.lock().expect("outbox lock").pop_front();
        let Some(job) = job else {
            if s.closed.load(Ordering::Acquire) {
                return;
            }
            s.wake.notified().await;
            continue;
        };
        let d = webhook.deliver(job.body, &job.what).await;
        match d.outcome {
            Ok(status) => {
                s.counts.add("delivered", 1);
                let tries = if d.attempts > 1 {
                    format!(", attempt {}", d.attempts)
                } else {
                    String::new()
                };
                tracing::info!(
                    "{}: webhook {} delivered (HTTP {status}{tries})",
                    job.what,
                    webhook.redacted_url()
                );
            }
            Err(e) => {
                s.counts.add("failed", 1);
                tracing::warn!("{}: {e}", job.what);
            }
        }
        s.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}
