//! The HTTP endpoint: `/metrics` (Prometheus text) and `/health` (JSON).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::Shared;
use crate::error::{Error, Result};

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    token: Option<Arc<str>>,
}

/// Binds the server's socket.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_owned(),
        source,
    })
}

/// Constant-time comparison of the presented token.
fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // The scheme name is case-insensitive (RFC 7235 §2.1).
    let Some((scheme, given)) = v.trim_start().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = given.trim();
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

fn check(app: &App, headers: &HeaderMap) -> Option<Response> {
    let token = app.token.as_deref()?;
    if token_ok(headers, token) {
        return None;
    }
    let mut r = (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(r)
}

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(r) = check(&app, &headers) {
        return r;
    }
    let body = app.shared.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn health(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(r) = check(&app, &headers) {
        return r;
    }
    let targets = app.shared.status.lock().expect("status lock").clone();
    let healthy = !targets.is_empty() && targets.values().all(|t| t.up && t.firing.is_empty());
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "targets": targets,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string() + "\n",
    )
        .into_response()
}

async fn index() -> &'static str {
    "leakhound watch: /metrics, /health, /debug/pprof/heap?target=NAME\n"
}

/// `/debug/pprof/heap[?target=NAME]`: the latest read of the target's
/// sampling heap profile as gzipped pprof, where Grafana Alloy's
/// `pyroscope.scrape`, Parca and `go tool pprof URL` look for a Go
/// service's heap profile. `target` may be left out when one target is
/// watched.
async fn pprof_heap(State(app): State<App>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Some(r) = check(&app, &headers) {
        return r;
    }
    let wanted = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("target="))
            .map(|v| v.replace("%20", " ").replace('+', " "))
    });
    let latest = {
        let profiles = app.shared.profiles.lock().expect("profiles lock");
        match &wanted {
            Some(t) => profiles.get(t).cloned(),
            None if profiles.len() == 1 => profiles.values().next().cloned(),
            None => None,
        }
    };
    let Some(p) = latest else {
        let known: Vec<String> = app
            .shared
            .status
            .lock()
            .expect("status lock")
            .keys()
            .cloned()
            .collect();
        let msg = match wanted {
            Some(t) if !known.contains(&t) => {
                format!("no target {t:?} (targets: {})\n", known.join(", "))
            }
            None if known.len() > 1 => {
                format!("several targets: add ?target=NAME ({})\n", known.join(", "))
            }
            _ => {
                "no allocation profile yet: watch with --alloc-sites and wait for the first read\n"
                    .into()
            }
        };
        return (StatusCode::NOT_FOUND, msg).into_response();
    };
    let body = tokio::task::spawn_blocking(move || p.to_pprof())
        .await
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"heap.pb.gz\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = App {
        shared,
        token: token.map(Arc::from),
    };
    let router = Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/debug/pprof/heap", get(pprof_heap))
        .with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Io {
            what: "metrics server".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(!token_ok(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(token_ok(&h, "s3cret"));
        assert!(!token_ok(&h, "s3cre"));
        assert!(!token_ok(&h, "s3crets"));
        for v in ["bearer s3cret", "BEARER s3cret", "Bearer   s3cret"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert!(token_ok(&h, "s3cret"), "{v}");
        }
        for v in ["Basic s3cret", "Bearers3cret", "s3cret"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert!(!token_ok(&h, "s3cret"), "{v}");
        }
    }
}
