//! dns log features: the query names split at their public suffix and measured
//! (length, labels, entropy, digit and consonant shares), the rarities, the distinct
//! names per domain, the NXDOMAIN share per client and the DNS behaviours (tunnels, DGA),
//! on zed's 53,615-query dns log and on 1M rows made of it (its rows repeated, with every
//! query name made distinct per copy so that the names stay as varied as a day's).
//! Target: at least 1M rows/s for the features.
//!
//! `cargo bench --bench dns` prints medians of 5 runs.

mod support;

use polars::prelude::*;
use support::*;
use zsift::hosts::context::Context;
use zsift::hosts::Behaviours;

/// `log`'s rows repeated to `n` rows, copy k's query names prefixed with `k` (copy 0 as
/// they are).
fn scaled_dns(frame: &DataFrame, n: usize) -> DataFrame {
    // As strings while rows are added, then held as a load holds them.
    let frame = &zsift::ingest::text::plain(frame.clone()).unwrap();
    let mut out = frame.clone();
    let mut k = 1;
    while out.height() < n {
        let mut copy = frame.clone();
        let q = copy.column("query").unwrap().str().unwrap().clone();
        let renamed: StringChunked = q.iter().map(|v| v.map(|v| format!("c{k}{v}"))).collect();
        copy.with_column(renamed.with_name("query".into()).into_series().into())
            .unwrap();
        out.vstack_mut(&copy).unwrap();
        k += 1;
    }
    let out = out.slice(0, n);
    let mut columns = out.columns().to_vec();
    zsift::ingest::text::compact(&mut columns);
    DataFrame::new(n, columns).unwrap()
}

fn main() {
    let log = zsift::ingest::load(&[root().join("tests/data/zed/dns.log.gz")]).expect("load");
    println!(
        "{:<9} {:>12} {:>12} {:>14} {:>14}",
        "rows", "features s", "rows/s", "+behaviours s", "rows/s"
    );
    for n in [log.rows(), 1_000_000] {
        let frame = if n == log.rows() {
            log.frame.clone()
        } else {
            scaled_dns(&log.frame, n)
        };
        let rows: Vec<u32> = (0..frame.height() as u32).collect();
        // The context (with the query names split and measured) and every dns feature.
        let t = times(5, || {
            let ctx = Context::build(&frame, &rows);
            zsift::protocol::FEATURES
                .iter()
                .filter(|(_, kind, _)| *kind == "dns")
                .map(|(name, _, _)| ctx.column(name).map_or(0, |v| v.len()))
                .sum::<usize>()
        });
        let ctx = Context::build(&frame, &rows);
        let b = times(5, || Behaviours::of(&ctx).row.len());
        let (f, bm) = (median(&t), median(&b));
        println!(
            "{:<9} {:>12.3} {:>12.0} {:>14.3} {:>14.0}",
            n,
            f,
            n as f64 / f,
            f + bm,
            n as f64 / (f + bm)
        );
    }
}
