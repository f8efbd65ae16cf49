//! The registrable domain ("site") of a host, by a simple heuristic.
//!
//! trawl carries no copy of the Public Suffix List. The heuristic:
//!
//! - an IP address (v4 or v6) or a single-label host is its own site;
//! - a host under one of a few well-known shared hosting suffixes
//!   ([`SHARED_SUFFIXES`], e.g. `github.io`, `herokuapp.com`) keeps one label
//!   more than that suffix, so `a.github.io` and `b.github.io` are different
//!   sites;
//! - a host whose last label is a two-letter country code and whose
//!   second-level label is a generic one such as `co`, `com`, `org`, `ac`,
//!   `gov` ([`SECOND_LEVELS`]: `co.uk`, `com.au`, `co.jp`, ...) keeps its last
//!   three labels;
//! - any other host keeps its last two labels.
//!
//! It errs on the side of treating more hosts as one site than the PSL would
//! (e.g. `kawasaki.jp` style suffixes), which only makes the "another site"
//! indicators quieter, never noisier.

/// Second-level labels that, under a two-letter country code, form a public
/// suffix (`co.uk`, `com.au`, `ne.jp`, `gob.mx`, ...).
const SECOND_LEVELS: &[&str] = &[
    "ac", "co", "com", "edu", "gob", "gov", "go", "gv", "lg", "ltd", "me", "mil", "ne", "net",
    "nic", "nom", "or", "org", "plc", "sch",
];

/// Shared hosting suffixes whose subdomains belong to different owners.
pub(crate) const SHARED_SUFFIXES: &[&str] = &[
    "github.io",
    "gitlab.io",
    "herokuapp.com",
    "blogspot.com",
    "netlify.app",
    "vercel.app",
    "pages.dev",
    "workers.dev",
    "web.app",
    "firebaseapp.com",
    "appspot.com",
    "azurewebsites.net",
    "cloudfront.net",
    "s3.amazonaws.com",
    "wordpress.com",
    "000webhostapp.com",
    "glitch.me",
    "repl.co",
    "weebly.com",
    "wixsite.com",
];

/// The registrable domain of `host` (lower-cased, without a trailing dot).
pub(crate) fn registrable(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    for suffix in SHARED_SUFFIXES {
        if let Some(prefix) = host.strip_suffix(suffix)
            && let Some(prefix) = prefix.strip_suffix('.')
        {
            let owner = prefix.rsplit('.').next().unwrap_or(prefix);
            return format!("{owner}.{suffix}");
        }
    }
    if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVELS.contains(&labels[n - 2]) {
        return labels[n - 3..].join(".");
    }
    if n >= 2 {
        labels[n - 2..].join(".")
    } else {
        host
    }
}

/// The registrable domain of a URL's host, if it has one.
pub(crate) fn site_of(url: &url::Url) -> Option<String> {
    url.host_str().map(registrable)
}

/// Whether `host` is `domain` or a subdomain of it.
pub(crate) fn host_within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case(domain)
        || (host.len() > domain.len()
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.as_bytes()[host.len() - domain.len()..].eq_ignore_ascii_case(domain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.example.com"), "example.com");
        assert_eq!(registrable("a.b.example.com."), "example.com");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("shop.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("www.example.com.au"), "example.com.au");
        assert_eq!(registrable("example.co.jp"), "example.co.jp");
        assert_eq!(registrable("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(registrable("www.example.de"), "example.de");
        assert_eq!(registrable("evil.github.io"), "evil.github.io");
        assert_eq!(registrable("x.evil.github.io"), "evil.github.io");
        assert_eq!(registrable("127.0.0.1"), "127.0.0.1");
        assert_eq!(registrable("[::1]"), "[::1]");
        assert_eq!(registrable("localhost"), "localhost");
        assert_eq!(registrable("WWW.Example.COM"), "example.com");
    }

    #[test]
    fn within() {
        assert!(host_within("ws.coinhive.com", "coinhive.com"));
        assert!(host_within("coinhive.com", "coinhive.com"));
        assert!(!host_within("notcoinhive.com", "coinhive.com"));
        assert!(!host_within("com", "coinhive.com"));
    }
}
