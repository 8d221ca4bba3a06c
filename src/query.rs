//! The query language that narrows the view of an analysis already made (never a refit):
//! typed terms, the way RITA's viewer filters, the same in the UI's query bar (`:`) and
//! headless (`zsift score --query`).
//!
//! ```text
//! query  = term { " " term }
//! term   = [ "-" ] field ":" values          a leading "-" negates the term
//! values = value { "," value }               any of them matches
//! ```
//!
//! | field | value | matches a row whose... |
//! |---|---|---|
//! | `src`, `dst`, `host` | address or network (`10.0.0.0/8`) | source, destination, either |
//! | `pair` | two addresses (`A,B`) | between them, in either direction |
//! | `port`, `sport` | number | destination port, source port |
//! | `service`, `proto`, `state` | text (any case) | `service`, `proto`, `conn_state` |
//! | `uid` | text | uid starts with it |
//! | `label` | text | label starts with it (any case) |
//! | `score`, `votes` | comparison (`>0.9`, `>=3`, `<2`, `=1`, `1`) | combined score, votes |
//! | `scan`, `beacon`, `long`, `exfil`, `brute` | comparison | behaviour score of its source, destination or pair |
//! | `flagged` | `yes`, `no` | verdict |
//! | `after`, `before` | time (`2022-06-13T01:00`, a date, or epoch seconds) | `ts` at or after, before |
//! | `sort` | `[-]column` (`-` for highest first) | orders the view (`score`, `votes`, `time` or a column) |

use std::borrow::Cow;
use std::net::IpAddr;

use polars::prelude::*;

use crate::filter::IpMatch;
use crate::hosts::behaviour::Behaviour;
use crate::pipeline::Analysis;

/// The fields a term can name, for completion and messages.
pub const FIELDS: [&str; 22] = [
    "src", "dst", "host", "pair", "port", "sport", "service", "proto", "state", "uid", "label",
    "score", "votes", "scan", "beacon", "long", "exfil", "brute", "flagged", "after", "before",
    "sort",
];

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    /// `>x`
    Gt(f64),
    /// `>=x`
    Ge(f64),
    /// `<x`
    Lt(f64),
    /// `<=x`
    Le(f64),
    /// `=x` or `x`
    Eq(f64),
}

impl Cmp {
    fn parse(v: &str) -> Result<Self, String> {
        let (make, rest): (fn(f64) -> Cmp, &str) = if let Some(r) = v.strip_prefix(">=") {
            (Cmp::Ge, r)
        } else if let Some(r) = v.strip_prefix("<=") {
            (Cmp::Le, r)
        } else if let Some(r) = v.strip_prefix('>') {
            (Cmp::Gt, r)
        } else if let Some(r) = v.strip_prefix('<') {
            (Cmp::Lt, r)
        } else if let Some(r) = v.strip_prefix('=') {
            (Cmp::Eq, r)
        } else {
            (Cmp::Eq, v)
        };
        match rest.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(make(x)),
            _ => Err(format!("not a number: {rest:?}")),
        }
    }

    /// Whether `x` satisfies it (an unset value never does).
    pub fn holds(self, x: f64) -> bool {
        match self {
            _ if x.is_nan() => false,
            Cmp::Gt(v) => x > v,
            Cmp::Ge(v) => x >= v,
            Cmp::Lt(v) => x < v,
            Cmp::Le(v) => x <= v,
            Cmp::Eq(v) => x == v,
        }
    }
}

/// What one term tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Source address in any of these.
    Src(Vec<IpMatch>),
    /// Destination address in any of these.
    Dst(Vec<IpMatch>),
    /// Either address in any of these.
    Host(Vec<IpMatch>),
    /// Between these two addresses, in either direction.
    Pair(IpAddr, IpAddr),
    /// Destination port.
    Port(Vec<i64>),
    /// Source port.
    Sport(Vec<i64>),
    /// A text column equal (any case) to one of the values.
    Text(&'static str, Vec<String>),
    /// uid starting with one of the values.
    Uid(Vec<String>),
    /// Label starting with one of the values (any case).
    Label(Vec<String>),
    /// Combined score.
    Score(Vec<Cmp>),
    /// Votes.
    Votes(Vec<Cmp>),
    /// A behaviour score of the row's source, destination or pair.
    Behaviour(Behaviour, Vec<Cmp>),
    /// The verdict.
    Flagged(bool),
    /// `ts` at or after (microseconds).
    After(i64),
    /// `ts` before (microseconds).
    Before(i64),
}

/// One term: a test, perhaps negated.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// `-field:...`
    pub negate: bool,
    /// The test.
    pub test: Test,
    /// The term as typed.
    pub text: String,
}

/// How the view is ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// `score`, `votes`, `time`, or a column of the log.
    pub key: String,
    /// Highest first.
    pub descending: bool,
}

/// A parsed query: every term must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// The terms, in the order typed.
    pub terms: Vec<Term>,
    /// The order asked for, if any.
    pub sort: Option<Sort>,
}

/// A term that does not parse: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{term}: {reason}")]
pub struct QueryError {
    /// The term as typed.
    pub term: String,
    /// Why.
    pub reason: String,
}

fn addresses(values: &[&str]) -> Result<Vec<IpMatch>, String> {
    values.iter().map(|v| IpMatch::parse(v)).collect()
}

fn numbers(values: &[&str]) -> Result<Vec<i64>, String> {
    values
        .iter()
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("not a port number: {v:?}"))
        })
        .collect()
}

fn comparisons(values: &[&str]) -> Result<Vec<Cmp>, String> {
    values.iter().map(|v| Cmp::parse(v)).collect()
}

/// A time as microseconds since the epoch: ISO 8601 (`2022-06-13T01:00`, seconds and
/// zone optional, UTC when none), a date, or epoch seconds.
pub fn parse_time(v: &str) -> Result<i64, String> {
    let bad = || format!("not a time: {v:?} (2022-06-13T01:00, 2022-06-13 or epoch seconds)");
    if let Some(t) = crate::ingest::values::epoch_micros(v) {
        return Ok(t);
    }
    let full: Cow<str> = match v.len() {
        10 => format!("{v}T00:00:00Z").into(),
        16 => format!("{v}:00Z").into(),
        19 => format!("{v}Z").into(),
        _ => v.into(),
    };
    crate::ingest::values::iso_micros(&full).ok_or_else(bad)
}

impl Query {
    /// Parses `text` (empty: no term).
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let mut q = Query::default();
        for word in text.split_whitespace() {
            let err = |reason: String| QueryError {
                term: word.to_string(),
                reason,
            };
            let (negate, body) = match word.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, word),
            };
            let Some((field, value)) = body.split_once(':') else {
                return Err(err(format!(
                    "a term is field:value (fields: {})",
                    FIELDS.join(" ")
                )));
            };
            let field = field.to_ascii_lowercase();
            if value.is_empty() {
                return Err(err("no value".into()));
            }
            let values: Vec<&str> = value.split(',').filter(|v| !v.is_empty()).collect();
            let lower = || values.iter().map(|v| v.to_lowercase()).collect::<Vec<_>>();
            let test = match field.as_str() {
                "src" => Test::Src(addresses(&values).map_err(err)?),
                "dst" => Test::Dst(addresses(&values).map_err(err)?),
                "host" => Test::Host(addresses(&values).map_err(err)?),
                "pair" => match values.as_slice() {
                    [a, b] => match (a.parse(), b.parse()) {
                        (Ok(a), Ok(b)) => Test::Pair(a, b),
                        _ => return Err(err("pair:A,B takes two addresses".into())),
                    },
                    _ => return Err(err("pair:A,B takes two addresses".into())),
                },
                "port" => Test::Port(numbers(&values).map_err(err)?),
                "sport" => Test::Sport(numbers(&values).map_err(err)?),
                "service" => Test::Text("service", lower()),
                "proto" => Test::Text("proto", lower()),
                "state" => Test::Text("conn_state", lower()),
                "uid" => Test::Uid(values.iter().map(|v| v.to_string()).collect()),
                "label" => Test::Label(lower()),
                "score" => Test::Score(comparisons(&values).map_err(err)?),
                "votes" => Test::Votes(comparisons(&values).map_err(err)?),
                "flagged" => match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "1" => Test::Flagged(true),
                    "no" | "false" | "0" => Test::Flagged(false),
                    _ => return Err(err("flagged:yes or flagged:no".into())),
                },
                "after" => Test::After(parse_time(value).map_err(err)?),
                "before" => Test::Before(parse_time(value).map_err(err)?),
                "sort" => {
                    if negate {
                        return Err(err("write sort:-column for highest first".into()));
                    }
                    let (descending, key) = match value.strip_prefix('-') {
                        Some(k) => (true, k),
                        None => (false, value),
                    };
                    if key.is_empty() {
                        return Err(err("no column to sort by".into()));
                    }
                    q.sort = Some(Sort {
                        key: key.to_string(),
                        descending,
                    });
                    continue;
                }
                other => match Behaviour::ALL.iter().find(|b| b.name() == other) {
                    Some(&b) => Test::Behaviour(b, comparisons(&values).map_err(err)?),
                    None => {
                        return Err(err(format!(
                            "unknown field {other:?} (fields: {})",
                            FIELDS.join(" ")
                        )))
                    }
                },
            };
            if values.is_empty() {
                return Err(err("no value".into()));
            }
            q.terms.push(Term {
                negate,
                test,
                text: word.to_string(),
            });
        }
        Ok(q)
    }

    /// Whether the query has nothing to narrow or order.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.sort.is_none()
    }

    /// The query as text (its terms as typed, then the sort).
    pub fn text(&self) -> String {
        let mut words: Vec<String> = self.terms.iter().map(|t| t.text.clone()).collect();
        if let Some(s) = &self.sort {
            words.push(format!(
                "sort:{}{}",
                if s.descending { "-" } else { "" },
                s.key
            ));
        }
        words.join(" ")
    }

    /// Completes the field name being typed at the end of `text` (Tab in the query bar):
    /// the one field that starts with it, or the longest prefix common to several.
    pub fn complete(text: &str) -> Option<String> {
        let start = text.rfind(' ').map_or(0, |i| i + 1);
        let word = &text[start..];
        let (neg, partial) = match word.strip_prefix('-') {
            Some(p) => ("-", p),
            None => ("", word),
        };
        if partial.contains(':') {
            return None;
        }
        let matches: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| f.starts_with(&partial.to_ascii_lowercase()))
            .collect();
        let done = match matches.as_slice() {
            [] => return None,
            [one] => format!("{one}:"),
            several => {
                let first = several[0];
                let common = (0..first.len())
                    .rev()
                    .map(|n| &first[..=n])
                    .find(|p| several.iter().all(|f| f.starts_with(p)))
                    .unwrap_or("");
                if common.len() <= partial.len() {
                    return None;
                }
                common.to_string()
            }
        };
        Some(format!("{}{neg}{done}", &text[..start]))
    }

    /// For each analysed row (matrix row), whether every term holds.
    pub fn mask(&self, frame: &DataFrame, a: &Analysis, label_column: &str) -> Vec<bool> {
        let n = a.matrix.rows.len();
        let mut keep = vec![true; n];
        for term in &self.terms {
            let hits = term_hits(&term.test, frame, a, label_column);
            for (k, h) in keep.iter_mut().zip(hits) {
                *k &= h != term.negate;
            }
        }
        keep
    }

    /// Orders `rows` (matrix rows) as the sort term asks, stably; unchanged without one.
    /// `Err` names a sort column the log does not have.
    pub fn order(&self, rows: &mut [usize], frame: &DataFrame, a: &Analysis) -> Result<(), String> {
        let Some(s) = &self.sort else {
            return Ok(());
        };
        let frame_row = |i: usize| a.matrix.rows[i] as usize;
        match s.key.as_str() {
            "score" => {
                let c = &a.verdicts.combined;
                rows.sort_by(|&x, &y| c[x].total_cmp(&c[y]));
            }
            "votes" => rows.sort_by_key(|&i| a.verdicts.votes[i]),
            key => {
                let column = if key == "time" { "ts" } else { key };
                let col = frame
                    .column(column)
                    .map_err(|_| format!("sort: the log has no column {column:?}"))?;
                if crate::ingest::text::is_text(col.dtype()) {
                    let v = crate::filter::string_values(frame, column);
                    rows.sort_by(|&x, &y| v[frame_row(x)].cmp(&v[frame_row(y)]));
                } else {
                    let v = crate::features::numeric_values(frame, column)
                        .map_err(|e| format!("sort: {e}"))?;
                    // Unset values last whichever the direction.
                    let key = |i: usize| v[frame_row(i)];
                    rows.sort_by(|&x, &y| match (key(x), key(y)) {
                        (Some(p), Some(q)) => p.total_cmp(&q),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    });
                }
            }
        }
        if s.descending {
            rows.reverse();
        }
        Ok(())
    }
}

/// For each analysed row, whether `test` holds.
fn term_hits(test: &Test, frame: &DataFrame, a: &Analysis, label_column: &str) -> Vec<bool> {
    let rows: Vec<usize> = a.matrix.rows.iter().map(|&r| r as usize).collect();
    let text = |column: &str| crate::filter::string_values(frame, column);
    let addr_hits = |column: &str, m: &[IpMatch]| -> Vec<bool> {
        let v = text(column);
        rows.iter()
            .map(|&r| {
                v[r].and_then(|s| s.parse::<IpAddr>().ok())
                    .is_some_and(|ip| m.iter().any(|x| x.matches(ip)))
            })
            .collect()
    };
    let ints = |column: &str, want: &[i64]| -> Vec<bool> {
        let v =
            crate::filter::int_values(frame, column).unwrap_or_else(|| vec![None; frame.height()]);
        rows.iter()
            .map(|&r| v[r].is_some_and(|x| want.contains(&x)))
            .collect()
    };
    match test {
        Test::Src(m) => addr_hits("id.orig_h", m),
        Test::Dst(m) => addr_hits("id.resp_h", m),
        Test::Host(m) => {
            let (s, d) = (addr_hits("id.orig_h", m), addr_hits("id.resp_h", m));
            s.into_iter().zip(d).map(|(a, b)| a || b).collect()
        }
        Test::Pair(x, y) => {
            let (s, d) = (text("id.orig_h"), text("id.resp_h"));
            let ip = |v: Option<&str>| v.and_then(|v| v.parse::<IpAddr>().ok());
            rows.iter()
                .map(|&r| match (ip(s[r]), ip(d[r])) {
                    (Some(a), Some(b)) => (a == *x && b == *y) || (a == *y && b == *x),
                    _ => false,
                })
                .collect()
        }
        Test::Port(p) => ints("id.resp_p", p),
        Test::Sport(p) => ints("id.orig_p", p),
        Test::Text(column, want) => {
            let v = text(column);
            rows.iter()
                .map(|&r| {
                    // Unset (`-` in Zeek) matches `-`.
                    let s = v[r].unwrap_or("-");
                    want.iter().any(|w| s.eq_ignore_ascii_case(w))
                })
                .collect()
        }
        Test::Uid(prefixes) => {
            let v = text("uid");
            rows.iter()
                .map(|&r| v[r].is_some_and(|s| prefixes.iter().any(|p| s.starts_with(p.as_str()))))
                .collect()
        }
        Test::Label(prefixes) => {
            let v = text(label_column);
            rows.iter()
                .map(|&r| {
                    v[r].is_some_and(|s| {
                        let s = s.to_lowercase();
                        prefixes.iter().any(|p| s.starts_with(p.as_str()))
                    })
                })
                .collect()
        }
        Test::Score(c) => a
            .verdicts
            .combined
            .iter()
            .map(|&x| c.iter().any(|c| c.holds(x)))
            .collect(),
        Test::Votes(c) => a
            .verdicts
            .votes
            .iter()
            .map(|&x| c.iter().any(|c| c.holds(f64::from(x))))
            .collect(),
        Test::Flagged(f) => a.verdicts.flagged.iter().map(|&x| x == *f).collect(),
        Test::Behaviour(b, c) => {
            let k = Behaviour::ALL.iter().position(|x| x == b).unwrap_or(0);
            let ctx = &a.context;
            let beh = &a.behaviours;
            a.matrix
                .keep
                .iter()
                .map(|&s| {
                    let v = [
                        beh.src[ctx.by_src.of[s] as usize][k].value,
                        beh.dst[ctx.by_dst.of[s] as usize][k].value,
                        beh.pair[ctx.by_pair.of[s] as usize][k].value,
                    ]
                    .into_iter()
                    .fold(0.0, f64::max);
                    c.iter().any(|c| c.holds(v))
                })
                .collect()
        }
        Test::After(t) | Test::Before(t) => {
            let micros =
                crate::summary::ts_micros(frame).unwrap_or_else(|| vec![None; frame.height()]);
            let after = matches!(test, Test::After(_));
            rows.iter()
                .map(|&r| micros[r].is_some_and(|x| if after { x >= *t } else { x < *t }))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Query::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn every_term_parses() {
        let q = Query::parse(
            "src:10.0.0.0/8 dst:1.2.3.4 host:::1 port:443 sport:22,23 service:SSL \
             state:S0 proto:udp uid:Cab label:malicious score:>0.9 votes:>=3 beacon:>0.8 \
             scan:<=0.5 long:=1 exfil:0.5 brute:<1 flagged:yes -service:dns \
             after:2022-06-13T01:00 before:2022-06-14 sort:-orig_bytes",
        )
        .unwrap();
        assert_eq!(q.terms.len(), 21);
        assert_eq!(
            q.terms[0].test,
            Test::Src(vec![IpMatch::parse("10.0.0.0/8").unwrap()])
        );
        assert_eq!(q.terms[3].test, Test::Port(vec![443]));
        assert_eq!(q.terms[4].test, Test::Sport(vec![22, 23]));
        assert_eq!(q.terms[5].test, Test::Text("service", vec!["ssl".into()]));
        assert_eq!(q.terms[6].test, Test::Text("conn_state", vec!["s0".into()]));
        assert_eq!(q.terms[10].test, Test::Score(vec![Cmp::Gt(0.9)]));
        assert_eq!(q.terms[11].test, Test::Votes(vec![Cmp::Ge(3.0)]));
        assert_eq!(
            q.terms[12].test,
            Test::Behaviour(Behaviour::Beacon, vec![Cmp::Gt(0.8)])
        );
        assert_eq!(
            q.terms[15].test,
            Test::Behaviour(Behaviour::Exfil, vec![Cmp::Eq(0.5)])
        );
        assert_eq!(q.terms[17].test, Test::Flagged(true));
        assert!(q.terms[18].negate && !q.terms[17].negate);
        // 2022-06-13T01:00:00Z, 2022-06-14T00:00:00Z
        assert_eq!(q.terms[19].test, Test::After(1_655_082_000_000_000));
        assert_eq!(q.terms[20].test, Test::Before(1_655_164_800_000_000));
        assert_eq!(
            q.sort,
            Some(Sort {
                key: "orig_bytes".into(),
                descending: true
            })
        );
        assert_eq!(
            Query::parse("after:1655082000").unwrap().terms[0].test,
            Test::After(1_655_082_000_000_000)
        );
        assert_eq!(Query::parse("  ").unwrap(), Query::default());
        assert_eq!(
            Query::parse("pair:10.0.0.1,::1").unwrap().terms[0].test,
            Test::Pair("10.0.0.1".parse().unwrap(), "::1".parse().unwrap())
        );
        let text = "src:10.0.0.1 -port:53 sort:-score";
        assert_eq!(Query::parse(text).unwrap().text(), text);
    }

    #[test]
    fn every_error_names_its_term() {
        assert!(err("bogus").starts_with("bogus: a term is field:value"));
        assert!(err("colour:red").contains("unknown field \"colour\""));
        assert!(err("src:").contains("no value"));
        assert!(err("src:10.0.0.300").starts_with("src:10.0.0.300: not an IP address"));
        assert!(err("dst:10.0.0.0/33").contains("bad prefix length"));
        assert!(err("port:https").contains("not a port number: \"https\""));
        assert!(err("score:>high").contains("not a number: \"high\""));
        assert!(err("votes:>=").contains("not a number"));
        assert!(err("beacon:>nan").contains("not a number"));
        assert!(err("flagged:maybe").contains("flagged:yes or flagged:no"));
        assert!(err("pair:10.0.0.1").contains("pair:A,B takes two addresses"));
        assert!(err("pair:10.0.0.1,x").contains("pair:A,B takes two addresses"));
        assert!(err("after:yesterday").contains("not a time"));
        assert!(err("-sort:score").contains("sort:-column"));
        assert!(err("sort:-").contains("no column"));
        assert!(err("port:,").contains("no value"));
        // A bad term anywhere refuses the whole query.
        assert!(err("src:10.0.0.1 port:x").starts_with("port:x:"));
    }

    #[test]
    fn comparisons_hold() {
        assert!(Cmp::Gt(0.5).holds(0.6) && !Cmp::Gt(0.5).holds(0.5));
        assert!(Cmp::Ge(0.5).holds(0.5) && Cmp::Le(0.5).holds(0.5));
        assert!(Cmp::Lt(2.0).holds(1.0) && Cmp::Eq(1.0).holds(1.0));
        assert!(!Cmp::Eq(1.0).holds(f64::NAN) && !Cmp::Lt(1.0).holds(f64::NAN));
    }

    #[test]
    fn fields_complete() {
        assert_eq!(Query::complete("sr").as_deref(), Some("src:"));
        assert_eq!(
            Query::complete("port:22 -ser").as_deref(),
            Some("port:22 -service:")
        );
        // `s` starts src, sport, service, state, score, scan, sort: nothing in common.
        assert_eq!(Query::complete("s"), None);
        // `sc` starts score and scan: `sc` is all they share.
        assert_eq!(Query::complete("sc"), None);
        // `be` starts beacon and before.
        assert_eq!(Query::complete("be"), None);
        assert_eq!(Query::complete("ser").as_deref(), Some("service:"));
        assert_eq!(Query::complete("bea").as_deref(), Some("beacon:"));
        assert_eq!(Query::complete("src:10"), None);
    }
}
