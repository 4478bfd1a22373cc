//! A minimal Chrome DevTools Protocol session over a WebSocket.
//!
//! One task reads the socket and routes responses (by id) and events (to
//! subscribers); another writes. Heap snapshot chunks keep flowing while a
//! command is outstanding, so the reader never waits on the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::{Error, Result};

/// A protocol event: `method` and its `params`.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

type Reply = std::result::Result<Value, String>;

struct Shared {
    pending: std::sync::Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    subscribers: std::sync::Mutex<Vec<(String, mpsc::UnboundedSender<Event>)>>,
    closed: AtomicBool,
}

/// A connected inspector session.
pub struct Session {
    target: String,
    out: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[derive(Deserialize)]
struct Incoming {
    id: Option<u64>,
    method: Option<String>,
    #[serde(default)]
    params: Value,
    result: Option<Value>,
    error: Option<Value>,
}

impl Session {
    /// Connects to a `ws://` debugger URL (already checked for loopback by the caller).
    pub async fn connect(ws_url: &str) -> Result<Session> {
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(512 << 20);
        config.max_frame_size = Some(512 << 20);
        let connect = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), false);
        let (ws, _resp) = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Err(_) => {
                return Err(Error::Timeout {
                    target: ws_url.to_owned(),
                    what: "connecting".into(),
                    after: Duration::from_secs(10),
                });
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Io(e))) => {
                return Err(Error::Connect {
                    target: ws_url.to_owned(),
                    source: e,
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Handshake {
                    target: ws_url.to_owned(),
                    message: e.to_string(),
                });
            }
            Ok(Ok(x)) => x,
        };
        let (mut sink, mut stream) = ws.split();
        let shared = Arc::new(Shared {
            pending: std::sync::Mutex::new(HashMap::new()),
            subscribers: std::sync::Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_shared = shared.clone();
        let target = ws_url.to_owned();
        let reader = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                        Ok(s) => s.into(),
                        Err(_) => continue,
                    },
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                let incoming: Incoming = match serde_json::from_str(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(target = %target, "unparsable inspector message: {e}");
                        continue;
                    }
                };
                dispatch(&reader_shared, incoming);
            }
            reader_shared.closed.store(true, Ordering::SeqCst);
            // Fail everything still waiting, and end event streams.
            reader_shared.pending.lock().expect("pending lock").clear();
            reader_shared
                .subscribers
                .lock()
                .expect("subscribers lock")
                .clear();
        });
        Ok(Session {
            target: ws_url.to_owned(),
            out: out_tx,
            shared,
            next_id: AtomicU64::new(1),
            tasks: Mutex::new(vec![writer, reader]),
        })
    }

    /// The address this session talks to.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Receives every event whose method starts with `prefix` (e.g. `"HeapProfiler."`).
    pub fn subscribe(&self, prefix: &str) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.is_closed() {
            self.shared
                .subscribers
                .lock()
                .expect("subscribers lock")
                .push((prefix.to_owned(), tx));
        }
        rx
    }

    /// Sends a command and waits for its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.call_timeout(method, params, None).await
    }

    /// Sends a command and waits for its result, at most `timeout` if given.
    pub async fn call_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let rx = self.send(method, params)?;
        let reply = match timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(Error::Timeout {
                        target: self.target.clone(),
                        what: method.to_owned(),
                        after: t,
                    });
                }
            },
            None => rx.await,
        };
        match reply {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(Error::Protocol {
                target: self.target.clone(),
                method: method.to_owned(),
                message,
            }),
            Err(_) => Err(Error::Closed {
                target: self.target.clone(),
            }),
        }
    }

    /// Sends a command; the receiver yields its reply.
    pub fn send(&self, method: &str, params: Value) -> Result<oneshot::Receiver<Reply>> {
        if self.is_closed() {
            return Err(Error::Closed {
                target: self.target.clone(),
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .expect("pending lock")
            .insert(id, tx);
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.out
            .send(Message::Text(text.into()))
            .map_err(|_| Error::Closed {
                target: self.target.clone(),
            })?;
        Ok(rx)
    }

    /// Evaluates a synchronous JavaScript expression in the target and
    /// returns its value (by value). Promises are not awaited: with
    /// `awaitPromise`, V8 wraps even a plain value in a promise that a
    /// garbage collection forced at the same time (snapshots force them)
    /// can collect ("Promise was collected", seen on Node 22).
    pub async fn evaluate(&self, expression: &str, timeout: Duration) -> Result<Value> {
        let r = self
            .call_timeout(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "returnByValue": true,
                    "includeCommandLineAPI": true,
                    "silent": true,
                    "awaitPromise": false,
                }),
                Some(timeout),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| ex.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            return Err(Error::Protocol {
                target: self.target.clone(),
                method: "Runtime.evaluate".into(),
                message: text.lines().next().unwrap_or(text).to_owned(),
            });
        }
        Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.out.send(Message::Close(None));
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}

fn dispatch(shared: &Shared, m: Incoming) {
    if let Some(id) = m.id {
        let tx = shared.pending.lock().expect("pending lock").remove(&id);
        if let Some(tx) = tx {
            let reply = match (m.result, m.error) {
                (_, Some(e)) => Err(e
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string())),
                (Some(r), None) => Ok(r),
                (None, None) => Ok(Value::Null),
            };
            let _ = tx.send(reply);
        }
        return;
    }
    if let Some(method) = m.method {
        let mut subs = shared.subscribers.lock().expect("subscribers lock");
        subs.retain(|(prefix, tx)| {
            if method.starts_with(prefix.as_str()) {
                tx.send(Event {
                    method: method.clone(),
                    params: m.params.clone(),
                })
                .is_ok()
            } else {
                !tx.is_closed()
            }
        });
    }
}
