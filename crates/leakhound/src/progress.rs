//! Progress bars on a terminal, nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars are drawn only when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn bytes(&self, total: u64, msg: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:30} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(msg.to_owned());
        bar
    }

    /// A bar counting things (`objects`, `requests`), not bytes.
    pub fn count(&self, total: u64, msg: &str, unit: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(count_style(unit));
        bar.set_message(msg.to_owned());
        bar
    }

    pub fn spinner(&self, msg: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar.set_message(msg.to_owned());
        bar
    }
}

fn count_style(unit: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{msg:30}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{eta}})"
    ))
    .expect("valid template")
    .progress_chars("=> ")
}

/// Bytes received so far, with no total known in advance (a snapshot
/// being written: V8 does not say how big it will be).
pub fn receiving_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg:30} {bytes} received ({bytes_per_sec})")
        .expect("valid template")
}

/// With `LEAKHOUND_TIMINGS=1`, one stderr line per finished phase: its wall
/// time, the CPU time of the whole process in it (all threads: above the
/// wall time when both cores worked; steadier than wall time on a loaded
/// machine), the resident set now and its peak so far (for `bench/`).
pub struct Timings {
    enabled: bool,
    last: std::time::Instant,
    last_cpu: f64,
}

impl Timings {
    pub fn start() -> Timings {
        Timings {
            enabled: std::env::var_os("LEAKHOUND_TIMINGS").is_some_and(|v| v != "0"),
            last: std::time::Instant::now(),
            last_cpu: cpu_seconds(),
        }
    }

    /// Ends the current phase, named `label`.
    pub fn lap(&mut self, label: &str) {
        if !self.enabled {
            return;
        }
        let now = std::time::Instant::now();
        let cpu = cpu_seconds();
        let (rss, peak) = resident_mib();
        eprintln!(
            "timing {label:<36} {:>8.3} s  cpu {:>7.3} s  rss {rss:>6} MiB  peak {peak:>6} MiB",
            (now - self.last).as_secs_f64(),
            cpu - self.last_cpu
        );
        self.last = now;
        self.last_cpu = cpu;
    }
}

/// User and system CPU time of this process so far, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// VmRSS and VmHWM of this process in MiB (0 where /proc is unavailable).
fn resident_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
