//! A webhook URL: scheme, host, port and the request target, and the
//! redacted form every log line and error shows.

/// `http://` or `https://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A parsed webhook URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// Host name or IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// What the `Host` header says (`host` or `host:port`, IPv6 in brackets).
    pub host_header: String,
    /// Origin-form request target: path and query.
    pub target: String,
    /// `scheme://host[:port]/…`: paths and queries often hold secrets
    /// (Slack's webhook path is its token), user info always does.
    pub redacted: String,
}

impl Endpoint {
    /// Parses an `http://` or `https://` URL; the error names only the
    /// redacted URL.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let shown = redact(url);
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else {
            return Err(format!(
                "{shown}: only http:// and https:// URLs are supported"
            ));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(hostport).ok_or_else(|| format!("{shown}: bad host"))?;
        if host.is_empty() {
            return Err(format!("{shown}: no host"));
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{shown}: bad port {p:?}"))?,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let target = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        if target.parse::<hyper::Uri>().is_err() {
            return Err(format!("{shown}: the path is not a valid URL path"));
        }
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let host_header = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        Ok(Endpoint {
            scheme,
            host: host.to_owned(),
            port,
            host_header,
            target,
            redacted: shown,
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((s, None)),
    }
}

/// A URL as logs may show it: `scheme://host[:port]/…` (user info, path and
/// query dropped; `/…` only when there was something to hide). Text that is
/// not a URL shows only up to its first `:`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        let head: String = url.chars().take_while(|&c| c != ':' && c != '/').collect();
        return if head.len() == url.len() {
            head
        } else {
            format!("{head}…")
        };
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hidden = if tail.is_empty() || tail == "/" {
        "/"
    } else {
        "/…"
    };
    format!("{}://{host}{hidden}", scheme.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_paths_queries_and_user_info() {
        let cases = [
            (
                "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
                "https://hooks.slack.com/…",
            ),
            (
                "https://events.pagerduty.com/v2/enqueue",
                "https://events.pagerduty.com/…",
            ),
            (
                "http://user:pa55@127.0.0.1:9093/api/v2/alerts",
                "http://127.0.0.1:9093/…",
            ),
            ("https://h.example?token=abc", "https://h.example/…"),
            ("https://h.example/", "https://h.example/"),
            ("https://h.example", "https://h.example/"),
            ("HTTPS://[::1]:8443/x", "https://[::1]:8443/…"),
            ("ftp://files.example/secret", "ftp://files.example/…"),
            ("hooks.slack.com/services/T/B/X", "hooks.slack.com…"),
            ("mailto:ops@example.com", "mailto…"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn parses_hosts_ports_and_targets() {
        let e = Endpoint::parse("https://hooks.slack.com/services/T/B/X").unwrap();
        assert_eq!(e.scheme, Scheme::Https);
        assert_eq!((e.host.as_str(), e.port), ("hooks.slack.com", 443));
        assert_eq!(e.host_header, "hooks.slack.com");
        assert_eq!(e.target, "/services/T/B/X");
        let e = Endpoint::parse("http://u:p@127.0.0.1:9093/api/v2/alerts?x=1#frag").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9093));
        assert_eq!(e.host_header, "127.0.0.1:9093");
        assert_eq!(e.target, "/api/v2/alerts?x=1");
        let e = Endpoint::parse("https://[::1]:8443").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 8443));
        assert_eq!(e.host_header, "[::1]:8443");
        assert_eq!(e.target, "/");
        for bad in [
            "ftp://x/y",
            "hooks.example/x",
            "https:///path",
            "https://h:99999/",
            "https://h:x/",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(!err.contains("/y") && !err.contains("/path"), "{err}");
        }
        let err = Endpoint::parse("ftp://x/secret").unwrap_err();
        assert_eq!(
            err,
            "ftp://x/…: only http:// and https:// URLs are supported"
        );
    }
}
