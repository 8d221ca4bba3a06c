//! Helpers of the integration tests: paths to the real logs (`tests/data`) and the
//! reference figures (`tests/reference`), readers for the reference CSVs, and rank
//! statistics.
#![allow(dead_code)]

pub mod hostile;

use std::path::PathBuf;

/// The tests' own directory, where the real logs (`data`, see `data/SOURCES.md`) and the
/// reference outputs of the Python stack (`reference`) live.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A file under `tests/data`.
pub fn data(rel: &str) -> PathBuf {
    tests_dir().join("data").join(rel)
}

/// A file under `tests/reference`.
pub fn reference(rel: &str) -> PathBuf {
    tests_dir().join("reference").join(rel)
}

/// Reads a numeric CSV with a header; returns the header and the rows. Columns listed in
/// `skip` (by name) are left out.
pub fn read_csv(path: &std::path::Path, skip: &[&str]) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !skip.contains(&header[i]))
        .collect();
    let names = keep.iter().map(|&i| header[i].to_string()).collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter()
                .map(|&i| f[i].parse::<f64>().expect("number"))
                .collect()
        })
        .collect();
    (names, rows)
}

/// The reference matrix of `tests/reference/010-mixed/matrix.csv` (seven features,
/// each divided by its max), as an ndarray.
pub fn reference_matrix() -> ndarray::Array2<f64> {
    let (names, rows) = read_csv(&reference("010-mixed/matrix.csv"), &["uid"]);
    let n = rows.len();
    let flat: Vec<f64> = rows.into_iter().flatten().collect();
    ndarray::Array2::from_shape_vec((n, names.len()), flat).expect("rectangular matrix")
}

/// One detector's column of `pyod_scores.csv` (PyOD's training scores on the reference
/// matrix, higher = more anomalous).
pub fn pyod_scores(detector: &str) -> Vec<f64> {
    let (names, rows) = read_csv(&reference("010-mixed/pyod_scores.csv"), &[]);
    let col = names
        .iter()
        .position(|n| n == detector)
        .unwrap_or_else(|| panic!("no column {detector} in pyod_scores.csv"));
    rows.iter().map(|r| r[col]).collect()
}

/// Average ranks (ties share the mean of their positions), 1-based.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa.sqrt() * sbb.sqrt())
}

/// Spearman rank correlation (Pearson on average ranks), as scipy computes it.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// The UI drawn at `w` × `h` on a test backend, as text: one line per screen row.
pub fn draw(app: &zsift::tui::app::App, w: u16, h: u16) -> String {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| zsift::tui::views::render(app, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Waits for the worker's events until the app's current job ends, applying them.
pub fn finish(app: &mut zsift::tui::app::App, w: &mut zsift::tui::worker::Worker) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(120);
    while app.busy() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the job did not finish");
        if let Ok(e) = w.events.recv_timeout(left) {
            if let Some(job) = app.on_event(e) {
                w.submit(job);
            }
        }
    }
}

/// Asserts that a command succeeded, showing its standard error if not.
#[track_caller]
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The column names listed by `zsift summary --json`.
pub fn column_names(summary: &serde_json::Value) -> Vec<&str> {
    summary["columns"]
        .as_array()
        .expect("summary --json lists its columns")
        .iter()
        .map(|c| c["name"].as_str().expect("a column has a name"))
        .collect()
}
