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

/// `--subsets` clusters only the rows named: the same clusterings as the default export
/// for those, no section for the others, and the tables' `cluster` column only while all
/// rows are clustered.
#[test]
fn export_clusters_only_the_subsets_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let export = |name: &str, subsets: Option<&str>| {
        let out_dir = dir.path().join(name);
        let mut cmd = zsift();
        cmd.args(["export", "--demo", "--no-umap", "--out"])
            .arg(&out_dir);
        if let Some(s) = subsets {
            cmd.args(["--subsets", s]);
        }
        common::assert_success(&cmd.output().unwrap());
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("clusters.json")).unwrap()).unwrap();
        let (h, _) = read_csv(&out_dir.join("rows.csv"));
        let (ah, _) = read_csv(&out_dir.join("anomalous.csv"));
        let txt = std::fs::read_to_string(out_dir.join("clusters.txt")).unwrap();
        (json, h, ah, txt)
    };
    let (every, h, ah, _) = export("every", None);
    assert!(h.iter().any(|c| c == "cluster") && ah.iter().any(|c| c == "cluster"));
    // Named in any order, and twice: clustered once each, in the usual order.
    let (two, h, _, txt) = export("two", Some("normal,all,normal"));
    let keys: Vec<&String> = two.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["all", "normal"]);
    assert_eq!(two["all"], every["all"]);
    assert_eq!(two["normal"], every["normal"]);
    assert!(h.iter().any(|c| c == "cluster"));
    assert!(txt.starts_with("== all rows:") && txt.contains("\n== normal rows:"));
    assert!(!txt.contains("== anomalous"));
    let (one, h, ah, _) = export("one", Some("anomalous"));
    assert_eq!(one.as_object().unwrap().len(), 1);
    assert_eq!(one["anomalous"], every["anomalous"]);
    assert!(!h.iter().any(|c| c == "cluster") && !ah.iter().any(|c| c == "cluster"));
    // A subset zsift does not know is refused before anything is written.
    let bad = zsift()
        .args(["export", "--demo", "--subsets", "some", "--out"])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(!dir.path().join("bad").exists());
}

/// Exports the demo log into `out`, with the fault `fault` injected if given.
fn export_demo(out: &std::path::Path, fault: Option<&str>) -> std::process::Output {
    let mut cmd = zsift();
    cmd.args(["export", "--demo", "--out"]).arg(out);
    if let Some(f) = fault {
        cmd.env("ZSIFT_FAULT", f);
    }
    cmd.output().unwrap()
}

/// The inode of each named file in `dir` (a file put in place by a rename is a new
/// inode), `None` for one that is missing or not a file.
#[cfg(unix)]
fn inodes(dir: &std::path::Path, names: &[&str]) -> Vec<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    names
        .iter()
        .map(|n| {
            std::fs::metadata(dir.join(n))
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.ino())
        })
        .collect()
}

/// The names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const EXPORTED: [&str; 4] = ["anomalous.csv", "clusters.json", "clusters.txt", "rows.csv"];

#[cfg(all(unix, feature = "fault-injection"))]
#[test]
fn failed_export_replaces_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("found");
    common::assert_success(&export_demo(&out_dir, None));
    let before = inodes(&out_dir, &EXPORTED);

    // The cluster side fails on its second file, while the tables are being written.
    let out = export_demo(&out_dir, Some("export-clusters"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clusters.txt") && err.contains("fault injected"),
        "{err}"
    );
    assert_eq!(inodes(&out_dir, &EXPORTED), before, "no file replaced");
    assert_eq!(names_in(&out_dir), EXPORTED, "no temporary files left");

    common::assert_success(&export_demo(&out_dir, None));
    let after = inodes(&out_dir, &EXPORTED);
    assert!(
        after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.is_some() && a != b),
        "a successful export replaces every file"
    );
}

#[cfg(unix)]
#[test]
fn export_with_a_folder_in_the_way_replaces_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("found");
    common::assert_success(&export_demo(&out_dir, None));
    // A folder where rows.csv goes: refused before anything is written.
    std::fs::remove_file(out_dir.join("rows.csv")).unwrap();
    std::fs::create_dir(out_dir.join("rows.csv")).unwrap();
    let before = inodes(&out_dir, &EXPORTED);

    let out = export_demo(&out_dir, None);
    assert_eq!(out.status.code(), Some(1), "an output error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rows.csv") && err.contains("a folder is in the way"),
        "{err}"
    );
    assert_eq!(inodes(&out_dir, &EXPORTED), before, "no file replaced");
    assert_eq!(names_in(&out_dir), EXPORTED, "no temporary files left");
}

/// `zsift export DIR/rows.csv --out DIR`: the input log is never written over, even by
/// another name for it (a hard link).
#[cfg(unix)]
#[test]
fn export_never_writes_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("rows.csv");
    std::fs::write(&log, zsift::demo::DEMO_LOG).unwrap();
    let out = zsift()
        .args(["export", "--out"])
        .arg(dir.path())
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rows.csv") && err.contains("is an input log"),
        "{err}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), zsift::demo::DEMO_LOG);
    assert!(
        !dir.path().join("anomalous.csv").exists(),
        "nothing written"
    );

    let other = tempfile::tempdir().unwrap();
    std::fs::hard_link(&log, other.path().join("clusters.txt")).unwrap();
    let out = zsift()
        .args(["export", "--out"])
        .arg(other.path())
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&log).unwrap(), zsift::demo::DEMO_LOG);
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
    // Rows left out of the sample take their nearest sampled row's label: equal rows
    // (the demo's scan is many copies of a few) take the same one.
    let mut by_row: std::collections::HashMap<Vec<u64>, i32> = Default::default();
    let mut repeated = 0;
    let x = a
        .matrix
        .rows_x(&(0..a.matrix.rows.len()).collect::<Vec<_>>());
    for (i, &label) in all.labels.iter().enumerate() {
        let key: Vec<u64> = x.row(i).iter().map(|v| v.to_bits()).collect();
        if let Some(seen) = by_row.insert(key, label) {
            assert_eq!(seen, label, "row {i} is a copy of a row labelled {seen}");
            repeated += 1;
        }
    }
    assert!(repeated > 0, "the demo log has equal rows");
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

/// The demo log with formulas as values: in the uid of every tenth record and in the
/// service of every seventh (log values are attacker-controlled).
fn log_with_formulas(dir: &std::path::Path) -> std::path::PathBuf {
    let text = String::from_utf8(zsift::demo::DEMO_LOG.to_vec()).unwrap();
    let mut out = String::new();
    let mut record = 0;
    for line in text.lines() {
        if line.starts_with('#') {
            out.push_str(line);
        } else {
            let mut f: Vec<String> = line.split('\t').map(str::to_string).collect();
            if record % 10 == 0 {
                f[1] = format!("=HYPERLINK(\"http://x/{record}\",\"C{record}\")");
            }
            if record % 7 == 0 {
                f[7] = "@SUM(1+1)".into();
            }
            out.push_str(&f.join("\t"));
            record += 1;
        }
        out.push('\n');
    }
    let path = dir.join("formulas.log");
    std::fs::write(&path, out).unwrap();
    path
}

/// Every cell of a CSV file.
fn cells(text: &[u8]) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text);
    r.records()
        .flat_map(|x| x.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// CSV files are opened in spreadsheets: a log value a spreadsheet would run as a
/// formula is written as text (a leading `'`), unless `--keep-formulas` is given.
#[test]
fn csv_cells_never_run_as_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_formulas(dir.path());
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let o = zsift()
            .args(["export", "--no-umap", "--out"])
            .arg(&out)
            .args(extra)
            .arg(&log)
            .output()
            .unwrap();
        common::assert_success(&o);
        let s = zsift()
            .args(["score", "--format", "csv", "--all"])
            .args(extra)
            .arg(&log)
            .output()
            .unwrap();
        common::assert_success(&s);
        let mut all = cells(&std::fs::read(out.join("rows.csv")).unwrap());
        all.extend(cells(&std::fs::read(out.join("anomalous.csv")).unwrap()));
        all.extend(cells(&s.stdout));
        all
    };
    let safe = run(&[]);
    let formulas: Vec<&String> = safe
        .iter()
        .filter(|c| zsift::sanitize::is_formula(c))
        .collect();
    assert!(
        formulas.is_empty(),
        "{:?}",
        &formulas[..formulas.len().min(5)]
    );
    // The values are all there, as text.
    assert!(safe
        .iter()
        .any(|c| c == "'=HYPERLINK(\"http://x/10\",\"C10\")"));
    assert!(safe.iter().any(|c| c == "'@SUM(1+1)"));
    let raw = run(&["--keep-formulas"]);
    assert!(raw
        .iter()
        .any(|c| c == "=HYPERLINK(\"http://x/10\",\"C10\")"));
    assert!(!raw.iter().any(|c| c.starts_with("'=")));
}
