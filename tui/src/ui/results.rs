//! The results table, virtualised: only the rows in the window around the
//! selection are looked at and formatted, so 10,000 rows cost what 50 do.
//! Rows are coloured by status, and by verdict when suspicious or worse.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use trawl_scraper::record::{Record, Status, Verdict};

use super::Slot;
use super::text::{
    Column, Titles, fit_columns, human_bytes, human_ms, pane, parse_unix, put, put_right,
    put_spans, short_node, thousands, width,
};
use super::theme::Theme;
use crate::model::results::duration_ms;
use crate::model::{Pane, SortKey, State};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Url,
    Status,
    Ip,
    Node,
    Http,
    Bytes,
    Verdict,
    Finding,
    Duration,
}

const COLS: [Col; 9] = [
    Col::Url,
    Col::Status,
    Col::Ip,
    Col::Node,
    Col::Http,
    Col::Bytes,
    Col::Verdict,
    Col::Finding,
    Col::Duration,
];

impl Col {
    fn header(self) -> &'static str {
        match self {
            Col::Url => "URL",
            Col::Status => "STATUS",
            Col::Ip => "EGRESS IP",
            Col::Node => "NODE",
            Col::Http => "HTTP",
            Col::Bytes => "BYTES",
            Col::Verdict => "VERDICT",
            Col::Finding => "TOP FINDING",
            Col::Duration => "DURATION",
        }
    }

    fn sort_key(self) -> Option<SortKey> {
        Some(match self {
            Col::Url => SortKey::Url,
            Col::Status => SortKey::Status,
            Col::Ip => SortKey::EgressIp,
            Col::Http => SortKey::HttpStatus,
            Col::Bytes => SortKey::Bytes,
            Col::Verdict => SortKey::Verdict,
            Col::Duration => SortKey::Duration,
            Col::Node | Col::Finding => return None,
        })
    }

    fn right_aligned(self) -> bool {
        matches!(self, Col::Bytes | Col::Duration | Col::Http)
    }

    /// Width and priority (lowest is dropped first when narrow).
    fn column(self, ip_w: u16, url_min: u16) -> Column {
        match self {
            Col::Url => Column::flex(url_min, 1000, 10),
            Col::Status => Column::fixed(7, 9),
            Col::Ip => Column::fixed(ip_w, 7),
            Col::Node => Column::fixed(16, 2),
            Col::Http => Column::fixed(4, 5),
            Col::Bytes => Column::fixed(9, 3),
            Col::Verdict => Column::fixed(13, 8),
            Col::Finding => Column::fixed(22, 6),
            Col::Duration => Column::fixed(8, 1),
        }
    }
}

fn arrow(descending: bool) -> &'static str {
    if descending { "↓" } else { "↑" }
}

pub fn title<'a>(state: &State, theme: &Theme, focused: bool) -> Vec<Span<'a>> {
    let res = &state.results;
    let sep = || Span::styled(" · ", theme.dim());
    let mut t = vec![
        Span::styled(Pane::Results.title(), theme.title(focused)),
        Span::raw("  "),
    ];
    if res.filter.is_empty() {
        t.push(Span::raw(format!("{} URLs", thousands(res.len()))));
    } else {
        t.push(Span::raw(format!(
            "{} of {}",
            thousands(res.view_len()),
            thousands(res.len())
        )));
    }
    t.push(sep());
    t.push(Span::styled("sort ", theme.dim()));
    t.push(Span::raw(format!(
        "{} {}",
        res.sort.name(),
        arrow(res.descending)
    )));
    if !res.filter.is_empty() {
        t.push(sep());
        t.push(Span::styled("filter ", theme.dim()));
        t.push(Span::styled(format!("\"{}\"", res.filter), theme.accent()));
    }
    if res.follow {
        t.push(sep());
        t.push(Span::styled("follow", theme.accent()));
    }
    t
}

/// The first row of the window: the selection stays in view, centred when
/// it can be (the table has no scroll position of its own).
pub fn window_start(selected: usize, len: usize, rows: usize) -> usize {
    if rows == 0 || len <= rows {
        return 0;
    }
    selected.saturating_sub(rows / 2).min(len - rows)
}

/// The row's style: its status, overridden by a bad verdict.
pub fn row_style(r: &Record, theme: &Theme) -> Style {
    let base = theme.status(r.status());
    match r.verdict.and_then(|v| theme.verdict(v)) {
        Some(v) => base.patch(v),
        None => base,
    }
}

fn hints<'a>(theme: &Theme) -> Vec<Span<'a>> {
    let mut v = Vec::new();
    for (i, (k, what)) in [
        ("/", "filter"),
        ("s", "sort"),
        ("S", "reverse"),
        ("f", "follow"),
        ("Enter", "detail"),
        ("y", "copy"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            v.push(Span::styled(" · ", theme.dim()));
        }
        v.push(Span::styled(k, theme.key()));
        v.push(Span::styled(format!(" {what}"), theme.dim()));
    }
    v
}

/// The filter being typed, as it shows in the bottom border: "/TEXT▏".
pub fn filter_input<'a>(text: &str, theme: &Theme) -> Vec<Span<'a>> {
    vec![
        Span::styled("/", theme.key()),
        Span::raw(text.to_owned()),
        Span::styled("▏", theme.input_cursor()),
    ]
}

pub fn draw(
    buf: &mut Buffer,
    slot: Slot,
    state: &State,
    theme: &Theme,
    focused: bool,
    filter: Option<&str>,
) {
    let res = &state.results;
    let expanded = !slot.collapsed && slot.area.height >= 3;
    let mut titles = Titles {
        top: title(state, theme, focused),
        ..Titles::default()
    };
    if expanded {
        titles.bottom = match filter {
            Some(text) => filter_input(text, theme),
            None if focused => hints(theme),
            None => Vec::new(),
        };
        if res.view_len() > 0 {
            titles.bottom_right = vec![Span::styled(
                format!(
                    "{}/{}",
                    thousands(res.selected.min(res.view_len() - 1) + 1),
                    thousands(res.view_len())
                ),
                theme.dim(),
            )];
        }
    }
    let inner = pane(buf, slot.area, theme, focused, slot.collapsed, &titles);
    if inner.is_empty() {
        return;
    }
    if res.view_len() == 0 {
        let text = if !res.filter.is_empty() && !res.is_empty() {
            format!(
                "no rows match the filter \"{}\": press / to change it",
                res.filter
            )
        } else if let Some(run) = &state.run {
            format!(
                "waiting for the first records of {} ({} URLs)…",
                run.run_id,
                thousands(run.url_count)
            )
        } else {
            "no run yet: paste URLs, pick a target, press Ctrl-S".to_owned()
        };
        put(buf, inner.x, inner.y, inner.width, &text, theme.dim());
        return;
    }

    let rows = usize::from(inner.height.saturating_sub(1));
    let len = res.view_len();
    let selected = res.selected.min(len - 1);
    let start = window_start(selected, len, rows);
    let end = (start + rows).min(len);

    // The egress IP column widens only for what is on screen (IPv6).
    let ip_w = (start..end)
        .filter_map(|i| res.view_row(i)?.egress_ip.as_deref().map(width))
        .max()
        .unwrap_or(0)
        .clamp(15, 39) as u16;
    // The URL keeps two fifths of the width (up to 36 cells) before the
    // other columns: columns are dropped rather than the URL squeezed.
    let url_min = (u32::from(inner.width) * 2 / 5).clamp(24, 36) as u16;
    let cols: Vec<Column> = COLS.iter().map(|c| c.column(ip_w, url_min)).collect();
    let fit = fit_columns(&cols, inner.width);

    // Header.
    for (c, f) in COLS.iter().zip(&fit) {
        let Some((x, w)) = *f else { continue };
        let x = inner.x + x;
        let mut h = c.header().to_owned();
        if c.sort_key() == Some(res.sort) {
            h.push(' ');
            h.push_str(arrow(res.descending));
        }
        if c.right_aligned() {
            put_right(buf, x, inner.y, w, &h, theme.heading());
        } else {
            put(buf, x, inner.y, w, &h, theme.heading());
        }
    }

    for (k, i) in (start..end).enumerate() {
        let Some(r) = res.view_row(i) else { break };
        let y = inner.y + 1 + k as u16;
        let style = row_style(r, theme);
        if i == selected {
            // Border to border, padding included.
            let row = Rect {
                x: slot.area.x + 1,
                y,
                width: slot.area.width.saturating_sub(2),
                height: 1,
            };
            buf.set_style(row, theme.selected(focused));
        }
        for (c, f) in COLS.iter().zip(&fit) {
            let Some((x, w)) = *f else { continue };
            draw_cell(buf, inner.x + x, y, w, *c, r, style, state, theme);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_cell(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    w: u16,
    col: Col,
    r: &Record,
    style: Style,
    state: &State,
    theme: &Theme,
) {
    let dash = |buf: &mut Buffer| {
        if col.right_aligned() {
            put_right(buf, x, y, w, "-", theme.dim());
        } else {
            put(buf, x, y, w, "-", theme.dim());
        }
    };
    match col {
        Col::Url => {
            put(buf, x, y, w, &r.url, style);
        }
        Col::Status => {
            put(buf, x, y, w, r.status().as_str(), style);
        }
        Col::Ip => match r.egress_ip.as_deref() {
            Some(ip) => {
                put(buf, x, y, w, ip, style);
            }
            None => dash(buf),
        },
        Col::Node => match r.node.as_deref() {
            Some(n) => {
                put(buf, x, y, w, short_node(n), style);
            }
            None => dash(buf),
        },
        Col::Http => match r.http_status {
            Some(code) => {
                let s = if code >= 400 { theme.warn() } else { style };
                put_right(buf, x, y, w, &code.to_string(), s);
            }
            None => dash(buf),
        },
        Col::Bytes => match r.bytes {
            Some(b) => {
                put_right(buf, x, y, w, &human_bytes(b), style);
            }
            None => dash(buf),
        },
        Col::Verdict => match r.verdict {
            Some(v) => {
                let text = match r.score {
                    Some(s) => format!("{} {s}", v.as_str()),
                    None => v.as_str().to_owned(),
                };
                let s = match v {
                    Verdict::Clean => style.patch(theme.ok()),
                    _ => style,
                };
                put(buf, x, y, w, &text, s);
            }
            None => dash(buf),
        },
        Col::Finding => {
            if let Some(f) = r.findings.first() {
                let mut spans = vec![Span::styled(
                    f.rule.as_str(),
                    style.patch(theme.severity(f.severity)),
                )];
                if r.findings.len() > 1 {
                    spans.push(Span::styled(
                        format!(" +{}", r.findings.len() - 1),
                        theme.dim(),
                    ));
                }
                put_spans(buf, x, y, w, &spans);
            } else if let Some(e) = r.error.as_deref().filter(|_| r.status().is_final()) {
                put(buf, x, y, w, e, style);
            }
        }
        Col::Duration => {
            if let Some(ms) = duration_ms(r) {
                put_right(buf, x, y, w, &human_ms(ms), style);
            } else if r.status() == Status::Running
                && let Some(start) = r.started_at.as_deref().and_then(parse_unix)
            {
                let text = format!(
                    "{}…",
                    human_ms(state.now.saturating_sub(start).saturating_mul(1000))
                );
                put_right(buf, x, y, w, &text, style);
            } else {
                dash(buf);
            }
        }
    }
}
