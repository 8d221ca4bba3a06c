//! Overlays on top of the tabs: the key help, the pickers, a row's full record and the
//! text prompts.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{centred, cut, hint_line, popup, scrollbar, Theme};
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

const HELP_ORDER: [Context; 12] = [
    Context::Global,
    Context::Move,
    Context::Anomalies,
    Context::Hosts,
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
    // Long texts wrap under themselves, beside the keys (a column is kept for the bar).
    let room = usize::from(inner.width).saturating_sub(11).max(10);
    for c in HELP_ORDER {
        lines.push(Line::styled(c.title(), th.title()));
        for b in keys::of(c) {
            for (k, piece) in wrap(b.help, room).into_iter().enumerate() {
                let label = if k == 0 { b.label } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {label:<8}"), th.key()),
                    Span::raw(piece),
                ]));
            }
        }
    }
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let first = scroll.min(max);
    let inner = scrollbar(f, inner, lines.len(), first, usize::from(inner.height), th);
    let scroll = u16::try_from(first).unwrap_or(0);
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
    let list = scrollbar(f, list, visible.len(), offset, rows, th);
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
    // Long values (the reasons) wrap under themselves rather than run off the edge.
    let room = usize::from(inner.width).saturating_sub(name_w + 1).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for (n, v) in fields {
        for (k, piece) in wrap(v, room).into_iter().enumerate() {
            let name = if k == 0 {
                cut(n, name_w)
            } else {
                String::new()
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{name:<name_w$} "), th.dim()),
                Span::raw(piece),
            ]));
        }
    }
    let visible = usize::from(inner.height).max(1);
    let max = lines.len().saturating_sub(visible);
    app.detail_max.set(max);
    let scroll = scroll.min(max);
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(visible).collect();
    f.render_widget(Paragraph::new(shown), inner);
    // Marks on the frame where there is more above or below.
    let mark = |f: &mut Frame, y: u16, text: &str| {
        let w = text.chars().count() as u16;
        if rect.width > w + 4 {
            let at = Rect {
                x: rect.x + rect.width - w - 2,
                y,
                width: w,
                height: 1,
            };
            f.render_widget(Paragraph::new(Line::styled(text.to_string(), th.key())), at);
        }
    };
    if scroll > 0 {
        mark(f, rect.y, "▲ more");
    }
    if scroll < max {
        mark(
            f,
            rect.y + rect.height.saturating_sub(1),
            "▼ more (↓ PgDn G)",
        );
    }
}

/// `text` in pieces of at most `width` columns, broken at spaces where it can be.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let need = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if need <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than the line: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
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
