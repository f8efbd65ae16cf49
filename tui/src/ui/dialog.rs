//! Popups over the panes: the confirmations (submit, cancel, quit), the
//! load-file and filter inputs, and the runs list. Each says what will
//! happen and which keys do it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Clear, Widget};

use super::text::{
    Column, Titles, fit_columns, human_age, pane, parse_unix, put, put_right, put_spans,
    short_time, spans_width, thousands, width,
};
use super::theme::Theme;
use crate::model::State;

/// A centred box of at most `w` x `h` inside `area`, cleared and framed as
/// focused. Returns the inner area.
pub fn popup(
    buf: &mut Buffer,
    area: Rect,
    w: u16,
    h: u16,
    theme: &Theme,
    titles: &Titles<'_>,
) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    Clear.render(rect, buf);
    pane(buf, rect, theme, true, false, titles)
}

/// Greedy word wrap of plain text to `w` cells (long words are cut).
pub fn wrap(text: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut lw = 0;
    for word in text.split(' ') {
        let ww = width(word);
        if lw > 0 && lw + 1 + ww > w {
            lines.push(std::mem::take(&mut line));
            lw = 0;
        }
        if lw > 0 {
            line.push(' ');
            lw += 1;
        }
        line.push_str(word);
        lw += ww;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// "Enter/y confirm · Esc/n cancel"
pub fn key_hints<'a>(keys: &[(&'a str, &'a str)], theme: &Theme) -> Vec<Span<'a>> {
    let mut v = Vec::new();
    for (i, (k, what)) in keys.iter().enumerate() {
        if i > 0 {
            v.push(Span::styled(" · ", theme.dim()));
        }
        v.push(Span::styled(*k, theme.key()));
        v.push(Span::styled(format!(" {what}"), theme.dim()));
    }
    v
}

/// A confirmation: paragraphs (wrapped), then the key hints.
fn confirm(
    buf: &mut Buffer,
    area: Rect,
    theme: &Theme,
    title: &str,
    paragraphs: &[(String, Style)],
    keys: &[(&str, &str)],
) {
    let hints = key_hints(keys, theme);
    let max_w = area.width.saturating_sub(4).clamp(1, 64);
    let text_w = paragraphs
        .iter()
        .map(|(p, _)| width(p))
        .max()
        .unwrap_or(0)
        .max(spans_width(&hints))
        .max(width(title) + 4);
    let inner_w = (text_w as u16).min(max_w.saturating_sub(4)).max(1);
    let wrapped: Vec<(String, Style)> = paragraphs
        .iter()
        .flat_map(|(p, s)| wrap(p, inner_w.into()).into_iter().map(move |l| (l, *s)))
        .collect();
    let h = wrapped.len() as u16 + 5;
    let titles = Titles {
        top: vec![Span::styled(title.to_owned(), theme.title(true))],
        ..Titles::default()
    };
    let inner = popup(buf, area, inner_w + 4 + 2, h, theme, &titles);
    if inner.is_empty() {
        return;
    }
    // The frame pads by one cell; one more reads as a dialog.
    let x = inner.x + 1;
    let w = inner.width.saturating_sub(2);
    let mut y = inner.y + 1;
    for (line, style) in &wrapped {
        if y >= inner.bottom() {
            return;
        }
        put(buf, x, y, w, line, *style);
        y += 1;
    }
    let hy = inner.bottom().saturating_sub(1).max(y);
    if hy < inner.bottom() {
        put_spans(buf, x, hy, w, &hints);
    }
}

pub fn confirm_submit(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let c = &state.editor.check;
    let target = state.target;
    let mut p = vec![(
        format!("Submit {} URLs to {target}?", thousands(c.valid())),
        theme.bold(),
    )];
    let mut skipped = Vec::new();
    if c.invalid > 0 {
        skipped.push(format!("{} invalid", thousands(c.invalid)));
    }
    if c.duplicates > 0 {
        skipped.push(format!("{} duplicate", thousands(c.duplicates)));
    }
    if !skipped.is_empty() {
        p.push((
            format!("{} lines will be skipped.", skipped.join(" and ")),
            theme.warn(),
        ));
    }
    if c.valid() == 0 {
        p.push(("There is no valid URL to submit.".into(), theme.error()));
    }
    if let Some(why) = state
        .target_option(target)
        .and_then(|o| o.unavailable.as_deref())
    {
        p.push((format!("{target} is unavailable: {why}"), theme.error()));
    }
    confirm(
        buf,
        area,
        theme,
        "Submit",
        &p,
        &[("Enter/y", "confirm"), ("Esc/n", "cancel")],
    );
}

pub fn confirm_cancel(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let (run_id, total) = match &state.run {
        Some(r) => (r.run_id.as_str(), r.url_count.max(state.results.len())),
        None => ("(none)", state.results.len()),
    };
    let left = total.saturating_sub(state.results.finished());
    let p = [
        (format!("Cancel run {run_id}?"), theme.bold()),
        (
            format!(
                "{} URLs not finished will be marked FAILED (cancelled).",
                thousands(left)
            ),
            theme.warn(),
        ),
    ];
    confirm(
        buf,
        area,
        theme,
        "Cancel run",
        &p,
        &[("Enter/y", "cancel the run"), ("Esc/n", "keep it")],
    );
}

pub fn confirm_quit(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let text = match state.fleet.launch.filter(|l| l.waiting > 0) {
        Some(l) => format!(
            "This trawl is still launching the run's ECS tasks: quitting leaves {} URLs QUEUED and stops relaunching tasks that fail. Quit anyway?",
            thousands(l.waiting)
        ),
        None => "A run is in flight: quitting stops its local workers. Quit anyway?".to_owned(),
    };
    let p = [(text, theme.bold())];
    confirm(
        buf,
        area,
        theme,
        "Quit",
        &p,
        &[("Enter/y", "quit"), ("Esc/n", "stay")],
    );
}

/// "Load file: PATH▏", the path's end kept in view.
pub fn load_file(buf: &mut Buffer, area: Rect, path: &str, theme: &Theme) {
    let titles = Titles {
        top: vec![Span::styled("Load file", theme.title(true))],
        bottom: key_hints(&[("Enter", "load"), ("Esc", "cancel")], theme),
        ..Titles::default()
    };
    let w = area.width.saturating_sub(4).min(90);
    let inner = popup(buf, area, w, 3, theme, &titles);
    input_line(buf, inner, "Load file: ", path, theme);
}

/// A one-line input: prompt, text (its end kept in view) and a cursor bar.
pub fn input_line(buf: &mut Buffer, inner: Rect, prompt: &str, text: &str, theme: &Theme) {
    if inner.is_empty() {
        return;
    }
    let x = inner.x + 1;
    let w = inner.width.saturating_sub(2);
    let pw = put(buf, x, inner.y, w, prompt, theme.dim());
    let room = usize::from(w.saturating_sub(pw + 1));
    let tw = width(text);
    let shown: std::borrow::Cow<'_, str> = if tw <= room {
        text.into()
    } else {
        // Keep the end (where the cursor is): "…" and the last cells.
        let mut tail_w = 0;
        let mut cut = text.len();
        for (i, c) in text.char_indices().rev() {
            let cw = super::text::char_width(c);
            if tail_w + cw + 1 > room {
                break;
            }
            tail_w += cw;
            cut = i;
        }
        format!("…{}", &text[cut..]).into()
    };
    let n = put(buf, x + pw, inner.y, room as u16, &shown, theme.text());
    put(buf, x + pw + n, inner.y, 1, "▏", theme.input_cursor());
}

/// The filter input as a popup, for when the results pane is too small to
/// carry it in its border.
pub fn filter(buf: &mut Buffer, area: Rect, text: &str, theme: &Theme) {
    let titles = Titles {
        top: vec![Span::styled("Filter results", theme.title(true))],
        bottom: key_hints(&[("Enter", "apply"), ("Esc", "cancel")], theme),
        ..Titles::default()
    };
    let w = area.width.saturating_sub(4).min(60);
    let inner = popup(buf, area, w, 3, theme, &titles);
    input_line(buf, inner, "/", text, theme);
}

pub fn runs(buf: &mut Buffer, area: Rect, state: &State, selected: usize, theme: &Theme) {
    let titles = Titles {
        top: vec![
            Span::styled("Runs", theme.title(true)),
            Span::raw(format!("  {} earlier", thousands(state.runs.len()))),
        ],
        bottom: key_hints(
            &[("↑↓", "choose"), ("Enter", "attach"), ("Esc", "close")],
            theme,
        ),
        ..Titles::default()
    };
    let w = area.width.saturating_sub(4).min(100);
    let h = (state.runs.len() as u16)
        .saturating_add(3)
        .max(5)
        .min(area.height.saturating_sub(2).max(3));
    let inner = popup(buf, area, w, h, theme, &titles);
    if inner.is_empty() {
        return;
    }
    let body = inner;
    if state.runs.is_empty() {
        put(
            buf,
            body.x,
            body.y,
            body.width,
            "no earlier runs found: submit one with Ctrl-S",
            theme.dim(),
        );
        return;
    }
    let cols = [
        Column::fixed(22, 9),
        Column::fixed(6, 6),
        Column::flex(20, 30, 3),
        Column::fixed(13, 8),
        Column::fixed(6, 5),
    ];
    let fit = fit_columns(&cols, body.width);
    let at = |i: usize| fit[i].map(|(x, w)| (body.x + x, w));
    let headers = ["RUN", "TARGET", "CREATED", "FINISHED", "FAILED"];
    for (i, h) in headers.into_iter().enumerate() {
        if let Some((x, w)) = at(i) {
            if i >= 3 {
                put_right(buf, x, body.y, w, h, theme.heading());
            } else {
                put(buf, x, body.y, w, h, theme.heading());
            }
        }
    }
    let rows = usize::from(body.height.saturating_sub(1));
    let sel = selected.min(state.runs.len() - 1);
    let start = super::results::window_start(sel, state.runs.len(), rows);
    for (k, run) in state.runs.iter().enumerate().skip(start).take(rows) {
        let y = body.y + 1 + (k - start) as u16;
        if k == sel {
            buf.set_style(
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
                theme.selected(true),
            );
        }
        let info = &run.info;
        let total = info.url_count;
        if let Some((x, w)) = at(0) {
            put(buf, x, y, w, &info.run_id, theme.text());
        }
        if let Some((x, w)) = at(1) {
            put(buf, x, y, w, info.target.as_str(), theme.accent());
        }
        if let Some((x, w)) = at(2) {
            // The age first: it is what tells runs apart at a glance.
            let at = short_time(&info.created_at);
            let created = match parse_unix(&info.created_at) {
                Some(t) => {
                    let age = human_age(state.now.saturating_sub(t).max(0) as u64);
                    format!("{age:>3} ago  {}", at.get(5..16).unwrap_or(&at))
                }
                None => at,
            };
            put(buf, x, y, w, &created, theme.dim());
        }
        if !run.counted {
            // Not counted (older AWS runs): attaching reads them.
            if let Some((x, w)) = at(3) {
                let text = format!("?/{}", thousands(total));
                put_right(buf, x, y, w, &text, theme.dim());
            }
            if let Some((x, w)) = at(4) {
                put_right(buf, x, y, w, "?", theme.dim());
            }
            continue;
        }
        if let Some((x, w)) = at(3) {
            let style = if run.finished >= total {
                theme.ok()
            } else {
                theme.text()
            };
            let text = format!("{}/{}", thousands(run.finished), thousands(total));
            put_right(buf, x, y, w, &text, style);
        }
        if let Some((x, w)) = at(4) {
            let style = if run.failed > 0 {
                theme.error()
            } else {
                theme.dim()
            };
            put_right(buf, x, y, w, &thousands(run.failed), style);
        }
    }
}
