//! A sampling heap profile as a pprof profile (`.pb.gz`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use pprof::{Builder, Frame, Label, SampleType};

use crate::estimate::estimate_node;
use crate::profile::{ProfileNode, SamplingProfile};

const OBJECTS: SampleType = SampleType::new("objects", "count");
const SPACE: SampleType = SampleType::new("space", "bytes");

/// One node of the profile tree, flattened.
struct Node<'a> {
    parent: Option<usize>,
    function: &'a str,
    file: String,
    line: i64,
    column: i64,
    self_size: u64,
}

/// The tree as parent links (V8's root, "(root)", is not a frame).
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    by_id: HashMap<u64, usize>,
}

impl<'a> Tree<'a> {
    fn new(head: &'a ProfileNode) -> Self {
        let mut tree = Tree {
            nodes: Vec::new(),
            by_id: HashMap::new(),
        };
        let mut stack: Vec<(&ProfileNode, Option<usize>)> =
            head.children.iter().map(|c| (c, None)).collect();
        while let Some((n, parent)) = stack.pop() {
            let f = &n.call_frame;
            let at = tree.nodes.len();
            tree.nodes.push(Node {
                parent,
                function: if f.function_name.is_empty() {
                    "(anonymous)"
                } else {
                    &f.function_name
                },
                file: file_name(&f.url),
                line: one_based(f.line_number),
                column: one_based(f.column_number),
                self_size: n.self_size.max(0.0).round() as u64,
            });
            tree.by_id.insert(n.id, at);
            stack.extend(n.children.iter().map(|c| (c, Some(at))));
        }
        tree
    }

    /// The frames from node `at` up to the root, leaf first.
    fn stack(&self, mut at: usize) -> Vec<Frame<'_>> {
        let mut frames = Vec::new();
        loop {
            let n = &self.nodes[at];
            frames.push(Frame {
                function: n.function,
                file: &n.file,
                start_line: n.line,
                line: n.line,
                column: n.column,
            });
            match n.parent {
                Some(p) => at = p,
                None => return frames,
            }
        }
    }
}

fn one_based(zero_based: i64) -> i64 {
    if zero_based >= 0 { zero_based + 1 } else { 0 }
}

/// A script's path for a `file://` URL (so `pprof -list` can read the
/// source), the URL itself otherwise (`node:internal/…`, `https://…`).
fn file_name(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| url.to_owned())
}

impl SamplingProfile {
    /// The profile in pprof's format, gzipped: what `go tool pprof`,
    /// Grafana Pyroscope and Parca read.
    ///
    /// Sample types `objects/count` and `space/bytes` (the default), like
    /// Go's `inuse_objects`/`inuse_space`: V8's estimates of the live objects
    /// and bytes the samples stand for (see [`crate::estimate`]; a sample
    /// with the `bytes` label has a known object size and V8's exact
    /// count). The period is `interval` bytes of `space`. One location per
    /// call frame (script, function, line, column; V8 records where each
    /// function starts, not the call site), stacks leaf first.
    pub fn to_pprof(&self, interval: u64, start: SystemTime, duration: Duration) -> Vec<u8> {
        let tree = Tree::new(&self.head);
        let rate = interval.max(1);
        let mut per_node: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for s in &self.samples {
            if let Some(&at) = tree.by_id.get(&s.node_id) {
                per_node
                    .entry(at)
                    .or_default()
                    .push(s.size.max(0.0).round() as u64);
            }
        }
        let period = i64::try_from(rate).unwrap_or(i64::MAX);
        let mut b = Builder::new([OBJECTS, SPACE], SPACE, period);
        b.default_sample_type("space")
            .time(start, duration)
            .program("node")
            .comment(&format!(
            "V8 sampling heap profile of live objects, one sample per {rate} bytes allocated on average; \
             values are V8's estimates of all live objects (objects exact where the bytes label gives the object size)"
        ));
        let sized = |n| i64::try_from(n).unwrap_or(i64::MAX);
        for (at, sizes) in &per_node {
            let frames = tree.stack(*at);
            for bucket in estimate_node(sizes, tree.nodes[*at].self_size, rate) {
                let values = [sized(bucket.objects), sized(bucket.bytes)];
                match bucket.object_size {
                    Some(size) => {
                        let label = Label::Num {
                            key: "bytes",
                            value: sized(size),
                            unit: "bytes",
                        };
                        b.add_sample(&frames, values, &[label]);
                    }
                    None => b.add_sample(&frames, values, &[]),
                }
            }
        }
        // Profiles without samples (Node before 12) have only self sizes.
        if self.samples.is_empty() {
            self.add_self_sizes(&tree, &mut b);
        }
        b.finish()
    }

    fn add_self_sizes(&self, tree: &Tree, b: &mut Builder<2>) {
        let mut stack = vec![&self.head];
        while let Some(n) = stack.pop() {
            if let Some(&at) = tree.by_id.get(&n.id)
                && n.self_size >= 1.0
            {
                b.add_sample(&tree.stack(at), [0, n.self_size as i64], &[]);
            }
            stack.extend(n.children.iter());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::v8_count;
    use crate::profile::{CallFrame, Sample};
    use std::time::UNIX_EPOCH;

    fn node(id: u64, name: &str, url: &str, line: i64, children: Vec<ProfileNode>) -> ProfileNode {
        ProfileNode {
            call_frame: CallFrame {
                function_name: name.to_owned(),
                script_id: "1".to_owned(),
                url: url.to_owned(),
                line_number: line,
                column_number: if line < 0 { -1 } else { 4 },
            },
            self_size: 0.0,
            id,
            children,
        }
    }

    fn sample(node_id: u64, size: u64) -> Sample {
        Sample {
            size: size as f64,
            node_id,
            ordinal: 0.0,
        }
    }

    /// A profile shaped like Node's: (root) → (anonymous) service.js →
    /// handleRequest app.js, which keeps 100 KB buffers and small objects.
    fn profile() -> SamplingProfile {
        let leaf = node(3, "handleRequest", "file:///srv/app%20x/app.js", 8, vec![]);
        let mid = node(2, "", "/srv/service.js", 6, vec![leaf]);
        let gc = node(4, "(GC)", "", -1, vec![]);
        SamplingProfile {
            head: node(1, "(root)", "", -1, vec![mid, gc]),
            samples: vec![
                sample(3, 100_000),
                sample(3, 100_000),
                sample(3, 32784),
                sample(4, 300_000),
            ],
        }
    }

    fn s(p: &pprof::proto::Profile, i: i64) -> &str {
        &p.string_table[i as usize]
    }

    #[test]
    fn converts_stacks_values_and_header() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let bytes = profile().to_pprof(32768, start, Duration::from_secs(30));
        let p = pprof::decode(&bytes, 1 << 20).unwrap();
        assert_eq!(p.string_table[0], "");
        assert_eq!(s(&p, p.default_sample_type), "space");
        assert_eq!(p.period, 32768);
        assert_eq!(p.time_nanos, 1_800_000_000 * 1_000_000_000);
        assert_eq!(p.duration_nanos, 30_000_000_000);
        assert!(!p.comment.is_empty());
        for x in &p.sample {
            assert_eq!(x.value.len(), p.sample_type.len());
        }
        // handleRequest: the 100 KB bucket (exact, labelled) and the small one.
        let names = |x: &pprof::proto::Sample| -> Vec<String> {
            x.location_id
                .iter()
                .map(|id| {
                    let loc = &p.location[*id as usize - 1];
                    let f = &p.function[loc.line[0].function_id as usize - 1];
                    format!(
                        "{}@{}:{}:{}",
                        s(&p, f.name),
                        s(&p, f.filename),
                        loc.line[0].line,
                        loc.line[0].column
                    )
                })
                .collect()
        };
        let stacks: Vec<(Vec<String>, Vec<i64>, usize)> = p
            .sample
            .iter()
            .map(|x| (names(x), x.value.clone(), x.label.len()))
            .collect();
        let handle = vec![
            "handleRequest@/srv/app x/app.js:9:5".to_owned(),
            "(anonymous)@/srv/service.js:7:5".to_owned(),
        ];
        assert!(
            stacks.contains(&(handle.clone(), vec![2, 200_000], 1)),
            "{stacks:?}"
        );
        let small = (683f64 * 1366.0 * 2049.0).cbrt().round() as i64;
        assert!(
            stacks.contains(&(handle, vec![small, 32784], 0)),
            "{stacks:?}"
        );
        assert_eq!(v8_count(300_000, 1, 32768), 1);
        let gc = vec!["(GC)@:0:0".to_owned()];
        assert!(stacks.contains(&(gc, vec![1, 300_000], 1)), "{stacks:?}");
        assert_eq!(stacks.len(), 3);
    }

    #[test]
    fn profiles_without_samples_keep_self_sizes() {
        let mut p = profile();
        p.samples.clear();
        p.head.children[0].children[0].self_size = 5000.0;
        let bytes = p.to_pprof(32768, UNIX_EPOCH, Duration::ZERO);
        let d = pprof::decode(&bytes, 1 << 20).unwrap();
        assert_eq!(d.sample.len(), 1);
        assert_eq!(d.sample[0].value, [0, 5000]);
        assert_eq!(d.sample[0].location_id.len(), 2);
    }
}
