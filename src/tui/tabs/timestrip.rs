//! The time strip above the Anomalies table: the analysed rows and the flagged ones per
//! time bucket, as wide as the screen, and a window chosen with keys (`[` `]` move it,
//! `{` `}` narrow and widen it, Enter narrows the view to it as `after:`/`before:` terms
//! of the query).

use std::cell::Cell;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::query::{Query, Test};
use crate::tui::data::{Results, Timeline};
use crate::tui::keys::Action;
use crate::tui::views::{count, cut, Theme};

/// Lines the strip takes: rows, flagged rows, the axis.
pub const HEIGHT: u16 = 3;

/// Columns before the bars (`flagged `).
const LABEL: usize = 8;

/// Bar heights, empty to full.
const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The strip's state.
#[derive(Debug, Clone)]
pub struct TimeStrip {
    /// Shown above the table (`w` toggles).
    pub shown: bool,
    /// The window being chosen, `[from, to)` in microseconds since the epoch, at bucket
    /// boundaries; `None` when none is being chosen.
    pub window: Option<(i64, i64)>,
    /// The buckets as last drawn (first start, width, count): the keys move the window
    /// by them. Only the drawing knows the width.
    pub drawn: Cell<Option<(i64, i64, usize)>>,
}

impl Default for TimeStrip {
    fn default() -> Self {
        Self {
            shown: true,
            window: None,
            drawn: Cell::new(None),
        }
    }
}

impl TimeStrip {
    /// Handles the strip's keys; returns whether the key was its.
    pub fn update(&mut self, action: Action) -> bool {
        if !matches!(
            action,
            Action::Earlier | Action::Later | Action::Narrower | Action::Wider | Action::Strip
        ) {
            return false;
        }
        if action == Action::Strip {
            self.shown = !self.shown;
            if !self.shown {
                self.window = None;
            }
            return true;
        }
        self.shown = true;
        let Some((start, step, n)) = self.drawn.get() else {
            return true;
        };
        let end = start + step * n as i64;
        let (from, to) = match self.window {
            // The first key picks the last bucket (moving earlier) or the first one.
            None if action == Action::Earlier => (end - step, end),
            None => (start, start + step),
            Some((from, to)) => match action {
                Action::Earlier if from > start => (from - step, to - step),
                Action::Later if to < end => (from + step, to + step),
                Action::Narrower if to - from > step => (from, to - step),
                Action::Wider if to < end => (from, to + step),
                Action::Wider if from > start => (from - step, to),
                _ => (from, to),
            },
        };
        self.window = Some((from, to));
        true
    }

    /// The query with its time terms replaced by the window's (`None` without a window).
    pub fn narrowed(&self, query: &Query) -> Option<String> {
        let (from, to) = self.window?;
        let mut words: Vec<String> = query
            .terms
            .iter()
            .filter(|t| !matches!(t.test, Test::After(_) | Test::Before(_)))
            .map(|t| t.text.clone())
            .collect();
        words.push(format!("after:{}", stamp(from)));
        words.push(format!("before:{}", stamp(to)));
        if let Some(s) = &query.sort {
            words.push(format!(
                "sort:{}{}",
                if s.descending { "-" } else { "" },
                s.key
            ));
        }
        Some(words.join(" "))
    }
}

/// A time as a query term takes it: `2022-06-13T01:00:00` (UTC).
fn stamp(micros: i64) -> String {
    let iso = crate::summary::iso(micros);
    iso.get(..19).unwrap_or(&iso).to_string()
}

/// A time as the axis shows it: month-day and minute, or the second for steps under a
/// minute.
fn short(micros: i64, step: i64) -> String {
    let iso = crate::summary::iso(micros);
    let (d, t) = (iso.get(5..10).unwrap_or(""), iso.get(11..19).unwrap_or(""));
    if step < 60_000_000 {
        format!("{d} {t}")
    } else {
        format!("{d} {}", t.get(..5).unwrap_or(t))
    }
}

/// A bucket width in words.
fn step_words(step: i64) -> String {
    let s = step / 1_000_000;
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The time range the query's `after:`/`before:` terms keep, if it has any.
fn query_range(query: &Query) -> Option<(i64, i64)> {
    let mut range = (i64::MIN, i64::MAX);
    let mut any = false;
    for t in query.terms.iter().filter(|t| !t.negate) {
        match t.test {
            Test::After(a) => (range.0, any) = (range.0.max(a), true),
            Test::Before(b) => (range.1, any) = (range.1.min(b), true),
            _ => {}
        }
    }
    any.then_some(range)
}

/// A bar's character for `n` of at most `most`: any row shows at least the lowest bar.
fn level(n: usize, most: usize) -> char {
    if n == 0 || most == 0 {
        return LEVELS[0];
    }
    LEVELS[(n * 8).div_ceil(most).clamp(1, 8)]
}

/// Draws the strip into `area` (three lines).
pub fn render(strip: &TimeStrip, query: &Query, r: &Results, th: Theme, f: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let room = width.saturating_sub(LABEL);
    let Some(t) = r.strip(room.max(1)) else {
        strip.drawn.set(None);
        f.render_widget(
            Paragraph::new(Line::styled("no times in these rows", th.dim())),
            area,
        );
        return;
    };
    let n = t.rows.len();
    strip.drawn.set(Some((t.start, t.step, n)));
    // Each bucket as many columns as fit evenly.
    let cell = (room / n.max(1)).max(1);
    let in_range = |k: usize, range: Option<(i64, i64)>| {
        let (from, to) = (
            t.start + t.step * k as i64,
            t.start + t.step * (k as i64 + 1),
        );
        range.is_some_and(|(a, b)| from < b && to > a)
    };
    let chosen = strip.window;
    let queried = query_range(query);
    let bars = |counts: &[usize], style| {
        let most = counts.iter().copied().max().unwrap_or(0);
        let mut spans = Vec::with_capacity(n + 1);
        for (k, &c) in counts.iter().enumerate() {
            let s: String = std::iter::repeat_n(level(c, most), cell).collect();
            let st = if in_range(k, chosen) {
                th.selected()
            } else if chosen.is_none() && queried.is_some() && !in_range(k, queried) {
                th.dim()
            } else {
                style
            };
            spans.push(Span::styled(s, st));
        }
        spans
    };
    let line = |label: &str, counts: &[usize], style| {
        let mut spans = vec![Span::styled(format!("{label:<LABEL$}"), th.dim())];
        spans.extend(bars(counts, style));
        Line::from(spans)
    };
    let axis = match chosen {
        Some((from, to)) => {
            let (rows, flagged) = window_counts(&t, from, to);
            format!(
                "{} → {}: {} rows, {} flagged · Enter narrows, Esc cancels",
                short(from, t.step),
                short(to, t.step),
                count(rows),
                count(flagged)
            )
        }
        None => format!(
            "{} → {} · {} a bar · [ ] choose a window",
            short(t.start, t.step),
            short(t.start + t.step * n as i64, t.step),
            step_words(t.step)
        ),
    };
    let lines = vec![
        line("rows", &t.rows, ratatui::style::Style::default()),
        line("flagged", &t.flagged, th.anomalous()),
        Line::styled(
            cut(&format!("{:LABEL$}{axis}", ""), width),
            if chosen.is_some() {
                th.warn()
            } else {
                th.dim()
            },
        ),
    ];
    f.render_widget(Paragraph::new(lines), area);
}

/// Rows and flagged rows in the buckets of `[from, to)`.
fn window_counts(t: &Timeline, from: i64, to: i64) -> (usize, usize) {
    (0..t.rows.len())
        .filter(|&k| {
            let s = t.start + t.step * k as i64;
            s >= from && s < to
        })
        .fold((0, 0), |(r, f), k| (r + t.rows[k], f + t.flagged[k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(n: usize) -> TimeStrip {
        let s = TimeStrip::default();
        s.drawn.set(Some((3_600_000_000, 3_600_000_000, n)));
        s
    }

    #[test]
    fn the_window_moves_within_the_buckets() {
        let h = 3_600_000_000;
        let mut s = drawn(4);
        s.update(Action::Earlier);
        assert_eq!(s.window, Some((4 * h, 5 * h)), "starts at the last bucket");
        s.update(Action::Later);
        assert_eq!(s.window, Some((4 * h, 5 * h)), "no further than the end");
        s.update(Action::Wider);
        assert_eq!(
            s.window,
            Some((3 * h, 5 * h)),
            "widens backwards at the end"
        );
        s.update(Action::Earlier);
        s.update(Action::Earlier);
        s.update(Action::Earlier);
        assert_eq!(s.window, Some((h, 3 * h)), "no earlier than the start");
        s.update(Action::Narrower);
        s.update(Action::Narrower);
        assert_eq!(s.window, Some((h, 2 * h)), "never narrower than a bucket");
        let mut t = drawn(4);
        t.update(Action::Later);
        assert_eq!(t.window, Some((h, 2 * h)), "starts at the first bucket");
    }

    #[test]
    fn the_window_replaces_the_time_terms() {
        let mut s = drawn(4);
        s.update(Action::Later);
        let q = Query::parse("port:22 after:2001-01-01 before:2001-01-02 sort:-score").unwrap();
        let text = s.narrowed(&q).unwrap();
        assert_eq!(
            text,
            "port:22 after:1970-01-01T01:00:00 before:1970-01-01T02:00:00 sort:-score"
        );
        let back = Query::parse(&text).unwrap();
        assert_eq!(query_range(&back), Some((3_600_000_000, 7_200_000_000)));
    }

    #[test]
    fn bars_show_any_row() {
        assert_eq!(level(0, 100), ' ');
        assert_eq!(level(1, 1000), '▁');
        assert_eq!(level(1000, 1000), '█');
        assert_eq!(level(500, 1000), '▄');
    }
}
