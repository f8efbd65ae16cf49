//! Fetching a hostile URL: names resolved here and every address checked by
//! the guard before reqwest may connect (reqwest only ever sees addresses we
//! pinned, so DNS rebinding has no gap), redirects followed one hop at a time,
//! a total deadline, a per-read timeout, and a cap on decompressed bytes that
//! is enforced while streaming (so compression bombs stop at the cap).

use crate::config::Limits;
use crate::error_text;
use crate::guard::{Guard, Refused};
use crate::record::{Redirect, TlsInfo, timestamp};
use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder};
use futures::TryStreamExt;
use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, BufReader};
use tokio::time::{Instant, timeout_at};
use url::{Host, Url};

/// What a fetch produced. `incomplete` says why the body stops early (cap,
/// deadline, reset): the part received is still kept and analysed.
#[derive(Debug)]
pub struct Fetched {
    pub final_url: Url,
    pub status: u16,
    /// Every response on the way, the final one last.
    pub redirects: Vec<Redirect>,
    pub tls: Option<TlsInfo>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub incomplete: Option<String>,
}

#[derive(Debug)]
pub enum FetchError {
    /// Refused by the safety guard: no packet went to the address.
    Blocked {
        reason: String,
        redirects: Vec<Redirect>,
    },
    Failed {
        reason: String,
        redirects: Vec<Redirect>,
    },
}

impl FetchError {
    pub fn reason(&self) -> &str {
        match self {
            FetchError::Blocked { reason, .. } | FetchError::Failed { reason, .. } => reason,
        }
    }
}

/// The system resolver (resolv.conf and hosts file), built on first use: the
/// worker's image is `FROM scratch`, so names are resolved in-process rather
/// than through libc.
#[derive(Clone, Default)]
pub struct Dns {
    resolver: Arc<OnceLock<Result<TokioResolver, String>>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns(system)")
    }
}

impl Dns {
    fn resolver(&self) -> Result<&TokioResolver, String> {
        self.resolver
            .get_or_init(|| {
                TokioResolver::builder_tokio()
                    .and_then(|b| b.build())
                    .map_err(|e| format!("cannot set up DNS from /etc/resolv.conf: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = self
            .resolver()?
            .lookup_ip(host)
            .await
            .map_err(|e| format!("{host} did not resolve: {e}"))?;
        let addrs: Vec<IpAddr> = lookup.iter().collect();
        if addrs.is_empty() {
            return Err(format!("{host} did not resolve to any address"));
        }
        Ok(addrs)
    }
}

/// reqwest's resolver for the worker's own calls (check-IP, task metadata):
/// not guarded, but resolved in-process like everything else.
impl Resolve for Dns {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.clone();
        Box::pin(async move {
            let addrs = dns.lookup(name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// reqwest's resolver for the scraped site: answers only with addresses the
/// guard already passed for that host, so nothing unchecked is connected to.
#[derive(Default)]
struct PinnedResolver {
    pinned: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl PinnedResolver {
    fn pin(&self, host: &str, addrs: Vec<IpAddr>) {
        self.pinned
            .lock()
            .expect("pinned map poisoned")
            .insert(host.to_ascii_lowercase(), addrs);
    }
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self
            .pinned
            .lock()
            .expect("pinned map poisoned")
            .get(&name.as_str().to_ascii_lowercase())
            .cloned();
        Box::pin(async move {
            let addrs = found.ok_or("host was not checked by the safety guard")?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// TLS client settings: Mozilla's roots carried in the binary (the image has
/// no CA store) plus an optional extra CA, with the aws-lc-rs provider.
pub fn tls_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "CA file {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A plain client for the worker's own small calls (check-IP, metadata).
pub fn service_client(
    dns: &Dns,
    tls: rustls::ClientConfig,
    timeout: std::time::Duration,
) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .dns_resolver(Arc::new(dns.clone()))
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("static reqwest settings are valid")
}

pub struct Fetcher {
    client: reqwest::Client,
    pinned: Arc<PinnedResolver>,
    dns: Dns,
    guard: Guard,
    limits: Limits,
}

const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

impl Fetcher {
    pub fn new(guard: Guard, limits: Limits, dns: Dns, tls: rustls::ClientConfig) -> Self {
        let pinned = Arc::new(PinnedResolver::default());
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .tls_info(true)
            .dns_resolver(pinned.clone())
            // Proxies from the environment would bypass the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .read_timeout(limits.read_timeout)
            .connect_timeout(limits.read_timeout)
            .http1_max_headers(200)
            .user_agent(limits.user_agent.clone())
            .build()
            .expect("static reqwest settings are valid");
        Fetcher {
            client,
            pinned,
            dns,
            guard,
            limits,
        }
    }

    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let deadline = Instant::now() + self.limits.timeout;
        let mut redirects = Vec::new();
        let failed = |reason: String, redirects: &mut Vec<Redirect>| FetchError::Failed {
            reason,
            redirects: std::mem::take(redirects),
        };
        let mut current = Url::parse(url).map_err(|e| {
            failed(
                format!("not a valid URL ({e}): {}", short(url)),
                &mut redirects,
            )
        })?;
        if !matches!(current.scheme(), "http" | "https") {
            return Err(failed(
                format!(
                    "only http and https URLs are fetched, not {}:",
                    current.scheme()
                ),
                &mut redirects,
            ));
        }
        let mut seen = HashSet::new();
        loop {
            seen.insert(current.to_string());
            self.check_and_pin(&current, deadline)
                .await
                .map_err(|e| e.with_redirects(std::mem::take(&mut redirects)))?;

            let request = self
                .client
                .get(current.clone())
                .header(reqwest::header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")
                .header(
                    reqwest::header::ACCEPT,
                    "text/html,application/xhtml+xml,*/*;q=0.8",
                );
            let response = match timeout_at(deadline, request.send()).await {
                Err(_) => return Err(failed(self.deadline_message("no response"), &mut redirects)),
                Ok(Err(e)) => {
                    return Err(failed(describe_request_error(&current, &e), &mut redirects));
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status().as_u16();
            redirects.push(Redirect {
                url: current.to_string(),
                status,
                remote_addr: response.remote_addr().map(|a| a.to_string()),
            });

            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if let (true, Some(location)) = (REDIRECT_STATUSES.contains(&status), location) {
                let next = current.join(location).map_err(|e| {
                    failed(
                        format!("redirect to an invalid URL {:?}: {e}", short(location)),
                        &mut redirects,
                    )
                })?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::Blocked {
                        reason: format!(
                            "redirect to a {}: URL refused: {}",
                            next.scheme(),
                            short(next.as_str())
                        ),
                        redirects,
                    });
                }
                if seen.contains(next.as_str()) {
                    return Err(failed(
                        format!("redirect loop: {} was visited before", short(next.as_str())),
                        &mut redirects,
                    ));
                }
                if redirects.len() > self.limits.max_redirects as usize {
                    return Err(failed(
                        format!(
                            "more than {} redirects (TRAWL_MAX_REDIRECTS); last to {}",
                            self.limits.max_redirects,
                            short(next.as_str())
                        ),
                        &mut redirects,
                    ));
                }
                current = next;
                continue;
            }
            return Ok(self
                .read_response(current, response, redirects, deadline)
                .await);
        }
    }

    /// Resolves the URL's host, refuses it if the guard says so, and pins the
    /// allowed addresses for reqwest.
    async fn check_and_pin(&self, url: &Url, deadline: Instant) -> Result<(), FetchError> {
        let blocked = |r: Refused| FetchError::Blocked {
            reason: r.to_string(),
            redirects: Vec::new(),
        };
        match url.host() {
            Some(Host::Ipv4(ip)) => self.guard.check(IpAddr::V4(ip)).map_err(blocked),
            Some(Host::Ipv6(ip)) => self.guard.check(IpAddr::V6(ip)).map_err(blocked),
            Some(Host::Domain(name)) => {
                let addrs = match timeout_at(deadline, self.dns.lookup(name)).await {
                    Err(_) => Err(self.deadline_message(&format!("{name} did not resolve"))),
                    Ok(r) => r,
                }
                .map_err(|reason| FetchError::Failed {
                    reason,
                    redirects: Vec::new(),
                })?;
                let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) =
                    addrs.iter().partition(|ip| self.guard.check(**ip).is_ok());
                if allowed.is_empty() {
                    let first = self.guard.check(refused[0]).unwrap_err();
                    return Err(FetchError::Blocked {
                        reason: format!("{name} resolves to {}: {first}", join_ips(&refused)),
                        redirects: Vec::new(),
                    });
                }
                if !refused.is_empty() {
                    tracing::warn!(host = name, refused = %join_ips(&refused), "some addresses of the host are refused; using the others");
                }
                self.pinned.pin(name, allowed);
                Ok(())
            }
            None => Err(FetchError::Failed {
                reason: format!("URL has no host: {}", short(url.as_str())),
                redirects: Vec::new(),
            }),
        }
    }

    async fn read_response(
        &self,
        final_url: Url,
        response: reqwest::Response,
        redirects: Vec<Redirect>,
        deadline: Instant,
    ) -> Fetched {
        let status = response.status().as_u16();
        let tls = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(certificate_info);
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let encoding = header(reqwest::header::CONTENT_ENCODING)
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let expected = response.content_length();
        let raw = BufReader::new(tokio_util::io::StreamReader::new(
            response.bytes_stream().map_err(std::io::Error::other),
        ));
        let mut incomplete = None;
        let decoded: Box<dyn AsyncRead + Unpin + Send> = match encoding.as_str() {
            "" | "identity" => Box::new(raw),
            "gzip" | "x-gzip" => Box::new(multi(GzipDecoder::new(raw))),
            "deflate" => Box::new(ZlibDecoder::new(raw)),
            "br" => Box::new(BrotliDecoder::new(raw)),
            "zstd" => Box::new(ZstdDecoder::new(raw)),
            other => {
                incomplete = Some(format!(
                    "unsupported Content-Encoding {:?}: body kept as received",
                    short(other)
                ));
                Box::new(raw)
            }
        };
        let (body, cut) = self.read_capped(decoded, expected, deadline).await;
        Fetched {
            final_url,
            status,
            redirects,
            tls,
            content_type,
            body,
            incomplete: cut.or(incomplete),
        }
    }

    /// Reads at most `max_bytes` of (decoded) body before the deadline.
    async fn read_capped(
        &self,
        mut reader: impl AsyncRead + Unpin,
        expected: Option<u64>,
        deadline: Instant,
    ) -> (Vec<u8>, Option<String>) {
        let max = self.limits.max_bytes as usize;
        let mut body: Vec<u8> = Vec::with_capacity(expected.unwrap_or(0).min(max as u64) as usize);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match timeout_at(deadline, reader.read(&mut chunk)).await {
                Err(_) => {
                    let what = format!("body not complete after {} bytes", body.len());
                    return (body, Some(self.deadline_message(&what)));
                }
                Ok(Err(e)) => {
                    let why = format!(
                        "body cut off after {} bytes: {}",
                        body.len(),
                        describe_body_error(&e)
                    );
                    return (body, Some(why));
                }
                Ok(Ok(0)) => return (body, None),
                Ok(Ok(n)) => n,
            };
            let room = max - body.len();
            if n > room {
                // Grow to the cap exactly, never past it.
                body.reserve_exact(room);
                body.extend_from_slice(&chunk[..room]);
                return (
                    body,
                    Some(format!(
                        "body larger than the limit of {max} bytes (TRAWL_MAX_BYTES, after decompression): the first {max} bytes are kept"
                    )),
                );
            }
            if body.capacity() - body.len() < n {
                // Double, but never past the cap (a 10 MiB page must not cost 16 MiB).
                let want = body.len().max(256 * 1024).min(max - body.len());
                body.reserve_exact(want.max(n));
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }

    fn deadline_message(&self, what: &str) -> String {
        format!(
            "{what} within the deadline of {} s (TRAWL_TIMEOUT_SECS)",
            self.limits.timeout.as_secs()
        )
    }
}

impl FetchError {
    fn with_redirects(self, redirects: Vec<Redirect>) -> Self {
        match self {
            FetchError::Blocked { reason, .. } => FetchError::Blocked { reason, redirects },
            FetchError::Failed { reason, .. } => FetchError::Failed { reason, redirects },
        }
    }
}

/// Gzip bodies may hold several members; decode them all.
fn multi<R: AsyncBufRead>(mut d: GzipDecoder<R>) -> GzipDecoder<R> {
    d.multiple_members(true);
    d
}

fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// URLs and header values from a hostile site are shortened before they go
/// into messages.
fn short(s: &str) -> String {
    crate::record::truncate_chars(s, 200)
}

fn describe_request_error(url: &Url, e: &reqwest::Error) -> String {
    let chain = error_text::chain(e);
    let all = chain.join(": ").to_lowercase();
    // reqwest's and hyper's wrappers ("error sending request for url ...",
    // "client error (Connect)") say nothing a person can act on: keep the
    // root cause.
    let cause = chain.last().map(String::as_str).unwrap_or("unknown error");
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(0);
    if all.contains("message head is too large") || all.contains("too many headers") {
        return format!("response headers from {host} are too large: refused");
    }
    let tls_words = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "alert",
        "peer ",
    ];
    if url.scheme() == "https" && tls_words.iter().any(|w| all.contains(w)) {
        return format!("TLS handshake with {host} failed: {cause}");
    }
    if e.is_connect() {
        return format!("cannot connect to {host} port {port}: {cause}");
    }
    if e.is_timeout() {
        return format!(
            "{host} did not answer within the read timeout (TRAWL_READ_TIMEOUT_SECS): {cause}"
        );
    }
    format!("request to {host} failed: {cause}")
}

fn describe_body_error(e: &std::io::Error) -> String {
    let text = error_text::full(e);
    let lower = text.to_lowercase();
    if lower.contains("reset") {
        "connection reset by the server".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "no data within the read timeout (TRAWL_READ_TIMEOUT_SECS)".into()
    } else if lower.contains("invalid") || lower.contains("corrupt") || lower.contains("deflate") {
        format!("corrupt compressed body: {text}")
    } else {
        text
    }
}

/// Subject, issuer and validity of the peer's leaf certificate.
fn certificate_info(der: &[u8]) -> Option<TlsInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    Some(TlsInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: timestamp(validity.not_before.to_datetime()),
        not_after: timestamp(validity.not_after.to_datetime()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_literals_are_checked_before_any_connection() {
        let fetcher = Fetcher::new(
            Guard::default(),
            Limits::default(),
            Dns::default(),
            tls_config(None).unwrap(),
        );
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
        ] {
            match fetcher.fetch(url).await {
                Err(FetchError::Blocked { reason, .. }) => {
                    assert!(reason.starts_with("refused to connect to"), "{reason}")
                }
                other => panic!("{url}: expected BLOCKED, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn non_http_schemes_fail_clearly() {
        let fetcher = Fetcher::new(
            Guard::default(),
            Limits::default(),
            Dns::default(),
            tls_config(None).unwrap(),
        );
        let err = fetcher.fetch("file:///etc/passwd").await.unwrap_err();
        assert_eq!(
            err.reason(),
            "only http and https URLs are fetched, not file:"
        );
        let err = fetcher.fetch("not a url").await.unwrap_err();
        assert!(
            err.reason().starts_with("not a valid URL"),
            "{}",
            err.reason()
        );
    }
}
