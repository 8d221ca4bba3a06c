//! What the views draw, prepared once per log and once per job on the worker thread, so
//! that a frame only reads. Every string taken from the log is sanitized here, before
//! any widget sees it.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use polars::prelude::{DataFrame, DataType};

use crate::cancel::Cancel;
use crate::cluster::stats::Distribution;
use crate::eval;
use crate::features::{Encoding, Feature, FeatureOptions, Numbers, Raw, CONN_CATEGORICAL};
use crate::filter::{self, LABEL_COLUMN};
use crate::hosts::{Ranked, Unit};
use crate::ingest::{cell, Log};
use crate::pipeline::{Analysis, Model};
use crate::sanitize::sanitize;
use crate::summary::{self, value_counts};

/// Sanitized text of a log value.
pub fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

/// A value to choose in a picker: the raw value (for the filter) and how it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The value as in the log.
    pub value: String,
    /// The value as shown (sanitized).
    pub shown: String,
    /// Rows with it.
    pub count: usize,
}

/// An address seen in the log, with its row counts as source and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address as in the log.
    pub value: String,
    /// As shown (sanitized).
    pub shown: String,
    /// Rows where it is `id.orig_h`.
    pub src: usize,
    /// Rows where it is `id.resp_h`.
    pub dst: usize,
}

/// What the views need to know about the loaded log, computed once after loading.
#[derive(Debug, Clone)]
pub struct LogInfo {
    /// The input's name (sanitized).
    pub name: String,
    /// Rows loaded.
    pub rows: usize,
    /// `tsv`, `json` or `mixed`.
    pub format: String,
    /// One line per input file (sanitized).
    pub files: Vec<String>,
    /// Malformed lines skipped.
    pub skipped: u64,
    /// The first skipped lines, `file:line: reason` (sanitized).
    pub skipped_first: Vec<String>,
    /// First and last `ts`.
    pub time_range: Option<(String, String)>,
    /// Rows per service, most first.
    pub services: Vec<Choice>,
    /// Addresses by rows involved, most first.
    pub addresses: Vec<Address>,
    /// The label column, when the log has one.
    pub label_column: Option<String>,
    /// Rows per label value, most first.
    pub labels: Vec<Choice>,
    /// Features the user can choose from.
    pub features: Vec<Feature>,
    /// The default features, scaling and unset handling for this log.
    pub default_features: FeatureOptions,
    /// The kind of log analysed (`conn`, `dns`...).
    pub kind: String,
    /// The input's name as given, without the kind (the header adds it).
    pub source: String,
    /// A dns log loaded beside the analysed one (whose clients' DNS behaviours join the
    /// hosts' scores).
    pub dns: Option<Arc<super::worker::DnsBeside>>,
    /// Every log loaded, each kind in its own table (`L` switches between them; a row's
    /// record shows the records of other kinds with its uid).
    pub all: Arc<crate::ingest::kinds::Logs>,
}

impl LogInfo {
    /// Summarises `log` (named `name`) for the views.
    pub fn new(log: &Log, name: &str) -> Self {
        let frame = &log.frame;
        let choices = |column: &str| -> Vec<Choice> {
            value_counts(frame, column)
                .into_iter()
                .map(|c| Choice {
                    shown: clean(&c.value),
                    value: c.value,
                    count: c.count,
                })
                .collect()
        };
        let mut addresses: std::collections::HashMap<String, (usize, usize)> =
            std::collections::HashMap::new();
        for c in value_counts(frame, "id.orig_h") {
            addresses.entry(c.value).or_default().0 += c.count;
        }
        for c in value_counts(frame, "id.resp_h") {
            addresses.entry(c.value).or_default().1 += c.count;
        }
        let mut addresses: Vec<Address> = addresses
            .into_iter()
            .map(|(value, (src, dst))| Address {
                shown: clean(&value),
                value,
                src,
                dst,
            })
            .collect();
        addresses.sort_by(|a, b| {
            (b.src + b.dst)
                .cmp(&(a.src + a.dst))
                .then_with(|| a.value.cmp(&b.value))
        });
        let label_column = [LABEL_COLUMN, "detailed-label"]
            .into_iter()
            .find(|c| {
                frame
                    .column(c)
                    .is_ok_and(|col| crate::ingest::text::is_text(col.dtype()))
            })
            .map(str::to_string);
        let labels = label_column.as_deref().map(choices).unwrap_or_default();
        let default_features = FeatureOptions::default_for(frame);
        let mut features = default_features.features.clone();
        for c in frame.columns() {
            let name = c.name().as_str();
            let numeric = matches!(
                c.dtype(),
                DataType::Int64 | DataType::Int32 | DataType::Float64
            );
            let known = features.iter().any(|f| f.column == name)
                || ["id.orig_p", "id.resp_p", "trans_id"].contains(&name);
            if numeric && !known {
                features.push(Feature {
                    column: name.to_string(),
                    encoding: Encoding::Numeric,
                });
            }
        }
        for name in CONN_CATEGORICAL {
            if frame.column(name).is_ok() && !features.iter().any(|f| f.column == name) {
                features.push(Feature {
                    column: name.to_string(),
                    encoding: Encoding::Rarity,
                });
            }
        }
        // What each row's hosts and pairs do, for logs with addresses.
        if frame.column("id.orig_h").is_ok() && frame.column("id.resp_h").is_ok() {
            let protocol = crate::protocol::available(frame);
            let names = crate::hosts::context::FEATURES
                .iter()
                .map(|(n, _)| *n)
                .chain(protocol);
            for name in names {
                if frame.column(name).is_err() && !features.iter().any(|f| f.column == name) {
                    features.push(Feature {
                        column: name.to_string(),
                        encoding: Encoding::Numeric,
                    });
                }
            }
        }
        Self {
            name: clean(name),
            rows: log.rows(),
            format: log.format(),
            files: log
                .files
                .iter()
                .map(|f| {
                    clean(&format!(
                        "{} ({}{}, {} rows)",
                        f.name,
                        f.format,
                        if f.gzip { ", gzip" } else { "" },
                        f.rows
                    ))
                })
                .collect(),
            skipped: log.skipped.count,
            skipped_first: log
                .skipped
                .first
                .iter()
                .map(|l| clean(&format!("{}:{}: {}", l.file, l.line, l.reason)))
                .collect(),
            time_range: summary::time_range(frame).map(|(a, b)| (summary::iso(a), summary::iso(b))),
            services: choices("service"),
            addresses,
            label_column,
            labels,
            features,
            default_features,
            kind: crate::ingest::kinds::kind_of_frame(frame).to_string(),
            source: name.to_string(),
            dns: None,
            all: Arc::default(),
        }
    }
}

/// A flagged connection in the Anomalies table. Its text is made when first needed
/// ([`Results::text`]): a scan that is most of the log flags most rows, and a frame draws
/// a page of them.
///
/// 32 bytes: a list holds one per flagged row (or per row), millions at 10M rows. Its
/// combined score is read from the analysis ([`Results::score`]).
#[derive(Debug, Clone)]
pub struct Flagged {
    /// Matrix row.
    i: u32,
    /// Frame row.
    row: u32,
    /// Detectors flagging it.
    pub votes: u8,
    /// Whether it is flagged.
    pub flagged: bool,
    // Boxed: a list of every analysed row holds one per row, most never shown.
    text: OnceLock<Box<RowText>>,
}

impl Flagged {
    /// Its matrix row.
    pub fn i(&self) -> usize {
        self.i as usize
    }

    /// Its frame row.
    pub fn row(&self) -> usize {
        self.row as usize
    }
}

/// A flagged connection's cells as the Anomalies table shows them (sanitized).
#[derive(Debug, Clone, PartialEq)]
pub struct RowText {
    /// `ts`, ISO 8601.
    pub ts: String,
    /// `uid`.
    pub uid: String,
    /// `id.orig_h`.
    pub orig: String,
    /// `id.orig_p`.
    pub orig_p: String,
    /// `id.resp_h`.
    pub resp: String,
    /// `id.resp_p`.
    pub resp_p: String,
    /// `proto`.
    pub proto: String,
    /// `service`.
    pub service: String,
    /// The detectors flagging it, comma-separated (`(mean rank)` for none alone).
    pub detectors: String,
    /// The source address, when it parses (for pivoting).
    pub orig_ip: Option<IpAddr>,
    /// The destination address, when it parses.
    pub resp_ip: Option<IpAddr>,
}

/// One detector's run, for the Overview.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Detector name.
    pub name: &'static str,
    /// Seconds to fit and score.
    pub seconds: f64,
    /// Rows it flags.
    pub flagged: usize,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// ROC-AUC and precision at k of one scorer.
#[derive(Debug, Clone)]
pub struct EvalRow {
    /// Detector name, or `ensemble`.
    pub name: String,
    /// Area under the ROC curve.
    pub auc: Option<f64>,
    /// Precision at k (k = number of positives).
    pub precision: Option<f64>,
}

/// The evaluation against the log's labels.
#[derive(Debug)]
pub struct Evaluation {
    /// Rows labelled malicious.
    pub positives: usize,
    /// Rows labelled otherwise (background left out).
    pub negatives: usize,
    /// The ensemble's combined score.
    pub ensemble: EvalRow,
    /// Per detector, once [`Results::evaluate_detectors`] ran: each detector scores
    /// the rows again when the analysis keeps no detector's scores, which on a large log
    /// takes longer than the 2-D views, so it comes after them.
    detectors: OnceLock<DetectorEval>,
}

/// Each detector's evaluation.
#[derive(Debug)]
struct DetectorEval {
    rows: Vec<EvalRow>,
    /// The rows and the malicious rows of the sample it was made on, when sampled
    /// ([`eval::DETECTOR_SAMPLE`]).
    sample: Option<(usize, usize)>,
    /// Why it could not be made, if it could not.
    failed: Option<String>,
}

impl Evaluation {
    /// Each detector's row, once worked out.
    pub fn detectors(&self) -> Option<&[EvalRow]> {
        self.detectors.get().map(|d| d.rows.as_slice())
    }

    /// The rows and the malicious rows of the seeded sample each detector's evaluation was
    /// made on, when the log has more than [`eval::DETECTOR_SAMPLE`] rows.
    pub fn detector_sample(&self) -> Option<(usize, usize)> {
        self.detectors.get().and_then(|d| d.sample)
    }

    /// Why each detector's evaluation could not be made, if it could not.
    pub fn detectors_failed(&self) -> Option<&str> {
        self.detectors.get().and_then(|d| d.failed.as_deref())
    }
}

/// The distribution of one feature over normal and anomalous rows.
#[derive(Debug, Clone)]
pub enum Dist {
    /// A numeric feature: histograms (linear and log bins) and the sorted values.
    Num {
        /// Bins and counts, from [`crate::cluster::stats::distribution`].
        hist: Box<Distribution>,
        /// The sorted values at evenly spaced quantiles: (quantile, value).
        curve: Vec<(f64, f64)>,
        /// Normal rows.
        n_normal: usize,
        /// Anomalous rows.
        n_anomalous: usize,
    },
    /// A categorical feature: the most common values, (value, normal rows, anomalous
    /// rows).
    Cat {
        /// Values by total rows, most first.
        top: Vec<(String, usize, usize)>,
        /// Normal rows.
        n_normal: usize,
        /// Anomalous rows.
        n_anomalous: usize,
    },
}

/// One feature's distribution.
#[derive(Debug, Clone)]
pub struct FeatureDist {
    /// The feature's column (sanitized).
    pub name: String,
    /// Its distribution.
    pub dist: Dist,
}

/// The bins of the histograms.
const BINS: usize = 40;
/// Points on the sorted-value curves.
const CURVE: usize = 200;
/// Reasons shown per row.
const REASONS: usize = 3;

/// Everything a finished job gives the views.
pub struct Results {
    /// The log analysed (for the flagged rows' text).
    log: Arc<Log>,
    /// The analysis itself.
    pub analysis: Analysis,
    /// The model it ran.
    pub model: Model,
    /// Flagged rows, most anomalous first.
    pub flagged: Vec<Flagged>,
    /// Every analysed row, flagged first ([`Results::all`]).
    all: OnceLock<Vec<Flagged>>,
    /// Per detector.
    pub timings: Vec<Timing>,
    /// The distributions and the evaluation, once worked out.
    summaries: OnceLock<Summaries>,
    /// Seconds the job took.
    pub seconds: f64,
    /// Sources, destinations and pairs by host score (in [`Unit`] order: src, dst, pair).
    pub hosts: [Vec<HostRow>; 3],
    /// The hosts' warnings: a behaviour that explains a large share of the rows.
    warnings: Vec<String>,
    /// Whether the analysed rows span more than a day (times then show their date).
    pub multi_day: bool,
    /// The time strip's buckets, made for the width last asked ([`Results::strip`]).
    strip: Mutex<Option<(usize, Option<Arc<Timeline>>)>>,
}

/// What the Histograms tab and the Overview add to a job's results.
struct Summaries {
    dists: Vec<FeatureDist>,
    evaluation: Option<Evaluation>,
    timeline: Option<Timeline>,
    /// The warning when the labels show the ranking upside down.
    upside_down: Option<String>,
}

/// A host or pair as the Hosts tab shows it.
#[derive(Debug, Clone)]
pub struct HostRow {
    /// The ranking's entry.
    pub ranked: Ranked,
    /// Its host, or `src → dst` (sanitized).
    pub label: String,
}

/// Most buckets of the Overview's timeline (one line each).
const TIMELINE_BUCKETS: usize = 16;

/// Bucket widths the timeline chooses from, in seconds: round steps a reader can add up.
const TIMELINE_STEPS: [i64; 25] = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    2 * 60,
    5 * 60,
    10 * 60,
    15 * 60,
    20 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    4 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
    365 * 86_400,
];

/// The analysed rows counted per time bucket, all and flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Start of the first bucket, microseconds since the epoch (a multiple of the step).
    pub start: i64,
    /// Bucket width in microseconds.
    pub step: i64,
    /// Rows per bucket.
    pub rows: Vec<usize>,
    /// Flagged rows per bucket.
    pub flagged: Vec<usize>,
}

impl Timeline {
    /// Buckets of the smallest round step that gives at most `most` of them over the
    /// analysed rows' times; `None` without times.
    pub fn of(frame: &DataFrame, a: &Analysis, most: usize) -> Option<Self> {
        let micros = summary::ts_micros(frame)?;
        let times: Vec<(i64, bool)> = a
            .matrix
            .rows
            .iter()
            .zip(&a.verdicts.flagged)
            .filter_map(|(&r, &f)| micros[r as usize].map(|t| (t, f)))
            .collect();
        let lo = times.iter().map(|t| t.0).min()?;
        let hi = times.iter().map(|t| t.0).max()?;
        let most = most.max(1) as i64;
        let step = TIMELINE_STEPS
            .iter()
            .map(|s| s * 1_000_000)
            .find(|&s| hi.div_euclid(s) - lo.div_euclid(s) < most)
            .unwrap_or(i64::MAX / most);
        let start = lo.div_euclid(step) * step;
        let n = usize::try_from((hi - start) / step + 1).unwrap_or(1);
        let (mut rows, mut flagged) = (vec![0; n], vec![0; n]);
        for (t, f) in times {
            let k = usize::try_from((t - start) / step).unwrap_or(0).min(n - 1);
            rows[k] += 1;
            flagged[k] += usize::from(f);
        }
        Some(Self {
            start,
            step,
            rows,
            flagged,
        })
    }
}

/// Microseconds from the first to the last `ts` of `rows` (0 without times).
fn time_span(frame: &DataFrame, rows: &[u32]) -> f64 {
    let Some(micros) = summary::ts_micros(frame) else {
        return 0.0;
    };
    let (lo, hi) = rows
        .iter()
        .filter_map(|&r| micros[r as usize])
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if lo > hi {
        0.0
    } else {
        (hi as f64) - (lo as f64)
    }
}

/// The flagged rows of an analysis, most anomalous first.
fn flagged_rows(analysis: &Analysis) -> Vec<Flagged> {
    let v = &analysis.verdicts;
    // Sized at once: grown by doubling, the list of a scan flagged on most of 10M rows
    // would hold up to twice its size.
    let mut out = Vec::with_capacity(v.n_flagged());
    out.extend(
        analysis
            .ranked(|i| v.flagged[i])
            .into_iter()
            .map(|i| entry(analysis, i as usize)),
    );
    out
}

/// Every analysed row, flagged first, each part most anomalous first.
fn every_row(analysis: &Analysis) -> Vec<Flagged> {
    let v = &analysis.verdicts;
    let mut out = Vec::with_capacity(v.flagged.len());
    for flagged in [true, false] {
        out.extend(
            analysis
                .ranked(|i| v.flagged[i] == flagged)
                .into_iter()
                .map(|i| entry(analysis, i as usize)),
        );
    }
    out
}

fn entry(analysis: &Analysis, i: usize) -> Flagged {
    let v = &analysis.verdicts;
    Flagged {
        i: i as u32,
        row: analysis.matrix.rows[i],
        votes: v.votes[i],
        flagged: v.flagged[i],
        text: OnceLock::new(),
    }
}

/// The columns the Anomalies table shows, read whole (for many rows at once) or cell by
/// cell (for a page of them).
struct Cells<'a> {
    frame: &'a DataFrame,
    texts: Vec<(&'static str, Vec<Option<&'a str>>)>,
    micros: Option<Vec<Option<i64>>>,
    ports: [Option<Vec<Option<i64>>>; 2],
}

const TEXT_COLUMNS: [&str; 5] = ["uid", "id.orig_h", "id.resp_h", "proto", "service"];
const PORT_COLUMNS: [&str; 2] = ["id.orig_p", "id.resp_p"];

impl<'a> Cells<'a> {
    /// Cell by cell: nothing read in advance.
    fn lazy(frame: &'a DataFrame) -> Self {
        Self {
            frame,
            texts: Vec::new(),
            micros: None,
            ports: [None, None],
        }
    }

    /// Text columns, times and ports read whole once rather than cell by cell.
    fn whole(frame: &'a DataFrame) -> Self {
        let texts = TEXT_COLUMNS
            .into_iter()
            .filter(|c| {
                frame
                    .column(c)
                    .is_ok_and(|col| crate::ingest::text::is_text(col.dtype()))
            })
            .map(|c| (c, filter::string_values(frame, c)))
            .collect();
        Self {
            frame,
            texts,
            micros: summary::ts_micros(frame),
            ports: PORT_COLUMNS.map(|c| filter::int_values(frame, c)),
        }
    }

    fn raw(&self, c: &str, row: usize) -> std::borrow::Cow<'a, str> {
        match self.texts.iter().find(|(n, _)| *n == c) {
            Some((_, whole)) => whole[row].unwrap_or("-").into(),
            None => cell(self.frame, c, row).into(),
        }
    }

    /// A port (unset: `-`, as `cell` writes it).
    fn port(&self, k: usize, row: usize) -> String {
        match &self.ports[k] {
            Some(v) => v[row].map_or_else(|| "-".to_string(), |x| x.to_string()),
            None => cell(self.frame, PORT_COLUMNS[k], row),
        }
    }

    fn text(&self, analysis: &Analysis, f: &Flagged) -> RowText {
        let row = f.row();
        let (orig, resp) = (self.raw("id.orig_h", row), self.raw("id.resp_h", row));
        RowText {
            ts: match &self.micros {
                Some(m) => m[row].map_or_else(|| "-".to_string(), crate::summary::iso),
                None => clean(&self.raw("ts", row)),
            },
            uid: clean(&self.raw("uid", row)),
            orig_ip: orig.parse().ok(),
            resp_ip: resp.parse().ok(),
            orig: clean(&orig),
            orig_p: clean(&self.port(0, row)),
            resp: clean(&resp),
            resp_p: clean(&self.port(1, row)),
            proto: clean(&self.raw("proto", row)),
            service: clean(&self.raw("service", row)),
            // Flagged by the mean rank alone, no detector past its own threshold.
            detectors: match analysis.verdicts.flagged_by(f.i()) {
                by if by.is_empty() && f.flagged => "(mean rank)".into(),
                by if by.is_empty() => "-".into(),
                by => by.join(","),
            },
        }
    }
}

/// The units of the Hosts tab, in the order of [`Results::hosts`].
pub const UNITS: [Unit; 3] = [Unit::Src, Unit::Dst, Unit::Pair];

impl Results {
    /// Prepares the views' data from a finished analysis; `None` if cancelled meanwhile.
    pub fn new(
        log: &Arc<Log>,
        model: &Model,
        analysis: Analysis,
        cancel: &Cancel,
        started: Instant,
    ) -> Option<Self> {
        let v = &analysis.verdicts;
        // Enough for the Anomalies and Hosts tabs; the flagged rows' text waits until it
        // is shown, the distributions and the evaluation until [`Results::summarise`].
        // The flagged rows and the host rankings, side by side.
        let (flagged, hosts) = rayon::join(
            || flagged_rows(&analysis),
            || {
                // In [`UNITS`] order.
                analysis.hosts_all().map(|list| {
                    list.into_iter()
                        .map(|h| HostRow {
                            label: clean(&match &h.dst {
                                Some(d) => format!("{} → {d}", h.host),
                                None => h.host.clone(),
                            }),
                            ranked: h,
                        })
                        .collect()
                })
            },
        );
        let timings = v
            .runs
            .iter()
            .enumerate()
            .map(|(k, r)| Timing {
                name: r.kind.name(),
                seconds: r.fit_s + r.score_s,
                flagged: v.run_flagged(k),
                error: r.error.as_deref().map(clean),
            })
            .collect();
        if cancel.is_cancelled() {
            return None;
        }
        let warnings = crate::hosts::warnings(
            &analysis.behaviours,
            analysis.host_evidence.then_some(&analysis.evidence),
        );
        let multi_day = time_span(&log.frame, &analysis.matrix.rows) > 86_400e6;
        Some(Self {
            log: Arc::clone(log),
            multi_day,
            hosts,
            warnings,
            model: model.clone(),
            flagged,
            all: OnceLock::new(),
            timings,
            summaries: OnceLock::new(),
            seconds: started.elapsed().as_secs_f64(),
            analysis,
            strip: Mutex::new(None),
        })
    }

    /// Works out the features' distributions (Histograms tab) and the ensemble's
    /// evaluation against the labels (Overview), after the first anomalies are on screen;
    /// false if cancelled meanwhile. Each detector's evaluation waits for
    /// [`Results::evaluate_detectors`].
    pub fn summarise(&self, cancel: &Cancel) -> bool {
        use rayon::prelude::*;
        let a = &self.analysis;
        // One after the other, each in parallel: side by side, their copies of every
        // row's values would add up.
        let dists = a
            .matrix
            .features
            .par_iter()
            .zip(&a.matrix.raw)
            .map(|(f, raw)| {
                (!cancel.is_cancelled()).then(|| FeatureDist {
                    name: clean(&f.column),
                    dist: distribution(&f.column, raw, &a.verdicts.flagged),
                })
            })
            .collect::<Option<Vec<_>>>();
        let Some(dists) = dists.filter(|_| !cancel.is_cancelled()) else {
            return false;
        };
        let evaluation = evaluate(&self.log, &self.model, a);
        let upside_down = evaluation
            .as_ref()
            .and_then(|e| e.ensemble.auc)
            .filter(|&a| a < 0.5)
            .map(|auc| {
                format!(
                    "against the labels the ranking is upside down (ensemble ROC-AUC \
                     {auc:.2}): the attack is most of the rows; see the Hosts tab, or train \
                     on a label (t)"
                )
            });
        let timeline = Timeline::of(&self.log.frame, a, TIMELINE_BUCKETS);
        let _ = self.summaries.set(Summaries {
            dists,
            evaluation,
            timeline,
            upside_down,
        });
        true
    }

    /// Whether the evaluation waits for each detector's rows
    /// ([`Results::evaluate_detectors`]).
    pub fn detectors_pending(&self) -> bool {
        self.evaluation().is_some_and(|e| e.detectors().is_none())
    }

    /// Adds each detector's row to the evaluation (after [`Results::summarise`]; nothing to
    /// do without labels): the detectors' scores, scored again a detector at a time when
    /// the analysis keeps none, on every row or on a seeded sample of
    /// [`eval::DETECTOR_SAMPLE`] rows. False if cancelled meanwhile.
    pub fn evaluate_detectors(&self, cancel: &Cancel) -> bool {
        self.evaluate_detectors_within(eval::DETECTOR_SAMPLE, cancel)
    }

    /// [`Results::evaluate_detectors`] on a seeded sample of `limit` rows
    /// ([`eval::sample_rows`]) when there are more.
    pub fn evaluate_detectors_within(&self, limit: usize, cancel: &Cancel) -> bool {
        let Some(ev) = self.evaluation().filter(|e| e.detectors().is_none()) else {
            return true;
        };
        let a = &self.analysis;
        let n = a.matrix.rows.len();
        let sampled = eval::sample_rows(n, limit);
        let at = sampled.unwrap_or_else(|| (0..n).collect());
        let frame_rows: Vec<u32> = at.iter().map(|&i| a.matrix.rows[i]).collect();
        let truth = eval::truth(&self.log.frame, &self.model.label_column, &frame_rows);
        drop(frame_rows);
        let mut rows: Vec<Option<EvalRow>> = (0..a.verdicts.runs.len()).map(|_| None).collect();
        // A detector that cannot score again is left out of the table, not the others.
        let scored = a.each_detector_scores(&at, cancel, |k, s| {
            rows[k] = Some(eval_row(a.verdicts.runs[k].kind.name(), &s, &truth))
        });
        if matches!(scored, Err(crate::detect::DetectError::Cancelled)) || cancel.is_cancelled() {
            return false;
        }
        let positives = truth.iter().filter(|t| **t == Some(true)).count();
        let _ = ev.detectors.set(DetectorEval {
            rows: rows.into_iter().flatten().collect(),
            sample: (at.len() < n).then_some((at.len(), positives)),
            failed: None,
        });
        true
    }

    /// Records that each detector's evaluation could not be made, and why (sanitized when
    /// shown), so that it is no longer waited for.
    pub fn detectors_failed(&self, why: &str) {
        if let Some(ev) = self.evaluation() {
            let _ = ev.detectors.set(DetectorEval {
                rows: Vec::new(),
                sample: None,
                failed: Some(clean(why)),
            });
        }
    }

    /// Each feature's distribution (none until [`Results::summarise`] ran).
    pub fn dists(&self) -> &[FeatureDist] {
        self.summaries.get().map_or(&[], |s| &s.dists)
    }

    /// The evaluation against the labels, when the log has them (and
    /// [`Results::summarise`] ran).
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.summaries.get().and_then(|s| s.evaluation.as_ref())
    }

    /// Rows and flagged rows over time, when the rows have times (and
    /// [`Results::summarise`] ran).
    pub fn timeline(&self) -> Option<&Timeline> {
        self.summaries.get().and_then(|s| s.timeline.as_ref())
    }

    /// The analysed rows over time in at most `most` buckets, for the time strip: made
    /// once per width, not per frame.
    pub fn strip(&self, most: usize) -> Option<Arc<Timeline>> {
        let mut slot = self.strip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((m, t)) = &*slot {
            if *m == most {
                return t.clone();
            }
        }
        let t = Timeline::of(&self.log.frame, &self.analysis, most).map(Arc::new);
        *slot = Some((most, t.clone()));
        t
    }

    /// Feature `k`'s distribution over the analysed rows `view` keeps (a query's view),
    /// anomalous against normal; `None` without such a feature.
    pub fn dist_in(&self, k: usize, view: &[bool]) -> Option<FeatureDist> {
        let a = &self.analysis;
        let (f, raw) = (a.matrix.features.get(k)?, a.matrix.raw.get(k)?);
        let keep = |i: &usize| view.get(*i).copied().unwrap_or(false);
        let rows: Vec<usize> = (0..a.verdicts.flagged.len()).filter(keep).collect();
        let flagged: Vec<bool> = rows.iter().map(|&i| a.verdicts.flagged[i]).collect();
        let raw = match raw {
            Raw::Num(v) => Raw::Num(Numbers::Kept(v.gather(&rows))),
            Raw::Cat {
                codes,
                vocab,
                counts,
            } => Raw::Cat {
                codes: rows.iter().map(|&i| codes[i]).collect(),
                vocab: vocab.clone(),
                counts: counts.clone(),
            },
        };
        Some(FeatureDist {
            name: clean(&f.column),
            dist: distribution(&f.column, &raw, &flagged),
        })
    }

    /// Whether [`Results::summarise`] ran.
    pub fn summarised(&self) -> bool {
        self.summaries.get().is_some()
    }

    /// Warnings in words: a behaviour that explains a large share of the rows, a ranking
    /// the labels show upside down.
    pub fn warnings(&self) -> Vec<&str> {
        let labels = self.summaries.get().and_then(|s| s.upside_down.as_deref());
        self.warnings
            .iter()
            .map(String::as_str)
            .chain(labels)
            .collect()
    }

    /// Why a flagged row was flagged, most unusual first (sanitized). Worked out when
    /// shown: a log where a scan is most of the rows flags most of them.
    pub fn reasons(&self, f: &Flagged) -> String {
        let texts: Vec<String> = self
            .analysis
            .reasons(f.i(), REASONS)
            .into_iter()
            .map(|r| r.text)
            .collect();
        clean(&texts.join("; "))
    }

    /// A host's or pair's reasons, joined (sanitized). Worked out when shown: a scan of
    /// the internet makes a million pairs.
    pub fn host_reasons(&self, h: &HostRow) -> String {
        clean(&h.ranked.reasons(&self.analysis.behaviours).join("; "))
    }

    /// The log analysed.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The log analysed, shared.
    pub fn log_arc(&self) -> Arc<Log> {
        Arc::clone(&self.log)
    }

    /// A row's combined score.
    pub fn score(&self, f: &Flagged) -> f64 {
        self.analysis.verdicts.combined[f.i()]
    }

    /// A flagged row's text, read from the log the first time it is asked for.
    pub fn text<'a>(&'a self, f: &'a Flagged) -> &'a RowText {
        f.text
            .get_or_init(|| Box::new(Cells::lazy(&self.log.frame).text(&self.analysis, f)))
    }

    /// Every analysed row, flagged first (made when a query or a search first asks).
    pub fn all(&self) -> &[Flagged] {
        self.all.get_or_init(|| every_row(&self.analysis))
    }

    /// Makes the text of every row of `rows` that has none yet (before sorting or
    /// searching by it): a few cell by cell, many from columns read whole, in parallel.
    pub fn fill_texts(&self, rows: &[&Flagged]) {
        use rayon::prelude::*;
        let missing: Vec<&Flagged> = rows
            .iter()
            .copied()
            .filter(|f| f.text.get().is_none())
            .collect();
        // Below this many rows, reading whole columns costs more than it saves.
        const WHOLE_FROM: usize = 1024;
        if missing.len() < WHOLE_FROM {
            for f in missing {
                self.text(f);
            }
            return;
        }
        let cells = Cells::whole(&self.log.frame);
        missing.par_iter().with_min_len(WHOLE_FROM).for_each(|f| {
            f.text
                .get_or_init(|| Box::new(cells.text(&self.analysis, f)));
        });
    }

    /// Rows analysed.
    pub fn rows(&self) -> usize {
        self.analysis.matrix.rows.len()
    }
}

/// The ensemble's evaluation against the labels (`None` without malicious and other
/// rows); each detector's follows ([`Results::evaluate_detectors`]).
fn evaluate(log: &Log, model: &Model, a: &Analysis) -> Option<Evaluation> {
    let truth = eval::truth(&log.frame, &model.label_column, &a.matrix.rows);
    let positives = truth.iter().filter(|t| **t == Some(true)).count();
    let negatives = truth.iter().filter(|t| **t == Some(false)).count();
    if positives == 0 || negatives == 0 {
        return None;
    }
    Some(Evaluation {
        positives,
        negatives,
        ensemble: eval_row("ensemble", &a.verdicts.combined, &truth),
        detectors: OnceLock::new(),
    })
}

/// ROC-AUC and precision at k of one scorer.
fn eval_row(name: &str, scores: &[f64], truth: &[Option<bool>]) -> EvalRow {
    let (auc, precision) = eval::auc_and_precision(scores, truth);
    EvalRow {
        name: name.to_string(),
        auc,
        precision,
    }
}

/// sign(x)·log10(1 + |x|): a log scale that keeps 0 and negatives.
pub fn log_scale(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p() / std::f64::consts::LN_10
}

fn curve(sorted: &[f64]) -> Vec<(f64, f64)> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let n = CURVE.min(sorted.len());
    (0..n)
        .map(|k| {
            let q = if n == 1 {
                0.0
            } else {
                k as f64 / (n - 1) as f64
            };
            (q, crate::features::quantile_sorted(sorted, q))
        })
        .collect()
}

fn distribution(name: &str, raw: &Raw, flagged: &[bool]) -> Dist {
    match raw {
        Raw::Num(v) => {
            let mut hist =
                crate::cluster::stats::distribution(name, v.values().into_owned(), flagged, BINS);
            let curve = curve(&hist.sorted);
            // The curve is what is drawn of the sorted values: kept whole, they would hold
            // 8 bytes per row for each numeric feature as long as the results are shown.
            hist.sorted = Vec::new();
            let n_anomalous = flagged.iter().filter(|&&f| f).count();
            Dist::Num {
                curve,
                hist: Box::new(hist),
                n_normal: flagged.len() - n_anomalous,
                n_anomalous,
            }
        }
        Raw::Cat { codes, vocab, .. } => {
            let mut counts = vec![(0usize, 0usize); vocab.len()];
            for (&c, &f) in codes.iter().zip(flagged) {
                if let Some(e) = counts.get_mut(c as usize) {
                    if f {
                        e.1 += 1
                    } else {
                        e.0 += 1
                    }
                }
            }
            let n_anomalous = counts.iter().map(|c| c.1).sum();
            let n_normal = counts.iter().map(|c| c.0).sum();
            let mut top: Vec<(String, usize, usize)> = vocab
                .iter()
                .zip(counts)
                .map(|(v, (n, a))| (clean(v), n, a))
                .collect();
            top.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
            top.truncate(12);
            Dist::Cat {
                top,
                n_normal,
                n_anomalous,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo log and its analysis with the default model.
    fn demo_analysis() -> (Log, Analysis) {
        let log = crate::demo::load().unwrap();
        let a = crate::pipeline::analyze(
            &log,
            &Model::default(),
            &Cancel::new(),
            &|_: crate::pipeline::Progress| {},
        )
        .unwrap();
        (log, a)
    }

    /// A list of every flagged row of a 10M-row log holds one entry per row: 32 bytes.
    /// Rows ranked by keyed pairs are in the order of the ranking by score (ties by row),
    /// for every row, the flagged ones and the others; the key orders as `total_cmp`.
    #[test]
    fn rows_ranked_by_key_are_in_the_rankings_order() {
        let (_, a) = demo_analysis();
        let c = &a.verdicts.combined;
        let ranking: Vec<u32> = a.ranking().into_iter().map(|i| i as u32).collect();
        let ties = ranking
            .windows(2)
            .filter(|w| c[w[0] as usize] == c[w[1] as usize]);
        assert!(ties.count() > 0, "the demo log has tied scores");
        assert_eq!(a.ranked(|_| true), ranking);
        let f = &a.verdicts.flagged;
        for flagged in [true, false] {
            let want: Vec<u32> = ranking
                .iter()
                .copied()
                .filter(|&i| f[i as usize] == flagged)
                .collect();
            assert_eq!(a.ranked(|i| f[i] == flagged), want);
        }
        let mut values = vec![
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE / 2.0,
            -0.0,
            0.0,
            f64::MIN_POSITIVE / 2.0,
            1.0,
            1e300,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        values.sort_by(f64::total_cmp);
        for w in values.windows(2) {
            assert!(crate::pipeline::total_key(w[0]) < crate::pipeline::total_key(w[1]));
        }
    }

    #[test]
    fn a_flagged_row_takes_32_bytes() {
        assert!(std::mem::size_of::<Flagged>() <= 32);
    }

    /// The demo's rows over time: every analysed row and every flagged row counted once,
    /// in at most 16 round buckets that cover the first and last time.
    #[test]
    fn timeline_counts_every_row_once() {
        let (log, a) = demo_analysis();
        let t = Timeline::of(&log.frame, &a, 16).unwrap();
        assert!(t.rows.len() <= 16 && t.rows.len() >= 2, "{t:?}");
        assert_eq!(t.rows.iter().sum::<usize>(), a.matrix.rows.len());
        assert_eq!(t.flagged.iter().sum::<usize>(), a.verdicts.n_flagged());
        assert!(TIMELINE_STEPS.iter().any(|s| s * 1_000_000 == t.step));
        assert_eq!(t.start % t.step, 0);
        // A smaller step would need more than 16 buckets.
        let smaller = TIMELINE_STEPS
            .iter()
            .map(|s| s * 1_000_000)
            .filter(|&s| s < t.step)
            .max();
        if let Some(s) = smaller {
            let span = t.start + t.step * t.rows.len() as i64;
            assert!((span - t.start) / s >= 16 || t.rows.len() * (t.step / s) as usize > 16);
        }
    }

    /// A page's text read cell by cell is the text read from whole columns, for every
    /// flagged row of the demo log (rows with and without a service among them).
    #[test]
    fn lazy_text_is_the_whole_columns_text() {
        let (log, analysis) = demo_analysis();
        let flagged = flagged_rows(&analysis);
        assert!(flagged.len() > 100, "{}", flagged.len());
        let (lazy, whole) = (Cells::lazy(&log.frame), Cells::whole(&log.frame));
        for f in &flagged {
            let t = whole.text(&analysis, f);
            assert_eq!(lazy.text(&analysis, f), t);
            assert!(t.ts.starts_with("20") && !t.uid.is_empty() && t.orig_ip.is_some());
            assert!(!t.detectors.is_empty());
        }
    }
}
