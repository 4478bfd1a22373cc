//! Starting a Node program with its inspector on a random loopback port.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A Node process started by us, with its inspector URL.
pub struct Launched {
    pub child: Child,
    pub ws_url: String,
    pub pid: u32,
    /// Passes the program's stderr through; ends when the pipe closes.
    stderr_task: Option<tokio::task::JoinHandle<()>>,
}

impl Launched {
    /// Waits (at most `timeout`, in case a grandchild keeps the pipe open)
    /// until everything the program wrote to stderr has been passed through.
    /// Call it once the program has exited, before this process exits.
    pub async fn flush_stderr(&mut self, timeout: Duration) {
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }
}

const INSPECT_FLAG: &str = "--inspect=127.0.0.1:0";

/// Lines Node prints about its inspector; they are not passed through.
fn is_inspector_notice(line: &str) -> bool {
    line.starts_with("Debugger listening on ")
        || line.starts_with("For help, see: https://nodejs.org/")
        || line == "Debugger attached."
        || line.starts_with("Debugger ending on")
        || line.starts_with("Waiting for the debugger to disconnect")
}

fn is_node(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    base == "node" || base == "nodejs" || base.starts_with("node")
}

/// Starts `argv` with the inspector on `127.0.0.1:0` and waits for its URL.
///
/// When `argv[0]` is node, `--inspect=127.0.0.1:0` is inserted as its first
/// option; otherwise (npm, a wrapper script) it is added to `NODE_OPTIONS`.
/// The program's stdout is inherited; its stderr is passed through, less the
/// inspector's own notices.
pub async fn launch(argv: &[String], timeout: Duration) -> Result<Launched> {
    launch_with(argv, timeout, false).await
}

/// As [`launch`]; with `stdout_to_stderr` the program's stdout goes to our
/// stderr, keeping our stdout for a report.
pub async fn launch_with(
    argv: &[String],
    timeout: Duration,
    stdout_to_stderr: bool,
) -> Result<Launched> {
    let program = argv.first().ok_or_else(|| Error::Spawn {
        program: String::new(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command given"),
    })?;
    let mut cmd = Command::new(program);
    if is_node(program) {
        cmd.arg(INSPECT_FLAG);
    } else {
        let existing = std::env::var("NODE_OPTIONS").unwrap_or_default();
        cmd.env("NODE_OPTIONS", format!("{existing} {INSPECT_FLAG}").trim());
    }
    cmd.args(&argv[1..])
        .stdin(Stdio::inherit())
        .stdout(if stdout_to_stderr {
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map_or_else(|_| Stdio::inherit(), Stdio::from)
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The program dies with us even when we are killed (kill -9): an
    // orphan would keep running with its inspector open.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    let stderr = child.stderr.take().expect("piped stderr");
    let (url_tx, url_rx) = oneshot::channel::<String>();
    let stderr_task = tokio::spawn(async move {
        let mut url_tx = Some(url_tx);
        let mut lines = BufReader::new(stderr).lines();
        let mut out = tokio::io::stderr();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("Debugger listening on ")
                && let Some(tx) = url_tx.take()
            {
                let _ = tx.send(rest.trim().to_owned());
                continue;
            }
            if is_inspector_notice(&line) {
                continue;
            }
            let _ = out.write_all(line.as_bytes()).await;
            let _ = out.write_all(b"\n").await;
            let _ = out.flush().await;
        }
    });
    tokio::select! {
        url = url_rx => match url {
            Ok(ws_url) => Ok(Launched { child, ws_url, pid, stderr_task: Some(stderr_task) }),
            Err(_) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                Err(Error::ExitedEarly { program: program.clone(), status })
            }
        },
        _ = tokio::time::sleep(timeout) => {
            let _ = child.start_kill();
            Err(Error::Timeout { target: program.clone(), what: "waiting for the inspector".into(), after: timeout })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_node() {
        assert!(is_node("node"));
        assert!(is_node("/usr/bin/node"));
        assert!(is_node("/opt/node-v20/bin/node"));
        assert!(!is_node("npm"));
        assert!(is_inspector_notice(
            "Debugger listening on ws://127.0.0.1:1234/x"
        ));
        assert!(!is_inspector_notice("listening on 3000"));
    }
}
