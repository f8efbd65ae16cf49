//! The URL editor: the text area with a gutter that marks each visible
//! line (✓ valid, ✗ invalid, = duplicate), the counts in the title and the
//! reason a line is bad in the bottom border. Only the visible lines are
//! looked at: the editor may hold 100,000 lines.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Widget;
use ratatui_textarea::WrapMode;

use super::Slot;
use super::text::{Titles, char_width, pane, put, thousands};
use super::theme::Theme;
use crate::model::{Pane, State};
use crate::urls::LineStatus;

const GUTTER: u16 = 2;

pub fn title<'a>(state: &State, theme: &Theme, focused: bool) -> Vec<Span<'a>> {
    let c = &state.editor.check;
    let count = |n: usize, what: &str, style: Style| {
        Span::styled(
            format!("{} {what}", thousands(n)),
            if n > 0 { style } else { theme.dim() },
        )
    };
    vec![
        Span::styled(Pane::Editor.title(), theme.title(focused)),
        Span::raw("  "),
        count(c.valid(), "valid", theme.ok()),
        Span::styled(" · ", theme.dim()),
        count(c.invalid, "invalid", theme.error()),
        Span::styled(" · ", theme.dim()),
        count(c.duplicates, "duplicate", theme.warn()),
    ]
}

/// What the bottom border says: the cursor line's problem, else the first
/// invalid line's, else (focused) how to go on.
fn bottom_note<'a>(state: &State, theme: &Theme, focused: bool) -> Vec<Span<'a>> {
    let check = &state.editor.check;
    let row = state.editor.textarea.cursor().0;
    match check.lines.get(row) {
        Some(LineStatus::Invalid(why)) => {
            return vec![Span::styled(
                format!("✗ line {}: {why}", row + 1),
                theme.error(),
            )];
        }
        Some(LineStatus::Duplicate(first)) => {
            return vec![Span::styled(
                format!("= line {} repeats line {}", row + 1, first + 1),
                theme.warn(),
            )];
        }
        _ => {}
    }
    if check.invalid > 0
        && let Some((i, why)) = check.first_invalid()
    {
        let mut note = vec![Span::styled(
            format!("✗ line {}: {why}", i + 1),
            theme.error(),
        )];
        if check.invalid > 1 {
            note.push(Span::styled(
                format!(" (+{} more)", thousands(check.invalid - 1)),
                theme.dim(),
            ));
        }
        return note;
    }
    if focused {
        vec![
            Span::styled("Ctrl-S", theme.key()),
            Span::styled(" submit · ", theme.dim()),
            Span::styled("Ctrl-O", theme.key()),
            Span::styled(" load · ", theme.dim()),
            Span::styled("Esc", theme.key()),
            Span::styled(" leave", theme.dim()),
        ]
    } else {
        Vec::new()
    }
}

/// Why a visible line is bad, after its text (when it does not wrap and
/// there is room): "← no scheme: …", "= line 1".
fn inline_note(
    buf: &mut Buffer,
    text_area: Rect,
    y: u16,
    row: usize,
    left: u16,
    state: &State,
    theme: &Theme,
) {
    let ta = &state.editor.textarea;
    if ta.wrap_mode() != WrapMode::None {
        return;
    }
    let note = match state.editor.check.lines.get(row) {
        Some(LineStatus::Invalid(why)) => format!("← {why}"),
        Some(LineStatus::Duplicate(first)) => format!("← same as line {}", first + 1),
        _ => return,
    };
    let Some(line) = ta.lines().get(row) else {
        return;
    };
    let tab = usize::from(ta.tab_length());
    let line_w: usize = line
        .chars()
        .map(|c| if c == '\t' { tab } else { char_width(c) })
        .sum();
    // The text's end on screen, one cell for the cursor after it, a gap.
    let end = line_w.saturating_sub(usize::from(left)) + 2;
    if end + 8 > usize::from(text_area.width) {
        return;
    }
    let style = match state.editor.check.lines.get(row) {
        Some(LineStatus::Invalid(_)) => theme.error(),
        _ => theme.warn(),
    };
    let x = text_area.x + end as u16;
    put(buf, x, y, text_area.right() - x, &note, theme.note(style));
}

pub fn draw(buf: &mut Buffer, slot: Slot, state: &State, theme: &Theme, focused: bool) {
    let ta = &state.editor.textarea;
    let expanded = !slot.collapsed && slot.area.height >= 3;
    let titles = Titles {
        top: title(state, theme, focused),
        bottom: if expanded {
            bottom_note(state, theme, focused)
        } else {
            Vec::new()
        },
        bottom_right: if expanded {
            vec![Span::styled(
                format!(
                    "ln {}/{}",
                    thousands(ta.cursor().0 + 1),
                    thousands(ta.lines().len())
                ),
                theme.dim(),
            )]
        } else {
            Vec::new()
        },
        ..Titles::default()
    };
    let inner = pane(buf, slot.area, theme, focused, slot.collapsed, &titles);
    if inner.is_empty() {
        return;
    }
    let gutter = if inner.width > GUTTER + 2 { GUTTER } else { 0 };
    let text_area = Rect {
        x: inner.x + gutter,
        width: inner.width - gutter,
        ..inner
    };
    ta.render(text_area, buf);
    if !focused {
        // Not being edited: no cursor block, no cursor-line underline.
        buf.set_style(
            text_area,
            Style::new().remove_modifier(Modifier::REVERSED | Modifier::UNDERLINED),
        );
    }
    if gutter == 0 || ta.is_empty() {
        return;
    }
    // The text area scrolled while it drew: its top screen row now says
    // which lines are visible. screen_to_data maps each row (soft-wrapped
    // or not) to its line; a row that continues a wrapped line, or repeats
    // the last line past the end, gets no mark.
    let (top, left) = ta.scroll_offset();
    let top = usize::from(top);
    let check = &state.editor.check;
    let mut prev = None;
    for i in 0..inner.height {
        let dc = ta.screen_to_data(top + usize::from(i), 0);
        if dc.1 != 0 || prev == Some(dc.0) {
            continue;
        }
        prev = Some(dc.0);
        let (mark, style) = match check.lines.get(dc.0) {
            Some(LineStatus::Valid) => ("✓", theme.ok()),
            Some(LineStatus::Invalid(_)) => ("✗", theme.error()),
            Some(LineStatus::Duplicate(_)) => ("=", theme.warn()),
            Some(LineStatus::Skipped) | None => continue,
        };
        put(buf, inner.x, inner.y + i, 1, mark, style);
        inline_note(buf, text_area, inner.y + i, dc.0, left, state, theme);
    }
}
