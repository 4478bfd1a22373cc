//! Sample history in SQLite: one row per sample, WAL journal with
//! `synchronous=NORMAL` (each sample is committed on its own, so a killed
//! watcher loses nothing already written), file mode 0600.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use crate::error::{Error, Result};

mod sites;
pub use sites::{SiteRead, SiteRow};

/// Byte counts are kept as REAL in SQLite and in memory, but are whole
/// numbers: JSON reports write them as integers (docs/json.md).
fn bytes_as_integer<S: serde::Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(v.max(0.0).round() as u64)
}

/// One stored sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Row {
    pub target: String,
    /// Milliseconds since the epoch (watcher's clock).
    pub ts_ms: i64,
    pub pid: u32,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub heap_used: f64,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub heap_total: f64,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub heap_limit: f64,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub heap_floor: f64,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub external: f64,
    #[serde(serialize_with = "bytes_as_integer")]
    #[schemars(with = "u64")]
    pub rss: f64,
    pub gc_count: u64,
    pub gc_seconds: f64,
    pub major_gc_count: u64,
    pub eventloop_p50_ms: Option<f64>,
    pub eventloop_p99_ms: Option<f64>,
    pub eventloop_max_ms: Option<f64>,
    pub lag_ms: f64,
    pub growth_bytes_per_second: Option<f64>,
    pub trend_significant: Option<bool>,
    pub trend_p_value: Option<f64>,
    pub time_to_limit_seconds: Option<f64>,
}

/// One alert transition.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AlertRow {
    pub target: String,
    pub ts_ms: i64,
    pub alert: String,
    pub status: String,
    /// NaN (written as null) when the rule has no value.
    #[schemars(with = "Option<f64>")]
    pub value: f64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    target TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    heap_used REAL NOT NULL,
    heap_total REAL NOT NULL,
    heap_limit REAL NOT NULL,
    heap_floor REAL NOT NULL,
    external REAL NOT NULL,
    rss REAL NOT NULL,
    gc_count INTEGER NOT NULL,
    gc_seconds REAL NOT NULL,
    major_gc_count INTEGER NOT NULL,
    eventloop_p50_ms REAL,
    eventloop_p99_ms REAL,
    eventloop_max_ms REAL,
    lag_ms REAL NOT NULL,
    growth_bytes_per_second REAL,
    trend_significant INTEGER,
    trend_p_value REAL,
    time_to_limit_seconds REAL
);
CREATE INDEX IF NOT EXISTS samples_by_target_time ON samples (target, ts_ms);
CREATE TABLE IF NOT EXISTS alerts (
    target TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    alert TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS alerts_by_target_time ON alerts (target, ts_ms);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// The `settings` key of the trend window `watch` used (milliseconds).
pub const TREND_WINDOW_MS: &str = "trend_window_ms";

/// A history database.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens or creates the database for writing (file created with mode 0600).
    pub fn open(path: &Path) -> Result<Store> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::Io {
                what: path.display().to_string(),
                source,
            })?;
        let mk = |source| Error::Store {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(mk)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(mk)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(mk)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(mk)?;
        conn.execute_batch(SCHEMA).map_err(mk)?;
        conn.execute_batch(sites::SCHEMA).map_err(mk)?;
        Ok(Store {
            path: path.to_owned(),
            conn,
        })
    }

    /// Opens an existing database for reading.
    pub fn open_read(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Store {
            path: path.to_owned(),
            source,
        })?;
        let _ = conn.busy_timeout(Duration::from_secs(5));
        Ok(Store {
            path: path.to_owned(),
            conn,
        })
    }

    pub fn insert(&self, r: &Row) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO samples VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    r.target,
                    r.ts_ms,
                    r.pid,
                    r.heap_used,
                    r.heap_total,
                    r.heap_limit,
                    r.heap_floor,
                    r.external,
                    r.rss,
                    r.gc_count as i64,
                    r.gc_seconds,
                    r.major_gc_count as i64,
                    r.eventloop_p50_ms,
                    r.eventloop_p99_ms,
                    r.eventloop_max_ms,
                    r.lag_ms,
                    r.growth_bytes_per_second,
                    r.trend_significant,
                    r.trend_p_value,
                    r.time_to_limit_seconds,
                ])
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn insert_alert(&self, a: &AlertRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO alerts VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    a.target,
                    a.ts_ms,
                    a.alert,
                    a.status,
                    a.value.is_finite().then_some(a.value)
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Deletes rows older than `before_ms`.
    pub fn prune(&self, before_ms: i64) -> Result<usize> {
        let a = self
            .conn
            .execute("DELETE FROM samples WHERE ts_ms < ?1", [before_ms])
            .map_err(|e| self.err(e))?;
        let b = self
            .conn
            .execute("DELETE FROM alerts WHERE ts_ms < ?1", [before_ms])
            .map_err(|e| self.err(e))?;
        let c = self.prune_sites(before_ms).map_err(|e| self.err(e))?;
        Ok(a + b + c)
    }

    /// Target names with their sample counts, first and last times.
    /// Records a setting of the watcher that wrote this history (so
    /// `history` reads the samples as `watch` did).
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A recorded setting; `None` when absent (or the history predates settings).
    pub fn setting(&self, key: &str) -> Option<String> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .ok()
    }

    pub fn targets(&self) -> Result<Vec<(String, u64, i64, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT target, COUNT(*), MIN(ts_ms), MAX(ts_ms) FROM samples GROUP BY target ORDER BY target")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?))
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Samples since `since_ms`, optionally of one target, oldest first.
    pub fn samples(&self, target: Option<&str>, since_ms: i64) -> Result<Vec<Row>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT target, ts_ms, pid, heap_used, heap_total, heap_limit, heap_floor, external, rss,
                        gc_count, gc_seconds, major_gc_count, eventloop_p50_ms, eventloop_p99_ms, eventloop_max_ms,
                        lag_ms, growth_bytes_per_second, trend_significant, trend_p_value, time_to_limit_seconds
                 FROM samples WHERE ts_ms >= ?1 AND (?2 IS NULL OR target = ?2) ORDER BY target, ts_ms",
            )
            .map_err(|e| self.err(e))?;
        st.query_map(params![since_ms, target], |r| {
            Ok(Row {
                target: r.get(0)?,
                ts_ms: r.get(1)?,
                pid: r.get(2)?,
                heap_used: r.get(3)?,
                heap_total: r.get(4)?,
                heap_limit: r.get(5)?,
                heap_floor: r.get(6)?,
                external: r.get(7)?,
                rss: r.get(8)?,
                gc_count: r.get::<_, i64>(9)? as u64,
                gc_seconds: r.get(10)?,
                major_gc_count: r.get::<_, i64>(11)? as u64,
                eventloop_p50_ms: r.get(12)?,
                eventloop_p99_ms: r.get(13)?,
                eventloop_max_ms: r.get(14)?,
                lag_ms: r.get(15)?,
                growth_bytes_per_second: r.get(16)?,
                trend_significant: r.get(17)?,
                trend_p_value: r.get(18)?,
                time_to_limit_seconds: r.get(19)?,
            })
        })
        .and_then(|it| it.collect())
        .map_err(|e| self.err(e))
    }

    pub fn alerts(&self, target: Option<&str>, since_ms: i64) -> Result<Vec<AlertRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT target, ts_ms, alert, status, value FROM alerts
                 WHERE ts_ms >= ?1 AND (?2 IS NULL OR target = ?2) ORDER BY ts_ms",
            )
            .map_err(|e| self.err(e))?;
        st.query_map(params![since_ms, target], |r| {
            Ok(AlertRow {
                target: r.get(0)?,
                ts_ms: r.get(1)?,
                alert: r.get(2)?,
                status: r.get(3)?,
                value: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
            })
        })
        .and_then(|it| it.collect())
        .map_err(|e| self.err(e))
    }

    /// Checkpoints the WAL into the main file.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }
}

/// At most one warning per this long about failed history writes.
const WARN_EVERY: Duration = Duration::from_secs(60);

enum Msg {
    Sample(Box<Row>),
    Alert(AlertRow),
    Sites(Box<SiteRead>),
}

/// A writer thread in front of a [`Store`], so samplers never block on disk.
pub struct Writer {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A cheap handle to send rows to the writer thread.
#[derive(Clone)]
pub struct WriterHandle(mpsc::Sender<Msg>);

impl WriterHandle {
    pub fn sample(&self, r: Row) {
        let _ = self.0.send(Msg::Sample(Box::new(r)));
    }

    pub fn alert(&self, a: AlertRow) {
        let _ = self.0.send(Msg::Alert(a));
    }

    pub fn sites(&self, r: SiteRead) {
        let _ = self.0.send(Msg::Sites(Box::new(r)));
    }
}

impl Writer {
    /// Starts the writer thread; rows older than `retention` are pruned now
    /// and then. Failed writes are counted in `errors` and logged at most
    /// once a minute (a full disk fails every sample).
    pub fn start(
        store: Store,
        retention: Duration,
        errors: prometheus_client::metrics::gauge::Gauge,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("leakhound-history".into())
            .spawn(move || {
                let mut n = 0u64;
                let prune = |store: &Store| {
                    let before = crate::time::now_ms() - retention.as_millis() as i64;
                    if let Err(e) = store.prune(before) {
                        tracing::warn!("{e}");
                    }
                };
                prune(&store);
                let mut last_warning: Option<std::time::Instant> = None;
                let mut unreported = 0u64;
                while let Ok(m) = rx.recv() {
                    let r = match m {
                        Msg::Sample(r) => store.insert(&r),
                        Msg::Alert(a) => store.insert_alert(&a),
                        Msg::Sites(r) => store.insert_sites(&r),
                    };
                    if let Err(e) = r {
                        errors.inc();
                        unreported += 1;
                        let due = last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
                        if due {
                            if unreported > 1 {
                                tracing::warn!(
                                    "cannot record history: {e} ({unreported} writes failed since the last warning)"
                                );
                            } else {
                                tracing::warn!("cannot record history: {e}");
                            }
                            last_warning = Some(std::time::Instant::now());
                            unreported = 0;
                        }
                    }
                    n += 1;
                    if n.is_multiple_of(5000) {
                        prune(&store);
                    }
                }
                if let Err(e) = store.checkpoint() {
                    tracing::debug!("{e}");
                }
            })
            .expect("spawn history thread");
        Writer {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn handle(&self) -> WriterHandle {
        WriterHandle(self.tx.clone().expect("writer running"))
    }

    /// Writes everything queued and closes the database (all handles must be dropped first).
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_writer() {
        let dir = std::env::temp_dir().join(format!("leakhound-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.db");
        let w = Writer::start(
            Store::open(&path).unwrap(),
            Duration::from_secs(3600),
            Default::default(),
        );
        let h = w.handle();
        let now = crate::time::now_ms();
        for i in 0..3 {
            h.sample(Row {
                target: "api".into(),
                ts_ms: now + i,
                pid: 7,
                heap_used: 1e6 + i as f64,
                eventloop_p99_ms: (i > 0).then_some(1.5),
                trend_significant: Some(i == 2),
                ..Row::default()
            });
        }
        h.alert(AlertRow {
            target: "api".into(),
            ts_ms: now,
            alert: "X".into(),
            status: "resolved".into(),
            value: f64::NAN,
        });
        // An old row is pruned when the writer starts next time.
        h.sample(Row {
            target: "old".into(),
            ts_ms: 0,
            ..Row::default()
        });
        drop(h);
        w.finish();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        Writer::start(
            Store::open(&path).unwrap(),
            Duration::from_secs(3600),
            Default::default(),
        )
        .finish();
        let r = Store::open_read(&path).unwrap();
        let rows = r.samples(None, 0).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].heap_used, 1e6 + 2.0);
        assert_eq!(rows[0].eventloop_p99_ms, None);
        assert_eq!(rows[2].trend_significant, Some(true));
        assert_eq!(r.targets().unwrap()[0].1, 3);
        let a = r.alerts(Some("api"), 0).unwrap();
        assert!(a[0].value.is_nan());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every failed write is counted (for `/metrics`); the sampler never
    /// blocks on them.
    #[test]
    fn failed_writes_are_counted() {
        let dir = std::env::temp_dir().join(format!("leakhound-store-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("h.db")).unwrap();
        let _ = tracing::subscriber::set_global_default(CountWarnings);
        // Stands in for a full disk: every insert fails.
        store.conn.execute_batch("DROP TABLE samples").unwrap();
        let errors = prometheus_client::metrics::gauge::Gauge::<i64>::default();
        let w = Writer::start(store, Duration::from_secs(3600), errors.clone());
        let h = w.handle();
        for i in 0..200 {
            h.sample(Row {
                target: "api".into(),
                ts_ms: i,
                ..Row::default()
            });
        }
        drop(h);
        w.finish();
        assert_eq!(errors.get(), 200);
        // One warning, not 200: the rest are said at most once a minute.
        assert_eq!(WARNINGS.load(std::sync::atomic::Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    static WARNINGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Counts the history-write warnings of every thread.
    struct CountWarnings;

    struct Message(String);

    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for CountWarnings {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut m = Message(String::new());
            event.record(&mut m);
            if m.0.contains("cannot record history") {
                WARNINGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
}
