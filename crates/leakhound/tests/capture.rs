//! End to end against real `node` processes: `snapshot` by command, port,
//! WebSocket URL, PID and PID + SIGUSR1 activation; `--analyze`; refusals
//! and clear errors (remote inspectors, dead targets, wrong ports and PIDs,
//! a target killed mid-snapshot, a full disk); `profile`; `run` (with
//! `--keep-profiler`, snapshots `find-leaks` accepts as one series).
//!
//! Every process started here runs in its own process group, and the whole
//! group is killed when its guard is dropped, also when a test panics.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{TempDir, leakhound, repo};

/// Generous: CI machines are small and busy.
const LONG: Duration = Duration::from_secs(120);
/// For commands that must fail without doing much.
const SHORT: Duration = Duration::from_secs(30);

/// Tests that use node's default inspector port 9229 (SIGUSR1 opens it
/// there) take turns.
static PORT_9229: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stream {
    Out,
    Err,
}

/// What a finished process printed.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// A running process in its own process group, its output collected line by
/// line. Dropping it kills the whole group (SIGKILL) and reaps the leader.
struct Proc {
    child: Child,
    what: String,
    lines: mpsc::Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e} (is node installed?)"));
        let (tx, rx) = mpsc::channel();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        for (stream, pipe) in [(Stream::Out, out), (Stream::Err, err)] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Proc {
            child,
            what,
            lines: rx,
            seen: Vec::new(),
            status: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|(s, l)| format!("[{s:?}] {l}\n"))
            .collect()
    }

    /// Waits for a line on `stream` for which `pred` holds, and returns it.
    fn wait_line(&mut self, stream: Stream, pred: impl Fn(&str) -> bool) -> String {
        if let Some((_, l)) = self.seen.iter().find(|(s, l)| *s == stream && pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + LONG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((s, l)) => {
                    self.seen.push((s, l.clone()));
                    if s == stream && pred(&l) {
                        return l;
                    }
                }
                Err(e) => panic!(
                    "{}: no expected line on {stream:?} ({e:?}); output so far:\n{}",
                    self.what,
                    self.transcript()
                ),
            }
        }
    }

    /// Moves the lines printed so far into the transcript.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Whether the process is still running (not exited, not a zombie).
    fn alive(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.status = Some(st);
                false
            }
            _ => true,
        }
    }

    /// Waits until the process exits (panicking after `timeout`), then until
    /// its output ends, and returns everything it printed.
    fn finish(&mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        while self.alive() {
            if Instant::now() > deadline {
                panic!(
                    "{} did not finish within {timeout:?}; output so far:\n{}",
                    self.what,
                    self.transcript()
                );
            }
            // Keep draining so that a chatty process cannot block on a full pipe.
            while let Ok(x) = self.lines.try_recv() {
                self.seen.push(x);
            }
            thread::sleep(Duration::from_millis(20));
        }
        // The pipes close once every process holding them is gone: a
        // process left behind (say the node a command started) shows here.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(x) => self.seen.push(x),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "{} exited but its output stays open: did it leave a process behind?\n{}",
                    self.what,
                    self.transcript()
                ),
            }
        }
        let join = |want: Stream| {
            self.seen
                .iter()
                .filter(|(s, _)| *s == want)
                .map(|(_, l)| format!("{l}\n"))
                .collect::<String>()
        };
        Output {
            status: self.status.expect("exited"),
            stdout: join(Stream::Out),
            stderr: join(Stream::Err),
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the group is ours.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn fixture(name: &str) -> String {
    repo()
        .join("fixtures/apps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// `node [flags] fixtures/apps/<app> [args]`, once it has printed READY.
fn node(flags: &[&str], app: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new("node");
    cmd.args(flags).arg(fixture(app)).args(args);
    let mut p = Proc::spawn(cmd);
    p.wait_line(Stream::Out, |l| l == "READY");
    p
}

/// A node started with `--inspect=127.0.0.1:0`, its WebSocket URL and port (from its stderr).
fn inspected_node(app: &str, args: &[&str]) -> (Proc, String, u16) {
    let mut p = node(&["--inspect=127.0.0.1:0"], app, args);
    let line = p.wait_line(Stream::Err, |l| l.starts_with("Debugger listening on "));
    let ws = line["Debugger listening on ".len()..].trim().to_owned();
    let port = ws
        .strip_prefix("ws://127.0.0.1:")
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {ws:?}"));
    (p, ws, port)
}

/// Starts `leakhound args...` in `dir`.
fn start(dir: &Path, args: &[&str]) -> Proc {
    let mut cmd = leakhound();
    cmd.current_dir(dir).args(args);
    Proc::spawn(cmd)
}

/// Runs `leakhound args...` in `dir` to completion.
fn run(dir: &Path, args: &[&str], timeout: Duration) -> Output {
    start(dir, args).finish(timeout)
}

fn assert_ok(out: &Output) {
    assert_eq!(
        out.code(),
        0,
        "expected success\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
}

/// Exit 2 with one `error: ...` line mentioning every needle, optionally
/// followed by one `hint: ...` line, and nothing after.
fn assert_error(out: &Output, needles: &[&str]) -> String {
    let lines: Vec<&str> = out.stderr.lines().collect();
    let errors: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("error: "))
        .collect();
    assert_eq!(
        (out.code(), errors.len()),
        (2, 1),
        "expected exit 2 and one error line\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let at = errors[0];
    let rest = &lines[at + 1..];
    assert!(
        rest.is_empty() || (rest.len() == 1 && rest[0].starts_with("hint: ")),
        "only a hint line may follow the error:\n{}",
        out.stderr
    );
    let message = lines[at..].join("\n");
    for n in needles {
        assert!(
            message.contains(n),
            "the error should mention {n:?}:\n{message}"
        );
    }
    message
}

/// The names in `dir`, sorted (hidden ones too: temp files must not linger).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A finished snapshot: private, alone in its directory, and `analyze` reads it.
fn assert_good_snapshot(dir: &Path, name: &str) {
    assert_eq!(names(dir), [name], "exactly the snapshot, no temp files");
    let path = dir.join(name);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{name} must be private");
    let out = run(dir, &["analyze", path.to_str().unwrap()], LONG);
    assert_ok(&out);
    assert!(
        out.stdout.contains(" nodes, "),
        "analyze output:\n{}",
        out.stdout
    );
}

/// Processes of a group that are still running (zombies do not count).
fn live_in_group(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        if f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z" && f[0] != "X" {
            out.push(pid);
        }
    }
    out
}

/// Asserts that leakhound stopped the program it started.
fn assert_nothing_left(p: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = live_in_group(p.pid());
        if live.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left running: {live:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshot_of_a_command() {
    let dir = TempDir::new("cap-cmd");
    let idle = fixture("idle.js");
    let mut p = start(
        dir.path(),
        &[
            "snapshot",
            "-o",
            "cmd.heapsnapshot",
            "--delay",
            "1s",
            "--",
            "node",
            &idle,
        ],
    );
    let out = p.finish(LONG);
    assert_ok(&out);
    // Our stdout may carry a report (--analyze): the app's goes to stderr.
    assert!(
        out.stderr.contains("READY") && !out.stdout.contains("READY"),
        "the app's stdout goes to stderr:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("wrote cmd.heapsnapshot"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("Debugger"),
        "inspector notices are hidden:\n{}",
        out.stderr
    );
    assert_nothing_left(&p);
    assert_good_snapshot(dir.path(), "cmd.heapsnapshot");
}

#[test]
fn snapshot_by_port_leaves_the_target_running() {
    let dir = TempDir::new("cap-port");
    let (mut node, _ws, port) = inspected_node("idle.js", &[]);
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--port",
            &port.to_string(),
            "-o",
            "port.heapsnapshot",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(node.alive(), "the target must survive its snapshot");
    assert_good_snapshot(dir.path(), "port.heapsnapshot");
}

#[test]
fn snapshot_by_ws_url_with_analyze() {
    let dir = TempDir::new("cap-ws");
    let (mut node, ws, _port) = inspected_node("idle.js", &[]);
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--inspect",
            &ws,
            "-o",
            "ws.heapsnapshot",
            "--analyze",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(
        out.stdout.contains("ws.heapsnapshot") && out.stdout.contains(" nodes, "),
        "--analyze prints the report:\n{}",
        out.stdout
    );
    assert!(node.alive());
    assert_good_snapshot(dir.path(), "ws.heapsnapshot");
}

#[test]
fn snapshot_by_pid_with_default_name() {
    let dir = TempDir::new("cap-pid");
    let (mut node, _ws, _port) = inspected_node("idle.js", &[]);
    let pid = node.pid().to_string();
    let out = run(dir.path(), &["snapshot", "--pid", &pid], LONG);
    assert_ok(&out);
    assert!(node.alive());
    let files = names(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].starts_with(&format!("heap-{pid}-")) && files[0].ends_with(".heapsnapshot"),
        "default name: {files:?}"
    );
    assert_good_snapshot(dir.path(), &files[0]);
}

#[test]
fn snapshot_by_pid_with_activation() {
    let _port = PORT_9229.lock().unwrap_or_else(|e| e.into_inner());
    // SIGUSR1 opens node's inspector on its default port.
    if std::net::TcpListener::bind("127.0.0.1:9229").is_err() {
        eprintln!(
            "skipped: 127.0.0.1:9229 is in use, SIGUSR1 activation could not open the inspector"
        );
        return;
    }
    let dir = TempDir::new("cap-activate");
    let mut node = node(&[], "idle.js", &[]);
    let pid = node.pid().to_string();

    let out = run(
        dir.path(),
        &["snapshot", "--pid", &pid, "-o", "a.heapsnapshot"],
        SHORT,
    );
    assert_error(
        &out,
        &[&format!("process {pid}"), "no inspector", "--activate"],
    );
    assert!(node.alive());
    assert!(names(dir.path()).is_empty());

    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--pid",
            &pid,
            "--activate",
            "-o",
            "a.heapsnapshot",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(node.alive(), "activation must not kill the target");
    assert_good_snapshot(dir.path(), "a.heapsnapshot");
    // What we opened we close: nothing listens on 9229 afterwards.
    assert!(
        out.stderr.contains("closed the inspector"),
        "{}",
        out.stderr
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect("127.0.0.1:9229").is_ok() {
        assert!(
            Instant::now() < deadline,
            "the inspector stays open on 9229"
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(node.alive());

    // --keep-inspector leaves it open (then a second snapshot needs no SIGUSR1).
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--pid",
            &pid,
            "--activate",
            "--keep-inspector",
            "-o",
            "b.heapsnapshot",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(std::net::TcpStream::connect("127.0.0.1:9229").is_ok());
    // An inspector that was open before is not ours to close.
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--pid",
            &pid,
            "--activate",
            "-o",
            "c.heapsnapshot",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(
        !out.stderr.contains("closed the inspector"),
        "{}",
        out.stderr
    );
    assert!(std::net::TcpStream::connect("127.0.0.1:9229").is_ok());
    assert!(node.alive());
}

// ---------------------------------------------------------------- refusals and errors

#[test]
fn remote_inspectors_are_refused_without_connecting() {
    let dir = TempDir::new("cap-remote");
    for args in [
        vec!["snapshot", "--inspect", "ws://10.1.2.3:9229/x"],
        vec!["snapshot", "--port", "9229", "--host", "10.1.2.3"],
        vec!["profile", "--inspect", "ws://example.invalid:9229/x"],
        vec!["snapshot", "--inspect", "ws://127.0.0.1@10.1.2.3:9229/x"],
    ] {
        let out = run(dir.path(), &args, SHORT);
        assert_error(&out, &["non-loopback", "--allow-remote"]);
    }
    assert!(names(dir.path()).is_empty());

    // A listener on one of this machine's own non-loopback addresses sees no connection.
    let local_ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.1.2.3:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip());
    let Ok(ip) = local_ip else {
        eprintln!("note: no non-loopback address, skipping the listener check");
        return;
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return;
    }
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let ws = format!("ws://{addr}/x");
    let port = addr.port().to_string();
    let host = ip.to_string();
    for args in [
        vec!["snapshot", "--inspect", ws.as_str()],
        vec!["snapshot", "--port", port.as_str(), "--host", host.as_str()],
    ] {
        let out = run(dir.path(), &args, SHORT);
        assert_error(&out, &["--allow-remote"]);
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("leakhound connected to a non-loopback inspector: {other:?}"),
    }
    assert!(names(dir.path()).is_empty());
}

#[test]
fn dead_target_and_wrong_port() {
    let dir = TempDir::new("cap-dead");
    let (mut node, ws, port) = inspected_node("idle.js", &[]);
    node.signal(libc::SIGKILL);
    let _ = node.finish(LONG);
    let port = port.to_string();

    let out = run(
        dir.path(),
        &["snapshot", "--port", &port, "-o", "x.heapsnapshot"],
        SHORT,
    );
    assert_error(&out, &[&format!("127.0.0.1:{port}"), "no inspector"]);
    let out = run(
        dir.path(),
        &["snapshot", "--inspect", &ws, "-o", "x.heapsnapshot"],
        SHORT,
    );
    assert_error(&out, &[&ws, "cannot connect"]);
    let out = run(
        dir.path(),
        &["profile", "--port", &port, "--duration", "1s"],
        SHORT,
    );
    assert_error(&out, &[&format!("127.0.0.1:{port}")]);

    // An HTTP service that is not an inspector.
    let mut service = Proc::spawn({
        let mut c = Command::new("node");
        c.arg(fixture("control-stateless.js"));
        c
    });
    let line = service.wait_line(Stream::Out, |l| {
        l.starts_with("listening on http://127.0.0.1:")
    });
    let port = line.rsplit(':').next().unwrap().to_owned();
    let out = run(
        dir.path(),
        &["snapshot", "--port", &port, "-o", "x.heapsnapshot"],
        SHORT,
    );
    assert_error(&out, &[&format!("127.0.0.1:{port}"), "not an inspector"]);
    assert!(service.alive());
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn command_that_exits_before_the_snapshot() {
    let dir = TempDir::new("cap-early");
    let app = fixture("exit-status.js");
    let mut p = start(
        dir.path(),
        &[
            "snapshot",
            "-o",
            "x.heapsnapshot",
            "--delay",
            "1s",
            "--",
            "node",
            &app,
            "3",
        ],
    );
    let out = p.finish(LONG);
    assert_error(&out, &["exit-status.js", "exited"]);
    // The app's output is shown (on stderr: our stdout is for reports).
    assert!(out.stderr.contains("hello from the app"), "{}", out.stderr);
    assert!(names(dir.path()).is_empty());
}

/// A PID above the kernel's limit: never a process.
fn impossible_pid() -> String {
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4_194_304);
    (max + 1).to_string()
}

#[test]
fn wrong_pids() {
    let dir = TempDir::new("cap-pid-wrong");
    let pid = impossible_pid();
    for args in [
        vec!["snapshot", "--pid", pid.as_str()],
        vec!["snapshot", "--pid", pid.as_str(), "--activate"],
        vec!["profile", "--pid", pid.as_str(), "--duration", "1s"],
    ] {
        let out = run(dir.path(), &args, SHORT);
        assert_error(&out, &[&format!("process {pid}"), "no such process"]);
    }

    // Not node: never signalled, whatever it is called.
    let mut sleep = Proc::spawn({
        let mut c = Command::new("sleep");
        c.arg("100");
        c
    });
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("bash");
    // Processes that do handle SIGUSR1 (and would print on it), named like node.
    let trap = "trap 'echo got-usr1' USR1; echo READY; while :; do sleep 0.05; done";
    let renamed = dir.path().join("node_exporter");
    std::fs::copy(bash, &renamed).unwrap();
    let mut impostors = vec![
        Proc::spawn({
            let mut c = Command::new(bash);
            c.arg0("node").args(["-c", trap]);
            c
        }),
        Proc::spawn({
            let mut c = Command::new(&renamed);
            c.args(["-c", trap]);
            c
        }),
    ];
    for p in &mut impostors {
        p.wait_line(Stream::Out, |l| l == "READY");
    }
    let out = run(
        dir.path(),
        &["snapshot", "--pid", &sleep.pid().to_string(), "--activate"],
        SHORT,
    );
    assert_error(&out, &["not a Node.js process", "refusing"]);
    let out = run(
        dir.path(),
        &["snapshot", "--pid", &sleep.pid().to_string()],
        SHORT,
    );
    assert_error(&out, &["no inspector"]);
    for p in &impostors {
        let out = run(
            dir.path(),
            &["snapshot", "--pid", &p.pid().to_string(), "--activate"],
            SHORT,
        );
        assert_error(&out, &["not a Node.js process", "refusing"]);
    }
    thread::sleep(Duration::from_millis(300));
    assert!(sleep.alive(), "sleep must not be signalled");
    for p in &mut impostors {
        assert!(p.alive());
        while let Ok(x) = p.lines.try_recv() {
            p.seen.push(x);
        }
        assert!(
            !p.seen.iter().any(|(_, l)| l.contains("got-usr1")),
            "{} got SIGUSR1",
            p.what
        );
    }
    std::fs::remove_file(&renamed).unwrap();
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

/// The file `p` is writing under `dir`, found by its open descriptor (it may
/// have no name yet): its size and mode.
fn file_being_written(p: &Proc, dir: &Path) -> Option<(u64, u32)> {
    let dir = dir.canonicalize().ok()?;
    for e in std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
        .ok()?
        .flatten()
    {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if target.starts_with(&dir)
            && let Ok(m) = std::fs::metadata(e.path())
            && m.is_file()
        {
            return Some((m.len(), m.permissions().mode() & 0o777));
        }
    }
    None
}

/// Waits until snapshot data reaches the disk.
fn wait_streaming(lh: &mut Proc, dir: &Path) {
    let deadline = Instant::now() + LONG;
    loop {
        if let Some((len, mode)) = file_being_written(lh, dir)
            && len > 0
        {
            assert_eq!(mode, 0o600, "private while written, too");
            return;
        }
        assert!(
            lh.alive(),
            "leakhound ended before streaming:\n{}",
            lh.transcript()
        );
        assert!(
            Instant::now() < deadline,
            "no snapshot data within {LONG:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupted_snapshot_leaves_nothing_behind() {
    let dir = TempDir::new("cap-interrupted");
    let (mut node, _ws, port) = inspected_node("big-heap.js", &["400000"]);
    let mut lh = start(
        dir.path(),
        &[
            "snapshot",
            "--port",
            &port.to_string(),
            "-o",
            "i.heapsnapshot",
        ],
    );
    wait_streaming(&mut lh, dir.path());
    // Freeze the target so the snapshot cannot complete before the interrupt
    // lands (on a fast machine it otherwise might), interrupt, then thaw it.
    node.signal(libc::SIGSTOP);
    lh.signal(libc::SIGINT);
    let out = lh.finish(LONG);
    node.signal(libc::SIGCONT);
    assert!(!out.status.success(), "stderr:\n{}", out.stderr);
    assert!(
        names(dir.path()).is_empty(),
        "partial file left: {:?}",
        names(dir.path())
    );
    assert!(node.alive(), "the target outlives an interrupted capture");
}

#[test]
fn target_killed_mid_snapshot() {
    let dir = TempDir::new("cap-killed");
    let (node, _ws, port) = inspected_node("big-heap.js", &[]);
    let mut lh = start(
        dir.path(),
        &[
            "snapshot",
            "--port",
            &port.to_string(),
            "-o",
            "k.heapsnapshot",
            "--force",
        ],
    );
    // Kill the target once chunks are being written.
    wait_streaming(&mut lh, dir.path());
    // Freeze first: the snapshot must not finish in the moment before the kill.
    node.signal(libc::SIGSTOP);
    node.signal(libc::SIGKILL);
    let out = lh.finish(LONG);
    assert!(
        out.stderr.contains("note: ") && out.stderr.contains("more in the target"),
        "large heaps get a warning first:\n{}",
        out.stderr
    );
    assert_error(
        &out,
        &[
            &format!("127.0.0.1:{port}"),
            "snapshot failed",
            "did the target exit",
        ],
    );
    assert!(
        names(dir.path()).is_empty(),
        "partial file left: {:?}",
        names(dir.path())
    );
}

/// A tiny tmpfs mounted for a test, unmounted when dropped.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(at: PathBuf) -> Option<TinyFs> {
        std::fs::create_dir(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyFs(at))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full() {
    let dir = TempDir::new("cap-full");
    let idle = fixture("idle.js");
    let Some(tiny) = TinyFs::mount(dir.path().join("tiny")) else {
        eprintln!(
            "skipped: cannot mount a tmpfs here (not root?); the file-size-limit test covers the write path"
        );
        return;
    };
    let out_path = tiny.0.join("x.heapsnapshot");
    let mut p = start(
        dir.path(),
        &[
            "snapshot",
            "-o",
            out_path.to_str().unwrap(),
            "--delay",
            "0.5s",
            "--",
            "node",
            &idle,
        ],
    );
    let out = p.finish(LONG);
    assert_error(
        &out,
        &["x.heapsnapshot", "cannot write", "No space left on device"],
    );
    assert_nothing_left(&p);
    assert!(
        names(&tiny.0).is_empty(),
        "partial file left: {:?}",
        names(&tiny.0)
    );
}

#[test]
fn file_size_limit() {
    // Writes failing half-way, without root: RLIMIT_FSIZE with SIGXFSZ ignored.
    let dir = TempDir::new("cap-fsize");
    let (node, _ws, port) = inspected_node("idle.js", &[]);
    let mut cmd = leakhound();
    cmd.current_dir(dir.path()).args([
        "snapshot",
        "--port",
        &port.to_string(),
        "-o",
        "x.heapsnapshot",
    ]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256 * 1024,
                rlim_max: 256 * 1024,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = Proc::spawn(cmd).finish(LONG);
    assert_error(&out, &["x.heapsnapshot", "cannot write"]);
    assert!(
        names(dir.path()).is_empty(),
        "partial file left: {:?}",
        names(dir.path())
    );
    drop(node);
}

// ---------------------------------------------------------------- profile

#[test]
fn profile_lists_allocation_sites() {
    let dir = TempDir::new("cap-profile");
    let app = fixture("alloc-steady.js");
    let mut p = start(
        dir.path(),
        &[
            "profile",
            "--duration",
            "2s",
            "-o",
            "p.heapprofile",
            "--top",
            "5",
            "--",
            "node",
            &app,
        ],
    );
    let out = p.finish(LONG);
    assert_ok(&out);
    assert_nothing_left(&p);
    assert_eq!(names(dir.path()), ["p.heapprofile"]);
    let path = dir.path().join("p.heapprofile");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("the .heapprofile is JSON");
    assert!(
        json.pointer("/head/callFrame/functionName").is_some(),
        "no head: {json:.200}"
    );
    assert!(json.get("samples").is_some_and(|s| s.is_array()));
    // The top site is the fixture's allocating function, with its line.
    let top = out
        .stdout
        .lines()
        .find(|l| l.contains("growRetained"))
        .unwrap_or_else(|| panic!("growRetained is not listed:\n{}", out.stdout));
    let after = top
        .split("alloc-steady.js:")
        .nth(1)
        .unwrap_or_else(|| panic!("no file:line in {top:?}"));
    let line: String = after.chars().take_while(char::is_ascii_digit).collect();
    // V8 reports the allocating function's position: line 5.
    assert_eq!(line, "5", "growRetained is on line 5: {top:?}");
}

// ---------------------------------------------------------------- run

#[test]
fn run_passes_output_and_exit_status_through() {
    let dir = TempDir::new("cap-run");
    let app = fixture("exit-status.js");
    for status in ["7", "0"] {
        let mut p = start(dir.path(), &["run", "--", "node", &app, status]);
        let out = p.finish(LONG);
        assert_eq!(out.code().to_string(), status, "stderr:\n{}", out.stderr);
        assert_eq!(out.stdout, "hello from the app\n");
        assert!(
            out.stderr.contains("app stderr line"),
            "stderr:\n{}",
            out.stderr
        );
        assert!(!out.stderr.contains("Debugger listening"), "{}", out.stderr);
        assert_nothing_left(&p);
    }
    assert!(names(dir.path()).is_empty());
}

#[test]
fn run_snapshots_on_sigusr2() {
    let dir = TempDir::new("cap-run-usr2");
    let snaps = dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    let idle = fixture("idle.js");
    let mut p = start(
        dir.path(),
        &["run", "--dir", snaps.to_str().unwrap(), "--", "node", &idle],
    );
    let line = p.wait_line(Stream::Err, |l| l.contains(" runs as pid "));
    let app_pid: u32 = line
        .split(" runs as pid ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    p.wait_line(Stream::Err, |l| l.contains("send SIGUSR2"));
    p.wait_line(Stream::Out, |l| l == "READY");
    p.signal(libc::SIGUSR2);
    p.wait_line(Stream::Err, |l| l.starts_with("leakhound: wrote "));
    p.signal(libc::SIGTERM);
    let out = p.finish(LONG);
    assert_eq!(out.code(), 143, "stderr:\n{}", out.stderr);
    // The app (in leakhound's process group) was stopped too.
    assert_nothing_left(&p);
    let files = names(&snaps);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].starts_with(&format!("heap-{app_pid}-")),
        "{files:?}"
    );
    assert_good_snapshot(&snaps, &files[0]);
}

/// With `--keep-profiler`, `run` keeps one inspector session (closing it
/// would turn the profiler off and renumber the next snapshot), so
/// `find-leaks` accepts its snapshots as one series.
#[test]
fn run_keep_profiler_keeps_object_ids() {
    let dir = TempDir::new("cap-run-keep");
    let snaps = dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    let idle = fixture("idle.js");
    let mut p = start(
        dir.path(),
        &[
            "run",
            "--keep-profiler",
            "--dir",
            snaps.to_str().unwrap(),
            "--",
            "node",
            &idle,
        ],
    );
    p.wait_line(Stream::Err, |l| l.contains("send SIGUSR2"));
    p.wait_line(Stream::Out, |l| l == "READY");
    let mut wrote: Vec<String> = Vec::new();
    for _ in 0..3 {
        p.signal(libc::SIGUSR2);
        let line = p.wait_line(Stream::Err, |l| {
            l.starts_with("leakhound: wrote ") && !wrote.iter().any(|w| w == l)
        });
        wrote.push(line);
    }
    p.signal(libc::SIGTERM);
    let out = p.finish(LONG);
    assert_eq!(out.code(), 143, "stderr:\n{}", out.stderr);
    let files = names(&snaps);
    assert_eq!(files.len(), 3, "{files:?}");
    let mut args = vec!["find-leaks".to_owned(), "--quiet".to_owned()];
    args.extend(
        files
            .iter()
            .map(|f| snaps.join(f).to_string_lossy().into_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir.path(), &args, LONG);
    assert!(
        matches!(out.code(), 0 | 1) && out.stderr.is_empty(),
        "find-leaks refused run --keep-profiler's snapshots ({}):\n{}",
        out.code(),
        out.stderr
    );
}

#[test]
fn run_reports_a_killed_app_like_a_shell() {
    // Killed by signal N: exit 128 + N.
    let dir = TempDir::new("cap-run-killed");
    let mut p = start(dir.path(), &["run", "--", "node", &fixture("idle.js")]);
    let line = p.wait_line(Stream::Err, |l| l.contains(" runs as pid "));
    let app_pid: i32 = line
        .split(" runs as pid ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    p.wait_line(Stream::Out, |l| l == "READY");
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(app_pid, libc::SIGKILL) };
    let out = p.finish(LONG);
    assert_eq!(out.code(), 128 + libc::SIGKILL, "stderr:\n{}", out.stderr);
    assert!(out.status.signal().is_none());
    assert_nothing_left(&p);
}

// ---------------------------------------------------------------- hunt's own process

/// `hunt` killed with SIGKILL takes the app it started with it (no orphan
/// keeps its inspector open), and the next hunt removes the private
/// snapshot directory the dead one left.
#[test]
fn killed_hunt_leaves_no_app_and_its_directory_is_swept() {
    let dir = TempDir::new("hunt-kill");
    let app = fixture("leak-cache.js");
    let mut p = start(dir.path(), &["hunt", "--settle", "60s", "--", "node", &app]);
    p.wait_line(Stream::Err, |l| l.starts_with("listening on"));
    let snapshots = std::env::temp_dir().join(format!("leakhound-hunt-{}", p.pid()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !snapshots.exists() {
        assert!(Instant::now() < deadline, "no {}", snapshots.display());
        thread::sleep(Duration::from_millis(50));
    }
    p.signal(libc::SIGKILL);
    // Reaped (as a shell would); its pipes close only once the app it
    // started is gone too.
    let out = p.finish(LONG);
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert_nothing_left(&p);
    assert!(snapshots.exists(), "a killed hunt cannot clean up itself");
    let out = run(
        dir.path(),
        &["hunt", "--html", "nodir/h.html", "--", "node", "-e", "1"],
        LONG,
    );
    assert_error(&out, &["nodir"]);
    assert!(
        !snapshots.exists(),
        "the next hunt sweeps {}",
        snapshots.display()
    );
}

/// An app that dies under `hunt` is reported as such: its exit status,
/// its own output above, not a protocol error.
#[test]
fn hunt_says_why_the_app_died() {
    let dir = TempDir::new("hunt-dies");
    let out = run(dir.path(), &["hunt", "--", "node", "/nonexistent.js"], LONG);
    assert_error(&out, &["/nonexistent.js", "exited (exit status: 1)"]);
    assert!(out.stderr.contains("Cannot find module"), "{}", out.stderr);
    assert!(!out.stderr.contains("Runtime.evaluate"), "{}", out.stderr);
}

/// `run --dir` and `hunt --out-dir` create their directory (and its
/// parents) before the app starts, private (0700) even under umask 0.
#[test]
fn output_directories_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mkdirs");
    let lh = env!("CARGO_BIN_EXE_leakhound");
    let run_dir = dir.path().join("runs/today");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 0; exec '{lh}' run --dir '{}' -- node -e 'setTimeout(() => {{}}, 300)'",
            run_dir.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hunt_dir = dir.path().join("hunts/a");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 0; exec '{lh}' hunt --out-dir '{0}' --html '{0}/report.html' -- node -e 1",
            hunt_dir.display()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "the app ends at once, after the directory"
    );
    // The report may go into the snapshot directory hunt creates.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exited"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
    for d in [
        &run_dir,
        &dir.path().join("runs"),
        &hunt_dir,
        &dir.path().join("hunts"),
    ] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
}

/// `--activate` hints say the real reason: the permission model (no
/// SIGUSR1 handler, no inspector), or port 9229 held by another process.
#[test]
fn activation_refusals_name_the_cause() {
    let _port = PORT_9229.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("cap-activate-why");
    let mut cmd = Command::new("node");
    cmd.args(["--experimental-permission", "--allow-fs-read=*"])
        .arg(fixture("idle.js"));
    let mut p = Proc::spawn(cmd);
    p.wait_line(Stream::Out, |l| l == "READY");
    let pid = p.pid().to_string();
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--pid",
            &pid,
            "--activate",
            "-o",
            "a.heapsnapshot",
        ],
        SHORT,
    );
    assert_error(&out, &["permission model"]);
    assert!(!out.stderr.contains("--disable-sigusr1"), "{}", out.stderr);
    assert!(p.alive());
    drop(p);

    // 9229 held by something else (skipped when it is already busy: then
    // we cannot know who holds it).
    let Ok(holder) = std::net::TcpListener::bind("127.0.0.1:9229") else {
        eprintln!("skipped the 9229 case: the port is in use");
        return;
    };
    let mut p = node(&[], "idle.js", &[]);
    let pid = p.pid().to_string();
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--pid",
            &pid,
            "--activate",
            "-o",
            "b.heapsnapshot",
        ],
        SHORT,
    );
    assert_error(&out, &["9229", "taken by another process"]);
    assert!(p.alive(), "no SIGUSR1 was sent");
    drop(holder);
    assert!(names(dir.path()).is_empty());
}

/// Runs a shell command on a pseudo-terminal (`script`, util-linux) and
/// returns what the terminal showed, escape sequences and carriage
/// returns turned into plain lines.
fn on_a_terminal(dir: &Path, command: &str) -> String {
    let log = dir.join("pty.log");
    let out = Command::new("script")
        .args(["-qfc", command])
        .arg(&log)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params letter
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => text.push('\n'),
            _ => text.push(c),
        }
    }
    text
}

/// On a terminal, a snapshot shows objects while V8 walks the heap, then
/// bytes received while it writes; hunt shows its requests; and a
/// terminal that reports a width of 0 still gets readable tables.
#[test]
fn progress_and_tables_on_a_terminal() {
    let dir = TempDir::new("pty");
    let lh = env!("CARGO_BIN_EXE_leakhound");
    let idle = fixture("idle.js");
    let shown = on_a_terminal(
        dir.path(),
        &format!("stty cols 120; '{lh}' snapshot -o s.heapsnapshot --delay 0s -- node '{idle}'"),
    );
    assert!(shown.contains("objects"), "walking: {shown}");
    assert!(shown.contains("received"), "writing: {shown}");
    assert!(
        !shown.contains("KiB/") || shown.contains("received"),
        "{shown}"
    );
    let leak = fixture("leak-cache.js");
    let shown = on_a_terminal(
        dir.path(),
        &format!(
            "stty cols 120; '{lh}' hunt --settle 1s --requests 100 --snapshots 3 -- node '{leak}' > /dev/null"
        ),
    );
    assert!(shown.contains("requests"), "load: {shown}");
    assert!(shown.contains("settle"), "settling: {shown}");
    let shown = on_a_terminal(
        dir.path(),
        &format!("stty cols 0; '{lh}' analyze s.heapsnapshot"),
    );
    assert!(
        shown
            .lines()
            .any(|l| l.contains("Statistics") && l.contains("Size")),
        "a readable table at width 0: {shown}"
    );
}

/// `hunt --startup-timeout` bounds the wait for the inspector too: a
/// command that never opens one is given up on in time, not after 30 s.
#[test]
fn hunt_startup_timeout_bounds_the_inspector_wait() {
    let dir = TempDir::new("hunt-startup");
    let started = Instant::now();
    let out = run(
        dir.path(),
        &["hunt", "--startup-timeout", "1s", "--", "sleep", "30"],
        LONG,
    );
    assert_error(&out, &["sleep", "inspector"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// For each object named `class`, the arrays holding it by an element edge:
/// (the names of the edges to the array, how many of them it holds).
fn element_holders(path: &Path, class: &str) -> (usize, Vec<(Vec<String>, usize)>) {
    let bytes = std::fs::read(path).unwrap();
    let g = heapsnap::parse_bytes(&bytes).expect("snapshot parses");
    let wanted: std::collections::HashSet<_> = g
        .nodes()
        .filter(|&n| g.name(n) == class && g.node_type_name(n) == "object")
        .collect();
    let mut holders = std::collections::HashMap::new();
    for n in g.nodes() {
        for e in g.edge_indices(n) {
            if g.edge_type_name(e) == "element" && wanted.contains(&g.edge_target(e)) {
                *holders.entry(n).or_insert(0) += 1;
            }
        }
    }
    let mut names: std::collections::HashMap<_, Vec<String>> = std::collections::HashMap::new();
    for n in g.nodes() {
        for e in g.edge_indices(n) {
            let to = g.edge_target(e);
            if holders.contains_key(&to) {
                names
                    .entry(to)
                    .or_default()
                    .push(g.edge_name(e).into_owned());
            }
        }
    }
    let mut v: Vec<(Vec<String>, usize)> = holders
        .into_iter()
        .map(|(n, count)| (names.remove(&n).unwrap_or_default(), count))
        .collect();
    v.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    (wanted.len(), v)
}

/// Waits until busy-queue.js has printed `more` new `rounds` lines (it
/// prints one every 10 rounds): the target is not left paused.
fn rounds_go_on(node: &mut Proc, more: u32) {
    node.drain();
    let last = node
        .transcript()
        .lines()
        .filter_map(|l| l.strip_prefix("[Out] rounds "))
        .filter_map(|n| n.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    node.wait_line(Stream::Out, |l| {
        l.strip_prefix("rounds ")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= last + 10 * more)
    });
}

/// A timer callback busy three quarters of the time moves its whole queue
/// to a local array and back: every snapshot must be taken between tasks,
/// with all 2000 jobs in `queue` and none on the callback's stack. The
/// callback's `debugger` statement must not leave the target paused.
#[test]
fn snapshots_are_taken_between_tasks() {
    let dir = TempDir::new("cap-boundary");
    let (mut node, _ws, port) = inspected_node("busy-queue.js", &[]);
    for i in 0..3 {
        let name = format!("{i}.heapsnapshot");
        let out = run(
            dir.path(),
            &["snapshot", "--port", &port.to_string(), "-o", &name],
            LONG,
        );
        assert_ok(&out);
        assert!(
            !out.stderr.contains("middle of a task"),
            "the loop is never busy for long:\n{}",
            out.stderr
        );
        let (jobs, holders) = element_holders(&dir.path().join(&name), "QueuedJob");
        assert_eq!(jobs, 2000, "snapshot {i}");
        assert_eq!(
            holders.len(),
            1,
            "snapshot {i}: one array holds every job (no half-moved queue): {holders:?}"
        );
        assert_eq!(holders[0].1, 2000, "snapshot {i}: {holders:?}");
        assert!(
            holders[0].0.iter().any(|n| n == "queue"),
            "snapshot {i}: the array is `queue`: {holders:?}"
        );
    }
    rounds_go_on(&mut node, 1);
    assert!(node.alive(), "the target must keep running");
}

/// A target whose event loop is blocked longer than the capture waits for a
/// task boundary: the snapshot is taken anyway, with a note, and the target
/// goes on afterwards (its pending snapshot point does not pause it later).
#[test]
fn a_blocked_event_loop_is_snapshotted_mid_task() {
    let dir = TempDir::new("cap-blocked");
    let (mut node, _ws, port) = inspected_node("busy-queue.js", &["--block-ms", "8000"]);
    node.wait_line(Stream::Out, |l| l == "BLOCKING");
    let out = run(
        dir.path(),
        &[
            "snapshot",
            "--port",
            &port.to_string(),
            "-o",
            "blocked.heapsnapshot",
        ],
        LONG,
    );
    assert_ok(&out);
    assert!(
        out.stderr.contains("stayed busy for 5s") && out.stderr.contains("in the middle of a task"),
        "a note says the snapshot is mid-task:\n{}",
        out.stderr
    );
    rounds_go_on(&mut node, 2);
    assert!(node.alive());
    assert_good_snapshot(dir.path(), "blocked.heapsnapshot");
}
