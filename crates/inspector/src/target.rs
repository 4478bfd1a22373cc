//! Finding the inspector of a Node process: by WebSocket URL, by port, or by PID.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// How the user named the process to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A `ws://host:port/uuid` debugger URL.
    WebSocket(String),
    /// An inspector HTTP port (on `host`).
    Port { host: String, port: u16 },
    /// A process id.
    Pid(u32),
}

impl std::fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSpec::WebSocket(u) => write!(f, "{u}"),
            TargetSpec::Port { host, port } => write!(f, "{host}:{port}"),
            TargetSpec::Pid(p) => write!(f, "process {p}"),
        }
    }
}

/// Options for resolving a target.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// Allow inspectors on non-loopback addresses.
    pub allow_remote: bool,
    /// For `Pid` targets without an inspector: send SIGUSR1 to open one (after checking it is safe).
    pub activate: bool,
}

/// One entry of the inspector's `/json/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedTarget {
    #[serde(rename = "webSocketDebuggerUrl")]
    pub ws_url: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: String,
}

/// Whether `host` (a name or IP, possibly in brackets) is a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks a `ws://` URL: scheme, host, and loopback unless allowed.
pub fn check_ws_url(ws: &str, allow_remote: bool) -> Result<String> {
    let url = url::Url::parse(ws).map_err(|_| Error::BadUrl(ws.to_owned()))?;
    if url.scheme() != "ws" && url.scheme() != "wss" {
        return Err(Error::BadUrl(ws.to_owned()));
    }
    let host = url.host_str().ok_or_else(|| Error::BadUrl(ws.to_owned()))?;
    if !allow_remote && !is_loopback_host(host) {
        return Err(Error::NotLoopback { url: ws.to_owned() });
    }
    Ok(ws.to_owned())
}

/// Resolves a target to the WebSocket URL of its inspector.
pub async fn resolve(spec: &TargetSpec, opts: ResolveOptions) -> Result<String> {
    match spec {
        TargetSpec::WebSocket(u) => check_ws_url(u, opts.allow_remote),
        TargetSpec::Port { host, port } => {
            if !opts.allow_remote && !is_loopback_host(host) {
                return Err(Error::NotLoopback {
                    url: format!("{host}:{port}"),
                });
            }
            let list = list_targets(host, *port).await?;
            pick(&list, &format!("{host}:{port}"), opts.allow_remote)
        }
        TargetSpec::Pid(pid) => resolve_pid(*pid, opts).await,
    }
}

fn pick(list: &[ListedTarget], target: &str, allow_remote: bool) -> Result<String> {
    let ws = list
        .iter()
        .filter(|t| t.kind.is_empty() || t.kind == "node")
        .find_map(|t| t.ws_url.clone())
        .ok_or_else(|| Error::NoTargets {
            target: target.to_owned(),
        })?;
    check_ws_url(&ws, allow_remote)
}

/// `GET /json/list` on an inspector port.
pub async fn list_targets(host: &str, port: u16) -> Result<Vec<ListedTarget>> {
    list_targets_within(host, port, Duration::from_secs(5)).await
}

async fn list_targets_within(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<ListedTarget>> {
    let target = format!("{host}:{port}");
    let body = http_get(host, port, "/json/list", timeout)
        .await
        .map_err(|message| Error::Discovery {
            target: target.clone(),
            message,
        })?;
    serde_json::from_slice(&body).map_err(|e| Error::Discovery {
        target,
        message: format!("not an inspector: {e}"),
    })
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> std::result::Result<Vec<u8>, String> {
    let connect = async {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        match h.parse::<IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, port)).await,
            Err(_) => TcpStream::connect((h, port)).await,
        }
    };
    let mut stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // Node's inspector does not close the connection: read until the body is complete.
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 16384];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok::<(), String>(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if let Some(length) = length
                    && buf.len() >= split + 4 + length
                {
                    buf.truncate(split + 4 + length);
                    return Ok(());
                }
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| "no answer".to_owned())??;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("not an HTTP response")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    if !status_ok {
        return Err(format!(
            "HTTP answer {:?}",
            head.lines().next().unwrap_or("")
        ));
    }
    let body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(&body));
    }
    Ok(body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || eol + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// Facts about a process read from /proc.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    pub pid: u32,
    pub comm: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    /// Signals with a handler installed (SigCgt mask).
    pub sig_caught: u64,
}

impl ProcessInfo {
    /// Whether node runs under its permission model (`--permission`, or
    /// `--experimental-permission` before Node 23).
    pub fn under_permission_model(&self) -> bool {
        self.cmdline.iter().any(|a| {
            a == "--permission"
                || a == "--experimental-permission"
                || a.starts_with("--permission=")
        })
    }

    pub fn read(pid: u32) -> Result<ProcessInfo> {
        let base = format!("/proc/{pid}");
        let status =
            std::fs::read_to_string(format!("{base}/status")).map_err(|_| Error::Process {
                pid,
                message: "no such process".into(),
            })?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_default()
        };
        let comm = field("Name:");
        let sig_caught = u64::from_str_radix(&field("SigCgt:"), 16).unwrap_or(0);
        let exe = std::fs::read_link(format!("{base}/exe"))
            .ok()
            .map(|p| p.display().to_string());
        let cmdline = std::fs::read(format!("{base}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ProcessInfo {
            pid,
            comm,
            exe,
            cmdline,
            sig_caught,
        })
    }

    /// Whether this is a Node.js process: its executable is named like node
    /// (`node`, `nodejs`, `node20`, `node-20`), or, when the executable
    /// cannot be read, its name is. A prefix is not enough (`node_exporter`
    /// handles SIGUSR1 in its own way), nor is argv[0], which any program
    /// can set.
    pub fn is_node(&self) -> bool {
        match self.exe.as_deref() {
            Some(exe) => is_node_name(exe.strip_suffix(" (deleted)").unwrap_or(exe)),
            None => {
                is_node_name(&self.comm)
                    || (self.comm == "MainThread"
                        && self.cmdline.first().is_some_and(|a| is_node_name(a)))
            }
        }
    }

    /// Whether the process has a SIGUSR1 handler (bit 9 of SigCgt; Node installs one to start its inspector).
    pub fn handles_sigusr1(&self) -> bool {
        self.sig_caught & (1 << (libc::SIGUSR1 - 1)) != 0
    }
}

/// Whether a file name (or path) names a node binary: `node`, `nodejs`,
/// optionally followed by a version (`node20`, `node-20`, `nodejs-v22.1`).
fn is_node_name(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    let Some(rest) = base
        .strip_prefix("nodejs")
        .or_else(|| base.strip_prefix("node"))
    else {
        return false;
    };
    let version = rest
        .strip_prefix('-')
        .unwrap_or(rest)
        .trim_start_matches('v');
    rest.is_empty()
        || (version.starts_with(|c: char| c.is_ascii_digit())
            && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// TCP ports the process listens on (IPv4 and IPv6), from /proc/PID/fd and /proc/net/tcp*.
pub fn listening_ports(pid: u32) -> Result<Vec<(IpAddr, u16)>> {
    Ok(listeners_among(&socket_inodes(pid)?))
}

/// Inodes of the process's sockets, from /proc/PID/fd.
fn socket_inodes(pid: u32) -> Result<HashSet<String>> {
    let fd_dir = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&fd_dir).map_err(|e| Error::Process {
        pid,
        message: if e.kind() == std::io::ErrorKind::PermissionDenied {
            "permission denied reading its sockets (run as the same user or root)".into()
        } else {
            "no such process".into()
        },
    })?;
    let mut inodes = HashSet::new();
    for e in entries.flatten() {
        if let Ok(link) = std::fs::read_link(e.path()) {
            let s = link.to_string_lossy();
            if let Some(inode) = s.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.insert(inode.to_owned());
            }
        }
    }
    Ok(inodes)
}

/// The listening TCP sockets among `inodes`.
fn listeners_among(inodes: &HashSet<String>) -> Vec<(IpAddr, u16)> {
    let mut out = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" || !inodes.contains(cols[9]) {
                continue;
            }
            if let Some(addr) = parse_proc_addr(cols[1], v6) {
                out.push(addr);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether /proc/net shows any of these sockets (in any state or family).
/// Some sandboxes list a process's sockets in /proc/PID/fd but hide them
/// from /proc/net.
fn any_socket_visible(inodes: &HashSet<String>) -> bool {
    let files = [
        ("/proc/net/tcp", 9),
        ("/proc/net/tcp6", 9),
        ("/proc/net/udp", 9),
        ("/proc/net/udp6", 9),
        ("/proc/net/unix", 6),
        ("/proc/net/netlink", 9),
    ];
    files.iter().any(|(file, col)| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                line.split_whitespace()
                    .nth(*col)
                    .is_some_and(|inode| inodes.contains(inode))
            })
        })
    })
}

fn parse_proc_addr(s: &str, v6: bool) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if v6 {
        let raw = u128::from_str_radix(ip, 16).ok()?;
        // /proc prints four little-endian 32-bit words.
        let mut bytes = raw.to_be_bytes();
        for chunk in bytes.chunks_mut(4) {
            chunk.reverse();
        }
        IpAddr::from(bytes)
    } else {
        let raw = u32::from_str_radix(ip, 16).ok()?;
        IpAddr::from(raw.to_le_bytes())
    };
    Some((ip, port))
}

/// Loopback TCP listeners of the whole machine (from /proc/net/tcp*).
fn loopback_listeners() -> Vec<(IpAddr, u16)> {
    let mut out = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 || cols[3] != "0A" {
                continue;
            }
            if let Some((ip, port)) = parse_proc_addr(cols[1], v6)
                && (ip.is_loopback() || ip.is_unspecified())
            {
                out.push((ip, port));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asks an inspector which process it belongs to.
async fn inspector_pid(ws: &str) -> Option<u32> {
    let session = crate::Session::connect(ws).await.ok()?;
    let pid = session
        .evaluate("process.pid", Duration::from_secs(3))
        .await
        .ok()
        .and_then(|v| v.as_u64());
    session.close().await;
    pid.map(|p| p as u32)
}

async fn find_inspector_of(pid: u32, allow_remote: bool) -> Result<Option<String>> {
    // Normally the process's own sockets tell its ports. Where /proc hides
    // them (its fd directory unreadable, or its sockets missing from
    // /proc/net in some sandboxes), probe every loopback listener and ask
    // each inspector for its process id. A process that simply listens on
    // nothing has no inspector: other services are left alone.
    let inodes = socket_inodes(pid).ok();
    let own = inodes.as_ref().map(listeners_among).unwrap_or_default();
    let confirm = own.is_empty()
        && inodes
            .as_ref()
            .is_none_or(|i| !i.is_empty() && !any_socket_visible(i));
    if own.is_empty() && !confirm {
        return Ok(None);
    }
    let candidates = if confirm { loopback_listeners() } else { own };
    for (ip, port) in candidates {
        let host = if ip.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            ip.to_string()
        };
        if !allow_remote && !ip.is_loopback() && !ip.is_unspecified() {
            continue;
        }
        let Ok(list) = list_targets_within(&host, port, Duration::from_millis(1500)).await else {
            continue;
        };
        let Ok(ws) = pick(&list, &format!("{host}:{port}"), allow_remote) else {
            continue;
        };
        if !confirm || inspector_pid(&ws).await == Some(pid) {
            return Ok(Some(ws));
        }
    }
    Ok(None)
}

async fn resolve_pid(pid: u32, opts: ResolveOptions) -> Result<String> {
    let info = ProcessInfo::read(pid)?;
    if let Some(ws) = find_inspector_of(pid, opts.allow_remote).await? {
        return Ok(ws);
    }
    if !opts.activate {
        return Err(Error::Process {
            pid,
            message: format!(
                "{} has no inspector listening\nhint: start it with --inspect=127.0.0.1:0, or pass --activate to send it SIGUSR1",
                info.comm
            ),
        });
    }
    if !info.is_node() {
        return Err(Error::Process {
            pid,
            message: format!(
                "{} is not a Node.js process; refusing to send SIGUSR1 (it could kill it)",
                info.comm
            ),
        });
    }
    if !info.handles_sigusr1() {
        // Node installs no SIGUSR1 handler under its permission model (which
        // also forbids the inspector) or with --disable-sigusr1.
        let why = if info.under_permission_model() {
            "it runs under Node's permission model (--permission), which disables the inspector"
        } else {
            "it was started with --disable-sigusr1, or has not finished starting"
        };
        return Err(Error::Process {
            pid,
            message: format!(
                "has no SIGUSR1 handler: {why}; refusing to send SIGUSR1 (it would kill it)\nhint: start it with --inspect=127.0.0.1:0 to inspect it"
            ),
        });
    }
    // Node opens its inspector on 127.0.0.1:9229 on SIGUSR1: a port another
    // process holds makes that fail (the target says so on its own stderr).
    if std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 9229)),
        Duration::from_millis(300),
    )
    .is_ok()
    {
        return Err(Error::Process {
            pid,
            message: "port 127.0.0.1:9229, where node opens its inspector on SIGUSR1, is taken by another process\nhint: free 9229 (another inspector or service holds it), or start the app with --inspect=127.0.0.1:0".into(),
        });
    }
    // SAFETY: kill(2) with a valid signal number has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) };
    if rc != 0 {
        return Err(Error::Process {
            pid,
            message: format!("cannot send SIGUSR1: {}", std::io::Error::last_os_error()),
        });
    }
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(ws) = find_inspector_of(pid, opts.allow_remote).await? {
            return Ok(ws);
        }
    }
    Err(Error::Process {
        pid,
        message: "sent SIGUSR1 but no inspector appeared within 5 s".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.3.2.1"));
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("example.com"));
        assert!(!is_loopback_host("0.0.0.0"));
    }

    #[test]
    fn ws_urls_are_checked() {
        assert!(check_ws_url("ws://127.0.0.1:9229/abc", false).is_ok());
        assert!(matches!(
            check_ws_url("ws://192.168.1.5:9229/abc", false),
            Err(Error::NotLoopback { .. })
        ));
        assert!(check_ws_url("ws://192.168.1.5:9229/abc", true).is_ok());
        assert!(matches!(
            check_ws_url("http://127.0.0.1:9229", false),
            Err(Error::BadUrl(_))
        ));
    }

    #[test]
    fn proc_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:2405", false),
            Some(("127.0.0.1".parse().unwrap(), 9221))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:1F90", true),
            Some(("::1".parse().unwrap(), 8080))
        );
    }

    #[test]
    fn node_names() {
        for yes in [
            "node",
            "/usr/bin/node",
            "nodejs",
            "node20",
            "node-20",
            "nodejs-v22.1.0",
            "/x/node-v20",
        ] {
            assert!(is_node_name(yes), "{yes}");
        }
        for no in [
            "node_exporter",
            "node-exporter",
            "nodemon",
            "bash",
            "/opt/node/bin/sleep",
            "node-",
            "nodev",
        ] {
            assert!(!is_node_name(no), "{no}");
        }
        let info = |comm: &str, exe: Option<&str>, arg0: &str| ProcessInfo {
            pid: 1,
            comm: comm.into(),
            exe: exe.map(str::to_owned),
            cmdline: vec![arg0.into()],
            sig_caught: 0,
        };
        assert!(info("node", Some("/usr/bin/node"), "node").is_node());
        assert!(info("MainThread", Some("/usr/local/bin/node (deleted)"), "node").is_node());
        assert!(info("node", None, "node").is_node());
        assert!(!info("bash", Some("/usr/bin/bash"), "node").is_node());
        assert!(
            !info(
                "node_exporter",
                Some("/usr/bin/node_exporter"),
                "node_exporter"
            )
            .is_node()
        );
        assert!(!info("node", Some("/usr/bin/python3"), "node").is_node());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
