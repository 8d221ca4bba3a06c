//! Loading speed and memory: a 1M-row conn log in Zeek TSV and in JSON lines.
//!
//! `cargo bench --bench ingest` prints, per format, the median of 5 loads (rows/s) and, from
//! a separate process that loads once, the peak resident memory against the size of the
//! loaded frame. Set `ZSIFT_BENCH_ROWS` for another size.

mod support;

use support::*;

fn rows() -> usize {
    std::env::var("ZSIFT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn main() {
    if let Some(task) = child_task() {
        // Measure one load's memory in a fresh process.
        let path = scaled(rows(), task == "json");
        let base = rss();
        let log = zsift::ingest::load(&[path]).expect("load");
        let frame = log.frame.estimated_size() as u64;
        println!("{} {} {} {}", log.rows(), frame, peak_rss(), base);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("ingest: bench");
        return;
    }
    let n = rows();
    println!("ingest, {n} rows, {} threads", rayon::current_num_threads());
    println!(
        "format  file MB  median s  min s  max s   rows/s   frame MB  peak RSS MB  peak-base/frame"
    );
    for (name, json) in [("tsv", false), ("json", true)] {
        let path = scaled(n, json);
        let t = times(5, || {
            zsift::ingest::load(std::slice::from_ref(&path)).expect("load")
        });
        let m = median(&t);
        let child = in_child(name);
        let f: Vec<u64> = child
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (loaded, frame, peak, base) = (f[0], f[1], f[2], f[3]);
        assert_eq!(loaded as usize, n);
        println!(
            "{name:<6} {:>8.1} {m:>9.3} {:>6.3} {:>6.3} {:>8.0} {:>10.1} {:>12.1} {:>16.2}",
            mb(size(&path)),
            t[0],
            t[t.len() - 1],
            n as f64 / m,
            mb(frame),
            mb(peak),
            (peak - base) as f64 / frame as f64
        );
    }
}
