//! Score and verdict from findings.
//!
//! Each finding adds points by severity: info 0, low 10, medium 25, high 50;
//! the sum is capped at 100. The verdict is
//!
//! - `malicious` when the score is at least 70, or when any `high` finding
//!   comes from a miner rule (`miner.*`) or a YARA rule (`yara.*`): those
//!   name known-bad code, where the heuristics only name suspicious shapes;
//! - `suspicious` when the score is at least 25 (one medium or high finding);
//! - `clean` otherwise (info findings such as `script.external-domain`, or a
//!   single low one, never make a page suspicious).

use crate::record::{Finding, Severity, Verdict};

pub const MALICIOUS_SCORE: u32 = 70;
pub const SUSPICIOUS_SCORE: u32 = 25;

pub(crate) fn points(s: Severity) -> u32 {
    match s {
        Severity::Info => 0,
        Severity::Low => 10,
        Severity::Medium => 25,
        Severity::High => 50,
    }
}

/// The page's score (0-100) and verdict.
pub(crate) fn score(findings: &[Finding]) -> (u8, Verdict) {
    let total = findings
        .iter()
        .map(|f| points(f.severity))
        .sum::<u32>()
        .min(100);
    let known_bad = findings.iter().any(|f| {
        f.severity == Severity::High
            && (f.rule.starts_with("miner.") || f.rule.starts_with("yara."))
    });
    let verdict = if total >= MALICIOUS_SCORE || known_bad {
        Verdict::Malicious
    } else if total >= SUSPICIOUS_SCORE {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    };
    (u8::try_from(total).unwrap_or(100), verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rule: &str, s: Severity) -> Finding {
        Finding::new(rule, s, "d")
    }

    #[test]
    fn verdicts() {
        assert_eq!(score(&[]), (0, Verdict::Clean));
        assert_eq!(
            score(&[f("script.external-domain", Severity::Info)]),
            (0, Verdict::Clean)
        );
        assert_eq!(
            score(&[f("js.base64-blob", Severity::Low)]),
            (10, Verdict::Clean)
        );
        assert_eq!(
            score(&[f("iframe.hidden", Severity::Medium)]),
            (25, Verdict::Suspicious)
        );
        assert_eq!(
            score(&[f("js.eval-chain", Severity::High)]),
            (50, Verdict::Suspicious)
        );
        assert_eq!(
            score(&[
                f("js.eval-chain", Severity::High),
                f("iframe.hidden", Severity::Medium)
            ]),
            (75, Verdict::Malicious)
        );
        assert_eq!(
            score(&[f("miner.known", Severity::High)]),
            (50, Verdict::Malicious)
        );
        assert_eq!(
            score(&[f("yara.X", Severity::High)]),
            (50, Verdict::Malicious)
        );
        assert_eq!(
            score(&[f("yara.X", Severity::Medium)]),
            (25, Verdict::Suspicious)
        );
        let many: Vec<_> = (0..5)
            .map(|i| f(&format!("yara.{i}"), Severity::High))
            .collect();
        assert_eq!(score(&many).0, 100);
    }
}
