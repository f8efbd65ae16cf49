//! Every key, grouped. Two columns when there is room, one otherwise.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;

use super::dialog::{key_hints, popup};
use super::text::{Titles, put};
use super::theme::Theme;

type Group = (&'static str, &'static [(&'static str, &'static str)]);

pub const GROUPS: [Group; 4] = [
    (
        "Move",
        &[
            ("Tab/Shift-Tab", "next/previous pane"),
            ("Esc", "leave the editor"),
            ("↑↓←→ / hjkl", "move"),
            ("Enter", "details of the result"),
        ],
    ),
    (
        "Run",
        &[
            ("Ctrl-S", "submit (asks first)"),
            ("Enter / y", "confirm"),
            ("Esc / n", "cancel"),
            ("Ctrl-O", "load a file of URLs"),
            ("t", "cycle the target"),
            ("x", "cancel the run"),
            ("r", "runs list (reattach)"),
            ("e", "Elastic IP pool"),
        ],
    ),
    (
        "Results",
        &[
            ("/", "filter the results"),
            ("s", "sort by the next column"),
            ("S", "reverse the sort"),
            ("f", "follow the newest"),
            ("y", "copy URL+object (OSC52)"),
            ("p (details)", "copy the body's link"),
        ],
    ),
    (
        "Program",
        &[
            ("?", "this help"),
            ("q", "quit (outside editor)"),
            ("Ctrl-C", "quit (asks mid-submit)"),
        ],
    ),
];

const KEY_W: u16 = 14;
const DESC_W: u16 = 24;

fn group_height(g: &Group) -> u16 {
    g.1.len() as u16 + 1
}

fn draw_group(
    buf: &mut Buffer,
    x: u16,
    y: &mut u16,
    w: u16,
    bottom: u16,
    g: &Group,
    theme: &Theme,
) {
    if *y >= bottom {
        return;
    }
    put(buf, x, *y, w, g.0, theme.heading());
    *y += 1;
    for (key, what) in g.1 {
        if *y >= bottom {
            return;
        }
        let kw = KEY_W.min(w);
        put(buf, x, *y, kw, key, theme.key());
        put(buf, x + kw, *y, w.saturating_sub(kw), what, theme.text());
        *y += 1;
    }
}

pub fn draw(buf: &mut Buffer, area: Rect, theme: &Theme) {
    let col_w = KEY_W + DESC_W;
    // Two columns side by side fit in 80 cells.
    let two = area.width >= col_w * 2 + 4;
    let (left, right): (&[Group], &[Group]) = if two {
        (&GROUPS[..2], &GROUPS[2..])
    } else {
        (&GROUPS[..], &[])
    };
    let height = |gs: &[Group]| -> u16 {
        gs.iter().map(group_height).sum::<u16>() + gs.len().saturating_sub(1) as u16
    };
    let content_h = height(left).max(height(right));
    // A single column at 80x24 leaves no blank line between groups.
    let tight = !two && content_h + 2 > area.height;
    let h = if tight {
        content_h - (left.len() as u16 - 1) + 2
    } else {
        content_h + 2
    };
    let w = if two { col_w * 2 + 4 } else { col_w + 4 };
    let titles = Titles {
        top: vec![Span::styled("Keys", theme.title(true))],
        bottom: key_hints(&[("Esc / ?", "close")], theme),
        ..Titles::default()
    };
    let inner = popup(buf, area, w, h, theme, &titles);
    if inner.is_empty() {
        return;
    }
    // The frame pads the content by one cell already.
    let (pad, cw) = if two {
        (0, (inner.width.saturating_sub(1)) / 2)
    } else {
        (0, inner.width)
    };
    for (ci, groups) in [left, right].into_iter().enumerate() {
        let x = inner.x + pad + ci as u16 * (cw + 1);
        let mut y = inner.y;
        for (i, g) in groups.iter().enumerate() {
            if i > 0 && !tight {
                y += 1;
            }
            draw_group(buf, x, &mut y, cw, inner.bottom(), g, theme);
        }
    }
}
