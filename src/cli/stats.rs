//! `zsift stats` and `zsift export`: clusters, their statistics, feature distributions, and
//! the files that hand the findings on.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use textplots::{Chart, Plot, Shape};

use super::model::ModelArgs;
use super::{CliError, Input};
use crate::cancel::Cancel;
use crate::cluster::stats::{distribution, numeric_column};
use crate::export::{self, write_clusters_text, Extras};
use crate::ingest::Log;
use crate::pipeline::{self, Analysis, Landscape, LandscapeOptions, Subset};

/// Which rows to cluster, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubsetArg {
    /// Every analysed row.
    All,
    /// The flagged rows.
    Anomalous,
    /// The rows not flagged.
    Normal,
}

impl SubsetArg {
    fn subset(self) -> Subset {
        match self {
            SubsetArg::All => Subset::All,
            SubsetArg::Anomalous => Subset::Anomalous,
            SubsetArg::Normal => Subset::Normal,
        }
    }
}

fn analyse(
    input: &Input,
    model: &ModelArgs,
    umap: bool,
    subsets: &[Subset],
) -> Result<(Log, Analysis, Landscape), CliError> {
    let log = input.load()?;
    crate::memory::trace("load");
    let cancel = Cancel::new();
    let (_, a) = model.analyze(&log, &cancel)?;
    let opts = LandscapeOptions {
        umap,
        subsets: subsets.to_vec(),
        ..LandscapeOptions::default()
    };
    let l = pipeline::landscape(&log, &a, &opts, &cancel, &|_| {})?;
    Ok((log, a, l))
}

/// `zsift stats`.
pub fn run_stats(
    input: &Input,
    model: &ModelArgs,
    subset: SubsetArg,
    json: bool,
    plot: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Only the subset asked for is clustered.
    let (log, a, l) = analyse(input, model, false, &[subset.subset()])?;
    let chosen: Vec<(String, Vec<crate::cluster::stats::ClusterStats>)> = l
        .subsets
        .iter()
        .filter(|c| c.subset == subset.subset())
        .map(|c| (c.subset.name().to_string(), c.stats.clone()))
        .collect();
    if json {
        let c = l.subset(subset.subset());
        let v = serde_json::json!({
            "subset": subset.subset().name(),
            "rows": c.map_or(0, |c| c.rows.len()),
            "clusters": c.map_or(0, |c| c.count),
            "noise": c.map_or(0, |c| c.labels.iter().filter(|&&l| l < 0).count()),
            "sampled": c.and_then(|c| c.sampled),
            "stats": chosen.first().map(|(_, s)| s.clone()).unwrap_or_default(),
        });
        crate::sanitize::write_json(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        if chosen.is_empty() {
            writeln!(out, "no {} rows", subset.subset().name())?;
        }
        if let Some(n) = l.subset(subset.subset()).and_then(|c| c.sampled) {
            writeln!(out, "(clustered on a sample of {n} rows; the others took their nearest sampled row's cluster)")?;
        }
        write_clusters_text(out, &chosen)?;
    }
    if plot {
        plot_features(&log, &a, out)?;
    }
    Ok(())
}

/// Each numeric feature's histogram (normal and anomalous, log bins) and sorted-value
/// curve, drawn with textplots for a terminal without the UI.
fn plot_features(log: &Log, a: &Analysis, out: &mut dyn Write) -> std::io::Result<()> {
    let numeric = a
        .matrix
        .features
        .iter()
        .filter(|f| f.encoding == crate::features::Encoding::Numeric);
    for f in numeric {
        let name = crate::sanitize::sanitize(&f.column);
        let Some(col) = numeric_column(&log.frame, &f.column) else {
            continue;
        };
        let values: Vec<f64> = a
            .matrix
            .rows
            .iter()
            .map(|&r| col[r as usize].unwrap_or(0.0))
            .collect();
        let d = distribution(&f.column, values, &a.verdicts.flagged, 30);
        let total = |v: &[usize]| v.iter().sum::<usize>().max(1) as f32;
        let (tn, ta) = (total(&d.log.normal), total(&d.log.anomalous));
        let step = |counts: &[usize], t: f32| -> Vec<(f32, f32)> {
            counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (i as f32, c as f32 / t))
                .collect()
        };
        let normal = step(&d.log.normal, tn);
        let anomalous = step(&d.log.anomalous, ta);
        writeln!(
            out,
            "\n{}: share of rows per log bin, normal (first) and anomalous (second); bins from {} to {}",
            name,
            crate::reasons::number(d.log.edges[0]),
            crate::reasons::number(d.log.edges[d.log.edges.len() - 1])
        )?;
        let (sn, sa) = (Shape::Steps(&normal), Shape::Steps(&anomalous));
        let mut chart = Chart::new(120, 30, 0.0, 30.0);
        let chart = chart.lineplot(&sn).lineplot(&sa);
        chart.axis();
        chart.figures();
        writeln!(out, "{chart}")?;
        let n = d.sorted.len();
        let stride = (n / 400).max(1);
        let curve: Vec<(f32, f32)> = d
            .sorted
            .iter()
            .enumerate()
            .step_by(stride)
            .map(|(i, &v)| {
                (
                    i as f32,
                    (v.abs().ln_1p() / std::f64::consts::LN_10) as f32 * v.signum() as f32,
                )
            })
            .collect();
        writeln!(
            out,
            "{}: sorted values (log10(1 + x)) over {} rows",
            name, n
        )?;
        let shape = Shape::Lines(&curve);
        let mut chart = Chart::new(120, 30, 0.0, n as f32);
        let chart = chart.lineplot(&shape);
        chart.axis();
        chart.figures();
        writeln!(out, "{chart}")?;
    }
    Ok(())
}

/// What `zsift export` writes besides the log's rows and verdicts.
pub struct ExportOptions<'a> {
    /// UMAP's positions.
    pub umap: bool,
    /// Text cells as in the log, formulas or not.
    pub keep_formulas: bool,
    /// CSV or Parquet tables.
    pub format: crate::export::TableFormat,
    /// The rows clustered.
    pub subsets: &'a [SubsetArg],
}

/// `zsift export`.
pub fn run_export(
    input: &Input,
    model: &ModelArgs,
    dir: &Path,
    opts: ExportOptions<'_>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let ExportOptions {
        umap,
        keep_formulas,
        format,
        subsets,
    } = opts;
    // In display order, each once however often named.
    let subsets: Vec<Subset> = Subset::ALL
        .into_iter()
        .filter(|s| subsets.iter().any(|a| a.subset() == *s))
        .collect();
    let (log, a, l) = analyse(input, model, umap, &subsets)?;
    let stats = l.stats_by_subset();
    let extras = Extras {
        cluster: l.labels_all(),
        pca: Some(&l.pca.points),
        umap: l.umap.as_ref().map(|u| &u.points),
        clusters: &stats,
        keep_formulas,
        format,
    };
    let written = export::export(dir, &log, &a, extras)
        .map_err(|e| CliError::Output(std::io::Error::other(e.to_string())))?;
    crate::memory::trace("writing");
    if let Some(n) = l.umap.as_ref().and_then(|u| u.sampled) {
        writeln!(out, "UMAP was fitted on a sample of {n} distinct rows; the others were placed by its transform step")?;
    }
    for p in written {
        writeln!(
            out,
            "wrote {}",
            crate::sanitize::sanitize(&p.display().to_string())
        )?;
    }
    Ok(())
}
