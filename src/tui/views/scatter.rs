//! The Scatter tab: the 2-D embedding of the analysed rows.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Theme;
use crate::tui::app::App;

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let which = if app.scatter.umap { "UMAP" } else { "PCA" };
    let lines = vec![
        Line::styled(format!("Scatter ({which})"), th.title()),
        Line::raw(""),
        Line::styled(
            "The embedding stage (PCA and UMAP to 2-D) is not available in this build, \
             so there is nothing to plot yet.",
            th.warn(),
        ),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
