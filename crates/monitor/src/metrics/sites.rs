//! Allocation-site metrics: the top sites of each target only (bounded
//! cardinality), labelled by the function, file and line that name them.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::G;
use crate::sites::{GrowingSite, SiteKey};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteL {
    target: String,
    function: String,
    file: String,
    line: String,
}

pub(super) struct SiteMetrics {
    live: Family<SiteL, G>,
    growth: Family<SiteL, G>,
    /// The label sets set per target, removed at the next read.
    current: Mutex<HashMap<String, Vec<SiteL>>>,
}

impl SiteMetrics {
    pub(super) fn new(r: &mut Registry) -> SiteMetrics {
        let live = Family::<SiteL, G>::default();
        r.register(
            "leakhound_allocation_site_live_bytes",
            "Estimated live bytes allocated at the site since sampling started (sampling heap profiler; top sites only)",
            live.clone(),
        );
        let growth = Family::<SiteL, G>::default();
        r.register(
            "leakhound_allocation_site_growth_bytes_per_second",
            "Growth of the site's live bytes (Theil-Sen slope of window minima; 0 unless significant)",
            growth.clone(),
        );
        SiteMetrics {
            live,
            growth,
            current: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the target's sites: the growing ones first, then the biggest,
    /// `top` label sets at most (sites named by the same frame are summed).
    pub(super) fn record(
        &self,
        target: &str,
        growing: &[GrowingSite],
        biggest: &[(SiteKey, u64)],
        top: usize,
    ) {
        let label = |k: &SiteKey| {
            let n = k.named();
            SiteL {
                target: target.to_owned(),
                function: n.function.clone(),
                file: n.file.clone(),
                line: n.line.to_string(),
            }
        };
        let mut chosen: Vec<(SiteL, f64, f64)> = Vec::new();
        let mut add = |l: SiteL, live: u64, growth: f64| {
            if let Some(c) = chosen.iter_mut().find(|c| c.0 == l) {
                c.1 += live as f64;
                c.2 += growth;
            } else if chosen.len() < top {
                chosen.push((l, live as f64, growth));
            }
        };
        for g in growing {
            add(label(&g.key()), g.live_bytes, g.growth_bytes_per_second);
        }
        for (k, b) in biggest {
            if !growing.iter().any(|g| g.stack == k.stack) {
                add(label(k), *b, 0.0);
            }
        }
        let mut current = self.current.lock().expect("site metrics lock");
        for l in current.remove(target).unwrap_or_default() {
            self.live.remove(&l);
            self.growth.remove(&l);
        }
        for (l, live, growth) in &chosen {
            self.live.get_or_create(l).set(*live);
            self.growth.get_or_create(l).set(*growth);
        }
        current.insert(target.to_owned(), chosen.into_iter().map(|c| c.0).collect());
    }
}
