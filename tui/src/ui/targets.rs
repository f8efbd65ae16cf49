//! The target selector: local, EKS, ECS. The selected one is marked; one
//! that cannot be used now is greyed with the reason after it.

use ratatui::buffer::Buffer;
use ratatui::text::Span;
use trawl_scraper::record::Target;

use super::Slot;
use super::text::{Titles, pane, put, put_spans};
use super::theme::Theme;
use crate::model::{Pane, State};

fn what(target: Target) -> &'static str {
    match target {
        Target::Local => "this machine",
        Target::Eks => "Kubernetes Jobs, pool EIPs",
        Target::Ecs => "Fargate tasks, public IPs",
    }
}

pub fn title<'a>(state: &State, theme: &Theme, focused: bool) -> Vec<Span<'a>> {
    let mut t = vec![
        Span::styled(Pane::Targets.title(), theme.title(focused)),
        Span::raw("  "),
        Span::styled(state.target.as_str(), theme.accent()),
    ];
    if let Some(why) = state
        .target_option(state.target)
        .and_then(|o| o.unavailable.as_deref())
    {
        t.push(Span::styled(format!(" (unavailable: {why})"), theme.warn()));
    }
    t
}

pub fn draw(buf: &mut Buffer, slot: Slot, state: &State, theme: &Theme, focused: bool) {
    let titles = Titles {
        top: title(state, theme, focused),
        top_right: vec![
            Span::styled("t", theme.key()),
            Span::styled(" cycle", theme.dim()),
        ],
        ..Titles::default()
    };
    let inner = pane(buf, slot.area, theme, focused, slot.collapsed, &titles);
    if inner.is_empty() {
        return;
    }
    let name_w = 7u16;
    for (i, opt) in state.targets.iter().take(inner.height as usize).enumerate() {
        let y = inner.y + i as u16;
        let selected = opt.target == state.target;
        let (marker, name_style) = match (selected, opt.unavailable.is_some()) {
            (true, false) => ("▸", theme.accent()),
            (true, true) => ("▸", theme.warn()),
            (false, false) => (" ", theme.text()),
            (false, true) => (" ", theme.dim()),
        };
        put(buf, inner.x, y, 2, marker, name_style);
        let x = inner.x + 2;
        let w = inner.width.saturating_sub(2);
        let (note, note_style) = match &opt.unavailable {
            Some(why) => (why.as_str(), theme.dim()),
            None => (what(opt.target), theme.dim()),
        };
        put_spans(
            buf,
            x,
            y,
            w,
            &[
                Span::styled(
                    format!("{:<w$}", opt.target.as_str(), w = name_w as usize),
                    name_style,
                ),
                Span::styled(note, note_style),
            ],
        );
    }
}
