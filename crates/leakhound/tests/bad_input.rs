//! Bad snapshot files on the command line: `analyze`, `find-leaks` and `diff`
//! exit with status 2 and a single `error: …` line (plus at most one hint line)
//! naming the file and, for parse errors, the byte offset; never a panic, and
//! never a half-written report.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{TempDir, leakhound};
use heapsnap::synth::SynthSnapshot;

fn snapshot_text() -> String {
    let mut s = SynthSnapshot::with_root();
    let global = s.node("object", "global", 200);
    s.edge(0, "shortcut", "global", global);
    let roots = s.node("synthetic", "(GC roots)", 0);
    s.edge(0, "element", "1", roots);
    let map = s.node("object", "Map", 80);
    s.edge(global, "property", "cache", map);
    for i in 0..5 {
        let o = s.node("object", "Session", 64);
        s.edge(map, "element", &i.to_string(), o);
        let body = s.node("string", &format!("payload {i} é ☃"), 1024);
        s.edge(o, "property", "body", body);
    }
    s.to_json()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&std::ffi::OsStr]) -> Run {
    let out = leakhound().args(args).output().expect("run leakhound");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Checks the clean-error contract and returns the `error:` line.
fn assert_clean_error(args: &[&std::ffi::OsStr], must_contain: &[&str]) -> String {
    let r = run(args);
    let shown = format!("{args:?}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.code, 2, "exit status: {shown}");
    assert!(r.stdout.is_empty(), "nothing on stdout: {shown}");
    assert!(!r.stderr.contains("panicked"), "no panic: {shown}");
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "no panic: {shown}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
        "one error line and at most one hint: {shown}"
    );
    let first = lines[0];
    assert!(first.starts_with("error: "), "{shown}");
    assert!(!first.ends_with('.'), "no trailing full stop: {shown}");
    for m in must_contain {
        assert!(first.contains(m), "{first:?} should mention {m:?}");
    }
    first.to_owned()
}

fn analyze(path: &Path, must_contain: &[&str]) -> String {
    let mut want = vec![path.to_str().expect("UTF-8 temp path")];
    want.extend_from_slice(must_contain);
    assert_clean_error(&[os("analyze"), path.as_os_str()], &want)
}

fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The byte offset in an `error: …: byte N: …` line.
fn offset(line: &str) -> u64 {
    let at = line
        .find("byte ")
        .unwrap_or_else(|| panic!("no offset in {line:?}"));
    line[at + 5..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"))
}

#[test]
fn good_snapshot_analyzes() {
    let dir = TempDir::new("bad-input-good");
    let p = write(&dir, "good.heapsnapshot", snapshot_text());
    let r = run(&[os("analyze"), p.as_os_str()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn truncated_files() {
    let dir = TempDir::new("bad-input-truncated");
    let text = snapshot_text();
    let complete = text.rfind('}').unwrap();
    for cut in [
        1,
        2,
        20,
        text.find("\"nodes\"").unwrap() + 12,
        text.len() / 2,
        complete - 1,
        complete,
    ] {
        let p = write(
            &dir,
            &format!("cut{cut}.heapsnapshot"),
            &text.as_bytes()[..cut],
        );
        let line = analyze(&p, &["byte", "truncated"]);
        assert_eq!(offset(&line), cut as u64, "{line}");
    }
}

#[test]
fn corrupt_files() {
    let dir = TempDir::new("bad-input-corrupt");
    let text = snapshot_text();
    let nodes = text.find("\"nodes\":[").unwrap() + 9;
    let cases: Vec<(&str, String, Option<usize>, &str)> = vec![
        (
            "letter",
            text.replacen("\"nodes\":[9,", "\"nodes\":[9x,", 1),
            Some(nodes + 1),
            "expected",
        ),
        (
            "negative",
            text.replacen("\"nodes\":[9,", "\"nodes\":[-9,", 1),
            Some(nodes),
            "non-negative",
        ),
        (
            "float",
            text.replacen("\"nodes\":[9,", "\"nodes\":[9.5,", 1),
            Some(nodes + 1),
            "non-negative",
        ),
        (
            "overflow",
            text.replacen("\"nodes\":[9,", "\"nodes\":[99999999999999999999999,", 1),
            Some(nodes + 19),
            "non-negative",
        ),
        (
            "count",
            text.replacen("\"node_count\":", "\"node_count\":1", 1),
            None,
            "nodes",
        ),
        (
            "escape",
            text.replacen("\"global\"", "\"glo\\qbal\"", 1),
            None,
            "escape",
        ),
        (
            "trailing",
            text.clone() + "garbage",
            Some(text.len()),
            "after the end",
        ),
        (
            "target",
            text.replacen("\"edges\":[5,2,7,", "\"edges\":[5,2,8,", 1),
            None,
            "edge 0",
        ),
        (
            "string-index",
            text.replacen("\"nodes\":[9,1,", "\"nodes\":[9,999,", 1),
            None,
            "string 999",
        ),
        (
            "header",
            text.replacen("\"meta\":", "\"mota\":", 1),
            None,
            "missing field `meta`",
        ),
    ];
    for (name, body, at, what) in cases {
        assert_ne!(body, text, "{name}: the corruption applies");
        let p = write(&dir, &format!("{name}.heapsnapshot"), body);
        let line = analyze(&p, &["byte ", what]);
        if let Some(at) = at {
            assert_eq!(offset(&line), at as u64, "{name}: {line}");
        }
    }
}

#[test]
fn non_utf8_files() {
    let dir = TempDir::new("bad-input-utf8");
    let text = snapshot_text();
    // Latin-1 "é" inside a string.
    let mut bytes = text.clone().into_bytes();
    let at = text.find("\"global\"").unwrap() + 3;
    bytes[at] = 0xE9;
    let p = write(&dir, "latin1.heapsnapshot", &bytes);
    let line = analyze(&p, &["UTF-8"]);
    assert_eq!(offset(&line), at as u64, "{line}");
    // UTF-16 text (what some editors save): a BOM V8 never writes.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let p = write(&dir, "utf16.heapsnapshot", utf16);
    let line = analyze(&p, &["byte 0"]);
    assert!(line.contains("0xff"), "{line}");
    // A file whose name is not UTF-8 is still named (lossily) in the error.
    let name = std::ffi::OsStr::from_bytes(b"snap-\xff.heapsnapshot");
    let p = dir.path().join(name);
    std::fs::write(&p, &text.as_bytes()[..100]).unwrap();
    assert_clean_error(
        &[os("analyze"), p.as_os_str()],
        &["snap-\u{FFFD}.heapsnapshot", "byte 100"],
    );
}

#[test]
fn not_snapshots_at_all() {
    let dir = TempDir::new("bad-input-other");
    let png: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let p = write(&dir, "image.heapsnapshot", png);
    analyze(&p, &["byte 0", "0x89"]);
    let p = write(
        &dir,
        "object.json",
        r#"{"name":"leakhound","version":"1.0.0"}"#,
    );
    analyze(&p, &["missing section \"snapshot\""]);
    let p = write(&dir, "array.json", "[1, 2, 3]");
    analyze(&p, &["byte 0"]);
    let p = write(&dir, "blank.heapsnapshot", "\n\n   \n");
    analyze(&p, &["byte 6"]);
    let p = write(&dir, "zeros.heapsnapshot", vec![0u8; 10_000]);
    analyze(&p, &["byte 0"]);
    // A .heapprofile (sampling profile) is JSON, but not a heap snapshot.
    let p = write(
        &dir,
        "x.heapprofile",
        r#"{"head":{"callFrame":{"functionName":"(root)"},"selfSize":0,"children":[]},"samples":[]}"#,
    );
    analyze(&p, &["snapshot"]);
}

#[test]
fn missing_empty_and_unreadable_paths() {
    let dir = TempDir::new("bad-input-paths");
    let missing = dir.path().join("nope.heapsnapshot");
    analyze(&missing, &["cannot open"]);
    analyze(dir.path(), &["directory"]);
    let empty = write(&dir, "empty.heapsnapshot", "");
    analyze(&empty, &["empty"]);
    // A path through a file.
    let file = write(&dir, "file", "x");
    analyze(&file.join("x.heapsnapshot"), &["cannot open"]);
}

#[test]
fn no_report_file_on_bad_input() {
    let dir = TempDir::new("bad-input-output");
    let text = snapshot_text();
    let bad = write(&dir, "bad.heapsnapshot", &text.as_bytes()[..text.len() / 2]);
    let out = dir.path().join("report.json");
    for json in [true, false] {
        let mut args = vec![os("analyze"), bad.as_os_str(), os("-o"), out.as_os_str()];
        if json {
            args.push(os("--json"));
        }
        assert_clean_error(&args, &["bad.heapsnapshot", "byte"]);
        assert!(!out.exists(), "no report written for bad input");
    }
    let good = write(&dir, "good.heapsnapshot", &text);
    let args = [
        os("diff"),
        good.as_os_str(),
        bad.as_os_str(),
        os("--json"),
        os("-o"),
        out.as_os_str(),
    ];
    assert_clean_error(&args, &["bad.heapsnapshot"]);
    assert!(!out.exists());
    let args = [
        os("find-leaks"),
        good.as_os_str(),
        good.as_os_str(),
        bad.as_os_str(),
        os("--json"),
        os("-o"),
        out.as_os_str(),
    ];
    assert_clean_error(&args, &["bad.heapsnapshot"]);
    assert!(!out.exists());
    // Nothing else was left in the directory either (no temp files).
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bad.heapsnapshot", "good.heapsnapshot"]);
}

#[test]
fn diff_with_one_bad_file() {
    let dir = TempDir::new("bad-input-diff");
    let text = snapshot_text();
    let good = write(&dir, "good.heapsnapshot", &text);
    let bad = write(
        &dir,
        "bad.heapsnapshot",
        text.replacen("\"nodes\":[9,", "\"nodes\":[x,", 1),
    );
    let missing = dir.path().join("missing.heapsnapshot");
    for (a, b, named) in [
        (&good, &bad, &bad),
        (&bad, &good, &bad),
        (&good, &missing, &missing),
    ] {
        assert_clean_error(
            &[os("diff"), a.as_os_str(), b.as_os_str()],
            &[named.to_str().unwrap()],
        );
    }
    let line = assert_clean_error(&[os("diff"), good.as_os_str(), bad.as_os_str()], &["byte"]);
    assert_eq!(offset(&line), text.find("\"nodes\":[").unwrap() as u64 + 9);
}

#[test]
fn find_leaks_with_one_bad_file() {
    let dir = TempDir::new("bad-input-leaks");
    let text = snapshot_text();
    let good = write(&dir, "good.heapsnapshot", &text);
    let bad = write(
        &dir,
        "bad.heapsnapshot",
        &text.as_bytes()[..text.len() - 10],
    );
    let empty = write(&dir, "empty.heapsnapshot", "");
    for files in [
        [&bad, &good, &good],
        [&good, &bad, &good],
        [&good, &good, &bad],
        [&good, &empty, &good],
    ] {
        let bad_one = files.iter().find(|f| ***f != good).unwrap();
        let mut args = vec![os("find-leaks")];
        args.extend(files.iter().map(|f| f.as_os_str()));
        assert_clean_error(&args, &[bad_one.to_str().unwrap()]);
    }
    // The same with --json: still a plain error line, no JSON on stdout.
    assert_clean_error(
        &[
            os("find-leaks"),
            os("--json"),
            good.as_os_str(),
            good.as_os_str(),
            bad.as_os_str(),
        ],
        &["bad.heapsnapshot", "truncated"],
    );
}

/// `-o` and `--html` never destroy data: an output that is one of the inputs
/// is refused (the snapshot stays), a symlink's target is written (the link
/// stays), a pipe is written through (it stays a pipe), and a path that
/// cannot be written is refused before any work.
#[test]
fn outputs_never_destroy_data() {
    let dir = TempDir::new("outputs");
    let snap = write(&dir, "s.heapsnapshot", snapshot_text());
    let before = std::fs::read(&snap).unwrap();

    // The report over its own input: refused, the input intact.
    assert_clean_error(
        &[os("analyze"), snap.as_os_str(), os("-o"), snap.as_os_str()],
        &["s.heapsnapshot", "is also an input"],
    );
    let html_over_input = [
        os("analyze"),
        snap.as_os_str(),
        os("--html"),
        snap.as_os_str(),
    ];
    assert_clean_error(&html_over_input, &["is also an input"]);
    let link = dir.path().join("link.heapsnapshot");
    std::os::unix::fs::symlink(&snap, &link).unwrap();
    assert_clean_error(
        &[os("analyze"), snap.as_os_str(), os("-o"), link.as_os_str()],
        &["is also an input"],
    );
    assert_eq!(std::fs::read(&snap).unwrap(), before, "the input is intact");

    // A symlink to a report file: the target is written, the link stays.
    let target = dir.path().join("real.txt");
    let report_link = dir.path().join("report.txt");
    std::os::unix::fs::symlink("real.txt", &report_link).unwrap();
    let r = run(&[
        os("analyze"),
        snap.as_os_str(),
        os("-o"),
        report_link.as_os_str(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let meta = std::fs::symlink_metadata(&report_link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    assert!(std::fs::read_to_string(&target).unwrap().contains("nodes"));

    // A named pipe: written through, still a pipe afterwards.
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let r = run(&[os("analyze"), snap.as_os_str(), os("-o"), fifo.as_os_str()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        reader.join().unwrap().contains("nodes"),
        "the reader got the report"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // Unwritable places are refused before the work.
    let nodir = dir.path().join("nodir/h.html");
    assert_clean_error(
        &[
            os("analyze"),
            snap.as_os_str(),
            os("--html"),
            nodir.as_os_str(),
        ],
        &["nodir", "does not exist"],
    );
    assert_clean_error(
        &[
            os("analyze"),
            snap.as_os_str(),
            os("-o"),
            dir.path().as_os_str(),
        ],
        &["is a directory"],
    );
    // hunt checks before it starts the app: no app output, no waiting.
    let started = std::time::Instant::now();
    let r = run(&[
        os("hunt"),
        os("--html"),
        nodir.as_os_str(),
        os("--"),
        os("node"),
        os("-e"),
        os("console.log('app started'); setInterval(() => {}, 1000)"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("app started"),
        "the app never ran: {}",
        r.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // So do snapshot and profile.
    for cmd in ["snapshot", "profile"] {
        let r = run(&[
            os(cmd),
            os("-o"),
            dir.path().as_os_str(),
            os("--"),
            os("node"),
            os("-e"),
            os("console.log('app started'); setInterval(() => {}, 1000)"),
        ]);
        assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
        assert!(r.stderr.contains("is a directory"), "{cmd}: {}", r.stderr);
        assert!(!r.stderr.contains("app started"), "{cmd}: {}", r.stderr);
    }
}

unsafe extern "C" {
    #[link_name = "mkfifo"]
    fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}

/// Runs leakhound with `stdin` as standard input; fails the test instead of
/// hanging when it does not finish within 20 s.
fn run_bounded(args: &[&std::ffi::OsStr], stdin: Option<Vec<u8>>) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = leakhound()
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run leakhound");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("leakhound {args:?} hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Pipes, FIFOs, devices and standard input are read as streams: a
/// snapshot arrives whole, nothing never arrives, and nothing hangs.
#[test]
fn streams_are_read_and_never_hang() {
    let dir = TempDir::new("streams");
    // Standard input.
    let r = run_bounded(
        &[os("analyze"), os("-")],
        Some(snapshot_text().into_bytes()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("nodes"), "{}", r.stdout);
    // A FIFO nobody writes to, for every command that reads files.
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
    let f = fifo.as_os_str();
    for args in [
        vec![os("analyze"), f],
        vec![os("diff"), f, f],
        vec![os("find-leaks"), f, f, f],
        vec![
            os("report"),
            f,
            os("--html"),
            dir.path().join("r.html").as_os_str(),
        ],
        vec![os("history"), os("--db"), f],
    ] {
        let r = run_bounded(&args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("fifo"),
            "{args:?} names the file: {}",
            r.stderr
        );
    }
    // An endless device is not a snapshot from its first byte.
    let r = run_bounded(&[os("analyze"), os("/dev/zero")], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("byte 0"), "{}", r.stderr);
}
