//! `leakhound watch`: long-running monitoring of one or more Node.js services.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use inspector::target::{ResolveOptions, TargetSpec};
use monitor::config::{Config, WebhookConfig};
use monitor::{AllocationSettings, Source, TargetDef, TrendSettings, WatchOptions, Watcher};

use crate::target::{self, TargetArgs, parse_duration};

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Configuration file: targets, alert rules, actions (TOML)
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Service name of the target given on the command line
    #[arg(long)]
    pub name: Option<String>,
    /// Time between samples [default: 5s]
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Address for /metrics and /health [default: 127.0.0.1:9464]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve no /metrics and /health
    #[arg(long, conflicts_with = "listen")]
    pub no_server: bool,
    /// Require `Authorization: Bearer TOKEN` on the server (also LEAKHOUND_BEARER_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,
    /// History database (SQLite) [default: ./leakhound-history.db]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Keep no history
    #[arg(long, conflicts_with = "db")]
    pub no_history: bool,
    /// One post-GC heap minimum per window of this length for the trend [default: 60s]
    #[arg(long, value_parser = parse_duration)]
    pub trend_window: Option<Duration>,
    /// How far back the trend looks [default: 30m]
    #[arg(long, value_parser = parse_duration)]
    pub trend_span: Option<Duration>,
    /// Keep V8's sampling heap profiler running and report the allocation
    /// sites whose live bytes grow (/health, /metrics, history, alerts)
    #[arg(long)]
    pub alloc_sites: bool,
    /// Time between reads of the allocation profile [default: 10s]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub alloc_interval: Option<Duration>,
    /// Average bytes between allocation samples [default: 262144]
    #[arg(long, value_name = "BYTES")]
    pub alloc_sampling_interval: Option<u64>,
    /// One minimum of each site's live bytes per window [default: 3 reads]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub alloc_window: Option<Duration>,
    /// Also write the allocation profile here as gzipped pprof (TARGET-TIME.pb.gz,
    /// 0600) every 5 minutes (`profile_every` in the config), the newest 288 kept
    #[arg(long, value_name = "DIR")]
    pub alloc_profile_dir: Option<PathBuf>,
    /// POST alerts to this http:// or https:// URL (also LEAKHOUND_WEBHOOK_URL, which keeps a secret URL out of `ps`)
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Body of the webhook: json, alertmanager, slack or pagerduty (routing_key from --config) [default: json]
    #[arg(long, value_name = "FORMAT", value_parser = ["json", "alertmanager", "slack", "pagerduty"])]
    pub webhook_format: Option<String>,
    /// Also trust the CA certificates of this PEM file for https:// webhooks (a company CA)
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// The allocation-site trend's settings, when it is on (flag or config).
fn allocation_settings(
    args: &WatchArgs,
    cfg: &Config,
    trend: &TrendSettings,
) -> Result<Option<AllocationSettings>> {
    let c = &cfg.allocation;
    if !(args.alloc_sites || c.enabled) {
        return Ok(None);
    }
    let d = AllocationSettings::default();
    let read_every = args
        .alloc_interval
        .or(c.interval.map(|x| x.0))
        .unwrap_or(d.read_every);
    if read_every < Duration::from_millis(100) {
        bail!("--alloc-interval must be at least 100ms");
    }
    let sampling_interval = args
        .alloc_sampling_interval
        .or(c.sampling_interval.map(|b| b.0))
        .unwrap_or(d.sampling_interval);
    if sampling_interval == 0 {
        bail!("--alloc-sampling-interval must be above 0");
    }
    let mut sites = d.sites;
    sites.window = args
        .alloc_window
        .or(c.window.map(|x| x.0))
        .unwrap_or(read_every * 3);
    sites.span = trend.span;
    sites.options.alpha = c.alpha.unwrap_or(sites.options.alpha);
    sites.options.min_points = trend.options.min_points;
    if let Some(b) = c.min_growth {
        sites.min_growth = b.0 as f64 / 60.0;
    }
    Ok(Some(AllocationSettings {
        read_every,
        sampling_interval,
        sites,
        top: c.top.unwrap_or(d.top),
        profile_dir: args
            .alloc_profile_dir
            .clone()
            .or_else(|| c.profile_dir.clone()),
        profile_every: c.profile_every.map_or(d.profile_every, |x| x.0),
    }))
}

/// The webhook of the command line (`--webhook`, `--webhook-format`,
/// `--ca-file`) over the configuration's, checked before anything starts:
/// a bad URL, scheme or CA file is a usage error (exit 2).
fn merge_webhook(args: &WatchArgs, cfg: &mut Config) -> Result<()> {
    let url = args.webhook.clone().or_else(|| {
        std::env::var("LEAKHOUND_WEBHOOK_URL")
            .ok()
            .filter(|s| !s.is_empty())
    });
    if let Some(url) = url {
        let w = cfg
            .actions
            .webhook
            .get_or_insert_with(|| WebhookConfig::new(url.clone()));
        w.url = url;
    }
    let Some(w) = cfg.actions.webhook.as_mut() else {
        if args.ca_file.is_some() || args.webhook_format.is_some() {
            bail!(
                "--ca-file and --webhook-format need a webhook\nhint: pass --webhook URL or configure [actions.webhook]"
            );
        }
        return Ok(());
    };
    if let Some(f) = &args.webhook_format {
        w.format = serde_json::from_value(serde_json::json!(f))
            .with_context(|| format!("--webhook-format {f}"))?;
    }
    if let Some(ca) = &args.ca_file {
        w.ca_file = Some(ca.clone());
    }
    if args.webhook.is_some() {
        w.validate()
            .map_err(|e| anyhow::anyhow!("{}", e.replace("[actions.webhook] url", "--webhook")))?;
    }
    if w.validate().is_ok() {
        // The CA file and the system store, before anything starts.
        monitor::webhook::Webhook::new(&w.settings())?;
    }
    Ok(())
}

fn init_logging(quiet: bool) {
    let level = if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(crate::fmt::stderr_color())
        .with_max_level(level)
        .try_init();
}

/// A name for the command-line target when --name is not given.
fn default_name(args: &TargetArgs) -> String {
    if let Some(pid) = args.pid {
        return format!("pid-{pid}");
    }
    if let Some(port) = args.port {
        return format!("port-{port}");
    }
    if args.inspect.is_some() {
        return "inspector".into();
    }
    let script = args
        .command
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or(args.command.first());
    script
        .map(|s| {
            let base = s.rsplit('/').next().unwrap_or(s);
            base.strip_suffix(".js")
                .or_else(|| base.strip_suffix(".mjs"))
                .or_else(|| base.strip_suffix(".cjs"))
                .unwrap_or(base)
                .to_owned()
        })
        .unwrap_or_else(|| "app".into())
}

fn config_targets(cfg: &Config, default_interval: Duration) -> Vec<TargetDef> {
    cfg.targets
        .iter()
        .map(|t| {
            let opts = ResolveOptions {
                allow_remote: t.allow_remote,
                activate: t.activate,
            };
            let source = if let Some(text) = &t.cmdline_match {
                Source::Match {
                    text: text.clone(),
                    opts,
                }
            } else {
                let spec = if let Some(u) = &t.inspect {
                    TargetSpec::WebSocket(u.clone())
                } else if let Some(port) = t.port {
                    TargetSpec::Port {
                        host: t.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
                        port,
                    }
                } else {
                    TargetSpec::Pid(t.pid.unwrap_or_default())
                };
                Source::Spec { spec, opts }
            };
            TargetDef {
                name: t.name.clone(),
                source,
                interval: t.interval.map(|d| d.0).unwrap_or(default_interval),
            }
        })
        .collect()
}

/// Refuses, before watching starts, a target whose inspector is not on
/// loopback unless remote targets were allowed: the inspector grants code
/// execution, and every other command refuses the same way.
fn refuse_remote(t: &TargetDef) -> Result<()> {
    let Source::Spec { spec, opts } = &t.source else {
        return Ok(());
    };
    let remote = match spec {
        TargetSpec::WebSocket(u) => {
            inspector::target::check_ws_url(u, opts.allow_remote)
                .map_err(|e| anyhow::anyhow!("{}: {e}", t.name))?;
            return Ok(());
        }
        TargetSpec::Port { host, port } => (!opts.allow_remote
            && !inspector::target::is_loopback_host(host))
        .then(|| format!("{host}:{port}")),
        TargetSpec::Pid(_) => None,
    };
    match remote {
        Some(addr) => bail!(
            "{}: {addr} is not a loopback address; the inspector grants code execution in the target\nhint: pass --allow-remote (allow_remote = true in the config) if you mean it",
            t.name
        ),
        None => Ok(()),
    }
}

/// The server's bearer token: the flag, the environment, the config, or its file.
fn bearer_token(args: &WatchArgs, cfg: &Config) -> Result<Option<String>> {
    let token = args
        .bearer_token
        .clone()
        .or_else(|| {
            std::env::var("LEAKHOUND_BEARER_TOKEN")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(|| cfg.bearer_token.clone());
    Ok(match (token, &cfg.bearer_token_file) {
        (Some(t), _) => Some(t),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("{}: cannot read the bearer token", f.display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    })
}

/// The heap trend's settings: flags first, then the config, then the defaults.
fn trend_settings(args: &WatchArgs, cfg: &Config) -> TrendSettings {
    let defaults = TrendSettings::default();
    TrendSettings {
        window: args
            .trend_window
            .or(cfg.trend.window.map(|d| d.0))
            .unwrap_or(defaults.window),
        span: args
            .trend_span
            .or(cfg.trend.span.map(|d| d.0))
            .unwrap_or(defaults.span),
        options: trend::Options {
            alpha: cfg.trend.alpha.unwrap_or(defaults.options.alpha),
            min_points: cfg.trend.min_points.unwrap_or(defaults.options.min_points),
        },
    }
}

pub async fn run(args: &WatchArgs, quiet: bool) -> Result<ExitCode> {
    init_logging(quiet);
    let cfg = read_config(args)?;
    let interval = args
        .interval
        .or(cfg.interval.map(|d| d.0))
        .unwrap_or(Duration::from_secs(5));
    if interval < Duration::from_millis(50) {
        bail!("--interval must be at least 50ms");
    }
    let mut targets = config_targets(&cfg, interval);
    let mut launched = None;
    if !args.target.is_empty() {
        let (def, started) = command_line_target(args, &targets, interval).await?;
        targets.push(def);
        launched = started;
    }
    if targets.is_empty() {
        bail!(
            "no target given\nhint: use --pid PID, --port PORT, --inspect ws://127.0.0.1:PORT/ID, -- node app.js, or [[target]] entries in --config"
        );
    }
    for t in &targets {
        refuse_remote(t)?;
    }
    let opts = watch_options(args, cfg, targets)?;
    let names: Vec<String> = opts.targets.iter().map(|t| t.name.clone()).collect();
    let (token, history, allocation) = (
        opts.bearer_token.clone(),
        opts.history.clone(),
        opts.allocation.clone(),
    );
    let watcher = Watcher::start(opts).await?;
    if let Some(addr) = watcher.local_addr() {
        if token.is_none() && !addr.ip().is_loopback() {
            eprintln!("leakhound: warning: serving on {addr} without a bearer token");
        }
        eprintln!("leakhound: serving http://{addr}/metrics and http://{addr}/health");
    }
    if let Some(h) = &history {
        eprintln!("leakhound: history in {}", h.display());
    }
    eprintln!(
        "leakhound: watching {} every {:?}",
        names.join(", "),
        interval
    );
    if let Some(a) = &allocation {
        eprintln!(
            "leakhound: allocation sites: sampling every {} bytes, read every {:?}",
            a.sampling_interval, a.read_every
        );
    }
    let child_status = watch_until_stopped(watcher, launched.as_mut()).await?;
    let code = exit_code(child_status);
    if let Some(mut t) = launched {
        t.stop().await;
    }
    Ok(code)
}

/// The configuration file (or the defaults) with the command line's
/// webhook merged in, validated.
fn read_config(args: &WatchArgs) -> Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::read(p)?,
        None => Config::default(),
    };
    merge_webhook(args, &mut cfg)?;
    cfg.validate().map_err(|e| match &args.config {
        Some(p) => anyhow::anyhow!("{}: {e}", p.display()),
        None => anyhow::anyhow!(e),
    })?;
    Ok(cfg)
}

/// The target given on the command line (beside those of the
/// configuration file), and the process started for it if it is a command.
async fn command_line_target(
    args: &WatchArgs,
    configured: &[TargetDef],
    interval: Duration,
) -> Result<(TargetDef, Option<target::Target>)> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.target));
    if configured.iter().any(|t| t.name == name) {
        bail!(
            "target {name:?} is also in the configuration file\nhint: pass --name to tell them apart"
        );
    }
    let opts = ResolveOptions {
        allow_remote: args.target.allow_remote,
        activate: args.target.activate,
    };
    let mut launched = None;
    let spec = if args.target.command.is_empty() {
        args.target.spec().context("no target given")?
    } else {
        let t = target::open(&args.target).await?;
        eprintln!(
            "leakhound: started {} (pid {})",
            args.target.command.join(" "),
            t.pid.unwrap_or(0)
        );
        let spec = TargetSpec::WebSocket(t.ws_url.clone());
        launched = Some(t);
        spec
    };
    let def = TargetDef {
        name,
        source: Source::Spec { spec, opts },
        interval,
    };
    Ok((def, launched))
}

/// What the watcher runs with: the command line over the configuration file.
fn watch_options(args: &WatchArgs, cfg: Config, targets: Vec<TargetDef>) -> Result<WatchOptions> {
    let bearer_token = bearer_token(args, &cfg)?;
    let listen = (!args.no_server).then(|| {
        args.listen
            .clone()
            .or_else(|| cfg.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:9464".into())
    });
    let history = (!args.no_history).then(|| {
        args.db
            .clone()
            .or_else(|| cfg.history.clone())
            .unwrap_or_else(|| PathBuf::from("leakhound-history.db"))
    });
    let trend = trend_settings(args, &cfg);
    let allocation = allocation_settings(args, &cfg, &trend)?;
    let retention = cfg
        .retention
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(7 * 86_400));
    Ok(WatchOptions {
        targets,
        config: cfg,
        trend,
        allocation,
        listen,
        bearer_token,
        history,
        retention,
    })
}

/// Runs the watcher until SIGINT, SIGTERM or the exit of the app it
/// started; returns the app's exit status in the last case.
async fn watch_until_stopped(
    watcher: Watcher,
    launched: Option<&mut target::Target>,
) -> Result<Option<std::process::ExitStatus>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut child_status = None;
    let child = launched.and_then(|t| t.child.as_mut());
    let shutdown = async {
        let exited = async {
            match child {
                Some(l) => l.child.wait().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
            s = exited => child_status = s,
        }
    };
    watcher.run(shutdown).await?;
    Ok(child_status)
}

/// 1 and 2 are leakhound's own (leak found, error): an app that failed is
/// 3, whatever its own status was (said on stderr).
fn exit_code(child_status: Option<std::process::ExitStatus>) -> ExitCode {
    match child_status {
        Some(s) if s.success() => {
            eprintln!("leakhound: the app exited ({s})");
            ExitCode::SUCCESS
        }
        Some(s) => {
            eprintln!("leakhound: the app exited ({s}); leakhound exits with 3");
            ExitCode::from(3)
        }
        None => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        let mut a = TargetArgs {
            command: vec![
                "node".into(),
                "--max-old-space-size=100".into(),
                "srv/api.js".into(),
            ],
            ..TargetArgs::default()
        };
        assert_eq!(default_name(&a), "api");
        a.command.clear();
        a.pid = Some(42);
        assert_eq!(default_name(&a), "pid-42");
    }
}
