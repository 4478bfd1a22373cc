//! Allocation-site reads in the history: the sites of each read (the
//! biggest and the growing ones) with their live bytes and verdict.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use crate::error::Result;
use crate::sites::SiteFrame;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alloc_sites (
    id INTEGER PRIMARY KEY,
    stack TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS alloc_samples (
    target TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    site INTEGER NOT NULL REFERENCES alloc_sites (id),
    live_bytes INTEGER NOT NULL,
    growth_bytes_per_second REAL,
    p_value REAL
);
CREATE INDEX IF NOT EXISTS alloc_samples_by_target_time ON alloc_samples (target, ts_ms);
";

/// One site at one read.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SiteRow {
    /// Allocating frame first, up to the frame that names the site.
    pub stack: Vec<SiteFrame>,
    pub live_bytes: u64,
    /// Set when the site grew significantly at this read (bytes per second).
    pub growth_bytes_per_second: Option<f64>,
    pub p_value: Option<f64>,
}

/// The sites recorded at one read of a target's profile.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SiteRead {
    pub target: String,
    pub ts_ms: i64,
    pub pid: u32,
    pub sites: Vec<SiteRow>,
}

impl Store {
    fn site_id(&self, stack: &str) -> rusqlite::Result<i64> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO alloc_sites (stack) VALUES (?1)")?
            .execute([stack])?;
        self.conn
            .prepare_cached("SELECT id FROM alloc_sites WHERE stack = ?1")?
            .query_row([stack], |r| r.get(0))
    }

    /// Writes one read in one transaction.
    pub fn insert_sites(&self, read: &SiteRead) -> Result<()> {
        let run = || -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            for s in &read.sites {
                let stack = serde_json::to_string(&s.stack).unwrap_or_default();
                let id = self.site_id(&stack)?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO alloc_samples VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        read.target,
                        read.ts_ms,
                        read.pid,
                        id,
                        s.live_bytes as i64,
                        s.growth_bytes_per_second,
                        s.p_value
                    ])?;
            }
            tx.commit()
        };
        run().map_err(|e| self.err(e))
    }

    /// Reads since `since_ms`, optionally of one target, oldest first.
    /// Empty for histories written before allocation sites existed.
    pub fn site_reads(&self, target: Option<&str>, since_ms: i64) -> Result<Vec<SiteRead>> {
        let exists: Option<String> = self
            .conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alloc_samples'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT s.target, s.ts_ms, s.pid, a.stack, s.live_bytes, s.growth_bytes_per_second, s.p_value
                 FROM alloc_samples s JOIN alloc_sites a ON a.id = s.site
                 WHERE s.ts_ms >= ?1 AND (?2 IS NULL OR s.target = ?2)
                 ORDER BY s.target, s.ts_ms, s.live_bytes DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![since_ms, target], |r| {
                let stack: String = r.get(3)?;
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, u32>(2)?,
                    SiteRow {
                        stack: serde_json::from_str(&stack).unwrap_or_default(),
                        live_bytes: r.get::<_, i64>(4)?.max(0) as u64,
                        growth_bytes_per_second: r.get(5)?,
                        p_value: r.get(6)?,
                    },
                ))
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        let mut out: Vec<SiteRead> = Vec::new();
        for (target, ts_ms, pid, row) in rows {
            match out.last_mut() {
                Some(r) if r.target == target && r.ts_ms == ts_ms => r.sites.push(row),
                _ => out.push(SiteRead {
                    target,
                    ts_ms,
                    pid,
                    sites: vec![row],
                }),
            }
        }
        Ok(out)
    }

    /// Deletes reads older than `before_ms` and the sites no read uses.
    pub(super) fn prune_sites(&self, before_ms: i64) -> rusqlite::Result<usize> {
        let n = self
            .conn
            .execute("DELETE FROM alloc_samples WHERE ts_ms < ?1", [before_ms])?;
        if n > 0 {
            self.conn.execute(
                "DELETE FROM alloc_sites WHERE id NOT IN (SELECT DISTINCT site FROM alloc_samples)",
                [],
            )?;
        }
        Ok(n)
    }
}
