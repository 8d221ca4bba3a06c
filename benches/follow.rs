//! Following a growing log: sustained scoring of new rows with the default model, the
//! delay from a row's append to its line on zsift's output, and memory over a long run
//! with a window. Targets: ≥ 50,000 rows/s; p99 delay under 1 s at 2,000 rows/s; memory
//! flat once the window is full.
//!
//! `cargo bench --bench follow` runs the three parts:
//! 1. **throughput**: the model fitted on 100k rows (a scaled `010-mixed`, one row a
//!    millisecond), then 100k new rows scored in batches of 10k through `Live::score`
//!    (parsing of the batch's lines included), 24h window; three rounds, median batch;
//! 2. **delay**: the `zsift` binary (`score --follow --all --format jsonl`) on a file a
//!    writer appends 20 rows to every 10 ms (2,000 rows/s) for 30 s; each row's delay
//!    from the end of its write to its line on zsift's output; p50, p99, max;
//! 4. **the UI**: the same stream followed by the worker and the app of `zsift -f`: the
//!    delay from a write to the view holding its rows (p50, p99, max);
//! 3. **memory**: a run at 1,000 rows/s simulated faster than real time (one batch per
//!    simulated minute), window 10 minutes (600k rows), one simulated hour: resident
//!    memory every 10 simulated minutes (`ZSIFT_BENCH_HOURS` for longer runs,
//!    `ZSIFT_BENCH_WINDOW` for another window).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;
use zsift::cancel::Cancel;
use zsift::ingest::Log;
use zsift::live::{Live, Window};
use zsift::pipeline::Model;

/// Start of the simulated clock: 2024-06-01T00:00:00Z, in seconds.
const T0: f64 = 1_717_200_000.0;

/// A scaled log's header lines and data lines.
fn source(rows: usize) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(scaled(rows, false)).expect("read scaled log");
    let mut header = String::new();
    let mut data = Vec::with_capacity(rows);
    for l in text.lines() {
        if l.starts_with("#close") {
            continue;
        }
        if l.starts_with('#') {
            header.push_str(l);
            header.push('\n');
        } else {
            data.push(l.to_string());
        }
    }
    (header, data)
}

/// Row `k` of the simulated stream: source line `k mod n` with its time set to `t` and a
/// uid of its own.
fn line(rows: &[String], k: usize, t: f64) -> String {
    let src = &rows[k % rows.len()];
    let mut f: Vec<&str> = src.split('\t').collect();
    let ts = format!("{t:.6}");
    let uid = format!("B{k:017}");
    f[0] = &ts;
    f[1] = &uid;
    f.join("\t")
}

/// `count` rows from row `first` on, one every `step` seconds, as a log.
fn batch(header: &str, rows: &[String], first: usize, count: usize, step: f64) -> Log {
    let mut text = header.to_string();
    for k in first..first + count {
        text.push_str(&line(rows, k, T0 + k as f64 * step));
        text.push('\n');
    }
    zsift::ingest::load_bytes("stream", text.as_bytes()).expect("parse batch")
}

fn throughput(header: &str, rows: &[String]) {
    let fit = 100_000;
    let per = 10_000;
    let step = 0.001;
    let mut medians = Vec::new();
    for round in 0..3 {
        let start = Log {
            ..batch(header, rows, 0, fit, step)
        };
        let t = Instant::now();
        let (_, mut live) = Live::fit(
            &start,
            &Model::default(),
            Window::Micros(86_400_000_000),
            &Cancel::new(),
        )
        .expect("fit");
        let fit_s = t.elapsed().as_secs_f64();
        let mut secs = Vec::new();
        let mut flagged = 0;
        for b in 0..10 {
            let t = Instant::now();
            let log = batch(header, rows, fit + b * per, per, step);
            let s = live.score(&log, &Cancel::new()).expect("score");
            secs.push(t.elapsed().as_secs_f64());
            flagged += s.iter().filter(|r| r.flagged).count();
        }
        secs.sort_by(f64::total_cmp);
        let m = median(&secs);
        medians.push(m);
        println!(
            "round {round}: fit {fit_s:.2} s; batch of {per}: median {m:.3} s (min {:.3}, max \
             {:.3}) = {:.0} rows/s; {flagged} flagged",
            secs[0],
            secs[secs.len() - 1],
            per as f64 / m
        );
    }
    medians.sort_by(f64::total_cmp);
    println!(
        "throughput: median of rounds {:.0} rows/s (target >= 50,000)",
        per as f64 / median(&medians)
    );
}

/// A temporary conn.log of `header` and the stream's first `n` rows, one every `step`
/// seconds: the directory (removed when dropped) and the log.
fn warm_log(
    header: &str,
    rows: &[String],
    n: usize,
    step: f64,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("conn.log");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(header.as_bytes()).unwrap();
    for k in 0..n {
        writeln!(f, "{}", line(rows, k, T0 + k as f64 * step)).unwrap();
    }
    (dir, path)
}

fn delay(header: &str, rows: &[String]) {
    let rate = 2000.0;
    let step = 1.0 / rate;
    let warm = 20_000;
    let (_dir, path) = warm_log(header, rows, warm, step);
    let mut child = Command::new(env!("CARGO_BIN_EXE_zsift"))
        .args([
            "score", "--follow", "--all", "--format", "jsonl", "--warmup", "1000",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zsift");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut err_lines = stderr.lines();
    loop {
        let l = err_lines.next().expect("zsift's stderr").unwrap();
        if l.contains("model fitted") {
            break;
        }
    }
    let stdout = child.stdout.take().unwrap();
    let seen = std::thread::spawn(move || {
        let mut at: HashMap<String, Instant> = HashMap::new();
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let now = Instant::now();
            if let Some(i) = l.find("\"uid\":\"") {
                let uid = l[i + 7..].split('"').next().unwrap_or("").to_string();
                at.insert(uid, now);
            }
        }
        at
    });
    let mut written: Vec<(String, Instant)> = Vec::new();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    let seconds = 30;
    let per_write = 20;
    let start = Instant::now();
    let mut k = warm;
    for w in 0..(seconds * 1000 / 10) {
        let due = start + Duration::from_millis(10 * w as u64);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let mut text = String::new();
        let mut uids = Vec::new();
        for _ in 0..per_write {
            text.push_str(&line(rows, k, T0 + k as f64 * step));
            text.push('\n');
            uids.push(format!("B{k:017}"));
            k += 1;
        }
        f.write_all(text.as_bytes()).unwrap();
        let now = Instant::now();
        written.extend(uids.into_iter().map(|u| (u, now)));
    }
    // Time for the last rows to come through, then a clean end.
    std::thread::sleep(Duration::from_secs(3));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().expect("wait");
    let at = seen.join().expect("reader");
    let mut delays: Vec<f64> = written
        .iter()
        .filter_map(|(u, t)| {
            at.get(u)
                .map(|s| s.saturating_duration_since(*t).as_secs_f64())
        })
        .collect();
    let missing = written.len() - delays.len();
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!(
        "delay at {rate:.0} rows/s for {seconds} s ({} rows, {missing} not seen, exit {status}): \
         p50 {:.3} s, p99 {:.3} s, max {:.3} s (target p99 < 1 s)",
        written.len(),
        q(0.5),
        q(0.99),
        delays[delays.len() - 1]
    );
}

fn memory(header: &str, rows: &[String]) {
    let rate = 1000.0;
    let step = 1.0 / rate;
    let window_min: usize = std::env::var("ZSIFT_BENCH_WINDOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let hours: usize = std::env::var("ZSIFT_BENCH_HOURS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let per = 60_000; // a simulated minute
    let window = Window::Micros(window_min as i64 * 60_000_000);
    let start = batch(header, rows, 0, per, step);
    let (_, mut live) = Live::fit(&start, &Model::default(), window, &Cancel::new()).expect("fit");
    drop(start);
    let t = Instant::now();
    let mut k = per;
    println!(
        "memory: {rate:.0} rows/s, window {window_min} min ({} rows), one batch per \
         simulated minute",
        window_min * 60 * rate as usize
    );
    for minute in 1..=hours * 60 {
        let log = batch(header, rows, k, per, step);
        k += per;
        live.score(&log, &Cancel::new()).expect("score");
        if minute % 10 == 0 {
            println!(
                "  {:>3} min simulated: window {:>7} rows, resident {:>6.0} MB (peak {:>6.0} MB), \
                 {:.1} s elapsed",
                minute,
                live.frame().height(),
                mb(rss()),
                mb(peak_rss()),
                t.elapsed().as_secs_f64()
            );
        }
    }
}

/// The delay from a row's append to the UI's view holding it: the worker and the app
/// of `zsift -f` (no terminal: the frame a view is drawn in takes under a millisecond),
/// 2,000 rows/s for 20 s onto a 20k-row log.
fn screen(header: &str, rows: &[String]) {
    use zsift::tui::app::{App, FollowView};
    use zsift::tui::worker::Worker;
    let rate = 2000.0;
    let step = 1.0 / rate;
    let warm = 20_000;
    let (_dir, path) = warm_log(header, rows, warm, step);
    let mut app = App::new("conn.log", 0, false);
    app.follow = Some(FollowView::default());
    let mut w = Worker::start();
    w.load_follow(
        path.clone(),
        zsift::ingest::Limits::default(),
        1000,
        Window::Micros(86_400_000_000),
    );
    // Until the first fit and its 2-D views are done.
    let apply = |app: &mut App, w: &mut Worker, wait: Duration| {
        if let Ok(e) = w.events.recv_timeout(wait) {
            if let Some(job) = app.on_event(e) {
                w.submit(job);
            }
        }
    };
    while app.results.is_none() || app.busy() {
        apply(&mut app, &mut w, Duration::from_millis(50));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    let seconds = 20;
    let per_write = 20;
    // (rows appended after this write, when it was written)
    let mut writes: Vec<(u64, Instant)> = Vec::new();
    let mut seen: Vec<(u64, Instant)> = Vec::new();
    let start = Instant::now();
    let mut k = warm;
    let mut appended = 0u64;
    for wr in 0..(seconds * 1000 / 10) {
        let due = start + Duration::from_millis(10 * wr as u64);
        while Instant::now() < due {
            let left = due.saturating_duration_since(Instant::now());
            apply(&mut app, &mut w, left.min(Duration::from_millis(5)));
            let shown = app.follow.as_ref().map_or(0, |f| f.shown);
            if seen.last().is_none_or(|s| s.0 < shown) {
                seen.push((shown, Instant::now()));
            }
        }
        let mut text = String::new();
        for _ in 0..per_write {
            text.push_str(&line(rows, k, T0 + k as f64 * step));
            text.push('\n');
            k += 1;
        }
        f.write_all(text.as_bytes()).unwrap();
        appended += per_write as u64;
        writes.push((appended, Instant::now()));
    }
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && seen.last().is_none_or(|s| s.0 < appended) {
        apply(&mut app, &mut w, Duration::from_millis(5));
        let shown = app.follow.as_ref().map_or(0, |f| f.shown);
        if seen.last().is_none_or(|s| s.0 < shown) {
            seen.push((shown, Instant::now()));
        }
    }
    let mut delays: Vec<f64> = writes
        .iter()
        .filter_map(|&(n, t)| {
            seen.iter()
                .find(|s| s.0 >= n)
                .map(|s| s.1.saturating_duration_since(t).as_secs_f64())
        })
        .collect();
    let missing = writes.len() - delays.len();
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!(
        "UI delay at {rate:.0} rows/s for {seconds} s ({} updates, {missing} writes never \
         shown): p50 {:.3} s, p99 {:.3} s, max {:.3} s (target p99 < 1 s)",
        seen.len(),
        q(0.5),
        q(0.99),
        delays[delays.len() - 1]
    );
}

/// What one update of the UI's views costs on a 60k-row window: the window as an
/// analysis, the views' results, their summaries, the log's summary.
fn update_cost(header: &str, rows: &[String]) {
    let log = batch(header, rows, 0, 60_000, 0.0005);
    let (_, live) = Live::fit(
        &log,
        &Model::default(),
        Window::Micros(86_400_000_000),
        &Cancel::new(),
    )
    .expect("fit");
    let model = Model::default();
    for _ in 0..3 {
        let t = Instant::now();
        let a = live.analysis(&Cancel::new()).expect("analysis");
        let t1 = t.elapsed().as_secs_f64();
        let log = std::sync::Arc::new(live.window_log());
        let t = Instant::now();
        let r = zsift::tui::data::Results::new(&log, &model, a, &Cancel::new(), Instant::now())
            .expect("results");
        let t2 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let c = Cancel::new();
        r.summarise(&c);
        r.evaluate_detectors(&c);
        let t3 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = zsift::tui::data::LogInfo::new(&log, "x");
        let t4 = t.elapsed().as_secs_f64();
        println!("update of 60k rows: analysis {t1:.3} s, results {t2:.3} s, summaries {t3:.3} s, log summary {t4:.3} s");
    }
}

fn main() {
    let (header, rows) = source(200_000);
    let parts = std::env::var("ZSIFT_BENCH_PARTS").unwrap_or_else(|_| "1,2,3,4".into());
    if parts.contains('1') {
        throughput(&header, &rows);
    }
    if parts.contains('2') {
        delay(&header, &rows);
    }
    if parts.contains('3') {
        memory(&header, &rows);
    }
    if parts.contains('4') {
        screen(&header, &rows);
    }
    if parts.contains('5') {
        update_cost(&header, &rows);
    }
}
