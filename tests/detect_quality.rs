//! The default model on real labelled logs, and on the demo log's injected anomalies.

mod common;

use zsift::cancel::Cancel;
use zsift::eval::{roc_auc, truth};
use zsift::filter::{string_values, Filter};
use zsift::ingest;
use zsift::pipeline::{analyze, Model};

/// Fits the default model on the Benign rows (the seed notebook's protocol) and returns
/// the ensemble's ROC-AUC and each detector's.
fn auc(rel: &str) -> (f64, Vec<(String, f64)>) {
    let log = ingest::load(&[common::data(rel)]).unwrap();
    let model = Model {
        train_label: Some("Benign".into()),
        ..Model::default()
    };
    let a = analyze(&log, &model, &Cancel::new(), &|_| {}).unwrap();
    let truth = truth(&log.frame, "label", &a.matrix.rows);
    let per: Vec<(String, f64)> = a
        .verdicts
        .runs
        .iter()
        .map(|r| {
            (
                r.kind.name().to_string(),
                roc_auc(&r.scores, &truth).unwrap(),
            )
        })
        .collect();
    (roc_auc(&a.verdicts.combined, &truth).unwrap(), per)
}

#[test]
fn default_model_separates_attacks_on_labelled_logs() {
    // The seed pipeline reaches 0.65 (008) and 0.78 (010) with its best single detector.
    for rel in [
        "stratosphere/008-mixed.conn.log.labeled",
        "stratosphere/010-mixed.conn.log.labeled",
    ] {
        let (ens, per) = auc(rel);
        eprintln!("{rel}: ensemble ROC-AUC {ens:.4}; {per:?}");
        assert!(ens >= 0.95, "{rel}: ensemble ROC-AUC {ens}");
        assert!(
            per.iter().all(|(_, a)| *a > 0.5),
            "{rel}: a detector ranks attacks below benign rows: {per:?}"
        );
    }
}

#[test]
fn demo_anomalies_are_found() {
    let log = zsift::demo::load().unwrap();
    let a = analyze(&log, &Model::default(), &Cancel::new(), &|_| {}).unwrap();
    let orig = string_values(&log.frame, "id.orig_h");
    let flagged_from = |a: &zsift::pipeline::Analysis, host: &str| {
        (0..a.matrix.rows.len())
            .filter(|&i| a.verdicts.flagged[i] && orig[a.matrix.rows[i] as usize] == Some(host))
            .count()
    };
    // The scanner's probes rank first (their source's failure evidence); the 850 MB upload
    // ranks first of the rows without such evidence, flagged, with its reason.
    let ranking = a.ranking();
    let first = ranking[0];
    assert_eq!(orig[a.matrix.rows[first] as usize], Some("10.0.1.66"));
    let top = *ranking
        .iter()
        .find(|&&i| a.evidence.nats[a.matrix.keep[i]] == 0.0)
        .unwrap();
    assert_eq!(orig[a.matrix.rows[top] as usize], Some("10.0.1.23"));
    assert!(a.verdicts.flagged[top]);
    let reasons: Vec<String> = a.reasons(top, 3).into_iter().map(|r| r.text).collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("orig_bytes")),
        "{reasons:?}"
    );
    // The port scanner's probes are among the flagged rows.
    assert!(
        flagged_from(&a, "10.0.1.66") >= 5,
        "scanner rows flagged: {}",
        flagged_from(&a, "10.0.1.66")
    );
    // Within DNS, the outside resolver's large answers stand out.
    let dns = Model {
        filter: Filter {
            services: vec!["dns".into()],
            ..Filter::default()
        },
        ..Model::default()
    };
    let d = analyze(&log, &dns, &Cancel::new(), &|_| {}).unwrap();
    assert!(
        flagged_from(&d, "10.0.1.31") >= 15,
        "odd resolver rows flagged: {}",
        flagged_from(&d, "10.0.1.31")
    );
    assert!(d.verdicts.n_flagged() <= 40);
}

#[test]
fn empty_filter_is_a_clear_error() {
    let log = zsift::demo::load().unwrap();
    let model = Model {
        filter: Filter {
            services: vec!["gopher".into()],
            ..Filter::default()
        },
        ..Model::default()
    };
    let e = analyze(&log, &model, &Cancel::new(), &|_| {})
        .err()
        .unwrap();
    assert!(e.to_string().contains("no rows to analyse"), "{e}");
    let model = Model {
        train_label: Some("Benign".into()),
        ..Model::default()
    };
    let e = analyze(&log, &model, &Cancel::new(), &|_| {})
        .err()
        .unwrap();
    assert!(e.to_string().contains("label"), "{e}");
}
