//! The Scatter tab: the analysed rows in two dimensions (UMAP or PCA, `p` toggles), as a
//! braille scatter coloured by verdict, by cluster or by one detector's flags (`c`
//! cycles), with the row selected in the Anomalies tab marked.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine, Painter, Shape};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::pipeline::Landscape;
use crate::tui::app::App;
use crate::tui::data::Results;
use crate::tui::keys::Action;
use crate::tui::views::{fit, pending, Theme};

/// The Scatter tab's state.
#[derive(Debug, Clone, Default)]
pub struct Scatter {
    /// UMAP instead of PCA.
    pub umap: bool,
    /// Colouring: 0 verdict, 1 cluster, 2.. one detector each.
    pub colour: usize,
    /// The dots the last frame drew, redrawn while nothing they depend on changes.
    drawn: RefCell<Option<Drawn>>,
    /// The rows a frame of the whole map draws, with their points.
    sampled: RefCell<Option<Sampled>>,
}

/// The rows a frame of the whole map draws (a stride of every row, then a stride of the
/// flagged rows beside it) and their points in each layout shown so far, kept while the
/// map and the verdicts stay the same: a key that changes the colouring, the layout or
/// the tab's size then paints them again without reading them afresh from rows spread
/// over the whole map (at 10M rows, tens of thousands of cache misses).
#[derive(Debug, Clone)]
struct Sampled {
    source: Source,
    rows: Vec<usize>,
    /// Where the flagged rows beside the stride begin in `rows`.
    beside: usize,
    /// The rows' points in PCA's layout, then in UMAP's, once read.
    points: [Option<Vec<(f64, f64)>>; 2],
}

/// The map and the results a frame's dots or points come from, held weakly: an old map
/// is not kept alive by them, and its address cannot be reused while a weak reference to
/// it lives.
#[derive(Debug, Clone)]
struct Source {
    landscape: Weak<Landscape>,
    results: Weak<Results>,
}

impl Source {
    fn same(&self, o: &Source) -> bool {
        Weak::ptr_eq(&self.landscape, &o.landscape) && Weak::ptr_eq(&self.results, &o.results)
    }
}

impl Scatter {
    /// UMAP first: it keeps local structure that a few extreme rows squash flat in PCA.
    pub fn new() -> Self {
        Self {
            umap: true,
            ..Self::default()
        }
    }

    /// Forgets the dots and points kept from earlier frames, as a new map does (for
    /// timing the frame that reads them afresh).
    pub fn forget(&self) {
        self.drawn.take();
        self.sampled.take();
    }

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

/// The dots a frame drew, kept for the next frames while the map, the rows' verdicts,
/// the layout, the colouring, the query's view and the tab's area stay the same (the
/// frames between two keys, the header's ticks). Gathering them reads tens of thousands
/// of rows spread over the whole map (at 10M rows mostly cache misses, a few
/// milliseconds a frame), and the canvas would place each point again; the dots are at
/// most the canvas's resolution.
#[derive(Debug, Clone)]
struct Drawn {
    key: DrawnKey,
    /// Per colour class, the canvas's grid dots painted, each once.
    layers: Vec<Vec<(u16, u16)>>,
    /// The anomalous points, when few enough to be marked without colours.
    marks: Vec<(f64, f64)>,
    /// Rows in the query's view, while one narrows it.
    in_view: Option<usize>,
}

/// What the dots depend on.
#[derive(Debug, Clone)]
struct DrawnKey {
    source: Source,
    umap: bool,
    colour: usize,
    view_generation: u64,
    area: Rect,
}

impl DrawnKey {
    fn same(&self, o: &DrawnKey) -> bool {
        self.source.same(&o.source)
            && (self.umap, self.colour, self.view_generation, self.area)
                == (o.umap, o.colour, o.view_generation, o.area)
    }
}

/// Points painted as a canvas paints them, their grid dots kept (each once).
struct Rasterize<'a> {
    coords: &'a [(f64, f64)],
    color: Color,
    /// The grid's width and height in dots (a braille cell is 2 dots wide and 4 high).
    size: (usize, usize),
    dots: &'a RefCell<Vec<(u16, u16)>>,
}

impl Shape for Rasterize<'_> {
    fn draw(&self, painter: &mut Painter) {
        let mut dots = self.dots.borrow_mut();
        let (w, h) = self.size;
        let mut seen = vec![0u64; (w * h).div_ceil(64)];
        for &(x, y) in self.coords {
            if let Some((gx, gy)) = painter.get_point(x, y) {
                let bit = gy * w + gx;
                match seen.get_mut(bit / 64).filter(|_| gx < w) {
                    // Painted already (in one colour, a dot painted twice is painted).
                    Some(word) if *word & (1 << (bit % 64)) != 0 => continue,
                    Some(word) => *word |= 1 << (bit % 64),
                    // Beyond the grid's expected size: painted and kept, unchecked.
                    None => {}
                }
                painter.paint(gx, gy, self.color);
                // A grid is a few hundred dots a side: a terminal's cells times 2 and 4.
                dots.push((gx as u16, gy as u16));
            }
        }
    }
}

/// Grid dots painted again: within a layer every dot has the layer's colour, so painting
/// each once, in any order, gives the grid that painting every point gave.
struct Dots<'a> {
    dots: &'a [(u16, u16)],
    color: Color,
}

impl Shape for Dots<'_> {
    fn draw(&self, painter: &mut Painter) {
        for &(x, y) in self.dots {
            painter.paint(usize::from(x), usize::from(y), self.color);
        }
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
    // A row's point (UMAP's are held in single precision).
    type At<'p> = Box<dyn Fn(usize) -> (f64, f64) + 'p>;
    let (at, n, name, bounds): (At, usize, &str, [f64; 4]) = match (&l.umap, app.scatter.umap) {
        (Some(u), true) => {
            let p = &u.points;
            let at = Box::new(move |i| (f64::from(p[[i, 0]]), f64::from(p[[i, 1]])));
            (at, p.nrows(), "UMAP", l.bounds[1])
        }
        _ => {
            let p = &l.pca.points;
            let at = Box::new(move |i| (p[[i, 0]], p[[i, 1]]));
            (at, p.nrows(), "PCA", l.bounds[0])
        }
    };
    let v = &r.analysis.verdicts;
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
    let key = DrawnKey {
        source: Source {
            landscape: Arc::downgrade(l),
            results: Arc::downgrade(r),
        },
        umap: name == "UMAP",
        colour: app.scatter.colour,
        view_generation: app.table.view_generation,
        area,
    };
    let drawn = app.scatter.drawn.borrow();
    // The last frame's dots, when they serve this one.
    let kept = drawn.as_ref().filter(|d| d.key.same(&key));
    let in_view = match kept {
        Some(d) => d.in_view,
        None => view.map(|v| v.iter().filter(|&&k| k).count()),
    };
    let heading = match in_view {
        Some(k) => format!("{name}: the {k} rows in the view, of {n}"),
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
    let n_classes = legend.len().max(1);
    // The points to draw, by class, when the last frame's dots do not serve.
    let layers: Vec<Vec<(f64, f64)>> = if kept.is_some() {
        Vec::new()
    } else {
        let mut layers = vec![Vec::new(); n_classes];
        match (view, in_view) {
            // A stride of the view's rows, so that a narrow view shows all of its rows.
            (Some(v), Some(k)) => {
                let mut put = |i: usize, c: usize| layers[c.min(n_classes - 1)].push(at(i));
                let every = k.div_ceil(MAX_POINTS).max(1);
                for i in (0..n).filter(|&i| v[i]).step_by(every) {
                    put(i, classes(i));
                }
            }
            _ => {
                let mut sampled = app.scatter.sampled.borrow_mut();
                let mut s = match sampled.take().filter(|s| s.source.same(&key.source)) {
                    Some(s) => s,
                    None => {
                        let stride = n.div_ceil(MAX_POINTS).max(1);
                        let mut rows: Vec<usize> = (0..n).step_by(stride).collect();
                        let beside = rows.len();
                        // Anomalous rows are drawn beside the others' stride, up to as
                        // many again (every one when they are few: an attack of a few rows
                        // among millions must show), from a stride of the flagged rows.
                        if stride > 1 {
                            let every = r.flagged.len().div_ceil(MAX_POINTS).max(1);
                            rows.extend(
                                r.flagged
                                    .iter()
                                    .step_by(every)
                                    .map(|f| f.i())
                                    .filter(|&i| i < n && i % stride != 0),
                            );
                        }
                        Sampled {
                            source: key.source.clone(),
                            rows,
                            beside,
                            points: [None, None],
                        }
                    }
                };
                let rows = &s.rows;
                let points = s.points[usize::from(key.umap)]
                    .get_or_insert_with(|| rows.iter().map(|&i| at(i)).collect());
                for (&i, &p) in rows[..s.beside].iter().zip(points.iter()) {
                    layers[classes(i).min(n_classes - 1)].push(p);
                }
                // The flagged rows beside the stride show with the verdict's colours.
                if app.scatter.colour == 0 {
                    layers[1.min(n_classes - 1)].extend_from_slice(&points[s.beside..]);
                }
                *sampled = Some(s);
            }
        }
        layers
    };
    let dots: Vec<RefCell<Vec<(u16, u16)>>> = (0..n_classes).map(|_| RefCell::default()).collect();
    let selected = app.selected_flagged().map(|s| at(s.i()));
    let colored = th.colored();
    let marks: Vec<(f64, f64)> = match kept {
        Some(d) => d.marks.clone(),
        // Without colours the verdict shows as marks on the anomalous points.
        None if app.scatter.colour != 1 && layers.len() > 1 && layers[1].len() <= 400 => {
            layers[1].clone()
        }
        None => Vec::new(),
    };
    let canvas = Canvas::default()
        .block(Block::default())
        .marker(Marker::Braille)
        .x_bounds([x0 - px, x1 + px])
        .y_bounds([y0 - py, y1 + py])
        .paint(|ctx| {
            for (k, (_, c)) in legend.iter().enumerate().take(n_classes) {
                let color = th.paint(*c);
                match kept {
                    Some(d) => ctx.draw(&Dots {
                        dots: d.layers.get(k).map_or(&[], Vec::as_slice),
                        color,
                    }),
                    None => ctx.draw(&Rasterize {
                        coords: &layers[k],
                        color,
                        size: (2 * usize::from(plot.width), 4 * usize::from(plot.height)),
                        dots: &dots[k],
                    }),
                }
                ctx.layer();
            }
            if !colored {
                for &(x, y) in &marks {
                    ctx.print(x, y, "x");
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
    let fresh = kept.is_some();
    drop(drawn);
    if !fresh {
        *app.scatter.drawn.borrow_mut() = Some(Drawn {
            key,
            layers: dots.into_iter().map(RefCell::into_inner).collect(),
            marks,
            in_view,
        });
    }
}
