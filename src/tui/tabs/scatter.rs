//! The Scatter tab: the analysed rows in two dimensions (UMAP or PCA, `p` toggles), as a
//! braille scatter coloured by verdict, by cluster or by one detector's flags (`c`
//! cycles), with the row selected in the Anomalies tab marked.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine, Points};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::keys::Action;
use crate::tui::views::{fit, pending, Theme};

/// The Scatter tab's state.
#[derive(Debug, Clone, Default)]
pub struct Scatter {
    /// UMAP instead of PCA.
    pub umap: bool,
    /// Colouring: 0 verdict, 1 cluster, 2.. one detector each.
    pub colour: usize,
}

impl Scatter {
    /// Handles the tab's own keys, `detectors` being the detectors the job ran; returns
    /// whether the key was its.
    pub fn update(&mut self, action: Action, detectors: usize) -> bool {
        match action {
            Action::Projection => self.umap = !self.umap,
            Action::Colour => self.colour = (self.colour + 1) % (2 + detectors),
            _ => return false,
        }
        true
    }
}

/// Cluster colours: the 16-colour palette without black, grey and the verdict red.
const PALETTE: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightMagenta,
    Color::LightBlue,
];

/// At most this many points are drawn per frame (an even stride over the rows); a braille
/// cell holds 8 dots, so more cannot show more at terminal sizes.
const MAX_POINTS: usize = 60_000;

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = &app.results else {
        pending(app, f, area);
        return;
    };
    let Some(l) = &app.landscape else {
        let text = match (&app.landscape_error, &app.landscape_step) {
            (Some(e), _) => Line::styled(
                format!("The 2-D views could not be computed: {e}"),
                th.warn(),
            ),
            (None, Some(step)) => {
                Line::styled(format!("computing the 2-D views: {step}…"), th.dim())
            }
            (None, None) => Line::styled("no 2-D view for this job", th.dim()),
        };
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    };
    let (points, name, bounds) = match (&l.umap, app.scatter.umap) {
        (Some(u), true) => (&u.points, "UMAP", l.bounds[1]),
        _ => (&l.pca.points, "PCA", l.bounds[0]),
    };
    let v = &r.analysis.verdicts;
    let n = points.nrows();
    let detectors: Vec<_> = v.runs.iter().enumerate().filter(|(_, d)| d.ok()).collect();
    // Colour class per row and the legend, for the chosen colouring (a class is worked
    // out for the rows drawn only: a frame of a 10M-row map draws a few tens of thousands).
    let labels = l.labels_all();
    type Class<'a> = Box<dyn Fn(usize) -> usize + 'a>;
    let verdict: Class = Box::new(|i| usize::from(v.flagged[i]));
    let (mode, classes, legend): (String, Class, Vec<(String, Color)>) = match app.scatter.colour {
        0 => (
            "verdict".into(),
            verdict,
            vec![
                ("normal".into(), Color::DarkGray),
                ("anomalous".into(), Color::Red),
            ],
        ),
        1 if labels.is_some() => {
            let labels = labels.unwrap_or_default();
            let k = l
                .subset(crate::pipeline::Subset::All)
                .map_or(0, |c| c.count);
            (
                format!("cluster ({k} clusters)"),
                Box::new(move |i| match labels.get(i) {
                    Some(&c) if c >= 0 => 1 + c as usize % PALETTE.len(),
                    _ => 0,
                }),
                std::iter::once(("noise".to_string(), Color::DarkGray))
                    .chain(
                        PALETTE
                            .iter()
                            .enumerate()
                            .map(|(i, &c)| (format!("#{i}"), c)),
                    )
                    .collect(),
            )
        }
        c => match detectors.get(c.saturating_sub(2)) {
            Some(&(k, d)) => (
                format!("detector {}", d.kind.name()),
                Box::new(move |i| usize::from(v.run_flags(k, i))),
                vec![
                    ("not flagged".into(), Color::DarkGray),
                    (format!("flagged by {}", d.kind.name()), Color::Red),
                ],
            ),
            None => (
                "verdict".into(),
                verdict,
                vec![
                    ("normal".into(), Color::DarkGray),
                    ("anomalous".into(), Color::Red),
                ],
            ),
        },
    };
    let [head, plot] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let sampled = l
        .umap
        .as_ref()
        .and_then(|u| u.sampled)
        .filter(|_| name == "UMAP");
    // While a query narrows the view, only its rows are drawn, on the whole map's axes
    // (so they show where they sit among the rest).
    let view = app.table.view.as_deref().filter(|v| v.len() == n);
    let kept = |i: usize| view.is_none_or(|v| v[i]);
    let heading = match view {
        Some(v) => format!(
            "{name}: the {} rows in the view, of {n}",
            v.iter().filter(|&&k| k).count()
        ),
        None => format!("{name} of {n} rows"),
    };
    let mut title = vec![
        Span::styled(heading, th.title()),
        Span::styled(
            format!(" · colour: {mode} (p: PCA/UMAP, c: colour)"),
            th.dim(),
        ),
    ];
    if let Some(s) = sampled {
        title.push(Span::styled(
            format!(" · fitted on a sample of {s} distinct rows"),
            th.warn(),
        ));
    }
    let legend_spans: Vec<Span> = legend
        .iter()
        .flat_map(|(t, c)| {
            [
                Span::styled("■ ", ratatui::style::Style::default().fg(th.paint(*c))),
                Span::raw(format!("{t}  ")),
            ]
        })
        .take(2 * 6)
        .collect();
    f.render_widget(
        Paragraph::new(vec![
            fit(Line::from(title), head.width),
            fit(Line::from(legend_spans), head.width),
        ]),
        head,
    );
    if plot.width < 4 || plot.height < 2 || n == 0 {
        return;
    }
    let [x0, x1, y0, y1] = bounds;
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.02 } else { 1.0 };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let stride = n.div_ceil(MAX_POINTS).max(1);
    let n_classes = legend.len().max(1);
    let mut layers: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n_classes];
    for i in (0..n).step_by(stride).filter(|&i| kept(i)) {
        let c = classes(i).min(n_classes - 1);
        layers[c].push((points[[i, 0]], points[[i, 1]]));
    }
    // Anomalous rows are drawn beside the others' stride, up to as many again (every one
    // when they are few: an attack of a few rows among millions must show).
    if stride > 1 && app.scatter.colour == 0 {
        // From the list of flagged rows, a stride of it: no pass over every row.
        let every = r.flagged.len().div_ceil(MAX_POINTS).max(1);
        for f in r.flagged.iter().step_by(every) {
            let i = f.i();
            if i < n && i % stride != 0 && kept(i) {
                layers[1].push((points[[i, 0]], points[[i, 1]]));
            }
        }
    }
    let selected = app
        .selected_flagged()
        .map(|s| (points[[s.i(), 0]], points[[s.i(), 1]]));
    let colored = th.colored();
    let canvas = Canvas::default()
        .block(Block::default())
        .marker(Marker::Braille)
        .x_bounds([x0 - px, x1 + px])
        .y_bounds([y0 - py, y1 + py])
        .paint(|ctx| {
            for (k, pts) in layers.iter().enumerate() {
                ctx.draw(&Points {
                    coords: pts,
                    color: th.paint(legend[k].1),
                });
                ctx.layer();
            }
            if !colored {
                // Without colours the verdict shows as marks on the anomalous points.
                if app.scatter.colour != 1 && layers.len() > 1 && layers[1].len() <= 400 {
                    for &(x, y) in &layers[1] {
                        ctx.print(x, y, "x");
                    }
                }
            }
            if let Some((x, y)) = selected {
                let (dx, dy) = ((x1 - x0 + 2.0 * px) / 40.0, (y1 - y0 + 2.0 * py) / 20.0);
                ctx.draw(&CanvasLine::new(
                    x - dx,
                    y,
                    x + dx,
                    y,
                    th.paint(Color::White),
                ));
                ctx.draw(&CanvasLine::new(
                    x,
                    y - dy,
                    x,
                    y + dy,
                    th.paint(Color::White),
                ));
            }
        });
    f.render_widget(canvas, plot);
}
