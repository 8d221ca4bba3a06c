//! The Clusters tab: HDBSCAN clusters of all, anomalous or normal rows (`a` cycles), their
//! sizes, and the selected cluster's statistics — numeric features (count, mean, std,
//! quartiles, range) and the top five values of the categorical fields — as the seed
//! notebook printed them.

use std::collections::HashMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::cluster::stats::ClusterStats;
use crate::reasons::number;
use crate::tui::app::App;
use crate::tui::app::{moves, scrolled, Subset};
use crate::tui::data::clean;
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, fit, pending, scrollbar, Theme};

/// The Clusters tab's state.
#[derive(Debug, Clone)]
pub struct Clusters {
    /// Rows clustered.
    pub subset: Subset,
    /// Highlighted cluster.
    pub selected: usize,
}

impl Clusters {
    /// Handles the tab's own keys; returns whether the key was its.
    pub fn update(&mut self, action: Action, page: usize) -> bool {
        match action {
            Action::Subset => {
                self.subset = match self.subset {
                    Subset::All => Subset::Anomalous,
                    Subset::Anomalous => Subset::Normal,
                    Subset::Normal => Subset::All,
                };
                self.selected = 0;
            }
            a if moves(a) => self.selected = scrolled(self.selected, a, page, 1000),
            _ => return false,
        }
        true
    }
}

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    if app.results.is_none() {
        pending(app, f, area);
        return;
    }
    let subset = app.clusters.subset;
    let mut head = vec![Line::from(vec![
        Span::styled(format!("{} rows", app.clusters.subset.name()), th.title()),
        Span::styled(" (a: all / anomalous / normal, ↑↓ cluster)", th.dim()),
    ])];
    let Some(l) = &app.landscape else {
        head.push(match (&app.landscape_error, &app.landscape_step) {
            (Some(e), _) => Line::styled(format!("Clustering failed: {e}"), th.warn()),
            (None, Some(step)) => Line::styled(format!("clustering: {step}…"), th.dim()),
            (None, None) => Line::styled("no clustering for this job", th.dim()),
        });
        f.render_widget(Paragraph::new(head), area);
        return;
    };
    let Some(c) = l.subset(subset) else {
        head.push(Line::styled("no rows in this subset", th.dim()));
        f.render_widget(Paragraph::new(head), area);
        return;
    };
    let noise = c.noise;
    let mut info = format!(
        "HDBSCAN (min cluster size 10): {} clusters, {} noise rows of {}",
        c.count,
        count(noise),
        count(c.rows.len())
    );
    if let Some(s) = c.sampled {
        info.push_str(&format!(
            " · clustered on a sample of {s}, other rows joined their nearest"
        ));
    }
    head.push(Line::styled(info, th.dim()));
    // Anomalous share per cluster (counted with the clustering), and its rows in a
    // query's view (counted while a view narrows the rows).
    let view = app.table.view.as_deref();
    let flagged: HashMap<i32, usize> = c
        .stats
        .iter()
        .zip(&c.flagged)
        .map(|(s, &n)| (s.cluster, n))
        .collect();
    let mut in_view: HashMap<i32, usize> = HashMap::new();
    if let Some(v) = view {
        for (&i, &lab) in c.rows.iter().zip(&c.labels) {
            if v.get(i as usize).copied().unwrap_or(false) {
                *in_view.entry(lab).or_default() += 1;
            }
        }
    }
    // While a query narrows the view, the clusters that hold its rows.
    let shown: Vec<usize> = (0..c.stats.len())
        .filter(|&k| view.is_none() || in_view.contains_key(&c.stats[k].cluster))
        .collect();
    if view.is_some() {
        head[1] = Line::styled(
            cut(
                &format!(
                    "the view's {} rows are in {} of {} clusters (noise as one); whole-cluster \
                     statistics",
                    count(in_view.values().sum()),
                    shown.len(),
                    c.stats.len()
                ),
                usize::from(area.width),
            ),
            th.dim(),
        );
    }
    let [top, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let head: Vec<Line> = head.into_iter().map(|l| fit(l, top.width)).collect();
    f.render_widget(Paragraph::new(head), top);
    let list_w = if body.width >= 60 { 26 } else { body.width / 2 };
    let [list, detail] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(1)]).areas(body);
    let sel = app.clusters.selected.min(shown.len().saturating_sub(1));
    let visible = usize::from(list.height.saturating_sub(1)).max(1);
    let first = sel.saturating_sub(visible.saturating_sub(1));
    let list = scrollbar(f, list, shown.len(), first, visible, th);
    let mut rows = vec![Line::styled(
        format!("{:<9}{:>8}{:>8}", "cluster", "rows", "anom%"),
        th.dim(),
    )];
    for (k, s) in shown
        .iter()
        .map(|&k| &c.stats[k])
        .enumerate()
        .skip(first)
        .take(visible)
    {
        let name = if s.cluster < 0 {
            "noise".to_string()
        } else {
            format!("#{}", s.cluster)
        };
        let share = 100.0 * *flagged.get(&s.cluster).unwrap_or(&0) as f64 / s.count.max(1) as f64;
        let line = format!("{:<9}{:>8}{:>7.0}%", name, count(s.count), share);
        rows.push(if k == sel {
            Line::styled(line, th.selected())
        } else {
            Line::raw(line)
        });
    }
    f.render_widget(Paragraph::new(rows), list);
    if let Some(s) = shown.get(sel).and_then(|&k| c.stats.get(k)) {
        f.render_widget(Paragraph::new(stats_lines(&th, s, detail.width)), detail);
    }
}

fn stats_lines(th: &Theme, s: &ClusterStats, width: u16) -> Vec<Line<'static>> {
    let name = if s.cluster < 0 {
        "noise".to_string()
    } else {
        format!("cluster #{}", s.cluster)
    };
    let mut lines = vec![Line::styled(
        format!("{name}: {} rows", count(s.count)),
        th.title(),
    )];
    // The statistics that fit: all seven, or the mean, the extremes and the median.
    let all = usize::from(width) >= 13 + 7 * 8;
    let names: &[&str] = if all {
        &["mean", "std", "min", "q1", "median", "q3", "max"]
    } else {
        &["mean", "min", "median", "max"]
    };
    let mut head = format!("{:<13}", "feature");
    for n in names {
        head.push_str(&format!("{n:>8}"));
    }
    lines.push(Line::styled(head, th.dim()));
    for n in &s.numeric {
        let values = if all {
            vec![n.mean, n.std, n.min, n.q1, n.median, n.q3, n.max]
        } else {
            vec![n.mean, n.min, n.median, n.max]
        };
        let mut line = format!("{:<13}", cut(&clean(&n.feature), 12));
        for v in values {
            line.push_str(&format!("{:>8}", short(v)));
        }
        lines.push(Line::raw(line));
    }
    lines.push(Line::raw(""));
    for c in &s.categorical {
        let mut spans = vec![Span::styled(format!("{:<10} ", clean(&c.column)), th.dim())];
        let top: Vec<String> = c
            .top
            .iter()
            .map(|v| format!("{} {}", clean(&v.value), count(v.count)))
            .collect();
        spans.push(Span::raw(top.join(" · ")));
        lines.push(Line::from(spans));
    }
    lines.into_iter().map(|l| fit(l, width)).collect()
}

/// A number in at most 7 columns: large values with a k, M or G suffix.
fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e5 {
        format!("{:.0}k", x / 1e3)
    } else {
        number(x)
    }
}
