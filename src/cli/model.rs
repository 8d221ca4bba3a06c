//! Options shared by the commands that run the detectors.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cancel::Cancel;
use crate::detect::ensemble::{Combine, EnsembleOptions};
use crate::detect::DetectorKind;
use crate::features::{FeatureOptions, Nulls, Scaling};
use crate::filter::{Filter, IpMatch, LABEL_COLUMN};
use crate::ingest::Log;
use crate::pipeline::{self, Analysis, Model};

use super::CliError;

/// Feature scaling on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScalingArg {
    /// Divide each column by its max (the seed notebook's).
    Max,
    /// log1p of numeric columns, then median / IQR of the training rows.
    Robust,
}

/// Unset numeric values on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NullsArg {
    /// Leave such rows out (the seed notebook's).
    Drop,
    /// Count unset as 0.
    Zero,
}

/// Filters and model settings.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Keep rows of this service (repeat for several; `-` for unset).
    #[arg(long = "service", value_name = "S")]
    pub services: Vec<String>,
    /// Keep rows whose source or destination is this address or network (repeatable).
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<String>,
    /// Keep rows between these two hosts, in either direction: `A,B` (repeatable).
    #[arg(long = "pair", value_name = "A,B")]
    pub pairs: Vec<String>,
    /// Fit on rows with this label only and score all rows.
    #[arg(long, value_name = "L")]
    pub train_label: Option<String>,
    /// The label column.
    #[arg(long, value_name = "COL", default_value = LABEL_COLUMN)]
    pub label_col: String,
    /// Detectors, comma-separated, or `all`.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "all",
        value_delimiter = ',',
        value_parser = detector_names()
    )]
    pub detectors: Vec<String>,
    /// Expected share of anomalies; each detector flags this share of its training rows.
    #[arg(long, value_name = "C", default_value_t = 0.02)]
    pub contamination: f64,
    /// Verdict rule: `any` detector, at least `votes:M`, or the `mean` rank score.
    #[arg(long, value_name = "RULE", default_value = "mean")]
    pub combine: String,
    /// Features, comma-separated column names (`name:num` / `name:cat` to choose the
    /// encoding). Default: the conn.log byte, packet and duration counts plus proto,
    /// service, conn_state, history and id.resp_p.
    #[arg(long, value_name = "LIST")]
    pub features: Option<String>,
    /// Scaling of the features.
    #[arg(long, value_enum, default_value = "robust")]
    pub scaling: ScalingArg,
    /// Rows with an unset numeric feature.
    #[arg(long, value_enum, default_value = "zero")]
    pub nulls: NullsArg,
    /// Seed of the randomised detectors.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fit the detectors on a seeded sample of at most N training rows and score every
    /// row (0: fit on all of them).
    #[arg(long, value_name = "N", default_value_t = crate::detect::ensemble::FIT_LIMIT)]
    pub fit_limit: usize,
    /// Judge each row alone, as the seed notebook did: leave the failure evidence of its
    /// hosts out of its score and verdict.
    #[arg(long)]
    pub rows_only: bool,
    /// Score with a model saved by `zsift fit --save` instead of fitting one on the log:
    /// its filter, features, detectors and thresholds replace the options above.
    #[arg(
        long = "model",
        value_name = "FILE",
        conflicts_with_all = [
            "services", "ips", "pairs", "train_label", "detectors", "contamination",
            "combine", "features", "scaling", "nulls", "seed", "fit_limit", "rows_only",
        ]
    )]
    pub model_file: Option<PathBuf>,
}

impl ModelArgs {
    /// The model and the analysis of `log`: fitted on it, or, with `--model`, every row
    /// scored by the saved model.
    pub fn analyze(&self, log: &Log, cancel: &Cancel) -> Result<(Model, Analysis), CliError> {
        self.analyze_holding(log, cancel, false)
    }

    /// [`ModelArgs::analyze`] for the verdicts and reasons only
    /// ([`pipeline::analyze_lean`], [`crate::live::analyze_saved_lean`]).
    pub fn analyze_lean(&self, log: &Log, cancel: &Cancel) -> Result<(Model, Analysis), CliError> {
        self.analyze_holding(log, cancel, true)
    }

    fn analyze_holding(
        &self,
        log: &Log,
        cancel: &Cancel,
        lean: bool,
    ) -> Result<(Model, Analysis), CliError> {
        let Some(path) = &self.model_file else {
            let m = self.model(log)?;
            let a = if lean {
                pipeline::analyze_lean(log, &m, cancel)?
            } else {
                pipeline::analyze(log, &m, cancel, &|_| {})?
            };
            return Ok((m, a));
        };
        let loaded = crate::modelfile::read(path)?;
        let (mut m, a) = if lean {
            crate::live::analyze_saved_lean(loaded, log, cancel)?
        } else {
            crate::live::analyze_saved(loaded, log, cancel)?
        };
        if self.label_col != LABEL_COLUMN {
            m.label_column = self.label_col.clone();
        }
        Ok((m, a))
    }

    /// The model these options describe, for `log`.
    pub fn model(&self, log: &Log) -> Result<Model, CliError> {
        let ips = self
            .ips
            .iter()
            .map(|s| IpMatch::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::Usage)?;
        let pairs = self
            .pairs
            .iter()
            .map(|s| parse_pair(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::Usage)?;
        let features = match &self.features {
            None => None,
            Some(list) => {
                Some(FeatureOptions::parse_features(list, &log.frame).map_err(CliError::Usage)?)
            }
        };
        let mut fo = FeatureOptions::default_for(&log.frame);
        if let Some(f) = features {
            fo.features = f;
        }
        fo.scaling = match self.scaling {
            ScalingArg::Max => Scaling::Max,
            ScalingArg::Robust => Scaling::Robust,
        };
        fo.nulls = match self.nulls {
            NullsArg::Drop => Nulls::Drop,
            NullsArg::Zero => Nulls::Zero,
        };
        if !(self.contamination > 0.0 && self.contamination <= 0.5) {
            return Err(CliError::Usage(format!(
                "--contamination must be in (0, 0.5], got {}",
                self.contamination
            )));
        }
        let detectors =
            DetectorKind::parse_list(&self.detectors.join(",")).map_err(CliError::Usage)?;
        let combine = Combine::parse(&self.combine).map_err(CliError::Usage)?;
        if let Combine::Votes(m) = combine {
            if m > detectors.len() {
                return Err(CliError::Usage(format!(
                    "--combine votes:{m} can never flag a row: only {} detectors run",
                    detectors.len()
                )));
            }
        }
        Ok(Model {
            filter: Filter {
                services: self.services.clone(),
                ips,
                pairs,
            },
            train_label: self.train_label.clone(),
            label_column: self.label_col.clone(),
            features: Some(fo),
            ensemble: EnsembleOptions {
                detectors,
                contamination: self.contamination,
                combine,
                seed: self.seed,
                fit_limit: (self.fit_limit > 0).then_some(self.fit_limit),
            },
            hosts: !self.rows_only,
        })
    }
}

/// The values `--detectors` takes (for its checks and for shell completion).
fn detector_names() -> clap::builder::PossibleValuesParser {
    let mut names = vec!["all"];
    names.extend(DetectorKind::ALL.iter().map(|k| k.name()));
    clap::builder::PossibleValuesParser::new(names)
}

/// `A,B`: two addresses.
fn parse_pair(s: &str) -> Result<(IpAddr, IpAddr), String> {
    let bad = || format!("--pair wants two addresses as A,B, got {s:?}");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}
