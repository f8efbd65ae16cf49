//! Where runs and records are read from: the local store (folders on disk)
//! and the AWS store (DynamoDB).

pub mod aws;
pub mod local;

/// A body preview: the first KiB, decompressed, control characters escaped
/// so nothing the site sent can drive the terminal.
pub fn preview_text(body: &[u8]) -> String {
    const LIMIT: usize = 1024;
    let cut = &body[..body.len().min(LIMIT)];
    let text = String::from_utf8_lossy(cut);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    if body.len() > LIMIT {
        out.push_str(&format!("\n… ({} more bytes)", body.len() - LIMIT));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_escape_control_characters() {
        let p = preview_text(b"<p>hi</p>\x1b[2J\x07\r\nok");
        assert_eq!(p, "<p>hi</p>\\u{1b}[2J\\u{7}\\r\nok");
        let long = vec![b'a'; 3000];
        assert!(preview_text(&long).ends_with("(1976 more bytes)"));
    }
}
