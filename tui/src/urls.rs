//! Checks the URL editor's lines: what will be submitted, and what is
//! flagged in place (a bad line is never submitted).

use std::collections::HashMap;
use url::{Host, Url};

/// Longest URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// Blank, or a `#` comment: ignored.
    Skipped,
    Valid,
    Invalid(String),
    /// The same URL as an earlier line (0-based index of that line).
    Duplicate(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlCheck {
    /// One status per editor line.
    pub lines: Vec<LineStatus>,
    /// The URLs to submit, as written (trimmed), in order, without duplicates.
    pub urls: Vec<String>,
    pub invalid: usize,
    pub duplicates: usize,
}

impl UrlCheck {
    pub fn valid(&self) -> usize {
        self.urls.len()
    }

    /// The first invalid line: (0-based index, reason).
    pub fn first_invalid(&self) -> Option<(usize, &str)> {
        self.lines.iter().enumerate().find_map(|(i, l)| match l {
            LineStatus::Invalid(why) => Some((i, why.as_str())),
            _ => None,
        })
    }
}

pub fn check_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> UrlCheck {
    let mut check = UrlCheck::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in lines.into_iter().enumerate() {
        let line = raw.trim();
        let status = if line.is_empty() || line.starts_with('#') {
            LineStatus::Skipped
        } else {
            match check_url(line) {
                Err(why) => {
                    check.invalid += 1;
                    LineStatus::Invalid(why)
                }
                Ok(normal) => match seen.get(&normal) {
                    Some(&first) => {
                        check.duplicates += 1;
                        LineStatus::Duplicate(first)
                    }
                    None => {
                        seen.insert(normal, index);
                        check.urls.push(line.to_owned());
                        LineStatus::Valid
                    }
                },
            }
        };
        check.lines.push(status);
    }
    check
}

/// Checks one trimmed line; returns its normalised form (for duplicates).
pub fn check_url(line: &str) -> Result<String, String> {
    let chars = line.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(format!("longer than {MAX_URL_CHARS} characters ({chars})"));
    }
    if line.chars().any(char::is_whitespace) {
        return Err("contains whitespace: one URL a line".into());
    }
    if !line.contains("://") {
        return Err("no scheme: start it with http:// or https://".into());
    }
    let url = Url::parse(line).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{}: is not http or https", url.scheme()));
    }
    match url.host() {
        None => return Err("no host".into()),
        Some(Host::Domain(d)) => valid_domain(d)?,
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has a user name or password: leave credentials out".into());
    }
    Ok(url.to_string())
}

/// Letters, digits and hyphens in dot-separated labels of 1-63 characters,
/// at most 253 in all (after IDNA, which the URL parser applies).
fn valid_domain(domain: &str) -> Result<(), String> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if d.len() > 253 || !d.split('.').all(label_ok) {
        return Err(format!("{domain:?} is not a valid host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_and_counted() {
        let text = "https://example.com/\n\n# a comment\nftp://example.com/\nhttps://exa mple.com/\nhttps://EXAMPLE.com\nexample.com\nhttp://bad_host!.com/\nhttp://10.0.0.1:8080/x";
        let c = check_lines(text.lines());
        assert_eq!(
            c.urls,
            vec!["https://example.com/", "http://10.0.0.1:8080/x"]
        );
        assert_eq!(c.valid(), 2);
        assert_eq!(c.invalid, 4);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.lines[1], LineStatus::Skipped);
        assert_eq!(c.lines[2], LineStatus::Skipped);
        assert_eq!(
            c.lines[3],
            LineStatus::Invalid("ftp: is not http or https".into())
        );
        assert_eq!(
            c.lines[4],
            LineStatus::Invalid("contains whitespace: one URL a line".into())
        );
        assert_eq!(c.lines[5], LineStatus::Duplicate(0));
        assert_eq!(
            c.lines[6],
            LineStatus::Invalid("no scheme: start it with http:// or https://".into())
        );
        assert!(
            matches!(&c.lines[7], LineStatus::Invalid(w) if w.contains("host")),
            "{:?}",
            c.lines[7]
        );
        assert_eq!(c.first_invalid().map(|(i, _)| i), Some(3));
    }

    #[test]
    fn long_urls_and_credentials_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(
            check_url(&long)
                .unwrap_err()
                .starts_with("longer than 2048")
        );
        assert!(
            check_url("https://u:p@example.com/")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(check_url("https://bücher.example/").is_ok());
    }
}
