//! The Elastic IP pool view (key `e`): every address with the pool's tag,
//! free or associated with its instance and node, how many of this run's
//! URLs left from it, and the egress IPs outside the pool (a node that
//! found the pool empty kept its own public IP: those URLs are flagged).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;

use super::dialog::{key_hints, popup, wrap};
use super::ip_summary::IpStats;
use super::text::{Titles, human_age, put_spans, thousands};
use super::theme::Theme;
use crate::model::State;
use trawl_scraper::record::Target;

const IP_W: usize = 15;
const STATE_W: usize = 10;
const INSTANCE_W: usize = 19;

pub fn draw(buf: &mut Buffer, area: Rect, state: &State, scroll: u16, theme: &Theme) {
    let view = &state.pool;
    let mut top = vec![Span::styled("Elastic IP pool", theme.title(true))];
    if let Some(pool) = &view.pool {
        let n = pool.addresses.len();
        let used = pool.associated();
        top.push(Span::raw(format!("  {}", pool.tag)));
        top.push(Span::styled(" · ", theme.dim()));
        top.push(Span::raw(format!("{} EIPs", thousands(n))));
        top.push(Span::styled(" · ", theme.dim()));
        top.push(Span::styled(
            format!("{} associated", thousands(used)),
            theme.ok(),
        ));
        top.push(Span::styled(" · ", theme.dim()));
        let free_style = if n > 0 && used == n {
            theme.warn()
        } else {
            theme.text()
        };
        top.push(Span::styled(
            format!("{} free", thousands(n - used)),
            free_style,
        ));
    }
    let mut bottom = key_hints(
        &[("r", "read again"), ("↑↓", "scroll"), ("Esc", "close")],
        theme,
    );
    if view.loading {
        bottom.push(Span::styled("  reading…", theme.dim()));
    } else if let Some(pool) = &view.pool {
        let age = human_age(state.now.saturating_sub(pool.read_at).max(0) as u64);
        bottom.push(Span::styled(format!("  read {age} ago"), theme.dim()));
    }
    let titles = Titles {
        top,
        bottom,
        ..Titles::default()
    };
    let w = area.width.saturating_sub(4).min(96);
    let h = area.height.saturating_sub(2).max(3);
    let inner = popup(buf, area, w, h, theme, &titles);
    if inner.is_empty() {
        return;
    }
    let lines = lines(state, theme, usize::from(inner.width));
    let rows = usize::from(inner.height);
    let start = usize::from(scroll).min(lines.len().saturating_sub(rows));
    for (i, line) in lines.iter().skip(start).take(rows).enumerate() {
        put_spans(buf, inner.x, inner.y + i as u16, inner.width, line);
    }
}

/// The view's lines, top to bottom; the popup shows a scrolled window.
fn lines<'a>(state: &'a State, theme: &Theme, width: usize) -> Vec<Vec<Span<'a>>> {
    let view = &state.pool;
    let mut out: Vec<Vec<Span<'a>>> = Vec::new();
    let target = state.run.as_ref().map_or(state.target, |r| r.target);
    if target == Target::Ecs {
        for l in wrap(
            "ECS tasks leave from their own public IPs: Fargate cannot use Elastic IPs (that is what the EKS target is for).",
            width,
        ) {
            out.push(vec![Span::styled(l, theme.dim())]);
        }
        out.push(Vec::new());
    }
    if let Some(e) = &view.error {
        for l in wrap(e, width) {
            out.push(vec![Span::styled(l, theme.error())]);
        }
        out.push(Vec::new());
    }
    let Some(pool) = &view.pool else {
        if view.error.is_none() {
            out.push(vec![Span::styled("reading the pool…", theme.dim())]);
        }
        return out;
    };
    let stats = IpStats::compute(state);
    let urls_from = |ip: &str| {
        stats
            .by_ip
            .iter()
            .find(|(i, _)| *i == ip)
            .map_or(0, |(_, n)| *n)
    };
    out.push(vec![Span::styled(
        format!(
            "{:<IP_W$}  {:<STATE_W$}  {:<INSTANCE_W$}  {:>6}  NODE",
            "PUBLIC IP", "STATE", "INSTANCE", "URLS"
        ),
        theme.heading(),
    )]);
    if pool.addresses.is_empty() {
        out.push(vec![Span::styled(
            format!(
                "no Elastic IP has the tag {}: check `tag` under [pool] in the trawl config, or the eip_pool_size of terraform/",
                pool.tag
            ),
            theme.warn(),
        )]);
    }
    for a in &pool.addresses {
        let (word, style) = if a.associated() {
            ("associated", theme.ok())
        } else {
            ("free", theme.dim())
        };
        let node = state
            .fleet
            .nodes
            .iter()
            .find(|n| n.public_ip.as_deref() == Some(a.public_ip.as_str()))
            .map_or("—", |n| n.name.as_str());
        out.push(vec![
            Span::styled(format!("{:<IP_W$}  ", a.public_ip), theme.text()),
            Span::styled(format!("{word:<STATE_W$}  "), style),
            Span::styled(
                format!("{:<INSTANCE_W$}  ", a.instance_id.as_deref().unwrap_or("—")),
                theme.text(),
            ),
            Span::styled(
                format!("{:>6}  ", thousands(urls_from(&a.public_ip))),
                theme.text(),
            ),
            Span::styled(node, theme.dim()),
        ]);
    }
    // The same membership as the IP summary: the pool as read, plus the
    // nodes the fleet map knows to hold a pool EIP.
    let in_pool = |ip: &str| stats.pool.as_ref().is_some_and(|p| p.contains(ip));
    let outside: Vec<&(&str, usize)> = stats.by_ip.iter().filter(|(ip, _)| !in_pool(ip)).collect();
    out.push(Vec::new());
    if outside.is_empty() {
        if !stats.by_ip.is_empty() {
            out.push(vec![Span::styled(
                "every egress IP of this run is a pool EIP",
                theme.ok(),
            )]);
        }
        return out;
    }
    let urls: usize = outside.iter().map(|(_, n)| n).sum();
    let note = format!(
        "○ {} URLs left from {} IPs outside the pool: the pool was exhausted and nodes kept their own public IPs",
        thousands(urls),
        thousands(outside.len())
    );
    for l in wrap(&note, width) {
        out.push(vec![Span::styled(l, theme.warn())]);
    }
    for (ip, n) in outside {
        out.push(vec![
            Span::styled(format!("{ip:<IP_W$}  "), theme.warn()),
            Span::styled(format!("{:>6} URLs", thousands(*n)), theme.text()),
        ]);
    }
    out
}
