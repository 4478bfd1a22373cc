//! The watcher's configuration file (TOML).
//!
//! ```toml
//! interval = "5s"
//! listen = "127.0.0.1:9464"
//! history = "./leakhound-history.db"
//!
//! [trend]
//! window = "60s"   # post-GC floors: one minimum per window
//! span = "30m"     # how much history the trend looks at
//!
//! [[target]]
//! name = "api"
//! port = 9229
//!
//! [[rule]]
//! name = "HeapNearLimit"
//! metric = "heap_used_ratio"
//! op = ">"
//! threshold = 0.85
//! for = "1m"
//!
//! [actions.webhook]
//! url = "http://127.0.0.1:9093/api/v2/alerts"
//! format = "alertmanager"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A duration written as `"250ms"`, `"5s"`, `"10m"`, `"1h"`, `"7d"` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Dur, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n.is_finite() && n >= 0.0 => Ok(Dur(Duration::from_secs_f64(n))),
            Raw::Num(n) => Err(serde::de::Error::custom(format!("invalid duration {n}"))),
            Raw::Text(s) => parse_duration(&s)
                .map(Dur)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `250ms`, `5s`, `10m`, `1h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 30s, 5m, 1h)"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * 86_400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m, h or d)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A size written as `"2GB"`, `"512MiB"`, `"100k"` or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(Bytes(n)),
            Raw::Text(s) => parse_bytes(&s).map(Bytes).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `2GB`, `512MiB`, `100k`, `123` (bytes; K/M/G/T are powers of 1024).
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    Ok((v * mult as f64) as u64)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Time between samples (default 5 s).
    pub interval: Option<Dur>,
    /// Address of the /metrics and /health server (default 127.0.0.1:9464).
    pub listen: Option<String>,
    /// Require `Authorization: Bearer <token>` on the server.
    pub bearer_token: Option<String>,
    /// Read the bearer token from this file instead.
    pub bearer_token_file: Option<PathBuf>,
    /// SQLite history file (default ./leakhound-history.db).
    pub history: Option<PathBuf>,
    /// Delete history older than this (default 7 days).
    pub retention: Option<Dur>,
    #[serde(default)]
    pub trend: TrendConfig,
    #[serde(default)]
    pub allocation: AllocationConfig,
    #[serde(default, rename = "target")]
    pub targets: Vec<TargetConfig>,
    /// Alert rules; the defaults apply when there is no `[[rule]]`.
    #[serde(default, rename = "rule")]
    pub rules: Option<Vec<RuleConfig>>,
    #[serde(default)]
    pub actions: ActionsConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendConfig {
    /// One post-GC minimum per window of this length (default 60 s).
    pub window: Option<Dur>,
    /// History the trend is computed over (default 30 min).
    pub span: Option<Dur>,
    /// Significance level of the Mann–Kendall test (default 0.05).
    pub alpha: Option<f64>,
    /// Fewest windows before a verdict (default 8).
    pub min_points: Option<usize>,
}

/// The allocation-site trend: V8's sampling heap profiler kept running in
/// each target, read periodically.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationConfig {
    /// Turn it on (also `watch --alloc-sites`).
    #[serde(default)]
    pub enabled: bool,
    /// Time between reads of the profile (default 10 s).
    pub interval: Option<Dur>,
    /// Average bytes between samples (default 256 KiB).
    pub sampling_interval: Option<Bytes>,
    /// One minimum of each site's live bytes per window (default 3 reads).
    pub window: Option<Dur>,
    /// Sites growing slower than this per minute are not reported (default 10 KB).
    pub min_growth: Option<Bytes>,
    /// Significance level of the per-site Mann–Kendall test (default 0.01).
    pub alpha: Option<f64>,
    /// Sites on /metrics per target, at most (default 10).
    pub top: Option<usize>,
    /// Write the profile as gzipped pprof (`.pb.gz`) here at every `profile_every`.
    pub profile_dir: Option<PathBuf>,
    /// Time between profiles written to `profile_dir` (default 5 min).
    pub profile_every: Option<Dur>,
}

/// One process to watch. Exactly one of `inspect`, `port`, `pid`, `match`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Service name: the `target` label and the history key.
    pub name: String,
    pub inspect: Option<String>,
    pub port: Option<u16>,
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// A node process whose command line contains this text (found again after a restart).
    #[serde(rename = "match")]
    pub cmdline_match: Option<String>,
    #[serde(default)]
    pub activate: bool,
    #[serde(default)]
    pub allow_remote: bool,
    /// Overrides the global interval.
    pub interval: Option<Dur>,
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// heapUsed / heap size limit (0..1).
    HeapUsedRatio,
    HeapUsedBytes,
    RssBytes,
    ExternalBytes,
    /// Growth of the post-GC heap floor in MB/min; 0 unless the trend is significant.
    HeapGrowthMbPerMin,
    /// Minutes until the heap floor reaches the limit; infinite unless growing.
    TimeToLimitMinutes,
    /// Event-loop delay, 99th percentile over the last interval, in ms.
    EventloopP99Ms,
    /// setImmediate lag measured by the sample, in ms.
    EventloopLagMs,
    /// Time spent in GC per second of wall time (0..1).
    GcTimeRatio,
    /// Growth of the fastest growing allocation site in MB/min (live sampled
    /// bytes, significant trend only; needs the allocation-site trend on).
    AllocationSiteGrowth,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::HeapUsedRatio => "heap_used_ratio",
            Metric::HeapUsedBytes => "heap_used_bytes",
            Metric::RssBytes => "rss_bytes",
            Metric::ExternalBytes => "external_bytes",
            Metric::HeapGrowthMbPerMin => "heap_growth_mb_per_min",
            Metric::TimeToLimitMinutes => "time_to_limit_minutes",
            Metric::EventloopP99Ms => "eventloop_p99_ms",
            Metric::EventloopLagMs => "eventloop_lag_ms",
            Metric::GcTimeRatio => "gc_time_ratio",
            Metric::AllocationSiteGrowth => "allocation_site_growth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Log,
    Webhook,
    Snapshot,
    Command,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub metric: Metric,
    #[serde(default = "default_op")]
    pub op: Op,
    pub threshold: f64,
    /// The condition must hold this long before the alert fires.
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Default: log, plus every action configured under `[actions]`.
    pub actions: Option<Vec<ActionKind>>,
    /// Only these targets (default: all).
    pub targets: Option<Vec<String>>,
    pub summary: Option<String>,
}

fn default_op() -> Op {
    Op::Gt
}

fn default_severity() -> String {
    "warning".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    pub webhook: Option<WebhookConfig>,
    pub snapshot: Option<SnapshotConfig>,
    pub command: Option<CommandConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"status": ..., "alert": ..., ...}`, one alert per request.
    #[default]
    Json,
    /// Alertmanager's `POST /api/v2/alerts` body: `[{labels, annotations, startsAt, endsAt}]`.
    Alertmanager,
    /// `{"text": "..."}`: Slack incoming webhooks (Mattermost, Rocket.Chat,
    /// Google Chat and Teams' incoming webhooks take it too).
    Slack,
    /// PagerDuty Events API v2 (`https://events.pagerduty.com/v2/enqueue`):
    /// trigger on firing, resolve on resolution, one incident per target
    /// and rule; needs `routing_key`.
    Pagerduty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL (logged as `scheme://host/…` only).
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// One attempt, connect included (default 10 s).
    pub timeout: Option<Dur>,
    /// Name resolution, TCP connect and TLS handshake (default 5 s).
    pub connect_timeout: Option<Dur>,
    /// Attempts after the first on connection errors, timeouts, 5xx, 408
    /// and 429 (default 4).
    pub retries: Option<u32>,
    /// Deliveries waiting at most; beyond, the oldest is dropped (default 64).
    pub queue_size: Option<usize>,
    /// PEM file of an extra CA to trust for `https://` (a company CA),
    /// besides the system store.
    pub ca_file: Option<PathBuf>,
    /// PagerDuty integration key (`format = "pagerduty"`).
    pub routing_key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Also send resolutions (default true).
    pub send_resolved: Option<bool>,
}

impl WebhookConfig {
    /// A webhook to `url` with the defaults.
    pub fn new(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            format: WebhookFormat::default(),
            timeout: None,
            connect_timeout: None,
            retries: None,
            queue_size: None,
            ca_file: None,
            routing_key: None,
            headers: BTreeMap::new(),
            send_resolved: None,
        }
    }

    /// The client settings.
    pub fn settings(&self) -> crate::webhook::Settings {
        let mut s = crate::webhook::Settings::new(self.url.clone());
        s.headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(d) = self.timeout {
            s.timeout = d.0;
        }
        if let Some(d) = self.connect_timeout {
            s.connect_timeout = d.0;
        }
        if let Some(r) = self.retries {
            s.retry.attempts = r.saturating_add(1);
        }
        s.ca_file = self.ca_file.clone();
        s
    }

    /// What can be checked without IO: scheme, host, port, format needs.
    pub fn validate(&self) -> std::result::Result<(), String> {
        crate::webhook::Endpoint::parse(&self.url)
            .map_err(|e| format!("[actions.webhook] url {e}"))?;
        if self.format == WebhookFormat::Pagerduty
            && self.routing_key.as_deref().is_none_or(str::is_empty)
        {
            return Err(
                "[actions.webhook] format = \"pagerduty\" needs routing_key (the integration key of an Events API v2 integration)".into(),
            );
        }
        if self.queue_size == Some(0) {
            return Err("[actions.webhook] queue_size must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// Directory for `leakhound-<target>-<time>.heapsnapshot` files (0600).
    pub dir: PathBuf,
    /// Per target, at most one snapshot in this long (default 30 min).
    pub cooldown: Option<Dur>,
    /// At most this many snapshot files in `dir` (default 5).
    pub max_count: Option<usize>,
    /// At most this many bytes of snapshot files in `dir` (default 2 GiB).
    pub max_bytes: Option<Bytes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Program and arguments; alert details come in LEAKHOUND_* environment variables.
    pub argv: Vec<String>,
    /// Kill it after this long (default 60 s).
    pub timeout: Option<Dur>,
    /// Also run on resolution (default false).
    #[serde(default)]
    pub on_resolved: bool,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let c = Config::read(path)?;
        c.validate().map_err(|message| Error::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(c)
    }

    /// Reads and parses the file without [`Config::validate`], for callers
    /// that complete it first (`watch --webhook`).
    pub fn read(path: &Path) -> Result<Config> {
        let err = |message| Error::Config {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Config::parse_unchecked(&text).map_err(err)
    }

    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let c = Config::parse_unchecked(text)?;
        c.validate()?;
        Ok(c)
    }

    fn parse_unchecked(text: &str) -> std::result::Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let m = e.to_string();
            m.trim_end().trim_end_matches('.').to_owned()
        })
    }

    /// Checks what parsing cannot: targets, rules and their actions, the webhook.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for t in &self.targets {
            if t.name.trim().is_empty() {
                return Err("a [[target]] has an empty name".into());
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("target {:?} is listed twice", t.name));
            }
            let ways = [
                t.inspect.is_some(),
                t.port.is_some(),
                t.pid.is_some(),
                t.cmdline_match.is_some(),
            ]
            .iter()
            .filter(|&&b| b)
            .count();
            if ways != 1 {
                return Err(format!(
                    "target {:?} needs exactly one of inspect, port, pid, match",
                    t.name
                ));
            }
        }
        for r in self.rules.iter().flatten() {
            if !r.threshold.is_finite() {
                return Err(format!("rule {:?}: threshold must be a number", r.name));
            }
            for a in r.actions.iter().flatten() {
                let configured = match a {
                    ActionKind::Log => true,
                    ActionKind::Webhook => self.actions.webhook.is_some(),
                    ActionKind::Snapshot => self.actions.snapshot.is_some(),
                    ActionKind::Command => self.actions.command.is_some(),
                };
                if !configured {
                    return Err(format!(
                        "rule {:?} uses the {a:?} action but [actions.{}] is not configured",
                        r.name,
                        format!("{a:?}").to_ascii_lowercase()
                    ));
                }
            }
        }
        if let Some(c) = &self.actions.command
            && c.argv.is_empty()
        {
            return Err("[actions.command] argv is empty".into());
        }
        if let Some(w) = &self.actions.webhook {
            w.validate()?;
        }
        for (section, alpha) in [
            ("trend", self.trend.alpha),
            ("allocation", self.allocation.alpha),
        ] {
            if let Some(a) = alpha
                && !(a > 0.0 && a < 1.0)
            {
                return Err(format!(
                    "[{section}] alpha must be between 0 and 1, not {a}"
                ));
            }
        }
        if self.allocation.sampling_interval.is_some_and(|b| b.0 == 0) {
            return Err("[allocation] sampling_interval must be above 0".into());
        }
        Ok(())
    }

    /// The configured rules, or the defaults (after the Node.js operations
    /// advice: heap above 85% of its limit, sustained significant growth
    /// above 1 MB/min, event-loop delay p99 above 100 ms).
    pub fn effective_rules(&self) -> Vec<RuleConfig> {
        if let Some(r) = &self.rules {
            return r.clone();
        }
        let rule =
            |name: &str, metric, threshold, for_s: u64, severity: &str, summary: &str| RuleConfig {
                name: name.into(),
                metric,
                op: Op::Gt,
                threshold,
                for_: Some(Dur(Duration::from_secs(for_s))),
                severity: severity.into(),
                actions: None,
                targets: None,
                summary: Some(summary.into()),
            };
        vec![
            rule(
                "HeapNearLimit",
                Metric::HeapUsedRatio,
                0.85,
                60,
                "critical",
                "heap used is above 85% of the heap limit",
            ),
            rule(
                "HeapGrowing",
                Metric::HeapGrowthMbPerMin,
                1.0,
                300,
                "warning",
                "the post-GC heap grows by more than 1 MB/min (statistically significant)",
            ),
            rule(
                "EventLoopDelay",
                Metric::EventloopP99Ms,
                100.0,
                60,
                "warning",
                "event-loop delay p99 is above 100 ms",
            ),
        ]
    }

    /// The actions of a rule: as listed, or log plus every configured action.
    pub fn actions_of(&self, rule: &RuleConfig) -> Vec<ActionKind> {
        if let Some(a) = &rule.actions {
            return a.clone();
        }
        let mut v = vec![ActionKind::Log];
        if self.actions.webhook.is_some() {
            v.push(ActionKind::Webhook);
        }
        if self.actions.snapshot.is_some() {
            v.push(ActionKind::Snapshot);
        }
        if self.actions.command.is_some() {
            v.push(ActionKind::Command);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let c = Config::parse(
            r#"
interval = "2s"
listen = "127.0.0.1:0"
history = "h.db"
[trend]
window = 30
[[target]]
name = "api"
port = 9229
[[target]]
name = "worker"
match = "worker.js"
[[rule]]
name = "Big"
metric = "heap_used_bytes"
op = ">="
threshold = 1e9
for = "90s"
actions = ["log", "webhook"]
[actions.webhook]
url = "http://127.0.0.1:9093/api/v2/alerts"
format = "alertmanager"
[actions.snapshot]
dir = "snaps"
max_bytes = "1GB"
"#,
        )
        .unwrap();
        assert_eq!(c.interval, Some(Dur(Duration::from_secs(2))));
        assert_eq!(c.trend.window, Some(Dur(Duration::from_secs(30))));
        assert_eq!(c.targets[1].cmdline_match.as_deref(), Some("worker.js"));
        let r = &c.effective_rules()[0];
        assert_eq!(r.op, Op::Ge);
        assert_eq!(r.for_, Some(Dur(Duration::from_secs(90))));
        assert_eq!(
            c.actions.snapshot.as_ref().unwrap().max_bytes,
            Some(Bytes(1 << 30))
        );
        assert_eq!(
            c.actions.webhook.as_ref().unwrap().format,
            WebhookFormat::Alertmanager
        );
    }

    #[test]
    fn defaults_and_errors() {
        let c = Config::parse("").unwrap();
        let rules = c.effective_rules();
        assert_eq!(rules.len(), 3);
        assert_eq!(c.actions_of(&rules[0]), vec![ActionKind::Log]);
        let e = Config::parse("[[target]]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("exactly one of"), "{e}");
        let e = Config::parse(
            "[[rule]]\nname=\"x\"\nmetric=\"rss_bytes\"\nthreshold=1\nactions=[\"webhook\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("not configured"), "{e}");
        let e = Config::parse("[actions.webhook]\nurl = \"smtp://mail/x\"\n").unwrap_err();
        assert_eq!(
            e,
            "[actions.webhook] url smtp://mail/…: only http:// and https:// URLs are supported"
        );
        let e = Config::parse(
            "[actions.webhook]\nurl = \"https://events.pagerduty.com/v2/enqueue\"\nformat = \"pagerduty\"\n",
        )
        .unwrap_err();
        assert!(e.contains("needs routing_key"), "{e}");
        let c = Config::parse(
            "[actions.webhook]\nurl = \"https://hooks.slack.com/services/T/B/X\"\nformat = \"slack\"\nca_file = \"/etc/corp-ca.pem\"\nretries = 2\nconnect_timeout = \"2s\"\n",
        )
        .unwrap();
        let s = c.actions.webhook.unwrap().settings();
        assert_eq!(s.retry.attempts, 3);
        assert_eq!(s.connect_timeout, Duration::from_secs(2));
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/etc/corp-ca.pem")));
        let e = Config::parse("bogus = 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        assert!(!e.ends_with('.'));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }
}
