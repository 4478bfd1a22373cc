//! Alert webhooks: `http://` and `https://` (rustls) POSTs with connect and
//! total timeouts, retries with backoff and jitter, and a bounded outbox
//! whose worker does the network IO, so an alert never waits on a receiver.
//!
//! One connection per attempt (alerts are rare; nothing to keep alive).
//! URLs are shown redacted everywhere ([`endpoint::redact`]).

pub mod endpoint;
mod outbox;
pub mod retry;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::Error;
pub use endpoint::{Endpoint, Scheme, redact};
pub use hyper::body::Bytes;
pub use outbox::{Job, Outbox};
pub use retry::RetryPolicy;

/// How to reach a webhook.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    /// Extra request headers (`Authorization`…); never logged.
    pub headers: Vec<(String, String)>,
    /// Name resolution, TCP connect and TLS handshake, per attempt.
    pub connect_timeout: Duration,
    /// One whole attempt, connect included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Extra CAs to trust (PEM), besides the system store.
    pub ca_file: Option<PathBuf>,
}

impl Settings {
    pub fn new(url: impl Into<String>) -> Settings {
        Settings {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            ca_file: None,
        }
    }
}

/// Why an attempt failed, and whether another one may succeed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub retry: bool,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn connect(message: String) -> Failure {
        Failure {
            message,
            hint: None,
            retry: true,
            retry_after: None,
        }
    }

    fn config(message: String, hint: Option<String>) -> Failure {
        Failure {
            message,
            hint,
            retry: false,
            retry_after: None,
        }
    }

    fn status(status: hyper::StatusCode, body: &[u8], retry_after: Option<Duration>) -> Failure {
        let code = status.as_u16();
        let mut message = format!("answered {status}");
        if let Some(s) = snippet(body) {
            message.push_str(": ");
            message.push_str(&s);
        }
        let hint = match code {
            300..=399 => Some("redirects are not followed: use the URL the receiver redirects to"),
            401 | 403 => Some(
                "the receiver refused the credentials: check the token in the URL or the headers in [actions.webhook]",
            ),
            404 | 410 => Some(
                "check the URL: the receiver does not know it (a revoked Slack webhook answers 404)",
            ),
            _ => None,
        };
        Failure {
            message,
            hint: hint.map(str::to_owned),
            retry: retry::retryable_status(code),
            retry_after,
        }
    }
}

/// The start of a text answer, on one line (receivers say what was wrong:
/// Slack's `invalid_payload`, PagerDuty's JSON errors).
fn snippet(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    Some(s)
}

/// The outcome of a delivery.
#[derive(Debug)]
pub struct Delivery {
    pub attempts: u32,
    /// The receiver's success status, or why the last attempt failed.
    pub outcome: Result<u16, Error>,
}

/// A webhook client.
pub struct Webhook {
    endpoint: Endpoint,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
}

fn secs(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

impl Webhook {
    /// Checks the URL and headers and loads the CAs (for `https://`): every
    /// configuration error shows here, before anything is watched.
    pub fn new(s: &Settings) -> Result<Webhook, Error> {
        let endpoint = Endpoint::parse(&s.url).map_err(Error::Invalid)?;
        let err = |f: Failure| Error::Webhook {
            url: endpoint.redacted.clone(),
            message: f.message,
            hint: f.hint,
        };
        let mut headers = Vec::new();
        for (k, v) in &s.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                err(Failure::config(
                    format!("header {k:?}: not a valid header name"),
                    None,
                ))
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                err(Failure::config(
                    format!("header {k:?}: not a valid header value"),
                    None,
                ))
            })?;
            headers.push((name, value));
        }
        let tls = match endpoint.scheme {
            Scheme::Http => None,
            Scheme::Https => {
                let cfg = tls::client_config(s.ca_file.as_deref()).map_err(err)?;
                let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone()).map_err(
                    |_| err(Failure::config("not a valid TLS server name".into(), None)),
                )?;
                Some((cfg, name))
            }
        };
        if s.retry.attempts == 0 {
            return Err(err(Failure::config(
                "retries must allow one attempt".into(),
                None,
            )));
        }
        Ok(Webhook {
            endpoint,
            headers,
            tls,
            connect_timeout: s.connect_timeout,
            timeout: s.timeout,
            retry: s.retry,
        })
    }

    /// `scheme://host[:port]/…`.
    pub fn redacted_url(&self) -> &str {
        &self.endpoint.redacted
    }

    fn error(&self, f: Failure) -> Error {
        Error::Webhook {
            url: self.endpoint.redacted.clone(),
            message: f.message,
            hint: f.hint,
        }
    }

    /// Posts `body`, retrying connection failures, timeouts, 5xx, 408 and
    /// 429 (after `Retry-After` when the receiver sends one and it is
    /// within the cap); `what` names the alert in the log lines.
    pub async fn deliver(&self, body: Bytes, what: &str) -> Delivery {
        let mut n = 0;
        loop {
            n += 1;
            let f = match self.attempt(&body).await {
                Ok(status) => {
                    return Delivery {
                        attempts: n,
                        outcome: Ok(status),
                    };
                }
                Err(f) => f,
            };
            let mut wait = self.retry.backoff(n, fastrand::f64());
            let mut f = f;
            if let Some(ra) = f.retry_after.filter(|_| f.retry) {
                if ra > self.retry.max_retry_after {
                    f.message.push_str(&format!(
                        " (asked to retry after {}, more than the {} leakhound waits)",
                        secs(ra),
                        secs(self.retry.max_retry_after)
                    ));
                    f.retry = false;
                } else {
                    wait = wait.max(ra);
                }
            }
            if !f.retry || n >= self.retry.attempts {
                if f.retry {
                    f.message
                        .push_str(&format!(" (gave up after {n} attempts)"));
                }
                return Delivery {
                    attempts: n,
                    outcome: Err(self.error(f)),
                };
            }
            tracing::info!(
                "{what}: webhook {}: {}; retrying in {} (attempt {n} of {})",
                self.endpoint.redacted,
                f.message,
                secs(wait),
                self.retry.attempts
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: connect (within the connect timeout), POST, read the
    /// answer, all within the total timeout.
    pub async fn attempt(&self, body: &Bytes) -> Result<u16, Failure> {
        let run = async {
            let connect = tokio::time::timeout(self.connect_timeout, self.connect());
            let stream = connect.await.map_err(|_| {
                Failure::connect(format!(
                    "could not connect within {}",
                    secs(self.connect_timeout)
                ))
            })??;
            match stream {
                Stream::Plain(s) => self.exchange(s, body).await,
                Stream::Tls(s) => self.exchange(*s, body).await,
            }
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| Failure::connect(format!("no answer within {}", secs(self.timeout))))?
    }

    async fn connect(&self) -> Result<Stream, Failure> {
        let ep = &self.endpoint;
        let addrs: Vec<_> = tokio::net::lookup_host((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| Failure::connect(format!("cannot resolve {}: {e}", ep.host)))?
            .collect();
        // An address that swallows packets (IPv6 without a route) must not
        // use up the time of the next one.
        let per_address =
            (self.connect_timeout / addrs.len().max(1) as u32).max(Duration::from_millis(500));
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match tokio::time::timeout(per_address, TcpStream::connect(a)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some((a, e)),
                Err(_) => {
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
                    last = Some((a, e));
                }
            }
        }
        let tcp = match (tcp, last) {
            (Some(s), _) => s,
            (None, Some((a, e))) => {
                return Err(Failure::connect(format!("cannot connect to {a}: {e}")));
            }
            (None, None) => {
                return Err(Failure::connect(format!("{} has no address", ep.host)));
            }
        };
        let _ = tcp.set_nodelay(true);
        let Some((cfg, name)) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let tls = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| tls::handshake_failure(&e, &ep.host))?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    fn request(&self, body: &Bytes) -> hyper::Request<Full<Bytes>> {
        let mut req = hyper::Request::post(self.endpoint.target.as_str())
            .header(hyper::header::HOST, self.endpoint.host_header.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("leakhound/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(h) = req.headers_mut() {
            for (k, v) in &self.headers {
                h.insert(k.clone(), v.clone());
            }
        }
        req.body(Full::new(body.clone()))
            .expect("request parts were checked in Webhook::new")
    }

    async fn exchange<S>(&self, io: S, body: &Bytes) -> Result<u16, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::connect(format!("HTTP: {e}")))?;
        let conn = AbortOnDrop(tokio::spawn(conn));
        let resp = sender
            .send_request(self.request(body))
            .await
            .map_err(|e| Failure::connect(format!("HTTP: {e}")))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let answer = Limited::new(resp.into_body(), 16 << 10)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        drop(conn);
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::status(status, &answer, retry_after))
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
