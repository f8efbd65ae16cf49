//! The one place that maps what a thing means (ok, warning, error, dim,
//! accent, selected, focused border, a status, a verdict, a pod phase) to a
//! style. Named 16-colour palette only (never RGB), so it reads the same in
//! tmux, over ssh and on a bastion's bare xterm. Monochrome (NO_COLOR) uses
//! modifiers only: bold, dim, reversed, underlined.

use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::BorderType;
use trawl_scraper::record::{Severity, Status, Verdict};

/// Pod (or worker, or task) phases, as the fleet map draws them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Pending,
        Phase::Running,
        Phase::Succeeded,
        Phase::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Succeeded => "done",
            Phase::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub mono: bool,
}

const fn fg(c: Color) -> Style {
    Style::new().fg(c)
}

const fn md(m: Modifier) -> Style {
    Style::new().add_modifier(m)
}

impl Theme {
    pub fn new(monochrome: bool) -> Self {
        Theme { mono: monochrome }
    }

    fn pick(&self, color: Style, mono: Style) -> Style {
        if self.mono { mono } else { color }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }

    pub fn bold(&self) -> Style {
        md(Modifier::BOLD)
    }

    /// Secondary text: labels, zeros, hints.
    pub fn dim(&self) -> Style {
        self.pick(fg(Color::DarkGray), md(Modifier::DIM))
    }

    /// A note beside text (an editor line's problem) in a role's colour:
    /// italic, and in monochrome dim too so it reads apart from the text.
    pub fn note(&self, role: Style) -> Style {
        self.pick(
            role.add_modifier(Modifier::ITALIC),
            md(Modifier::DIM | Modifier::ITALIC),
        )
    }

    pub fn ok(&self) -> Style {
        self.pick(fg(Color::Green), Style::new())
    }

    pub fn warn(&self) -> Style {
        self.pick(fg(Color::Yellow), md(Modifier::BOLD))
    }

    pub fn error(&self) -> Style {
        self.pick(fg(Color::Red), md(Modifier::BOLD))
    }

    pub fn accent(&self) -> Style {
        self.pick(fg(Color::Cyan), md(Modifier::BOLD))
    }

    /// Key names in hints and help.
    pub fn key(&self) -> Style {
        self.pick(
            fg(Color::Cyan).add_modifier(Modifier::BOLD),
            md(Modifier::BOLD),
        )
    }

    /// Section headings and table column headers.
    pub fn heading(&self) -> Style {
        self.pick(
            fg(Color::Gray).add_modifier(Modifier::BOLD),
            md(Modifier::BOLD),
        )
    }

    /// The selected row of a list or table.
    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            md(Modifier::REVERSED).add_modifier(Modifier::BOLD)
        } else {
            self.pick(Style::new().bg(Color::DarkGray), md(Modifier::UNDERLINED))
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.mono) {
            (true, false) => fg(Color::Cyan),
            (true, true) => md(Modifier::BOLD),
            (false, false) => fg(Color::DarkGray),
            (false, true) => Style::new(),
        }
    }

    /// Monochrome has no colour to tell the focused pane apart: a thick
    /// border does.
    pub fn border_type(&self, focused: bool) -> BorderType {
        if focused && self.mono {
            BorderType::Thick
        } else {
            BorderType::Plain
        }
    }

    /// The pane name in its border.
    pub fn title(&self, focused: bool) -> Style {
        if focused {
            self.pick(
                fg(Color::Cyan).add_modifier(Modifier::BOLD),
                md(Modifier::BOLD | Modifier::REVERSED),
            )
        } else {
            md(Modifier::BOLD)
        }
    }

    /// A results row by its status.
    pub fn status(&self, s: Status) -> Style {
        match s {
            Status::Queued => self.dim(),
            Status::Running => self.pick(fg(Color::Cyan), Style::new()),
            Status::Done => Style::new(),
            Status::Failed => self.pick(fg(Color::Red), md(Modifier::BOLD)),
            Status::Blocked => self.pick(fg(Color::Magenta), md(Modifier::BOLD | Modifier::ITALIC)),
        }
    }

    /// A verdict; `None` for clean (the row keeps its status style).
    pub fn verdict(&self, v: Verdict) -> Option<Style> {
        match v {
            Verdict::Clean => None,
            Verdict::Suspicious => Some(self.pick(fg(Color::Yellow), md(Modifier::UNDERLINED))),
            Verdict::Malicious => Some(self.pick(
                fg(Color::Red).add_modifier(Modifier::BOLD),
                md(Modifier::BOLD | Modifier::UNDERLINED),
            )),
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Info => self.dim(),
            Severity::Low => Style::new(),
            Severity::Medium => self.warn(),
            Severity::High => self.pick(
                fg(Color::Red).add_modifier(Modifier::BOLD),
                md(Modifier::BOLD | Modifier::UNDERLINED),
            ),
        }
    }

    pub fn phase(&self, p: Phase) -> Style {
        match p {
            Phase::Pending => self.pick(fg(Color::Yellow), md(Modifier::DIM)),
            Phase::Running => self.pick(fg(Color::Cyan), md(Modifier::BOLD)),
            Phase::Succeeded => self.pick(fg(Color::Green), Style::new()),
            Phase::Failed => self.pick(fg(Color::Red), md(Modifier::BOLD)),
        }
    }

    /// The glyph a pod of this phase is drawn with in the fleet bars. The
    /// shapes differ where colour cannot tell them apart.
    pub fn phase_glyph(&self, p: Phase) -> &'static str {
        match (p, self.mono) {
            (Phase::Pending, _) => "▯",
            (Phase::Running, _) => "▮",
            (Phase::Succeeded, false) => "▮",
            (Phase::Succeeded, true) => "▪",
            (Phase::Failed, false) => "▮",
            (Phase::Failed, true) => "✗",
        }
    }

    /// Bars and gauges: the filled part and the empty rest.
    pub fn gauge(&self) -> (Style, Style) {
        (
            self.pick(fg(Color::Green), Style::new()),
            self.pick(fg(Color::DarkGray), md(Modifier::DIM)),
        )
    }

    /// The text cursor drawn in one-line inputs.
    pub fn input_cursor(&self) -> Style {
        self.pick(
            fg(Color::Cyan).add_modifier(Modifier::BOLD),
            md(Modifier::BOLD),
        )
    }

    /// Monochrome's last word: whatever a widget we do not style ourselves
    /// (the text area's placeholder and selection) coloured is turned into
    /// modifiers, so not one cell carries a colour.
    pub fn strip_colours(buf: &mut ratatui::buffer::Buffer) {
        for cell in &mut buf.content {
            if cell.fg != Color::Reset {
                if matches!(cell.fg, Color::DarkGray | Color::Gray) {
                    cell.modifier.insert(Modifier::DIM);
                }
                cell.fg = Color::Reset;
            }
            if cell.bg != Color::Reset {
                cell.modifier.insert(Modifier::REVERSED);
                cell.bg = Color::Reset;
            }
        }
    }
}
