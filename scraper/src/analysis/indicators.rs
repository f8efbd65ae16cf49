//! Built-in indicators: HTML structure (hidden iframes, redirects, offsite
//! password forms, external scripts) and JavaScript text (decode-and-run
//! chains, base64 blobs, obfuscator.io output, known in-browser miners).
//!
//! All matching is done with the `regex` crate (finite automata, linear in
//! the input) over raw bytes, and by the tag scanner in [`super::html`]; no
//! script is ever run.

use super::domain::{host_within, registrable, site_of};
use super::html::{self, Doc, attr_text, starts_with_ci, trim};
use crate::record::{Finding, Severity};
use regex::bytes::Regex;
use std::borrow::Cow;
use url::Url;

/// A string literal or `data:` URI holding at least this many base64
/// characters is a blob.
pub(crate) const BLOB_MIN: usize = 1024;
/// `_0x1a2b` identifiers that make a script look obfuscator.io-made on their own.
const OBF_IDS_ALONE: usize = 40;
/// ... or together with a string-array rotation pattern.
const OBF_IDS_WITH_PATTERN: usize = 5;

/// Hosts of publicly reported in-browser cryptocurrency miner services
/// (script sources on these hosts, or their names in script code).
const MINER_HOSTS: &[&str] = &[
    "coinhive.com",
    "coin-hive.com",
    "authedmine.com",
    "crypto-loot.com",
    "cryptoloot.pro",
    "cryptaloot.pro",
    "coinimp.com",
    "hostingcloud.racing",
    "webminepool.com",
    "minero.cc",
    "jsecoin.com",
    "ppoi.org",
    "coinhave.com",
    "coin-have.com",
    "minemytraffic.com",
    "webmine.cz",
    "monerominer.rocks",
    "coinerra.com",
];

/// Hidden iframes to these sites are the documented snippets of common tag
/// managers and ad/analytics services (e.g. Google Tag Manager's
/// `<noscript>` iframe), not injections.
const HIDDEN_IFRAME_ALLOWED: &[&str] = &[
    "googletagmanager.com",
    "google.com",
    "doubleclick.net",
    "facebook.com",
    "youtube.com",
];

/// Compiled patterns, built once per [`super::Analyzer`].
pub(crate) struct Indicators {
    eval_chain: Regex,
    decode_literal: Regex,
    eval_variable: Regex,
    obf_ident: Regex,
    obf_pattern: Regex,
    redirect: Regex,
    miner: Regex,
}

/// What kind of document the body is, from its content type and URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Html,
    Script,
    /// Images, fonts, media, archives: only the YARA rules look at it.
    Opaque,
}

pub(crate) fn kind_of(url: &Url, content_type: Option<&str>) -> Kind {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let js_path = {
        let p = url.path().to_ascii_lowercase();
        p.ends_with(".js") || p.ends_with(".mjs")
    };
    match mime.as_str() {
        "application/javascript"
        | "text/javascript"
        | "application/x-javascript"
        | "application/ecmascript"
        | "text/ecmascript"
        | "text/jscript" => Kind::Script,
        "" | "text/plain" | "application/octet-stream" if js_path => Kind::Script,
        "image/svg+xml" => Kind::Html,
        m if m.starts_with("image/")
            || m.starts_with("font/")
            || m.starts_with("audio/")
            || m.starts_with("video/")
            || m == "application/pdf"
            || m == "application/zip"
            || m == "application/gzip"
            || m == "application/wasm"
            || m == "application/octet-stream" =>
        {
            Kind::Opaque
        }
        _ => Kind::Html,
    }
}

/// The page being judged and how to resolve its links.
pub(crate) struct Ctx {
    /// Registrable domain of the page, if its URL has a host.
    pub site: Option<String>,
    /// Where relative links point: `<base href>` or the page itself.
    pub base: Url,
}

impl Ctx {
    fn resolve(&self, raw: &[u8]) -> Option<Url> {
        // Long URLs (data: URIs) are cut: the scheme and host are at the start.
        let s = attr_text(&raw[..raw.len().min(4096)]);
        if s.is_empty() {
            return None;
        }
        self.base.join(&s).ok()
    }

    /// Whether `u` is http(s) on another registrable domain than the page.
    fn offsite(&self, u: &Url) -> bool {
        if !matches!(u.scheme(), "http" | "https") {
            return false;
        }
        match (u.host_str(), &self.site) {
            (Some(h), Some(site)) => registrable(h) != *site,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

impl Indicators {
    pub(crate) fn new() -> Self {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("built-in pattern {p}: {e}"));
        // A decoder whose output goes straight into a sink that runs or
        // writes it: eval(atob(...)), new Function(atob(...)),
        // document.write(unescape("%3C%73...")), the p,a,c,k,e,d packer,
        // eval("\x..") ...
        let win = r"(?:(?:window|self|globalThis|this)\s*\.\s*)?";
        let eval_chain = format!(
            r"(?-u)(?-u:\b)(?:(?:eval|execScript|(?:new\s+)?Function|set(?:Timeout|Interval)|document\s*\.\s*write(?:ln)?)\s*\(\s*{win}(?:atob|decodeURIComponent|String\s*\.\s*fromCharCode)\s*\(|(?:eval|execScript|(?:new\s+)?Function|set(?:Timeout|Interval))\s*\(\s*{win}unescape\s*\(|document\s*\.\s*write(?:ln)?\s*\(\s*{win}unescape\s*\(\s*(?:[\x22'](?:%(?:u[0-9A-Fa-f]{{4}}|[0-9A-Fa-f]{{2}})){{4}}|[A-Za-z_$])|eval\s*\(\s*function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,\s*[dr]\s*\)|eval\s*\(\s*[\x22'](?:\\x[0-9A-Fa-f]{{2}}){{8}})"
        );
        Indicators {
            eval_chain: re(&eval_chain),
            // A long encoded literal decoded into a variable ...
            decode_literal: re(
                r"(?-u)(?-u:\b)(?:atob|unescape|decodeURIComponent)\s*\(\s*[\x22'][A-Za-z0-9+/=%]{64}",
            ),
            // ... and a variable run as code in the same page.
            eval_variable: re(r"(?-u)(?-u:\b)(?:eval|new\s+Function)\s*\(\s*[A-Za-z_$][\w$]*\s*\)"),
            obf_ident: re(r"(?-u)(?-u:\b)_0x[0-9a-f]{4,6}(?-u:\b)"),
            // obfuscator.io's string array rotation: while(!![]) and
            // arr['push'](arr['shift']()).
            obf_pattern: re(
                r#"(?-u)while\s*\(\s*!!\s*\[\s*\]\s*\)|\[\s*['"]push['"]\s*\]\s*\(\s*[\w$]+\s*\[\s*['"]shift['"]\s*\]\s*\(\s*\)\s*\)"#,
            ),
            redirect: re(
                r#"(?-u)(?-u:\b)location(?:\s*\.\s*href)?\s*=\s*["'`]([^"'`\s]{1,2048})|(?-u:\b)location\s*\.\s*(?:replace|assign)\s*\(\s*["'`]([^"'`\s]{1,2048})"#,
            ),
            miner: re(
                r"(?-u)CoinHive\s*\.\s*(?:Anonymous|User|Token)|(?:CRLT|CryptoLoot)\s*\.\s*Anonymous|deepMiner\s*\.\s*(?:Anonymous|Init)|new\s+Client\s*\.\s*Anonymous\s*\(|coinhive\.min\.js|cryptonight(?:\.wasm|\.asm\.js)|(?i:coin-?hive\.com|authedmine\.com|crypto-?loot\.(?:com|pro)|coinimp\.com|hostingcloud\.racing|webminepool\.com|minero\.cc)",
            ),
        }
    }

    /// Runs every built-in indicator and appends at most one finding per id.
    pub(crate) fn run(&self, page: &Url, kind: Kind, body: &[u8], out: &mut Vec<Finding>) {
        let doc = match kind {
            Kind::Html => html::scan(body),
            Kind::Script | Kind::Opaque => Doc::default(),
        };
        let base = doc
            .base_href
            .and_then(|b| page.join(&attr_text(b)).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| page.clone());
        let ctx = &Ctx {
            site: site_of(page),
            base,
        };
        let (js, automatic): (Cow<'_, [u8]>, usize) = match kind {
            Kind::Script => (Cow::Borrowed(body), body.len()),
            Kind::Opaque => (Cow::Borrowed(&[]), 0),
            Kind::Html => {
                let (js, automatic) = join_scripts(&doc);
                (Cow::Owned(js), automatic)
            }
        };
        out.extend(hidden_iframes(ctx, &doc));
        out.extend(self.eval_chain(&js));
        if kind != Kind::Opaque {
            out.extend(base64_blobs(body, &js, kind == Kind::Script));
        }
        out.extend(self.obfuscator(&js));
        out.extend(meta_refresh(ctx, &doc));
        // A redirect in a click handler is a link, not a redirect.
        out.extend(self.script_redirect(ctx, &js[..automatic]));
        out.extend(password_offsite(ctx, &doc));
        out.extend(self.miner(ctx, &doc, &js));
        out.extend(external_scripts(ctx, &doc));
    }

    fn eval_chain(&self, js: &[u8]) -> Option<Finding> {
        let mut first: Option<&[u8]> = None;
        let mut n = 0usize;
        for m in self.eval_chain.find_iter(js) {
            first.get_or_insert(m.as_bytes());
            n += 1;
        }
        if let Some(first) = first {
            return Some(Finding::new(
                "js.eval-chain",
                Severity::High,
                format!(
                    "{n} decode-and-run chain{}, first: {}",
                    plural(n),
                    snippet(first, 80)
                ),
            ));
        }
        let decode = self.decode_literal.find(js)?;
        let sink = self.eval_variable.find(js)?;
        Some(Finding::new(
            "js.eval-chain",
            Severity::High,
            format!(
                "long encoded literal decoded ({}...) and run via {}",
                snippet(decode.as_bytes(), 40),
                snippet(sink.as_bytes(), 40)
            ),
        ))
    }

    fn obfuscator(&self, js: &[u8]) -> Option<Finding> {
        // Counting stops once the verdict cannot change.
        let ids = self.obf_ident.find_iter(js).take(100_000).count();
        if ids < OBF_IDS_WITH_PATTERN {
            return None;
        }
        let pattern = self.obf_pattern.find(js);
        if ids < OBF_IDS_ALONE && pattern.is_none() {
            return None;
        }
        let mut detail = format!("{ids} _0x-style identifiers");
        if let Some(p) = pattern {
            detail.push_str(&format!(
                ", string-array rotation: {}",
                snippet(p.as_bytes(), 60)
            ));
        }
        Some(Finding::new("js.obfuscator", Severity::Medium, detail))
    }

    fn script_redirect(&self, ctx: &Ctx, js: &[u8]) -> Option<Finding> {
        let mut n = 0usize;
        let mut first = None;
        for caps in self.redirect.captures_iter(js).take(10_000) {
            let Some(target) = caps.get(1).or_else(|| caps.get(2)) else {
                continue;
            };
            let t = target.as_bytes();
            // Only literal absolute or scheme-relative URLs name a target.
            if !(starts_with_ci(t, b"http:")
                || starts_with_ci(t, b"https:")
                || t.starts_with(b"//"))
            {
                continue;
            }
            if let Some(u) = ctx.resolve(t)
                && ctx.offsite(&u)
            {
                n += 1;
                first.get_or_insert(u);
            }
        }
        let first = first?;
        Some(Finding::new(
            "redirect.script",
            Severity::Medium,
            format!(
                "{n} script redirect{} to another site, first: {}",
                plural(n),
                short_url(&first)
            ),
        ))
    }

    fn miner(&self, ctx: &Ctx, doc: &Doc<'_>, js: &[u8]) -> Option<Finding> {
        let mut hits: Vec<String> = Vec::new();
        for s in &doc.scripts {
            if let Some(u) = s.src.and_then(|src| ctx.resolve(src))
                && let Some(h) = u.host_str()
                && MINER_HOSTS.iter().any(|m| host_within(h, m))
            {
                hits.push(format!("script src={}", short_url(&u)));
            }
        }
        for m in self.miner.find_iter(js).take(1_000) {
            hits.push(format!("code {}", snippet(m.as_bytes(), 40)));
        }
        if hits.is_empty() {
            return None;
        }
        let n = hits.len();
        hits.dedup();
        hits.truncate(3);
        Some(Finding::new(
            "miner.known",
            Severity::High,
            format!(
                "{n} known in-browser miner reference{}: {}",
                plural(n),
                hits.join("; ")
            ),
        ))
    }
}

/// Inline scripts that run, event handlers and `javascript:` URLs, joined
/// (so that one pass of each pattern covers all the page's code); the code
/// that runs only on a user's action (`onclick`, `javascript:` links) comes
/// last, from the returned offset on.
fn join_scripts(doc: &Doc<'_>) -> (Vec<u8>, usize) {
    let mut js = Vec::new();
    let parts = doc.scripts.iter().filter(|s| s.is_js).map(|s| s.body);
    for part in parts.chain(doc.handlers.iter().copied()) {
        js.extend_from_slice(part);
        js.extend_from_slice(b"\n;\n");
    }
    let automatic = js.len();
    for part in &doc.interactive {
        js.extend_from_slice(part);
        js.extend_from_slice(b"\n;\n");
    }
    (js, automatic)
}

fn hidden_iframes(ctx: &Ctx, doc: &Doc<'_>) -> Option<Finding> {
    let mut n = 0usize;
    let mut first = None;
    for f in &doc.iframes {
        let (Some(reason), Some(src)) = (f.hidden, f.src) else {
            continue;
        };
        let Some(u) = ctx.resolve(src) else {
            continue;
        };
        let flagged = match u.scheme() {
            "data" | "javascript" => true,
            _ => {
                ctx.offsite(&u)
                    && !u
                        .host_str()
                        .is_some_and(|h| HIDDEN_IFRAME_ALLOWED.iter().any(|a| host_within(h, a)))
            }
        };
        if flagged {
            n += 1;
            first.get_or_insert((u, reason));
        }
    }
    let (u, reason) = first?;
    Some(Finding::new(
        "iframe.hidden",
        Severity::Medium,
        format!(
            "{n} hidden iframe{} to another site, first: src={} ({reason})",
            plural(n),
            short_url(&u)
        ),
    ))
}

fn meta_refresh(ctx: &Ctx, doc: &Doc<'_>) -> Option<Finding> {
    let mut n = 0usize;
    let mut first = None;
    for content in &doc.refreshes {
        let Some((delay, target)) = parse_refresh(content) else {
            continue;
        };
        let Some(u) = ctx.resolve(target) else {
            continue;
        };
        if ctx.offsite(&u) || matches!(u.scheme(), "data" | "javascript") {
            n += 1;
            first.get_or_insert((u, delay));
        }
    }
    let (u, delay) = first?;
    Some(Finding::new(
        "redirect.meta-refresh",
        Severity::Medium,
        format!(
            "meta refresh to another site after {delay}s: {}{}",
            short_url(&u),
            if n > 1 {
                format!(" ({n} refreshes)")
            } else {
                String::new()
            }
        ),
    ))
}

/// `content` of a refresh: `5`, `0; url=https://x/`, `0;URL='x'`, `0, x`.
/// Returns the delay text and the target, if there is one.
fn parse_refresh(content: &[u8]) -> Option<(String, &[u8])> {
    let c = trim(content);
    let digits = c
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(c.len());
    let delay = String::from_utf8_lossy(&c[..digits]).into_owned();
    let mut rest = trim(&c[digits..]);
    if let Some((&first, tail)) = rest.split_first()
        && (first == b';' || first == b',')
    {
        rest = trim(tail);
    }
    if starts_with_ci(rest, b"url") {
        let after = trim(&rest[3..]);
        if let Some(tail) = after.strip_prefix(b"=") {
            rest = trim(tail);
        }
    }
    if let Some((&q, tail)) = rest.split_first()
        && (q == b'\'' || q == b'"')
    {
        rest = tail.split(|&b| b == q).next().unwrap_or(tail);
    }
    let rest = trim(rest);
    (!rest.is_empty()).then_some((if delay.is_empty() { "0".into() } else { delay }, rest))
}

fn password_offsite(ctx: &Ctx, doc: &Doc<'_>) -> Option<Finding> {
    let mut n = 0usize;
    let mut first = None;
    for f in doc.forms.iter().filter(|f| f.has_password) {
        let actions = f.action.iter().chain(f.form_actions.iter());
        for a in actions {
            let Some(u) = ctx.resolve(a) else {
                continue;
            };
            if ctx.offsite(&u) || u.scheme() == "mailto" {
                n += 1;
                first.get_or_insert(u);
                break;
            }
        }
    }
    let u = first?;
    Some(Finding::new(
        "form.password-offsite",
        Severity::High,
        format!(
            "{n} password form{} posting to another site, first: action={}",
            plural(n),
            short_url(&u)
        ),
    ))
}

fn external_scripts(ctx: &Ctx, doc: &Doc<'_>) -> Option<Finding> {
    let mut hosts: Vec<String> = Vec::new();
    for s in &doc.scripts {
        if let Some(u) = s.src.and_then(|src| ctx.resolve(src))
            && ctx.offsite(&u)
            && let Some(h) = u.host_str()
            && !hosts.iter().any(|x| x == h)
        {
            hosts.push(h.to_owned());
        }
    }
    if hosts.is_empty() {
        return None;
    }
    Some(Finding::new(
        "script.external-domain",
        Severity::Info,
        format!(
            "{} external script domain{}: {}",
            hosts.len(),
            plural(hosts.len()),
            hosts.join(", ")
        ),
    ))
}

/// A run of base64 characters that looks like an opaque payload.
struct Blob {
    len: usize,
    severity: Severity,
    what: String,
}

/// Long base64 runs in string literals of scripts, and in `data:` URIs
/// anywhere, that are not images, fonts, media or source maps.
fn base64_blobs(body: &[u8], js: &[u8], body_is_js: bool) -> Option<Finding> {
    let mut blobs = Vec::new();
    if body_is_js {
        scan_base64(body, true, true, &mut blobs);
    } else {
        scan_base64(body, false, true, &mut blobs);
        scan_base64(js, true, false, &mut blobs);
    }
    let severity = blobs.iter().map(|b| b.severity).max()?;
    let largest = blobs.iter().max_by_key(|b| b.len)?;
    Some(Finding::new(
        "js.base64-blob",
        severity,
        format!(
            "{} base64 blob{} (largest {} chars, {})",
            blobs.len(),
            plural(blobs.len()),
            largest.len,
            largest.what
        ),
    ))
}

const fn base64_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        i += 1;
    }
    t
}
static BASE64: [bool; 256] = base64_table();

/// Magic prefixes (as base64) of binary formats that pages embed benignly:
/// PNG, JPEG, GIF, WebP/RIFF, WOFF, WOFF2, TrueType, OpenType, WebAssembly.
const BENIGN_MAGIC: &[&[u8]] = &[
    b"iVBORw0KGg",
    b"/9j/",
    b"R0lGOD",
    b"UklGR",
    b"d09GR",
    b"d09GM",
    b"AAEAA",
    b"T1RUT",
    b"AGFzb",
];

fn scan_base64(hay: &[u8], literals: bool, data_uris: bool, out: &mut Vec<Blob>) {
    let len = hay.len();
    let mut i = 0;
    while i < len {
        if !BASE64[hay[i] as usize] {
            i += 1;
            continue;
        }
        let start = i;
        while i < len && BASE64[hay[i] as usize] {
            i += 1;
        }
        if i - start < BLOB_MIN || out.len() >= 1_000 {
            continue;
        }
        let run = &hay[start..i];
        let before = &hay[start.saturating_sub(120)..start];
        let what = if before.ends_with(b"base64,") {
            if !data_uris {
                continue;
            }
            match data_uri_type(before) {
                Some(t) if benign_media_type(&t) => continue,
                Some(t) => format!("data:{t}"),
                None => continue,
            }
        } else if literals && matches!(before.last(), Some(b'"' | b'\'' | b'`')) {
            "string literal".to_owned()
        } else {
            continue;
        };
        if BENIGN_MAGIC.iter().any(|m| run.starts_with(m))
            || !run.iter().any(u8::is_ascii_uppercase)
            || !run.iter().any(u8::is_ascii_lowercase)
        {
            continue;
        }
        let decoded = decode_base64_prefix(run, 48);
        let printable = decoded
            .iter()
            .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
            .count();
        let (severity, what) = if !decoded.is_empty() && printable * 10 >= decoded.len() * 9 {
            (
                Severity::Medium,
                format!("{what}, decodes to text: {}", snippet(&decoded, 40)),
            )
        } else {
            (Severity::Low, format!("{what}, decodes to binary"))
        };
        out.push(Blob {
            len: run.len(),
            severity,
            what,
        });
    }
}

/// The media type of the `data:` URI that `before` (ending in `base64,`)
/// belongs to, lower-cased.
fn data_uri_type(before: &[u8]) -> Option<String> {
    let lower = before.to_ascii_lowercase();
    let at = lower.windows(5).rposition(|w| w == b"data:")?;
    let rest = &lower[at + 5..];
    let end = rest
        .iter()
        .position(|&b| b == b';' || b == b',')
        .unwrap_or(rest.len());
    Some(String::from_utf8_lossy(trim(&rest[..end])).into_owned())
}

fn benign_media_type(t: &str) -> bool {
    [
        "image/",
        "font/",
        "audio/",
        "video/",
        "application/font",
        "application/x-font",
    ]
    .iter()
    .any(|p| t.starts_with(p))
        || matches!(t, "application/vnd.ms-fontobject" | "application/json")
}

fn decode_base64_prefix(run: &[u8], max_chars: usize) -> Vec<u8> {
    fn val(b: u8) -> u32 {
        match b {
            b'A'..=b'Z' => u32::from(b - b'A'),
            b'a'..=b'z' => u32::from(b - b'a') + 26,
            b'0'..=b'9' => u32::from(b - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    }
    let mut out = Vec::new();
    for chunk in run[..run.len().min(max_chars)].chunks_exact(4) {
        let n = chunk.iter().fold(0u32, |acc, &b| (acc << 6) | val(b));
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Printable text of `b` (control and non-ASCII bytes as `?`), at most `max` chars.
pub(crate) fn snippet(b: &[u8], max: usize) -> String {
    let mut s: String = b
        .iter()
        .take(max)
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else if c.is_ascii_whitespace() {
                ' '
            } else {
                '?'
            }
        })
        .collect();
    if b.len() > max {
        s.push_str("...");
    }
    s
}

fn short_url(u: &Url) -> String {
    let s = u.as_str();
    if s.len() <= 100 {
        s.to_owned()
    } else {
        format!("{}...", snippet(s.as_bytes(), 100).trim_end_matches("..."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_contents() {
        let t = |c: &str| {
            parse_refresh(c.as_bytes()).map(|(d, u)| (d, String::from_utf8_lossy(u).into_owned()))
        };
        assert_eq!(
            t("0; url=https://x.example/"),
            Some(("0".into(), "https://x.example/".into()))
        );
        assert_eq!(
            t("5;URL='https://x.example/a b'"),
            Some(("5".into(), "https://x.example/a b".into()))
        );
        assert_eq!(
            t("3, https://x.example/"),
            Some(("3".into(), "https://x.example/".into()))
        );
        assert_eq!(t("30"), None);
    }

    #[test]
    fn base64_prefix_decodes() {
        assert_eq!(
            decode_base64_prefix(b"ZXZhbCgiYWxlcnQoMSkiKQ", 48),
            b"eval(\"alert(1)\"".to_vec()
        );
    }

    #[test]
    fn data_uri_types() {
        assert_eq!(
            data_uri_type(b"url(data:font/woff2;charset=utf-8;base64,").as_deref(),
            Some("font/woff2")
        );
        assert_eq!(
            data_uri_type(b"src=\"data:text/html;base64,").as_deref(),
            Some("text/html")
        );
        assert_eq!(data_uri_type(b"nothing base64,"), None);
    }

    #[test]
    fn kinds() {
        let u = Url::parse("https://a.example/x.js").unwrap();
        assert_eq!(
            kind_of(&u, Some("application/javascript; charset=utf-8")),
            Kind::Script
        );
        assert_eq!(kind_of(&u, None), Kind::Script);
        let u = Url::parse("https://a.example/").unwrap();
        assert_eq!(kind_of(&u, None), Kind::Html);
        assert_eq!(kind_of(&u, Some("image/png")), Kind::Opaque);
        assert_eq!(kind_of(&u, Some("text/html")), Kind::Html);
    }
}
