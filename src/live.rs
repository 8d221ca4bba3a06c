//! Scoring rows as they arrive, with a model fitted once on the rows before them.
//!
//! [`Live::fit`] runs the whole analysis on the rows so far and keeps what it fitted: the
//! features' encodings, centres and scales ([`Transform`]), each detector with its sorted
//! training scores, and the thresholds. [`Live::score`] then scores a batch of new rows
//! exactly as the analysis scores rows it was not fitted on: the same columns, the same
//! detectors, ranks among the same training scores, the same verdict rule. Nothing is
//! refitted per row. (One exception: under `--scaling max` the analysis divides by the
//! largest value among all its rows, new rows by the largest the fit saw.)
//!
//! A window of time ends at "now", the newest time among the newest rows that lies
//! within a window of their median (so a stray time far ahead cannot move it); rows
//! older than the window, or further ahead than its length, leave it once scored. Rows
//! without times keep a window of [`UNTIMED_ROWS`] rows.
//!
//! What depends on other rows — the context features (a source's connections, distinct
//! ports...) and the failure evidence of a row's hosts — is worked out over the retained
//! window, which ends with the new rows: a scan shows as it grows. That costs time in the
//! window's rows per batch (about 0.4 s per million rows on two cores), so batches grow
//! when rows arrive faster than that.

use polars::prelude::*;

use crate::cancel::Cancel;
use crate::detect::ensemble::Fitted;
use crate::features::{Encoding, Transform};
use crate::hosts::context::Context;
use crate::hosts::evidence::Evidence;
use crate::hosts::Behaviours;
use crate::ingest::{self, Log};
use crate::pipeline::{self, Analysis, Model, PipelineError};
use crate::reasons::Explainer;

/// How much of the past is kept (for the context features and the hosts' evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The newest rows, at most this many.
    Rows(usize),
    /// The rows at most this many microseconds older than the newest.
    Micros(i64),
}

impl Window {
    /// Parses `100000` (rows) or a duration: `90s`, `30m`, `24h`, `7d`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad =
            || format!("not a window: {s:?} (rows, e.g. 100000, or a duration: 30m, 24h, 7d)");
        if let Ok(n) = s.parse::<usize>() {
            return if n > 0 {
                Ok(Window::Rows(n))
            } else {
                Err(bad())
            };
        }
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        match n.checked_mul(secs * 1_000_000) {
            Some(us) if us > 0 => Ok(Window::Micros(us)),
            _ => Err(bad()),
        }
    }
}

/// How a log is followed (`zsift -f LOG`, `zsift score --follow LOG`).
#[derive(Debug, Clone, Copy)]
pub struct FollowSettings {
    /// Rows to read before fitting.
    pub warmup: usize,
    /// What is kept.
    pub window: Window,
    /// Fit again on the window this often.
    pub refit: Option<std::time::Duration>,
}

/// One new row, scored.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Its row in [`Live::frame`].
    pub row: usize,
    /// Combined score (with its hosts' evidence when the model counts it).
    pub score: f64,
    /// Detectors flagging it.
    pub votes: u8,
    /// The verdict.
    pub flagged: bool,
    /// The detectors (and `hosts`) that flag it.
    pub detectors: Vec<&'static str>,
    /// Why, for a flagged row (empty otherwise).
    pub reasons: Vec<String>,
}

/// Scores every row of `log` with a saved model, as [`Live::score`] scores rows that
/// arrive (the context features and the hosts' evidence worked out over `log`), and
/// gives the model with the rows as an analysis, as [`pipeline::analyze`] does.
pub fn analyze_saved(
    saved: crate::modelfile::Loaded,
    log: &Log,
    cancel: &Cancel,
) -> Result<(Model, Analysis), PipelineError> {
    let mut live = Live::from_loaded(saved, Window::Rows(usize::MAX));
    live.score_batch(log, cancel, false)?;
    live.into_analysis(cancel)
}

/// [`analyze_saved`] for the verdicts and reasons only (`zsift score --model`), as
/// [`pipeline::analyze_lean`] analyses: the same verdicts, votes, detectors and reasons,
/// but the matrix's scaled rows are made when read, a block at a time, and no detector's
/// scores are kept.
pub fn analyze_saved_lean(
    saved: crate::modelfile::Loaded,
    log: &Log,
    cancel: &Cancel,
) -> Result<(Model, Analysis), PipelineError> {
    let live = Live::from_loaded(saved, Window::Rows(usize::MAX));
    let frame = &log.frame;
    let selection = live.model.filter.select(frame);
    if selection.is_empty() {
        return Err(live.no_rows());
    }
    let context = Context::build(frame, &selection);
    cancel.check().map_err(crate::detect::DetectError::from)?;
    let matrix = live.transform.matrix_lean(frame, &selection, &context)?;
    let Some(verdicts) = live
        .fitted
        .score_lean(&matrix, live.transform.n_train(), cancel)
    else {
        // More detectors than a lean run's flags hold: scored as the window is.
        let mut live = live;
        live.score_batch(log, cancel, false)?;
        return live.into_analysis(cancel);
    };
    let mut verdicts = verdicts?;
    let (behaviours, evidence) = (Behaviours::of(&context), Evidence::of(&context));
    if live.model.hosts {
        verdicts.add_evidence(&evidence.nats, &matrix.keep);
    }
    let hosts = live.model.hosts;
    let analysis = Analysis::from_parts(
        selection,
        matrix,
        verdicts,
        live.explainer,
        context,
        behaviours,
        evidence,
        hosts,
    );
    Ok((live.model, analysis))
}

/// A fitted model and the window of rows it scores new rows against.
pub struct Live {
    model: Model,
    fitted: Fitted,
    transform: Transform,
    explainer: Explainer,
    /// The retained rows, oldest first; new rows are appended.
    frame: DataFrame,
    window: Window,
    /// Whether the features read the context (columns the log does not have).
    context_features: bool,
    /// Rows scored since the fit.
    scored: u64,
    /// Rows appended to the window since the fit (scored or not).
    appended: u64,
    /// Per window row, the detectors' part of its verdict (what [`Live::analysis`] needs
    /// to show the window without scoring it again).
    verdicts: RowVerdicts,
}

/// The detectors' verdicts on each window row, as scored when it arrived (or by the fit).
#[derive(Default)]
struct RowVerdicts {
    /// Mean rank over the detectors (NaN: not scored, the filter left it out).
    mean: Vec<f64>,
    /// Detectors flagging it.
    votes: Vec<u8>,
    /// Per fitted detector, its score.
    scores: Vec<Vec<f64>>,
}

impl RowVerdicts {
    /// `n` unscored rows at the end.
    fn grow(&mut self, n: usize) {
        let h = self.mean.len() + n;
        self.mean.resize(h, f64::NAN);
        self.votes.resize(h, 0);
        for s in &mut self.scores {
            s.resize(h, f64::NAN);
        }
    }

    /// Keeps the rows marked in `keep`.
    fn retain(&mut self, keep: &[bool]) {
        fn filter<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| *k.next().unwrap_or(&true));
        }
        filter(&mut self.mean, keep);
        filter(&mut self.votes, keep);
        for s in &mut self.scores {
            filter(s, keep);
        }
    }

    /// Drops the first `n` rows.
    fn drop_front(&mut self, n: usize) {
        self.mean.drain(..n);
        self.votes.drain(..n);
        for s in &mut self.scores {
            s.drain(..n);
        }
    }
}

/// Reasons given per flagged row.
const REASONS: usize = 3;

/// Rows a window of time keeps when the rows have no times (about 0.5 GB).
const UNTIMED_ROWS: usize = 1_000_000;

/// The newest rows whose median time is "now" for a window of time: enough that a few
/// stray times cannot move it.
const NOW_ROWS: usize = 1000;

impl Live {
    /// Analyses `log` and keeps the fitted model, to score rows that arrive later.
    pub fn fit(
        log: &Log,
        model: &Model,
        window: Window,
        cancel: &Cancel,
    ) -> Result<(Analysis, Live), PipelineError> {
        Self::fit_reporting(log, model, window, cancel, &|_| {})
    }

    /// [`Live::fit`], reporting the analysis's progress.
    pub fn fit_reporting(
        log: &Log,
        model: &Model,
        window: Window,
        cancel: &Cancel,
        progress: &(dyn Fn(pipeline::Progress) + Sync),
    ) -> Result<(Analysis, Live), PipelineError> {
        let (a, fitted) = pipeline::analyze_keeping(log, model, cancel, progress, true)?;
        let fitted = fitted.expect("kept when asked");
        let transform = a.matrix.transform.clone();
        let context_features = transform.features().iter().any(|f| {
            f.encoding == Encoding::Numeric
                && log.frame.column(&f.column).is_err()
                && crate::hosts::context::is_feature(&f.column)
        });
        let explainer = a.explainer().clone();
        // The fit's verdicts, per frame row: the detectors that fitted are the runs
        // without an error, in order.
        let h = log.frame.height();
        let mut verdicts = RowVerdicts {
            mean: vec![f64::NAN; h],
            votes: vec![0; h],
            scores: vec![vec![f64::NAN; h]; fitted.detectors.len()],
        };
        let ok: Vec<_> = a.verdicts.runs.iter().filter(|r| r.ok()).collect();
        for (i, &r) in a.matrix.rows.iter().enumerate() {
            let r = r as usize;
            verdicts.mean[r] = ok
                .iter()
                .zip(&fitted.detectors)
                .map(|(run, det)| det.rank(run.scores[i]))
                .sum::<f64>()
                / ok.len().max(1) as f64;
            verdicts.votes[r] = a.verdicts.votes[i];
            for (k, run) in ok.iter().enumerate() {
                verdicts.scores[k][r] = run.scores[i];
            }
        }
        let mut live = Live {
            model: model.clone(),
            fitted,
            transform,
            explainer,
            frame: log.frame.clone(),
            window,
            context_features,
            scored: 0,
            appended: 0,
            verdicts,
        };
        live.trim(0);
        Ok((a, live))
    }

    /// A model read from a file, with an empty window.
    pub fn from_loaded(m: crate::modelfile::Loaded, window: Window) -> Live {
        // No log to tell a context feature from a column of the same name: the context is
        // made whenever a feature is named as one (a column the log has still wins).
        let context_features = m.transform.features().iter().any(|f| {
            f.encoding == Encoding::Numeric && crate::hosts::context::is_feature(&f.column)
        });
        let verdicts = RowVerdicts {
            scores: vec![Vec::new(); m.fitted.detectors.len()],
            ..Default::default()
        };
        Live {
            model: m.model,
            fitted: m.fitted,
            transform: m.transform,
            explainer: m.explainer,
            frame: DataFrame::empty(),
            window,
            context_features,
            scored: 0,
            appended: 0,
            verdicts,
        }
    }

    /// The model as a model file holds it.
    pub fn saved(&self, info: crate::modelfile::FitInfo) -> crate::modelfile::Body {
        crate::modelfile::Body {
            info,
            model: self.model.clone(),
            transform: self.transform.clone(),
            explainer: self.explainer.clone(),
            ensemble: self.fitted.save(),
        }
    }

    /// The model as [`crate::modelfile::read`] gives it, without a file: what scoring a log
    /// with the model fitted in this process reads.
    pub fn into_loaded(self, info: crate::modelfile::FitInfo) -> crate::modelfile::Loaded {
        crate::modelfile::Loaded {
            info,
            model: self.model,
            transform: self.transform,
            explainer: self.explainer,
            fitted: self.fitted,
        }
    }

    /// The filter, features and ensemble options of the model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The retained rows (the new ones last).
    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    /// Rows scored since the fit.
    pub fn scored(&self) -> u64 {
        self.scored
    }

    /// Rows appended to the window since the fit.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// The window as a log, for fitting a new model on it.
    pub fn window_log(&self) -> Log {
        Log {
            frame: self.frame.clone(),
            files: Vec::new(),
            skipped: Default::default(),
        }
    }

    /// Takes over from `old`, a model fitted before this one was: the rows `old` was given
    /// while this one was being fitted join this one's window (unscored: `old` scored
    /// them), so the context the next rows are judged in misses none.
    pub fn take_over(&mut self, old: &Live, appended_at_fit: u64) {
        let since = usize::try_from(old.appended.saturating_sub(appended_at_fit)).unwrap_or(0);
        let h = old.frame.height();
        let since = since.min(h);
        if since > 0 {
            let rows = Log {
                frame: old.frame.slice((h - since) as i64, since),
                files: Vec::new(),
                skipped: Default::default(),
            };
            // Scored by this model, so that its view of the window is its own.
            let _ = self.score(&rows, &Cancel::new());
            self.scored = 0;
        }
    }

    /// The window as an analysis, for the views: every row with the verdict this model
    /// gave it (nothing is scored again), the features, the context, behaviours and the
    /// hosts' evidence worked out over the window as it is now.
    pub fn analysis(&self, cancel: &Cancel) -> Result<Analysis, PipelineError> {
        let v = &self.verdicts;
        let copy = |d: usize, rows: &[u32]| rows.iter().map(|&r| v.scores[d][r as usize]).collect();
        self.analysis_with(v, copy, cancel)
    }

    /// [`Live::analysis`] when the window is not needed after: its scores are moved into
    /// the analysis, not copied. Gives the model with it.
    pub fn into_analysis(mut self, cancel: &Cancel) -> Result<(Model, Analysis), PipelineError> {
        let mut v = std::mem::take(&mut self.verdicts);
        let mut scores = std::mem::take(&mut v.scores);
        let take = |d: usize, rows: &[u32]| {
            let s = std::mem::take(&mut scores[d]);
            let every =
                rows.len() == s.len() && rows.iter().enumerate().all(|(i, &r)| i == r as usize);
            if every {
                s
            } else {
                rows.iter().map(|&r| s[r as usize]).collect()
            }
        };
        let a = self.analysis_with(&v, take, cancel)?;
        Ok((self.model, a))
    }

    /// The analysis of the window from its rows' verdicts `v`, `scores(d, rows)` giving
    /// detector `d`'s scores of the window rows `rows`.
    fn analysis_with(
        &self,
        v: &RowVerdicts,
        mut scores: impl FnMut(usize, &[u32]) -> Vec<f64>,
        cancel: &Cancel,
    ) -> Result<Analysis, PipelineError> {
        use crate::detect::ensemble::{DetectorRun, Verdicts};
        let frame = &self.frame;
        let selection = self.model.filter.select(frame);
        if selection.is_empty() {
            return Err(self.no_rows());
        }
        let context = Context::build(frame, &selection);
        cancel.check().map_err(crate::detect::DetectError::from)?;
        let crate::features::NewRows { x, keep, raw } =
            self.transform
                .apply(frame, &selection, Some((&context, 0)))?;
        let rows: Vec<u32> = keep.iter().map(|&k| selection[k]).collect();
        let at = |r: &u32| *r as usize;
        let runs: Vec<DetectorRun> = self
            .fitted
            .detectors
            .iter()
            .enumerate()
            .map(|(d, det)| {
                let scores = scores(d, &rows);
                DetectorRun {
                    kind: det.kind,
                    scores,
                    threshold: det.threshold,
                    fit_s: 0.0,
                    score_s: 0.0,
                    error: None,
                }
            })
            .collect();
        let combined: Vec<f64> = rows
            .iter()
            .map(|r| v.mean[at(r)])
            .map(|m| if m.is_finite() { m } else { 0.0 })
            .collect();
        let votes: Vec<u8> = rows.iter().map(|r| v.votes[at(r)]).collect();
        let n = rows.len();
        let mut verdicts = Verdicts::of(
            runs,
            combined,
            self.fitted.combined_threshold,
            votes,
            self.fitted.combine,
            (self.transform.n_train(), None),
            Vec::new(),
        );
        let (behaviours, evidence) = (Behaviours::of(&context), Evidence::of(&context));
        if self.model.hosts {
            verdicts.add_evidence(&evidence.nats, &keep);
        }
        let matrix = crate::features::Matrix {
            x,
            rows,
            keep,
            train: vec![false; n],
            features: self.transform.features().to_vec(),
            raw,
            dropped: selection.len() - n,
            n_train: self.transform.n_train(),
            transform: self.transform.clone(),
        };
        Ok(Analysis::from_parts(
            selection,
            matrix,
            verdicts,
            self.explainer.clone(),
            context,
            behaviours,
            evidence,
            self.model.hosts,
        ))
    }

    /// The error of a window with no row the model's filter keeps.
    fn no_rows(&self) -> PipelineError {
        crate::features::FeatureError::NoRows(format!(
            " ({} matches no row of the window)",
            self.model.filter.describe()
        ))
        .into()
    }

    /// Scores the rows of `batch` (in order) and keeps them in the window. Rows the
    /// model's filter leaves out are kept but not scored.
    pub fn score(&mut self, batch: &Log, cancel: &Cancel) -> Result<Vec<Scored>, PipelineError> {
        self.score_batch(batch, cancel, true)
    }

    /// [`Live::score`]; without `explain`, the verdicts are only kept (for
    /// [`Live::analysis`]), and nothing is returned.
    fn score_batch(
        &mut self,
        batch: &Log,
        cancel: &Cancel,
        explain: bool,
    ) -> Result<Vec<Scored>, PipelineError> {
        let added = batch.frame.height();
        if added == 0 {
            return Ok(Vec::new());
        }
        self.frame = ingest::concat(&self.frame, &batch.frame).map_err(|e| {
            PipelineError::Stage(format!("the new rows do not fit the window: {e}"))
        })?;
        self.verdicts.grow(added);
        self.appended += added as u64;
        self.trim(added);
        let height = self.frame.height();
        let start = height - added.min(height);
        let selection = self.model.filter.select(&self.frame);
        let first = selection.partition_point(|&r| (r as usize) < start);
        let batch_sel: Vec<u32> = selection[first..]
            .iter()
            .map(|&r| r - start as u32)
            .collect();
        if batch_sel.is_empty() {
            return Ok(Vec::new());
        }
        let context = (self.context_features || (explain && self.model.hosts))
            .then(|| Context::build(&self.frame, &selection));
        let rows = self.frame.slice(start as i64, height - start);
        let crate::features::NewRows { x, keep, raw } =
            self.transform
                .apply(&rows, &batch_sel, context.as_ref().map(|c| (c, first)))?;
        cancel.check().map_err(crate::detect::DetectError::from)?;
        let mut v = self.fitted.score(x.view(), cancel)?;
        for (i, &k) in keep.iter().enumerate() {
            let r = start + batch_sel[k] as usize;
            self.verdicts.mean[r] = v.combined[i];
            self.verdicts.votes[r] = v.votes[i];
            for (d, s) in v.scores.iter().enumerate() {
                self.verdicts.scores[d][r] = s[i];
            }
        }
        if !explain {
            self.scored += keep.len() as u64;
            return Ok(Vec::new());
        }
        let evidence = match &context {
            Some(c) if self.model.hosts => Some(Evidence::of(c)),
            _ => None,
        };
        let mut out = Vec::with_capacity(keep.len());
        for (i, &k) in keep.iter().enumerate() {
            let mut reasons = Vec::new();
            if let (Some(ev), Some(c)) = (&evidence, &context) {
                let e = ev.nats[first + k];
                if e > 0.0 {
                    v.combined[i] += e;
                    v.flagged[i] = true;
                    v.by[i].push("hosts");
                    if let Some(text) = ev.reason(c, first + k) {
                        reasons.push(text);
                    }
                }
            }
            if v.flagged[i] {
                let rest = REASONS.saturating_sub(reasons.len());
                reasons.extend(
                    self.explainer
                        .explain_raw(self.transform.features(), &raw, i, rest)
                        .into_iter()
                        .map(|r| r.text),
                );
            }
            out.push(Scored {
                row: start + batch_sel[k] as usize,
                score: v.combined[i],
                votes: v.votes[i],
                flagged: v.flagged[i],
                detectors: std::mem::take(&mut v.by[i]),
                reasons,
            });
        }
        self.scored += out.len() as u64;
        Ok(out)
    }

    /// Drops the rows that fell out of the window, never the newest `protect` (a batch
    /// not scored yet, however large).
    fn trim(&mut self, protect: usize) {
        let h = self.frame.height();
        let protect = protect.min(h);
        let span = match self.window {
            Window::Rows(n) => {
                self.drop_front(h.saturating_sub(n.max(protect)));
                return self.compact();
            }
            Window::Micros(span) => span,
        };
        let Some(ts) = crate::summary::ts_micros(&self.frame) else {
            // Rows without times: a window of rows instead.
            self.drop_front(h.saturating_sub(UNTIMED_ROWS.max(protect)));
            return self.compact();
        };
        // "Now" is the newest time among the newest rows that is within a window of
        // their median: a stray time far ahead (a `ts` in milliseconds, a sensor with a
        // wrong clock) can neither empty the window nor stop it from moving.
        let recent = protect.max(NOW_ROWS).min(h);
        let mut times: Vec<i64> = ts[h - recent..].iter().flatten().copied().collect();
        if times.is_empty() {
            // The newest rows have no times: a window of rows instead.
            self.drop_front(h.saturating_sub(UNTIMED_ROWS.max(protect)));
            return self.compact();
        }
        let mid = times.len() / 2;
        let median = *times.select_nth_unstable(mid).1;
        let now = times
            .iter()
            .copied()
            .filter(|&t| t <= median.saturating_add(span))
            .max()
            .unwrap_or(median);
        let (cutoff, ahead) = (now.saturating_sub(span), now.saturating_add(span));
        // Older rows go wherever they are (rows arrive about in time order, not exactly),
        // and so do rows without a time, or with one further ahead than the window is
        // long, once they are not new.
        let keep: Vec<bool> = (0..h)
            .map(|i| i >= h - protect || ts[i].is_some_and(|t| t >= cutoff && t <= ahead))
            .collect();
        // Usually the rows that go are the oldest, at the front: cut off without a copy.
        let front = keep.iter().take_while(|&&k| !k).count();
        if keep[front..].iter().all(|&k| k) {
            self.drop_front(front);
            return self.compact();
        }
        let mask: BooleanChunked = keep.iter().copied().collect();
        if let Ok(f) = self.frame.filter(&mask) {
            self.frame = f;
            self.verdicts.retain(&keep);
        }
        self.compact();
    }

    /// Drops the first `n` rows of the window.
    fn drop_front(&mut self, n: usize) {
        if n > 0 {
            let h = self.frame.height();
            self.frame = self.frame.slice(n as i64, h - n);
            self.verdicts.drop_front(n);
        }
    }

    /// Keeps the frame in few chunks.
    fn compact(&mut self) {
        // Appends add chunks; a frame of many small chunks is slow to read.
        if self.frame.first_col_n_chunks() > 64 {
            self.frame.rechunk_mut();
        }
    }
}
