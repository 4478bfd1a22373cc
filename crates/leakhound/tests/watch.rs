//! `leakhound watch` and `leakhound history` against real node processes:
//! metrics (checked with promtool when installed), health, bearer token,
//! trend detection, alert actions (webhook, snapshot, command), reconnect
//! after a restart, and history that survives `kill -9`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TempDir, leakhound, repo};

/// A child process killed (SIGKILL) and reaped when dropped; its stderr is collected.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proc { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a line of stderr containing `prefix` and returns the rest of it.
    fn wait_line(&self, prefix: &str, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            if let Some(rest) = self
                .stderr()
                .lines()
                .find_map(|l| l.split_once(prefix).map(|(_, r)| r.trim().to_owned()))
            {
                return rest;
            }
            assert!(
                t.elapsed() < timeout,
                "no {prefix:?} within {timeout:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc_kill(self.pid(), sig) };
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < timeout,
                "still running after {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// `node --inspect=127.0.0.1:PORT script args`; returns the process and its ws URL.
fn node(script: &str, port: u16, args: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new("node");
    cmd.arg(format!("--inspect=127.0.0.1:{port}"))
        .arg(repo().join(script))
        .args(args);
    let p = Proc::spawn(cmd);
    let ws = p.wait_line("Debugger listening on ", Duration::from_secs(20));
    (p, ws)
}

fn port_of(ws: &str) -> u16 {
    ws.trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|hp| hp.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("port in ws url")
}

/// `GET path` with an optional bearer token: (status, body).
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to leakhound");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read response");
    let (head, body) = buf.split_once("\r\n\r\n").expect("http response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of a sample line `name{labels} value` in a scrape.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

fn server_addr(watch: &Proc) -> String {
    let url = watch.wait_line("serving http://", Duration::from_secs(60));
    url.split('/').next().unwrap().to_owned()
}

fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!(
            "promtool not found (Debian package prometheus): skipping the exposition format check"
        );
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scrape ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn history_json(db: &Path, extra: &[&str]) -> serde_json::Value {
    let out = leakhound()
        .args(["history", "--json", "--since", "1h", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("history JSON")
}

#[test]
fn metrics_health_token_trend_and_history() {
    let dir = TempDir::new("watch-metrics");
    let db = dir.path().join("h.db");
    let mut cmd = leakhound();
    cmd.args([
        "watch",
        "--interval",
        "200ms",
        "--trend-window",
        "1s",
        "--listen",
        "127.0.0.1:0",
        "--bearer-token",
        "s3cret",
        "--name",
        "grow",
        "--db",
    ])
    .arg(&db)
    .arg("--")
    .arg("node")
    .arg(repo().join("fixtures/apps/grow.js"));
    let mut watch = Proc::spawn(cmd);
    let addr = server_addr(&watch);
    let node_pid: i32 = watch
        .wait_line("(pid ", Duration::from_secs(5))
        .trim_end_matches(')')
        .parse()
        .unwrap();

    assert_eq!(get(&addr, "/metrics", None).0, 401);
    assert_eq!(get(&addr, "/health", Some("wrong")).0, 401);

    // The leak is found: a significant positive slope of the post-GC floor.
    let scrape = wait_for("a significant heap trend", Duration::from_secs(60), || {
        let (code, body) = get(&addr, "/metrics", Some("s3cret"));
        assert_eq!(code, 200);
        (metric(&body, "leakhound_heap_trend_significant{target=\"grow\"}") == Some(1.0))
            .then_some(body)
    });
    for name in [
        "nodejs_heap_size_used_bytes{target=\"grow\"}",
        "nodejs_heap_size_total_bytes{target=\"grow\"}",
        "nodejs_external_memory_bytes{target=\"grow\"}",
        "nodejs_heap_space_size_used_bytes{target=\"grow\",space=\"old\"}",
        "nodejs_heap_space_size_total_bytes{target=\"grow\",space=\"new\"}",
        "nodejs_gc_duration_seconds_bucket{le=\"+Inf\",target=\"grow\",kind=\"minor\"}",
        "nodejs_gc_duration_seconds_count{target=\"grow\",kind=\"major\"}",
        "nodejs_eventloop_lag_seconds{target=\"grow\"}",
        "nodejs_eventloop_lag_p99_seconds{target=\"grow\"}",
        "process_resident_memory_bytes{target=\"grow\"}",
        "leakhound_heap_growth_bytes_per_second{target=\"grow\"}",
        "leakhound_time_to_heap_limit_seconds{target=\"grow\"}",
        "leakhound_target_up{target=\"grow\"}",
    ] {
        assert!(metric(&scrape, name).is_some(), "{name} missing:\n{scrape}");
    }
    assert!(scrape.contains("# TYPE nodejs_gc_duration_seconds histogram"));
    let growth = metric(
        &scrape,
        "leakhound_heap_growth_bytes_per_second{target=\"grow\"}",
    )
    .unwrap();
    assert!(growth > 100_000.0, "growth {growth} B/s");
    assert_eq!(
        metric(&scrape, "leakhound_target_up{target=\"grow\"}"),
        Some(1.0)
    );
    promtool_check(&scrape);

    let (code, body) = get(&addr, "/health", Some("s3cret"));
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(health["targets"]["grow"]["up"], true);
    assert_eq!(health["targets"]["grow"]["trend_significant"], true);

    // SIGTERM: graceful stop, the app we started is stopped too.
    watch.signal(SIGTERM);
    let status = watch.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}:\n{}", watch.stderr());
    assert!(
        !Path::new(&format!("/proc/{node_pid}")).exists() || {
            std::thread::sleep(Duration::from_millis(500));
            !Path::new(&format!("/proc/{node_pid}")).exists()
        }
    );

    // No --trend-window: history reads the samples with the window watch used (1s).
    let h = history_json(&db, &["--target", "grow"]);
    let t = &h["targets"][0];
    assert_eq!(t["target"], "grow");
    assert!(t["samples"].as_array().unwrap().len() >= 10, "{h}");
    assert_eq!(t["trend"]["growing"], true, "{}", t["trend"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let table = leakhound()
        .args(["history", "--trend-window", "1s", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("growing (significant)"), "{text}");
}

/// A one-shot HTTP server collecting request bodies.
fn webhook_server() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    (addr, rx)
}

#[test]
fn config_targets_alert_actions_and_reconnect() {
    let dir = TempDir::new("watch-alerts");
    let (idle, ws) = node("fixtures/apps/idle.js", 0, &["1"]);
    let port = port_of(&ws);
    let (hook, bodies) = webhook_server();
    let snaps = dir.path().join("snaps");
    let cmd_out = dir.path().join("cmd.txt");
    let config = format!(
        r#"
interval = "200ms"
listen = "127.0.0.1:0"
history = "{db}"

[[target]]
name = "idle"
port = {port}

[[rule]]
name = "HeapAboveOneMB"
metric = "heap_used_bytes"
threshold = 1000000
for = "400ms"
severity = "info"
actions = ["log", "webhook", "snapshot", "command"]

[actions.webhook]
url = "http://{hook}/api/v2/alerts"
format = "alertmanager"

[actions.snapshot]
dir = "{snaps}"
max_count = 1

[actions.command]
argv = ["/bin/sh", "-c", "env | grep ^LEAKHOUND_ | sort > {cmd_out}"]
"#,
        db = dir.path().join("h.db").display(),
        snaps = snaps.display(),
        cmd_out = cmd_out.display(),
    );
    let cfg = dir.path().join("leakhound.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = leakhound();
    cmd.args(["watch", "--config"]).arg(&cfg);
    let watch = Proc::spawn(cmd);
    let addr = server_addr(&watch);

    // Fires: Alertmanager payload, 0600 snapshot, command with the details.
    let body = bodies
        .recv_timeout(Duration::from_secs(60))
        .expect("webhook");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["labels"]["alertname"], "HeapAboveOneMB", "{body}");
    assert_eq!(v[0]["labels"]["target"], "idle");
    assert!(v[0]["startsAt"].as_str().unwrap().ends_with('Z'));
    assert!(v[0].get("endsAt").is_none());
    let snap = v[0]["annotations"]["snapshot"]
        .as_str()
        .expect("snapshot path")
        .to_owned();
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&snap).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let mut head = [0u8; 12];
    std::fs::File::open(&snap)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(&head, b"{\"snapshot\":");
    let env = wait_for("the alert command", Duration::from_secs(20), || {
        std::fs::read_to_string(&cmd_out)
            .ok()
            .filter(|s| s.contains("LEAKHOUND_TARGET"))
    });
    assert!(env.contains("LEAKHOUND_ALERT=HeapAboveOneMB"), "{env}");
    assert!(env.contains("LEAKHOUND_STATUS=firing"), "{env}");
    assert!(env.contains(&format!("LEAKHOUND_SNAPSHOT={snap}")), "{env}");

    let (code, body) = get(&addr, "/health", None);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("HeapAboveOneMB"), "{body}");
    let (_, scrape) = get(&addr, "/metrics", None);
    assert_eq!(
        metric(
            &scrape,
            "leakhound_alert_firing{target=\"idle\",alertname=\"HeapAboveOneMB\",severity=\"info\"}"
        ),
        Some(1.0),
        "{scrape}"
    );

    // The target goes away: down, alert resolved.
    drop(idle);
    let resolved = bodies
        .recv_timeout(Duration::from_secs(30))
        .expect("resolution webhook");
    let v: serde_json::Value = serde_json::from_str(&resolved).unwrap();
    assert!(v[0]["endsAt"].is_string(), "{resolved}");
    wait_for("target down", Duration::from_secs(30), || {
        let (_, m) = get(&addr, "/metrics", None);
        (metric(&m, "leakhound_target_up{target=\"idle\"}") == Some(0.0)).then_some(())
    });
    // A new process on the same port is picked up again.
    let (_idle2, _) = node("fixtures/apps/idle.js", port, &["1"]);
    let (code, body) = wait_for("reconnect", Duration::from_secs(45), || {
        let (code, body) = get(&addr, "/health", None);
        body.contains("\"up\":true").then_some((code, body))
    });
    assert!(body.contains("\"pid\""), "{code} {body}");
    // Only one snapshot: max_count = 1.
    std::thread::sleep(Duration::from_millis(1000));
    let n = std::fs::read_dir(&snaps).unwrap().count();
    assert_eq!(n, 1);
    drop(watch);
}

#[test]
fn history_survives_kill_9() {
    let dir = TempDir::new("watch-kill");
    let db = dir.path().join("h.db");
    let (_idle, ws) = node("fixtures/apps/idle.js", 0, &["1"]);
    let mut cmd = leakhound();
    cmd.args([
        "watch",
        "--interval",
        "100ms",
        "--no-server",
        "--name",
        "idle",
        "--inspect",
        &ws,
        "--db",
    ])
    .arg(&db);
    let mut watch = Proc::spawn(cmd);
    let before = wait_for("recorded samples", Duration::from_secs(40), || {
        if !db.exists() {
            return None;
        }
        let out = leakhound()
            .args(["history", "--json", "--db"])
            .arg(&db)
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let n = v["targets"][0]["samples"].as_array().map_or(0, |a| a.len());
        (n >= 5).then_some(n)
    });
    watch.signal(SIGKILL);
    watch.wait_exit(Duration::from_secs(10));
    let h = history_json(&db, &[]);
    let rows = h["targets"][0]["samples"].as_array().unwrap();
    assert!(rows.len() >= before, "{} < {before}", rows.len());
    assert_eq!(h["targets"][0]["target"], "idle");
    assert!(rows.iter().all(|r| r["heap_used"].as_f64().unwrap() > 0.0));
    // Sizes are integers in JSON, as docs/json.md says.
    for k in [
        "heap_used",
        "heap_total",
        "heap_limit",
        "heap_floor",
        "external",
        "rss",
    ] {
        assert!(rows.iter().all(|r| r[k].is_u64()), "{k} is an integer");
    }
}

#[test]
fn usage_errors() {
    let out = leakhound()
        .args(["watch", "--no-server", "--no-history"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no target given"), "{err}");

    let dir = TempDir::new("watch-usage");
    let out = leakhound()
        .args(["history", "--db"])
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such history"));

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[[target]]\nname = \"x\"\n").unwrap();
    let out = leakhound()
        .args(["watch", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exactly one of inspect, port, pid, match"),
        "{err}"
    );
}

/// Remote inspectors are refused at once, as by every other command; an
/// app that `watch` started and that failed makes it exit 3 (1 and 2 are
/// leakhound's own), one that finished cleanly 0.
#[test]
fn remote_targets_refused_and_app_status_kept_apart() {
    let dir = TempDir::new("watch-remote");
    let cfg = dir.path().join("remote.toml");
    std::fs::write(
        &cfg,
        "[[target]]\nname = \"far\"\nport = 9229\nhost = \"10.0.0.1\"\n",
    )
    .unwrap();
    let cfg_args = vec!["--config".to_owned(), cfg.display().to_string()];
    let cli_args = vec!["--inspect".to_owned(), "ws://10.0.0.1:9229/abc".to_owned()];
    for extra in [cli_args, cfg_args] {
        let started = std::time::Instant::now();
        let out = leakhound()
            .args(["watch", "--no-server", "--no-history"])
            .args(&extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("10.0.0.1"), "{err}");
        assert!(err.contains("--allow-remote"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused at once"
        );
    }
    for (script, want) in [
        ("process.exit(1)", 3),
        ("process.exit(2)", 3),
        ("setTimeout(() => {}, 300)", 0),
    ] {
        let out = leakhound()
            .args([
                "watch",
                "--no-server",
                "--no-history",
                "--",
                "node",
                "-e",
                script,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{script}: {err}");
        assert!(err.contains("the app exited"), "{script}: {err}");
    }
}

/// A real Prometheus server (Debian package `prometheus`, installed by
/// `.ci/run`) scrapes the watcher on loopback and can query its series.
#[test]
fn scraped_by_a_real_prometheus_server() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("prometheus not found (Debian package prometheus): skipping the real scrape");
        return;
    }
    let dir = TempDir::new("watch-prom");
    let (_idle, ws) = node("fixtures/apps/idle.js", 0, &["1"]);
    let mut cmd = leakhound();
    cmd.args([
        "watch",
        "--interval",
        "200ms",
        "--name",
        "idle",
        "--listen",
        "127.0.0.1:0",
        "--inspect",
        &ws,
        "--db",
    ])
    .arg(dir.path().join("h.db"));
    let watch = Proc::spawn(cmd);
    let addr = server_addr(&watch);

    // A free loopback port for Prometheus' own web server.
    let prom_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: leakhound\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let mut prom = Command::new("prometheus");
    prom.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let prom = Proc::spawn(prom);
    let prom_addr = format!("127.0.0.1:{prom_port}");

    let body = wait_for(
        "Prometheus to store a scraped series",
        Duration::from_secs(60),
        || {
            if TcpStream::connect(&prom_addr).is_err() {
                return None;
            }
            let (status, body) = get(
                &prom_addr,
                "/api/v1/query?query=nodejs_heap_size_used_bytes%7Btarget%3D%22idle%22%7D",
                None,
            );
            (status == 200 && body.contains("\"value\"")).then_some(body)
        },
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
    let result = &v["data"]["result"][0];
    assert_eq!(
        result["metric"]["job"],
        "leakhound",
        "{body}\n{}",
        prom.stderr()
    );
    let heap: f64 = result["value"][1].as_str().unwrap().parse().unwrap();
    assert!(heap > 1e6, "heap used {heap}");
    // The scrape target is healthy in Prometheus' own view.
    let (_, targets) = get(&prom_addr, "/api/v1/targets", None);
    assert!(targets.contains("\"health\":\"up\""), "{targets}");
    drop(watch);
}

/// The body of `GET path` as bytes.
fn fetch_bytes(addr: &str, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..at]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    buf[at + 4..].to_vec()
}

/// `go tool pprof -top` lists `function` among its five first rows (skipped
/// without `go`, except in CI, which installs it).
fn go_pprof_top_has(file: &Path, function: &str) {
    let out = match Command::new("go")
        .args(["tool", "pprof", "-top"])
        .arg(file)
        .output()
    {
        Ok(o) => o,
        Err(_)
            if std::env::var_os("LEAKHOUND_CI").is_none() && std::env::var_os("CI").is_none() =>
        {
            eprintln!("go not found (Debian package golang-go): skipping the go tool pprof check");
            return;
        }
        Err(e) => panic!("go tool pprof: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .take(5)
        .collect();
    assert!(rows.iter().any(|r| r.contains(function)), "{text}");
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `GET /r<n>` over a keep-alive connection at about `rps` until `stop`,
/// counting answered requests in `done`.
fn drive(
    port: u16,
    rps: u32,
    stop: Arc<std::sync::atomic::AtomicBool>,
    answered: Arc<std::sync::atomic::AtomicU64>,
) -> u64 {
    use std::sync::atomic::Ordering;
    let mut done = 0u64;
    let mut conn: Option<BufReader<TcpStream>> = None;
    let pause = Duration::from_secs(1) / rps;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(pause);
        if conn.is_none() {
            conn = TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(BufReader::new);
        }
        let Some(r) = conn.as_mut() else { continue };
        let sent = write!(r.get_mut(), "GET /r{done} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut len = None;
        let mut ok = sent.is_ok();
        while ok {
            let mut line = String::new();
            ok = r.read_line(&mut line).is_ok_and(|n| n > 0);
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; len.unwrap_or(0)];
        if ok && len.is_some() && r.read_exact(&mut body).is_ok() {
            done += 1;
            answered.store(done, Ordering::Relaxed);
        } else {
            conn = None;
        }
    }
    done
}

/// `watch --alloc-sites` names the function that allocates what each leak
/// fixture keeps, at rank 1, and names nothing for the controls, which get the
/// same traffic. As in production, watch attaches to services that already
/// run under load. The fixtures run with `--heap-growing-percent=10` so that
/// major GCs come every few seconds as in a busy service (a site's growth
/// counts only once it outlives major GCs), and the controls must show some.
/// The trend spans 30 s (30 min by default) so that the test ends in about 80 s.
#[test]
fn allocation_sites_name_the_leaking_function() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let leaks = [
        ("leak-cache", "handleRequest", "leak-cache.js", 9),
        ("leak-listener", "handleRequest", "leak-listener.js", 9),
        ("leak-closure", "replaceThing", "leak-closure.js", 8),
        ("leak-timer", "handleRequest", "leak-timer.js", 5),
        ("leak-global", "(anonymous)", "leak-global.js", 8),
        ("leak-sessions", "openSession", "lib/sessions.js", 7),
    ];
    // Not leak-buffers: what it leaks is Buffer contents, outside the JS heap
    // the sampling heap profiler sees (only the ~100-byte Buffer objects are
    // in it: 6 KB/s here, as slow as a control's warm-up in a 30 s span).
    let controls = ["control-bounded", "control-stateless"];
    let dir = TempDir::new("watch-sites");
    let config = dir.path().join("sites.toml");
    std::fs::write(
        &config,
        // A 30 s span: sites slower than 600 KB/min (the leaks grow 6-18 MB/min
        // here; warm-up in a control up to 200 KB/min) are not reported.
        "[allocation]\nmin_growth = \"600KB\"\nprofile_every = \"2s\"\n[[rule]]\nname = \"SiteGrowing\"\nmetric = \"allocation_site_growth\"\nop = \">\"\nthreshold = 0.01\nseverity = \"warning\"\n",
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    type App<'a> = (
        &'a str,
        Proc,
        String,
        std::thread::JoinHandle<u64>,
        Arc<AtomicU64>,
    );
    let apps: Vec<App> = leaks
        .iter()
        .map(|l| l.0)
        .chain(controls)
        .map(|name| {
            let port = free_port();
            let mut cmd = Command::new("node");
            cmd.env("PORT", port.to_string())
                .args(["--heap-growing-percent=10", "--inspect=127.0.0.1:0"])
                .arg(repo().join(format!("fixtures/apps/{name}.js")));
            let app = Proc::spawn(cmd);
            let ws = app.wait_line("Debugger listening on ", Duration::from_secs(20));
            let (s, n) = (stop.clone(), Arc::new(AtomicU64::new(0)));
            let count = n.clone();
            let load = std::thread::spawn(move || drive(port, 60, s, count));
            (name, app, ws, load, n)
        })
        .collect();
    // Warm up (the control's cache holds 200 requests), then watch.
    for (name, .., n) in &apps {
        wait_for(name, Duration::from_secs(60), || {
            (n.load(Ordering::Relaxed) >= 300).then_some(())
        });
    }
    let started: Vec<(&str, Proc, String)> = apps
        .iter()
        .map(|(name, _, ws, ..)| {
            let mut cmd = leakhound();
            cmd.args([
                "watch",
                "--alloc-sites",
                "--interval",
                "500ms",
                "--trend-window",
                "1s",
            ])
            .args(["--trend-span", "30s"])
            .args(["--alloc-interval", "500ms", "--alloc-window", "1500ms"])
            .args([
                "--alloc-sampling-interval",
                "4096",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--name", name, "--inspect", ws, "--config"])
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join(format!("{name}.db")))
            .arg("--alloc-profile-dir")
            .arg(dir.path().join("profiles"));
            let watch = Proc::spawn(cmd);
            let addr = server_addr(&watch);
            (*name, watch, addr)
        })
        .collect();
    let health = |addr: &str, name: &str| {
        let (_, body) = get(addr, "/health", None);
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        h["targets"][name].clone()
    };
    let t0 = Instant::now();
    for (name, function, file, line) in leaks {
        let (_, watch, addr) = started.iter().find(|s| s.0 == name).unwrap();
        let top = wait_for(name, Duration::from_secs(120), || {
            let t = health(addr, name);
            t["allocation_sites"].as_array()?.first().cloned()
        });
        assert_eq!(
            top["function"],
            function,
            "{name}: {top:#}\n{}",
            watch.stderr()
        );
        assert!(
            top["file"]
                .as_str()
                .unwrap()
                .ends_with(&format!("fixtures/apps/{file}")),
            "{name}: {top:#}"
        );
        assert_eq!(top["line"], line, "{name}: {top:#}");
        assert!(top["growth_bytes_per_second"].as_f64().unwrap() > 0.0);
    }
    // The controls, once past the first minute of warm-up (JIT code, socket
    // pools and caches whose objects get replaced fill the profile once, and
    // the heap grows a little), name nothing over a whole 30 s trend span.
    while t0.elapsed() < Duration::from_secs(80) {
        for name in controls {
            let (_, watch, addr) = started.iter().find(|s| s.0 == name).unwrap();
            let t = health(addr, name);
            if t0.elapsed() > Duration::from_secs(50) {
                let none = serde_json::json!([]);
                assert_eq!(
                    t["allocation_sites"],
                    none,
                    "{name}: {t:#}\n{}",
                    watch.stderr()
                );
                assert!(
                    t["allocation_full_gcs"].as_u64().unwrap() >= 2,
                    "{name}: {t:#}"
                );
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // The alert names the site; /metrics carries it; the history keeps it.
    let (_, cache, addr) = &started[0];
    wait_for("the SiteGrowing alert", Duration::from_secs(30), || {
        cache.stderr().contains("SiteGrowing").then_some(())
    });
    let log = cache.stderr();
    let alert = log.lines().find(|l| l.contains("SiteGrowing")).unwrap();
    assert!(alert.contains("handleRequest"), "{alert}");
    let (_, scrape) = get(addr, "/metrics", None);
    let series = scrape
        .lines()
        .find(|l| {
            l.starts_with("leakhound_allocation_site_growth_bytes_per_second{")
                && l.contains("function=\"handleRequest\"")
        })
        .unwrap_or_else(|| panic!("{scrape}"));
    assert!(series.contains("leak-cache.js\",line=\"9\""), "{series}");
    promtool_check(&scrape);
    // The profile as pprof, over HTTP and in files, read by `go tool pprof`.
    let pprof = fetch_bytes(addr, "/debug/pprof/heap?target=leak-cache");
    assert_eq!(&pprof[..2], &[0x1f, 0x8b], "gzip");
    let file = dir.path().join("leak-cache.pb.gz");
    std::fs::write(&file, &pprof).unwrap();
    go_pprof_top_has(&file, "handleRequest");
    let written: Vec<_> = std::fs::read_dir(dir.path().join("profiles"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("leak-cache-"))
        .collect();
    assert!(!written.is_empty());
    use std::os::unix::fs::PermissionsExt;
    let mode = written[0].metadata().unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for (_, mut watch, _) in started {
        watch.signal(SIGTERM);
        assert!(
            watch.wait_exit(Duration::from_secs(30)).success(),
            "{}",
            watch.stderr()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for (name, _app, _, load, _) in apps {
        let answered = load.join().unwrap();
        assert!(answered > 500, "{name}: {answered} requests answered");
    }
    let h = history_json(&dir.path().join("leak-cache.db"), &[]);
    let sites = &h["targets"][0]["allocation_sites"];
    assert_eq!(sites[0]["function"], "handleRequest", "{sites:#}");
    assert!(
        sites[0]["series"].as_array().unwrap().len() >= 10,
        "{sites:#}"
    );
}
