//! `zsift fit`: fits the detectors on logs and saves the model for `score --model`.

use std::io::Write;
use std::path::Path;

use super::model::ModelArgs;
use super::{CliError, Input};
use crate::cancel::Cancel;
use crate::live::{Live, Window};
use crate::modelfile::FitInfo;
use crate::sanitize::sanitize;

/// Fits the model the options describe on the input and writes it to `save`.
pub fn run(
    input: &Input,
    model: &ModelArgs,
    save: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if model.model_file.is_some() {
        return Err(CliError::Usage(
            "fit makes a model: --model reads one (to score with it, use `zsift score --model`)"
                .into(),
        ));
    }
    let log = input.load()?;
    let m = model.model(&log)?;
    // The window only matters to rows that arrive later; none will.
    let (a, live) = Live::fit(&log, &m, Window::Rows(1), &Cancel::new())?;
    let info = FitInfo {
        zsift: env!("CARGO_PKG_VERSION").to_string(),
        files: log.files.iter().map(|f| f.name.clone()).collect(),
        rows: log.rows() as u64,
        train_rows: a.matrix.n_train as u64,
    };
    let size = crate::modelfile::write(save, &live.saved(info))?;
    let ok: Vec<String> = a
        .verdicts
        .runs
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.kind.to_string())
        .collect();
    writeln!(
        out,
        "fitted {} on {} of {} rows ({}, rule {}, contamination {}); {} of them flagged",
        ok.join(","),
        a.matrix.n_train,
        log.rows(),
        sanitize(&m.filter.describe()),
        a.verdicts.combine,
        m.ensemble.contamination,
        a.verdicts.n_flagged()
    )?;
    for r in a.verdicts.runs.iter().filter(|r| !r.ok()) {
        writeln!(
            out,
            "detector {} failed and is not in the model: {}",
            r.kind,
            sanitize(r.error.as_deref().unwrap_or(""))
        )?;
    }
    writeln!(
        out,
        "model written to {} ({} bytes)",
        sanitize(&save.display().to_string()),
        size
    )?;
    Ok(())
}
