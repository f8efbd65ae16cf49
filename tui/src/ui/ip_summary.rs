//! The egress IP summary: which public IPs the URLs left from, how many per
//! IP, and which left from an IP that is not one of the pool's Elastic IPs.
//! One pass over the records with a cheap hasher (10,000 records take tens
//! of microseconds), computed once per frame.

use ratatui::buffer::Buffer;
use ratatui::text::Span;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::Slot;
use super::text::{Titles, pane, put, put_right, put_spans, thousands};
use super::theme::Theme;
use crate::model::{Fleet, Pane, State};
use trawl_scraper::record::Status;

/// FNV-1a: IP strings are short and come from our own workers, and
/// SipHash would be most of the pass (measured: FNV beats both SipHash and
/// an Fx-style word hasher on these keys).
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<Fnv>>;

/// The pool's Elastic IPs, when a pool is known: the addresses read from
/// EC2 (the EIP view) and the fleet's nodes that hold a pool EIP. None
/// where there is no pool to compare with (local, ECS, pool not read).
pub fn pool_ips(state: &State) -> Option<FastSet<&str>> {
    let read = state.pool.pool.as_ref();
    if read.is_none() && state.fleet.pool_total.is_none() {
        return None;
    }
    let mut pool: FastSet<&str> = nodes_with_pool_eips(&state.fleet).collect();
    if let Some(p) = read {
        pool.extend(p.addresses.iter().map(|a| a.public_ip.as_str()));
    }
    Some(pool)
}

fn nodes_with_pool_eips(fleet: &Fleet) -> impl Iterator<Item = &str> {
    fleet
        .nodes
        .iter()
        .filter(|n| n.pool_eip)
        .filter_map(|n| n.public_ip.as_deref())
}

#[derive(Debug, Default)]
pub struct IpStats<'a> {
    pub records: usize,
    /// (ip, URLs), most used first (ties by IP).
    pub by_ip: Vec<(&'a str, usize)>,
    /// IPs used by more than one URL.
    pub shared: usize,
    /// URLs that started but have no egress IP.
    pub no_ip: usize,
    /// URLs that left from an IP that is not a pool EIP; None when there is
    /// no pool (local, or the pool size is not known).
    pub non_pool: Option<usize>,
    pub pool: Option<FastSet<&'a str>>,
}

impl<'a> IpStats<'a> {
    pub fn compute(state: &'a State) -> Self {
        let records = state.results.records();
        let mut counts: FastMap<&str, usize> = FastMap::default();
        counts.reserve(64);
        let mut no_ip = 0;
        for r in records {
            match r.egress_ip.as_deref() {
                Some(ip) if !ip.is_empty() => *counts.entry(ip).or_insert(0) += 1,
                // A queued URL has no IP yet: only the started ones count.
                _ if r.status() != Status::Queued => no_ip += 1,
                _ => {}
            }
        }
        let pool = pool_ips(state);
        let non_pool = pool.as_ref().map(|pool| {
            counts
                .iter()
                .filter(|(ip, _)| !pool.contains(*ip))
                .map(|(_, n)| n)
                .sum()
        });
        let shared = counts.values().filter(|n| **n > 1).count();
        let mut by_ip: Vec<(&str, usize)> = counts.into_iter().collect();
        by_ip.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        IpStats {
            records: records.len(),
            by_ip,
            shared,
            no_ip,
            non_pool,
            pool,
        }
    }

    pub fn unique(&self) -> usize {
        self.by_ip.len()
    }

    /// Lines the expanded pane wants (inside its border).
    pub fn wanted_rows(&self) -> u16 {
        (4 + 1 + self.by_ip.len()).min(200) as u16
    }
}

pub fn title<'a>(stats: &IpStats<'_>, theme: &Theme, focused: bool) -> Vec<Span<'a>> {
    let mut t = vec![
        Span::styled(Pane::IpSummary.title(), theme.title(focused)),
        Span::raw(format!("  {} unique", thousands(stats.unique()))),
    ];
    if stats.no_ip > 0 {
        t.push(Span::styled(" · ", theme.dim()));
        t.push(Span::styled(
            format!("{} without IP", thousands(stats.no_ip)),
            theme.warn(),
        ));
    }
    if let Some(n) = stats.non_pool.filter(|n| *n > 0) {
        t.push(Span::styled(" · ", theme.dim()));
        t.push(Span::styled(
            format!("{} non-pool", thousands(n)),
            theme.warn(),
        ));
    }
    t
}

pub fn draw(
    buf: &mut Buffer,
    slot: Slot,
    state: &State,
    stats: &IpStats<'_>,
    theme: &Theme,
    focused: bool,
) {
    let titles = Titles {
        top: title(stats, theme, focused),
        ..Titles::default()
    };
    let inner = pane(buf, slot.area, theme, focused, slot.collapsed, &titles);
    if inner.is_empty() {
        return;
    }
    let w = inner.width;
    let label_w = 20.min(w);
    let val_w = w.saturating_sub(label_w).min(8);
    let mut y = inner.y;
    let bottom = inner.bottom();
    let mut stat = |y: &mut u16, label: &str, value: String, style| {
        if *y < bottom {
            put(buf, inner.x, *y, label_w, label, theme.dim());
            put_right(buf, inner.x + label_w, *y, val_w, &value, style);
            *y += 1;
        }
    };
    stat(
        &mut y,
        "unique egress IPs",
        thousands(stats.unique()),
        theme.text(),
    );
    stat(
        &mut y,
        "IPs with 2+ URLs",
        thousands(stats.shared),
        theme.text(),
    );
    let none_style = if stats.no_ip > 0 {
        theme.warn()
    } else {
        theme.text()
    };
    stat(
        &mut y,
        "URLs without an IP",
        thousands(stats.no_ip),
        none_style,
    );
    match stats.non_pool {
        Some(n) => {
            let style = if n > 0 { theme.error() } else { theme.ok() };
            stat(&mut y, "URLs via non-pool IP", thousands(n), style);
        }
        None => {
            let target = state.run.as_ref().map_or(state.target, |r| r.target);
            if y < bottom {
                let label = format!("pool: n/a ({target})");
                put(buf, inner.x, y, w, &label, theme.dim());
                y += 1;
            }
        }
    }
    if y >= bottom {
        return;
    }
    if stats.by_ip.is_empty() {
        let hint = if stats.records == 0 {
            "no egress IPs yet"
        } else {
            "no egress IPs recorded yet"
        };
        put(buf, inner.x, y, w, hint, theme.dim());
        return;
    }
    put_spans(
        buf,
        inner.x,
        y,
        w,
        &[Span::styled("URLs per IP", theme.heading())],
    );
    y += 1;
    let max = stats.by_ip.first().map_or(1, |e| e.1).max(1);
    let rows = (bottom - y) as usize;
    let shown = if stats.by_ip.len() > rows {
        rows.saturating_sub(1)
    } else {
        rows
    };
    let ip_w = 15.min(w.saturating_sub(2));
    let n_w = 7u16;
    let mark_w = if stats.non_pool.is_some() { 2 } else { 0 };
    let bar_x = inner.x + mark_w + ip_w + 1 + n_w + 1;
    let bar_w = inner.right().saturating_sub(bar_x).min(24);
    let (bar_on, _) = theme.gauge();
    for (ip, n) in stats.by_ip.iter().take(shown) {
        let mut x = inner.x;
        if let Some(pool) = &stats.pool {
            let (mark, style) = if pool.contains(ip) {
                ("◆", theme.ok())
            } else {
                ("○", theme.warn())
            };
            put(buf, x, y, 1, mark, style);
            x += mark_w;
        }
        put(buf, x, y, ip_w, ip, theme.text());
        x += ip_w + 1;
        if x + n_w <= inner.right() {
            put_right(buf, x, y, n_w, &thousands(*n), theme.text());
        }
        if bar_w >= 3 {
            let len = ((*n as u64 * u64::from(bar_w)).div_ceil(max as u64)) as usize;
            put(
                buf,
                bar_x,
                y,
                bar_w,
                &"■".repeat(len.min(bar_w as usize)),
                bar_on,
            );
        }
        y += 1;
    }
    if stats.by_ip.len() > shown && y < bottom {
        let more = stats.by_ip.len() - shown;
        put(
            buf,
            inner.x,
            y,
            w,
            &format!("… {} more IPs", thousands(more)),
            theme.dim(),
        );
    }
}
