//! YARA rules: the project's default set (embedded in the binary) plus the
//! user's files or folders (TRAWL_RULES), compiled once by boreal.

use super::RulesError;
use super::indicators::snippet;
use crate::record::{Finding, Severity};
use boreal::compiler::AddRuleError;
use boreal::scanner::{ScanError, ScanParams};
use boreal::{Compiler, Scanner};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default rule files, embedded so the binary never needs /rules.
pub(crate) const DEFAULT_RULES: &[(&str, &str)] = &[(
    "trawl-default.yar",
    include_str!("../../rules/trawl-default.yar"),
)];

/// Namespace of the default rules; user files get one namespace each.
pub(crate) const DEFAULT_NAMESPACE: &str = "trawl";

/// A scan that takes longer than this is cut short (its partial results are
/// kept and a `yara.timeout` finding says so). Only pathological user rules
/// get near it: the default set scans megabytes in milliseconds.
const SCAN_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Rules {
    scanner: Scanner,
}

impl Rules {
    pub(crate) fn new(user_rules: &[PathBuf]) -> Result<Rules, RulesError> {
        let mut compiler = Compiler::new();
        for (name, text) in DEFAULT_RULES {
            compiler
                .add_rules_str_in_namespace(text, DEFAULT_NAMESPACE)
                .map_err(|e| RulesError::BuiltIn {
                    name,
                    message: e.to_string(),
                })?;
        }
        let mut namespaces: Vec<String> = vec![DEFAULT_NAMESPACE.to_owned()];
        for file in expand(user_rules)? {
            // One namespace per file, so that two files may both name a rule
            // `Foo`; the file name, or its whole path when that is taken.
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ns = if name.is_empty() || namespaces.contains(&name) {
                file.display().to_string()
            } else {
                name
            };
            let status = compiler
                .add_rules_file_in_namespace(&file, &ns)
                .map_err(|e| rule_error(&file, &e))?;
            for w in status.warnings() {
                tracing::warn!(file = %file.display(), "YARA rules warning: {w}");
            }
            namespaces.push(ns);
        }
        let mut scanner = compiler.finalize();
        scanner.set_scan_params(ScanParams::default().timeout_duration(Some(SCAN_TIMEOUT)));
        Ok(Rules { scanner })
    }

    /// Number of compiled rules, default and user.
    pub(crate) fn count(&self) -> usize {
        self.scanner.rules().count()
    }

    /// One finding per matching rule, `yara.<RuleName>`; when rules of the
    /// same name match in several files, the first (most severe) is kept.
    pub(crate) fn scan(&self, body: &[u8], out: &mut Vec<Finding>) {
        let (result, timed_out) = match self.scanner.scan_mem(body) {
            Ok(r) => (r, false),
            Err((ScanError::Timeout, r)) => (r, true),
            Err((e, r)) => {
                tracing::warn!("YARA scan error: {e:?}");
                (r, false)
            }
        };
        let mut found: Vec<Finding> = Vec::new();
        for rule in result.rules.iter().filter(|r| r.matched) {
            let mut severity = Severity::Medium;
            let mut description = String::new();
            for m in rule.metadatas {
                let name = self.scanner.get_string_symbol(m.name);
                let boreal::MetadataValue::Bytes(b) = m.value else {
                    continue;
                };
                let value = String::from_utf8_lossy(self.scanner.get_bytes_symbol(b));
                if name.eq_ignore_ascii_case("severity") {
                    severity = parse_severity(&value);
                } else if name.eq_ignore_ascii_case("description") && description.is_empty() {
                    description = value.into_owned();
                }
            }
            if description.is_empty() {
                description = format!("YARA rule {} matched", rule.name);
            }
            if rule.namespace != DEFAULT_NAMESPACE {
                description.push_str(&format!(" (rules {})", rule.namespace));
            }
            let strings: Vec<&str> = rule
                .matches
                .iter()
                .filter(|s| !s.matches.is_empty())
                .map(|s| s.name)
                .take(4)
                .collect();
            if let Some(first) = rule
                .matches
                .iter()
                .flat_map(|s| s.matches.first())
                .min_by_key(|m| m.offset)
            {
                description.push_str(&format!(
                    "; matched ${}; first at offset {}: {}",
                    strings.join(", $"),
                    first.offset,
                    snippet(&first.data, 48)
                ));
            }
            let id = format!("yara.{}", rule.name);
            match found.iter_mut().find(|f| f.rule == id) {
                Some(existing) if existing.severity >= severity => {}
                Some(existing) => *existing = Finding::new(id, severity, description),
                None => found.push(Finding::new(id, severity, description)),
            }
        }
        if timed_out {
            found.push(Finding::new(
                "yara.timeout",
                Severity::Info,
                format!(
                    "YARA scan stopped after {}s; results are partial",
                    SCAN_TIMEOUT.as_secs()
                ),
            ));
        }
        out.extend(found);
    }
}

/// `high`, `medium`, `low`, `info` (and `critical` as high); anything else
/// is medium.
fn parse_severity(s: &str) -> Severity {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" | "high" => Severity::High,
        "low" => Severity::Low,
        "info" | "informational" | "none" => Severity::Info,
        _ => Severity::Medium,
    }
}

/// The rule files named by TRAWL_RULES: files as given, folders as every
/// `*.yar` / `*.yara` file in them (not recursive), sorted by name.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RulesError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                RulesError::NotFound { path: path.clone() }
            } else {
                RulesError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|source| RulesError::Io {
            path: path.clone(),
            source,
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| RulesError::Io {
                path: path.clone(),
                source,
            })?;
            let p = entry.path();
            let is_rules = p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"));
            if is_rules && p.is_file() {
                found.push(p);
            }
        }
        if found.is_empty() {
            return Err(RulesError::EmptyFolder { path: path.clone() });
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Turns boreal's error into one naming the file and line.
fn rule_error(file: &Path, e: &AddRuleError) -> RulesError {
    let path = e.path.clone().unwrap_or_else(|| file.to_path_buf());
    let diag = e.to_diagnostic();
    let mut message = diag.message.clone();
    for label in diag.labels.iter().filter(|l| !l.message.is_empty()).take(2) {
        message.push_str(": ");
        message.push_str(&label.message);
    }
    let line = diag.labels.first().and_then(|label| {
        let text = std::fs::read(&path).ok()?;
        let upto = text.get(..label.range.start.min(text.len()))?;
        Some(upto.iter().filter(|&&b| b == b'\n').count() + 1)
    });
    match line {
        Some(line) => RulesError::Syntax {
            path,
            line,
            message,
        },
        None => RulesError::Invalid {
            path,
            message: e.to_string(),
        },
    }
}
