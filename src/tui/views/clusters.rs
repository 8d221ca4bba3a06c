//! The Clusters tab: clusters of the analysed rows and the selected cluster's statistics.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Theme;
use crate::tui::app::App;

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let lines = vec![
        Line::styled(
            format!("Clusters of {} rows", app.clusters.subset.name()),
            th.title(),
        ),
        Line::raw(""),
        Line::styled(
            "The clustering stage (HDBSCAN) is not available in this build, so there are \
             no clusters to show yet.",
            th.warn(),
        ),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
