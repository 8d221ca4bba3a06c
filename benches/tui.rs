//! The terminal UI's speed on a 100k-row conn log: time from start to the first screen
//! (log loaded and summarised, one frame drawn), to the first anomalies (the default
//! ensemble and the host scores finished on the worker thread, a frame of them drawn), to
//! the histograms that follow, to the 2-D views and clusters after them, to each
//! detector's evaluation against the labels (labelled logs), one frame's drawing at 200x60
//! per tab, and peak memory over the whole session.
//!
//! `cargo bench --bench tui` prints medians of five sessions (targets: first screen
//! < 1 s, first anomalies < 1.5 s, frame < 5 ms). Set `ZSIFT_BENCH_ROWS` for another size,
//! or `ZSIFT_BENCH_LOG` to a log or a sensor's directory of one's own.

mod support;

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use support::*;
use zsift::cli::Input;
use zsift::tui::app::{App, Tab};
use zsift::tui::views;
use zsift::tui::worker::{Event, Worker};

fn rows() -> usize {
    std::env::var("ZSIFT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn draw(app: &App, term: &mut Terminal<TestBackend>) {
    term.draw(|f| views::render(app, f)).expect("draw");
}

/// Start to each step of a session, as the UI goes through them.
struct Session {
    /// The first screen.
    first: f64,
    /// The first anomalies (the finished ensemble).
    anomalies: f64,
    /// The distributions and the ensemble's evaluation.
    summarised: f64,
    /// The 2-D views and clusters.
    viewed: f64,
    /// Each detector's evaluation (NaN without labels).
    evaluated: f64,
    app: App,
}

/// Runs one session of the UI, to its last step.
fn session(input: &Input) -> Session {
    let t = Instant::now();
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut app = App::new("bench", 0, true);
    let mut w = Worker::start();
    w.load(input.clone());
    let nan = f64::NAN;
    let (mut first, mut anomalies, mut summarised) = (nan, nan, nan);
    let (mut viewed, mut evaluated) = (nan, nan);
    loop {
        let e = w
            .events
            .recv_timeout(Duration::from_secs(600))
            .expect("worker event");
        let done = matches!(e, Event::Done { .. });
        let summary = matches!(e, Event::Summarised { .. });
        let views = matches!(e, Event::Landscape { .. });
        let evaluation = matches!(e, Event::Evaluated { .. });
        let failed = matches!(e, Event::Failed { .. });
        let loaded = matches!(e, Event::Loaded(_));
        if let Some(job) = app.on_event(e) {
            w.submit(job);
        }
        let now = || t.elapsed().as_secs_f64();
        if loaded {
            draw(&app, &mut term);
            first = now();
        }
        if done {
            draw(&app, &mut term);
            anomalies = now();
        }
        if summary {
            summarised = now();
        }
        if views {
            viewed = now();
        }
        if evaluation {
            evaluated = now();
        }
        // A labelled log's detectors are evaluated after the views (the worker reports
        // it whether or not the evaluation is already done when this is read).
        let labelled = app
            .results
            .as_ref()
            .is_some_and(|r| r.evaluation().is_some());
        if failed || evaluation || (views && !labelled) {
            break;
        }
    }
    draw(&app, &mut term);
    assert!(app.results.is_some(), "the job failed: {:?}", app.job);
    assert!(app.landscape.is_some(), "no 2-D views: {:?}", app.job);
    Session {
        first,
        anomalies,
        summarised,
        viewed,
        evaluated,
        app,
    }
}

fn main() {
    // A log or a sensor's directory of one's own (ZSIFT_BENCH_LOG), or a scaled conn log.
    let path = std::env::var_os("ZSIFT_BENCH_LOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scaled(rows(), false));
    let input = Input::files(vec![path.clone()]);
    if child_task().is_some() {
        zsift::memory::trace_start();
        let s = session(&input);
        println!("{} {}", peak_rss(), s.app.results.map_or(0, |r| r.rows()));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("tui: bench");
        return;
    }
    let n = rows();
    let what = if std::env::var_os("ZSIFT_BENCH_LOG").is_some() {
        path.display().to_string()
    } else {
        format!("{n} rows")
    };
    println!(
        "tui, {what} ({:.1} MB TSV), {} threads",
        mb(size(&path)),
        rayon::current_num_threads()
    );
    let (mut firsts, mut finished) = (Vec::new(), Vec::new());
    let (mut summarised, mut viewed, mut evaluated) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    // Five sessions (ZSIFT_BENCH_SESSIONS for another number: a 10M-row log takes minutes).
    let sessions = std::env::var("ZSIFT_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    for _ in 0..sessions {
        let s = session(&input);
        firsts.push(s.first);
        finished.push(s.anomalies);
        summarised.push(s.summarised);
        viewed.push(s.viewed);
        evaluated.push(s.evaluated);
        last = Some(s.app);
    }
    for v in [
        &mut firsts,
        &mut finished,
        &mut summarised,
        &mut viewed,
        &mut evaluated,
    ] {
        v.sort_by(f64::total_cmp);
    }
    let Some(mut app) = last else { return };
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut frames = Vec::new();
    for tab in Tab::ALL {
        app.tab = tab;
        let t = times(50, || draw(&app, &mut term));
        frames.push((tab, median(&t)));
    }
    // The Scatter tab keeps its dots between frames: a frame that paints them again (as
    // after a key that changes the colouring, the layout or the view; here the same view,
    // its number bumped) is timed apart, and one that first reads its rows' points from
    // the whole map (the first frame of a new map in each layout).
    app.tab = Tab::Scatter;
    let changed = median(&times(50, || {
        app.table.view_generation += 1;
        draw(&app, &mut term)
    }));
    let relaid = median(&times(50, || {
        app.scatter.forget();
        draw(&app, &mut term)
    }));
    let peak: u64 = in_child("session")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let flagged = app.results.as_ref().map_or(0, |r| r.flagged.len());
    println!("{:<34} {:>10} {:>8}", "measure", "median", "target");
    println!(
        "{:<34} {:>8.3} s {:>8}",
        "start to first screen",
        median(&firsts),
        "< 1 s"
    );
    println!(
        "{:<34} {:>8.3} s {:>8}",
        "start to first anomalies",
        median(&finished),
        "< 1.5 s"
    );
    println!(
        "{:<34} {:>8.3} s",
        "start to histograms",
        median(&summarised),
    );
    println!(
        "{:<34} {:>8.3} s {:>8}",
        "start to 2-D views and clusters",
        median(&viewed),
        "< 120 s at 10M rows"
    );
    if evaluated.iter().all(|e| e.is_finite()) {
        println!(
            "{:<34} {:>8.3} s",
            "start to each detector's evaluation",
            median(&evaluated),
        );
    }
    for (tab, m) in &frames {
        println!(
            "{:<34} {:>7.3} ms {:>8}",
            format!("frame 200x60, {}", tab.title()),
            m * 1e3,
            "< 5 ms"
        );
    }
    println!(
        "{:<34} {:>7.3} ms {:>8}",
        "frame 200x60, Scatter, painted",
        changed * 1e3,
        "< 5 ms"
    );
    println!(
        "{:<34} {:>7.3} ms {:>8}",
        "frame 200x60, Scatter, gathered",
        relaid * 1e3,
        "< 5 ms"
    );
    println!("{:<34} {:>7.1} MB", "peak RSS (one session)", mb(peak));
    println!("({flagged} rows flagged by the default ensemble)");
    if let Some(r) = &app.results {
        let t: Vec<String> = r
            .timings
            .iter()
            .map(|t| format!("{} {:.2}", t.name, t.seconds))
            .collect();
        println!("detector seconds (fit + score): {}", t.join(", "));
    }
}
