//! The Histograms tab: one feature at a time, anomalous against normal rows (overlaid or
//! side by side, linear or log bins), and the sorted-value curve of each.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::{count, cut, pending, Theme};
use crate::reasons::number;
use crate::tui::app::App;
use crate::tui::data::{log_scale, unlog_scale, Bins, Dist, BINS};

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = &app.results else {
        pending(app, f, area);
        return;
    };
    let Some(fd) = r.dists.get(app.hist.feature) else {
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
            format!(" {}/{}", app.hist.feature + 1, r.dists.len()),
            th.dim(),
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
    f.render_widget(Paragraph::new(Line::from(cap)), caption);
    match &fd.dist {
        Dist::Num {
            linear,
            log,
            normal_curve,
            anomalous_curve,
            ..
        } => {
            let bins = if app.hist.log { log } else { linear };
            let curve_h = if rest.height >= 14 {
                rest.height * 2 / 5
            } else {
                0
            };
            let [hist, curve] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(curve_h)]).areas(rest);
            histogram(app, f, hist, bins);
            if curve_h > 0 {
                sorted_curves(app, f, curve, normal_curve, anomalous_curve);
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

/// The x value shown for a position on the binned scale.
fn x_label(app: &App, x: f64) -> String {
    number(if app.hist.log { unlog_scale(x) } else { x })
}

/// A histogram as a step outline: each bin a flat segment at its share.
fn steps(bins: &Bins, shares: &[f64]) -> Vec<(f64, f64)> {
    let width = (bins.hi - bins.lo) / BINS as f64;
    let mut out = Vec::with_capacity(2 * shares.len() + 2);
    out.push((bins.lo, 0.0));
    for (i, &s) in shares.iter().enumerate() {
        out.push((bins.lo + i as f64 * width, s));
        out.push((bins.lo + (i + 1) as f64 * width, s));
    }
    out.push((bins.hi, 0.0));
    out
}

fn hist_chart<'d>(
    data: Vec<Dataset<'d>>,
    bins: &Bins,
    ymax: f64,
    x_labels: Vec<String>,
    th: Theme,
) -> Chart<'d> {
    Chart::new(data)
        .x_axis(
            Axis::default()
                .bounds([bins.lo, bins.hi])
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

fn histogram(app: &App, f: &mut Frame, area: Rect, bins: &Bins) {
    let th = Theme::of(app);
    let normal = steps(bins, &bins.normal);
    let anomalous = steps(bins, &bins.anomalous);
    let top = |v: &[f64]| v.iter().cloned().fold(0.0f64, f64::max).max(1e-9);
    let ymax = top(&bins.normal).max(top(&bins.anomalous));
    let x_labels = [bins.lo, (bins.lo + bins.hi) / 2.0, bins.hi].map(|x| x_label(app, x));
    // Without colour the two series differ by their marks.
    let anomalous_mark = if app.color {
        Marker::Braille
    } else {
        Marker::Dot
    };
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
    if app.hist.side_by_side {
        let [l, r] = Layout::horizontal([Constraint::Fill(1); 2]).areas(area);
        let n = hist_chart(
            vec![set("normal", &normal, th.normal(), Marker::Braille)],
            bins,
            ymax,
            x_labels.to_vec(),
            th,
        );
        f.render_widget(n, l);
        let a = hist_chart(
            vec![set("anomalous", &anomalous, th.anomalous(), anomalous_mark)],
            bins,
            ymax,
            x_labels.to_vec(),
            th,
        );
        f.render_widget(a, r);
    } else {
        let both = hist_chart(
            vec![
                set("normal", &normal, th.normal(), Marker::Braille),
                set("anomalous", &anomalous, th.anomalous(), anomalous_mark),
            ],
            bins,
            ymax,
            x_labels.to_vec(),
            th,
        );
        f.render_widget(both, area);
    }
}

fn sorted_curves(
    app: &App,
    f: &mut Frame,
    area: Rect,
    normal: &[(f64, f64)],
    anomalous: &[(f64, f64)],
) {
    let th = Theme::of(app);
    let y = |v: f64| if app.hist.log { log_scale(v) } else { v };
    let map = |c: &[(f64, f64)]| -> Vec<(f64, f64)> { c.iter().map(|&(q, v)| (q, y(v))).collect() };
    let (normal, anomalous) = (map(normal), map(anomalous));
    let lo = normal
        .iter()
        .chain(&anomalous)
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min);
    let hi = normal
        .iter()
        .chain(&anomalous)
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let anomalous_mark = if app.color {
        Marker::Braille
    } else {
        Marker::Dot
    };
    let chart = Chart::new(vec![
        Dataset::default()
            .name("normal")
            .data(&normal)
            .graph_type(GraphType::Line)
            .marker(Marker::Braille)
            .style(th.normal()),
        Dataset::default()
            .name("anomalous")
            .data(&anomalous)
            .graph_type(GraphType::Line)
            .marker(anomalous_mark)
            .style(th.anomalous()),
    ])
    .x_axis(
        Axis::default()
            .title("sorted values (quantile)")
            .bounds([0.0, 1.0])
            .labels(vec![Span::raw("0"), Span::raw("0.5"), Span::raw("1")])
            .style(th.dim()),
    )
    .y_axis(
        Axis::default()
            .bounds([lo, hi])
            .labels(vec![
                Span::raw(x_label(app, lo)),
                Span::raw(x_label(app, hi)),
            ])
            .style(th.dim()),
    );
    f.render_widget(chart, area);
}
