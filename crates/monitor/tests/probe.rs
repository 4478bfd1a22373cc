//! The in-target probe against a real node process: install, two samples
//! (counters are reset between them), uninstall leaves nothing behind.

use std::path::Path;
use std::time::Duration;

use monitor::probe;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_samples_and_uninstalls() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/apps/grow.js");
    let argv = vec!["node".to_owned(), app.display().to_string()];
    let mut launched = inspector::launch::launch(&argv, Duration::from_secs(30))
        .await
        .expect("start node");
    let session = inspector::Session::connect(&launched.ws_url)
        .await
        .expect("connect");
    let t = Duration::from_secs(10);
    // Right after start the runtime may still be booting: retry briefly.
    let mut installed = false;
    for _ in 0..20 {
        if probe::install(&session, t).await.is_ok() {
            installed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(installed);
    probe::install(&session, t)
        .await
        .expect("install is idempotent");
    let a = probe::sample(&session, t).await.expect("first sample");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let b = probe::sample(&session, t).await.expect("second sample");
    assert_eq!(a.pid, launched.pid);
    assert!(b.used > 1e6 && b.limit > b.used && b.rss > b.used);
    assert!(b.floor <= b.used);
    assert!(b.node.starts_with('v'));
    assert!(b.spaces.iter().any(|s| s.0 == "old_space"));
    assert!(b.gc_count() > 0, "grow.js collects garbage: {:?}", b.gc);
    for g in b.gc.values() {
        assert_eq!(g.b.len(), probe::GC_BUCKETS.len() + 1);
        assert_eq!(g.b.iter().sum::<u64>(), g.n);
    }
    assert!(b.eld_p99().is_some_and(|p| p > 0.0));
    assert!(b.lag >= 0.0);
    probe::uninstall(&session, t).await.expect("uninstall");
    let left = session
        .evaluate("typeof globalThis[Symbol.for('leakhound')]", t)
        .await
        .unwrap();
    assert_eq!(left, "undefined");
    // Sampling again installs the probe again.
    probe::sample(&session, t)
        .await
        .expect("sample after uninstall");
    session.close().await;
    let _ = launched.child.kill().await;
}

#[test]
fn finds_a_node_process_by_its_command_line() {
    let marker = format!("leakhound-marker-{}", std::process::id());
    let mut child = std::process::Command::new("node")
        .args(["-e", "setTimeout(() => {}, 20000)", &marker])
        .spawn()
        .expect("node");
    let mut found = None;
    for _ in 0..50 {
        found = monitor::sampler::find_by_cmdline(&marker);
        if found.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found, Some(child.id()));
    assert_eq!(
        monitor::sampler::find_by_cmdline("no-such-marker-anywhere-42"),
        None
    );
}
