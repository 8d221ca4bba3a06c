//! Overlays on top of the tabs: the key help, the pickers, a row's full record and the
//! text prompts.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{centred, cut, hint_line, popup, Theme};
use crate::tui::app::{App, Item, Overlay, Picker, PickerKind, PromptKind};
use crate::tui::keys::{self, Context};

/// Draws the open overlay, if any.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => help(app, f, area, *scroll),
        Overlay::Picker(p) => picker(app, f, area, p),
        Overlay::Detail {
            title,
            fields,
            scroll,
        } => detail(app, f, area, title, fields, *scroll),
        Overlay::Prompt { kind, text } => prompt(app, f, area, *kind, text),
    }
}

const HELP_ORDER: [Context; 11] = [
    Context::Global,
    Context::Move,
    Context::Anomalies,
    Context::Scatter,
    Context::Clusters,
    Context::Histograms,
    Context::Picker,
    Context::Detectors,
    Context::Detail,
    Context::Prompt,
    Context::Help,
];

fn help(app: &App, f: &mut Frame, area: Rect, scroll: usize) {
    let th = Theme::of(app);
    let rect = centred(area, 72, area.height.saturating_sub(2).max(3));
    let inner = popup(f, rect, "Keys (Esc closes)", th);
    let mut lines = Vec::new();
    for c in HELP_ORDER {
        lines.push(Line::styled(c.title(), th.title()));
        for b in keys::of(c) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", b.label), th.key()),
                Span::raw(b.help),
            ]));
        }
    }
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = u16::try_from(scroll.min(max)).unwrap_or(0);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn picker(app: &App, f: &mut Frame, area: Rect, p: &Picker) {
    let th = Theme::of(app);
    let rect = centred(area, 64, area.height.saturating_sub(2).max(3));
    let inner = popup(f, rect, p.title(), th);
    let [top, list, hints] = Layout::vertical([
        Constraint::Length(u16::from(inner.height >= 4)),
        Constraint::Min(0),
        Constraint::Length(u16::from(inner.height >= 6)),
    ])
    .areas(inner);
    let head = match p.kind {
        PickerKind::Detectors => Line::from(vec![
            Span::raw("contamination "),
            Span::styled(format!("{}", p.contamination), th.title()),
            Span::styled(" (+/-) · ", th.dim()),
            Span::raw("rule "),
            Span::styled(p.combine.to_string(), th.title()),
            Span::styled(" (m)", th.dim()),
        ]),
        PickerKind::Features => {
            Line::styled("Space marks; Enter runs with the marked features", th.dim())
        }
        _ => Line::from(vec![
            Span::styled("type to narrow: ", th.dim()),
            Span::raw(crate::tui::data::clean(&p.text)),
            Span::styled("▏", th.key()),
        ]),
    };
    f.render_widget(Paragraph::new(head), top);
    let visible = p.visible();
    let rows = usize::from(list.height).max(1);
    let offset = p.cursor.saturating_sub(rows - 1);
    let width = usize::from(list.width);
    let mut lines = Vec::new();
    for (pos, &i) in visible.iter().enumerate().skip(offset).take(rows) {
        let it = &p.items[i];
        let mark = match it.item {
            Item::All | Item::Scaling | Item::Nulls => "   ",
            _ if it.marked => "[x]",
            _ => "[ ]",
        };
        let detail = match it.item {
            Item::Scaling => format!("{:?} (Space flips)", p.scaling).to_lowercase(),
            Item::Nulls => match p.nulls {
                crate::features::Nulls::Zero => "count as 0 (Space flips)".into(),
                crate::features::Nulls::Drop => "drop the row (Space flips)".into(),
            },
            _ => it.detail.clone(),
        };
        let name_w = width.saturating_sub(detail.chars().count() + 6).max(4);
        let text = format!("{mark} {:<name_w$} {detail}", cut(&it.shown, name_w),);
        let style = if pos == p.cursor {
            th.selected()
        } else if it.marked {
            th.title()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    if visible.is_empty() {
        lines.push(Line::styled("nothing matches", th.dim()));
    }
    f.render_widget(Paragraph::new(lines), list);
    let contexts: &[Context] = if p.kind == PickerKind::Detectors {
        &[Context::Detectors, Context::Picker]
    } else {
        &[Context::Picker]
    };
    f.render_widget(Paragraph::new(hint_line(contexts, th, hints.width)), hints);
}

fn detail(
    app: &App,
    f: &mut Frame,
    area: Rect,
    title: &str,
    fields: &[(String, String)],
    scroll: usize,
) {
    let th = Theme::of(app);
    let rect = centred(
        area,
        area.width.saturating_sub(4).max(10),
        area.height.saturating_sub(2).max(3),
    );
    let inner = popup(f, rect, title, th);
    let name_w = fields
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    let lines: Vec<Line> = fields
        .iter()
        .skip(scroll)
        .map(|(n, v)| {
            Line::from(vec![
                Span::styled(format!("{:<name_w$} ", cut(n, name_w)), th.dim()),
                Span::raw(v.clone()),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn prompt(app: &App, f: &mut Frame, area: Rect, kind: PromptKind, text: &str) {
    let th = Theme::of(app);
    let h = 3.min(area.height);
    let rect = Rect {
        x: area.x,
        y: area.y + area.height - h,
        width: area.width,
        height: h,
    };
    let title = match kind {
        PromptKind::Search => "Search every row: UID or address (Enter keeps, Esc clears)",
        PromptKind::Export => "Export the flagged rows to directory (Enter writes anomalous.csv)",
        PromptKind::Query => {
            "Query: field:value terms, -field: negates, Tab completes (? lists fields)"
        }
    };
    let inner = popup(f, rect, title, th);
    let mut spans = vec![
        Span::raw(crate::tui::data::clean(text)),
        Span::styled("▏", th.key()),
    ];
    if kind == PromptKind::Query {
        if let Some(e) = &app.query_error {
            spans.push(Span::styled(format!("  ✗ {e}"), th.warn()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), inner);
}
