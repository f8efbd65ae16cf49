//! The detail view: one record in full (request, timings, response,
//! redirect chain, TLS, stored body, verdict and findings, body preview) in
//! a large popup, scrolled by `scroll` visual lines. Values wrap under
//! their own column; only the lines up to the bottom of the view are laid
//! out, so a long body preview costs what a short one does.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use trawl_scraper::record::{Record, Status, Verdict};

use super::dialog::{key_hints, popup};
use super::ip_summary::pool_ips;
use super::text::{
    Titles, char_width, clean, human_age, human_bytes, human_ms, ms_between, parse_unix, thousands,
};
use super::theme::Theme;
use crate::model::State;
use crate::model::results::duration_ms;

const LABEL_W: u16 = 14;

/// Lays rows out into the visible window, wrapping by cells.
struct Flow<'b> {
    buf: &'b mut Buffer,
    area: Rect,
    scroll: usize,
    /// Visual lines laid out so far.
    line: usize,
}

impl Flow<'_> {
    fn full(&self) -> bool {
        self.line >= self.scroll + usize::from(self.area.height)
    }

    fn y(&self) -> Option<u16> {
        let rel = self.line.checked_sub(self.scroll)?;
        (rel < usize::from(self.area.height)).then(|| self.area.y + rel as u16)
    }

    fn blank(&mut self) {
        self.line += 1;
    }

    fn heading(&mut self, text: &str, theme: &Theme) {
        if let Some(y) = self.y() {
            self.buf.set_stringn(
                self.area.x,
                y,
                text,
                usize::from(self.area.width),
                theme.heading(),
            );
        }
        self.line += 1;
    }

    /// A label in the first column and the spans after it, wrapped to
    /// continue under the value column.
    fn row(&mut self, label: &str, spans: &[Span<'_>], theme: &Theme) {
        if self.full() {
            return;
        }
        if let Some(y) = self.y() {
            self.buf
                .set_stringn(self.area.x, y, label, usize::from(LABEL_W - 1), theme.dim());
        }
        self.spans(LABEL_W, spans);
    }

    /// Spans from column `indent`, wrapping back to `indent`.
    fn spans(&mut self, indent: u16, spans: &[Span<'_>]) {
        let indent = indent.min(self.area.width.saturating_sub(1));
        let w = usize::from(self.area.width - indent);
        let x0 = self.area.x + indent;
        let mut col = 0usize;
        let mut seg = String::new();
        let mut seg_x = x0;
        // Just wrapped: spaces at the start of the new line are dropped.
        let mut wrapped = false;
        for span in spans {
            let text = clean(&span.content);
            // A short span that would be cut at the edge starts a new line
            // whole (an address, a port, a rule id).
            let sw = super::text::width(text.trim_start());
            if col > 0 && col + super::text::width(&text) > w && sw <= w.min(40) {
                self.line += 1;
                col = 0;
                seg_x = x0;
                wrapped = true;
            }
            for c in text.chars() {
                if self.full() {
                    return;
                }
                if wrapped && c == ' ' {
                    continue;
                }
                let cw = if c == '\t' { 1 } else { char_width(c) };
                if col + cw > w && col > 0 {
                    self.flush(&mut seg, seg_x, span.style);
                    self.line += 1;
                    col = 0;
                    seg_x = x0;
                    if c == ' ' {
                        wrapped = true;
                        continue;
                    }
                }
                wrapped = false;
                seg.push(if c == '\t' { ' ' } else { c });
                col += cw;
            }
            self.flush(&mut seg, seg_x, span.style);
            seg_x = x0 + col as u16;
        }
        self.line += 1;
    }

    fn flush(&mut self, seg: &mut String, x: u16, style: Style) {
        if !seg.is_empty()
            && let Some(y) = self.y()
        {
            let max = usize::from(self.area.right().saturating_sub(x));
            self.buf.set_stringn(x, y, &*seg, max, style);
        }
        seg.clear();
    }
}

fn raw(s: &str) -> Span<'_> {
    Span::raw(s)
}

pub fn draw(
    buf: &mut Buffer,
    area: Rect,
    state: &State,
    url_key: &str,
    scroll: u16,
    theme: &Theme,
) {
    let rec = state.results.get(url_key);
    let mut top = vec![Span::styled("Detail", theme.title(true))];
    if let Some(r) = rec {
        top.push(Span::raw("  "));
        top.push(Span::styled(r.status().as_str(), theme.status(r.status())));
        if let Some(v) = r.verdict {
            top.push(Span::raw(" · "));
            top.push(Span::styled(
                v.as_str(),
                theme.verdict(v).unwrap_or(theme.ok()),
            ));
        }
    }
    let titles = Titles {
        top,
        bottom: key_hints(
            &[
                ("↑↓", "scroll"),
                ("y", "copy URL + object"),
                ("Esc", "close"),
            ],
            theme,
        ),
        bottom_right: vec![Span::styled(format!("line {}", scroll + 1), theme.dim())],
        ..Titles::default()
    };
    let w = area.width.saturating_sub(4).clamp(1, 130);
    let h = area.height.saturating_sub(2).max(1);
    let inner = popup(buf, area, w, h, theme, &titles);
    if inner.is_empty() {
        return;
    }
    let body = inner;
    if body.width < 4 {
        return;
    }
    let mut f = Flow {
        buf,
        area: body,
        scroll: usize::from(scroll),
        line: 0,
    };
    match rec {
        Some(r) => record(&mut f, state, r, theme),
        None => {
            f.row(
                "record",
                &[Span::styled(
                    "not in this run's results any more: press Esc",
                    theme.warn(),
                )],
                theme,
            );
        }
    }
}

fn record(f: &mut Flow<'_>, state: &State, r: &Record, theme: &Theme) {
    let dash = || Span::styled("-", theme.dim());
    let opt = |v: Option<&str>| -> Span<'static> {
        match v {
            Some(s) => Span::raw(s.to_owned()),
            None => Span::styled("-", theme.dim()),
        }
    };
    f.row("URL", &[Span::styled(r.url.as_str(), theme.bold())], theme);
    let status = r.status();
    let mut st = vec![
        Span::styled(status.as_str(), theme.status(status)),
        Span::styled(" · attempt ", theme.dim()),
        Span::raw(r.attempt.to_string()),
    ];
    if let Some(t) = r.target {
        st.push(Span::styled(" · target ", theme.dim()));
        st.push(Span::raw(t.as_str()));
    }
    f.row("status", &st, theme);
    if let Some(e) = r.error.as_deref() {
        let style = if status == Status::Blocked {
            theme.status(Status::Blocked)
        } else {
            theme.error()
        };
        f.row("error", &[Span::styled(e, style)], theme);
    }
    f.row("node", &[opt(r.node.as_deref())], theme);
    match r.egress_ip.as_deref() {
        Some(ip) => {
            let mut v = vec![raw(ip)];
            if let Some(pool) = pool_ips(state) {
                if pool.contains(ip) {
                    v.push(Span::styled("  ◆ pool EIP", theme.ok()));
                } else {
                    v.push(Span::styled("  ○ not a pool EIP", theme.warn()));
                }
            }
            f.row("egress IP", &v, theme);
        }
        None => f.row("egress IP", &[dash()], theme),
    }
    f.row("submitted", &[opt(r.submitted_at.as_deref())], theme);
    let mut started = vec![opt(r.started_at.as_deref())];
    if let (Some(a), Some(b)) = (r.submitted_at.as_deref(), r.started_at.as_deref())
        && let Some(ms) = ms_between(a, b)
    {
        started.push(Span::styled(
            format!("  waited {}", human_ms(ms)),
            theme.dim(),
        ));
    }
    f.row("started", &started, theme);
    let mut finished = vec![opt(r.finished_at.as_deref())];
    if let Some(ms) = duration_ms(r) {
        finished.push(Span::styled("  took ", theme.dim()));
        finished.push(Span::raw(human_ms(ms)));
    } else if status == Status::Running
        && let Some(t) = r.started_at.as_deref().and_then(parse_unix)
    {
        finished.push(Span::styled(
            format!(
                "  running for {}",
                human_ms(state.now.saturating_sub(t).saturating_mul(1000))
            ),
            theme.dim(),
        ));
    }
    f.row("finished", &finished, theme);

    f.blank();
    f.heading("RESPONSE", theme);
    match r.http_status {
        Some(code) => {
            let style = if code >= 400 {
                theme.warn()
            } else {
                theme.text()
            };
            f.row("HTTP", &[Span::styled(code.to_string(), style)], theme);
        }
        None => f.row("HTTP", &[dash()], theme),
    }
    f.row("final URL", &[opt(r.final_url.as_deref())], theme);
    if r.redirects.is_empty() {
        f.row("redirects", &[Span::styled("none", theme.dim())], theme);
    } else {
        for (i, hop) in r.redirects.iter().enumerate() {
            let label = if i == 0 {
                format!("redirects ({})", r.redirects.len())
            } else {
                String::new()
            };
            let mut v = vec![
                Span::styled(format!("{}. ", i + 1), theme.dim()),
                Span::styled(hop.status.to_string(), theme.accent()),
                Span::raw(" "),
                raw(hop.url.as_str()),
            ];
            if let Some(addr) = hop.remote_addr.as_deref() {
                v.push(Span::styled("  from ", theme.dim()));
                v.push(raw(addr));
            }
            f.row(&label, &v, theme);
        }
    }
    f.row("content type", &[opt(r.content_type.as_deref())], theme);
    match r.bytes {
        Some(b) => f.row(
            "bytes",
            &[
                Span::raw(human_bytes(b)),
                Span::styled(format!(" ({})", thousands(b as usize)), theme.dim()),
            ],
            theme,
        ),
        None => f.row("bytes", &[dash()], theme),
    }
    f.row("sha256", &[opt(r.sha256.as_deref())], theme);
    f.row("stored at", &[opt(r.object_key.as_deref())], theme);

    if let Some(tls) = &r.tls {
        f.blank();
        f.heading("TLS", theme);
        f.row("subject", &[raw(&tls.subject)], theme);
        f.row("issuer", &[raw(&tls.issuer)], theme);
        let mut valid = vec![
            raw(&tls.not_before),
            Span::styled(" → ", theme.dim()),
            raw(&tls.not_after),
        ];
        if let Some(t) = parse_unix(&tls.not_before)
            && t > state.now
            && state.now > 0
        {
            valid.push(Span::styled("  not valid yet", theme.error()));
        } else if let Some(t) = parse_unix(&tls.not_after)
            && state.now > 0
        {
            if t < state.now {
                valid.push(Span::styled(
                    format!(
                        "  expired {} ago",
                        human_age(state.now.saturating_sub(t) as u64)
                    ),
                    theme.error(),
                ));
            } else {
                valid.push(Span::styled(
                    format!(
                        "  expires in {}",
                        human_age(t.saturating_sub(state.now) as u64)
                    ),
                    theme.dim(),
                ));
            }
        }
        f.row("valid", &valid, theme);
    }

    f.blank();
    f.heading("VERDICT", theme);
    match r.verdict {
        Some(v) => {
            let style = theme.verdict(v).unwrap_or(theme.ok());
            let mut s = vec![Span::styled(v.as_str(), style)];
            if let Some(score) = r.score {
                s.push(Span::styled(" · score ", theme.dim()));
                s.push(Span::styled(score.to_string(), style));
            }
            f.row("verdict", &s, theme);
        }
        None => f.row(
            "verdict",
            &[Span::styled("not analysed", theme.dim())],
            theme,
        ),
    }
    if r.findings.is_empty() {
        let none = if r.verdict == Some(Verdict::Clean) || r.verdict.is_none() {
            "none"
        } else {
            "none recorded"
        };
        f.row("findings", &[Span::styled(none, theme.dim())], theme);
    } else {
        let rule_w = r
            .findings
            .iter()
            .map(|x| x.rule.chars().count())
            .max()
            .unwrap_or(0)
            .min(32);
        for (i, finding) in r.findings.iter().enumerate() {
            let label = if i == 0 {
                format!("findings ({})", r.findings.len())
            } else {
                String::new()
            };
            let v = [
                Span::styled(
                    format!("{:<7}", finding.severity.as_str()),
                    theme.severity(finding.severity),
                ),
                Span::styled(format!("{:<rule_w$}  ", finding.rule), theme.bold()),
                raw(&finding.detail),
            ];
            f.row(&label, &v, theme);
            if f.full() {
                return;
            }
        }
    }

    f.blank();
    f.heading("BODY PREVIEW", theme);
    match &state.body_preview {
        Some((key, Ok(text))) if *key == r.url_key => {
            if text.is_empty() {
                f.spans(0, &[Span::styled("(empty)", theme.dim())]);
            }
            for line in text.lines() {
                if f.full() {
                    return;
                }
                f.spans(0, &[raw(line)]);
            }
        }
        Some((key, Err(e))) if *key == r.url_key => {
            f.spans(0, &[Span::styled(e.as_str(), theme.error())]);
        }
        _ if r.object_key.is_none() => {
            f.spans(0, &[Span::styled("no body stored", theme.dim())]);
        }
        _ => f.spans(0, &[Span::styled("loading…", theme.dim())]),
    }
}
