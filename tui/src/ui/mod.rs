//! Drawing: `draw(frame, &state)`, no side effects. One file per widget.
//!
//! Layout: wide screens (120 columns and 20 rows or more) put the editor,
//! the target selector and the IP summary in a left column and the fleet
//! map over the results table on the right; the focused pane gets more of
//! its column. Smaller screens stack the panes: the focused one gets the
//! room, the others shrink to their title line (which carries their key
//! facts), and the results table takes what the focused pane does not
//! need. A one-line status bar is always at the bottom.

pub mod detail;
pub mod dialog;
pub mod editor;
pub mod fleet;
pub mod help;
pub mod ip_summary;
pub mod pool;
pub mod results;
pub mod status_bar;
pub mod targets;
pub mod text;
pub mod theme;

use crate::model::{Overlay, Pane, State};
use ratatui::Frame;
use ratatui::layout::Rect;

use theme::Theme;

/// Where a pane goes: its area (empty: not shown) and whether it is
/// collapsed to its title line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    pub area: Rect,
    pub collapsed: bool,
}

impl Slot {
    fn open(area: Rect) -> Self {
        Slot {
            area,
            collapsed: false,
        }
    }
}

/// Every pane's place, the status bar, and the area overlays centre in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    pub editor: Slot,
    pub targets: Slot,
    pub fleet: Slot,
    pub results: Slot,
    pub ips: Slot,
    pub status: Rect,
    pub main: Rect,
}

impl Areas {
    fn slot_mut(&mut self, pane: Pane) -> &mut Slot {
        match pane {
            Pane::Editor => &mut self.editor,
            Pane::Targets => &mut self.targets,
            Pane::Fleet => &mut self.fleet,
            Pane::Results => &mut self.results,
            Pane::IpSummary => &mut self.ips,
        }
    }
}

/// Rows each pane would like inside its border, when expanded.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub targets: u16,
    pub fleet: u16,
    pub ips: u16,
}

pub const WIDE_MIN_WIDTH: u16 = 120;
pub const WIDE_MIN_HEIGHT: u16 = 20;
/// Below this width the last error gets a line above the status bar.
pub const ERROR_INLINE_MIN_WIDTH: u16 = 150;

/// `status_lines`: 1, or 2 with the error line above the status bar.
pub fn layout(area: Rect, focus: Pane, wanted: Wanted, status_lines: u16) -> Areas {
    let mut a = Areas::default();
    if area.is_empty() {
        return a;
    }
    let main = if area.height >= 2 {
        let lines = status_lines.clamp(1, area.height - 1);
        a.status = Rect {
            y: area.bottom() - lines,
            height: lines,
            ..area
        };
        Rect {
            height: area.height - lines,
            ..area
        }
    } else {
        a.status = area;
        Rect { height: 0, ..area }
    };
    a.main = main;
    if main.is_empty() {
        return a;
    }
    if area.width >= WIDE_MIN_WIDTH && area.height >= WIDE_MIN_HEIGHT {
        wide(&mut a, main, focus, wanted);
    } else {
        stacked(&mut a, main, focus, wanted);
    }
    a
}

/// `n * num / den` without overflow.
fn fraction(n: u16, num: u32, den: u32) -> u16 {
    (u32::from(n) * num / den) as u16
}

fn wide(a: &mut Areas, main: Rect, focus: Pane, wanted: Wanted) {
    let h = main.height;
    // The editor's column widens while it is being edited.
    let left_w = if focus == Pane::Editor {
        fraction(main.width, 2, 5).clamp(32, 80)
    } else {
        (main.width / 4).clamp(32, 56)
    };
    let left = Rect {
        width: left_w,
        ..main
    };
    let right = Rect {
        x: main.x + left_w,
        width: main.width - left_w,
        ..main
    };

    // Left: editor over targets over the IP summary.
    let targets_h = (wanted.targets + 2).clamp(3, 7).min(h / 3);
    let ips_max = if focus == Pane::IpSummary {
        h / 2
    } else {
        h / 3
    };
    let ips_h = (wanted.ips + 2)
        .clamp(6, ips_max.max(6))
        .min(h - targets_h - 3);
    let editor_h = h - targets_h - ips_h;
    a.editor = Slot::open(Rect {
        height: editor_h,
        ..left
    });
    a.targets = Slot::open(Rect {
        y: left.y + editor_h,
        height: targets_h,
        ..left
    });
    a.ips = Slot::open(Rect {
        y: left.y + editor_h + targets_h,
        height: ips_h,
        ..left
    });

    // Right: the fleet map over the results table (the biggest).
    let fleet_max = if focus == Pane::Fleet {
        fraction(h, 3, 5)
    } else {
        fraction(h, 2, 5)
    };
    let fleet_h = (wanted.fleet + 2).clamp(4, fleet_max.max(4));
    a.fleet = Slot::open(Rect {
        height: fleet_h,
        ..right
    });
    a.results = Slot::open(Rect {
        y: right.y + fleet_h,
        height: h - fleet_h,
        ..right
    });
}

/// The panes stacked: the focused one expanded, the others one line each;
/// what the focused one does not need goes to the results table.
fn stacked(a: &mut Areas, main: Rect, focus: Pane, wanted: Wanted) {
    let h = main.height;
    let others = Pane::ORDER.len() as u16 - 1;
    if h < others + 3 {
        // Too short for the title lines: the focused pane alone.
        *a.slot_mut(focus) = Slot::open(main);
        return;
    }
    let free = h - others;
    let want = match focus {
        Pane::Targets => wanted.targets + 2,
        Pane::Fleet => wanted.fleet + 2,
        Pane::IpSummary => wanted.ips + 2,
        Pane::Editor | Pane::Results => u16::MAX,
    }
    .max(3);
    let mut heights = [1u16; 5];
    let fi = Pane::ORDER.iter().position(|p| *p == focus).unwrap_or(0);
    let ri = Pane::ORDER
        .iter()
        .position(|p| *p == Pane::Results)
        .unwrap_or(3);
    let focus_h = want.min(free);
    let spare = free - focus_h;
    if spare >= 3 && fi != ri {
        heights[fi] = focus_h;
        heights[ri] = 1 + spare;
    } else {
        heights[fi] = free;
    }
    let mut y = main.y;
    for (i, pane) in Pane::ORDER.into_iter().enumerate() {
        let area = Rect {
            y,
            height: heights[i],
            ..main
        };
        *a.slot_mut(pane) = Slot {
            area,
            collapsed: heights[i] < 3,
        };
        y += heights[i];
    }
}

pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let buf = frame.buffer_mut();
    let theme = Theme::new(state.monochrome);
    if area.is_empty() {
        return;
    }
    let ips = ip_summary::IpStats::compute(state);
    let facts = fleet::Facts::of(&state.fleet);
    let wanted = Wanted {
        targets: state.targets.len() as u16,
        fleet: facts.wanted_rows(),
        ips: ips.wanted_rows(),
    };
    // Narrow screens give the last error a line of its own: it says what
    // to do, and the status line has no room to say it in full.
    let error_line =
        state.shown_error().is_some() && area.width < ERROR_INLINE_MIN_WIDTH && area.height >= 12;
    let a = layout(area, state.focus, wanted, if error_line { 2 } else { 1 });
    let focus = state.focus;

    let filter = match &state.overlay {
        Some(Overlay::Filter { text }) => Some(text.as_str()),
        _ => None,
    };
    editor::draw(buf, a.editor, state, &theme, focus == Pane::Editor);
    targets::draw(buf, a.targets, state, &theme, focus == Pane::Targets);
    fleet::draw(buf, a.fleet, state, &facts, &theme, focus == Pane::Fleet);
    results::draw(
        buf,
        a.results,
        state,
        &theme,
        focus == Pane::Results,
        filter,
    );
    ip_summary::draw(buf, a.ips, state, &ips, &theme, focus == Pane::IpSummary);
    if error_line {
        status_bar::draw_error(
            buf,
            Rect {
                height: 1,
                ..a.status
            },
            state,
            &theme,
        );
        let line = Rect {
            y: a.status.bottom() - 1,
            height: 1,
            ..a.status
        };
        status_bar::draw(buf, line, state, &theme, true);
    } else {
        status_bar::draw(buf, a.status, state, &theme, false);
    }

    let over = if a.main.is_empty() { area } else { a.main };
    match &state.overlay {
        None => {}
        Some(Overlay::Help) => help::draw(buf, over, &theme),
        Some(Overlay::ConfirmSubmit) => dialog::confirm_submit(buf, over, state, &theme),
        Some(Overlay::ConfirmCancel) => dialog::confirm_cancel(buf, over, state, &theme),
        Some(Overlay::ConfirmQuit) => dialog::confirm_quit(buf, over, state, &theme),
        Some(Overlay::Detail { url_key, scroll }) => {
            detail::draw(buf, over, state, url_key, *scroll, &theme);
        }
        Some(Overlay::Runs { selected }) => dialog::runs(buf, over, state, *selected, &theme),
        Some(Overlay::LoadFile { path }) => dialog::load_file(buf, over, path, &theme),
        Some(Overlay::Pool { scroll }) => pool::draw(buf, over, state, *scroll, &theme),
        // Typed in the results pane's bottom border when it has one.
        Some(Overlay::Filter { text }) if a.results.collapsed || a.results.area.height < 3 => {
            let bottom = Rect {
                y: over.bottom().saturating_sub(3).max(over.y),
                height: 3.min(over.height),
                ..over
            };
            dialog::filter(buf, bottom, text, &theme);
        }
        Some(Overlay::Filter { .. }) => {}
    }
    if state.monochrome {
        Theme::strip_colours(buf);
    }
}
