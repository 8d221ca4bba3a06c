//! Shared by the benchmark binaries: inputs made from the real logs of `tests/data` with
//! `benches/scale_conn.py`, medians, and peak memory measured in a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where generated inputs are kept between runs (outside the checkout).
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let d = base.join("bench-data");
    std::fs::create_dir_all(&d).expect("create bench-data");
    d
}

/// An N-row conn log scaled from a real one (`stratosphere/010-mixed` for TSV,
/// `stratosphere/002-portscan` for JSON), made once and reused.
pub fn scaled(rows: usize, json: bool) -> PathBuf {
    let (src, ext) = if json {
        ("stratosphere/002-portscan.conn.json.log", "json.log")
    } else {
        ("stratosphere/010-mixed.conn.log.labeled", "log")
    };
    let out = data_dir().join(format!("conn{rows}.{ext}"));
    if !out.exists() {
        let tmp = out.with_extension("tmp");
        let status = Command::new("python3")
            .arg(root().join("benches/scale_conn.py"))
            .arg(root().join("tests/data").join(src))
            .arg(&tmp)
            .arg(rows.to_string())
            .status()
            .expect("run python3 scale_conn.py");
        assert!(status.success(), "scale_conn.py failed");
        std::fs::rename(&tmp, &out).expect("rename");
    }
    out
}

/// Runs `f` `n` times and returns the sorted durations in seconds.
pub fn times<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// This process's peak resident memory so far, in bytes (Linux `VmHWM`).
pub fn peak_rss() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// This process's resident memory now, in bytes.
pub fn rss() -> u64 {
    status_kb("VmRSS:") * 1024
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// If this process is a measuring child (started by [`in_child`]), the task it was
/// given.
pub fn child_task() -> Option<String> {
    std::env::var("ZSIFT_BENCH_CHILD").ok()
}

/// Runs this bench binary again with `task`, so that the task's peak memory is its own;
/// returns the child's stdout.
pub fn in_child(task: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env("ZSIFT_BENCH_CHILD", task)
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child {task} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child's stages, when it traces them (`ZSIFT_MEMORY_TRACE`).
    if std::env::var_os("ZSIFT_MEMORY_TRACE").is_some() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Megabytes.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// A path's size in bytes.
pub fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}
