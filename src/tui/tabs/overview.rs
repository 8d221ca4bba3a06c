//! The Overview tab: the log (files, time range, skipped lines), services and top
//! talkers; the last job (detector timings); the evaluation when the log has labels.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::app::{moves, scrolled};
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, fit, scrollbar, Theme};

/// The Overview tab's state.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// First line shown.
    pub scroll: usize,
}

impl Overview {
    /// Handles the tab's own keys; returns whether the key was its.
    pub fn update(&mut self, action: Action, page: usize) -> bool {
        match action {
            a if moves(a) => self.scroll = scrolled(self.scroll, a, page, 200),
            _ => return false,
        }
        true
    }
}

/// Rows listed per top list.
const TOP: usize = 8;

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let Some(info) = &app.info else {
        return;
    };
    let th = Theme::of(app);
    let mut left: Vec<Line> = Vec::new();
    let heading = |s: &str| Line::styled(s.to_string(), th.title());
    left.push(heading("Log"));
    left.push(Line::raw(format!(
        "{} rows · {} · {} file(s)",
        count(info.rows),
        info.format,
        info.files.len()
    )));
    for file in &info.files {
        left.push(Line::styled(format!("  {file}"), th.dim()));
    }
    if let Some((a, b)) = &info.time_range {
        left.push(Line::raw(a.clone()));
        left.push(Line::raw(format!("  .. {b}")));
    }
    if info.skipped > 0 {
        left.push(Line::styled(
            format!("{} malformed lines skipped", count(info.skipped as usize)),
            th.warn(),
        ));
        for s in info.skipped_first.iter().take(5) {
            left.push(Line::styled(format!("  {s}"), th.dim()));
        }
    } else {
        left.push(Line::styled("no line skipped", th.dim()));
    }
    left.push(Line::raw(""));
    left.push(heading("Services"));
    for c in info.services.iter().take(TOP) {
        left.push(Line::raw(format!("{:>9}  {}", count(c.count), c.shown)));
    }
    left.push(Line::raw(""));
    left.push(heading("Top talkers (rows as source / destination)"));
    for a in info.addresses.iter().take(TOP) {
        left.push(Line::raw(format!(
            "{:>9} {:>9}  {}",
            count(a.src),
            count(a.dst),
            a.shown
        )));
    }

    let mut right: Vec<Line> = Vec::new();
    right.push(heading("Detectors"));
    match &app.results {
        Some(r) => {
            right.push(Line::raw(format!(
                "{} rows analysed, {} flagged, {:.2} s",
                count(r.rows()),
                count(r.flagged.len()),
                r.seconds
            )));
            let v = &r.analysis.verdicts;
            if let Some(of) = v.fit_sampled_from {
                right.push(Line::styled(
                    format!(
                        "fitted on a sample of {} of the {} training rows",
                        count(v.fit_rows),
                        count(of)
                    ),
                    th.warn(),
                ));
            }
            if r.analysis.matrix.dropped > 0 {
                right.push(Line::styled(
                    format!(
                        "{} rows left out for an unset feature",
                        count(r.analysis.matrix.dropped)
                    ),
                    th.warn(),
                ));
            }
            right.push(Line::styled(
                format!("{:<9} {:>8} {:>8}", "detector", "seconds", "flags"),
                th.dim(),
            ));
            for t in &r.timings {
                match &t.error {
                    None => right.push(Line::raw(format!(
                        "{:<9} {:>8.3} {:>8}",
                        t.name,
                        t.seconds,
                        count(t.flagged)
                    ))),
                    Some(e) => right.push(Line::styled(
                        format!("{:<9} failed: {}", t.name, cut(e, 60)),
                        th.warn(),
                    )),
                }
            }
            right.push(Line::raw(""));
            match r.evaluation() {
                Some(ev) => {
                    right.push(heading("Evaluation against the labels"));
                    right.push(Line::styled(
                        format!(
                            "{} malicious, {} other rows",
                            count(ev.positives),
                            count(ev.negatives)
                        ),
                        th.dim(),
                    ));
                    right.push(Line::styled(
                        format!("{:<9} {:>8} {:>8}", "scorer", "ROC-AUC", "P@k"),
                        th.dim(),
                    ));
                    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
                    let detectors = ev.detectors();
                    for e in detectors.unwrap_or_default().iter().chain([&ev.ensemble]) {
                        right.push(Line::raw(format!(
                            "{:<9} {:>8} {:>8}",
                            e.name,
                            opt(e.auc),
                            opt(e.precision)
                        )));
                    }
                    if let Some(why) = ev.detectors_failed() {
                        right.push(Line::styled(
                            format!("each detector's could not be made: {}", cut(why, 60)),
                            th.warn(),
                        ));
                    } else if detectors.is_none() {
                        right.push(Line::styled(
                            "each detector's: after the 2-D views",
                            th.dim(),
                        ));
                    }
                    if let Some((rows, malicious)) = ev.detector_sample() {
                        right.push(Line::styled(
                            format!(
                                "each detector's on a sample of {} rows ({} malicious)",
                                count(rows),
                                count(malicious)
                            ),
                            th.dim(),
                        ));
                    }
                }
                None if info.label_column.is_some() => right.push(Line::styled(
                    "The labels have no malicious and benign rows to evaluate on.",
                    th.dim(),
                )),
                None => right.push(Line::styled("No label column: no evaluation.", th.dim())),
            }
            for w in r.warnings() {
                right.push(Line::raw(""));
                right.push(Line::styled(format!("! {w}"), th.warn()));
            }
            if let Some(t) = r.timeline() {
                right.push(Line::raw(""));
                let column = if area.width >= 72 {
                    (area.width - 1) / 2
                } else {
                    area.width
                };
                right.extend(timeline(t, th, usize::from(column)));
            }
        }
        None => match &app.job {
            Some(j) => {
                right.push(Line::styled(
                    match &j.error {
                        Some(e) => format!("failed: {e}"),
                        None => format!("running: {}", j.stage.name()),
                    },
                    th.warn(),
                ));
                for (name, secs) in &j.detectors {
                    right.push(Line::raw(format!("{name:<9} {secs:>8.3}")));
                }
            }
            None => right.push(Line::raw("waiting")),
        },
    }
    let visible = usize::from(area.height);
    let two = area.width >= 72;
    let total = if two {
        left.len().max(right.len())
    } else {
        left.len() + right.len() + 1
    };
    let first = app.overview.scroll.min(total.saturating_sub(visible));
    let area = scrollbar(f, area, total, first, visible, th);
    let scroll = u16::try_from(first).unwrap_or(u16::MAX);
    if two {
        // A column of gap, and lines cut with a mark where they do not fit: text never
        // runs into the next column.
        let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
            .spacing(1)
            .areas(area);
        f.render_widget(
            Paragraph::new(fit_all(left, l.width)).scroll((scroll, 0)),
            l,
        );
        f.render_widget(
            Paragraph::new(fit_all(right, r.width)).scroll((scroll, 0)),
            r,
        );
    } else {
        let mut all = right;
        all.push(Line::raw(""));
        all.extend(left);
        f.render_widget(
            Paragraph::new(fit_all(all, area.width)).scroll((scroll, 0)),
            area,
        );
    }
}

/// Lines cut to `width` columns, a cut one ending in `…`.
fn fit_all(lines: Vec<Line<'static>>, width: u16) -> Vec<Line<'static>> {
    lines.into_iter().map(|l| fit(l, width)).collect()
}

/// Rows over time: a line per bucket, its start, a bar of its rows (the flagged share in
/// the warning colour) and the counts, the bars as wide as the column leaves (4 to 24).
fn timeline(t: &crate::tui::data::Timeline, th: Theme, column: usize) -> Vec<Line<'static>> {
    // Stamp, gaps and counts take 33 columns.
    let bar = column.saturating_sub(33).clamp(4, 24);
    let most = t.rows.iter().copied().max().unwrap_or(0).max(1);
    let stamp = |us: i64| {
        let iso = crate::summary::iso(us);
        // `06-13 01:00`: month-day and minute, enough at the steps the timeline takes.
        format!(
            "{} {}",
            iso.get(5..10).unwrap_or(""),
            iso.get(11..16).unwrap_or("")
        )
    };
    let mut lines = vec![
        Line::styled("When (rows per bucket, flagged in colour)", th.title()),
        Line::styled(
            format!(
                "{:<11}  {:<bar$}  {:>9} {:>8}",
                "from", "", "rows", "flagged"
            ),
            th.dim(),
        ),
    ];
    for (k, (&n, &fl)) in t.rows.iter().zip(&t.flagged).enumerate() {
        let width = (n * bar).div_ceil(most);
        let red = if n == 0 { 0 } else { (fl * width).div_ceil(n) };
        lines.push(Line::from(vec![
            Span::raw(format!("{:<11}  ", stamp(t.start + t.step * k as i64))),
            Span::styled("█".repeat(red), th.warn()),
            Span::raw("█".repeat(width - red)),
            Span::raw(format!(
                "{}  {:>9} {:>8}",
                " ".repeat(bar - width),
                count(n),
                count(fl)
            )),
        ]));
    }
    lines
}
