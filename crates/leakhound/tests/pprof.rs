//! `profile --format pprof` end to end: a real node service under load
//! (fixtures/apps/leak-listener.js), its sampling heap profile written as
//! `.pb.gz`, then read by the real `go tool pprof` (Debian's `golang-go`,
//! which `.ci/run` installs) and decoded here.
//!
//! Without `go` the pprof checks are skipped with a message, except in CI
//! (`CI` or `LEAKHOUND_CI` set; `.ci/run` sets the latter), where a missing
//! `go` fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{TempDir, leakhound, repo};

/// `go`, or None (after saying so) when it is absent outside CI.
fn go() -> Option<&'static str> {
    if Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some("go");
    }
    let ci = std::env::var_os("CI").is_some() || std::env::var_os("LEAKHOUND_CI").is_some();
    assert!(
        !ci,
        "`go` is not installed: `go tool pprof` checks the pprof export (apt-get install golang-go; .ci/run installs it)"
    );
    eprintln!(
        "skipped: `go` is not installed, so `go tool pprof` cannot check the pprof export (apt-get install golang-go)"
    );
    None
}

/// A node service with its inspector on a random loopback port; killed
/// with its process group when dropped.
struct Service {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Service {
    fn start(app: &str) -> Service {
        let mut child = Command::new("node")
            .arg("--inspect=127.0.0.1:0")
            .arg(repo().join("fixtures/apps").join(app))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("cannot start node (.ci/run installs it)");
        let out = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let sink = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        Service { child, out }
    }

    /// The rest of the first output line after `prefix`.
    fn wait_for(&self, prefix: &str) -> String {
        let t = Instant::now();
        loop {
            let out = self.out.lock().unwrap().clone();
            if let Some(rest) = out
                .lines()
                .find_map(|l| l.split_once(prefix).map(|(_, r)| r.trim().to_owned()))
            {
                return rest;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no {prefix:?} in:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the group is ours.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Sends requests from `threads` threads until dropped; records when each
/// one was answered.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<SystemTime>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: &str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|t| {
                let (stop, done, addr) = (stop.clone(), done.clone(), addr.to_owned());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        if request(&addr, &format!("/t{t}/r{n}")) {
                            done.lock().unwrap().push(SystemTime::now());
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            threads,
        }
    }

    /// Stops, and returns when each request was answered.
    fn finish(mut self) -> Vec<SystemTime> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        std::mem::take(&mut *self.done.lock().unwrap())
    }
}

/// One GET; true when it was answered.
fn request(addr: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

fn run(dir: &Path, args: &[&str]) -> (String, String) {
    let out = leakhound()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run leakhound");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "leakhound {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn go_pprof(go: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(go)
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .env("PPROF_TMPDIR", file.parent().unwrap())
        .output()
        .expect("run go tool pprof");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The rows of `pprof -top`: (flat, name), in order.
fn top_rows(top: &str) -> Vec<(String, String)> {
    top.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| (f[0].to_owned(), f[5..].join(" ")))
        })
        .collect()
}

fn s(p: &pprof::proto::Profile, i: i64) -> &str {
    &p.string_table[usize::try_from(i).expect("string index")]
}

/// What the file says about one frame of a sample: function, file, line.
fn frame(p: &pprof::proto::Profile, id: u64) -> (String, String, i64) {
    let loc = &p.location[id as usize - 1];
    assert_eq!(loc.id, id, "locations are numbered from 1 in order");
    let line = &loc.line[0];
    let f = &p.function[line.function_id as usize - 1];
    assert_eq!(f.id, line.function_id);
    (
        s(p, f.name).to_owned(),
        s(p, f.filename).to_owned(),
        line.line,
    )
}

#[test]
fn pprof_export_of_a_leaking_service() {
    let dir = TempDir::new("pprof");
    let svc = Service::start("leak-listener.js");
    let ws = svc.wait_for("Debugger listening on ");
    let addr = svc.wait_for("listening on http://");
    let load = Load::start(&addr, 4);
    // Let the service warm up, so the profile sees the leak's steady state.
    std::thread::sleep(Duration::from_millis(300));
    let (stdout, _) = run(
        dir.path(),
        &[
            "profile",
            "--inspect",
            &ws,
            "--duration",
            "3s",
            "--format",
            "pprof",
        ],
    );
    // A name ending in .pb.gz chooses pprof by itself.
    run(
        dir.path(),
        &[
            "profile",
            "--inspect",
            &ws,
            "--duration",
            "1s",
            "-o",
            "again.pb.gz",
        ],
    );
    let answered = load.finish();
    drop(svc);

    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[1].starts_with("heap-") && files[1].ends_with(".pb.gz"),
        "{files:?}"
    );
    let path = dir.path().join(&files[1]);
    assert!(
        stdout.lines().any(
            |l| l.starts_with("open it with: go tool pprof -http=127.0.0.1:8080 ")
                && l.ends_with(&files[1])
        ),
        "{stdout}"
    );
    for f in &files {
        let meta = std::fs::metadata(dir.path().join(f)).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "{f} must be private"
        );
        let bytes = std::fs::read(dir.path().join(f)).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "{f} is gzipped");
    }

    // The file, decoded: profile.proto's rules.
    let p = pprof::decode(&std::fs::read(&path).unwrap(), 1 << 30).expect("a pprof profile");
    assert_eq!(p.string_table[0], "");
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
        .collect();
    assert_eq!(types, [("objects", "count"), ("space", "bytes")]);
    assert_eq!(s(&p, p.default_sample_type), "space");
    let period = p.period_type.as_ref().expect("period type");
    assert_eq!(
        (s(&p, period.r#type), s(&p, period.unit), p.period),
        ("space", "bytes", 32768)
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(
        p.time_nanos > now - 600_000_000_000 && p.time_nanos < now,
        "{}",
        p.time_nanos
    );
    assert!(
        (3_000_000_000..10_000_000_000).contains(&p.duration_nanos),
        "{}",
        p.duration_nanos
    );
    assert!(!p.sample.is_empty());
    for x in &p.sample {
        assert_eq!(x.value.len(), 2);
        assert!(x.value.iter().all(|v| *v >= 0));
        assert!(!x.location_id.is_empty());
        for id in &x.location_id {
            assert!(*id >= 1 && *id as usize <= p.location.len());
        }
    }
    assert!(p.function.iter().all(|f| f.id >= 1) && p.location.iter().all(|l| l.id >= 1));

    // handleRequest's own samples: leaf first, called from service.js's
    // handler, at the line where handleRequest starts (V8 records functions).
    let app = repo().join("fixtures/apps/leak-listener.js");
    let app = app.to_str().unwrap();
    let leak: Vec<&pprof::proto::Sample> = p
        .sample
        .iter()
        .filter(|x| frame(&p, x.location_id[0]).0 == "handleRequest")
        .collect();
    assert!(!leak.is_empty(), "no sample in handleRequest");
    for x in &leak {
        assert_eq!(
            frame(&p, x.location_id[0]),
            ("handleRequest".into(), app.into(), 9)
        );
        let caller = frame(&p, x.location_id[1]);
        assert!(caller.1.ends_with("fixtures/apps/service.js"), "{caller:?}");
    }
    // The leaked arrays (`new Array(400)`, one per request, over 3 KB, the
    // service's only objects of that size): V8's object size recovered, and
    // the count V8 estimates close to the requests answered while it
    // sampled. They are made in handleRequest, or in the service's handler
    // once V8 has inlined handleRequest into it (the sampling profiler
    // names the optimized function, not the inlined one).
    let arrays: i64 = p
        .sample
        .iter()
        .filter(|x| {
            x.label
                .iter()
                .any(|l| s(&p, l.key) == "bytes" && (3000..4000).contains(&l.num))
        })
        .map(|x| x.value[0])
        .sum();
    let from = UNIX_EPOCH + Duration::from_nanos(p.time_nanos as u64);
    let to = from + Duration::from_nanos(p.duration_nanos as u64);
    let requests = answered.iter().filter(|t| **t >= from && **t <= to).count() as i64;
    eprintln!(
        "{} requests answered in all, {requests} while sampling; V8 estimates {arrays} leaked arrays",
        answered.len()
    );
    assert!(
        requests > 200,
        "too little load to judge: {requests} requests"
    );
    assert!(
        (arrays - requests).abs() * 4 < requests,
        "{arrays} arrays estimated for {requests} requests"
    );

    let Some(go) = go() else { return };
    // go tool pprof reads it, and the leaking code is on top by live space:
    // handleRequest, or the handler it was inlined into; handleRequest at
    // least second...
    let service = repo().join("fixtures/apps/service.js");
    let service = service.to_str().unwrap();
    let top = go_pprof(go, &["-top", "-sample_index=space"], &path);
    assert!(top.contains("Type: space"), "{top}");
    let rows = top_rows(&top);
    let names: Vec<&str> = rows.iter().take(2).map(|r| r.1.as_str()).collect();
    assert!(names.contains(&"handleRequest"), "{top}");
    // ...with their files and lines...
    let lines = go_pprof(go, &["-top", "-lines", "-sample_index=space"], &path);
    let rows = top_rows(&lines);
    let ours = [
        format!("handleRequest {app}:9"),
        format!("(anonymous) {service}:7"),
    ];
    assert!(ours.contains(&rows[0].1), "{lines}");
    assert!(rows.iter().take(2).any(|r| r.1 == ours[0]), "{lines}");
    // ...by objects among the first three (V8's count of small objects is
    // an estimate where the profile does not tell their size)...
    let objects = go_pprof(go, &["-top", "-sample_index=objects"], &path);
    let names: Vec<String> = top_rows(&objects)
        .into_iter()
        .take(3)
        .map(|r| r.1)
        .collect();
    assert!(names.iter().any(|n| n == "handleRequest"), "{objects}");
    // ...and its stacks go leaf first into the service's handler.
    let traces = go_pprof(go, &["-traces"], &path);
    let stack = traces
        .split("-----------+")
        .find(|t| t.contains("handleRequest"))
        .unwrap_or_else(|| panic!("no handleRequest stack:\n{traces}"));
    let frames: Vec<&str> = stack
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|w| !w.starts_with('-'))
        .collect();
    let at = frames.iter().position(|f| *f == "handleRequest").unwrap();
    assert_eq!(frames.get(at + 1), Some(&"(anonymous)"), "{stack}");
}
