//! `zsift stats` and `zsift export` through the binary, and the landscape stage.

mod common;

use std::process::Command;

use zsift::cancel::Cancel;
use zsift::pipeline::{analyze, landscape, LandscapeOptions, Model, Subset};

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn export_writes_four_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("found");
    let out = zsift()
        .args(["export", "--demo", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    common::assert_success(&out);
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["anomalous.csv", "clusters.json", "clusters.txt", "rows.csv"],
        "no temporary files left"
    );

    let (h, rows) = read_csv(&out_dir.join("rows.csv"));
    assert_eq!(rows.len(), 3361);
    for c in [
        "uid",
        "id.orig_h",
        "flagged",
        "score",
        "votes",
        "cluster",
        "pca_x",
        "pca_y",
        "umap_x",
        "umap_y",
    ] {
        assert!(h.iter().any(|x| x == c), "rows.csv lacks {c}: {h:?}");
    }
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let flagged = rows.iter().filter(|r| r[col("flagged")] == "true").count();
    let (ah, arows) = read_csv(&out_dir.join("anomalous.csv"));
    assert_eq!(arows.len(), flagged);
    for c in [
        "uid",
        "score",
        "votes",
        "detectors",
        "reasons",
        "cluster",
        "score_iforest",
    ] {
        assert!(ah.iter().any(|x| x == c), "anomalous.csv lacks {c}");
    }
    assert!(rows
        .iter()
        .all(|r| r[col("umap_x")].parse::<f64>().unwrap().is_finite()));

    // Cluster sizes in clusters.json agree with the labels in rows.csv.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("clusters.json")).unwrap()).unwrap();
    let all = json["all"].as_array().unwrap();
    assert!(all.len() > 3, "clusters found in the demo");
    for c in all {
        let label = c["cluster"].as_i64().unwrap().to_string();
        let n = rows.iter().filter(|r| r[col("cluster")] == label).count();
        assert_eq!(c["count"].as_u64().unwrap() as usize, n, "cluster {label}");
    }
    assert!(json["anomalous"].is_array() && json["normal"].is_array());
    let txt = std::fs::read_to_string(out_dir.join("clusters.txt")).unwrap();
    assert!(txt.starts_with("== all rows:"), "{}", &txt[..80]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("rows.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[test]
fn failed_export_replaces_no_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("found");
    let export = |fault: Option<&str>| {
        let mut cmd = zsift();
        cmd.args(["export", "--demo", "--out"]).arg(&out_dir);
        if let Some(f) = fault {
            cmd.env("ZSIFT_FAULT", f);
        }
        cmd.output().unwrap()
    };
    common::assert_success(&export(None));
    let names = ["anomalous.csv", "clusters.json", "clusters.txt", "rows.csv"];
    // A file put in place is a new file (a rename), with a new inode.
    let inodes = || -> Vec<u64> {
        names
            .iter()
            .map(|n| std::fs::metadata(out_dir.join(n)).unwrap().ino())
            .collect()
    };
    let before = inodes();

    let out = export(Some("export-clusters"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clusters.json") && err.contains("fault injected"),
        "{err}"
    );
    assert_eq!(inodes(), before, "no file replaced");
    let mut left: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, names, "no temporary files left");

    common::assert_success(&export(None));
    assert!(
        inodes().iter().zip(&before).all(|(a, b)| a != b),
        "a successful export replaces every file"
    );
}

#[test]
fn stats_json_lists_clusters_of_the_chosen_subset() {
    let out = zsift()
        .args(["stats", "--demo", "--json", "--subset", "anomalous"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["subset"], "anomalous");
    let stats = v["stats"].as_array().unwrap();
    let total: u64 = stats.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, v["rows"].as_u64().unwrap());
    let first = &stats[0];
    let dur = first["numeric"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["feature"] == "duration")
        .unwrap();
    for k in [
        "mean", "std", "var", "min", "max", "range", "q1", "median", "q3",
    ] {
        assert!(dur[k].is_f64(), "{k}");
    }
    let cats: Vec<&str> = first["categorical"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        cats,
        [
            "service",
            "conn_state",
            "id.resp_p",
            "id.resp_h",
            "id.orig_h",
            "proto"
        ]
    );
    let plot = zsift()
        .args(["stats", "--demo", "--plot"])
        .output()
        .unwrap();
    let text = String::from_utf8(plot.stdout).unwrap();
    assert!(
        text.contains("orig_bytes: sorted values"),
        "plots are drawn"
    );
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "braille plot"
    );
}

#[test]
fn landscape_clusters_every_subset_and_samples_above_the_limit() {
    let log = zsift::demo::load().unwrap();
    let a = analyze(&log, &Model::default(), &Cancel::new(), &|_| {}).unwrap();
    let opts = LandscapeOptions {
        umap: false,
        cluster_limit: 1000,
        ..LandscapeOptions::default()
    };
    let l = landscape(&log, &a, &opts, &Cancel::new(), &|_| {}).unwrap();
    assert_eq!(l.pca.points.nrows(), a.matrix.rows.len());
    let all = l.subset(Subset::All).unwrap();
    assert_eq!(all.sampled, Some(1000));
    assert_eq!(all.labels.len(), a.matrix.rows.len());
    assert!(all.count > 2);
    let an = l.subset(Subset::Anomalous).unwrap();
    assert_eq!(an.rows.len(), a.verdicts.n_flagged());
    assert_eq!(an.sampled, None);
    let no = l.subset(Subset::Normal).unwrap();
    assert_eq!(an.rows.len() + no.rows.len(), a.matrix.rows.len());
    // Asked for one subset, only that one is clustered, the same way.
    let one = LandscapeOptions {
        subsets: vec![Subset::Anomalous],
        ..opts.clone()
    };
    let only = landscape(&log, &a, &one, &Cancel::new(), &|_| {}).unwrap();
    assert_eq!(only.subsets.len(), 1);
    let an1 = only.subset(Subset::Anomalous).unwrap();
    assert_eq!((&an1.rows, &an1.labels), (&an.rows, &an.labels));
    // A cancelled job stops.
    let c = Cancel::new();
    c.cancel();
    assert!(landscape(&log, &a, &opts, &c, &|_| {}).is_err());
}
