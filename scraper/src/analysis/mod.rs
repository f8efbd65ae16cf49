//! Static analysis of a fetched page: nothing in it is ever run.
//!
//! [`Analyzer::new`] compiles, once, the default YARA rules (embedded from
//! `scraper/rules/*.yar`), the user's rule files (TRAWL_RULES) and the
//! built-in indicators' regexes; [`Analyzer::analyze`] is then a pure
//! function of the page (URL, content type, bytes) that returns findings, a
//! score and a verdict.
//!
//! Finding ids (the `rule` field), at most one of each per page with a count
//! in its detail:
//!
//! | id | severity | what |
//! |---|---|---|
//! | `iframe.hidden` | medium | iframe to another site (or a `data:`/`javascript:` one) hidden by `display:none`, `visibility:hidden`, `opacity:0`, width/height 0 or 1, off-screen positioning, the `hidden` attribute, or a hidden `<div>`/`<span>` around it |
//! | `js.eval-chain` | high | a decoder (`atob`, `unescape`, `String.fromCharCode`, `decodeURIComponent`) feeding `eval`, `Function`, `setTimeout` or `document.write`; the p,a,c,k,e,d packer; `eval("\x..")`; a long encoded literal decoded and `eval`ed through a variable |
//! | `js.base64-blob` | medium (decodes to text) / low (binary) | at least 1 KiB of base64 in a script string literal or in a `data:` URI that is not an image, font, media or source map |
//! | `js.obfuscator` | medium | obfuscator.io output: many `_0x1a2b` identifiers, string-array rotation (`while(!![])`, `['push'](..['shift']())`) |
//! | `redirect.meta-refresh` | medium | `<meta http-equiv=refresh>` to another site |
//! | `redirect.script` | medium | `location = / location.href = / location.replace() / location.assign()` with a literal URL of another site |
//! | `form.password-offsite` | high | a form with a password field whose action (or a `formaction`) posts to another site, or to `mailto:` |
//! | `miner.known` | high | script sources on, or code of, known in-browser miners (Coinhive, CryptoLoot, CoinImp, WebMinePool, deepMiner, Minero, ...) |
//! | `script.external-domain` | info | the hosts of `<script src>` on other sites |
//! | `yara.<Rule>` | the rule's `severity` meta (default medium) | a YARA rule matched; detail from its `description` meta, plus the rules file for user rules |
//! | `yara.timeout` | info | the YARA scan hit its time limit (only pathological user rules) |
//!
//! "Another site" compares registrable domains ([`domain`] documents the
//! heuristic): `login.example.com` and `www.example.com` are the same site.
//! Scoring and verdicts are documented in [`score`].

mod domain;
mod html;
mod indicators;
mod score;
mod yara;

#[cfg(test)]
mod testdata;
#[cfg(test)]
mod tests;

use crate::record::{Finding, Severity, Verdict, cap_findings};
use std::path::PathBuf;

pub use score::{MALICIOUS_SCORE, SUSPICIOUS_SCORE};

/// Compiled rules and patterns, built once and shared by every analysis
/// (it is `Send + Sync`).
pub struct Analyzer {
    indicators: indicators::Indicators,
    rules: yara::Rules,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("yara_rules", &self.rules.count())
            .finish_non_exhaustive()
    }
}

/// Why the rules could not be loaded. Each message names the path and what
/// to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules path {} does not exist: fix or remove it (TRAWL_RULES)", path.display())]
    NotFound { path: PathBuf },
    #[error(
        "rules folder {} holds no .yar or .yara files: add rules or remove it (TRAWL_RULES)",
        path.display()
    )]
    EmptyFolder { path: PathBuf },
    #[error("cannot read rules path {}: {source} (TRAWL_RULES)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "rules file {} line {line}: {message}: fix or remove the file (TRAWL_RULES)",
        path.display()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("rules file {}: {message}: fix or remove the file (TRAWL_RULES)", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("built-in rules {name} do not compile (a bug in trawl): {message}")]
    BuiltIn { name: &'static str, message: String },
}

/// One fetched page.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The final URL, after redirects: links are resolved against it.
    pub url: &'a url::Url,
    /// The response's Content-Type header, if any.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the analysis found.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Most severe first, then by id; at most [`crate::record::MAX_FINDINGS`].
    pub findings: Vec<Finding>,
    pub verdict: Verdict,
    /// 0-100.
    pub score: u8,
}

impl Analyzer {
    /// Default rules plus the user's rule files or folders (TRAWL_RULES; a
    /// folder means every `*.yar` / `*.yara` in it, sorted by name).
    pub fn new(user_rules: &[PathBuf]) -> Result<Analyzer, RulesError> {
        Ok(Analyzer {
            indicators: indicators::Indicators::new(),
            rules: yara::Rules::new(user_rules)?,
        })
    }

    /// Pure function of the inputs; never panics on any bytes (invalid
    /// UTF-8, binary, huge). Time and memory are linear in the body's size.
    pub fn analyze(&self, page: &Page<'_>) -> Analysis {
        let run = || {
            let mut findings = Vec::new();
            let kind = indicators::kind_of(page.url, page.content_type);
            self.indicators
                .run(page.url, kind, page.body, &mut findings);
            self.rules.scan(page.body, &mut findings);
            findings
        };
        // Belt and braces: a bug in a heuristic must cost a finding, not the
        // worker (the record would otherwise never be written).
        let findings = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(f) => f,
            Err(_) => vec![Finding::new(
                "trawl.analysis-error",
                Severity::Info,
                "the analysis failed on this page (a bug in trawl); findings are missing",
            )],
        };
        finish(findings)
    }
}

/// Scores the findings, then sorts and caps them as records keep them.
fn finish(findings: Vec<Finding>) -> Analysis {
    let (score, verdict) = score::score(&findings);
    let findings = cap_findings(findings);
    Analysis {
        findings,
        verdict,
        score,
    }
}
