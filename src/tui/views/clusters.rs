//! The Clusters tab: statistics of all, anomalous or normal rows (`a` cycles). The
//! clustering stage itself (HDBSCAN) is not in this build, so each subset is summarised
//! as one group, and the tab says so.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{count, pending, Theme};
use crate::reasons::number;
use crate::tui::app::{App, Subset};
use crate::tui::data::clean;

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = &app.results else {
        pending(app, f, area);
        return;
    };
    let k = match app.clusters.subset {
        Subset::All => 0,
        Subset::Anomalous => 1,
        Subset::Normal => 2,
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} rows", app.clusters.subset.name()), th.title()),
            Span::styled(" (a: all / anomalous / normal)", th.dim()),
        ]),
        Line::styled(
            "No clustering stage (HDBSCAN) in this build: one group per subset.",
            th.warn(),
        ),
    ];
    match r.subsets.get(k) {
        Some(s) if s.count > 0 => {
            lines.push(Line::raw(format!("{} rows", count(s.count))));
            lines.push(Line::styled(
                format!(
                    "{:<13}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
                    "feature", "count", "mean", "std", "min", "q1", "median", "q3", "max"
                ),
                th.dim(),
            ));
            for n in &s.numeric {
                lines.push(Line::raw(format!(
                    "{:<13}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
                    clean(&n.feature),
                    count(n.count),
                    short(n.mean),
                    short(n.std),
                    short(n.min),
                    short(n.q1),
                    short(n.median),
                    short(n.q3),
                    short(n.max)
                )));
            }
            lines.push(Line::raw(""));
            for c in &s.categorical {
                let mut spans = vec![Span::styled(format!("{:<10} ", c.column), th.dim())];
                let top: Vec<String> = c
                    .top
                    .iter()
                    .map(|v| format!("{} {}", clean(&v.value), count(v.count)))
                    .collect();
                spans.push(Span::raw(top.join(" · ")));
                lines.push(Line::from(spans));
            }
        }
        _ => lines.push(Line::styled("no rows in this subset", th.dim())),
    }
    let scroll = u16::try_from(app.clusters.selected).unwrap_or(u16::MAX);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), area);
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
