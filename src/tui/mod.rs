//! The full-screen terminal UI: `zsift LOG...` on a terminal.
//!
//! Elm-shaped: [`app::App`] is the state, keys become [`keys::Action`]s through the one
//! key table and change the state in [`app::App::update`], and [`views`] draw it without
//! changing anything. The log loads and the pipeline runs on [`worker`] threads, so the
//! first screen shows while loading and the UI never waits for a detector.

pub mod app;
pub mod data;
pub mod guard;
pub mod keys;
pub mod tabs;
pub mod terminal;
pub mod views;
pub mod worker;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyEventKind};

use std::io::IsTerminal;

use crate::ingest::Input;
use app::App;
use terminal::Tui;
use worker::Worker;

/// Why the UI ended in error.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The log could not be loaded (the message names the file and the reason).
    #[error("{0}")]
    Load(String),
    /// The terminal could not be written or read.
    #[error(transparent)]
    Terminal(#[from] std::io::Error),
}

/// How often the screen is redrawn while work runs.
const TICK: Duration = Duration::from_millis(100);
/// How long to wait for a key when idle (signals are checked at this pace).
const IDLE: Duration = Duration::from_millis(250);

/// Whether colours are wanted: `NO_COLOR` set to anything non-empty turns them off.
pub fn colors_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Bytes the input will load (0 for standard input), for the loading line.
fn input_bytes(input: &Input) -> u64 {
    if input.demo {
        return crate::demo::DEMO_LOG.len() as u64;
    }
    input
        .logs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Runs the UI on the logs until the user quits. The terminal is restored on every way
/// out; a SIGTERM, SIGHUP or SIGINT ends zsift as the signal would have, after restoring
/// it.
pub fn run(
    input: &Input,
    follow: Option<crate::live::FollowSettings>,
    saved: Option<worker::SavedFile>,
) -> Result<(), UiError> {
    let mut app = App::new(
        &worker::input_name(input),
        input_bytes(input),
        colors_wanted(),
    );
    let mut worker = Worker::start();
    if let Some(s) = saved {
        let name = s.path.file_name().unwrap_or(s.path.as_os_str());
        app.saved = Some((s.model.clone(), data::clean(&name.to_string_lossy())));
        worker.use_saved(s);
    }
    match (follow, input.logs.as_slice()) {
        (Some(f), [log]) => {
            app.follow = Some(app::FollowView {
                refit: f.refit,
                ..app::FollowView::default()
            });
            app.table.newest_first = true;
            worker.load_follow(log.clone(), input.limits, f.warmup, f.window);
        }
        _ => worker.load(input.clone()),
    }
    let mut tui = Tui::enter()?;
    let result = event_loop(&mut tui, &mut app, &mut worker);
    worker.cancel();
    let signal = tui.signal.load(Ordering::SeqCst);
    drop(tui);
    if signal != 0 {
        let _ = signal_hook::low_level::emulate_default_handler(signal as i32);
    }
    result
}

fn event_loop(tui: &mut Tui, app: &mut App, worker: &mut Worker) -> Result<(), UiError> {
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        app.now = Instant::now();
        if tui.signal.load(Ordering::SeqCst) != 0 {
            return Ok(());
        }
        // A terminal that went away without a SIGHUP reaching us (a killed tmux server, a
        // dropped SSH session) reads as endless end-of-file: leave instead of spinning.
        if !std::io::stdout().is_terminal() {
            return Ok(());
        }
        while let Ok(e) = worker.events.try_recv() {
            if let Some(job) = app.on_event(e) {
                worker.submit(job);
            }
            dirty = true;
        }
        if let Some(job) = app.tick() {
            worker.submit(job);
            dirty = true;
        }
        if let Some(m) = terminal::take_worker_panic() {
            app.status = Some(data::clean(&format!("internal error: {m}")));
            dirty = true;
        }
        if let Some(e) = &app.load_error {
            return Err(UiError::Load(e.clone()));
        }
        if app.quit {
            return Ok(());
        }
        let due = last_draw.is_none_or(|t| app.busy() && t.elapsed() >= TICK);
        if dirty || due {
            let size = tui.terminal.size()?;
            app.page = usize::from(size.height.saturating_sub(9)).max(1);
            tui.terminal.draw(|f| {
                views::render(app, f);
                terminal::scrub(f.buffer_mut());
            })?;
            dirty = false;
            #[cfg(feature = "fault-injection")]
            if last_draw.is_none() && crate::fault::wanted("panic") {
                panic!("injected fault: the UI thread panics after the first frame");
            }
            #[cfg(feature = "fault-injection")]
            if last_draw.is_none() && crate::fault::wanted("abort") {
                // As a failed allocation ends a process: no unwinding, no hook.
                std::process::abort();
            }
            last_draw = Some(Instant::now());
        }
        let timeout = if app.busy() {
            TICK.saturating_sub(last_draw.map_or(TICK, |t| t.elapsed()))
                .max(Duration::from_millis(5))
        } else {
            IDLE
        };
        if event::poll(timeout)? {
            match event::read()? {
                TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
                    app.now = Instant::now();
                    if let Some(a) = app.action_for(k) {
                        if let Some(job) = app.update(a) {
                            worker.submit(job);
                        }
                    }
                    dirty = true;
                }
                TermEvent::Resize(_, _) => dirty = true,
                _ => {}
            }
        }
    }
}
