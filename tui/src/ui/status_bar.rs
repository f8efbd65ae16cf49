//! The one-line status bar: run, target, progress, counts by status,
//! completions per second, the last error (it says what to do), the last
//! note, and "? help". When the line is short, the least useful parts go
//! first; the error is cut, never dropped.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;
use trawl_scraper::record::Status;

use super::text::{put_spans, spans_width, thousands};
use super::theme::Theme;
use crate::model::State;

struct Part<'a> {
    /// Parts with the lowest priority are shortened, then dropped, first.
    priority: u8,
    spans: Vec<Span<'a>>,
    /// A shorter form to fall back to.
    short: Option<Vec<Span<'a>>>,
    /// May be cut to this many cells instead of dropped.
    min_width: Option<usize>,
}

fn gauge<'a>(done: usize, total: usize, cells: usize, theme: &Theme) -> Vec<Span<'a>> {
    const PARTIAL: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let eighths = (done.min(total) * cells * 8)
        .checked_div(total)
        .unwrap_or(0);
    let full = eighths / 8;
    let mut bar = "█".repeat(full);
    let mut used = full;
    if full < cells {
        bar.push_str(PARTIAL[eighths % 8]);
        if !eighths.is_multiple_of(8) {
            used += 1;
        }
    }
    let (on, off) = theme.gauge();
    vec![
        Span::styled(bar, on),
        Span::styled("·".repeat(cells - used), off),
        Span::raw(format!(" {}/{}", thousands(done), thousands(total))),
    ]
}

/// Completions per second over the window, newest on the right.
fn sparkline<'a>(state: &State, cells: usize, theme: &Theme) -> Vec<Span<'a>> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let b = &state.completions.buckets;
    let n = b.len().min(cells);
    let window = b.iter().skip(b.len() - n);
    let max = b.iter().skip(b.len() - n).copied().max().unwrap_or(0);
    let mut line = String::with_capacity(cells * 3);
    for _ in n..cells {
        line.push(' ');
    }
    for v in window {
        line.push(if *v == 0 || max == 0 {
            ' '
        } else {
            BARS[(v.saturating_mul(7) / max).min(7) as usize]
        });
    }
    // The rate: the last complete seconds (the newest bucket is filling).
    let complete: Vec<u64> = b.iter().rev().skip(1).take(10).copied().collect();
    let rate = if complete.is_empty() {
        0.0
    } else {
        complete.iter().sum::<u64>() as f64 / complete.len() as f64
    };
    let rate = if rate >= 10.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate:.1}/s")
    };
    vec![
        Span::styled(line, theme.accent()),
        Span::raw(format!(" {rate}")),
    ]
}

fn counts<'a>(state: &State, short: bool, theme: &Theme) -> Vec<Span<'a>> {
    let mut counts = Vec::new();
    for status in Status::ALL {
        let n = state.results.count(status);
        if n == 0 {
            continue;
        }
        if !counts.is_empty() {
            counts.push(Span::raw(" "));
        }
        let text = if short {
            // Q1,000 R20 D7,250 F500 B250
            format!("{}{}", &status.as_str()[..1], thousands(n))
        } else {
            format!("{} {}", thousands(n), status.as_str().to_lowercase())
        };
        counts.push(Span::styled(text, theme.status(status)));
    }
    counts
}

/// The last error on a line of its own (narrow screens), cut with "…" only
/// when wider than the screen.
pub fn draw_error(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    if let Some(e) = state.shown_error() {
        let spans = [Span::styled(format!("✗ {e}"), theme.error())];
        put_spans(
            buf,
            area.x + 1,
            area.y,
            area.width.saturating_sub(2),
            &spans,
        );
    }
}

/// The status line; the last error is in it unless `error_above` (then
/// [`draw_error`] draws it on the line above).
pub fn draw(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme, error_above: bool) {
    if area.is_empty() {
        return;
    }
    let res = &state.results;
    let wide = area.width >= 150;
    let mut parts: Vec<Part<'_>> = Vec::new();
    let part = |priority, spans, short| Part {
        priority,
        spans,
        short,
        min_width: None,
    };

    match &state.run {
        Some(r) => {
            // Short: the random suffix, which tells runs apart.
            let suffix = r.run_id.rsplit('-').next().unwrap_or(&r.run_id);
            parts.push(part(
                6,
                vec![Span::styled(r.run_id.clone(), theme.accent())],
                Some(vec![Span::styled(format!("r-…{suffix}"), theme.accent())]),
            ));
        }
        None => parts.push(part(6, vec![Span::styled("no run", theme.dim())], None)),
    }
    let target = state.run.as_ref().map_or(state.target, |r| r.target);
    parts.push(part(5, vec![Span::raw(target.as_str())], None));
    if state.submitting {
        parts.push(part(
            9,
            vec![Span::styled("submitting…", theme.warn())],
            None,
        ));
    }
    let total = state.run.as_ref().map_or(0, |r| r.url_count).max(res.len());
    if total > 0 {
        let done = res.finished();
        parts.push(part(
            8,
            gauge(done, total, if wide { 20 } else { 10 }, theme),
            Some(gauge(done, total, 5, theme)),
        ));
        let full = counts(state, false, theme);
        if !full.is_empty() {
            let short = counts(state, true, theme);
            parts.push(part(7, full, Some(short)));
        }
        if !state.completions.buckets.is_empty() {
            parts.push(part(
                3,
                sparkline(state, if wide { 30 } else { 12 }, theme),
                Some(sparkline(state, 6, theme)),
            ));
        }
    }
    if let Some(m) = &state.message {
        parts.push(Part {
            priority: 4,
            spans: vec![Span::styled(m.clone(), theme.ok())],
            short: None,
            min_width: Some(12),
        });
    }
    if let Some(e) = state.shown_error().filter(|_| !error_above) {
        parts.push(Part {
            priority: 10,
            spans: vec![Span::styled(format!("✗ {e}"), theme.error())],
            short: None,
            min_width: Some(24),
        });
    }

    let help = [
        Span::styled("?", theme.key()),
        Span::styled(" help", theme.dim()),
    ];
    let help_w = spans_width(&help) as u16;
    let show_help = area.width >= help_w + 12;
    let avail = usize::from(if show_help {
        area.width - help_w - 2
    } else {
        area.width
    });
    // " │ " between parts, one space at the left edge.
    let sep_w = 3usize;
    let needed = |parts: &[Part<'_>]| -> usize {
        parts.iter().map(|p| spans_width(&p.spans)).sum::<usize>()
            + sep_w * parts.len().saturating_sub(1)
            + 1
    };
    // Make room: short forms first (least useful part first), then drop
    // parts; the error and "submitting…" stay, cut if they must be.
    while needed(&parts) > avail {
        let shorten = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.short.is_some())
            .min_by_key(|(i, p)| (p.priority, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        let drop = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.priority < 9)
            .min_by_key(|(i, p)| (p.priority, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        match (shorten, drop) {
            (Some(i), _) => {
                let p = &mut parts[i];
                p.spans = p.short.take().unwrap_or_default();
            }
            (None, Some(i)) => {
                parts.remove(i);
            }
            (None, None) => break,
        }
    }
    let mut x = area.x + 1;
    let end = area.x + avail as u16;
    let n = parts.len();
    for (i, p) in parts.iter().enumerate() {
        if x >= end {
            break;
        }
        // Cuttable parts take what the rest leave them.
        let rest: usize = parts[i + 1..]
            .iter()
            .map(|p| p.min_width.unwrap_or_else(|| spans_width(&p.spans)) + sep_w)
            .sum();
        let room = usize::from(end - x);
        let room = if p.min_width.is_some() {
            room.saturating_sub(rest)
                .max(p.min_width.unwrap_or(0))
                .min(room)
        } else {
            room
        };
        let w = put_spans(buf, x, area.y, room as u16, &p.spans);
        x += w;
        if i + 1 < n && x + 3 < end {
            put_spans(buf, x, area.y, 3, &[Span::styled(" │ ", theme.dim())]);
            x += 3;
        }
    }
    if show_help {
        put_spans(buf, area.right() - help_w - 1, area.y, help_w, &help);
    }
}
