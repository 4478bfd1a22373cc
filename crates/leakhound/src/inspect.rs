//! `leakhound inspect FILE @ID`: the explorer's object view as text or JSON;
//! `inspect FILE --class NAME`: a class's instances.

use std::path::PathBuf;

use anyhow::{Result, bail};
use explore::{Heap, ObjectRef, ObjectView, Page, RetainerRow, ViewOptions};
use serde::Serialize;

use crate::progress::Progress;
use crate::{analyze, fmt, output};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The .heapsnapshot file
    pub file: PathBuf,
    /// The object: its V8 id, as `@12345` or `12345` (DevTools' @id)
    #[arg(
        value_name = "@ID",
        required_unless_present = "class",
        conflicts_with = "class"
    )]
    pub object: Option<String>,
    /// List the instances of this class (biggest retained size first) instead
    #[arg(long, value_name = "NAME")]
    pub class: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Levels of retainers to expand (DevTools' Retainers view, its order)
    #[arg(long, value_name = "DEPTH", default_value_t = 3)]
    pub retainers: usize,
    /// Retainers shown per object at each level
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retainers_per_level: usize,
    /// How many of the object's own edges to show (biggest retained size first)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub edges: usize,
    /// Show the dominator chain up to the root
    #[arg(long)]
    pub dominators: bool,
    /// Show weak retainers too (marked; DevTools leaves them out)
    #[arg(long)]
    pub weak: bool,
    /// With --class: how many instances to list
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `@12345` or `12345`.
fn parse_id(s: &str) -> Result<u32> {
    s.trim_start_matches('@').parse().map_err(|_| {
        anyhow::anyhow!("{s:?} is not an object id\nhint: give the V8 id DevTools shows as @12345")
    })
}

pub fn run(args: &InspectArgs, progress: &Progress) -> Result<()> {
    let id = args.object.as_deref().map(parse_id).transpose()?;
    let (graph, analysis) = analyze::load_and_analyze(&args.file, progress)?;
    let bytes = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    let heap = Heap::new(args.file.display().to_string(), bytes, graph, analysis);
    let text = match (&args.class, id) {
        (Some(class), _) => class_instances(&heap, class, args)?,
        (None, Some(id)) => {
            let n = heap.find(id)?;
            let opts = ViewOptions {
                edges: args.edges,
                retainer_depth: args.retainers,
                retainers_per_level: args.retainers_per_level.max(1),
                dominators: args.dominators,
                weak: args.weak,
            };
            let view = explore::object_view(&heap, 0, n, &opts);
            if args.json {
                output::json(&view)?
            } else {
                render(&view)
            }
        }
        (None, None) => bail!("give an object id (@12345) or --class NAME"),
    };
    output::emit(None, &text)
}

#[derive(Serialize)]
struct ClassInstances {
    class: String,
    key: String,
    count: u64,
    instances: Page<ObjectRef>,
}

fn class_instances(heap: &Heap, class: &str, args: &InspectArgs) -> Result<String> {
    let keys: Vec<(String, u64)> = heap
        .classes()
        .iter()
        .filter(|c| c.name == class)
        .map(|c| (c.key.clone(), c.count))
        .collect();
    if keys.is_empty() {
        bail!(
            "{}: no class named {class:?}\nhint: `leakhound analyze --classes 0` lists every class",
            heap.file
        );
    }
    let lists = keys
        .into_iter()
        .map(|(key, count)| {
            let instances = explore::instances(heap, &key, 0, args.limit)?;
            Ok(ClassInstances {
                class: class.to_owned(),
                key,
                count,
                instances,
            })
        })
        .collect::<Result<Vec<_>, explore::Error>>()?;
    if args.json {
        return output::json(&lists);
    }
    let mut out = String::new();
    for l in &lists {
        out.push_str(&format!(
            "{} ({}): {} instances, biggest retained size first\n",
            l.class, l.key, l.count
        ));
        for o in &l.instances.items {
            out.push_str(&format!("  {}\n", object_line(o)));
        }
        let rest = l.instances.total - l.instances.items.len();
        if rest > 0 {
            out.push_str(&format!("  … {rest} more (--limit)\n"));
        }
    }
    Ok(out)
}

fn object_line(o: &ObjectRef) -> String {
    format!(
        "{} @{}  self {}, retained {}, distance {}",
        name_of(o),
        o.id,
        fmt::bytes(o.self_size),
        fmt::bytes(o.retained_size),
        analyze::distance(o.distance)
    )
}

fn name_of(o: &ObjectRef) -> String {
    if o.node_type.contains("string") {
        format!("\"{}\"", fmt::truncate(&o.name, 60))
    } else if o.name.is_empty() || o.name == o.class {
        fmt::truncate(&o.class, 60)
    } else {
        format!(
            "{} {}",
            fmt::truncate(&o.class, 40),
            fmt::truncate(&o.name, 60)
        )
    }
}

/// The object view as text.
pub fn render(v: &ObjectView) -> String {
    let o = &v.object;
    let mut out = format!("{} ({})\n", object_line(o), o.node_type);
    if let Some(l) = &v.location {
        let url = l
            .url
            .clone()
            .unwrap_or_else(|| format!("script {}", l.script_id));
        out.push_str(&format!("  defined at {url}:{}:{}\n", l.line, l.column));
    }
    if let Some(s) = &v.value {
        out.push_str(&format!("  value: {:?}\n", fmt::truncate(s, 300)));
    }
    out.push_str(&format!("  path: {}\n", v.readable_path.text));
    let root_path: Vec<String> = v
        .gc_root_path
        .iter()
        .map(|h| format!("{} ({})", h.access, fmt::truncate(&h.class, 40)))
        .collect();
    out.push_str(&format!("  gc root path: {}\n", root_path.join(" → ")));
    out.push_str(&format!(
        "\nEdges ({}, biggest retained size first):\n",
        v.edges.total
    ));
    for e in &v.edges.items {
        out.push_str(&format!(
            "  {}{} → {}\n",
            crate::describe::edge_label(&e.edge_type, &e.name).trim_start(),
            if e.weak { " (weak)" } else { "" },
            object_line(&e.to)
        ));
    }
    more(
        &mut out,
        "  ",
        v.edges.total - v.edges.items.len(),
        "--edges",
    );
    out.push_str(&format!(
        "\nRetainers ({}, DevTools' order):\n",
        v.retainers.total
    ));
    retainer_lines(&mut out, &v.retainers);
    if !v.dominators.is_empty() {
        out.push_str("\nDominators (immediate first):\n");
        for d in &v.dominators {
            out.push_str(&format!("  {}\n", object_line(&d.object)));
        }
    }
    if let Some(frames) = &v.allocation_stack {
        out.push_str("\nAllocated at (innermost first):\n");
        for f in frames {
            let at = match (&f.url, f.line, f.column) {
                (Some(u), Some(l), Some(c)) => format!(" at {}:{l}:{c}", fmt::short_path(u)),
                (Some(u), _, _) => format!(" at {}", fmt::short_path(u)),
                _ => String::new(),
            };
            out.push_str(&format!("  {}{at}\n", f.function));
        }
    }
    out
}

fn more(out: &mut String, indent: &str, rest: usize, flag: &str) {
    if rest > 0 {
        out.push_str(&format!("{indent}… {rest} more ({flag})\n"));
    }
}

/// The retainers tree, indented by level (an explicit stack, no recursion).
fn retainer_lines(out: &mut String, top: &Page<RetainerRow>) {
    enum Item<'a> {
        Row(&'a RetainerRow, usize),
        More(usize, usize),
    }
    fn push_page<'a>(stack: &mut Vec<Item<'a>>, page: &'a Page<RetainerRow>, depth: usize) {
        let rest = page.total - page.items.len() - page.offset.min(page.total);
        stack.push(Item::More(rest, depth));
        for r in page.items.iter().rev() {
            stack.push(Item::Row(r, depth));
        }
    }
    let mut stack = Vec::new();
    push_page(&mut stack, top, 1);
    while let Some(item) = stack.pop() {
        match item {
            Item::More(rest, depth) => {
                more(out, &"  ".repeat(depth), rest, "--retainers-per-level")
            }
            Item::Row(r, depth) => {
                let mut notes = Vec::new();
                if r.weak {
                    notes.push("weak");
                }
                if r.edge_type == "hidden" || r.edge_type == "internal" {
                    notes.push(r.edge_type.as_str());
                }
                if r.cycle {
                    notes.push("cycle");
                }
                let notes = if notes.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", notes.join(", "))
                };
                out.push_str(&format!(
                    "{}{} in {}{notes}\n",
                    "  ".repeat(depth),
                    crate::describe::edge_label(&r.edge_type, &r.name).trim_start(),
                    object_line(&r.from)
                ));
                if let Some(p) = &r.retainers {
                    push_page(&mut stack, p, depth + 1);
                }
            }
        }
    }
}
