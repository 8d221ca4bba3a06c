//! `zsift eval`: ROC-AUC and precision at k of each detector and of the ensemble on a
//! labelled log.

use std::io::Write;

use serde_json::json;

use super::model::ModelArgs;
use super::{CliError, Input};
use crate::cancel::Cancel;
use crate::eval::{precision_at_k, roc_auc, truth};

pub fn run(
    input: &Input,
    model: &ModelArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let log = input.load()?;
    let no_label = |column: &str| {
        CliError::Usage(format!(
            "the log has no label column {column:?} (choose one with --label-col)"
        ))
    };
    // Checked before the analysis when the options name it, after when a model file does.
    if model.model_file.is_none() && log.frame.column(&model.label_col).is_err() {
        return Err(no_label(&model.label_col));
    }
    let (m, a) = model.analyze(&log, &Cancel::new())?;
    if log.frame.column(&m.label_column).is_err() {
        return Err(no_label(&m.label_column));
    }
    let truth = truth(&log.frame, &m.label_column, &a.matrix.rows);
    let positives = truth.iter().filter(|t| **t == Some(true)).count();
    let negatives = truth.iter().filter(|t| **t == Some(false)).count();
    if positives == 0 || negatives == 0 {
        // ROC-AUC and precision at k are undefined without both classes.
        return Err(CliError::Usage(format!(
            "nothing to evaluate: the {} analysed rows hold {positives} positive (label \
             starting with Malicious) and {negatives} negative rows; both are needed \
             (Background rows are left out)",
            a.matrix.rows.len()
        )));
    }
    let mut detectors = serde_json::Map::new();
    for r in &a.verdicts.runs {
        let v = if r.ok() {
            json!({
                "roc_auc": roc_auc(&r.scores, &truth),
                "precision_at_k": precision_at_k(&r.scores, &truth),
                "fit_s": r.fit_s,
                "score_s": r.score_s,
                "flagged": r.n_flagged(),
            })
        } else {
            json!({"error": r.error})
        };
        detectors.insert(r.kind.name().into(), v);
    }
    // Behaviour scores are per selected row; `keep` maps matrix rows to them.
    let behaviour: Vec<f64> = a.matrix.keep.iter().map(|&k| a.behaviours.row[k]).collect();
    detectors.insert(
        "behaviour".into(),
        json!({
            "roc_auc": roc_auc(&behaviour, &truth),
            "precision_at_k": precision_at_k(&behaviour, &truth),
            "fit_s": 0.0,
            "score_s": 0.0,
            "flagged": behaviour.iter().filter(|&&b| b >= crate::hosts::REASON_MIN).count(),
        }),
    );
    let auc = roc_auc(&a.verdicts.combined, &truth);
    let ensemble = json!({
        "roc_auc": auc,
        "precision_at_k": precision_at_k(&a.verdicts.combined, &truth),
        "flagged": a.verdicts.n_flagged(),
        "combine": a.verdicts.combine.to_string(),
    });
    let upside_down = auc.is_some_and(|r| r < 0.5);
    let mut notes: Vec<String> =
        crate::hosts::warnings(&a.behaviours, a.host_evidence.then_some(&a.evidence));
    if upside_down {
        notes.push(
            "the ranking is upside down against the labels (ensemble ROC-AUC below 0.5): \
             the attack is most of the rows; rank hosts (`zsift hosts`) or train on a label \
             (--train-label)"
                .into(),
        );
    }
    if as_json {
        let v = json!({
            "rows": a.matrix.rows.len(),
            "positives": positives,
            "negatives": negatives,
            "fit_rows": a.matrix.n_train,
            "dropped": a.matrix.dropped,
            "detectors": detectors,
            "ensemble": ensemble,
            "notes": notes,
        });
        crate::sanitize::write_json(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let unscored = truth.iter().filter(|t| t.is_none()).count();
    writeln!(
        out,
        "rows {}  positives {}  negatives {}  not scored (background or no label) {}  \
         fit rows {}  dropped for an unset feature {}",
        a.matrix.rows.len(),
        positives,
        negatives,
        unscored,
        a.matrix.n_train,
        a.matrix.dropped
    )?;
    writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "detector", "roc_auc", "p@k", "flagged", "fit_s", "score_s"
    )?;
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"));
    for (name, v) in &detectors {
        if let Some(e) = v.get("error") {
            let e = crate::sanitize::sanitize(e.as_str().unwrap_or(""));
            writeln!(out, "{name:<10} failed: {e}")?;
            continue;
        }
        writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:>8.3} {:>8.3}",
            name,
            f(&v["roc_auc"]),
            f(&v["precision_at_k"]),
            v["flagged"].as_u64().unwrap_or(0),
            v["fit_s"].as_f64().unwrap_or(0.0),
            v["score_s"].as_f64().unwrap_or(0.0)
        )?;
    }
    writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>8}   rule {}",
        "ensemble",
        f(&ensemble["roc_auc"]),
        f(&ensemble["precision_at_k"]),
        ensemble["flagged"].as_u64().unwrap_or(0),
        a.verdicts.combine
    )?;
    for n in &notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
