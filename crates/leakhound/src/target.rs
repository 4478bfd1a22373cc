//! Choosing the process to inspect: `--inspect URL`, `--port N`, `--pid PID`, or `-- node app.js`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use inspector::launch::{Launched, launch_with};
use inspector::target::{ResolveOptions, TargetSpec, resolve};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// Inspector WebSocket URL (ws://127.0.0.1:9229/…)
    #[arg(long, value_name = "WS_URL", conflicts_with_all = ["port", "pid"])]
    pub inspect: Option<String>,
    /// Inspector port (the --inspect port of a running node)
    #[arg(long, conflicts_with = "pid")]
    pub port: Option<u16>,
    /// Host of --port
    #[arg(long, default_value = "127.0.0.1", requires = "port")]
    pub host: String,
    /// Process id of a running node
    #[arg(long)]
    pub pid: Option<u32>,
    /// With --pid: if no inspector is listening, open one by sending SIGUSR1 (checked to be safe first)
    #[arg(long, requires = "pid")]
    pub activate: bool,
    /// Allow an inspector on a non-loopback address (it grants code execution in the target)
    #[arg(long)]
    pub allow_remote: bool,
    /// Start this command under the inspector instead (e.g. -- node app.js)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// A resolved target: where to connect, and the child process when we started it.
pub struct Target {
    pub ws_url: String,
    /// A human name for messages (`process 1234`, `127.0.0.1:9229`, …).
    pub name: String,
    pub child: Option<Launched>,
    pub pid: Option<u32>,
    /// The inspector was opened by us (`--activate` sent SIGUSR1): close it
    /// when done ([`Target::close_opened_inspector`]).
    pub opened_inspector: bool,
}

impl TargetArgs {
    pub fn spec(&self) -> Option<TargetSpec> {
        if let Some(u) = &self.inspect {
            Some(TargetSpec::WebSocket(u.clone()))
        } else if let Some(port) = self.port {
            Some(TargetSpec::Port {
                host: self.host.clone(),
                port,
            })
        } else {
            self.pid.map(TargetSpec::Pid)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spec().is_none() && self.command.is_empty()
    }
}

/// Connects to an existing process or starts the command.
pub async fn open(args: &TargetArgs) -> Result<Target> {
    open_with(args, false, Duration::from_secs(30)).await
}

/// As [`open`]; a started program's stdout goes to our stderr when
/// `app_stdout_to_stderr` (our stdout carries a report); its inspector
/// must appear within `startup`.
pub async fn open_with(
    args: &TargetArgs,
    app_stdout_to_stderr: bool,
    startup: Duration,
) -> Result<Target> {
    let opts = ResolveOptions {
        allow_remote: args.allow_remote,
        activate: args.activate,
    };
    match (args.spec(), args.command.is_empty()) {
        (Some(_), false) => bail!(
            "give either a running target (--inspect, --port, --pid) or a command after --, not both"
        ),
        (Some(spec), true) => {
            // Was an inspector already listening? Only one we open is ours to close.
            let opened_inspector = opts.activate
                && matches!(spec, TargetSpec::Pid(_))
                && resolve(
                    &spec,
                    ResolveOptions {
                        activate: false,
                        ..opts
                    },
                )
                .await
                .is_err();
            let ws_url = resolve(&spec, opts).await?;
            let pid = match spec {
                TargetSpec::Pid(p) => Some(p),
                _ => None,
            };
            Ok(Target {
                ws_url,
                name: spec.to_string(),
                child: None,
                pid,
                opened_inspector,
            })
        }
        (None, false) => {
            let launched = launch_with(&args.command, startup, app_stdout_to_stderr)
                .await
                .with_context(|| format!("cannot start {}", args.command.join(" ")))?;
            let name = format!("{} (pid {})", args.command.join(" "), launched.pid);
            Ok(Target {
                ws_url: launched.ws_url.clone(),
                name,
                pid: Some(launched.pid),
                child: Some(launched),
                opened_inspector: false,
            })
        }
        (None, true) => bail!(
            "no target given\nhint: use --pid PID, --port PORT, --inspect ws://127.0.0.1:PORT/ID, or -- node app.js"
        ),
    }
}

impl Target {
    pub async fn connect(&self) -> Result<inspector::Session> {
        inspector::Session::connect(&self.ws_url)
            .await
            .with_context(|| self.name.clone())
    }

    /// The exit status of the program we started, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|l| l.child.try_wait().ok().flatten())
    }

    /// Closes the inspector `--activate` opened in the target (it grants code
    /// execution to anyone on the machine), unless `keep`: the target runs
    /// `inspector.close()` once our request has been answered, and the
    /// session is closed right after (close waits for connections to end).
    pub async fn close_opened_inspector(&self, session: inspector::Session, keep: bool) {
        const CLOSE: &str = "setImmediate(() => { try { const m = process.getBuiltinModule ? process.getBuiltinModule('node:inspector') : process.mainModule.require('inspector'); m.close(); } catch (e) {} }); true";
        if self.opened_inspector && !keep {
            let _ = session.evaluate(CLOSE, Duration::from_secs(5)).await;
        }
        session.close().await;
    }

    /// Explains an error by the death of the program we started, if it
    /// died (waiting briefly for it to be reaped): its exit status, after
    /// everything it wrote to stderr has been passed through.
    pub async fn explain(&mut self, e: anyhow::Error, during: &str) -> anyhow::Error {
        let Some(l) = self.child.as_mut() else {
            return e;
        };
        let status = match l.child.try_wait() {
            Ok(Some(s)) => s,
            _ => match tokio::time::timeout(Duration::from_millis(500), l.child.wait()).await {
                Ok(Ok(s)) => s,
                _ => return e,
            },
        };
        l.flush_stderr(Duration::from_secs(1)).await;
        anyhow::anyhow!(
            "{} exited ({status}) {during}; its output is above\nhint: run it alone first (the command after --) to see it start and listen",
            self.name
        )
    }

    /// Connects; when that fails because the program we started has
    /// exited, says so.
    pub async fn connect_live(&mut self) -> Result<inspector::Session> {
        if let Some(status) = self.exited() {
            bail!(
                "{} exited ({status}) before it could be inspected",
                self.name
            );
        }
        let err = match self.connect().await {
            Ok(session) => return Ok(session),
            Err(e) => e,
        };
        if let Some(l) = self.child.as_mut()
            && let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_millis(500), l.child.wait()).await
        {
            bail!(
                "{} exited ({status}) before it could be inspected",
                self.name
            );
        }
        Err(err)
    }

    /// Stops a child we started (SIGTERM, then SIGKILL after a grace period).
    pub async fn stop(&mut self) {
        if let Some(l) = self.child.as_mut() {
            if let Some(pid) = l.child.id() {
                // SAFETY: plain kill(2) on our own child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            }
            if tokio::time::timeout(Duration::from_secs(5), l.child.wait())
                .await
                .is_err()
            {
                let _ = l.child.kill().await;
            }
        }
    }
}

/// Parses durations like `30s`, `5m`, `1h`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 30s, 5m, 1h, 7d)"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * 86_400.0,
        "w" => v * 7.0 * 86_400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m, h, d or w)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
