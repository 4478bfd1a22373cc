//! The explorer's HTTP server: the UI (embedded assets) and its JSON API.
//!
//! Every request must start with `/TOKEN/` (a random 128-bit token made at
//! start, in the URL printed to the user); anything else is a bare 404, so
//! another local user or a web page guessing ports learns nothing. Pages
//! get a Content-Security-Policy that allows only this origin: the UI loads
//! nothing from the network.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::object::{ViewOptions, edges_page, object_view, retainers_tree};
use crate::profile::{bottom_up, flame};
use crate::views::{self, SummaryQuery};
use crate::{Error, Workspace};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A bound, not yet serving, explorer server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    token: String,
}

/// A random token: 16 bytes from the kernel, as hex.
pub fn new_token() -> Result<String, Error> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| Error::Io {
            what: "cannot read /dev/urandom for the access token".into(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Server {
    /// Binds `addr` (`127.0.0.1:0` picks a free port); the caller checks
    /// that a non-loopback address was allowed.
    pub async fn bind(addr: SocketAddr) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Io {
            what: format!("cannot listen on {addr}"),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            what: "cannot read the bound address".into(),
            source,
        })?;
        Ok(Server {
            listener,
            addr,
            token: new_token()?,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open: `http://127.0.0.1:PORT/TOKEN/`.
    pub fn url(&self) -> String {
        format!("http://{}/{}/", self.addr, self.token)
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        ws: Arc<Workspace>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let token: Arc<str> = Arc::from(self.token.as_str());
        let app = routes(ws, &format!("/{}", self.token))
            .layer(middleware::from_fn_with_state(token, check_token));
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| Error::Io {
                what: "explorer server".into(),
                source,
            })
    }
}

/// The routes, every one under `prefix` (`/TOKEN`).
pub fn routes(ws: Arc<Workspace>, prefix: &str) -> Router {
    let r = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(
            &r("/"),
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            &r("/app.js"),
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            &r("/app.css"),
            get(|| async { page(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(&r("/api/files"), get(files))
        .route(&r("/api/leaks"), get(leaks))
        .route(&r("/api/{s}/summary"), get(summary))
        .route(&r("/api/{s}/instances"), get(instances))
        .route(&r("/api/{s}/object/{id}"), get(object))
        .route(&r("/api/{s}/edges/{id}"), get(edges))
        .route(&r("/api/{s}/retainers/{id}"), get(retainers))
        .route(&r("/api/{s}/dominated/{id}"), get(dominated))
        .route(&r("/api/{s}/flame"), get(profile_flame))
        .route(&r("/api/{s}/bottomup"), get(profile_bottom_up))
        .route(&r("/api/compare/{b}/{t}"), get(compare))
        .route(&r("/api/compare/{b}/{t}/objects"), get(compare_objects))
        .with_state(ws)
}

/// Rejects any request whose first path segment is not the token (a
/// comparison whose time does not depend on where they differ); redirects
/// `/TOKEN` to `/TOKEN/`.
async fn check_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !same(first.as_bytes(), token.as_bytes()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if path.trim_start_matches('/') == first {
        return Redirect::to(&format!("/{token}/")).into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

type Q = Query<HashMap<String, String>>;
type Ws = State<Arc<Workspace>>;

fn num(q: &HashMap<String, String>, k: &str, default: usize) -> usize {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Page sizes are capped: no request gets a whole list.
fn limit(q: &HashMap<String, String>, default: usize) -> usize {
    num(q, "limit", default).clamp(1, 500)
}

fn json<T: Serialize>(r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let code = match e {
                Error::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                Error::Unsupported { .. } => StatusCode::BAD_REQUEST,
                Error::NoObject { .. } | Error::NotFound(_) => StatusCode::NOT_FOUND,
            };
            (
                code,
                axum::Json(serde_json::json!({"error": e.to_string()})),
            )
                .into_response()
        }
    }
}

/// Runs a view on a blocking thread (scans of big snapshots take a while).
async fn blocking<T: Serialize + Send + 'static>(
    ws: Arc<Workspace>,
    f: impl FnOnce(&Workspace) -> Result<T, Error> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || f(&ws)).await {
        Ok(r) => json(r),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "view failed").into_response(),
    }
}

#[derive(Serialize)]
struct FileInfo {
    index: usize,
    file: String,
    kind: &'static str,
    bytes: u64,
    node_count: usize,
    edge_count: usize,
    total_size: u64,
    statistics: Option<analysis::Statistics>,
    allocation_traces: bool,
    root_id: u32,
}

async fn files(State(ws): Ws) -> Response {
    let out: Vec<FileInfo> = ws
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            crate::Item::Heap(h) => FileInfo {
                index,
                file: h.file.clone(),
                kind: "heap",
                bytes: h.bytes,
                node_count: h.graph.node_count(),
                edge_count: h.graph.edge_count(),
                total_size: h.analysis.total_size(&h.graph),
                statistics: Some(h.analysis.statistics),
                allocation_traces: h.has_traces(),
                root_id: h.graph.id(h.graph.root()),
            },
            crate::Item::Profile { file, profile } => FileInfo {
                index,
                file: file.clone(),
                kind: "profile",
                bytes: 0,
                node_count: 0,
                edge_count: 0,
                total_size: profile.total_bytes(),
                statistics: None,
                allocation_traces: false,
                root_id: 0,
            },
        })
        .collect();
    axum::Json(out).into_response()
}

async fn leaks(State(ws): Ws) -> Response {
    match &ws.leaks {
        Ok(v) => axum::Json(v).into_response(),
        Err(why) => axum::Json(serde_json::json!({"unavailable": why})).into_response(),
    }
}

async fn summary(State(ws): Ws, Path(s): Path<usize>, Query(q): Q) -> Response {
    let query = SummaryQuery {
        filter: q.get("filter").cloned().unwrap_or_default(),
        sort: q.get("sort").cloned().unwrap_or_default(),
        ascending: q.get("dir").is_some_and(|d| d == "asc"),
        offset: num(&q, "offset", 0),
        limit: limit(&q, 100),
    };
    blocking(ws, move |ws| Ok(views::summary(ws.heap(s)?, &query))).await
}

async fn instances(State(ws): Ws, Path(s): Path<usize>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let key = q.get("key").cloned().unwrap_or_default();
        views::instances(ws.heap(s)?, &key, num(&q, "offset", 0), limit(&q, 50))
    })
    .await
}

async fn object(State(ws): Ws, Path((s, id)): Path<(usize, u32)>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let heap = ws.heap(s)?;
        let n = heap.find(id)?;
        let opts = ViewOptions {
            edges: limit(&q, 50),
            weak: q.contains_key("weak"),
            ..ViewOptions::default()
        };
        Ok(object_view(heap, s, n, &opts))
    })
    .await
}

async fn edges(State(ws): Ws, Path((s, id)): Path<(usize, u32)>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let heap = ws.heap(s)?;
        Ok(edges_page(
            heap,
            heap.find(id)?,
            num(&q, "offset", 0),
            limit(&q, 50),
        ))
    })
    .await
}

async fn retainers(State(ws): Ws, Path((s, id)): Path<(usize, u32)>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let heap = ws.heap(s)?;
        let opts = ViewOptions {
            retainers_per_level: limit(&q, 50),
            weak: q.contains_key("weak"),
            ..ViewOptions::default()
        };
        Ok(retainers_tree(
            heap,
            heap.find(id)?,
            &opts,
            num(&q, "offset", 0),
        ))
    })
    .await
}

async fn dominated(State(ws): Ws, Path((s, id)): Path<(usize, String)>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let heap = ws.heap(s)?;
        let n = match id.as_str() {
            "root" => None,
            id => Some(
                heap.find(
                    id.parse()
                        .map_err(|_| Error::NotFound(format!("not an object id: {id:?}")))?,
                )?,
            ),
        };
        Ok(views::dominated(
            heap,
            n,
            num(&q, "offset", 0),
            limit(&q, 50),
        ))
    })
    .await
}

async fn compare(State(ws): Ws, Path((b, t)): Path<(usize, usize)>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let filter = q.get("filter").cloned().unwrap_or_default();
        views::comparison(ws, b, t, &filter, num(&q, "offset", 0), limit(&q, 100))
    })
    .await
}

async fn compare_objects(
    State(ws): Ws,
    Path((b, t)): Path<(usize, usize)>,
    Query(q): Q,
) -> Response {
    blocking(ws, move |ws| {
        let key = q.get("key").cloned().unwrap_or_default();
        let added = q.get("which").is_none_or(|w| w != "removed");
        views::comparison_objects(ws, b, t, &key, added, num(&q, "offset", 0), limit(&q, 50))
    })
    .await
}

async fn profile_flame(State(ws): Ws, Path(s): Path<usize>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let (_, p) = ws.profile(s)?;
        Ok(flame(p, q.contains_key("fold"), 0.001))
    })
    .await
}

async fn profile_bottom_up(State(ws): Ws, Path(s): Path<usize>, Query(q): Q) -> Response {
    blocking(ws, move |ws| {
        let (_, p) = ws.profile(s)?;
        let callers = q.get("callers").map(String::as_str);
        Ok(bottom_up(
            p,
            q.contains_key("fold"),
            callers,
            num(&q, "offset", 0),
            limit(&q, 100),
        ))
    })
    .await
}
