//! What happens when an alert fires or resolves: a log line, a webhook,
//! a heap snapshot, a command.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::alerts::{Status, Transition};
use crate::config::{ActionKind, ActionsConfig, WebhookConfig, WebhookFormat};
use crate::error::{Error, Result};
use crate::metrics::WebhookCounts;
use crate::time::rfc3339;
use crate::webhook::{Job, Outbox};

/// The JSON describing a transition (webhook body in `json` format, `LEAKHOUND_JSON`).
pub fn payload(t: &Transition, snapshot: Option<&Path>) -> Value {
    json!({
        "version": 1,
        "status": t.status.as_str(),
        "alert": t.rule,
        "target": t.target,
        "severity": t.severity,
        "summary": t.summary,
        "metric": t.metric.as_str(),
        "op": t.op.as_str(),
        "value": finite(t.value),
        "threshold": t.threshold,
        "startsAt": rfc3339(t.starts_at_ms),
        "endsAt": t.ends_at_ms.map(rfc3339),
        "snapshot": snapshot.map(|p| p.display().to_string()),
    })
}

fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// Alertmanager's `POST /api/v2/alerts` body.
pub fn alertmanager_payload(t: &Transition, snapshot: Option<&Path>) -> Value {
    let mut annotations = json!({
        "summary": t.summary,
        "description": format!(
            "{} on {}: {} = {} ({} {})",
            t.rule,
            t.target,
            t.metric.as_str(),
            fmt_value(t.value),
            t.op.as_str(),
            t.threshold
        ),
        "value": fmt_value(t.value),
    });
    if let Some(p) = snapshot {
        annotations["snapshot"] = json!(p.display().to_string());
    }
    let mut alert = json!({
        "labels": {
            "alertname": t.rule,
            "target": t.target,
            "severity": t.severity,
            "job": "leakhound",
        },
        "annotations": annotations,
        "startsAt": rfc3339(t.starts_at_ms),
    });
    if let Some(end) = t.ends_at_ms {
        alert["endsAt"] = json!(rfc3339(end));
    }
    json!([alert])
}

/// The one line a chat message says: `[FIRING] HeapNearLimit on api (critical): …`.
pub fn text_line(t: &Transition, snapshot: Option<&Path>) -> String {
    let mut line = match t.status {
        Status::Firing => format!(
            "[FIRING] {} on {} ({}): {} ({} = {}, threshold {} {})",
            t.rule,
            t.target,
            t.severity,
            t.summary,
            t.metric.as_str(),
            fmt_value(t.value),
            t.op.as_str(),
            t.threshold
        ),
        Status::Resolved => format!(
            "[RESOLVED] {} on {} (fired at {})",
            t.rule,
            t.target,
            rfc3339(t.starts_at_ms)
        ),
    };
    if let Some(p) = snapshot {
        line.push_str(&format!("; heap snapshot {}", p.display()));
    }
    line
}

/// A Slack incoming webhook's body (`text`, with Slack's `&`, `<`, `>` escaped).
pub fn slack_payload(t: &Transition, snapshot: Option<&Path>) -> Value {
    let text = text_line(t, snapshot)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    json!({ "text": text })
}

/// A PagerDuty Events API v2 event: one incident per target and rule
/// (`dedup_key`), resolved with the alert.
pub fn pagerduty_payload(t: &Transition, snapshot: Option<&Path>, routing_key: &str) -> Value {
    let dedup_key = format!("leakhound/{}/{}", t.target, t.rule);
    match t.status {
        Status::Resolved => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        Status::Firing => {
            let severity = match t.severity.as_str() {
                s @ ("critical" | "error" | "warning" | "info") => s,
                _ => "warning",
            };
            let summary: String = text_line(t, None).chars().take(1024).collect();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": summary,
                    "source": t.target,
                    "severity": severity,
                    "timestamp": rfc3339(t.starts_at_ms),
                    "component": "nodejs-heap",
                    "group": t.rule,
                    "class": t.metric.as_str(),
                    "custom_details": payload(t, snapshot),
                },
            })
        }
    }
}

fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

struct Snapshotter {
    dir: PathBuf,
    cooldown: Duration,
    max_count: usize,
    max_bytes: u64,
    last: Mutex<HashMap<String, Instant>>,
}

/// Why no snapshot was taken.
#[derive(Debug)]
pub enum Skipped {
    Cooldown(Duration),
    MaxCount(usize),
    Budget(u64),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::Cooldown(d) => write!(f, "cooling down for another {}s", d.as_secs()),
            Skipped::MaxCount(n) => write!(f, "the directory already holds {n} snapshots"),
            Skipped::Budget(b) => write!(f, "the disk budget is used up ({b} bytes of snapshots)"),
        }
    }
}

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Snapshotter {
    /// Existing snapshot files of ours: count and total size.
    fn usage(&self) -> (usize, u64) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return (0, 0);
        };
        let mut n = 0;
        let mut bytes = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("leakhound-") && name.ends_with(".heapsnapshot") {
                n += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        (n, bytes)
    }

    async fn take(
        &self,
        session: &inspector::Session,
        target: &str,
    ) -> Result<std::result::Result<PathBuf, Skipped>> {
        if let Some(at) = self.last.lock().expect("lock").get(target)
            && at.elapsed() < self.cooldown
        {
            return Ok(Err(Skipped::Cooldown(self.cooldown - at.elapsed())));
        }
        let (count, used) = self.usage();
        if count >= self.max_count {
            return Ok(Err(Skipped::MaxCount(count)));
        }
        if used >= self.max_bytes {
            return Ok(Err(Skipped::Budget(used)));
        }
        let room = self.max_bytes - used;
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|source| Error::Io {
                    what: self.dir.display().to_string(),
                    source,
                })?;
        }
        self.last
            .lock()
            .expect("lock")
            .insert(target.to_owned(), Instant::now());
        let name = format!(
            "leakhound-{}-{}.heapsnapshot",
            safe_name(target),
            crate::time::now_ms()
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.partial"));
        let io = |source| Error::Io {
            what: tmp.display().to_string(),
            source,
        };
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut written = 0u64;
        let result = inspector::snapshot::take_heap_snapshot(
            session,
            inspector::snapshot::SnapshotOptions::default(),
            |chunk| {
                written += chunk.len() as u64;
                if written > room {
                    return Err(std::io::Error::other(format!(
                        "the snapshot would exceed the disk budget ({} bytes left)",
                        room
                    )));
                }
                out.write_all(chunk)
            },
            |_, _| {},
        )
        .await;
        let finished = match result {
            Ok(Ok(_)) => out
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(io),
            Ok(Err(e)) => Err(io(e)),
            Err(e) => Err(e.into()),
        };
        if finished.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        finished.map(|()| Ok(path))
    }
}

/// The webhook action: its settings and its outbox.
struct WebhookAction {
    cfg: WebhookConfig,
    outbox: Outbox,
}

impl WebhookAction {
    fn body(&self, t: &Transition, snapshot: Option<&Path>) -> Value {
        match self.cfg.format {
            WebhookFormat::Json => payload(t, snapshot),
            WebhookFormat::Alertmanager => alertmanager_payload(t, snapshot),
            WebhookFormat::Slack => slack_payload(t, snapshot),
            WebhookFormat::Pagerduty => {
                pagerduty_payload(t, snapshot, self.cfg.routing_key.as_deref().unwrap_or(""))
            }
        }
    }
}

/// Runs the actions of transitions.
pub struct Actions {
    webhook: Option<WebhookAction>,
    snapshot: Option<Snapshotter>,
    command: Option<crate::config::CommandConfig>,
}

impl Actions {
    /// Checks the webhook (URL, CAs) and starts its outbox: call it on the
    /// tokio runtime.
    pub fn new(cfg: &ActionsConfig, counts: WebhookCounts) -> Result<Actions> {
        let webhook = match &cfg.webhook {
            None => None,
            Some(w) => {
                w.validate().map_err(Error::Invalid)?;
                let client = crate::webhook::Webhook::new(&w.settings())?;
                let outbox = Outbox::start(Arc::new(client), w.queue_size.unwrap_or(64), counts);
                Some(WebhookAction {
                    cfg: w.clone(),
                    outbox,
                })
            }
        };
        let snapshot = cfg.snapshot.as_ref().map(|s| Snapshotter {
            dir: s.dir.clone(),
            cooldown: s.cooldown.map(|d| d.0).unwrap_or(Duration::from_secs(1800)),
            max_count: s.max_count.unwrap_or(5),
            max_bytes: s.max_bytes.map(|b| b.0).unwrap_or(2 << 30),
            last: Mutex::new(HashMap::new()),
        });
        Ok(Actions {
            webhook,
            snapshot,
            command: cfg.command.clone(),
        })
    }

    /// Waits for queued webhook deliveries, at most `within`.
    pub async fn flush(&self, within: Duration) {
        if let Some(w) = &self.webhook
            && !w.outbox.flush(within).await
        {
            tracing::warn!(
                "stopping with webhook deliveries still pending after {}s",
                within.as_secs()
            );
        }
    }

    /// Runs the actions of `t`. A snapshot is taken before the command runs
    /// (it gets the path); webhooks and commands run in the background.
    pub async fn run(
        &self,
        t: &Transition,
        pid: Option<u32>,
        session: Option<&inspector::Session>,
    ) {
        let mut snapshot_path = None;
        if t.actions.contains(&ActionKind::Log) {
            match t.status {
                Status::Firing => tracing::warn!(
                    target: "leakhound::alert",
                    "{} firing on {}: {} ({} = {}, threshold {} {})",
                    t.rule,
                    t.target,
                    t.summary,
                    t.metric.as_str(),
                    fmt_value(t.value),
                    t.op.as_str(),
                    t.threshold
                ),
                Status::Resolved => tracing::info!(
                    target: "leakhound::alert",
                    "{} resolved on {} (fired at {})",
                    t.rule,
                    t.target,
                    rfc3339(t.starts_at_ms)
                ),
            }
        }
        if t.status == Status::Firing
            && t.actions.contains(&ActionKind::Snapshot)
            && let Some(s) = &self.snapshot
        {
            match session {
                None => tracing::warn!(
                    "{}: no connection for the heap snapshot of {}",
                    t.target,
                    t.rule
                ),
                Some(session) => match s.take(session, &t.target).await {
                    Ok(Ok(p)) => {
                        tracing::info!("{}: heap snapshot written to {}", t.target, p.display());
                        snapshot_path = Some(p);
                    }
                    Ok(Err(skip)) => {
                        tracing::info!("{}: no heap snapshot for {}: {skip}", t.target, t.rule)
                    }
                    Err(e) => {
                        tracing::warn!("{}: heap snapshot for {} failed: {e}", t.target, t.rule)
                    }
                },
            }
        }
        if t.actions.contains(&ActionKind::Webhook)
            && let Some(w) = &self.webhook
            && (t.status == Status::Firing || w.cfg.send_resolved.unwrap_or(true))
        {
            // Queued, never awaited: the outbox's worker does the network IO.
            w.outbox.push(Job {
                what: format!("{} {} on {}", t.rule, t.status.as_str(), t.target),
                body: Bytes::from(w.body(t, snapshot_path.as_deref()).to_string()),
            });
        }
        if t.actions.contains(&ActionKind::Command)
            && let Some(c) = &self.command
            && (t.status == Status::Firing || c.on_resolved)
        {
            let mut cmd = tokio::process::Command::new(&c.argv[0]);
            cmd.args(&c.argv[1..])
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .env("LEAKHOUND_ALERT", &t.rule)
                .env("LEAKHOUND_STATUS", t.status.as_str())
                .env("LEAKHOUND_TARGET", &t.target)
                .env("LEAKHOUND_SEVERITY", &t.severity)
                .env("LEAKHOUND_SUMMARY", &t.summary)
                .env("LEAKHOUND_METRIC", t.metric.as_str())
                .env("LEAKHOUND_VALUE", fmt_value(t.value))
                .env("LEAKHOUND_THRESHOLD", t.threshold.to_string())
                .env("LEAKHOUND_STARTS_AT", rfc3339(t.starts_at_ms))
                .env(
                    "LEAKHOUND_ENDS_AT",
                    t.ends_at_ms.map(rfc3339).unwrap_or_default(),
                )
                .env(
                    "LEAKHOUND_PID",
                    pid.map(|p| p.to_string()).unwrap_or_default(),
                )
                .env(
                    "LEAKHOUND_SNAPSHOT",
                    snapshot_path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                )
                .env(
                    "LEAKHOUND_JSON",
                    payload(t, snapshot_path.as_deref()).to_string(),
                );
            let timeout = c.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(60));
            let program = c.argv[0].clone();
            match cmd.spawn() {
                Err(e) => tracing::warn!("cannot run {program} for {}: {e}", t.rule),
                Ok(mut child) => {
                    tokio::spawn(async move {
                        match tokio::time::timeout(timeout, child.wait()).await {
                            Ok(Ok(s)) if s.success() => {}
                            Ok(Ok(s)) => tracing::warn!("{program} exited with {s}"),
                            Ok(Err(e)) => tracing::warn!("{program}: {e}"),
                            Err(_) => {
                                let _ = child.kill().await;
                                tracing::warn!("{program} killed after {timeout:?}");
                            }
                        }
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Metric, Op};

    #[test]
    fn payloads() {
        let t = Transition {
            rule: "HeapNearLimit".into(),
            target: "api".into(),
            status: Status::Resolved,
            severity: "critical".into(),
            summary: "heap high".into(),
            metric: Metric::HeapUsedRatio,
            op: Op::Gt,
            value: 0.9,
            threshold: 0.85,
            starts_at_ms: 0,
            ends_at_ms: Some(60_000),
            actions: vec![],
        };
        let am = alertmanager_payload(&t, None);
        assert_eq!(am[0]["labels"]["alertname"], "HeapNearLimit");
        assert_eq!(am[0]["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(am[0]["endsAt"], "1970-01-01T00:01:00.000Z");
        let j = payload(&t, Some(Path::new("/x.heapsnapshot")));
        assert_eq!(j["status"], "resolved");
        assert_eq!(j["snapshot"], "/x.heapsnapshot");
        let pd = pagerduty_payload(&t, None, "KEY");
        assert_eq!(pd["event_action"], "resolve");
        assert_eq!(pd["dedup_key"], "leakhound/api/HeapNearLimit");
        assert_eq!(
            slack_payload(&t, None)["text"],
            "[RESOLVED] HeapNearLimit on api (fired at 1970-01-01T00:00:00.000Z)"
        );
    }

    #[test]
    fn chat_and_paging_payloads() {
        let t = Transition {
            rule: "HeapGrowing".into(),
            target: "api<1>".into(),
            status: Status::Firing,
            severity: "page".into(),
            summary: "heap grows & grows".into(),
            metric: Metric::HeapGrowthMbPerMin,
            op: Op::Gt,
            value: 2.5,
            threshold: 1.0,
            starts_at_ms: 0,
            ends_at_ms: None,
            actions: vec![],
        };
        let slack = slack_payload(&t, Some(Path::new("/s/a.heapsnapshot")));
        assert_eq!(
            slack,
            json!({"text": "[FIRING] HeapGrowing on api&lt;1&gt; (page): heap grows &amp; grows (heap_growth_mb_per_min = 2.500, threshold &gt; 1); heap snapshot /s/a.heapsnapshot"})
        );
        let pd = pagerduty_payload(&t, None, "KEY");
        assert_eq!(pd["routing_key"], "KEY");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["dedup_key"], "leakhound/api<1>/HeapGrowing");
        assert_eq!(
            pd["payload"]["severity"], "warning",
            "unknown severities page as warning"
        );
        assert_eq!(pd["payload"]["source"], "api<1>");
        assert_eq!(pd["payload"]["custom_details"]["alert"], "HeapGrowing");
    }
}
