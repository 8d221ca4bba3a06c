//! The analysis as one call: filter → features → detectors → verdicts, with reasons on
//! demand. The command line and the terminal UI both run it; the UI on a worker thread
//! with a [`Cancel`] and a progress callback.

use crate::cancel::Cancel;
use crate::detect::ensemble::{self, DetectorRun, EnsembleOptions, Verdicts};
use crate::detect::DetectError;
use crate::features::{self, FeatureError, FeatureOptions, Matrix};
use crate::filter::{self, Filter};
use crate::ingest::Log;
use crate::reasons::{Explainer, Reason};

/// Everything that decides an analysis besides the log.
#[derive(Debug, Clone, PartialEq)]
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
}

impl Default for Model {
    fn default() -> Self {
        Self {
            filter: Filter::default(),
            train_label: None,
            label_column: filter::LABEL_COLUMN.into(),
            features: None,
            ensemble: EnsembleOptions::default(),
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
}

impl Analysis {
    /// Reasons for matrix row `i`, most unusual first.
    pub fn reasons(&self, i: usize, top: usize) -> Vec<Reason> {
        self.explainer.explain(&self.matrix, i, top)
    }

    /// Matrix rows in order of combined score, highest first (ties by row).
    pub fn ranking(&self) -> Vec<usize> {
        let c = &self.verdicts.combined;
        let mut idx: Vec<usize> = (0..c.len()).collect();
        idx.sort_by(|&a, &b| c[b].total_cmp(&c[a]).then(a.cmp(&b)));
        idx
    }
}

/// Runs filter, features and detectors on a log.
pub fn analyze(
    log: &Log,
    model: &Model,
    cancel: &Cancel,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Analysis, PipelineError> {
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
    let matrix = features::build(frame, &selection, train.as_deref(), &opts)?;
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
    let verdicts = ensemble::run(&matrix.x, &matrix.train, &model.ensemble, cancel, &on_done)?;
    let explainer = Explainer::new(&matrix);
    Ok(Analysis {
        selection,
        matrix,
        verdicts,
        explainer,
    })
}
