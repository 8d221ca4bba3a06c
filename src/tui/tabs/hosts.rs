//! The Hosts tab: sources, destinations or pairs (`u` cycles) ranked by host score, with
//! each behaviour's score and the reasons; `o` sorts by a behaviour, Enter lists the
//! highlighted host's or pair's connections, flagged first.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table as TableWidget, Wrap};
use ratatui::Frame;

use crate::hosts::behaviour::Behaviour;
use crate::hosts::Unit;
use crate::ingest::Log;
use crate::tui::app::{moves, scrolled, App};
use crate::tui::data::{clean, HostRow, Results, UNITS};
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, fit, pending, scrollbar, Theme};

/// What the Hosts table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSort {
    /// Host score, highest first.
    Score,
    /// One behaviour's score (index into [`Behaviour::ALL`]), highest first.
    Behaviour(usize),
    /// Connections, most first.
    Rows,
    /// Flagged connections, most first.
    Flagged,
}

impl HostSort {
    /// Its name in the table header.
    pub fn name(self) -> &'static str {
        match self {
            HostSort::Score => "score",
            HostSort::Behaviour(b) => Behaviour::ALL[b].name(),
            HostSort::Rows => "rows",
            HostSort::Flagged => "flagged",
        }
    }

    /// The next sort, through the behaviours `shown` (indices into [`Behaviour::ALL`]).
    fn next(self, shown: &[usize]) -> Self {
        let after = |b: Option<usize>| {
            shown
                .iter()
                .find(|&&k| b.is_none_or(|b| k > b))
                .map_or(HostSort::Rows, |&k| HostSort::Behaviour(k))
        };
        match self {
            HostSort::Score => after(None),
            HostSort::Behaviour(b) => after(Some(b)),
            HostSort::Rows => HostSort::Flagged,
            HostSort::Flagged => HostSort::Score,
        }
    }
}

/// The Hosts tab's state.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// What is ranked.
    pub unit: Unit,
    /// Sort column.
    pub sort: HostSort,
    /// Position of the highlighted entry in the sorted list.
    pub selected: usize,
    /// Indices into the results' entries of `unit`, as shown (made when the results, the
    /// unit or the sort change, never per frame).
    pub order: Vec<u32>,
    /// The widest label among them, in columns (at most a pair's).
    pub widest: usize,
    /// While a query narrows the view: how many entries of `unit` have a connection in
    /// it, of how many.
    pub in_view: Option<(usize, usize)>,
}

impl Default for Hosts {
    fn default() -> Self {
        Self {
            unit: Unit::Src,
            sort: HostSort::Score,
            selected: 0,
            order: Vec::new(),
            widest: 4,
            in_view: None,
        }
    }
}

/// Width of a behaviour column with its gap (`.97 `, `1.0 `, `beac `).
const BEHAVIOUR_W: usize = 5;

/// Connections listed when a host's are opened (its most anomalous first).
const LISTED: usize = 5000;

/// The widest host label laid out: two IPv6 addresses and an arrow.
const WIDEST: usize = 41;

impl Hosts {
    /// The entries of the current unit in `r`.
    fn entries<'r>(&self, r: &'r Results) -> &'r [HostRow] {
        let i = UNITS.iter().position(|&u| u == self.unit).unwrap_or(0);
        &r.hosts[i]
    }

    /// Sorts the current unit's entries of `results` into `order` and keeps the
    /// highlight in range.
    /// While a query narrows the view (`view`: for each analysed row, whether it is in
    /// it), only the hosts or pairs with a connection in it are listed.
    pub fn refresh(&mut self, results: Option<&Results>, view: Option<&[bool]>) {
        let Some(r) = results else {
            self.order.clear();
            self.selected = 0;
            self.in_view = None;
            return;
        };
        let v = self.entries(r);
        let mut order: Vec<u32> = (0..v.len() as u32).collect();
        self.in_view = None;
        if let Some(view) = view {
            let a = &r.analysis;
            let groups = match self.unit {
                Unit::Src => &a.context.by_src,
                Unit::Dst => &a.context.by_dst,
                Unit::Pair => &a.context.by_pair,
            };
            let mut seen =
                vec![false; groups.of.iter().map(|&g| g as usize + 1).max().unwrap_or(0)];
            for (&k, _) in a
                .matrix
                .keep
                .iter()
                .zip(view)
                .filter(|(_, &in_view)| in_view)
            {
                if let Some(s) = seen.get_mut(groups.of[k] as usize) {
                    *s = true;
                }
            }
            order.retain(|&k| seen.get(v[k as usize].ranked.group).is_some_and(|&s| s));
            self.in_view = Some((order.len(), v.len()));
        }
        // Stable sorts: equal keys keep the ranking's order.
        let at = |k: &u32| &v[*k as usize].ranked;
        match self.sort {
            HostSort::Score => {}
            HostSort::Behaviour(b) => {
                order.sort_by(|x, y| at(y).scores[b].total_cmp(&at(x).scores[b]))
            }
            HostSort::Rows => order.sort_by_key(|x| std::cmp::Reverse(at(x).rows)),
            HostSort::Flagged => order.sort_by_key(|x| std::cmp::Reverse(at(x).flagged)),
        }
        self.widest = v
            .iter()
            .map(|h| unicode_width::UnicodeWidthStr::width(h.label.as_str()))
            .max()
            .unwrap_or(4)
            .min(WIDEST);
        self.order = order;
        self.selected = self.selected.min(self.order.len().saturating_sub(1));
    }

    /// The entries of the current unit, in the current order.
    pub fn sorted<'r>(&self, r: &'r Results) -> Vec<&'r HostRow> {
        let v = self.entries(r);
        self.order
            .iter()
            .filter_map(|&k| v.get(k as usize))
            .collect()
    }

    /// Handles the tab's own keys; returns whether the key was its.
    pub fn update(
        &mut self,
        action: Action,
        results: Option<&Results>,
        view: Option<&[bool]>,
        page: usize,
    ) -> bool {
        match action {
            Action::Unit => {
                self.unit = match self.unit {
                    Unit::Src => Unit::Dst,
                    Unit::Dst => Unit::Pair,
                    Unit::Pair => Unit::Src,
                };
                self.selected = 0;
                self.refresh(results, view);
            }
            Action::Sort => {
                let shown = results.map_or_else(
                    || (0..Behaviour::ALL.len()).collect(),
                    |r| r.analysis.behaviours.shown(),
                );
                self.sort = self.sort.next(&shown);
                self.selected = 0;
                self.refresh(results, view);
            }
            a if moves(a) => {
                let max = self.order.len().saturating_sub(1);
                self.selected = scrolled(self.selected, a, page, max);
            }
            _ => return false,
        }
        true
    }

    /// The highlighted host's or pair's connections as (score, connection) lines, flagged
    /// first and then by score, with a title; `None` without a highlighted entry.
    pub fn connections(&self, log: &Log, r: &Results) -> Option<(String, Vec<(String, String)>)> {
        let k = *self.order.get(self.selected)?;
        let h = self.entries(r).get(k as usize)?;
        let a = &r.analysis;
        let ctx = &a.context;
        let groups = match self.unit {
            Unit::Src => &ctx.by_src,
            Unit::Dst => &ctx.by_dst,
            Unit::Pair => &ctx.by_pair,
        };
        let (score, flagged) = a.by_selection();
        let mut rows: Vec<usize> = (0..ctx.len())
            .filter(|&i| groups.of[i] as usize == h.ranked.group)
            .collect();
        rows.sort_by(|&x, &y| {
            flagged[y]
                .cmp(&flagged[x])
                .then(score[y].total_cmp(&score[x]))
                .then(x.cmp(&y))
        });
        let total = rows.len();
        rows.truncate(LISTED);
        let frame = &log.frame;
        let cell = |row: usize, c: &str| clean(&crate::ingest::cell(frame, c, row));
        let mut fields: Vec<(String, String)> = rows
            .iter()
            .map(|&i| {
                let row = ctx.rows[i] as usize;
                let mark = if flagged[i] { "▲" } else { " " };
                (
                    format!("{mark} {:.3}", score[i]),
                    format!(
                        "{} {}:{} → {}:{} {} {} {}",
                        short_time(&cell(row, "ts")),
                        cell(row, "id.orig_h"),
                        cell(row, "id.orig_p"),
                        cell(row, "id.resp_h"),
                        cell(row, "id.resp_p"),
                        cell(row, "proto"),
                        cell(row, "conn_state"),
                        cell(row, "uid")
                    ),
                )
            })
            .collect();
        if total > LISTED {
            fields.push((String::new(), format!("… {} more", total - LISTED)));
        }
        let title = format!(
            "{}: {} connections, {} flagged",
            h.label, h.ranked.rows, h.ranked.flagged
        );
        Some((title, fields))
    }
}

/// Draws the tab.
pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let th = Theme::of(app);
    let Some(r) = app.shown() else {
        pending(app, f, area);
        return;
    };
    let s = &app.hosts;
    let list = s.sorted(r);
    let warnings = r.warnings();
    let warn_h = u16::try_from(warnings.len().min(2)).unwrap_or(0);
    let detail_h = if area.height >= 14 { 3 } else { 0 };
    let [title, warn, table, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(warn_h),
        Constraint::Min(1),
        Constraint::Length(detail_h),
    ])
    .areas(area);
    let unit = match s.unit {
        Unit::Src => "sources",
        Unit::Dst => "destinations",
        Unit::Pair => "pairs",
    };
    f.render_widget(
        Paragraph::new(fit(
            Line::from(vec![
                Span::styled(
                    match s.in_view {
                        Some((n, of)) => format!(
                            "{} of {} {unit} with connections in the view",
                            count(n),
                            count(of)
                        ),
                        None => format!("{} {unit}", count(list.len())),
                    },
                    th.title(),
                ),
                Span::styled(
                    format!(
                        " · sort {} · score = max(behaviour, anomaly)",
                        s.sort.name()
                    ),
                    th.dim(),
                ),
            ]),
            title.width,
        )),
        title,
    );
    if warn_h > 0 {
        let lines: Vec<Line> = warnings
            .iter()
            .map(|w| Line::styled(format!("! {w}"), th.warn()))
            .collect();
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), warn);
    }
    if list.is_empty() {
        let none = if s.in_view.is_some() {
            "No host has a connection in the view (Bksp: the view before)."
        } else {
            "No host to rank."
        };
        f.render_widget(Paragraph::new(none), table);
        return;
    }
    let rows_h = usize::from(table.height.saturating_sub(1)).max(1);
    let first = s.selected.saturating_sub(rows_h - 1);
    let table = scrollbar(f, table, list.len(), first, rows_h, th);
    let w = table.width;
    // Behaviour columns when they fit beside a 15-character address.
    let widest = s.widest;
    // rank, score, rows, flagged and their gaps; each behaviour column takes 5 more. The
    // behaviours show when they leave the host its width and a few characters of reasons.
    let fixed = 4 + 6 + 7 + 6 + 2;
    let kinds = r.analysis.behaviours.shown();
    let nb = kinds.len();
    let behaviours = usize::from(w) >= fixed + nb * BEHAVIOUR_W + widest + 12;
    let host_w = usize::from(w)
        .saturating_sub(fixed + if behaviours { nb * BEHAVIOUR_W } else { 0 })
        .min(widest)
        .max(4);
    let mut header = vec![
        "rank".to_string(),
        "host".into(),
        "score".into(),
        "rows".into(),
        "flag".into(),
    ];
    if behaviours {
        header.extend(kinds.iter().map(|&k| Behaviour::ALL[k].short().to_string()));
    }
    header.push("reasons".into());
    // What the other columns and the gaps leave the reasons (cut with a mark).
    let columns = 5 + if behaviours { nb } else { 0 };
    let reasons_w = usize::from(w).saturating_sub(
        4 + host_w
            + 5
            + 6
            + 5
            + if behaviours {
                nb * (BEHAVIOUR_W - 1)
            } else {
                0
            }
            + columns,
    );
    let body: Vec<Row> = list
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_h)
        .map(|(k, h)| {
            let mut c = vec![
                format!("{}", k + 1),
                cut(&h.label, host_w),
                format!("{:.3}", h.ranked.score),
                count(h.ranked.rows),
                count(h.ranked.flagged),
            ];
            if behaviours {
                c.extend(kinds.iter().map(|&k| h.ranked.scores[k]).map(|b| {
                    if b > 0.0 {
                        two_places(b)
                    } else {
                        "·".into()
                    }
                }));
            }
            c.push(cut(&r.host_reasons(h), reasons_w));
            let row = Row::new(c);
            if k == s.selected {
                row.style(th.selected())
            } else if h.ranked.flagged > 0 {
                row.style(th.anomalous())
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(u16::try_from(host_w).unwrap_or(8)),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
    ];
    if behaviours {
        widths.extend(std::iter::repeat_n(
            Constraint::Length(BEHAVIOUR_W as u16 - 1),
            nb,
        ));
    }
    widths.push(Constraint::Min(0));
    f.render_widget(
        TableWidget::new(body, widths)
            .header(Row::new(header).style(th.title()))
            .column_spacing(1),
        table,
    );
    if detail_h > 0 {
        if let Some(h) = list.get(s.selected) {
            let reasons = r.host_reasons(h);
            let why = if reasons.is_empty() {
                format!(
                    "no behaviour; its connections' mean percentile {:.2}",
                    h.ranked.anomaly
                )
            } else {
                reasons
            };
            let lines = vec![
                Line::from(vec![
                    Span::styled(h.label.clone(), th.title()),
                    Span::styled(
                        format!(
                            "  behaviour {:.2} · anomaly {:.2} · Enter: its connections",
                            h.ranked.behaviour, h.ranked.anomaly
                        ),
                        th.dim(),
                    ),
                ]),
                Line::raw(format!("why {why}")),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), detail);
        }
    }
}

/// `2024-11-25T10:46:16.635885Z` as `2024-11-25 10:46:16`; other text as it is.
fn short_time(ts: &str) -> String {
    match (ts.get(..10), ts.get(11..19)) {
        (Some(d), Some(t)) if ts.as_bytes().get(10) == Some(&b'T') => format!("{d} {t}"),
        _ => ts.to_string(),
    }
}

/// A score in `[0, 1]` in three characters: `.97`, `1.0`.
fn two_places(v: f64) -> String {
    if v >= 0.995 {
        "1.0".into()
    } else {
        format!("{v:.2}").trim_start_matches('0').to_string()
    }
}
