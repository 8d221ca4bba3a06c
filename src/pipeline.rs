//! The analysis as one call: filter → features → detectors → verdicts, with reasons on
//! demand. The command line and the terminal UI both run it; the UI on a worker thread
//! with a [`Cancel`] and a progress callback.

use crate::cancel::Cancel;
use crate::detect::ensemble::{self, DetectorRun, EnsembleOptions, Verdicts};
use crate::detect::DetectError;
use crate::features::{self, FeatureError, FeatureOptions, Matrix};
use crate::filter::{self, Filter};
use crate::hosts::context::Context;
use crate::hosts::evidence::Evidence;
use crate::hosts::Behaviours;
use crate::ingest::Log;
use crate::reasons::{Explainer, Reason};

/// Everything that decides an analysis besides the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Model {
    /// Which rows.
    pub filter: Filter,
    /// Fit on rows with this label only (and score all), as the seed fit on benign rows.
    pub train_label: Option<String>,
    /// The label column (for training on a label and for evaluation).
    pub label_column: String,
    /// Features; `None` takes [`FeatureOptions::default_for`] the log.
    pub features: Option<FeatureOptions>,
    /// Detectors and verdict rule.
    pub ensemble: EnsembleOptions,
    /// Whether the failure evidence of each row's hosts enters its combined score and
    /// verdict; `false` judges rows alone, as the seed did. (Behaviour scores rank hosts and
    /// name reasons either way.)
    pub hosts: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            filter: Filter::default(),
            train_label: None,
            label_column: filter::LABEL_COLUMN.into(),
            features: None,
            ensemble: EnsembleOptions::default(),
            hosts: true,
        }
    }
}

/// Where a running analysis is.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Building the feature matrix.
    Features,
    /// Detectors running; `done` of `total` finished, the last one named.
    Detector {
        /// The detector that just finished.
        name: &'static str,
        /// Seconds it took to fit and score.
        seconds: f64,
        /// Detectors finished.
        done: usize,
        /// Detectors in all.
        total: usize,
    },
}

/// Why an analysis could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    /// The matrix could not be built.
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The detectors failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The training label cannot be used.
    #[error("{0}")]
    Label(String),
    /// The embedding or clustering could not run.
    #[error("{0}")]
    Stage(String),
}

impl PipelineError {
    /// Whether the job was cancelled (not a failure to show).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PipelineError::Detect(DetectError::Cancelled))
    }
}

/// The result of an analysis.
pub struct Analysis {
    /// The frame rows kept by the filter.
    pub selection: Vec<u32>,
    /// The matrix (its `rows` map matrix rows to frame rows).
    pub matrix: Matrix,
    /// Scores and verdicts per matrix row.
    pub verdicts: Verdicts,
    explainer: Explainer,
    /// The selected rows grouped by host, pair and service (its rows are `selection`).
    pub context: Context,
    /// Behaviour scores of hosts, pairs and rows (rows as in `context`).
    pub behaviours: Behaviours,
    /// Failure evidence of rows (rows as in `context`).
    pub evidence: Evidence,
    /// Whether the failure evidence entered the scores and verdicts ([`Model::hosts`]).
    pub host_evidence: bool,
    /// What gives each detector's scores again when its runs keep none
    /// ([`analyze_views`]).
    rescore: Option<std::sync::Arc<ensemble::Rescore>>,
}

impl Analysis {
    /// An analysis made of its parts (the window of a followed log, [`crate::live`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        selection: Vec<u32>,
        matrix: Matrix,
        verdicts: Verdicts,
        explainer: Explainer,
        context: Context,
        behaviours: Behaviours,
        evidence: Evidence,
        host_evidence: bool,
    ) -> Self {
        Self {
            selection,
            matrix,
            verdicts,
            explainer,
            context,
            behaviours,
            evidence,
            host_evidence,
            rescore: None,
        }
    }

    /// Each detector's scores of the matrix rows `at`, a detector (or a pair scored
    /// together) at a time: `f(k, scores)` for each run `k` that did not fail, in no set
    /// order. The scores its runs hold, or, when they hold none ([`analyze_views`]), the
    /// same scores given again by the fitted detectors, the rows made a block at a time.
    /// Nothing for a lean analysis that keeps neither ([`analyze_lean`]).
    pub fn each_detector_scores(
        &self,
        at: &[usize],
        cancel: &Cancel,
        mut f: impl FnMut(usize, Vec<f64>),
    ) -> Result<(), DetectError> {
        match &self.rescore {
            Some(r) => r.each(&self.matrix, at, cancel, f),
            None => {
                for (k, r) in self.verdicts.runs.iter().enumerate() {
                    if r.ok() && !r.scores.is_empty() {
                        f(k, at.iter().map(|&i| r.scores[i]).collect());
                    }
                }
                Ok(())
            }
        }
    }

    /// [`Analysis::each_detector_scores`], in the order of the runs: each run that did not
    /// fail, and its scores of the rows `at`.
    pub fn detector_scores(
        &self,
        at: &[usize],
        cancel: &Cancel,
    ) -> Result<Vec<(&DetectorRun, Vec<f64>)>, DetectError> {
        let mut by_run: Vec<Option<Vec<f64>>> = vec![None; self.verdicts.runs.len()];
        self.each_detector_scores(at, cancel, |k, s| by_run[k] = Some(s))?;
        Ok(self
            .verdicts
            .runs
            .iter()
            .zip(by_run)
            .filter_map(|(r, s)| Some((r, s?)))
            .collect())
    }

    /// Reasons for matrix row `i`, most unusual first: its hosts' failure evidence and the
    /// behaviour it takes part in (unless rows are judged alone), then its most unusual
    /// features.
    pub fn reasons(&self, i: usize, top: usize) -> Vec<Reason> {
        let raw = &self.matrix.raw;
        self.reasons_with(i, &|j| raw[j].number(i), top)
    }

    /// [`Analysis::reasons`] of each of the matrix rows `rows`, for rows written together:
    /// their numeric features are read for the block at once (row by row, a large log's
    /// rows in score order would each miss the caches).
    pub fn reasons_of(&self, rows: &[usize], top: usize) -> Vec<Vec<Reason>> {
        use rayon::prelude::*;
        let numbers: Vec<Option<Vec<f64>>> = self
            .matrix
            .raw
            .par_iter()
            .map(|r| match r {
                crate::features::Raw::Num(v) => Some(v.gather(rows)),
                crate::features::Raw::Cat { .. } => None,
            })
            .collect();
        rows.par_iter()
            .enumerate()
            .map(|(p, &i)| {
                let number = |k: usize| numbers[k].as_ref().map_or(0.0, |v| v[p]);
                self.reasons_with(i, &number, top)
            })
            .collect()
    }

    /// [`Analysis::reasons`] with each numeric feature's value of the row given by
    /// `number` (feature index to value).
    fn reasons_with(&self, i: usize, number: &dyn Fn(usize) -> f64, top: usize) -> Vec<Reason> {
        let mut out = Vec::new();
        if self.host_evidence {
            let k = self.matrix.keep[i];
            if let Some(text) = self.evidence.reason(&self.context, k) {
                out.push(Reason {
                    feature: "hosts".into(),
                    text,
                    share: 0.0,
                });
            }
            if self.behaviours.row[k] >= crate::hosts::REASON_MIN {
                if let Some(text) = self.behaviours.row_reason(&self.context, k) {
                    out.push(Reason {
                        feature: "hosts".into(),
                        text,
                        share: 0.0,
                    });
                }
            }
        }
        out.truncate(top);
        let rest = top - out.len();
        let m = &self.matrix;
        out.extend(
            self.explainer
                .explain_with(&m.features, &m.raw, i, number, rest),
        );
        out
    }

    /// The reference distributions reasons are given against.
    pub fn explainer(&self) -> &Explainer {
        &self.explainer
    }

    /// Per selected row (as the context's rows): its combined score and whether it is
    /// flagged (rows the matrix left out: 0 and not flagged).
    pub fn by_selection(&self) -> (Vec<f64>, Vec<bool>) {
        self.by_selection_or(0.0)
    }

    /// [`Analysis::by_selection`], rows the matrix left out scoring `unset`.
    fn by_selection_or(&self, unset: f64) -> (Vec<f64>, Vec<bool>) {
        let n = self.selection.len();
        let mut score = vec![unset; n];
        let mut flagged = vec![false; n];
        for (i, &k) in self.matrix.keep.iter().enumerate() {
            score[k] = self.verdicts.combined[i];
            flagged[k] = self.verdicts.flagged[i];
        }
        (score, flagged)
    }

    /// Gives the analysed sources the DNS behaviours their addresses have in a dns log
    /// loaded beside the analysed one ([`crate::hosts::DnsHosts`]).
    pub fn add_dns_hosts(&mut self, dns: &crate::hosts::DnsHosts) {
        self.behaviours.add_dns(&self.context, dns);
    }

    /// Sources, destinations or pairs ranked by host score.
    pub fn hosts(&self, unit: crate::hosts::Unit) -> Vec<crate::hosts::Ranked> {
        let (score, flagged) = self.host_row_scores();
        crate::hosts::rank(&self.context, &self.behaviours, unit, &score, &flagged)
    }

    /// Sources, destinations and pairs ranked by host score (in that order), side by side.
    pub fn hosts_all(&self) -> [Vec<crate::hosts::Ranked>; 3] {
        use crate::hosts::{percentiles, rank_by_percentile, Unit};
        let (score, flagged) = self.host_row_scores();
        let pct = percentiles(&score);
        let rank = |u| rank_by_percentile(&self.context, &self.behaviours, u, &pct, &flagged);
        let (src, (dst, pair)) = rayon::join(
            || rank(Unit::Src),
            || rayon::join(|| rank(Unit::Dst), || rank(Unit::Pair)),
        );
        [src, dst, pair]
    }

    /// Per selected row, the score hosts are ranked by (NaN for rows the matrix left out:
    /// they count among a host's connections, not in its anomaly) and the verdict.
    fn host_row_scores(&self) -> (Vec<f64>, Vec<bool>) {
        self.by_selection_or(f64::NAN)
    }

    /// Matrix rows in order of combined score, highest first (ties by row).
    pub fn ranking(&self) -> Vec<usize> {
        let c = &self.verdicts.combined;
        use rayon::slice::ParallelSliceMut;
        let mut idx: Vec<usize> = (0..c.len()).collect();
        // Every key differs (ties by row): an unstable sort gives the one order.
        idx.par_sort_unstable_by(|&a, &b| c[b].total_cmp(&c[a]).then(a.cmp(&b)));
        idx
    }

    /// The rows `keep` keeps, in [`Analysis::ranking`]'s order: each row's score made a
    /// key that orders as the score, sorted with its row in pairs held side by side (a
    /// sort of row numbers looks each score up at every comparison, a cache miss apiece
    /// on a large log).
    pub fn ranked(&self, keep: impl Fn(usize) -> bool + Sync) -> Vec<u32> {
        let c = &self.verdicts.combined;
        // Highest score first: the key's complement.
        sorted_by_key(c.len(), keep, |i| !total_key(c[i]))
            .into_iter()
            .map(|(_, i)| i)
            .collect()
    }
}

/// The rows `0..n` that `keep` keeps, as (key, row) pairs in ascending order of key, then
/// row: made and sorted side by side on both cores (a sort of row numbers would look each
/// key's value up at every comparison, a cache miss apiece on a large log).
pub fn sorted_by_key(
    n: usize,
    keep: impl Fn(usize) -> bool + Sync,
    key: impl Fn(usize) -> i64 + Sync,
) -> Vec<(i64, u32)> {
    use rayon::prelude::*;
    let mut keyed: Vec<(i64, u32)> = (0..n)
        .into_par_iter()
        .filter(|&i| keep(i))
        .map(|i| (key(i), i as u32))
        .collect();
    // Every pair differs (ties by row): an unstable sort gives the one order.
    keyed.par_sort_unstable();
    keyed
}

/// An integer that orders as `x` does in [`f64::total_cmp`] (its bits, the magnitude's
/// reversed for negative numbers, as the standard library's own comparison makes them).
pub fn total_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// Runs filter, features and detectors on a log. The matrix's scaled rows are not held:
/// they are made again from the log's values when read ([`Matrix::rows_x`]), a block at
/// a time by the detectors and the views.
pub fn analyze(
    log: &Log,
    model: &Model,
    cancel: &Cancel,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Analysis, PipelineError> {
    analyze_keeping(log, model, cancel, progress, false).map(|(a, _)| a)
}

/// [`analyze`] for an analysis that is only read for its verdicts and reasons (`zsift
/// score`): the same combined scores, votes, verdicts and reasons, but no detector's
/// scores are kept ([`ensemble::run_lean`]) when the detectors fit on a sample.
pub fn analyze_lean(log: &Log, model: &Model, cancel: &Cancel) -> Result<Analysis, PipelineError> {
    run_analysis(log, model, cancel, &|_| {}, Hold::Lean).map(|(a, _)| a)
}

/// [`analyze`] for the terminal UI: the same analysis, but each detector's scores of
/// every row (8 bytes a row each) are not held. The views need only which detectors flag
/// each row; the evaluation and exports have them scored again by the fitted detectors
/// ([`Analysis::each_detector_scores`]).
pub fn analyze_views(
    log: &Log,
    model: &Model,
    cancel: &Cancel,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Analysis, PipelineError> {
    run_analysis(log, model, cancel, progress, Hold::Views).map(|(a, _)| a)
}

/// What an analysis holds.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    /// The matrix's rows, every detector's scores and the fitted detectors, to score rows
    /// that arrive later ([`crate::live`]).
    Held,
    /// Every detector's scores, the matrix's rows made when read ([`analyze`]: the views
    /// read the rows a block at a time).
    Scores,
    /// The fitted detectors to score the rows again ([`analyze_views`]).
    Views,
    /// Neither ([`analyze_lean`]).
    Lean,
}

/// [`analyze`], keeping the fitted detectors (when `keep`, with the matrix's rows) to
/// score rows that arrive later ([`crate::live`]).
pub fn analyze_keeping(
    log: &Log,
    model: &Model,
    cancel: &Cancel,
    progress: &(dyn Fn(Progress) + Sync),
    keep: bool,
) -> Result<(Analysis, Option<ensemble::Fitted>), PipelineError> {
    let hold = if keep { Hold::Held } else { Hold::Scores };
    run_analysis(log, model, cancel, progress, hold)
}

/// [`analyze_keeping`] and [`analyze_lean`].
fn run_analysis(
    log: &Log,
    model: &Model,
    cancel: &Cancel,
    progress: &(dyn Fn(Progress) + Sync),
    hold: Hold,
) -> Result<(Analysis, Option<ensemble::Fitted>), PipelineError> {
    let frame = &log.frame;
    let selection = model.filter.select(frame);
    if selection.is_empty() {
        return Err(
            FeatureError::NoRows(format!(" ({} matches no row)", model.filter.describe())).into(),
        );
    }
    let train = match &model.train_label {
        Some(l) => Some(
            filter::label_mask(frame, &selection, &model.label_column, l)
                .map_err(PipelineError::Label)?,
        ),
        None => None,
    };
    progress(Progress::Features);
    let opts = model
        .features
        .clone()
        .unwrap_or_else(|| FeatureOptions::default_for(frame));
    crate::memory::trace("selection");
    let context = Context::build(frame, &selection);
    crate::memory::release();
    crate::memory::trace("context");
    let build = match hold {
        Hold::Held => features::build,
        Hold::Scores | Hold::Views | Hold::Lean => features::build_lean,
    };
    let matrix = build(frame, &selection, train.as_deref(), &opts, Some(&context))?;
    crate::memory::release();
    crate::memory::trace("features");
    cancel.check().map_err(DetectError::from)?;
    let total = model.ensemble.detectors.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let on_done = |r: &DetectorRun| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(Progress::Detector {
            name: r.kind.name(),
            seconds: r.fit_s + r.score_s,
            done: n,
            total,
        });
    };
    // The behaviours and the evidence need only the context: they are worked out while
    // the detectors run (whose longest, the VAE's training, leaves a core free for most of
    // its time).
    let ((behaviours, evidence), verdicts) = rayon::join(
        || (Behaviours::of(&context), Evidence::of(&context)),
        || match hold {
            Hold::Held => ensemble::run_keeping(
                &matrix.x,
                &matrix.train,
                &model.ensemble,
                cancel,
                &on_done,
                true,
            )
            .map(|(v, f)| (v, f, None)),
            Hold::Scores | Hold::Views | Hold::Lean => ensemble::run_lean(
                &matrix,
                &matrix.train,
                &model.ensemble,
                cancel,
                &on_done,
                match hold {
                    Hold::Scores => ensemble::Keep::Scores,
                    Hold::Views => ensemble::Keep::Rescore,
                    _ => ensemble::Keep::Verdicts,
                },
            )
            .map(|(v, r)| (v, None, r)),
        },
    );
    let (mut verdicts, fitted, rescore) = verdicts?;
    crate::memory::trace("detectors, behaviours and evidence");
    if model.hosts {
        verdicts.add_evidence(&evidence.nats, &matrix.keep);
    }
    crate::memory::release();
    let explainer = Explainer::of_rows(
        &matrix,
        &ensemble::fit_rows(&matrix.train, &model.ensemble).0,
    );
    crate::memory::trace("reasons' references");
    Ok((
        Analysis {
            selection,
            matrix,
            verdicts,
            explainer,
            context,
            behaviours,
            evidence,
            host_evidence: model.hosts,
            rescore: rescore.map(std::sync::Arc::new),
        },
        fitted,
    ))
}

/// Settings of the embedding and clustering stages.
#[derive(Debug, Clone, PartialEq)]
pub struct LandscapeOptions {
    /// Run UMAP (PCA always runs: it is cheap).
    pub umap: bool,
    /// UMAP's parameters (its sample limit included).
    pub umap_params: crate::embed::UmapParams,
    /// HDBSCAN's parameters.
    pub hdbscan: crate::cluster::HdbscanParams,
    /// Above this many rows in a subset, HDBSCAN clusters a seeded sample of this size and
    /// every other row takes the label of its nearest sampled row.
    pub cluster_limit: usize,
    /// Which subsets to cluster (default all three).
    pub subsets: Vec<Subset>,
}

impl Default for LandscapeOptions {
    fn default() -> Self {
        Self {
            umap: true,
            umap_params: crate::embed::UmapParams::default(),
            hdbscan: crate::cluster::HdbscanParams::default(),
            cluster_limit: 100_000,
            subsets: Subset::ALL.to_vec(),
        }
    }
}

/// Which rows a clustering covers, as the seed notebook clustered them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Every analysed row.
    All,
    /// The flagged rows.
    Anomalous,
    /// The rows not flagged.
    Normal,
}

impl Subset {
    /// All three, in display order.
    pub const ALL: [Subset; 3] = [Subset::All, Subset::Anomalous, Subset::Normal];

    /// Lowercase name (`all`, `anomalous`, `normal`).
    pub fn name(self) -> &'static str {
        match self {
            Subset::All => "all",
            Subset::Anomalous => "anomalous",
            Subset::Normal => "normal",
        }
    }
}

/// HDBSCAN on one subset of the rows, and its statistics.
#[derive(Debug, Clone)]
pub struct SubsetClusters {
    /// Which subset.
    pub subset: Subset,
    /// Matrix rows in it.
    pub rows: Vec<u32>,
    /// Cluster label per row of `rows` (−1 noise).
    pub labels: Vec<i32>,
    /// Number of clusters.
    pub count: usize,
    /// `Some(n)` when HDBSCAN ran on a sample of n rows and the others took their nearest
    /// sampled row's label.
    pub sampled: Option<usize>,
    /// Per-cluster statistics.
    pub stats: Vec<crate::cluster::stats::ClusterStats>,
    /// Flagged rows in each cluster of `stats` (in its order), counted once rather than
    /// on every frame that shows them.
    pub flagged: Vec<usize>,
    /// Rows labelled noise.
    pub noise: usize,
}

/// The 2-D views and the clusters of an analysis.
#[derive(Debug, Clone)]
pub struct Landscape {
    /// PCA to 2-D, one point per matrix row.
    pub pca: crate::embed::Projection,
    /// UMAP to 2-D, when it ran.
    pub umap: Option<crate::embed::Embedding>,
    /// Clusters of all, anomalous and normal rows (a subset with no rows is left out).
    pub subsets: Vec<SubsetClusters>,
    /// The smallest and largest x and y of the PCA and of the UMAP points (the Scatter
    /// tab's axes, found once rather than on every frame).
    pub bounds: [[f64; 4]; 2],
}

/// The smallest and largest x, then y, of 2-D points.
fn bounds<T: Copy + Into<f64>>(points: &ndarray::Array2<T>) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MIN, f64::MAX, f64::MIN];
    for p in points.outer_iter() {
        let (x, y) = (p[0].into(), p[1].into());
        b[0] = b[0].min(x);
        b[1] = b[1].max(x);
        b[2] = b[2].min(y);
        b[3] = b[3].max(y);
    }
    b
}

impl Landscape {
    /// The clustering of a subset.
    pub fn subset(&self, s: Subset) -> Option<&SubsetClusters> {
        self.subsets.iter().find(|c| c.subset == s)
    }

    /// Cluster label per matrix row from the clustering of all rows.
    pub fn labels_all(&self) -> Option<&[i32]> {
        self.subset(Subset::All).map(|c| c.labels.as_slice())
    }

    /// Per-cluster statistics by subset name, for exports.
    pub fn stats_by_subset(&self) -> Vec<(String, Vec<crate::cluster::stats::ClusterStats>)> {
        self.subsets
            .iter()
            .map(|c| (c.subset.name().to_string(), c.stats.clone()))
            .collect()
    }
}

/// Stages of [`landscape`], for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandscapeStage {
    /// PCA.
    Pca,
    /// UMAP.
    Umap,
    /// HDBSCAN on a subset.
    Hdbscan(Subset),
    /// UMAP and HDBSCAN on every subset, side by side (logs up to the cluster limit).
    UmapAndHdbscan,
}

/// HDBSCAN on the matrix rows `rows`, as the landscape runs it: above
/// `opts.cluster_limit` rows, on a seeded sample of that many, every other row taking the
/// label of its nearest sampled row. Gives the labels (one per row of `rows`), the number
/// of clusters, and the sample size if sampled.
pub fn cluster_rows(
    x: &dyn crate::rows::Rows,
    rows: &[usize],
    opts: &LandscapeOptions,
    cancel: &Cancel,
) -> Result<(Vec<i32>, usize, Option<usize>), PipelineError> {
    let d = if rows.len() > opts.cluster_limit {
        crate::rows::distinct_all(x).map_err(|e| PipelineError::Stage(format!("hdbscan: {e}")))?
    } else {
        Default::default()
    };
    let rows: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    cluster_rows_with(x, &rows, &d, opts, cancel)
}

/// [`cluster_rows`] with the distinct rows of every row of `x` found already (needed only
/// above `opts.cluster_limit` rows).
fn cluster_rows_with(
    x: &dyn crate::rows::Rows,
    rows: &[u32],
    distinct: &crate::rows::Distinct,
    opts: &LandscapeOptions,
    cancel: &Cancel,
) -> Result<(Vec<i32>, usize, Option<usize>), PipelineError> {
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let to_err = |e: crate::cluster::ClusterError| match e {
        crate::cluster::ClusterError::Cancelled => PipelineError::Detect(DetectError::Cancelled),
        crate::cluster::ClusterError::Input(m) => PipelineError::Stage(format!("hdbscan: {m}")),
    };
    if rows.len() <= opts.cluster_limit {
        let sub = x.gather(&rows.iter().map(|&r| r as usize).collect::<Vec<_>>());
        let c = crate::cluster::hdbscan(sub.view(), &opts.hdbscan, cancel).map_err(to_err)?;
        return Ok((c.labels, c.count, None));
    }
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(opts.umap_params.seed);
    let mut pick: Vec<usize> = sample(&mut rng, rows.len(), opts.cluster_limit).into_vec();
    pick.sort_unstable();
    let sample_rows: Vec<usize> = pick.iter().map(|&i| rows[i] as usize).collect();
    let sub = x.gather(&sample_rows);
    let c = crate::cluster::hdbscan(sub.view(), &opts.hdbscan, cancel).map_err(to_err)?;
    let tree = crate::neighbors::KdTree::build(sub.view()).with_leaf_columns();
    drop(sub);
    // Equal rows have the same nearest sampled row: each distinct row among `rows` is
    // looked up once (a scan's or a beacon's rows are mostly copies of a few), a block
    // at a time, so that no copy of the whole matrix is made.
    let mut label_of = vec![-1i32; distinct.first.len()];
    let mut seen = vec![false; distinct.first.len()];
    let mut needed: Vec<u32> = Vec::new();
    for &r in rows {
        let g = distinct.of[r as usize];
        if !std::mem::replace(&mut seen[g as usize], true) {
            needed.push(g);
        }
    }
    drop(seen);
    for block in needed.chunks(crate::rows::BLOCK) {
        let at: Vec<usize> = block
            .iter()
            .map(|&g| distinct.first[g as usize] as usize)
            .collect();
        let q = x.gather(&at);
        let q = crate::neighbors::row_major(q.view());
        let nn = tree
            .kneighbors(&q, 1, false, cancel)
            .map_err(|_| PipelineError::Detect(DetectError::Cancelled))?;
        for (i, &g) in block.iter().enumerate() {
            label_of[g as usize] = c.labels[nn.idx_of(i)[0]];
        }
    }
    let labels = rows
        .iter()
        .map(|&r| label_of[distinct.of[r as usize] as usize])
        .collect();
    Ok((labels, c.count, Some(opts.cluster_limit)))
}

/// Embeds and clusters the rows of an analysis: PCA and UMAP to 2-D, HDBSCAN on all,
/// anomalous and normal rows (those of `opts.subsets`), and per-cluster statistics over
/// the raw numeric features and the categorical fields.
pub fn landscape(
    log: &Log,
    a: &Analysis,
    opts: &LandscapeOptions,
    cancel: &Cancel,
    progress: &(dyn Fn(LandscapeStage) + Sync),
) -> Result<Landscape, PipelineError> {
    let embed_err = |e: crate::embed::EmbedError| match e {
        crate::embed::EmbedError::Cancelled => PipelineError::Detect(DetectError::Cancelled),
        other => PipelineError::Stage(other.to_string()),
    };
    let x = &a.matrix;
    progress(LandscapeStage::Pca);
    // The distinct rows, found once for UMAP and for labelling the rows HDBSCAN's
    // samples leave out, in the pass that sums PCA's columns.
    let n = a.matrix.rows.len();
    let wanted = |s: Subset| opts.subsets.contains(&s);
    let (pca, distinct) = if opts.umap || (n > opts.cluster_limit && !opts.subsets.is_empty()) {
        // Refused before the pass, as PCA refuses it (no rows, too many columns).
        crate::embed::pca::check(x).map_err(embed_err)?;
        let mut sums = crate::embed::ColumnSums::new(crate::rows::Rows::width(x));
        let all: Vec<usize> = (0..n).collect();
        let distinct = crate::rows::distinct_visiting(x, &all, |b| sums.add(b))
            .map_err(|e| PipelineError::Stage(format!("pca: {e}")))?;
        drop(all);
        let pca = crate::embed::pca_rows_summed(x, sums, cancel).map_err(embed_err)?;
        (pca, distinct)
    } else {
        let pca = crate::embed::pca_rows(x, cancel).map_err(embed_err)?;
        (pca, Default::default())
    };
    crate::memory::trace("PCA");
    // Up to the cluster limit the stages run side by side (below) and say so once.
    let side_by_side = n <= opts.cluster_limit;
    let run_umap = || -> Result<Option<crate::embed::Embedding>, PipelineError> {
        if !opts.umap {
            return Ok(None);
        }
        if !side_by_side {
            progress(LandscapeStage::Umap);
        }
        let e = crate::embed::umap_with(x, &distinct, &opts.umap_params, cancel);
        Ok(Some(e.map_err(embed_err)?))
    };
    let numeric: Vec<String> = a
        .matrix
        .features
        .iter()
        .filter(|f| f.encoding == crate::features::Encoding::Numeric)
        .map(|f| f.column.clone())
        .collect();
    let one = |s: Subset| -> Result<Option<SubsetClusters>, PipelineError> {
        let rows: Vec<u32> = (0..a.matrix.rows.len() as u32)
            .filter(|&i| match s {
                Subset::All => true,
                Subset::Anomalous => a.verdicts.flagged[i as usize],
                Subset::Normal => !a.verdicts.flagged[i as usize],
            })
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        if !side_by_side {
            progress(LandscapeStage::Hdbscan(s));
        }
        let (labels, count, sampled) = cluster_rows_with(x, &rows, &distinct, opts, cancel)?;
        let frame_rows: Vec<u32> = rows.iter().map(|&i| a.matrix.rows[i as usize]).collect();
        let stats =
            crate::cluster::stats::cluster_stats(&log.frame, &frame_rows, &labels, &numeric);
        drop(frame_rows);
        let mut by_label: std::collections::HashMap<i32, usize> = Default::default();
        for (&i, &lab) in rows.iter().zip(&labels) {
            if a.verdicts.flagged[i as usize] {
                *by_label.entry(lab).or_default() += 1;
            }
        }
        let flagged = stats
            .iter()
            .map(|c| by_label.get(&c.cluster).copied().unwrap_or(0))
            .collect();
        let noise = labels.iter().filter(|&&x| x < 0).count();
        Ok(Some(SubsetClusters {
            subset: s,
            rows,
            flagged,
            noise,
            labels,
            count,
            sampled,
            stats,
        }))
    };
    let (umap, subsets) = if side_by_side {
        // Every subset is clustered whole, and at this size each stage's memory is small
        // (a few tens of MB per 100k rows): UMAP and the three clusterings run side by
        // side, filling the gaps that each leaves on the cores (its serial steps: the
        // neighbour graph's weights, single linkage, the condensed tree, the statistics).
        // Each is deterministic whatever runs beside it.
        use rayon::prelude::*;
        progress(LandscapeStage::UmapAndHdbscan);
        let (umap, subsets) = rayon::join(run_umap, || {
            Subset::ALL
                .into_par_iter()
                .filter(|&s| wanted(s))
                .map(one)
                .collect::<Result<Vec<_>, _>>()
        });
        let (umap, subsets) = (umap?, subsets?);
        crate::memory::release();
        crate::memory::trace("UMAP, HDBSCAN and cluster statistics");
        (umap, subsets.into_iter().flatten().collect())
    } else {
        let umap = run_umap()?;
        crate::memory::release();
        crate::memory::trace("UMAP");
        let mut subsets = Vec::new();
        if wanted(Subset::All) {
            subsets.extend(one(Subset::All)?);
            crate::memory::release();
        }
        // The anomalous rows, then the normal ones: each clustering uses both cores in
        // its searches, and side by side their copies of the rows' labels and values
        // would add up.
        for s in [Subset::Anomalous, Subset::Normal] {
            if wanted(s) {
                subsets.extend(one(s)?);
                crate::memory::release();
            }
        }
        crate::memory::release();
        crate::memory::trace("HDBSCAN and cluster statistics");
        (umap, subsets)
    };
    let bounds = [
        bounds(&pca.points),
        umap.as_ref().map_or([0.0; 4], |u| bounds(&u.points)),
    ];
    Ok(Landscape {
        pca,
        umap,
        subsets,
        bounds,
    })
}
