//! The fleet map: a summary line, then one row per node (EKS, local) with
//! its instance, state, public IP (pool EIP or not) and a bar of its pods
//! by phase; node problems and IP mismatches under the node. ECS shows task
//! groups by public IP. Only the visible rows are formatted, so 500 nodes
//! cost what 20 do.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;
use trawl_scraper::record::Target;

use super::Slot;
use super::text::{
    Column, Titles, fit_columns, human_age, pane, put, put_right, put_spans, short_node, thousands,
    width,
};
use super::theme::{Phase, Theme};
use crate::model::{Fleet, NodeState, NodeView, Pane, PhaseCounts, State, TaskGroup};

/// What the summary says, from one pass over nodes and task groups.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    /// Registered nodes (not NodeClaims still launching, nor the row of
    /// pods without a node).
    pub nodes: usize,
    pub launching: usize,
    pub groups: usize,
    pub pods: PhaseCounts,
    pub ips: usize,
    pub pool_used: usize,
    /// Most pods on one node or group: the bars' common scale.
    pub max_pods: usize,
    /// Rows the node list takes (nodes, their problems and mismatches, groups).
    pub rows: usize,
    pub problems: usize,
}

impl Facts {
    pub fn of(fleet: &Fleet) -> Self {
        let mut f = Facts {
            nodes: fleet
                .nodes
                .iter()
                .filter(|n| !matches!(n.state, NodeState::Launching | NodeState::Waiting))
                .count(),
            launching: fleet
                .nodes
                .iter()
                .filter(|n| n.state == NodeState::Launching)
                .count(),
            groups: fleet.task_groups.len(),
            pods: fleet.pods(),
            ips: fleet.unique_ips(),
            pool_used: fleet.pool_eips_used(),
            ..Facts::default()
        };
        for n in &fleet.nodes {
            f.max_pods = f.max_pods.max(n.pods.total());
            let extra = n.problems.len() + usize::from(n.ip_mismatch.is_some());
            f.rows += 1 + extra;
            f.problems += extra;
        }
        for g in &fleet.task_groups {
            f.max_pods = f.max_pods.max(g.tasks.total());
            f.rows += 1;
        }
        f
    }

    /// Lines the expanded pane wants inside its border.
    pub fn wanted_rows(&self) -> u16 {
        if self.rows == 0 {
            2
        } else {
            (2 + self.rows).min(1000) as u16
        }
    }
}

/// The target the fleet belongs to: the run's, else the selected one.
fn fleet_target(state: &State) -> Target {
    state.run.as_ref().map_or(state.target, |r| r.target)
}

fn phase_count(p: &PhaseCounts, phase: Phase) -> usize {
    match phase {
        Phase::Pending => p.pending,
        Phase::Running => p.running,
        Phase::Succeeded => p.succeeded,
        Phase::Failed => p.failed,
    }
}

/// "nodes 3 · pods 40: 5 pending 12 running 20 done 3 failed · IPs 3 · pool EIPs 2/5"
pub fn summary<'a>(state: &State, f: &Facts, theme: &Theme) -> Vec<Span<'a>> {
    let sep = || Span::styled(" · ", theme.dim());
    let mut s = Vec::with_capacity(20);
    let ecs = fleet_target(state) == Target::Ecs || (f.nodes == 0 && f.groups > 0);
    if let Some(l) = &state.fleet.launch {
        // While URLs still wait for their launch: how far it got.
        s.push(Span::styled(
            format!("launching {}/{}", thousands(l.launched), thousands(l.total)),
            theme.accent(),
        ));
        s.push(Span::raw(format!(" {} waiting", thousands(l.waiting))));
        if l.failed > 0 {
            s.push(Span::styled(
                format!(" {} failed", thousands(l.failed)),
                theme.error(),
            ));
        }
        if l.relaunched > 0 {
            s.push(Span::raw(format!(
                " {} relaunched",
                thousands(l.relaunched)
            )));
        }
        s.push(sep());
    }
    if !ecs {
        s.push(Span::raw(format!("nodes {}", thousands(f.nodes))));
        if f.launching > 0 {
            s.push(Span::styled(
                format!(" +{} launching", thousands(f.launching)),
                theme.accent(),
            ));
        }
        s.push(sep());
    }
    s.push(Span::raw(format!(
        "{} {}",
        if ecs { "tasks" } else { "pods" },
        thousands(f.pods.total())
    )));
    if f.pods.total() > 0 {
        s.push(Span::raw(":"));
        for phase in Phase::ALL {
            let n = phase_count(&f.pods, phase);
            let style = if n > 0 {
                theme.phase(phase)
            } else {
                theme.dim()
            };
            s.push(Span::styled(
                format!(" {} {}", thousands(n), phase.name()),
                style,
            ));
        }
    }
    s.push(sep());
    s.push(Span::raw(format!("IPs {}", thousands(f.ips))));
    if let Some(total) = state.fleet.pool_total {
        s.push(sep());
        let style = if f.pool_used < f.nodes {
            theme.warn()
        } else {
            theme.text()
        };
        s.push(Span::styled(
            format!("pool EIPs {}/{}", f.pool_used, total),
            style,
        ));
    }
    if f.problems > 0 {
        s.push(sep());
        s.push(Span::styled(
            format!("{} problems", thousands(f.problems)),
            theme.warn(),
        ));
    }
    s
}

pub fn title<'a>(
    state: &State,
    f: &Facts,
    theme: &Theme,
    focused: bool,
    collapsed: bool,
) -> Vec<Span<'a>> {
    let mut t = vec![
        Span::styled(Pane::Fleet.title(), theme.title(focused)),
        Span::raw("  "),
        Span::styled(fleet_target(state).as_str(), theme.accent()),
    ];
    if !state.fleet.synced {
        t.push(Span::styled(" syncing…", theme.warn()));
    }
    if collapsed {
        t.push(Span::styled(" · ", theme.dim()));
        t.extend(summary(state, f, theme));
    }
    t
}

/// The node (or task group) of the selected result, to scroll to and mark:
/// the map has no scroll position of its own.
pub fn focus_row(state: &State) -> Option<usize> {
    let rec = state.results.selected_record()?;
    if let Some(node) = rec.node.as_deref()
        && let Some(i) = state.fleet.nodes.iter().position(|n| n.name == node)
    {
        return Some(i);
    }
    let ip = rec.egress_ip.as_deref()?;
    state
        .fleet
        .task_groups
        .iter()
        .position(|g| g.public_ip == ip)
        .map(|i| state.fleet.nodes.len() + i)
}

pub fn draw(
    buf: &mut Buffer,
    slot: Slot,
    state: &State,
    facts: &Facts,
    theme: &Theme,
    focused: bool,
) {
    let titles = Titles {
        top: title(state, facts, theme, focused, slot.collapsed),
        ..Titles::default()
    };
    let inner = pane(buf, slot.area, theme, focused, slot.collapsed, &titles);
    if inner.is_empty() {
        return;
    }
    let fleet = &state.fleet;
    if fleet.nodes.is_empty() && fleet.task_groups.is_empty() {
        let body = inner;
        let hint = if !fleet.synced {
            "syncing…"
        } else if fleet_target(state) == Target::Local {
            "this machine: its workers show up here while a run goes"
        } else {
            "no nodes yet: submit a run"
        };
        put(buf, body.x, body.y, body.width, hint, theme.dim());
        return;
    }
    put_spans(
        buf,
        inner.x,
        inner.y,
        inner.width,
        &summary(state, facts, theme),
    );
    let body = Rect {
        y: inner.y + 1,
        height: inner.height - 1,
        ..inner
    };
    if body.height < 2 {
        return;
    }
    let mark = focus_row(state);
    if !fleet.nodes.is_empty() {
        draw_nodes(buf, body, state, facts, theme, mark);
    } else {
        let mark = mark.map(|i| i - fleet.nodes.len());
        draw_groups(buf, body, state, facts, theme, mark);
    }
}

/// The first node to draw so that `mark` is visible (rows below each node
/// count), keeping it in the upper part of the list.
fn first_visible(nodes: &[NodeView], rows: usize, mark: Option<usize>) -> usize {
    let Some(mark) = mark else { return 0 };
    let mut used = 0;
    let mut start = mark.min(nodes.len().saturating_sub(1));
    // Walk back from the mark while the rows above still fit in two thirds.
    while start > 0 {
        let n = &nodes[start - 1];
        let h = 1 + n.problems.len() + usize::from(n.ip_mismatch.is_some());
        if used + h > rows * 2 / 3 {
            break;
        }
        used += h;
        start -= 1;
    }
    start
}

fn bar(buf: &mut Buffer, x: u16, y: u16, w: u16, pods: &PhaseCounts, max: usize, theme: &Theme) {
    if w == 0 || max == 0 {
        return;
    }
    let w = usize::from(w);
    let mut left = w;
    let mut cx = x;
    for phase in Phase::ALL {
        let n = phase_count(pods, phase);
        if n == 0 || left == 0 {
            continue;
        }
        // One cell a pod while they fit; else to scale, at least one cell.
        let cells = if max <= w { n } else { (n * w).div_ceil(max) }.min(left);
        let glyph = theme.phase_glyph(phase);
        let s = glyph.repeat(cells);
        buf.set_stringn(cx, y, &s, cells, theme.phase(phase));
        cx += cells as u16;
        left -= cells;
    }
}

fn counts(buf: &mut Buffer, x: u16, y: u16, cw: u16, pods: &PhaseCounts, theme: &Theme) {
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        let n = phase_count(pods, phase);
        let style = if n > 0 {
            theme.phase(phase)
        } else {
            theme.dim()
        };
        put_right(buf, x + i as u16 * (cw + 1), y, cw, &n.to_string(), style);
    }
}

fn counts_header(buf: &mut Buffer, x: u16, y: u16, cw: u16, theme: &Theme) {
    for (i, h) in ["PEND", "RUN", "DONE", "FAIL"].into_iter().enumerate() {
        put_right(buf, x + i as u16 * (cw + 1), y, cw, h, theme.heading());
    }
}

fn count_width(max: usize) -> u16 {
    (max.max(1).ilog10() as u16 + 1).max(4)
}

fn draw_nodes(
    buf: &mut Buffer,
    body: Rect,
    state: &State,
    facts: &Facts,
    theme: &Theme,
    mark: Option<usize>,
) {
    let fleet = &state.fleet;
    let list_rows = usize::from(body.height - 1);
    let start = first_visible(&fleet.nodes, list_rows, mark);
    let visible = &fleet.nodes[start..(start + list_rows).min(fleet.nodes.len())];
    let widest = |f: &dyn Fn(&NodeView) -> usize, min: usize, max: usize| -> u16 {
        visible.iter().map(f).max().unwrap_or(0).clamp(min, max) as u16
    };
    let name_w = widest(&|n| width(short_node(&n.name)), 4, 34);
    let type_w = widest(&|n| n.instance_type.as_deref().map_or(1, width), 4, 14);
    let cap_w = widest(&|n| n.capacity_type.as_deref().map_or(1, width), 3, 10);
    let ip_w = widest(&|n| n.public_ip.as_deref().map_or(1, width), 9, 39);
    let cw = count_width(facts.max_pods);
    let pool = fleet.pool_total.is_some() || fleet.pool_known;
    // Dropped first when narrow: capacity type, instance type, age.
    let cols = [
        Column::fixed(name_w + 1, 9),
        Column::fixed(type_w, 2),
        Column::fixed(cap_w, 1),
        Column::fixed(3, 3),
        Column::fixed(9, 7),
        Column::fixed(ip_w, 8),
        Column::fixed(if pool { 10 } else { 0 }, if pool { 6 } else { 0 }),
        Column::flex(6, 40, 4),
        Column::fixed(cw * 4 + 3, 5),
    ];
    let fit = fit_columns(&cols, body.width);
    let at = |i: usize| fit[i].filter(|c| c.1 > 0).map(|(x, w)| (body.x + x, w));

    let hy = body.y;
    let headers = [
        "NODE",
        "TYPE",
        "CAP",
        "AGE",
        "STATE",
        "PUBLIC IP",
        "POOL",
        "PODS",
    ];
    for (i, h) in headers.into_iter().enumerate() {
        if let Some((x, w)) = at(i) {
            if i == 3 {
                put_right(buf, x, hy, w, h, theme.heading());
            } else {
                put(buf, x, hy, w, h, theme.heading());
            }
        }
    }
    if let Some((x, _)) = at(8) {
        counts_header(buf, x, hy, cw, theme);
    }

    let mut y = body.y + 1;
    let bottom = body.bottom();
    let mut shown = start;
    for (k, n) in visible.iter().enumerate() {
        let extra = n.problems.len() + usize::from(n.ip_mismatch.is_some());
        let more_after = start + k + 1 < fleet.nodes.len();
        // Keep the last line for "… more" when nodes remain below.
        let room = bottom - y;
        if room == 0 || (more_after && room < 2) {
            break;
        }
        let marked = mark == Some(start + k);
        if let Some((x, w)) = at(0) {
            let style = if marked {
                theme.selected(false)
            } else {
                theme.text()
            };
            put(buf, x, y, w, short_node(&n.name), style);
        }
        if let Some((x, w)) = at(1) {
            match n.instance_type.as_deref() {
                Some(t) => put(buf, x, y, w, t, theme.text()),
                None => put(buf, x, y, w, "-", theme.dim()),
            };
        }
        if let Some((x, w)) = at(2) {
            match n.capacity_type.as_deref() {
                Some(c) => put(buf, x, y, w, c, theme.dim()),
                None => put(buf, x, y, w, "-", theme.dim()),
            };
        }
        if let Some((x, w)) = at(3) {
            match n.age_secs {
                Some(a) => put_right(buf, x, y, w, &human_age(a), theme.text()),
                None => put_right(buf, x, y, w, "-", theme.dim()),
            };
        }
        if let Some((x, w)) = at(4) {
            let style = match n.state {
                NodeState::Ready => theme.ok(),
                NodeState::Launching => theme.accent(),
                NodeState::NotReady => theme.error(),
                NodeState::Draining | NodeState::Waiting => theme.warn(),
            };
            put(buf, x, y, w, n.state.name(), style);
        }
        if let Some((x, w)) = at(5) {
            match n.public_ip.as_deref() {
                Some(ip) => put(buf, x, y, w, ip, theme.text()),
                None => put(buf, x, y, w, "-", theme.dim()),
            };
        }
        if let Some((x, w)) = at(6)
            && n.public_ip.is_some()
        {
            if n.pool_eip {
                put(buf, x, y, w, "◆ EIP", theme.ok());
            } else {
                put(buf, x, y, w, "○ fallback", theme.warn());
            }
        }
        if let Some((x, w)) = at(7) {
            bar(buf, x, y, w, &n.pods, facts.max_pods, theme);
        }
        if let Some((x, _)) = at(8) {
            counts(buf, x, y, cw, &n.pods, theme);
        }
        y += 1;
        shown = start + k + 1;
        let x = body.x + 2;
        let w = body.width.saturating_sub(2);
        let notes = n
            .ip_mismatch
            .iter()
            .map(|m| (format!("✗ egress IP mismatch: {m}"), theme.error()))
            .chain(n.problems.iter().map(|p| (format!("⚠ {p}"), theme.warn())));
        for (i, (note, style)) in notes.enumerate() {
            let last_note = i + 1 == extra;
            if y >= bottom || (y + 1 == bottom && (!last_note || more_after)) {
                break;
            }
            put(buf, x, y, w, &note, style);
            y += 1;
        }
    }
    let more = fleet.nodes.len() - shown;
    if (more > 0 || start > 0) && y < bottom {
        let text = match (start, more) {
            (0, m) => format!("… {} more nodes", thousands(m)),
            (s, 0) => format!("… {} nodes above", thousands(s)),
            (s, m) => format!("… {} above, {} more below", thousands(s), thousands(m)),
        };
        put(buf, body.x, y, body.width, &text, theme.dim());
    }
}

fn draw_groups(
    buf: &mut Buffer,
    body: Rect,
    state: &State,
    facts: &Facts,
    theme: &Theme,
    mark: Option<usize>,
) {
    let groups: &[TaskGroup] = &state.fleet.task_groups;
    let list_rows = usize::from(body.height - 1);
    let start = match mark {
        Some(m) if m >= list_rows => m + 1 - list_rows / 2,
        _ => 0,
    }
    .min(groups.len().saturating_sub(list_rows.saturating_sub(1)));
    let visible = &groups[start..(start + list_rows).min(groups.len())];
    let widest = |f: &dyn Fn(&TaskGroup) -> usize, min: usize, max: usize| -> u16 {
        visible.iter().map(f).max().unwrap_or(0).clamp(min, max) as u16
    };
    let ip_w = widest(&|g| width(&g.public_ip), 9, 39);
    let subnet_w = widest(&|g| g.subnet.as_deref().map_or(1, width), 6, 24);
    let zone_w = widest(&|g| g.zone.as_deref().map_or(1, width), 4, 14);
    let cw = count_width(facts.max_pods);
    let cols = [
        Column::fixed(ip_w + 1, 9),
        Column::fixed(subnet_w, 2),
        Column::fixed(zone_w, 3),
        Column::flex(6, 40, 4),
        Column::fixed(cw * 4 + 3, 5),
    ];
    let fit = fit_columns(&cols, body.width);
    let at = |i: usize| fit[i].filter(|c| c.1 > 0).map(|(x, w)| (body.x + x, w));
    for (i, h) in ["PUBLIC IP", "SUBNET", "ZONE", "TASKS"]
        .into_iter()
        .enumerate()
    {
        if let Some((x, w)) = at(i) {
            put(buf, x, body.y, w, h, theme.heading());
        }
    }
    if let Some((x, _)) = at(4) {
        counts_header(buf, x, body.y, cw, theme);
    }
    let mut y = body.y + 1;
    let mut shown = start;
    for (k, g) in visible.iter().enumerate() {
        let more_after = start + k + 1 < groups.len();
        let room = body.bottom() - y;
        if room == 0 || (more_after && room < 2) {
            break;
        }
        if let Some((x, w)) = at(0) {
            let style = if mark == Some(start + k) {
                theme.selected(false)
            } else {
                theme.text()
            };
            put(buf, x, y, w, &g.public_ip, style);
        }
        for (i, v) in [(1, g.subnet.as_deref()), (2, g.zone.as_deref())] {
            if let Some((x, w)) = at(i) {
                put(buf, x, y, w, v.unwrap_or("-"), theme.dim());
            }
        }
        if let Some((x, w)) = at(3) {
            bar(buf, x, y, w, &g.tasks, facts.max_pods, theme);
        }
        if let Some((x, _)) = at(4) {
            counts(buf, x, y, cw, &g.tasks, theme);
        }
        y += 1;
        shown = start + k + 1;
    }
    let more = groups.len() - shown;
    if (more > 0 || start > 0) && y < body.bottom() {
        let text = match (start, more) {
            (0, m) => format!("… {} more IPs", thousands(m)),
            (s, 0) => format!("… {} IPs above", thousands(s)),
            (s, m) => format!("… {} above, {} more below", thousands(s), thousands(m)),
        };
        put(buf, body.x, y, body.width, &text, theme.dim());
    }
}
