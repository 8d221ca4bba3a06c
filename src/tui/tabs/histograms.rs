//! The Histograms tab: one feature at a time, anomalous against normal rows (overlaid or
//! side by side, linear or log bins), and the sorted-value curve of each.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use crate::cluster::stats::Histogram;
use crate::reasons::number;
use crate::tui::app::App;
use std::cell::RefCell;
use std::sync::Arc;

use crate::tui::data::{log_scale, Dist, FeatureDist, Results};
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, fit, pending, Theme};

/// The Histograms tab's state.
#[derive(Debug, Clone, Default)]
pub struct Histograms {
    /// Index of the feature shown.
    pub feature: usize,
    /// Side by side instead of overlaid.
    pub side_by_side: bool,
    /// Log bins.
    pub log: bool,
    /// The feature shown over a query's view: (view generation, feature, distribution),
    /// made when first drawn, one feature at a time.
    pub in_view: RefCell<Option<(u64, usize, Arc<FeatureDist>)>>,
}

impl Histograms {
    /// The shown feature's distribution over the query's view (`generation` numbers the
    /// view), made once per feature and view.
    fn view_dist(&self, r: &Results, view: &[bool], generation: u64) -> Option<Arc<FeatureDist>> {
        let mut slot = self.in_view.borrow_mut();
        if let Some((g, k, d)) = &*slot {
            if *g == generation && *k == self.feature {
                return Some(Arc::clone(d));
            }
        }
        let d = Arc::new(r.dist_in(self.feature, view)?);
        *slot = Some((generation, self.feature, Arc::clone(&d)));
        Some(d)
    }
}

impl Histograms {
    /// Handles the tab's own keys among `n` features; returns whether the key was its.
    pub fn update(&mut self, action: Action, n: usize) -> bool {
        match action {
            Action::Layout => self.side_by_side = !self.side_by_side,
            Action::LogBins => self.log = !self.log,
            Action::Left
            | Action::Up
            | Action::Right
            | Action::Down
            | Action::Top
            | Action::Bottom => {
                if n > 0 {
                    self.feature = match action {
                        Action::Left | Action::Up => (self.feature + n - 1) % n,
                        Action::Right | Action::Down => (self.feature + 1) % n,
                        Action::Top => 0,
                        _ => n - 1,
                    };
                }
            }
            _ => return false,
        }
        true
    }
}

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = &app.results else {
        pending(app, f, area);
        return;
    };
    // Over the query's view when one narrows it (the whole analysis's are ready first).
    let view = app.table.view.as_deref();
    let in_view = match view {
        Some(v) if !r.dists().is_empty() => app.hist.view_dist(r, v, app.table.view_generation),
        _ => None,
    };
    let Some(fd) = in_view.as_deref().or(r.dists().get(app.hist.feature)) else {
        f.render_widget(Paragraph::new("No feature to show."), area);
        return;
    };
    let [caption, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let (n_normal, n_anomalous) = match &fd.dist {
        Dist::Num {
            n_normal,
            n_anomalous,
            ..
        }
        | Dist::Cat {
            n_normal,
            n_anomalous,
            ..
        } => (*n_normal, *n_anomalous),
    };
    let mut cap = vec![
        Span::styled(format!("◀ {} ▶", fd.name), th.title()),
        Span::styled(
            format!(" {}/{}", app.hist.feature + 1, r.dists().len()),
            th.dim(),
        ),
        Span::styled(
            if in_view.is_some() {
                " · in the view"
            } else {
                ""
            },
            th.warn(),
        ),
        Span::raw(" · "),
        Span::styled(format!("normal {}", count(n_normal)), th.normal()),
        Span::raw(" · "),
        Span::styled(format!("anomalous {}", count(n_anomalous)), th.anomalous()),
    ];
    if matches!(fd.dist, Dist::Num { .. }) {
        cap.push(Span::styled(
            format!(
                " · {} · {} bins",
                if app.hist.side_by_side {
                    "side by side"
                } else {
                    "overlaid"
                },
                if app.hist.log { "log" } else { "linear" }
            ),
            th.dim(),
        ));
    }
    f.render_widget(Paragraph::new(fit(Line::from(cap), caption.width)), caption);
    match &fd.dist {
        Dist::Num { hist, curve, .. } => {
            let bins = if app.hist.log {
                &hist.log
            } else {
                &hist.linear
            };
            let curve_h = if rest.height >= 14 {
                rest.height * 2 / 5
            } else {
                0
            };
            let [top, bottom] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(curve_h)]).areas(rest);
            histogram(app, f, top, bins, (n_normal, n_anomalous));
            if curve_h > 0 {
                sorted_curve(app, f, bottom, curve);
            }
        }
        Dist::Cat { top, .. } => {
            let mut lines = vec![Line::styled(
                "value                 share of normal rows       share of anomalous rows",
                th.dim(),
            )];
            let bar = usize::from(rest.width.saturating_sub(26) / 2).clamp(1, 24);
            for (v, n, a) in top {
                let sn = *n as f64 / n_normal.max(1) as f64;
                let sa = *a as f64 / n_anomalous.max(1) as f64;
                lines.push(Line::from(vec![
                    Span::raw(format!("{:<20} ", cut(v, 20))),
                    Span::styled(share_bar(sn, bar), th.normal()),
                    Span::raw("  "),
                    Span::styled(share_bar(sa, bar), th.anomalous()),
                ]));
            }
            f.render_widget(Paragraph::new(lines), rest);
        }
    }
}

fn share_bar(share: f64, width: usize) -> String {
    let n = ((share * width as f64).round() as usize).min(width);
    format!(
        "{}{} {:>5.1}%",
        "█".repeat(n),
        " ".repeat(width - n),
        share * 100.0
    )
}

/// The binned scale: the values themselves, or log10(1 + x) with log bins.
fn scale(app: &App, x: f64) -> f64 {
    if app.hist.log {
        log_scale(x)
    } else {
        x
    }
}

/// A histogram as a step outline: each bin a flat segment at its share of the rows.
fn steps(app: &App, edges: &[f64], counts: &[usize], n: usize) -> Vec<(f64, f64)> {
    let n = n.max(1) as f64;
    let mut out = Vec::with_capacity(2 * counts.len() + 2);
    if let Some(&first) = edges.first() {
        out.push((scale(app, first), 0.0));
    }
    for (i, &c) in counts.iter().enumerate() {
        let (Some(&a), Some(&b)) = (edges.get(i), edges.get(i + 1)) else {
            break;
        };
        let share = c as f64 / n;
        out.push((scale(app, a), share));
        out.push((scale(app, b), share));
    }
    if let Some(&last) = edges.last() {
        out.push((scale(app, last), 0.0));
    }
    out
}

fn hist_chart<'d>(
    data: Vec<Dataset<'d>>,
    (lo, hi): (f64, f64),
    ymax: f64,
    x_labels: Vec<String>,
    th: Theme,
) -> Chart<'d> {
    Chart::new(data)
        .x_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels(x_labels)
                .style(th.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, ymax])
                .labels(vec!["0%".to_string(), format!("{:.0}%", ymax * 100.0)])
                .style(th.dim()),
        )
}

fn set<'d>(
    name: &'static str,
    data: &'d [(f64, f64)],
    style: Style,
    marker: Marker,
) -> Dataset<'d> {
    Dataset::default()
        .name(name)
        .data(data)
        .graph_type(GraphType::Line)
        .marker(marker)
        .style(style)
}

fn histogram(app: &App, f: &mut Frame, area: Rect, h: &Histogram, (nn, na): (usize, usize)) {
    let th = Theme::of(app);
    let normal = steps(app, &h.edges, &h.normal, nn);
    let anomalous = steps(app, &h.edges, &h.anomalous, na);
    let (first, last) = (
        h.edges.first().copied().unwrap_or(0.0),
        h.edges.last().copied().unwrap_or(1.0),
    );
    let (lo, hi) = (scale(app, first), scale(app, last));
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let mid = h.edges.get(h.edges.len() / 2).copied().unwrap_or(first);
    let x_labels: Vec<String> = [first, mid, last].iter().map(|&x| number(x)).collect();
    let ymax = normal
        .iter()
        .chain(&anomalous)
        .map(|p| p.1)
        .fold(1e-9, f64::max);
    // Without colour the two series differ by their marks.
    let anomalous_mark = if app.color {
        Marker::Braille
    } else {
        Marker::Dot
    };
    if app.hist.side_by_side {
        let [l, r] = Layout::horizontal([Constraint::Fill(1); 2]).areas(area);
        let data = vec![set("normal", &normal, th.normal(), Marker::Braille)];
        f.render_widget(hist_chart(data, (lo, hi), ymax, x_labels.clone(), th), l);
        let data = vec![set("anomalous", &anomalous, th.anomalous(), anomalous_mark)];
        f.render_widget(hist_chart(data, (lo, hi), ymax, x_labels, th), r);
    } else {
        let data = vec![
            set("normal", &normal, th.normal(), Marker::Braille),
            set("anomalous", &anomalous, th.anomalous(), anomalous_mark),
        ];
        f.render_widget(hist_chart(data, (lo, hi), ymax, x_labels, th), area);
    }
}

/// Every row's value in ascending order (the seed notebook's distribution curve).
fn sorted_curve(app: &App, f: &mut Frame, area: Rect, curve: &[(f64, f64)]) {
    let th = Theme::of(app);
    let points: Vec<(f64, f64)> = curve.iter().map(|&(q, v)| (q, scale(app, v))).collect();
    let lo = curve.first().map_or(0.0, |p| p.1);
    let hi = curve.last().map_or(1.0, |p| p.1);
    let (slo, shi) = (scale(app, lo), scale(app, hi));
    let (slo, shi) = if shi > slo {
        (slo, shi)
    } else {
        (slo - 0.5, slo + 0.5)
    };
    let chart = Chart::new(vec![Dataset::default()
        .name("all rows")
        .data(&points)
        .graph_type(GraphType::Line)
        .marker(Marker::Braille)
        .style(th.title())])
    .x_axis(
        Axis::default()
            .title("sorted values (quantile)")
            .bounds([0.0, 1.0])
            .labels(vec!["0", "0.5", "1"])
            .style(th.dim()),
    )
    .y_axis(
        Axis::default()
            .bounds([slo, shi])
            .labels(vec![number(lo), number(hi)])
            .style(th.dim()),
    );
    f.render_widget(chart, area);
}
