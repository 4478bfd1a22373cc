//! Alert webhooks over HTTPS, against a local TLS server (tokio-rustls on
//! 127.0.0.1:0) whose CA and certificate are generated here with rcgen:
//! the client on its own (trusted CA, another CA, a name the certificate
//! does not list, retries on 503 and 429 with Retry-After, no retry on 400,
//! timeouts, the outbox dropping the oldest), then `leakhound watch` end to
//! end against a real node process.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TempDir, leakhound, repo};
use monitor::webhook::{Bytes, Job, Outbox, Settings, Webhook};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A CA and a server certificate it signed, for `names` (IP addresses
/// become IP SANs).
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn pki(names: &[&str]) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Each CA its own name: a CA of the same name is another refusal.
    static N: AtomicUsize = AtomicUsize::new(0);
    let cn = format!("leakhound test CA {}", N.fetch_add(1, Ordering::Relaxed));
    ca.distinguished_name.push(DnType::CommonName, cn);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    }
}

fn write_ca(dir: &Path, name: &str, pki: &Pki) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, &pki.ca_pem).unwrap();
    p
}

/// What the test server answers to the n-th request (later ones get 200).
#[derive(Clone, Copy)]
enum Reply {
    Status(u16, &'static str),
    RetryAfter(u16, &'static str),
    Hang,
}

/// A request the server read, and the status it answered.
#[derive(Debug)]
struct Got {
    head: String,
    body: String,
    status: u16,
}

struct Server {
    addr: std::net::SocketAddr,
    got: mpsc::Receiver<Got>,
}

impl Server {
    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    fn next(&self, within: Duration) -> Option<Got> {
        self.got.recv_timeout(within).ok()
    }
}

/// An HTTP/1.1 server on 127.0.0.1:0, with TLS when `pki` is given,
/// answering requests in turn from `script`, on its own thread and runtime.
fn serve(pki: Option<&Pki>, script: Vec<Reply>) -> Server {
    let tls = pki.map(|p| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![p.cert.clone()],
                PrivateKeyDer::Pkcs8(p.key.clone_key()),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let (tx, got) = mpsc::channel();
    let script = Arc::new(script);
    let n = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    continue;
                };
                let (tls, tx, script, n) = (tls.clone(), tx.clone(), script.clone(), n.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A refused handshake is the client's to report.
                            if let Ok(s) = acceptor.accept(tcp).await {
                                answer(s, &script, &n, &tx).await;
                            }
                        }
                        None => answer(tcp, &script, &n, &tx).await,
                    }
                });
            }
        });
    });
    Server { addr, got }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    script: &[Reply],
    n: &AtomicUsize,
    tx: &mpsc::Sender<Got>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    let i = n.fetch_add(1, Ordering::SeqCst);
    let reply = script.get(i).copied().unwrap_or(Reply::Status(200, "ok"));
    let (status, text, extra) = match reply {
        Reply::Status(c, t) => (c, t, String::new()),
        Reply::RetryAfter(c, t) => (c, t, "retry-after: 1\r\n".to_owned()),
        Reply::Hang => {
            let _ = tx.send(Got {
                head,
                body,
                status: 0,
            });
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
    };
    let _ = tx.send(Got { head, body, status });
    let resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{text}",
        text.len()
    );
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

fn settings(url: String, ca: Option<&Path>) -> Settings {
    let mut s = Settings::new(url);
    s.ca_file = ca.map(Path::to_owned);
    s.retry.initial = Duration::from_millis(50);
    s.connect_timeout = Duration::from_secs(2);
    s.timeout = Duration::from_secs(5);
    s
}

fn body() -> Bytes {
    Bytes::from_static(br#"{"text":"hello"}"#)
}

#[tokio::test]
async fn https_delivery_with_the_test_ca_and_refusals_without_it() {
    let dir = TempDir::new("webhook-tls");
    let good = pki(&["127.0.0.1", "localhost"]);
    let other = pki(&["127.0.0.1", "localhost"]);
    let ca = write_ca(dir.path(), "ca.pem", &good);
    let wrong_ca = write_ca(dir.path(), "other-ca.pem", &other);
    let srv = serve(Some(&good), vec![]);

    // Trusted through --ca-file: delivered, with Host and the body intact.
    let url = srv.url("https", "/services/T0/B0/s3cret?x=1");
    let hook = Webhook::new(&settings(url.clone(), Some(&ca))).unwrap();
    assert_eq!(hook.redacted_url(), format!("https://{}/…", srv.addr));
    let d = hook.deliver(body(), "test").await;
    assert_eq!(d.outcome.unwrap(), 200);
    assert_eq!(d.attempts, 1);
    let got = srv.next(Duration::from_secs(5)).expect("request received");
    assert!(
        got.head
            .starts_with("POST /services/T0/B0/s3cret?x=1 HTTP/1.1\r\n"),
        "{}",
        got.head
    );
    let head = got.head.to_ascii_lowercase();
    assert!(head.contains(&format!("host: {}\r\n", srv.addr)), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(got.body, r#"{"text":"hello"}"#);

    // "localhost" is in the certificate too.
    let local = format!("https://localhost:{}/x", srv.addr.port());
    let d = Webhook::new(&settings(local, Some(&ca)))
        .unwrap()
        .deliver(body(), "test")
        .await;
    assert_eq!(d.outcome.unwrap(), 200);
    srv.next(Duration::from_secs(5)).unwrap();

    // Another CA: refused at once (no retry), in words, with a hint, and
    // without the secret path.
    let started = Instant::now();
    let d = Webhook::new(&settings(url.clone(), Some(&wrong_ca)))
        .unwrap()
        .deliver(body(), "test")
        .await;
    let e = d.outcome.unwrap_err().to_string();
    assert_eq!(d.attempts, 1);
    assert_eq!(
        e,
        format!(
            "webhook https://{}/…: certificate not trusted (unknown issuer)\nhint: pass --ca-file with the PEM of the CA that signed the server's certificate (ca_file in [actions.webhook])",
            srv.addr
        )
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // No CA file: the system store does not know the test CA either.
    let d = Webhook::new(&settings(url, None));
    if let Ok(hook) = d {
        let e = hook.deliver(body(), "test").await.outcome.unwrap_err();
        assert!(
            e.to_string()
                .contains("certificate not trusted (unknown issuer)"),
            "{e}"
        );
    }
    assert!(
        srv.next(Duration::from_millis(200)).is_none(),
        "nothing got through"
    );

    // A certificate for other names.
    let named = pki(&["hooks.example"]);
    let ca2 = write_ca(dir.path(), "named-ca.pem", &named);
    let srv2 = serve(Some(&named), vec![]);
    let e = Webhook::new(&settings(srv2.url("https", "/x"), Some(&ca2)))
        .unwrap()
        .deliver(body(), "test")
        .await
        .outcome
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("certificate is not valid for 127.0.0.1\nhint: the URL's host must be one of the names (or IP addresses) the certificate lists"), "{e}");

    // Plain http:// still works.
    let plain = serve(None, vec![]);
    let d = Webhook::new(&settings(plain.url("http", "/hook"), None))
        .unwrap()
        .deliver(body(), "test")
        .await;
    assert_eq!(d.outcome.unwrap(), 200);
    assert!(
        plain
            .next(Duration::from_secs(5))
            .unwrap()
            .head
            .starts_with("POST /hook ")
    );
}

#[tokio::test]
async fn retries_on_503_and_429_never_on_400() {
    let dir = TempDir::new("webhook-retry");
    let p = pki(&["127.0.0.1"]);
    let ca = write_ca(dir.path(), "ca.pem", &p);

    // 503 then 200: two requests, delivered on the second.
    let srv = serve(Some(&p), vec![Reply::Status(503, "busy")]);
    let hook = Webhook::new(&settings(srv.url("https", "/a"), Some(&ca))).unwrap();
    let d = hook.deliver(body(), "test").await;
    assert_eq!((d.attempts, d.outcome.unwrap()), (2, 200));
    let statuses: Vec<u16> = (0..2)
        .map(|_| srv.next(Duration::from_secs(5)).unwrap().status)
        .collect();
    assert_eq!(statuses, [503, 200]);

    // 400: the request's fault, not retried; the receiver's words shown.
    let srv = serve(Some(&p), vec![Reply::Status(400, "invalid_payload")]);
    let hook = Webhook::new(&settings(srv.url("https", "/a"), Some(&ca))).unwrap();
    let d = hook.deliver(body(), "test").await;
    assert_eq!(d.attempts, 1);
    assert_eq!(
        d.outcome.unwrap_err().to_string(),
        format!(
            "webhook https://{}/…: answered 400 Bad Request: invalid_payload",
            srv.addr
        )
    );
    assert_eq!(srv.next(Duration::from_secs(5)).unwrap().status, 400);
    assert!(
        srv.next(Duration::from_millis(300)).is_none(),
        "400 is not retried"
    );

    // 429 with Retry-After: 1 waits that second (longer than the backoff).
    let srv = serve(Some(&p), vec![Reply::RetryAfter(429, "slow down")]);
    let hook = Webhook::new(&settings(srv.url("https", "/a"), Some(&ca))).unwrap();
    let started = Instant::now();
    let d = hook.deliver(body(), "test").await;
    assert_eq!((d.attempts, d.outcome.unwrap()), (2, 200));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Always 503: gives up after the configured attempts.
    let srv = serve(Some(&p), vec![Reply::Status(503, ""); 10]);
    let mut s = settings(srv.url("https", "/a"), Some(&ca));
    s.retry.attempts = 3;
    let d = Webhook::new(&s).unwrap().deliver(body(), "test").await;
    assert_eq!(d.attempts, 3);
    let e = d.outcome.unwrap_err().to_string();
    assert!(
        e.ends_with("answered 503 Service Unavailable (gave up after 3 attempts)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_refused_connections_and_a_full_outbox() {
    let dir = TempDir::new("webhook-timeouts");
    let p = pki(&["127.0.0.1"]);
    let ca = write_ca(dir.path(), "ca.pem", &p);

    // A receiver that never answers: the total timeout ends each attempt.
    let srv = serve(Some(&p), vec![Reply::Hang; 10]);
    let mut s = settings(srv.url("https", "/a"), Some(&ca));
    s.timeout = Duration::from_millis(300);
    s.retry.attempts = 2;
    let started = Instant::now();
    let e = Webhook::new(&s)
        .unwrap()
        .deliver(body(), "test")
        .await
        .outcome
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("no answer within 0.3s (gave up after 2 attempts)"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // Nobody listening: a connection error, retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = settings(format!("https://{closed}/a"), Some(&ca));
    s.retry.attempts = 2;
    let d = Webhook::new(&s).unwrap().deliver(body(), "test").await;
    assert_eq!(d.attempts, 2);
    assert!(
        d.outcome
            .unwrap_err()
            .to_string()
            .contains("cannot connect to")
    );

    // The outbox never waits: with one delivery hanging and room for one,
    // a third push drops the oldest waiting one (counted).
    let srv = serve(Some(&p), vec![Reply::Hang]);
    let mut s = settings(srv.url("https", "/a"), Some(&ca));
    s.timeout = Duration::from_millis(500);
    s.retry.attempts = 1;
    let counts = monitor::metrics::WebhookCounts::default();
    let outbox = Outbox::start(Arc::new(Webhook::new(&s).unwrap()), 1, counts.clone());
    let job = |what: &str| Job {
        what: what.into(),
        body: body(),
    };
    outbox.push(job("first"));
    srv.next(Duration::from_secs(5))
        .expect("first delivery under way");
    let started = Instant::now();
    outbox.push(job("second"));
    outbox.push(job("third"));
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "push does not wait"
    );
    assert!(outbox.flush(Duration::from_secs(5)).await);
    assert_eq!(counts.get("dropped"), 1);
    assert_eq!(counts.get("failed"), 1);
    assert_eq!(counts.get("delivered"), 1);
    assert_eq!(
        srv.next(Duration::from_secs(1)).unwrap().body,
        r#"{"text":"hello"}"#
    );
}

/// `leakhound watch` started with the app, an alert that fires within a
/// second (heap above 1 MB for 400 ms), and an HTTPS webhook.
struct Watch {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    fn start(dir: &Path, url: &str, ca: &Path, format: &str) -> Watch {
        let cfg = dir.join("leakhound.toml");
        std::fs::write(
            &cfg,
            "interval = \"200ms\"\n[[rule]]\nname = \"HeapAboveOneMB\"\nmetric = \"heap_used_bytes\"\nthreshold = 1000000\nfor = \"400ms\"\nseverity = \"critical\"\nactions = [\"log\", \"webhook\"]\n",
        )
        .unwrap();
        let mut child = leakhound()
            .args([
                "watch",
                "--no-history",
                "--listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&cfg)
            .args(["--webhook", url, "--webhook-format", format, "--ca-file"])
            .arg(ca)
            .arg("--")
            .arg("node")
            .arg(repo().join("fixtures/apps/idle.js"))
            .arg("1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Watch { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for(&self, text: &str, within: Duration) -> String {
        let t = Instant::now();
        loop {
            let s = self.stderr();
            if s.contains(text) {
                return s;
            }
            assert!(t.elapsed() < within, "no {text:?} within {within:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metrics(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn watch_alerts_reach_an_https_webhook_after_a_503() {
    let dir = TempDir::new("webhook-watch");
    let p = pki(&["127.0.0.1"]);
    let ca = write_ca(dir.path(), "ca.pem", &p);
    let srv = serve(Some(&p), vec![Reply::Status(503, "")]);
    let w = Watch::start(
        dir.path(),
        &srv.url("https", "/services/T0/B0/s3cret"),
        &ca,
        "slack",
    );
    let first = srv
        .next(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no alert:\n{}", w.stderr()));
    let second = srv
        .next(Duration::from_secs(10))
        .expect("the alert again after the 503");
    assert_eq!((first.status, second.status), (503, 200));
    assert_eq!(first.body, second.body);
    let v: serde_json::Value = serde_json::from_str(&second.body).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with("[FIRING] HeapAboveOneMB on idle (critical): "),
        "{text}"
    );
    let redacted = format!("https://{}/…", srv.addr);
    let err = w.wait_for(
        &format!("webhook {redacted} delivered (HTTP 200, attempt 2)"),
        Duration::from_secs(10),
    );
    assert!(err.contains(&format!("HeapAboveOneMB firing on idle: webhook {redacted}: answered 503 Service Unavailable; retrying in ")), "{err}");
    assert!(
        !err.contains("s3cret"),
        "the URL's secret path is never logged:\n{err}"
    );
    let addr = err
        .split("serving http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    let m = metrics(&addr);
    assert!(
        m.contains("leakhound_webhook_deliveries{result=\"delivered\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("leakhound_webhook_deliveries{result=\"dropped\"} 0"),
        "{m}"
    );
}

#[test]
fn watch_refuses_a_server_signed_by_another_ca() {
    let dir = TempDir::new("webhook-watch-ca");
    let p = pki(&["127.0.0.1"]);
    let other = pki(&["127.0.0.1"]);
    let wrong_ca = write_ca(dir.path(), "other-ca.pem", &other);
    let srv = serve(Some(&p), vec![]);
    let w = Watch::start(
        dir.path(),
        &srv.url("https", "/hook/s3cret"),
        &wrong_ca,
        "json",
    );
    let line = format!(
        "HeapAboveOneMB firing on idle: webhook https://{}/…: certificate not trusted (unknown issuer)\nhint: pass --ca-file",
        srv.addr
    );
    let err = w.wait_for(&line, Duration::from_secs(30));
    assert!(!err.contains("s3cret"), "{err}");
    assert!(srv.next(Duration::from_millis(100)).is_none());

    // Other schemes and a CA file without certificates are usage errors.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    for (url, ca, want) in [
        (
            "ftp://files.example/s3cret",
            None,
            "--webhook ftp://files.example/…: only http:// and https:// URLs are supported",
        ),
        (
            "https://hooks.example/s3cret",
            Some(&junk),
            "no certificate in the file",
        ),
    ] {
        let mut cmd = leakhound();
        cmd.args([
            "watch",
            "--no-server",
            "--no-history",
            "--pid",
            "1",
            "--webhook",
            url,
        ]);
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(ca);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
