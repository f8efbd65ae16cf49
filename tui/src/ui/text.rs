//! Small drawing and formatting helpers the widgets share: width-aware
//! writing with "…" truncation straight into the buffer (no widget tree per
//! cell), pane frames with titles that never overlap, column fitting, and
//! human numbers (1.2 KiB, 12m, 1.3s, 10,000).

use ratatui::buffer::{Buffer, CellWidth};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Widget};
use std::borrow::Cow;

use super::theme::Theme;

/// Display width of one char in cells (control and format characters: 0).
pub fn char_width(c: char) -> usize {
    if c.is_ascii() {
        return usize::from(!c.is_ascii_control());
    }
    if is_hidden(c) {
        return 0;
    }
    let mut b = [0u8; 4];
    usize::from(c.encode_utf8(&mut b).cell_width())
}

/// Control characters and the bidirectional and zero-width format
/// characters that would let hostile text (a page's title, a redirect
/// target) reorder or hide what is drawn.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Display width of a string in cells.
pub fn width(s: &str) -> usize {
    if s.is_ascii() {
        return s.bytes().filter(|b| !b.is_ascii_control()).count();
    }
    s.chars().map(char_width).sum()
}

/// The text without control and bidi/zero-width format characters (tabs
/// become a space). Borrowed when there is nothing to remove.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter_map(|c| match c {
                '\t' => Some(' '),
                c if is_hidden(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// The longest prefix of `s` at most `max` cells wide, and its width.
fn prefix(s: &str, max: usize) -> (&str, usize) {
    let mut w = 0;
    for (i, c) in s.char_indices() {
        let cw = char_width(c);
        if w + cw > max {
            return (&s[..i], w);
        }
        w += cw;
    }
    (s, w)
}

/// Writes `s` at (x, y), at most `max` cells, ending in "…" when cut.
/// Returns the cells written.
pub fn put(buf: &mut Buffer, x: u16, y: u16, max: u16, s: &str, style: Style) -> u16 {
    let area = buf.area;
    if max == 0 || y < area.top() || y >= area.bottom() || x >= area.right() || x < area.left() {
        return 0;
    }
    let max = max.min(area.right() - x) as usize;
    let s = clean(s);
    let full = width(&s);
    if full <= max {
        buf.set_stringn(x, y, &*s, max, style);
        return full as u16;
    }
    let (head, w) = prefix(&s, max - 1);
    buf.set_stringn(x, y, head, w, style);
    buf.set_stringn(x + w as u16, y, "…", 1, style);
    (w + 1) as u16
}

/// Writes `s` right-aligned in the field (x, w), truncated from the right.
pub fn put_right(buf: &mut Buffer, x: u16, y: u16, w: u16, s: &str, style: Style) -> u16 {
    let sw = width(s).min(w as usize) as u16;
    put(buf, x + (w - sw), y, sw, s, style);
    w
}

/// Writes the spans one after another, at most `max` cells; the span that
/// does not fit is cut with "…". Returns the cells written.
pub fn put_spans(buf: &mut Buffer, x: u16, y: u16, max: u16, spans: &[Span<'_>]) -> u16 {
    let mut used = 0u16;
    for (i, span) in spans.iter().enumerate() {
        let left = max.saturating_sub(used);
        if left == 0 {
            break;
        }
        let w = width(&span.content);
        let rest_nonempty = spans[i + 1..].iter().any(|s| !s.content.is_empty());
        // Leave room for the ellipsis when this span fills the line but
        // more would follow.
        if w >= left as usize && rest_nonempty && w > 0 {
            let (head, hw) = prefix(&span.content, left as usize - 1);
            buf.set_stringn(x + used, y, head, hw, span.style);
            buf.set_stringn(x + used + hw as u16, y, "…", 1, span.style);
            return used + hw as u16 + 1;
        }
        used += put(buf, x + used, y, left, &span.content, span.style);
    }
    used
}

/// Total width of spans.
pub fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| width(&s.content)).sum()
}

/// Titles of a pane's border: left and right on the top and bottom lines.
#[derive(Default)]
pub struct Titles<'a> {
    pub top: Vec<Span<'a>>,
    pub top_right: Vec<Span<'a>>,
    pub bottom: Vec<Span<'a>>,
    pub bottom_right: Vec<Span<'a>>,
}

/// Draws a pane: a bordered box (or, collapsed, only its top line) with
/// titles that are cut with "…" rather than overlapping. Returns the inner
/// area (empty when collapsed).
pub fn pane(
    buf: &mut Buffer,
    area: Rect,
    theme: &Theme,
    focused: bool,
    collapsed: bool,
    titles: &Titles<'_>,
) -> Rect {
    if area.is_empty() {
        return area;
    }
    let collapsed = collapsed || area.height < 2;
    let borders = if collapsed {
        Borders::TOP
    } else {
        Borders::ALL
    };
    let block = Block::new()
        .borders(borders)
        .border_type(theme.border_type(focused))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    block.render(area, buf);
    let (x0, w) = if collapsed {
        (area.x, area.width)
    } else {
        (area.x + 1, area.width.saturating_sub(2))
    };
    border_titles(buf, x0, area.y, w, &titles.top, &titles.top_right);
    if !collapsed && area.height >= 2 {
        border_titles(
            buf,
            x0,
            area.bottom() - 1,
            w,
            &titles.bottom,
            &titles.bottom_right,
        );
    }
    if collapsed {
        Rect { height: 0, ..inner }
    } else if inner.width > 6 {
        // One cell of air between the border and the content.
        Rect {
            x: inner.x + 1,
            width: inner.width - 2,
            ..inner
        }
    } else {
        inner
    }
}

/// One border line's titles: " left " from the left edge, " right " at the
/// right; the left one is cut to leave the right one whole when both fit
/// at all, else the right one is dropped.
fn border_titles(buf: &mut Buffer, x: u16, y: u16, w: u16, left: &[Span<'_>], right: &[Span<'_>]) {
    // One cell of border before the title, a space on either side.
    let inner_x = x + 1;
    let avail = w.saturating_sub(2);
    if avail < 3 {
        return;
    }
    let rw = if right.is_empty() {
        0
    } else {
        spans_width(right) as u16 + 2
    };
    let lw = if left.is_empty() {
        0
    } else {
        spans_width(left) as u16 + 2
    };
    // The right title is the lesser one: it shows only beside the whole left.
    let show_right = rw > 0 && rw + lw < avail;
    let left_max = if show_right { avail - rw - 1 } else { avail };
    if lw > 0 {
        let n = put_spans(buf, inner_x + 1, y, left_max.saturating_sub(2), left);
        if n > 0 {
            buf.set_stringn(inner_x, y, " ", 1, Style::new());
            buf.set_stringn(inner_x + 1 + n, y, " ", 1, Style::new());
        }
    }
    if show_right {
        let rx = inner_x + avail - rw;
        buf.set_stringn(rx, y, " ", 1, Style::new());
        put_spans(buf, rx + 1, y, rw - 2, right);
        buf.set_stringn(rx + rw - 1, y, " ", 1, Style::new());
    }
}

/// A table column for [`fit_columns`].
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub width: u16,
    /// Columns with the lowest priority are dropped first.
    pub priority: u8,
    /// Takes what is left, between `width` (its minimum) and `max`.
    pub flex: bool,
    pub max: u16,
}

impl Column {
    pub const fn fixed(width: u16, priority: u8) -> Self {
        Column {
            width,
            priority,
            flex: false,
            max: width,
        }
    }

    pub const fn flex(min: u16, max: u16, priority: u8) -> Self {
        Column {
            width: min,
            priority,
            flex: true,
            max,
        }
    }
}

/// Places columns in `avail` cells with one-cell gaps, dropping the lowest
/// priority ones until the rest fit; a flex column takes what is left (up
/// to its max). Returns (x offset, width) per column, None when dropped.
pub fn fit_columns(cols: &[Column], avail: u16) -> Vec<Option<(u16, u16)>> {
    let mut keep: Vec<bool> = vec![true; cols.len()];
    loop {
        let kept: Vec<&Column> = cols
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
            .collect();
        let need: u32 = kept.iter().map(|c| u32::from(c.width)).sum::<u32>()
            + kept.len().saturating_sub(1) as u32;
        if need <= u32::from(avail) || kept.len() <= 1 {
            break;
        }
        // Drop the lowest priority (the last one among equals).
        let drop = cols
            .iter()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .min_by_key(|(i, c)| (c.priority, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        match drop {
            Some(i) => keep[i] = false,
            None => break,
        }
    }
    // A dropped column that fits in what is left comes back (a narrow one
    // dropped before a wide one that had to go too).
    let need = |keep: &[bool]| -> u32 {
        let kept = cols.iter().zip(keep).filter(|(_, k)| **k);
        let n = kept.clone().count() as u32;
        kept.map(|(c, _)| u32::from(c.width)).sum::<u32>() + n.saturating_sub(1)
    };
    let mut dropped: Vec<usize> = (0..cols.len()).filter(|i| !keep[*i]).collect();
    dropped.sort_by_key(|i| std::cmp::Reverse(cols[*i].priority));
    for i in dropped {
        keep[i] = true;
        if need(&keep) > u32::from(avail) {
            keep[i] = false;
        }
    }
    let kept_n = keep.iter().filter(|k| **k).count() as u16;
    let fixed: u16 = cols
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(c, _)| c.width)
        .fold(0u16, u16::saturating_add)
        .saturating_add(kept_n.saturating_sub(1));
    let mut spare = avail.saturating_sub(fixed);
    let mut out = Vec::with_capacity(cols.len());
    let mut x = 0u16;
    for (c, k) in cols.iter().zip(&keep) {
        if !*k {
            out.push(None);
            continue;
        }
        let mut w = c.width;
        if c.flex {
            let extra = spare.min(c.max.saturating_sub(c.width));
            w += extra;
            spare -= extra;
        }
        let w = w.min(avail.saturating_sub(x));
        out.push(Some((x, w)));
        x = x.saturating_add(w).saturating_add(1);
    }
    out
}

/// 10,000
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 512 B, 1.2 KiB, 34.5 MiB, 1.0 GiB
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// 45s, 12m, 3h, 2d
pub fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// 850ms, 1.2s, 12s, 2m03s, 1h02m
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        m if m < 1000 => format!("{m}ms"),
        m if m < 10_000 => format!("{:.1}s", m as f64 / 1000.0),
        m if m < 60_000 => format!("{}s", m / 1000),
        m if m < 3_600_000 => format!("{}m{:02}s", m / 60_000, (m / 1000) % 60),
        m => format!("{}h{:02}m", m / 3_600_000, (m / 60_000) % 60),
    }
}

/// Unix seconds of an RFC 3339 timestamp.
pub fn parse_unix(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Milliseconds between two RFC 3339 timestamps.
pub fn ms_between(a: &str, b: &str) -> Option<i64> {
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    Some((parse(b)? - parse(a)?).whole_milliseconds() as i64)
}

/// "2026-11-24 05:00:01" from an RFC 3339 timestamp (as is when it is not one).
pub fn short_time(s: &str) -> String {
    if s.len() >= 19 && s.as_bytes()[10] == b'T' {
        format!("{} {}", &s[..10], &s[11..19])
    } else {
        s.to_owned()
    }
}

/// A node as a table cell: an ECS task ARN by its task id (the last path
/// segment), an EC2 private DNS name by its host label.
pub fn short_node(node: &str) -> &str {
    if node.starts_with("arn:") {
        node.rsplit('/').next().unwrap_or(node)
    } else if node.ends_with(".internal") {
        node.split('.').next().unwrap_or(node)
    } else {
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_human() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1229), "1.2 KiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(12 * 60 + 5), "12m");
        assert_eq!(human_age(3 * 3600), "3h");
        assert_eq!(human_age(2 * 86_400 + 5), "2d");
        assert_eq!(human_ms(850), "850ms");
        assert_eq!(human_ms(1234), "1.2s");
        assert_eq!(human_ms(123_000), "2m03s");
        assert_eq!(
            short_node("arn:aws:ecs:us-east-1:1:task/c/abc123"),
            "abc123"
        );
        assert_eq!(short_node("ip-10-0-1-2.ec2.internal"), "ip-10-0-1-2");
        assert_eq!(short_node("local"), "local");
    }

    #[test]
    fn put_truncates_with_an_ellipsis_and_strips_bidi() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 1));
        assert_eq!(put(&mut buf, 0, 0, 6, "abcdefghij", Style::new()), 6);
        assert_eq!(buf.content[5].symbol(), "…");
        assert_eq!(clean("a\u{202E}b\u{1b}[31m"), "ab[31m");
        assert_eq!(width("日本"), 4);
    }

    #[test]
    fn columns_drop_by_priority_and_flex_takes_the_rest() {
        let cols = [
            Column::flex(10, 100, 9),
            Column::fixed(5, 1),
            Column::fixed(5, 5),
        ];
        let fit = fit_columns(&cols, 30);
        assert_eq!(fit, vec![Some((0, 18)), Some((19, 5)), Some((25, 5))]);
        let fit = fit_columns(&cols, 16);
        assert_eq!(fit, vec![Some((0, 10)), None, Some((11, 5))]);
    }
}
