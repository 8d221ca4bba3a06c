//! The Anomalies tab: flagged rows, most anomalous first (or as sorted), with the
//! highlighted row's detectors and reasons in full below the table.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table as TableWidget};
use ratatui::Frame;

use crate::query::Query;
use crate::tui::app::{moves, scrolled, App};
use crate::tui::data::{Flagged, Results, RowText};
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, fit, pending, scrollbar, Theme};

/// Columns the Anomalies table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Combined score, highest first.
    Score,
    /// Time.
    Time,
    /// Votes, most first.
    Votes,
    /// Source address.
    Source,
    /// Destination address.
    Destination,
    /// Service.
    Service,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Score,
        SortKey::Time,
        SortKey::Votes,
        SortKey::Source,
        SortKey::Destination,
        SortKey::Service,
    ];

    /// The column's name in the table header.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Score => "score",
            SortKey::Time => "time",
            SortKey::Votes => "votes",
            SortKey::Source => "orig",
            SortKey::Destination => "resp",
            SortKey::Service => "service",
        }
    }
}

/// The Anomalies table's state.
#[derive(Debug, Clone)]
pub struct Table {
    /// Position of the highlighted row in `order`.
    pub selected: usize,
    /// Sort column.
    pub sort: SortKey,
    /// Reversed order.
    pub reverse: bool,
    /// Narrowing text (UID or address), empty for none.
    pub search: String,
    /// Indices into the results' flagged rows, as shown.
    pub order: Vec<usize>,
    /// The query bar's terms (`:`), narrowing and perhaps ordering the view.
    pub query: Query,
    /// For each analysed row, whether the query's terms hold (`None`: no term).
    pub view: Option<Vec<bool>>,
    /// Why the query's sort could not apply, if it could not.
    pub sort_error: Option<String>,
    /// Counts the views set (so that what other tabs derive from `view` can be kept
    /// until it changes).
    pub view_generation: u64,
    /// Following: the first frame row that came since the last look (rows from it on are
    /// marked ●); `None` when none is new.
    pub new_from: Option<usize>,
    /// Following: sorting by time puts the newest first.
    pub newest_first: bool,
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// An empty table, most anomalous first.
    pub fn new() -> Self {
        Self {
            selected: 0,
            sort: SortKey::Score,
            reverse: false,
            search: String::new(),
            order: Vec::new(),
            query: Query::default(),
            view: None,
            sort_error: None,
            view_generation: 0,
            new_from: None,
            newest_first: false,
        }
    }

    /// Works out which analysed rows `query` keeps (once per query and job), then
    /// reorders.
    pub fn set_query(&mut self, query: Query, results: Option<&Results>, label_column: &str) {
        self.view = match results {
            Some(r) if !query.terms.is_empty() => {
                Some(query.mask(&r.log().frame, &r.analysis, label_column))
            }
            _ => None,
        };
        self.query = query;
        self.view_generation += 1;
        self.selected = 0;
        self.reorder(results);
    }

    /// The rows `order` indexes: the flagged rows, or, while a query or a search narrows
    /// the view, every analysed row (flagged first), so that a host's unflagged
    /// connections can be found too.
    pub fn rows<'r>(&self, r: &'r Results) -> &'r [Flagged] {
        if self.view.is_some() || !self.search.trim().is_empty() {
            r.all()
        } else {
            &r.flagged
        }
    }

    /// Sorts and narrows the rows of `results` into `order`.
    pub fn reorder(&mut self, results: Option<&Results>) {
        let Some(r) = results else {
            self.order.clear();
            return;
        };
        let needle = self.search.trim().to_lowercase();
        // An address or a network matches whole (`4.18.12.16` is not `104.18.12.169`); other
        // text matches within UIDs and addresses.
        let net = crate::filter::IpMatch::parse(&needle).ok();
        let rows = self.rows(r);
        // Only the rows the query keeps need their text.
        let kept: Vec<usize> = (0..rows.len())
            .filter(|&k| self.view.as_ref().is_none_or(|v| v[rows[k].i()]))
            .collect();
        if !needle.is_empty() || !matches!(self.sort, SortKey::Score | SortKey::Votes) {
            let some: Vec<&Flagged> = kept.iter().map(|&k| &rows[k]).collect();
            r.fill_texts(&some);
        }
        let mut order: Vec<usize> = kept
            .into_iter()
            .filter(|&k| {
                if needle.is_empty() {
                    return true;
                }
                let f = r.text(&rows[k]);
                match &net {
                    Some(m) => [f.orig_ip, f.resp_ip]
                        .into_iter()
                        .flatten()
                        .any(|a| m.matches(a)),
                    None => {
                        f.uid.to_lowercase().contains(&needle)
                            || f.orig.to_lowercase().contains(&needle)
                            || f.resp.to_lowercase().contains(&needle)
                    }
                }
            })
            .collect();
        let text = |k: usize| r.text(&rows[k]);
        self.sort_error = None;
        match self.sort {
            // Flagged rows come most anomalous first already, or as the query sorts.
            SortKey::Score if self.query.sort.is_some() => {
                let mut matrix: Vec<usize> = order.iter().map(|&k| rows[k].i()).collect();
                match self.query.order(&mut matrix, &r.log().frame, &r.analysis) {
                    Ok(()) => {
                        let at: std::collections::HashMap<usize, usize> =
                            order.iter().map(|&k| (rows[k].i(), k)).collect();
                        order = matrix.iter().filter_map(|i| at.get(i).copied()).collect();
                    }
                    Err(e) => self.sort_error = Some(e),
                }
            }
            SortKey::Score => {}
            // Following, the newest first.
            SortKey::Time if self.newest_first => {
                order.sort_by(|&a, &b| text(b).ts.cmp(&text(a).ts))
            }
            SortKey::Time => order.sort_by(|&a, &b| text(a).ts.cmp(&text(b).ts)),
            SortKey::Votes => order.sort_by(|&a, &b| rows[b].votes.cmp(&rows[a].votes)),
            SortKey::Source => order.sort_by(|&a, &b| {
                let (a, b) = (text(a), text(b));
                (a.orig_ip, &a.orig).cmp(&(b.orig_ip, &b.orig))
            }),
            SortKey::Destination => order.sort_by(|&a, &b| {
                let (a, b) = (text(a), text(b));
                (a.resp_ip, &a.resp).cmp(&(b.resp_ip, &b.resp))
            }),
            SortKey::Service => order.sort_by(|&a, &b| text(a).service.cmp(&text(b).service)),
        }
        if self.reverse {
            order.reverse();
        }
        self.order = order;
        self.selected = self.selected.min(self.order.len().saturating_sub(1));
    }

    /// Handles the tab's own keys; returns whether the key was its.
    pub fn update(&mut self, action: Action, results: Option<&Results>, page: usize) -> bool {
        match action {
            a if moves(a) => {
                let max = self.order.len().saturating_sub(1);
                self.selected = scrolled(self.selected, a, page, max);
            }
            Action::Sort => {
                let i = SortKey::ALL
                    .iter()
                    .position(|&k| k == self.sort)
                    .unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                self.reverse = false;
                self.selected = 0;
                self.reorder(results);
            }
            Action::Reverse => {
                self.reverse = !self.reverse;
                self.selected = 0;
                self.reorder(results);
            }
            _ => return false,
        }
        true
    }
}

/// The narrowest reasons column worth showing (a reason's first words).
const MIN_REASONS: usize = 16;

/// Rows of detail under the table, when there is room.
const PREVIEW: u16 = 2;

/// Which optional columns fit in `width`.
struct Columns {
    votes: bool,
    uid: bool,
    service: bool,
    detectors: bool,
    reasons: bool,
    full_time: bool,
}

impl Columns {
    fn for_width(w: u16) -> Self {
        Self {
            votes: w >= 50,
            service: w >= 64,
            reasons: w >= 76,
            uid: w >= 110,
            detectors: w >= 150,
            full_time: w >= 180,
        }
    }
}

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = app.shown() else {
        pending(app, f, area);
        return;
    };
    let preview = if area.height >= 10 { PREVIEW } else { 0 };
    // A warning that the ranking may be upside down takes a line when there is room.
    let warnings = r.warnings();
    let warn_h = u16::from(area.height >= 12 && !warnings.is_empty());
    // The time strip, when asked for and there is room for a table under it.
    let strip_h = if app.strip.shown && area.height >= 14 {
        super::timestrip::HEIGHT
    } else {
        0
    };
    let [caption, strip, warning, table, below] = Layout::vertical([
        Constraint::Length(u16::from(area.height >= 4)),
        Constraint::Length(strip_h),
        Constraint::Length(warn_h),
        Constraint::Min(0),
        Constraint::Length(preview),
    ])
    .areas(area);
    if strip_h > 0 {
        super::timestrip::render(&app.strip, &app.table.query, r, th, f, strip);
    } else {
        app.strip.drawn.set(None);
    }
    if warn_h > 0 {
        f.render_widget(
            Paragraph::new(Line::styled(
                cut(&format!("! {}", warnings[0]), usize::from(warning.width)),
                th.warn(),
            )),
            warning,
        );
    }
    let t = &app.table;
    let rows = t.rows(r);
    let in_view = if t.view.is_some() || !t.search.trim().is_empty() {
        let flagged = t.order.iter().filter(|&&k| rows[k].flagged).count();
        format!(
            "{} rows in view ({} flagged, {} not) · {} flagged of {} rows",
            count(t.order.len()),
            count(flagged),
            count(t.order.len() - flagged),
            count(r.flagged.len()),
            count(r.rows())
        )
    } else {
        format!(
            "{} flagged of {} rows",
            count(r.flagged.len()),
            count(r.rows())
        )
    };
    let mut cap = vec![
        Span::styled(in_view, th.title()),
        Span::styled(
            format!(
                " · sort {}{}",
                t.sort.name(),
                if t.reverse { " (reversed)" } else { "" }
            ),
            th.dim(),
        ),
    ];
    if !t.search.is_empty() {
        cap.push(Span::styled(
            format!(
                " · search {:?}: {} rows",
                super::super::data::clean(&t.search),
                t.order.len()
            ),
            th.warn(),
        ));
    }
    f.render_widget(Paragraph::new(fit(Line::from(cap), caption.width)), caption);
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new("No row is flagged with these settings (d: raise the contamination)."),
            table,
        );
        return;
    }
    let visible = usize::from(table.height.saturating_sub(1)).max(1);
    let offset = t.selected.saturating_sub(visible - 1);
    let table = scrollbar(f, table, t.order.len(), offset, visible, th);
    let mut cols = Columns::for_width(table.width);
    let mut header = vec!["score"];
    let mut widths = vec![Constraint::Length(6)];
    if cols.votes {
        header.push("v");
        widths.push(Constraint::Length(3));
    }
    header.push("time");
    // Following, a column for the mark of rows new since the last look.
    let mark = u16::from(app.follow.is_some()) * 2;
    widths.push(Constraint::Length(
        mark + match (cols.full_time, r.multi_day) {
            (true, _) => 27,
            (false, true) => 14,
            (false, false) => 8,
        },
    ));
    if cols.uid {
        header.push("uid");
        widths.push(Constraint::Length(18));
    }
    let shown: Vec<(usize, &Flagged)> = t
        .order
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .filter_map(|(pos, &k)| rows.get(k).map(|fl| (pos, fl)))
        .collect();
    // As wide as the widest connection on screen: addresses vary from 7 to 45 columns.
    let conn_w = shown
        .iter()
        .map(|(_, fl)| conn(r.text(fl)).chars().count())
        .max()
        .unwrap_or(20)
        .clamp(20, 94);
    header.push("orig → resp");
    widths.push(Constraint::Length(conn_w as u16));
    if cols.service {
        header.push("service");
        widths.push(Constraint::Length(8));
    }
    if cols.detectors {
        header.push("detectors");
        widths.push(Constraint::Length(24));
    }
    // What the other columns and the gaps leave the reasons: cells that do not fit end in
    // a mark, never mid-word; too little room for a few words and the column is left to
    // the line under the table.
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => *n + 1,
            _ => 1,
        })
        .sum();
    let lengths = Widths {
        conn: conn_w,
        reasons: usize::from(table.width.saturating_sub(fixed)),
        mark: (mark > 0).then_some(t.new_from.unwrap_or(usize::MAX)),
    };
    cols.reasons &= lengths.reasons >= MIN_REASONS;
    if cols.reasons {
        header.push("reasons");
        widths.push(Constraint::Fill(1));
    }
    let rows: Vec<Row> = shown
        .into_iter()
        .map(|(pos, fl)| {
            let row = Row::new(cells(fl, &cols, &lengths, r));
            if pos == t.selected {
                row.style(th.selected())
            } else if !fl.flagged {
                // In a query's or a search's view: not flagged, shown dim.
                row.style(th.dim())
            } else {
                row
            }
        })
        .collect();
    let header = sorted_header(&header, t);
    let widget = TableWidget::new(rows, widths)
        .header(Row::new(header).style(th.title()))
        .column_spacing(1);
    f.render_widget(widget, table);
    if preview > 0 {
        if let Some(fl) = app.selected_flagged() {
            let text = r.text(fl);
            let lines = vec![
                Line::from(vec![
                    Span::styled("uid ", th.dim()),
                    Span::raw(text.uid.clone()),
                    Span::styled("  detectors ", th.dim()),
                    Span::raw(text.detectors.clone()),
                ]),
                Line::from(vec![
                    Span::styled("why ", th.dim()),
                    Span::styled(r.reasons(fl), th.anomalous()),
                ]),
            ];
            let lines: Vec<Line> = lines.into_iter().map(|l| fit(l, below.width)).collect();
            f.render_widget(Paragraph::new(lines), below);
        }
    }
}

/// The header with the sort column marked ▼ (highest first) or ▲ (lowest first).
fn sorted_header(header: &[&str], t: &Table) -> Vec<String> {
    // Score and votes sort highest first, the others in text or time order.
    let descending = (matches!(t.sort, SortKey::Score | SortKey::Votes)
        || (t.sort == SortKey::Time && t.newest_first))
        != t.reverse;
    let arrow = if descending { "▼" } else { "▲" };
    header
        .iter()
        .map(|&h| match (t.sort, h) {
            (SortKey::Score, "score")
            | (SortKey::Votes, "v")
            | (SortKey::Time, "time")
            | (SortKey::Service, "service") => format!("{h}{arrow}"),
            (SortKey::Source, "orig → resp") => format!("orig{arrow} → resp"),
            (SortKey::Destination, "orig → resp") => format!("orig → resp{arrow}"),
            _ => h.to_string(),
        })
        .collect()
}

/// Columns of the cells whose width varies, and the mark of new rows.
struct Widths {
    conn: usize,
    reasons: usize,
    /// Following: rows from this frame row on are new (marked ●).
    mark: Option<usize>,
}

fn cells(flagged: &Flagged, cols: &Columns, w: &Widths, r: &Results) -> Vec<String> {
    let fl = r.text(flagged);
    let mut c = vec![format!("{:.3}", r.score(flagged))];
    if cols.votes {
        c.push(flagged.votes.to_string());
    }
    let mark = match w.mark {
        Some(from) if flagged.row() >= from => "● ",
        Some(_) => "  ",
        None => "",
    };
    c.push(
        mark.to_string()
            + &if cols.full_time {
                fl.ts.clone()
            } else if r.multi_day {
                // Rows over more than a day: month-day and time of day (`06-13 23:18:00`), so
                // that an order by time reads as one.
                match (fl.ts.get(5..10), fl.ts.get(11..19)) {
                    (Some(d), Some(t)) => format!("{d} {t}"),
                    _ => fl.ts.clone(),
                }
            } else {
                // ISO 8601: the time of day is what tells rows of one day apart.
                fl.ts.get(11..19).unwrap_or(&fl.ts).to_string()
            },
    );
    if cols.uid {
        c.push(cut(&fl.uid, 18));
    }
    c.push(cut(&conn(fl), w.conn));
    if cols.service {
        // No service (Zeek's `-`): the protocol, in parentheses, says more.
        let s = if fl.service == "-" {
            format!("({})", fl.proto)
        } else {
            fl.service.clone()
        };
        c.push(cut(&s, 8));
    }
    if cols.detectors {
        c.push(cut(&fl.detectors, 24));
    }
    if cols.reasons {
        c.push(cut(&r.reasons(flagged), w.reasons));
    }
    c
}

fn conn(fl: &RowText) -> String {
    format!("{}:{} → {}:{}", fl.orig, fl.orig_p, fl.resp, fl.resp_p)
}
