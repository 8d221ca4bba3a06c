//! Drawing. Every function here reads the [`App`] and draws into a [`Rect`]; none changes
//! state, so each can be tested on a `TestBackend`. Text from the log arrives sanitized
//! (see [`super::data`]).

mod overlays;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Overlay, Tab};
use super::keys;
use super::tabs::{anomalies, clusters, histograms, hosts, overview, scatter};
use crate::detect::DetectorKind;

/// Styles, with colour or (under `NO_COLOR`) with attributes only. Sixteen colours
/// suffice.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// The theme for `app`.
    pub fn of(app: &App) -> Self {
        Self { color: app.color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// A colour for plotted points (the terminal's default under `NO_COLOR`).
    pub fn paint(self, c: Color) -> Color {
        if self.color {
            c
        } else {
            Color::Reset
        }
    }

    /// Whether colours are on.
    pub fn colored(self) -> bool {
        self.color
    }

    /// Headings and titles.
    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// Secondary text.
    pub fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    /// The highlighted row.
    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    /// Anomalous rows and values.
    pub fn anomalous(self) -> Style {
        self.fg(Color::Red)
    }
    /// Normal rows and values.
    pub fn normal(self) -> Style {
        self.fg(Color::Blue)
    }
    /// Errors and warnings.
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// Keys in hints.
    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// The active tab.
    pub fn active(self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    /// One of several series (clusters, detectors) by index.
    pub fn series(self, i: usize) -> Style {
        const C: [Color; 6] = [
            Color::Green,
            Color::Magenta,
            Color::Cyan,
            Color::Yellow,
            Color::LightBlue,
            Color::LightRed,
        ];
        self.fg(C[i % C.len()])
    }
}

/// Draws the whole screen.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let th = Theme::of(app);
    let roomy = area.height >= 12;
    let header_h = if roomy { 2 } else { 1 };
    let tabs_h = u16::from(area.height >= 5);
    let footer_h = u16::from(area.height >= 6);
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Length(tabs_h),
        Constraint::Min(0),
        Constraint::Length(footer_h),
    ])
    .areas(area);
    render_header(app, f, header, roomy);
    render_tabs(app, f, tabs);
    render_body(app, f, body, th);
    render_footer(app, f, footer);
    overlays::render(app, f, area);
}

/// The header: input and counts, job state; the active filters and model.
fn render_header(app: &App, f: &mut Frame, area: Rect, roomy: bool) {
    let th = Theme::of(app);
    let Some(info) = &app.info else {
        let secs = app.since(app.started).as_secs_f64();
        let size = if app.loading_bytes > 0 {
            format!(" ({:.1} MB)", app.loading_bytes as f64 / 1e6)
        } else {
            String::new()
        };
        let memory = crate::memory::now()
            .map(|m| format!(" · memory {}", crate::memory::human(m.resident)))
            .unwrap_or_default();
        let line = Line::from(vec![
            Span::styled("zsift ", th.title()),
            Span::raw(match app.waiting {
                // Following: the rows so far, and what the fit waits for.
                Some((rows, warmup)) => format!(
                    "following {}: {rows} rows read, the model is fitted at {warmup} (--warmup) \
                     {} {secs:.1} s",
                    app.loading_name,
                    spinner(secs)
                ),
                None => format!(
                    "loading {}{size} {} {secs:.1} s",
                    app.loading_name,
                    spinner(secs)
                ),
            }),
            Span::styled(memory, th.dim()),
        ]);
        f.render_widget(Paragraph::new(fit(line, area.width)), area);
        return;
    };
    let mut first = vec![
        Span::styled("zsift ", th.title()),
        Span::raw(format!("{} · {} rows", info.name, info.rows)),
    ];
    if info.skipped > 0 {
        first.push(Span::styled(
            format!(" · {} skipped", info.skipped),
            th.warn(),
        ));
    }
    first.push(Span::raw(" · "));
    first.extend(job_spans(app));
    if let Some(f) = &app.follow {
        first.push(Span::raw(" · "));
        first.push(match (&f.error, f.paused, &f.held) {
            (Some(e), _, _) => Span::styled(format!("following stopped: {e}"), th.warn()),
            (None, true, held) => {
                let arrived = held
                    .as_ref()
                    .map_or(0, |h| h.appended.saturating_sub(f.shown));
                Span::styled(
                    format!("paused: {arrived} rows arrived (Space resumes)"),
                    th.warn(),
                )
            }
            (None, false, _) => {
                let (new, flagged) = app.new_rows();
                let age = f
                    .fitted
                    .map(|t| format!(" · model {}", age(app.since(t).as_secs())))
                    .unwrap_or_default();
                let note = f
                    .note
                    .as_ref()
                    .map(|n| format!(" · {n}"))
                    .unwrap_or_default();
                Span::styled(
                    format!("following: {new} new rows, {flagged} flagged ● (n: seen){age}{note}"),
                    if flagged > 0 { th.warn() } else { th.title() },
                )
            }
        });
    }
    if let Some(m) = crate::memory::now() {
        first.push(Span::styled(
            format!(
                " · memory {} (peak {})",
                crate::memory::human(m.resident),
                crate::memory::human(m.peak)
            ),
            th.dim(),
        ));
    }
    let filter = app.model.filter.describe();
    let counts = match &app.results {
        Some(r) => format!("{} of {} rows flagged", r.flagged.len(), r.rows()),
        None => "…".into(),
    };
    let e = &app.model.ensemble;
    let dets = if e.detectors.len() == DetectorKind::ALL.len() {
        "all detectors".to_string()
    } else {
        let names: Vec<&str> = e.detectors.iter().map(|d| d.name()).collect();
        names.join(",")
    };
    let mut train = match &app.model.train_label {
        Some(l) => format!(" · train {}", super::data::clean(l)),
        None => String::new(),
    };
    if let Some((m, name)) = &app.saved {
        if *m == app.model {
            train.push_str(&format!(" · model {name}"));
        }
    }
    let mut second = vec![
        Span::styled("filter ", th.dim()),
        Span::styled(super::data::clean(&filter), th.title()),
    ];
    // The view's query, as a breadcrumb: Backspace steps back.
    if !app.table.query.is_empty() {
        second.push(Span::styled(" › view ", th.dim()));
        second.push(Span::styled(
            super::data::clean(&app.table.query.text()),
            th.title(),
        ));
        if !app.query_back.is_empty() {
            second.push(Span::styled(" (Bksp: back)", th.dim()));
        }
    }
    second.extend([
        Span::raw(format!(" · {counts} · ")),
        Span::styled(
            format!("{dets} c={} {}{train}", e.contamination, e.combine),
            th.dim(),
        ),
    ]);
    if roomy {
        let [a, b] = Layout::vertical([Constraint::Length(1); 2]).areas(area);
        f.render_widget(Paragraph::new(fit(Line::from(first), a.width)), a);
        f.render_widget(Paragraph::new(fit(Line::from(second), b.width)), b);
    } else {
        // One line: what matters most on a tiny screen is the state and the filter.
        let mut one = job_spans(app);
        one.push(Span::raw(" "));
        one.extend(second.into_iter().skip(1));
        f.render_widget(Paragraph::new(fit(Line::from(one), area.width)), area);
    }
}

/// A duration in a few characters: `42s`, `5m`, `3h`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

fn spinner(secs: f64) -> char {
    const S: [char; 4] = ['|', '/', '-', '\\'];
    S[(secs * 10.0) as usize % S.len()]
}

/// The job's state: stage and progress while it runs, its time when done.
fn job_spans(app: &App) -> Vec<Span<'static>> {
    let th = Theme::of(app);
    let Some(j) = &app.job else {
        return vec![Span::styled("waiting", th.dim())];
    };
    if let Some(e) = &j.error {
        return vec![Span::styled(format!("failed: {e}"), th.warn())];
    }
    let secs = app.since(j.started).as_secs_f64();
    if !j.running {
        return match (&app.results, &app.landscape_step) {
            (Some(r), Some(step)) => vec![
                Span::styled(format!("done {:.2} s", r.seconds), th.dim()),
                Span::styled(format!(" · {} 2-D views: {step}", spinner(secs)), th.warn()),
            ],
            (Some(r), None) if app.evaluating => vec![
                Span::styled(format!("done {:.2} s", r.seconds), th.dim()),
                Span::styled(
                    format!(" · {} each detector's evaluation", spinner(secs)),
                    th.warn(),
                ),
            ],
            (Some(r), None) => vec![Span::styled(format!("done {:.2} s", r.seconds), th.dim())],
            (None, _) => vec![Span::styled("stopped", th.dim())],
        };
    }
    let stage = match j.stage {
        super::worker::Stage::Detectors => {
            format!("detectors {}/{}", j.detectors.len(), j.total)
        }
        s => s.name().to_string(),
    };
    vec![Span::styled(
        format!(
            "{} {stage} {:>3.0}% {secs:.1} s",
            spinner(secs),
            j.fraction * 100.0
        ),
        th.warn(),
    )]
}

fn render_tabs(app: &App, f: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let th = Theme::of(app);
    let narrow = area.width < 60;
    let mut spans = Vec::new();
    for (i, t) in Tab::ALL.iter().enumerate() {
        let title = if narrow {
            format!(" {} {} ", i + 1, &t.title()[..3])
        } else {
            format!(" {} {} ", i + 1, t.title())
        };
        let style = if *t == app.tab {
            th.active()
        } else {
            Style::default()
        };
        spans.push(Span::styled(title, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_body(app: &App, f: &mut Frame, area: Rect, th: Theme) {
    if area.height == 0 {
        return;
    }
    if app.info.is_none() {
        let msg = match &app.load_error {
            Some(e) => Line::styled(e.clone(), th.warn()),
            None => Line::raw("Loading the log; the first screen follows as soon as it is read."),
        };
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    match app.tab {
        Tab::Anomalies | Tab::Hosts if app.results.is_none() && app.previous.is_some() => {
            // A new job runs: the last results stay, dimmed, under a line that says so.
            if app.tab == Tab::Anomalies {
                anomalies::render(app, f, area);
            } else {
                hosts::render(app, f, area);
            }
            f.buffer_mut().set_style(area, th.dim());
            let stage = app.job.as_ref().map_or("queued", |j| j.stage.name());
            let line = Rect { height: 1, ..area };
            f.render_widget(ratatui::widgets::Clear, line);
            f.render_widget(
                Paragraph::new(Line::styled(
                    cut(
                        &format!(
                            "recomputing ({stage}): the last results, dimmed, until the new ones"
                        ),
                        usize::from(area.width),
                    ),
                    th.warn(),
                )),
                line,
            );
        }
        Tab::Anomalies => anomalies::render(app, f, area),
        Tab::Hosts => hosts::render(app, f, area),
        Tab::Scatter => scatter::render(app, f, area),
        Tab::Clusters => clusters::render(app, f, area),
        Tab::Histograms => histograms::render(app, f, area),
        Tab::Overview => overview::render(app, f, area),
    }
}

/// The footer: the status message, or the key hints of where the user is.
fn render_footer(app: &App, f: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let th = Theme::of(app);
    if let Some(s) = &app.status {
        f.render_widget(Paragraph::new(Line::styled(s.clone(), th.warn())), area);
        return;
    }
    if !matches!(app.overlay, Overlay::None) {
        // Overlays carry their own hints.
        return;
    }
    let (contexts, _) = app.contexts();
    f.render_widget(Paragraph::new(hint_line(&contexts, th, area.width)), area);
}

/// Key hints for the given contexts, as one line of at most `width` columns: a hint
/// that does not fit whole is left out (`?` lists every key), never cut mid-word.
fn hint_line(contexts: &[keys::Context], th: Theme, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    let mut used = 0;
    for (k, h) in keys::hints(contexts) {
        let text = format!(" {h}");
        let w = k.chars().count() + text.chars().count();
        if used + w > usize::from(width) {
            break;
        }
        used += w + 2;
        spans.push(Span::styled(k, th.key()));
        spans.push(Span::raw(format!("{text}  ")));
    }
    Line::from(spans)
}

/// Waits-for-results message for a tab, with the job's progress.
pub(crate) fn pending(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let mut lines = Vec::new();
    match &app.job {
        Some(j) if j.error.is_some() => {
            lines.push(Line::styled(
                format!("The analysis failed: {}", j.error.as_deref().unwrap_or("")),
                th.warn(),
            ));
            lines.push(Line::raw(
                "Change the filters (s, i), features (f) or detectors (d) to run it again.",
            ));
        }
        Some(j) => {
            let stage = match j.stage {
                super::worker::Stage::Detectors => {
                    format!("detectors ({} of {} done)", j.detectors.len(), j.total)
                }
                s => s.name().to_string(),
            };
            lines.push(Line::from(vec![
                Span::raw("Running: "),
                Span::styled(stage, th.warn()),
                Span::raw(format!(
                    "  {:.0}%  {:.1} s",
                    j.fraction * 100.0,
                    app.since(j.started).as_secs_f64()
                )),
            ]));
            let width = usize::from(area.width.saturating_sub(2)).min(60);
            let filled = ((j.fraction * width as f64) as usize).min(width);
            lines.push(Line::styled(
                format!("{}{}", "█".repeat(filled), "░".repeat(width - filled)),
                th.title(),
            ));
            for (name, secs) in &j.detectors {
                lines.push(Line::raw(format!("  {name:<8} {secs:>7.2} s")));
            }
        }
        None => lines.push(Line::raw("Waiting for the log.")),
    }
    f.render_widget(Paragraph::new(lines), area);
}

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The thumb of the scroll bars (a heavy line, found nowhere else on screen).
pub const SCROLL_THUMB: &str = "┃";

/// A scroll bar on the right edge of `area` when `total` lines do not fit in the
/// `visible` ones (the first shown being `first`), so that a list that goes on says so;
/// returns the area left for the content (a column narrower when the bar shows).
pub(crate) fn scrollbar(
    f: &mut Frame,
    area: Rect,
    total: usize,
    first: usize,
    visible: usize,
    th: Theme,
) -> Rect {
    use ratatui::widgets::{Scrollbar, ScrollbarOrientation, ScrollbarState};
    if total <= visible || area.width < 2 || area.height < 2 {
        return area;
    }
    let [content, bar] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    // The state counts scroll positions (0 to total - visible), the thumb the lines shown.
    let mut state = ScrollbarState::new(total - visible + 1)
        .position(first.min(total - visible))
        .viewport_content_length(visible);
    f.render_stateful_widget(
        Scrollbar::new(ScrollbarOrientation::VerticalRight)
            .begin_symbol(Some("▲"))
            .end_symbol(Some("▼"))
            .track_symbol(Some("│"))
            .thumb_symbol(SCROLL_THUMB)
            .track_style(th.dim())
            .thumb_style(th.key()),
        bar,
        &mut state,
    );
    content
}

/// Clears `area` and draws a bordered box titled `title`; returns the inside.
fn popup(f: &mut Frame, area: Rect, title: &str, th: Theme) -> Rect {
    f.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), th.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

/// `s` cut to `width` columns with an ellipsis.
pub(crate) fn cut(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut w = 0;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return s.to_string();
    }
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `line` cut to `width` columns, a cut one ending in `…` in the style of the span it
/// cuts: a line that runs off the screen says so instead of ending mid-word.
pub(crate) fn fit(line: Line<'static>, width: u16) -> Line<'static> {
    use unicode_width::UnicodeWidthStr;
    let width = usize::from(width);
    if line.width() <= width {
        return line;
    }
    let mut spans = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let w = span.content.width();
        if used + w < width {
            used += w;
            spans.push(span);
            continue;
        }
        // The span that reaches the edge: as much as fits with the mark.
        spans.push(Span::styled(cut(&span.content, width - used), span.style));
        break;
    }
    Line::from(spans).style(line.style)
}

/// A count with thousands separators.
pub(crate) fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
