//! Running several detectors and combining them into one verdict per row.
//!
//! Each detector is fitted on the training rows; its threshold is the (1 − contamination)
//! quantile of its training scores (PyOD's `threshold_`), and it flags the rows scoring
//! above it. Scores of different detectors live on unrelated scales, so they are combined
//! through ranks: each score becomes the fraction of training scores below it (ties count
//! half), and the combined score is the mean of these over the detectors. Three verdict
//! rules: `Any` (flag if any detector flags: the seed notebook's union), `Votes(m)` (at
//! least m detectors), and `Mean` (the combined score above its own (1 − contamination)
//! quantile over the training rows).
//!
//! Above [`EnsembleOptions::fit_limit`] training rows, the detectors are fitted on a
//! seeded uniform sample of that many training rows and score every row: the neighbour
//! methods' fits grow faster than linearly with the rows and hold per-row neighbourhoods,
//! while a few hundred thousand rows already pin down the densities and quantiles that a
//! 2% threshold needs. Isolation Forest samples 256 rows per tree anyway.

use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::copod::Copod;
use super::ecod::Ecod;
use super::knn::Knn;
use super::knn_lof::KnnLof;
use super::lof::Lof;
use super::{DetectError, Detector, DetectorKind};
use crate::cancel::Cancel;
use crate::features::quantile_sorted;
use crate::neighbors::{distinct_among, select_rows};

/// How detector flags become a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Combine {
    /// Flag a row if any detector flags it (the seed notebook's rule).
    Any,
    /// Flag a row if at least this many detectors flag it.
    Votes(usize),
    /// Flag a row if the combined (mean rank) score is above its threshold.
    Mean,
}

impl Combine {
    /// Parses `any`, `votes:M` or `mean`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "any" => Ok(Combine::Any),
            "mean" => Ok(Combine::Mean),
            _ => s
                .strip_prefix("votes:")
                .and_then(|m| m.parse().ok())
                .filter(|&m| m >= 1)
                .map(Combine::Votes)
                .ok_or_else(|| format!("bad combine rule {s:?} (any, votes:M with M >= 1, mean)")),
        }
    }
}

impl std::fmt::Display for Combine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Combine::Any => f.write_str("any"),
            Combine::Votes(m) => write!(f, "votes:{m}"),
            Combine::Mean => f.write_str("mean"),
        }
    }
}

/// The ensemble's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnsembleOptions {
    /// Detectors to run.
    pub detectors: Vec<DetectorKind>,
    /// Expected share of anomalies in the training rows, in (0, 0.5].
    pub contamination: f64,
    /// Verdict rule.
    pub combine: Combine,
    /// Seed for the randomised detectors (and the fit sample).
    pub seed: u64,
    /// Fit on a sample of at most this many training rows (`None`: on all of them).
    pub fit_limit: Option<usize>,
}

/// Rows scored per call of a fitted detector (bounds the copies made for scoring).
const SCORE_BLOCK: usize = 1 << 16;

pub use crate::rows::Rows;

/// Rows a lean run ([`run_lean`]) makes and scores at a time ([`crate::rows::BLOCK`]: its
/// largest copies, LOF's 20 neighbours a row held twice while put back in order, are 240
/// bytes a row).
const LEAN_BLOCK: usize = crate::rows::BLOCK;

/// The default [`EnsembleOptions::fit_limit`].
pub const FIT_LIMIT: usize = 250_000;

impl Default for EnsembleOptions {
    fn default() -> Self {
        Self {
            detectors: DetectorKind::ALL.to_vec(),
            contamination: 0.02,
            combine: Combine::Mean,
            seed: 42,
            fit_limit: Some(FIT_LIMIT),
        }
    }
}

/// One detector's outcome.
#[derive(Debug, Clone)]
pub struct DetectorRun {
    /// Which detector.
    pub kind: DetectorKind,
    /// Score per matrix row (higher = more anomalous); empty if it failed, or when a
    /// lean run scored it ([`run_lean`]: its flags are in [`Verdicts::flags`]).
    pub scores: Vec<f64>,
    /// Its threshold: it flags the rows scoring above it.
    pub threshold: f64,
    /// Seconds to fit (KNN and LOF, which share their searches, each report the time of
    /// both).
    pub fit_s: f64,
    /// Seconds to score the rows it was not fitted on (0 when it trained on all; shared
    /// as `fit_s`).
    pub score_s: f64,
    /// Why it failed, if it did (it then takes no part in the verdict).
    pub error: Option<String>,
}

impl DetectorRun {
    /// Whether it produced scores.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Whether it flags row `i` (its score is above the threshold).
    pub fn flags(&self, i: usize) -> bool {
        self.scores.get(i).is_some_and(|&s| s > self.threshold)
    }

    /// Number of rows it flags.
    pub fn n_flagged(&self) -> usize {
        self.scores.iter().filter(|&&s| s > self.threshold).count()
    }
}

/// Verdicts for every matrix row.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Per detector, in the order asked.
    pub runs: Vec<DetectorRun>,
    /// Combined score per row (mean rank over the detectors that ran).
    pub combined: Vec<f64>,
    /// Threshold of the combined score.
    pub combined_threshold: f64,
    /// Number of detectors flagging each row.
    pub votes: Vec<u8>,
    /// The verdict per row.
    pub flagged: Vec<bool>,
    /// The rule used.
    pub combine: Combine,
    /// Rows the detectors were fitted on.
    pub fit_rows: usize,
    /// `Some(n)` when the fit used a sample of the n training rows.
    pub fit_sampled_from: Option<usize>,
    /// Rows flagged for their hosts' behaviour (see [`Verdicts::add_evidence`]).
    pub by_behaviour: Vec<bool>,
    /// After a lean run ([`run_lean`]), which keeps no run's scores: per row, bit `k` set
    /// when `runs[k]` flags it. Empty otherwise (each run's scores say it).
    pub flags: Vec<u16>,
}

impl Verdicts {
    /// Names of the detectors flagging row `i` (and `hosts` when its hosts' behaviour
    /// does).
    pub fn flagged_by(&self, i: usize) -> Vec<&'static str> {
        let mut by: Vec<&'static str> = self
            .runs
            .iter()
            .enumerate()
            .filter(|&(k, r)| r.ok() && self.run_flags(k, i))
            .map(|(_, r)| r.kind.name())
            .collect();
        if self.by_behaviour.get(i).copied().unwrap_or(false) {
            by.push("hosts");
        }
        by
    }

    /// The verdicts of `runs` from each row's combined score and votes: a row is flagged
    /// by `combine` (the mean rule above `combined_threshold`), none yet for its hosts'
    /// behaviour. `fit` gives the rows the detectors were fitted on and, when a sample,
    /// the number it was drawn from; `flags` is as [`Verdicts::flags`].
    pub(crate) fn of(
        runs: Vec<DetectorRun>,
        combined: Vec<f64>,
        combined_threshold: f64,
        votes: Vec<u8>,
        combine: Combine,
        (fit_rows, fit_sampled_from): (usize, Option<usize>),
        flags: Vec<u16>,
    ) -> Self {
        let n = combined.len();
        let flagged = verdicts_of(combine, &combined, combined_threshold, &votes);
        Self {
            runs,
            combined,
            combined_threshold,
            votes,
            flagged,
            combine,
            fit_rows,
            fit_sampled_from,
            by_behaviour: vec![false; n],
            flags,
        }
    }

    /// Whether `runs[k]` flags row `i`.
    pub fn run_flags(&self, k: usize, i: usize) -> bool {
        match self.flags.get(i) {
            Some(bits) => bits >> k & 1 == 1,
            None => self.runs[k].flags(i),
        }
    }

    /// Number of rows `runs[k]` flags.
    pub fn run_flagged(&self, k: usize) -> usize {
        if self.flags.is_empty() {
            self.runs[k].n_flagged()
        } else {
            self.flags.iter().filter(|&&b| b >> k & 1 == 1).count()
        }
    }

    /// Adds evidence from outside the detectors (the behaviour of a row's hosts, on a scale
    /// where 1 outweighs any difference of mean rank) to the combined score, and flags the
    /// rows it marks (above 0) whatever the rule: row `i`'s evidence is `nats[at[i]]`. The
    /// threshold stays the detectors': a row above it is still above it.
    pub fn add_evidence(&mut self, nats: &[f64], at: &[usize]) {
        self.by_behaviour = at.iter().map(|&k| nats[k] > 0.0).collect();
        let rows = self.combined.iter_mut().zip(&mut self.flagged);
        for ((c, f), (&k, &b)) in rows.zip(at.iter().zip(&self.by_behaviour)) {
            let e = nats[k];
            if e.is_finite() && e > 0.0 {
                *c += e;
            }
            *f |= b;
        }
    }

    /// Number of rows flagged.
    pub fn n_flagged(&self) -> usize {
        self.flagged.iter().filter(|&&f| f).count()
    }
}

/// Fraction of `sorted` below `v`, ties counting half.
#[cfg(test)]
fn rank_in(sorted: &[f64], v: f64) -> f64 {
    Ranker::new(sorted).rank(v)
}

/// Every this many sorted training scores, one goes into a [`Ranker`]'s index.
const RANK_STRIDE: usize = 64;

/// Ranks values among sorted training scores. A search first looks in a small index of
/// every [`RANK_STRIDE`]-th score, which stays in cache, then within one stretch of the
/// scores: one cache miss or two per row instead of one per halving of the whole array
/// (the ranks are computed for every row by every detector).
struct Ranker<'a> {
    sorted: &'a [f64],
    index: Vec<f64>,
}

impl<'a> Ranker<'a> {
    fn new(sorted: &'a [f64]) -> Self {
        Self {
            sorted,
            index: sorted.iter().step_by(RANK_STRIDE).copied().collect(),
        }
    }

    /// `sorted.partition_point(pred)` for a predicate true on a prefix.
    fn partition_point(&self, pred: impl Fn(f64) -> bool) -> usize {
        let a = self.index.partition_point(|&s| pred(s));
        if a == 0 {
            return 0;
        }
        // sorted[(a - 1) * S] satisfies it; sorted[a * S], if there, does not.
        let start = (a - 1) * RANK_STRIDE + 1;
        let end = (a * RANK_STRIDE).min(self.sorted.len());
        start + self.sorted[start..end].partition_point(|&s| pred(s))
    }

    /// [`Ranker::rank`] without the index (one ranking: a binary search is as good).
    fn rank_plain(&self, v: f64) -> f64 {
        let lo = self.sorted.partition_point(|&s| s < v);
        let hi = self.sorted.partition_point(|&s| s <= v);
        (lo as f64 + (hi - lo) as f64 / 2.0) / self.sorted.len() as f64
    }

    /// Fraction of the scores below `v`, ties counting half.
    fn rank(&self, v: f64) -> f64 {
        let lo = self.partition_point(|s| s < v);
        // Ties are rare among continuous scores: only look further when `v` itself is there.
        let hi = match self.sorted.get(lo) {
            Some(&s) if s <= v => self.partition_point(|s| s <= v),
            _ => lo,
        };
        (lo as f64 + (hi - lo) as f64 / 2.0) / self.sorted.len() as f64
    }
}

/// When the detectors fit on some rows only: those rows' matrix, and the other rows, which
/// are scored.
struct Split {
    train: Array2<f64>,
    rest: Vec<usize>,
    /// The rows of `train` by distinct row.
    train_distinct: Distinct,
}

impl Split {
    /// The split of `n` rows read from `rows` into the training rows `train_idx` and the
    /// others.
    fn of(rows: &dyn Rows, train_idx: &[usize], n: usize) -> Self {
        let mut is_train = vec![false; n];
        for &i in train_idx {
            is_train[i] = true;
        }
        let train = rows.gather(train_idx);
        let train_distinct = Distinct::among(&train, &(0..train_idx.len()).collect::<Vec<_>>());
        Split {
            train,
            rest: (0..n).filter(|&i| !is_train[i]).collect(),
            train_distinct,
        }
    }

    /// Fits `task` on the training rows: each of its detectors' training scores (the
    /// training rows', in order), or why it has none.
    fn fit(&self, task: &mut Task, cancel: &Cancel) -> Vec<Scored> {
        let m = self.train.nrows();
        match task.fit_model(self.train.view(), cancel) {
            Err(e) => vec![Err(e); task.len()],
            Ok(true) => self
                .train_distinct
                .score(task, &self.train, cancel)
                .into_iter()
                .map(|per| {
                    let mut ts = vec![0.0; m];
                    self.train_distinct.scatter(&per?, 0..m, &mut ts);
                    Ok(ts)
                })
                .collect(),
            Ok(false) => task.fit(self.train.view(), cancel),
        }
    }
}

/// The rows a run scores (every row, or the rows outside the training split), by distinct
/// row: a score depends only on the row's values, and conn logs repeat rows by the
/// thousand (scans, retries, failed connections), so each distinct row is scored, and
/// ranked, once.
struct Distinct {
    /// The first of the scored rows with each distinct value.
    first: Vec<usize>,
    /// For each scored row (in order), its distinct row.
    of: Vec<u32>,
}

impl Distinct {
    /// The rows `rows` of `x` by distinct row.
    fn among(x: &Array2<f64>, rows: &[usize]) -> Self {
        let (first, of) = distinct_among(x.view(), rows);
        Self { first, of }
    }

    /// Each of the task's detectors' score of each distinct row, scored in blocks (no
    /// copy of the whole matrix is made).
    fn score(&self, task: &Task, x: &Array2<f64>, cancel: &Cancel) -> Vec<Scored> {
        let mut per: Vec<Scored> = (0..task.len())
            .map(|_| Ok(Vec::with_capacity(self.first.len())))
            .collect();
        for block in self.first.chunks(SCORE_BLOCK) {
            let rows = select_rows(x.view(), block);
            for (p, r) in per.iter_mut().zip(task.score(rows.view(), cancel)) {
                match (p.as_mut(), r) {
                    (Ok(v), Ok(s)) => v.extend(s),
                    (Ok(_), Err(e)) => *p = Err(e),
                    (Err(_), _) => {}
                }
            }
            if per.iter().all(Result::is_err) {
                break;
            }
        }
        per
    }

    /// Writes the value of the j-th scored row to `out[p]`, `p` the j-th item of `at`.
    fn scatter(&self, per: &[f64], at: impl Iterator<Item = usize>, out: &mut [f64]) {
        for (p, &d) in at.zip(&self.of) {
            out[p] = per[d as usize];
        }
    }
}

/// Scores, or why there are none.
type Scored = Result<Vec<f64>, DetectError>;

/// What one task of the ensemble fits and scores: a detector, or KNN and LOF sharing
/// their neighbour searches (see [`super::knn_lof`]).
enum Task {
    One(DetectorKind, Box<dyn Detector>),
    KnnLof(Box<KnnLof>),
    /// ECOD and COPOD, which read the same sorted training columns: sorted once, held
    /// once.
    EcodCopod(Box<(Ecod, Copod)>),
}

impl Task {
    /// The tasks that run `kinds` (seeded with `seed`): each detector its own, but KNN and
    /// LOF together when both are chosen; with, for each, the positions in `kinds` of its
    /// detectors.
    fn plan(kinds: &[DetectorKind], seed: u64) -> Vec<(Vec<usize>, Task)> {
        let at = |k| kinds.iter().position(|&d| d == k);
        let pair = match (at(DetectorKind::Knn), at(DetectorKind::Lof)) {
            (Some(a), Some(b)) => KnnLof::new(Knn::default(), Lof::default())
                .map(|p| (vec![a, b], Task::KnnLof(Box::new(p)))),
            _ => None,
        };
        let tails = at(DetectorKind::Ecod)
            .zip(at(DetectorKind::Copod))
            .map(|(a, b)| (vec![a, b], Task::EcodCopod(Box::default())));
        let paired = |i: usize| {
            [&pair, &tails]
                .iter()
                .any(|p| p.as_ref().is_some_and(|(at, _)| at.contains(&i)))
        };
        let mut tasks: Vec<(Vec<usize>, Task)> = kinds
            .iter()
            .enumerate()
            .filter(|&(i, _)| !paired(i))
            .map(|(i, &k)| (vec![i], Task::One(k, k.build(seed))))
            .collect();
        tasks.extend(pair);
        tasks.extend(tails);
        // Longest first, each task its own thread: the VAE's training is one long
        // sequential job, so it starts at once, then the neighbour searches, and the
        // others fill the other cores.
        tasks.sort_by_key(|(_, t)| match t {
            Task::One(DetectorKind::Vae, _) => 0,
            Task::KnnLof(_) => 1,
            Task::One(..) | Task::EcodCopod(_) => 2,
        });
        tasks
    }

    /// Its detectors.
    fn kinds(&self) -> Vec<DetectorKind> {
        match self {
            Task::One(k, _) => vec![*k],
            Task::KnnLof(_) => vec![DetectorKind::Knn, DetectorKind::Lof],
            Task::EcodCopod(_) => vec![DetectorKind::Ecod, DetectorKind::Copod],
        }
    }

    fn len(&self) -> usize {
        match self {
            Task::One(..) => 1,
            Task::KnnLof(_) | Task::EcodCopod(_) => 2,
        }
    }

    /// [`Detector::fit_model`] (a pair of neighbour methods never fits without scoring).
    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        match self {
            Task::One(_, d) => d.fit_model(x, cancel),
            Task::KnnLof(_) | Task::EcodCopod(_) => Ok(false),
        }
    }

    /// Each detector's training scores.
    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Vec<Scored> {
        match self {
            Task::One(_, d) => vec![d.fit(x, cancel)],
            Task::KnnLof(p) => {
                let (a, b) = p.fit(x, cancel);
                vec![a, b]
            }
            Task::EcodCopod(p) => {
                use super::tails::{Combine as Rule, Tails};
                match Tails::fit_each("ecod", x, &[Rule::Ecod, Rule::Copod], cancel) {
                    Ok((tails, scores)) => {
                        **p = (Ecod::from_tails(tails.clone()), Copod::from_tails(tails));
                        scores.into_iter().map(Ok).collect()
                    }
                    // Each fitted alone, to report its own error.
                    Err(_) => vec![p.0.fit(x, cancel), p.1.fit(x, cancel)],
                }
            }
        }
    }

    /// Each detector's scores of the rows of `x`.
    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Vec<Scored> {
        match self {
            Task::One(_, d) => vec![d.score(x, cancel)],
            Task::KnnLof(p) => {
                let (a, b) = p.score(x, cancel);
                vec![a, b]
            }
            Task::EcodCopod(p) => vec![p.0.score(x, cancel), p.1.score(x, cancel)],
        }
    }

    /// Its detectors as fitted.
    fn into_detectors(self) -> Vec<Box<dyn Detector>> {
        match self {
            Task::One(_, d) => vec![d],
            Task::KnnLof(p) => {
                let (knn, lof) = (*p).into_parts();
                vec![Box::new(knn), Box::new(lof)]
            }
            Task::EcodCopod(p) => {
                let (ecod, copod) = *p;
                vec![Box::new(ecod), Box::new(copod)]
            }
        }
    }
}

/// A detector's training scores and every row's score, or why it has none.
type Outcome = Result<(Vec<f64>, Vec<f64>), DetectError>;

/// A detector's run, its fitted state (when kept) and its training scores, sorted.
type Ran = (DetectorRun, Option<FittedDetector>, Vec<f64>);

/// Fits and scores one task: for each of its detectors, its run or why it failed.
#[allow(clippy::too_many_arguments)]
fn run_task(
    mut task: Task,
    x: &Array2<f64>,
    split: Option<&Split>,
    distinct: &Distinct,
    train_idx: &[usize],
    opts: &EnsembleOptions,
    cancel: &Cancel,
    keep: bool,
) -> Vec<Result<Ran, DetectError>> {
    let t = Instant::now();
    let (n, m) = (x.nrows(), task.len());
    // Per detector: its training scores (the training rows', in order) and every row's.
    let both = |s: Vec<f64>| (s.clone(), s);
    let (outcomes, fit_s, score_s): (Vec<Outcome>, _, _) = match split {
        // Trained on every row: the training scores are the scores.
        None => match task.fit_model(x.view(), cancel) {
            Err(e) => (vec![Err(e)], t.elapsed().as_secs_f64(), 0.0),
            Ok(true) => {
                let f = t.elapsed().as_secs_f64();
                let t2 = Instant::now();
                let all = distinct.score(&task, x, cancel).into_iter().map(|per| {
                    let mut scores = vec![0.0; n];
                    distinct.scatter(&per?, 0..n, &mut scores);
                    Ok(both(scores))
                });
                (all.collect(), f, t2.elapsed().as_secs_f64())
            }
            Ok(false) => {
                let fitted = task.fit(x.view(), cancel);
                let all = fitted.into_iter().map(|s| s.map(both)).collect();
                (all, t.elapsed().as_secs_f64(), 0.0)
            }
        },
        Some(split) => {
            let fitted = split.fit(&mut task, cancel);
            let f = t.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let rest = if fitted.iter().any(Result::is_ok) {
                distinct.score(&task, x, cancel)
            } else {
                vec![Err(DetectError::Cancelled); m]
            };
            let all = fitted.into_iter().zip(rest).map(|(ts, per)| {
                let ts = ts?;
                // Training rows keep their training scores (a neighbour method must
                // not count a row as its own neighbour); the others are scored.
                let mut scores = vec![0.0; n];
                for (j, &i) in train_idx.iter().enumerate() {
                    scores[i] = ts[j];
                }
                distinct.scatter(&per?, split.rest.iter().copied(), &mut scores);
                Ok((ts, scores))
            });
            (all.collect(), f, t2.elapsed().as_secs_f64())
        }
    };
    let kinds = task.kinds();
    let mut dets: Vec<Option<Box<dyn Detector>>> = if keep {
        task.into_detectors().into_iter().map(Some).collect()
    } else {
        (0..m).map(|_| None).collect()
    };
    kinds
        .into_iter()
        .zip(outcomes)
        .zip(&mut dets)
        .map(|((kind, outcome), det)| {
            let (train_scores, scores) = outcome?;
            finish(
                kind,
                train_scores,
                scores,
                det.take(),
                opts,
                (fit_s, score_s),
            )
        })
        .collect()
}

/// A detector's run from its training scores and every row's score; with its fitted
/// state `det` when it is kept.
fn finish(
    kind: DetectorKind,
    train_scores: Vec<f64>,
    scores: Vec<f64>,
    det: Option<Box<dyn Detector>>,
    opts: &EnsembleOptions,
    (fit_s, score_s): (f64, f64),
) -> Result<Ran, DetectError> {
    if scores.iter().any(|v| !v.is_finite()) {
        return Err(non_finite(kind));
    }
    let mut sorted = train_scores;
    sorted.par_sort_unstable_by(f64::total_cmp);
    let threshold = quantile_sorted(&sorted, 1.0 - opts.contamination);
    // The training scores, sorted, rank the scores when the runs are combined (each row's
    // rank is made there, not kept per detector: 8 bytes a row less for each).
    let fitted = det.map(|det| FittedDetector {
        kind,
        det,
        index: Ranker::new(&sorted).index,
        sorted: sorted.clone(),
        threshold,
    });
    Ok((
        DetectorRun {
            kind,
            scores,
            threshold,
            fit_s,
            score_s,
            error: None,
        },
        fitted,
        sorted,
    ))
}

/// The rows the detectors are fitted on: those marked in `train`, or above
/// [`EnsembleOptions::fit_limit`] a seeded sample of that many of them (in order), with
/// the number they were sampled from.
pub fn fit_rows(train: &[bool], opts: &EnsembleOptions) -> (Vec<usize>, Option<usize>) {
    let train_idx: Vec<usize> = (0..train.len()).filter(|&i| train[i]).collect();
    match opts.fit_limit.filter(|&l| l > 0 && train_idx.len() > l) {
        Some(limit) => {
            use rand::SeedableRng;
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(opts.seed);
            let mut pick = rand::seq::index::sample(&mut rng, train_idx.len(), limit).into_vec();
            pick.sort_unstable();
            let from = train_idx.len();
            (pick.into_iter().map(|j| train_idx[j]).collect(), Some(from))
        }
        None => (train_idx, None),
    }
}

/// Runs the ensemble on `x` (rows × features), fitting on the rows marked in `train`.
/// Detectors run in parallel; a detector that fails is reported in its run and left out
/// of the verdict. `done` is called with each finished detector (for progress).
pub fn run(
    x: &Array2<f64>,
    train: &[bool],
    opts: &EnsembleOptions,
    cancel: &Cancel,
    done: &(dyn Fn(&DetectorRun) + Sync),
) -> Result<Verdicts, DetectError> {
    run_keeping(x, train, opts, cancel, done, false).map(|(v, _)| v)
}

/// Why `opts` cannot run, if it cannot.
fn check(opts: &EnsembleOptions) -> Result<(), DetectError> {
    if !(opts.contamination > 0.0 && opts.contamination <= 0.5) {
        return Err(DetectError::Input {
            detector: "ensemble",
            reason: format!(
                "contamination must be in (0, 0.5], got {}",
                opts.contamination
            ),
        });
    }
    if opts.detectors.is_empty() {
        return Err(DetectError::Input {
            detector: "ensemble",
            reason: "no detector chosen".into(),
        });
    }
    Ok(())
}

/// [`run`], keeping the fitted detectors (when `keep`) to score rows that arrive later.
pub fn run_keeping(
    x: &Array2<f64>,
    train: &[bool],
    opts: &EnsembleOptions,
    cancel: &Cancel,
    done: &(dyn Fn(&DetectorRun) + Sync),
    keep: bool,
) -> Result<(Verdicts, Option<Fitted>), DetectError> {
    check(opts)?;
    let n = x.nrows();
    let (train_idx, fit_sampled_from) = fit_rows(train, opts);
    let split = (train_idx.len() < n).then(|| Split::of(x, &train_idx, n));
    let distinct = match &split {
        Some(s) => Distinct::among(x, &s.rest),
        None => Distinct::among(x, &(0..n).collect::<Vec<_>>()),
    };
    let tasks = Task::plan(&opts.detectors, opts.seed);
    let mut runs: Vec<(usize, Ran)> = tasks
        .into_par_iter()
        .with_max_len(1)
        .map(|(at, task)| {
            let ran = run_task(
                task,
                x,
                split.as_ref(),
                &distinct,
                &train_idx,
                opts,
                cancel,
                keep,
            );
            at.into_iter()
                .zip(ran)
                .map(|(i, r)| {
                    let kind = opts.detectors[i];
                    let r = match r {
                        Ok(r) => r,
                        Err(DetectError::Cancelled) => return Err(DetectError::Cancelled),
                        Err(e) => (
                            DetectorRun {
                                kind,
                                scores: Vec::new(),
                                threshold: f64::NAN,
                                fit_s: 0.0,
                                score_s: 0.0,
                                error: Some(e.to_string()),
                            },
                            None,
                            Vec::new(),
                        ),
                    };
                    done(&r.0);
                    Ok((i, r))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    runs.sort_by_key(|r| r.0);
    let mut runs_sorted = Vec::with_capacity(runs.len());
    let (runs, fitted): (Vec<DetectorRun>, Vec<Option<FittedDetector>>) = runs
        .into_iter()
        .map(|(_, (run, fitted, sorted))| {
            runs_sorted.push(sorted);
            (run, fitted)
        })
        .unzip();
    cancel.check()?;
    let ok: Vec<&DetectorRun> = runs.iter().filter(|r| r.ok()).collect();
    // Each run's sorted training scores rank its scores.
    let rankers: Vec<Ranker> = runs
        .iter()
        .zip(&runs_sorted)
        .filter(|(r, _)| r.ok())
        .map(|(_, s)| Ranker::new(s))
        .collect();
    if ok.is_empty() {
        return Err(every_failed(runs.iter().map(|r| &r.error)));
    }
    // A detector at a time, so that its sorted training scores stay in cache while every
    // row is ranked among them; each row's ranks are added in detector order, as a sum
    // over the detectors row by row would.
    let mut sum = vec![0.0f64; n];
    for (r, rk) in ok.iter().zip(&rankers) {
        sum.par_iter_mut()
            .zip(&r.scores)
            .with_min_len(1 << 12)
            .for_each(|(s, &v)| *s += rk.rank(v));
    }
    let combined: Vec<f64> = sum.into_iter().map(|s| s / ok.len() as f64).collect();
    let combined_threshold = combined_threshold(&combined, &train_idx, opts.contamination);
    let votes: Vec<u8> = (0..n)
        .map(|i| ok.iter().filter(|r| r.flags(i)).count() as u8)
        .collect();
    let fitted = keep.then(|| {
        Fitted::new(
            fitted.into_iter().flatten().collect(),
            combined_threshold,
            opts.combine,
        )
    });
    Ok((
        Verdicts::of(
            runs,
            combined,
            combined_threshold,
            votes,
            opts.combine,
            (train_idx.len(), fit_sampled_from),
            Vec::new(),
        ),
        fitted,
    ))
}

/// A detector of a lean run ([`run_lean`]) once fitted: where its task is, what ranks its
/// scores, or why it failed.
struct LeanPart {
    kind: DetectorKind,
    /// Its place in the runs (the order asked).
    pos: usize,
    /// Its task, and its place among the task's detectors.
    task: usize,
    slot: usize,
    /// Its training scores, in training row order, then sorted (empty if it failed).
    train_scores: Vec<f64>,
    sorted: Vec<f64>,
    threshold: f64,
    error: Option<String>,
}

/// What a lean run ([`run_lean`]) keeps beside the verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing more (`zsift score`).
    Verdicts,
    /// Each detector's score of every row.
    Scores,
    /// What scores the rows again when asked ([`Rescore`]): each detector's scores of
    /// every row, 8 bytes a row each, are then never held at once.
    Rescore,
}

/// What a lean run keeps to give each detector's scores again ([`Keep::Rescore`]): its
/// fitted tasks and each detector's training scores. A row's score is the one the run
/// gave it: a training row's is its training score, any other row's its score by the
/// fitted detector.
pub struct Rescore {
    tasks: Vec<Task>,
    /// Per run (the order asked): its task and its place there; `None` if it failed.
    at: Vec<Option<(usize, usize)>>,
    /// The rows fitted on, in order.
    train_idx: Vec<usize>,
    /// Per run: its training scores, in `train_idx` order.
    train_scores: Vec<Vec<f64>>,
}

impl Rescore {
    /// Each detector's scores of the rows `at` of `rows` (those the run scored), a task
    /// at a time, the rows made a block at a time: `f(run, scores)` for each run that did
    /// not fail, in no set order.
    pub fn each(
        &self,
        rows: &dyn Rows,
        at: &[usize],
        cancel: &Cancel,
        mut f: impl FnMut(usize, Vec<f64>),
    ) -> Result<(), DetectError> {
        for (t, task) in self.tasks.iter().enumerate() {
            let runs: Vec<(usize, usize)> = self
                .at
                .iter()
                .enumerate()
                .filter_map(|(k, a)| a.filter(|a| a.0 == t).map(|a| (k, a.1)))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let mut out: Vec<Vec<f64>> = runs.iter().map(|_| vec![0.0; at.len()]).collect();
            // A block at a time: its training rows take their training scores, the others
            // are made and scored.
            for (b, block) in at.chunks(crate::rows::BLOCK).enumerate() {
                cancel.check()?;
                let base = b * crate::rows::BLOCK;
                let (mut pos, mut other) = (Vec::new(), Vec::new());
                for (j, &i) in block.iter().enumerate() {
                    match self.train_idx.binary_search(&i) {
                        Ok(p) => {
                            for (o, &(k, _)) in out.iter_mut().zip(&runs) {
                                o[base + j] = self.train_scores[k][p];
                            }
                        }
                        Err(_) => {
                            pos.push(base + j);
                            other.push(i);
                        }
                    }
                }
                if other.is_empty() {
                    continue;
                }
                let scored = task.score(rows.gather(&other).view(), cancel);
                for (o, &(_, slot)) in out.iter_mut().zip(&runs) {
                    let s = scored[slot].as_ref().map_err(Clone::clone)?;
                    for (&j, &v) in pos.iter().zip(s) {
                        o[j] = v;
                    }
                }
            }
            for (o, &(k, _)) in out.into_iter().zip(&runs) {
                f(k, o);
            }
        }
        Ok(())
    }
}

/// [`run`] on rows read from `rows` when needed, keeping no detector's scores of every
/// row: the combined scores, votes and verdicts are [`run`]'s, bit for bit, and
/// [`Verdicts::flags`] says which detectors flag each row. The detectors are fitted first;
/// then the rows they were not fitted on are made, scored and ranked a block at a time.
/// The whole matrix is never held, nor, unless `keep_scores`, any detector's scores of
/// every row (`zsift score` has no use for them; the views' export and evaluation read
/// them): about 8 bytes a row less per feature and per detector.
/// When the detectors fit on every row, those rows are the fit's and are held, as by
/// [`run`]; so too when a detector's scores are not all numbers or it fails while
/// scoring, to report it as [`run`] does, and for more detectors than 16 (the bits of a
/// row's flags).
pub fn run_lean(
    rows: &dyn Rows,
    train: &[bool],
    opts: &EnsembleOptions,
    cancel: &Cancel,
    done: &(dyn Fn(&DetectorRun) + Sync),
    keep: Keep,
) -> Result<(Verdicts, Option<Rescore>), DetectError> {
    run_lean_blocks(
        rows,
        train,
        opts,
        cancel,
        done,
        keep,
        LEAN_BLOCK,
        crate::neighbors::row_hash,
    )
}

/// [`run_lean`], making and scoring `block_rows` rows at a time, a row's values hashed by
/// `row_hash`.
#[allow(clippy::too_many_arguments)]
fn run_lean_blocks(
    rows: &dyn Rows,
    train: &[bool],
    opts: &EnsembleOptions,
    cancel: &Cancel,
    done: &(dyn Fn(&DetectorRun) + Sync),
    keep: Keep,
    block_rows: usize,
    row_hash: fn(&[f64]) -> u64,
) -> Result<(Verdicts, Option<Rescore>), DetectError> {
    check(opts)?;
    let n = rows.count();
    let (train_idx, fit_sampled_from) = fit_rows(train, opts);
    let whole = || -> Result<(Verdicts, Option<Rescore>), DetectError> {
        let x = rows.gather(&(0..n).collect::<Vec<_>>());
        run(&x, train, opts, cancel, done).map(|v| (v, None))
    };
    if train_idx.len() == n || opts.detectors.len() > u16::BITS as usize {
        return whole();
    }
    let (tasks, fit_s, mut parts, rest) = {
        let split = Split::of(rows, &train_idx, n);
        crate::memory::release();
        let Some((tasks, fit_s, parts)) = fit_lean(&split, opts, cancel)? else {
            drop(split);
            return whole();
        };
        // The training rows' matrix is not read again.
        (tasks, fit_s, parts, split.rest)
    };
    crate::memory::release();
    if parts.iter().all(|p| p.error.is_some()) {
        return Err(every_failed(parts.iter().map(|p| &p.error)));
    }
    let mut sum = vec![0.0f64; n];
    let mut flags = vec![0u16; n];
    // Each detector's score of every row, when kept (by the order of `parts`).
    let mut kept: Vec<Vec<f64>> = parts
        .iter()
        .map(|p| {
            if keep == Keep::Scores && p.error.is_none() {
                vec![0.0; n]
            } else {
                Vec::new()
            }
        })
        .collect();
    // The training rows rank their training scores, a detector at a time in the order
    // asked (each row's ranks are added in the order `run` adds them).
    for (part, kept) in parts.iter_mut().zip(&mut kept) {
        if part.error.is_some() {
            continue;
        }
        let rk = Ranker::new(&part.sorted);
        for (&i, &v) in train_idx.iter().zip(&part.train_scores) {
            sum[i] += rk.rank(v);
            if v > part.threshold {
                flags[i] |= 1 << part.pos;
            }
            if let Some(k) = kept.get_mut(i) {
                *k = v;
            }
        }
        if keep != Keep::Rescore {
            part.train_scores = Vec::new();
        }
    }
    let mut kept: Vec<&mut Vec<f64>> = parts
        .iter()
        .zip(&mut kept)
        .filter(|(p, _)| p.error.is_none())
        .map(|(_, k)| k)
        .collect();
    let ok: Vec<&LeanPart> = parts.iter().filter(|p| p.error.is_none()).collect();
    let rankers: Vec<Ranker> = ok.iter().map(|p| Ranker::new(&p.sorted)).collect();
    // The other rows a block at a time: made, and each distinct row scored by every task
    // side by side and ranked. Results are kept per distinct row: a row whose values hash
    // as an earlier row's is compared with it, bit for bit, and takes its result when the
    // same (`run` too scores each distinct row once).
    let live: Vec<bool> = (0..tasks.len())
        .map(|t| ok.iter().any(|p| p.task == t))
        .collect();
    let mut score_s = vec![0.0; tasks.len()];
    let mut seen = crate::rows::Seen::default();
    // Per distinct row: a matrix row with its values, its ranks' sum and its flags.
    let mut first: Vec<u32> = Vec::new();
    let mut first_sum: Vec<f64> = Vec::new();
    let mut first_flags: Vec<u16> = Vec::new();
    let mut of = vec![0u32; rest.len()];
    for (b, block) in rest.chunks(block_rows).enumerate() {
        cancel.check()?;
        let bx = rows.gather(block);
        let at = b * block_rows;
        let (scored_rows, base) = crate::rows::distinct_block(
            rows,
            &bx,
            block,
            &mut seen,
            &mut first,
            &mut of[at..],
            row_hash,
        );
        // Rows added after the others (their hash an earlier block's row's) come last.
        let every = scored_rows.iter().enumerate().all(|(k, &p)| k == p);
        let sub = if every && scored_rows.len() == block.len() {
            bx
        } else {
            select_rows(bx.view(), &scored_rows)
        };
        let scored: Vec<(Vec<Scored>, f64)> = tasks
            .par_iter()
            .zip(&live)
            .with_max_len(1)
            .map(|(task, &live)| {
                let t = Instant::now();
                let s = if live && sub.nrows() > 0 {
                    task.score(sub.view(), cancel)
                } else {
                    Vec::new()
                };
                (s, t.elapsed().as_secs_f64())
            })
            .collect();
        for (s, (_, secs)) in score_s.iter_mut().zip(&scored) {
            *s += secs;
        }
        if sub.nrows() == 0 {
            continue;
        }
        first_sum.resize(first.len(), 0.0);
        first_flags.resize(first.len(), 0);
        let (sums, fl) = (&mut first_sum[base..], &mut first_flags[base..]);
        for ((part, rk), kept) in ok.iter().zip(&rankers).zip(&mut kept) {
            let s = match &scored[part.task].0[part.slot] {
                Ok(s) if s.iter().all(|v| v.is_finite()) => s,
                Err(DetectError::Cancelled) => return Err(DetectError::Cancelled),
                // Failed on these rows: `run` reports it (it holds every score).
                _ => return whole(),
            };
            if !kept.is_empty() {
                // The block's new distinct rows, then every row from its distinct row's.
                for (&p, &v) in scored_rows.iter().zip(s) {
                    kept[block[p]] = v;
                }
                for (&i, &d) in block.iter().zip(&of[at..at + block.len()]) {
                    kept[i] = kept[first[d as usize] as usize];
                }
            }
            let bit = 1u16 << part.pos;
            sums.par_iter_mut()
                .zip(fl.par_iter_mut())
                .zip(s)
                .with_min_len(1 << 12)
                .for_each(|((sum, flags), &v)| {
                    *sum += rk.rank(v);
                    if v > part.threshold {
                        *flags |= bit;
                    }
                });
        }
    }
    for (&i, &d) in rest.iter().zip(&of) {
        sum[i] = first_sum[d as usize];
        flags[i] = first_flags[d as usize];
    }
    let k = ok.len() as f64;
    let combined: Vec<f64> = sum.into_iter().map(|s| s / k).collect();
    let combined_threshold = combined_threshold(&combined, &train_idx, opts.contamination);
    let votes: Vec<u8> = flags.iter().map(|f| f.count_ones() as u8).collect();
    drop(rankers);
    drop(ok);
    let mut kept = kept.into_iter().map(std::mem::take);
    let runs: Vec<DetectorRun> = parts
        .iter_mut()
        .map(|p| DetectorRun {
            kind: p.kind,
            scores: match p.error {
                None => kept.next().unwrap_or_default(),
                Some(_) => Vec::new(),
            },
            threshold: p.threshold,
            fit_s: fit_s[p.task],
            score_s: score_s[p.task],
            error: p.error.take(),
        })
        .collect();
    for r in &runs {
        done(r);
    }
    let rescore = (keep == Keep::Rescore).then(|| {
        let mut at = vec![None; parts.len()];
        let mut train_scores = vec![Vec::new(); parts.len()];
        for p in &mut parts {
            if runs[p.pos].ok() {
                at[p.pos] = Some((p.task, p.slot));
                train_scores[p.pos] = std::mem::take(&mut p.train_scores);
            }
        }
        Rescore {
            tasks,
            at,
            train_idx: train_idx.clone(),
            train_scores,
        }
    });
    Ok((
        Verdicts::of(
            runs,
            combined,
            combined_threshold,
            votes,
            opts.combine,
            (train_idx.len(), fit_sampled_from),
            flags,
        ),
        rescore,
    ))
}

/// Fits the tasks of a lean run on the training rows of `split`: the tasks, each one's
/// seconds, and each detector's part in the order asked; `None` when a detector's
/// training scores are not all numbers. KNN and LOF, when they run as a pair, first and
/// alone: their search uses every core, and their neighbourhoods, the largest
/// temporaries of the fit (20 per row), are then held beside no other detector's fitted
/// state. The others after, each on its own thread, longest first (as in [`run`]).
#[allow(clippy::type_complexity)]
fn fit_lean(
    split: &Split,
    opts: &EnsembleOptions,
    cancel: &Cancel,
) -> Result<Option<(Vec<Task>, Vec<f64>, Vec<LeanPart>)>, DetectError> {
    let fit = |(at, mut task): (Vec<usize>, Task)| {
        let t = Instant::now();
        let ts = split.fit(&mut task, cancel);
        (at, task, ts, t.elapsed().as_secs_f64())
    };
    let (first, others): (Vec<_>, Vec<_>) = Task::plan(&opts.detectors, opts.seed)
        .into_iter()
        .partition(|(_, t)| matches!(t, Task::KnnLof(_)));
    // The neighbour graph is built before the others (it holds the most memory), and
    // the VAE's training, one long sequential job that holds little, runs beside all of
    // them: it does not run alone at the end while the other core waits.
    let (vae, others): (Vec<_>, Vec<_>) = others
        .into_iter()
        .partition(|(_, t)| matches!(t, Task::One(DetectorKind::Vae, _)));
    type Fitted = (Vec<usize>, Task, Vec<Scored>, f64);
    let (vae, (mut fitted, others)): (Vec<Fitted>, (Vec<Fitted>, Vec<Fitted>)) = rayon::join(
        || vae.into_iter().map(fit).collect(),
        || {
            let first = first.into_iter().map(fit).collect();
            crate::memory::release();
            let others = others.into_par_iter().with_max_len(1).map(fit).collect();
            (first, others)
        },
    );
    // In the plan's order: the neighbour graph, the VAE, the others.
    fitted.extend(vae);
    fitted.extend(others);
    let mut parts = Vec::new();
    let mut tasks = Vec::with_capacity(fitted.len());
    let mut secs = Vec::with_capacity(fitted.len());
    for (t, (at, task, ts, s)) in fitted.into_iter().enumerate() {
        for (slot, (pos, ts)) in at.into_iter().zip(ts).enumerate() {
            let kind = opts.detectors[pos];
            let mut part = LeanPart {
                kind,
                pos,
                task: t,
                slot,
                train_scores: Vec::new(),
                sorted: Vec::new(),
                threshold: f64::NAN,
                error: None,
            };
            match ts {
                Err(DetectError::Cancelled) => return Err(DetectError::Cancelled),
                Err(e) => part.error = Some(e.to_string()),
                // Failed, but `run` names its failure only once the other rows are
                // scored (their scoring may fail first): the caller runs it.
                Ok(ts) if ts.iter().any(|v| !v.is_finite()) => return Ok(None),
                Ok(ts) => {
                    let mut sorted = ts.clone();
                    sorted.par_sort_unstable_by(f64::total_cmp);
                    part.threshold = quantile_sorted(&sorted, 1.0 - opts.contamination);
                    part.sorted = sorted;
                    part.train_scores = ts;
                }
            }
            parts.push(part);
        }
        tasks.push(task);
        secs.push(s);
    }
    cancel.check()?;
    parts.sort_by_key(|p| p.pos);
    Ok(Some((tasks, secs, parts)))
}

/// The verdict of each row under `combine`.
fn verdicts_of(combine: Combine, combined: &[f64], threshold: f64, votes: &[u8]) -> Vec<bool> {
    combined
        .iter()
        .zip(votes)
        .map(|(&c, &v)| match combine {
            Combine::Any => v >= 1,
            Combine::Votes(m) => usize::from(v) >= m,
            Combine::Mean => c > threshold,
        })
        .collect()
}

/// The error of an ensemble whose every detector failed, each for the reason in `errors`.
fn every_failed<'a>(errors: impl Iterator<Item = &'a Option<String>>) -> DetectError {
    let why: Vec<&str> = errors.flatten().map(String::as_str).collect();
    DetectError::Input {
        detector: "ensemble",
        reason: format!("every detector failed: {}", why.join("; ")),
    }
}

/// The threshold of the combined score: its (1 − contamination) quantile over the
/// training rows `train_idx`.
fn combined_threshold(combined: &[f64], train_idx: &[usize], contamination: f64) -> f64 {
    let mut train: Vec<f64> = train_idx.iter().map(|&i| combined[i]).collect();
    train.sort_by(f64::total_cmp);
    quantile_sorted(&train, 1.0 - contamination)
}

/// The error of a detector whose scores are not all numbers.
fn non_finite(kind: DetectorKind) -> DetectError {
    DetectError::Input {
        detector: kind.name(),
        reason: "produced non-finite scores".into(),
    }
}

/// One detector as fitted, with what ranks its scores: its training scores, sorted.
pub struct FittedDetector {
    /// Which detector.
    pub kind: DetectorKind,
    det: Box<dyn Detector>,
    sorted: Vec<f64>,
    /// Every [`RANK_STRIDE`]-th of `sorted` (a [`Ranker`]'s index, kept).
    index: Vec<f64>,
    /// Its threshold.
    pub threshold: f64,
}

/// The ensemble as fitted: scores rows that were not there when it was fitted, exactly as
/// [`run`] scores the rows it was not fitted on.
pub struct Fitted {
    /// The detectors that fitted (those that failed take no part, as in [`run`]).
    pub detectors: Vec<FittedDetector>,
    /// Threshold of the combined score.
    pub combined_threshold: f64,
    /// The verdict rule.
    pub combine: Combine,
    /// The positions in `detectors` of a KNN and a LOF that score with one search (see
    /// [`super::knn_lof`]).
    shared: Option<(usize, usize)>,
}

/// Verdicts on new rows.
#[derive(Debug, Clone, Default)]
pub struct NewVerdicts {
    /// Combined score per row.
    pub combined: Vec<f64>,
    /// Detectors flagging each row.
    pub votes: Vec<u8>,
    /// The verdict per row.
    pub flagged: Vec<bool>,
    /// Per row, the names of the detectors that flag it.
    pub by: Vec<Vec<&'static str>>,
    /// Per fitted detector (in [`Fitted::detectors`] order), each row's score.
    pub scores: Vec<Vec<f64>>,
}

/// A fitted detector as a saved model holds it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedDetector {
    /// The detector's state.
    pub state: super::Saved,
    /// Its training scores, sorted.
    pub sorted: Vec<f64>,
    /// Its threshold.
    pub threshold: f64,
}

/// The fitted ensemble as a saved model holds it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedFitted {
    /// The detectors that fitted.
    pub detectors: Vec<SavedDetector>,
    /// Threshold of the combined score.
    pub combined_threshold: f64,
    /// The verdict rule.
    pub combine: Combine,
}

impl Fitted {
    /// What a saved model holds of the ensemble.
    pub fn save(&self) -> SavedFitted {
        SavedFitted {
            detectors: self
                .detectors
                .iter()
                .map(|d| SavedDetector {
                    state: d.det.save(),
                    sorted: d.sorted.clone(),
                    threshold: d.threshold,
                })
                .collect(),
            combined_threshold: self.combined_threshold,
            combine: self.combine,
        }
    }

    /// The ensemble of a saved model, scoring rows of `columns` features, once every
    /// part is checked (see [`super::Saved::restore`]).
    pub fn restore(saved: SavedFitted, columns: usize) -> Result<Fitted, String> {
        use super::ensure;
        ensure(!saved.detectors.is_empty(), "no detectors")?;
        let detectors = saved
            .detectors
            .into_iter()
            .map(|d| {
                let kind = d.state.kind();
                ensure(
                    !d.sorted.is_empty() && d.sorted.windows(2).all(|w| w[0] <= w[1]),
                    &format!("{kind} training scores"),
                )?;
                Ok(FittedDetector {
                    kind,
                    det: d.state.restore(columns)?,
                    index: Ranker::new(&d.sorted).index,
                    sorted: d.sorted,
                    threshold: d.threshold,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Fitted::new(
            detectors,
            saved.combined_threshold,
            saved.combine,
        ))
    }
}

impl FittedDetector {
    /// A score's rank among the training scores (ties count half).
    pub fn rank(&self, score: f64) -> f64 {
        Ranker {
            sorted: &self.sorted,
            index: Vec::new(),
        }
        .rank_plain(score)
    }
}

/// The KNN and the LOF at positions `k` and `l` of `detectors`, when those they are.
fn knn_lof(detectors: &[FittedDetector], k: usize, l: usize) -> Option<(&Knn, &Lof)> {
    use super::NeighbourMethod as M;
    match (
        detectors[k].det.neighbour_method(),
        detectors[l].det.neighbour_method(),
    ) {
        (Some(M::Knn(knn)), Some(M::Lof(lof))) => Some((knn, lof)),
        _ => None,
    }
}

impl Fitted {
    /// The fitted ensemble of `detectors`.
    fn new(detectors: Vec<FittedDetector>, combined_threshold: f64, combine: Combine) -> Self {
        let at = |kind| detectors.iter().position(|d| d.kind == kind);
        let shared = at(DetectorKind::Knn)
            .zip(at(DetectorKind::Lof))
            .filter(|&(k, l)| {
                knn_lof(&detectors, k, l).is_some_and(|(a, b)| super::knn_lof::can_share(a, b))
            });
        Self {
            detectors,
            combined_threshold,
            combine,
            shared,
        }
    }

    /// The detectors scored together: each alone, or a KNN and a LOF that share their
    /// searches as a pair (positions in `detectors`).
    fn units(&self) -> Vec<Vec<usize>> {
        let mut units: Vec<Vec<usize>> = (0..self.detectors.len())
            .filter(|i| self.shared.is_none_or(|(k, l)| *i != k && *i != l))
            .map(|i| vec![i])
            .collect();
        units.extend(self.shared.map(|(k, l)| vec![k, l]));
        units
    }

    /// Each detector of `unit` ([`Fitted::units`]) scores the rows of `x`.
    fn score_unit(&self, unit: &[usize], x: ArrayView2<f64>, cancel: &Cancel) -> Vec<Scored> {
        if let [k, l] = unit {
            if let Some((knn, lof)) = knn_lof(&self.detectors, *k, *l) {
                let (a, b) = super::knn_lof::score_together(knn, lof, x, cancel);
                return vec![a, b];
            }
        }
        unit.iter()
            .map(|&i| self.detectors[i].det.score(x, cancel))
            .collect()
    }

    /// Verdicts on every row of `rows` (scaled as the training rows were), made and scored
    /// a block at a time as [`run_lean`] scores: each row's combined score, votes and
    /// verdict are [`Fitted::score`]'s, [`Verdicts::flags`] says which detectors flag it,
    /// and no detector's scores are kept. Its runs are the fitted detectors, in order;
    /// `fit_rows` the rows they were fitted on. `None` for more detectors than the flags
    /// have bits.
    pub fn score_lean(
        &self,
        rows: &dyn Rows,
        fit_rows: usize,
        cancel: &Cancel,
    ) -> Option<Result<Verdicts, DetectError>> {
        if self.detectors.len() > u16::BITS as usize {
            return None;
        }
        let n = rows.count();
        let (mut combined, mut votes, mut flags) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for start in (0..n).step_by(LEAN_BLOCK) {
            let at: Vec<usize> = (start..(start + LEAN_BLOCK).min(n)).collect();
            let v = match self.score(rows.gather(&at).view(), cancel) {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            combined.extend(v.combined);
            votes.extend(v.votes);
            flags.extend((0..at.len()).map(|i| {
                self.detectors
                    .iter()
                    .zip(&v.scores)
                    .enumerate()
                    .filter(|(_, (d, s))| s[i] > d.threshold)
                    .fold(0u16, |bits, (k, _)| bits | 1 << k)
            }));
        }
        let runs = self
            .detectors
            .iter()
            .map(|d| DetectorRun {
                kind: d.kind,
                scores: Vec::new(),
                threshold: d.threshold,
                fit_s: 0.0,
                score_s: 0.0,
                error: None,
            })
            .collect();
        Some(Ok(Verdicts::of(
            runs,
            combined,
            self.combined_threshold,
            votes,
            self.combine,
            (fit_rows, None),
            flags,
        )))
    }

    /// Scores the rows of `x` (scaled as the training rows were).
    pub fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<NewVerdicts, DetectError> {
        let n = x.nrows();
        let mut sum = vec![0.0; n];
        let mut votes = vec![0u8; n];
        let mut by = vec![Vec::new(); n];
        let units = self.units();
        let scored: Vec<Vec<(usize, Vec<f64>)>> = units
            .par_iter()
            .with_max_len(1)
            .map(|unit| {
                let mut out: Vec<Vec<f64>> = unit.iter().map(|_| Vec::with_capacity(n)).collect();
                for start in (0..n).step_by(SCORE_BLOCK) {
                    let end = (start + SCORE_BLOCK).min(n);
                    let block = x.slice(ndarray::s![start..end, ..]);
                    for (o, s) in out.iter_mut().zip(self.score_unit(unit, block, cancel)) {
                        o.extend(s?);
                    }
                }
                // A score that is not a number (a row far outside what the detector was
                // fitted on overflowed it) counts as the most anomalous.
                for s in out.iter_mut().flatten() {
                    if s.is_nan() {
                        *s = f64::INFINITY;
                    }
                }
                Ok(unit.iter().copied().zip(out).collect())
            })
            .collect::<Result<_, DetectError>>()?;
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); self.detectors.len()];
        for (i, s) in scored.into_iter().flatten() {
            per[i] = s;
        }
        for (d, scores) in self.detectors.iter().zip(&per) {
            let ranker = Ranker {
                sorted: &d.sorted,
                index: d.index.clone(),
            };
            for (i, &s) in scores.iter().enumerate() {
                sum[i] += ranker.rank(s);
                if s > d.threshold {
                    votes[i] += 1;
                    by[i].push(d.kind.name());
                }
            }
        }
        let k = self.detectors.len().max(1) as f64;
        let combined: Vec<f64> = sum.iter().map(|s| s / k).collect();
        let flagged = verdicts_of(self.combine, &combined, self.combined_threshold, &votes);
        Ok(NewVerdicts {
            combined,
            votes,
            flagged,
            by,
            scores: per,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    fn cloud_with_outlier() -> Array2<f64> {
        // A deterministic 2-D cloud of 200 points and one far point at the end.
        let mut x = Array2::zeros((201, 2));
        for i in 0..200 {
            let a = i as f64 * 0.61803398875 * std::f64::consts::TAU;
            let r = ((i * 7919) % 100) as f64 / 100.0;
            x[[i, 0]] = r * a.cos();
            x[[i, 1]] = r * a.sin();
        }
        x[[200, 0]] = 25.0;
        x[[200, 1]] = -25.0;
        x
    }

    /// [`cloud_with_outlier`], then a copy of each of its rows `copies`.
    fn cloud_with_copies(copies: &[usize]) -> Array2<f64> {
        let base = cloud_with_outlier();
        ndarray::concatenate(Axis(0), &[base.view(), base.select(Axis(0), copies).view()]).unwrap()
    }

    #[test]
    fn above_the_fit_limit_a_seeded_sample_is_fitted_and_every_row_scored() {
        let x = cloud_with_outlier();
        let train = vec![true; x.nrows()];
        let opts = EnsembleOptions {
            detectors: vec![DetectorKind::Knn, DetectorKind::Ecod],
            fit_limit: Some(120),
            ..Default::default()
        };
        let v = run(&x, &train, &opts, &Cancel::new(), &|_| {}).unwrap();
        assert_eq!((v.fit_rows, v.fit_sampled_from), (120, Some(201)));
        assert_eq!(v.combined.len(), 201);
        assert!(
            v.flagged[200],
            "the far point is scored even when not fitted on"
        );
        // The same seed draws the same sample; another seed another one.
        let again = run(&x, &train, &opts, &Cancel::new(), &|_| {}).unwrap();
        assert_eq!(v.combined, again.combined);
        let other = EnsembleOptions {
            seed: 7,
            ..opts.clone()
        };
        let other = run(&x, &train, &other, &Cancel::new(), &|_| {}).unwrap();
        assert_ne!(v.combined, other.combined);
        // Without a limit, every training row is fitted on.
        let all = EnsembleOptions {
            fit_limit: None,
            ..opts
        };
        let all = run(&x, &train, &all, &Cancel::new(), &|_| {}).unwrap();
        assert_eq!((all.fit_rows, all.fit_sampled_from), (201, None));
    }

    #[test]
    fn knn_and_lof_run_together_as_each_alone() {
        pair_runs_as_each_alone(DetectorKind::Lof, DetectorKind::Knn);
    }

    #[test]
    fn ecod_and_copod_run_together_as_each_alone() {
        pair_runs_as_each_alone(DetectorKind::Copod, DetectorKind::Ecod);
        pair_runs_as_each_alone(DetectorKind::Ecod, DetectorKind::Copod);
    }

    /// Two detectors run as one task (asked in the order `first`, another, `second`)
    /// give each the runs, and as kept the scores of new rows, of each alone.
    fn pair_runs_as_each_alone(first: DetectorKind, second: DetectorKind) {
        let x = cloud_with_outlier();
        let train: Vec<bool> = (0..x.nrows()).map(|i| i % 5 != 0).collect();
        let c = Cancel::new();
        let knn_lof = first == DetectorKind::Lof;
        for fit_limit in [None, Some(90)] {
            let with = |detectors: Vec<DetectorKind>| {
                let opts = EnsembleOptions {
                    detectors,
                    fit_limit,
                    ..Default::default()
                };
                run_keeping(&x, &train, &opts, &c, &|_| {}, true).unwrap()
            };
            // The runs come in the order asked.
            let (both, fitted) = with(vec![first, DetectorKind::Hbos, second]);
            let kinds: Vec<DetectorKind> = both.runs.iter().map(|r| r.kind).collect();
            assert_eq!(kinds, [first, DetectorKind::Hbos, second]);
            for (at, kind) in [(2, second), (0, first)] {
                let (alone, alone_fitted) = with(vec![kind]);
                let (a, b) = (&both.runs[at], &alone.runs[0]);
                assert_eq!((&a.scores, a.threshold), (&b.scores, b.threshold));
                // Kept, each scores new rows as when fitted alone.
                let new = x.slice(ndarray::s![..40, ..]);
                let k = fitted
                    .as_ref()
                    .unwrap()
                    .detectors
                    .iter()
                    .position(|d| d.kind == kind);
                let one = alone_fitted.unwrap().score(new, &c).unwrap();
                let all = fitted.as_ref().unwrap().score(new, &c).unwrap();
                assert_eq!(all.scores[k.unwrap()], one.scores[0]);
                // And as saved and restored: the pair still shares its searches.
                let saved = Fitted::restore(fitted.as_ref().unwrap().save(), x.ncols()).unwrap();
                assert_eq!(saved.shared.is_some(), knn_lof);
                assert_eq!(saved.score(new, &c).unwrap().scores, all.scores);
            }
            assert_eq!(fitted.unwrap().shared.is_some(), knn_lof);
        }
        if !knn_lof {
            return;
        }
        // Fitted on other rows, a KNN and a LOF score apart.
        let opts = |detectors| EnsembleOptions {
            detectors,
            ..Default::default()
        };
        let fit = |x: &Array2<f64>, kind| {
            let (_, f) = run_keeping(
                x,
                &vec![true; x.nrows()],
                &opts(vec![kind]),
                &c,
                &|_| {},
                true,
            )
            .unwrap();
            f.unwrap()
        };
        let other = x.slice(ndarray::s![..150, ..]).to_owned();
        let (mut knn, mut lof) = (fit(&x, DetectorKind::Knn), fit(&other, DetectorKind::Lof));
        let new = x.slice(ndarray::s![100.., ..]);
        let want = [
            knn.score(new, &c).unwrap().scores.remove(0),
            lof.score(new, &c).unwrap().scores.remove(0),
        ];
        let mixed = Fitted::new(
            vec![knn.detectors.remove(0), lof.detectors.remove(0)],
            0.5,
            Combine::Any,
        );
        assert!(mixed.shared.is_none());
        assert_eq!(mixed.score(new, &c).unwrap().scores, want);
    }

    #[test]
    fn far_point_is_flagged_by_every_rule() {
        let x = cloud_with_outlier();
        let train = vec![true; x.nrows()];
        for combine in [Combine::Any, Combine::Votes(5), Combine::Mean] {
            let opts = EnsembleOptions {
                combine,
                ..Default::default()
            };
            let v = run(&x, &train, &opts, &Cancel::new(), &|_| {}).unwrap();
            assert!(v.flagged[200], "{combine}");
            let max = v.combined.iter().cloned().fold(f64::MIN, f64::max);
            assert_eq!(v.combined[200], max, "{combine}");
            assert!(
                v.runs.iter().all(|r| r.ok()),
                "{:?}",
                v.runs.iter().map(|r| &r.error).collect::<Vec<_>>()
            );
            assert!(usize::from(v.votes[200]) >= 8, "votes {}", v.votes[200]);
        }
    }

    #[test]
    fn mean_rule_flags_about_the_contamination() {
        let x = cloud_with_outlier();
        let train = vec![true; x.nrows()];
        let v = run(
            &x,
            &train,
            &EnsembleOptions::default(),
            &Cancel::new(),
            &|_| {},
        )
        .unwrap();
        let n = v.n_flagged();
        assert!((1..=8).contains(&n), "flagged {n} of 201 at 2%");
    }

    #[test]
    fn fitting_on_a_subset_scores_every_row() {
        let x = cloud_with_outlier();
        let mut train = vec![true; x.nrows()];
        train[200] = false;
        let v = run(
            &x,
            &train,
            &EnsembleOptions::default(),
            &Cancel::new(),
            &|_| {},
        )
        .unwrap();
        assert!(v.flagged[200]);
        for r in &v.runs {
            // Its rank among the training rows' scores.
            let below = (0..200).filter(|&j| r.scores[j] < r.scores[200]).count();
            assert!(
                r.ok() && below as f64 / 200.0 >= 0.99,
                "{}: unseen far point above {below} of 200",
                r.kind,
            );
        }
    }

    #[test]
    fn copies_get_the_scores_the_detector_gives_each_row() {
        // 201 distinct rows, then copies of every third one (copies among the training
        // rows and among the rows only scored).
        let copies: Vec<usize> = (0..201).step_by(3).collect();
        let x = cloud_with_copies(&copies);
        let n = x.nrows();
        let cancel = Cancel::new();
        for subset in [false, true] {
            let train: Vec<bool> = (0..n).map(|i| !subset || i % 2 == 0).collect();
            let train_idx: Vec<usize> = (0..n).filter(|&i| train[i]).collect();
            for kind in DetectorKind::ALL {
                let opts = EnsembleOptions {
                    detectors: vec![kind],
                    ..Default::default()
                };
                let v = run(&x, &train, &opts, &cancel, &|_| {}).unwrap();
                let got = &v.runs[0].scores;
                // The detector on its own: fitted on the training rows, its training
                // scores for those rows and `score` for the others.
                let mut det = kind.build(opts.seed);
                let fit = det
                    .fit(x.select(Axis(0), &train_idx).view(), &cancel)
                    .unwrap();
                for (j, &i) in train_idx.iter().enumerate() {
                    let want = fit[j];
                    assert!(
                        (got[i] - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{kind} subset={subset} training row {i}: {} vs {want}",
                        got[i]
                    );
                }
                for i in (0..n).filter(|&i| !train[i]) {
                    let want = det.score(x.select(Axis(0), &[i]).view(), &cancel).unwrap()[0];
                    assert!(
                        (got[i] - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{kind} subset={subset} row {i}: {} vs {want}",
                        got[i]
                    );
                }
                for (c, &i) in copies.iter().enumerate() {
                    if train[i] == train[201 + c]
                        && !matches!(kind, DetectorKind::Knn | DetectorKind::Lof)
                    {
                        assert_eq!(got[i], got[201 + c], "{kind}: copy of row {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_lean_run_gives_the_verdicts_of_a_run() {
        // Copies within and across blocks, among the rows fitted on and the others.
        let copies: Vec<usize> = (0..201).step_by(3).chain((0..201).step_by(7)).collect();
        let x = cloud_with_copies(&copies);
        let n = x.nrows();
        let c = Cancel::new();
        for (label, fit_limit) in [(false, Some(150)), (true, Some(150)), (true, None)] {
            let train: Vec<bool> = (0..n).map(|i| !label || i % 4 != 1).collect();
            for combine in [Combine::Mean, Combine::Any, Combine::Votes(3)] {
                let opts = EnsembleOptions {
                    combine,
                    fit_limit,
                    ..Default::default()
                };
                let want = run(&x, &train, &opts, &c, &|_| {}).unwrap();
                // The row hash, and one that makes equal hashes of unequal rows.
                let hashes: [fn(&[f64]) -> u64; 2] = [crate::neighbors::row_hash, |r| {
                    crate::neighbors::row_hash(r) % 7
                }];
                for (block, hash, keep) in [
                    (16, 0, false),
                    (100, 0, false),
                    (1 << 16, 0, false),
                    (16, 1, false),
                    (100, 1, false),
                    (16, 0, true),
                    (100, 1, true),
                ] {
                    let what = format!(
                        "{combine} fit {fit_limit:?} label {label} block {block} hash {hash} \
                         scores kept {keep}"
                    );
                    let done = std::sync::Mutex::new(Vec::new());
                    let got = run_lean_blocks(
                        &x,
                        &train,
                        &opts,
                        &c,
                        &|r| done.lock().unwrap().push(r.kind),
                        if keep { Keep::Scores } else { Keep::Verdicts },
                        block,
                        hashes[hash],
                    )
                    .unwrap()
                    .0;
                    let bits = |v: &[f64]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got.combined), bits(&want.combined), "{what}");
                    assert_eq!(
                        got.combined_threshold.to_bits(),
                        want.combined_threshold.to_bits(),
                        "{what}"
                    );
                    assert_eq!(got.votes, want.votes, "{what}");
                    assert_eq!(got.flagged, want.flagged, "{what}");
                    assert!(want.n_flagged() > 0, "{what}");
                    for i in 0..n {
                        assert_eq!(got.flagged_by(i), want.flagged_by(i), "{what}: row {i}");
                    }
                    for (g, w) in got.runs.iter().zip(&want.runs) {
                        assert_eq!(
                            (g.kind, g.threshold.to_bits()),
                            (w.kind, w.threshold.to_bits())
                        );
                    }
                    assert_eq!(
                        (got.fit_rows, got.fit_sampled_from),
                        (want.fit_rows, want.fit_sampled_from)
                    );
                    let mut done = done.into_inner().unwrap();
                    done.sort();
                    let mut all = opts.detectors.clone();
                    all.sort();
                    assert_eq!(done, all, "{what}: each detector reported once");
                    // A split keeps no scores unless asked; kept, they are `run`'s.
                    let split = got.fit_rows < n;
                    assert_eq!(got.flags.is_empty(), !split, "{what}");
                    assert_eq!(
                        got.runs.iter().all(|r| r.scores.is_empty()),
                        split && !keep,
                        "{what}"
                    );
                    if keep || !split {
                        for (g, w) in got.runs.iter().zip(&want.runs) {
                            assert_eq!(bits(&g.scores), bits(&w.scores), "{what}: {}", g.kind);
                            assert_eq!(g.n_flagged(), w.n_flagged(), "{what}: {}", g.kind);
                        }
                    }
                    if !keep || block != 16 {
                        continue;
                    }
                    // Kept to score again: each detector's scores of any rows, as `run`'s.
                    let (v, rescore) = run_lean_blocks(
                        &x,
                        &train,
                        &opts,
                        &c,
                        &|_| {},
                        Keep::Rescore,
                        block,
                        hashes[hash],
                    )
                    .unwrap();
                    assert_eq!(bits(&v.combined), bits(&want.combined), "{what}");
                    assert_eq!(rescore.is_some(), split, "{what}");
                    let Some(rescore) = rescore else { continue };
                    let at: Vec<usize> = (0..n).rev().step_by(2).chain([0, 1, 0]).collect();
                    let mut seen = Vec::new();
                    rescore
                        .each(&x, &at, &c, |k, s| {
                            let w: Vec<f64> = at.iter().map(|&i| want.runs[k].scores[i]).collect();
                            assert_eq!(bits(&s), bits(&w), "{what}: {} again", want.runs[k].kind);
                            seen.push(k);
                        })
                        .unwrap();
                    seen.sort();
                    assert_eq!(seen, (0..want.runs.len()).collect::<Vec<_>>(), "{what}");
                }
            }
        }
    }

    #[test]
    fn rows_are_found_distinct_block_by_block_even_when_their_hashes_collide() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        use rand::{Rng, SeedableRng};
        let x = Array2::<f64>::from_shape_fn((300, 2), |_| f64::from(rng.gen_range(0..5u8)));
        let rest: Vec<usize> = (0..300).filter(|i| i % 5 != 0).collect();
        for hash in [
            crate::neighbors::row_hash as fn(&[f64]) -> u64,
            |_| 7,
            |r| r[0] as u64,
        ] {
            let mut seen = Default::default();
            let mut first = Vec::new();
            let mut of = vec![u32::MAX; rest.len()];
            let mut scored = Vec::new();
            for (b, block) in rest.chunks(32).enumerate() {
                let bx = select_rows(x.view(), block);
                let (new, base) = crate::rows::distinct_block(
                    &x,
                    &bx,
                    block,
                    &mut seen,
                    &mut first,
                    &mut of[b * 32..],
                    hash,
                );
                assert_eq!(base + new.len(), first.len());
                scored.extend(new.iter().map(|&p| block[p] as u32));
            }
            assert_eq!(
                scored, first,
                "the rows scored are the distinct rows, in order"
            );
            for (j, &i) in rest.iter().enumerate() {
                let d = of[j] as usize;
                assert_eq!(
                    x.row(first[d] as usize),
                    x.row(i),
                    "row {i} takes an equal row's result"
                );
                assert!(first[d] as usize <= i);
            }
            // Collisions may leave copies among the rows scored, never a row unmatched;
            // without them each distinct row is scored once.
            let distinct: std::collections::HashSet<(u64, u64)> = rest
                .iter()
                .map(|&i| (x[[i, 0]].to_bits(), x[[i, 1]].to_bits()))
                .collect();
            assert!(first.len() >= distinct.len());
            if hash(&[1.0, 2.0]) != hash(&[3.0, 4.0]) && hash(&[1.0, 2.0]) != hash(&[1.0, 4.0]) {
                assert_eq!(first.len(), distinct.len());
            }
        }
    }

    #[test]
    fn rules_parse() {
        assert_eq!(Combine::parse("ANY"), Ok(Combine::Any));
        assert_eq!(Combine::parse("votes:3"), Ok(Combine::Votes(3)));
        assert!(Combine::parse("votes:0").is_err());
        assert!(Combine::parse("most").is_err());
        assert_eq!(rank_in(&[1.0, 2.0, 2.0, 3.0], 2.0), 0.5);
    }

    #[test]
    fn ranks_match_a_plain_search() {
        // Long runs of ties, across index strides, and values outside the range.
        let mut sorted: Vec<f64> = (0..5000).map(|i| f64::from((i / 97) as u32)).collect();
        sorted.extend((0..300).map(|i| 100.0 + f64::from(i) * 0.5));
        let r = Ranker::new(&sorted);
        let plain = |v: f64| {
            let lo = sorted.partition_point(|&s| s < v);
            let hi = sorted.partition_point(|&s| s <= v);
            (lo as f64 + (hi - lo) as f64 / 2.0) / sorted.len() as f64
        };
        let mut v = -3.0;
        while v < 260.0 {
            assert_eq!(r.rank(v), plain(v), "v = {v}");
            v += 0.25;
        }
        assert_eq!(Ranker::new(&[]).partition_point(|s| s < 1.0), 0);
    }

    #[test]
    fn cancelled_job_stops() {
        let x = cloud_with_outlier();
        let c = Cancel::new();
        c.cancel();
        let r = run(
            &x,
            &vec![true; x.nrows()],
            &EnsembleOptions::default(),
            &c,
            &|_| {},
        );
        assert!(matches!(r, Err(DetectError::Cancelled)));
    }
}
