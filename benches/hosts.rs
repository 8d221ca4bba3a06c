//! Hosts and pairs on scaled conn logs: the context (grouping by source, destination,
//! pair and service), the behaviour scores, the failure evidence and the three rankings,
//! against the targets of ≤ 1.5 s and ≤ 300 MB above the loaded log at 1M rows; and the
//! default model end to end (filter, features, ten detectors, evidence, verdicts), target
//! < 8 s at 1M rows.
//!
//! `cargo bench --bench hosts` prints medians (5 runs at 100k and 1M rows; 3 of the
//! default model at 1M). Set `ZSIFT_BENCH_ROWS` for other sizes (comma-separated), or
//! `ZSIFT_BENCH_LOG` to time the hosts stage alone on a log of one's own.

mod support;

use support::*;
use zsift::cancel::Cancel;
use zsift::filter::Filter;
use zsift::hosts::context::Context;
use zsift::hosts::evidence::Evidence;
use zsift::hosts::{rank, Behaviours, Unit};
use zsift::pipeline::{analyze, Model};

fn sizes() -> Vec<usize> {
    std::env::var("ZSIFT_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

/// Context, behaviours, evidence and the three rankings of a whole log.
fn hosts_stage(log: &zsift::ingest::Log) -> usize {
    let sel = Filter::default().select(&log.frame);
    let ctx = Context::build(&log.frame, &sel);
    let beh = Behaviours::of(&ctx);
    let ev = Evidence::of(&ctx);
    let flagged: Vec<bool> = ev.nats.iter().map(|&e| e > 0.0).collect();
    [Unit::Src, Unit::Dst, Unit::Pair]
        .iter()
        .map(|&u| rank(&ctx, &beh, u, &ev.nats, &flagged).len())
        .sum()
}

fn main() {
    if let Some(task) = child_task() {
        // Peak memory of the hosts stage above the loaded log.
        let path = match task.parse::<usize>() {
            Ok(n) => scaled(n, false),
            Err(_) => std::path::PathBuf::from(task),
        };
        let log = zsift::ingest::load(&[path]).expect("load");
        let base = rss();
        let ranked = hosts_stage(&log);
        println!("{} {}", peak_rss().saturating_sub(base), ranked);
        return;
    }
    println!(
        "{:<9} {:>10} {:>10} {:>10} {:>12}",
        "rows", "median s", "min s", "ranked", "peak MB"
    );
    for n in sizes() {
        let log = zsift::ingest::load(&[scaled(n, false)]).expect("load");
        let t = times(5, || hosts_stage(&log));
        let out = in_child(&n.to_string());
        let f: Vec<&str> = out.split_whitespace().collect();
        println!(
            "{:<9} {:>10.3} {:>10.3} {:>10} {:>12.0}",
            n,
            median(&t),
            t[0],
            f.get(1).unwrap_or(&"-"),
            mb(f.first().and_then(|v| v.parse().ok()).unwrap_or(0))
        );
    }
    // A log of one's own (say, a scan of a million addresses: a million pairs).
    if let Some(path) = std::env::var_os("ZSIFT_BENCH_LOG") {
        let log = zsift::ingest::load(&[std::path::PathBuf::from(&path)]).expect("load");
        let t = times(5, || hosts_stage(&log));
        let out = in_child(&path.to_string_lossy());
        let f: Vec<&str> = out.split_whitespace().collect();
        println!(
            "{:<9} {:>10.3} {:>10.3} {:>10} {:>12.0}   ({})",
            log.rows(),
            median(&t),
            t[0],
            f.get(1).unwrap_or(&"-"),
            mb(f.first().and_then(|v| v.parse().ok()).unwrap_or(0)),
            path.to_string_lossy()
        );
        return;
    }
    let n = *sizes().last().unwrap_or(&1_000_000);
    let log = zsift::ingest::load(&[scaled(n, false)]).expect("load");
    for (what, hosts) in [("default model", true), ("rows alone (--rows-only)", false)] {
        let model = Model {
            hosts,
            ..Model::default()
        };
        let t = times(3, || {
            analyze(&log, &model, &Cancel::new(), &|_| {})
                .expect("analyze")
                .verdicts
                .n_flagged()
        });
        println!(
            "{what} on {n} rows (features, ten detectors, host evidence, verdicts): median \
             {:.2} s, min {:.2} s",
            median(&t),
            t[0]
        );
    }
}
