//! Slow work off the UI thread: loading the log, and running the analysis as jobs.
//!
//! The UI submits a [`Job`] with a generation number; the worker thread runs the
//! pipeline and streams [`Event`]s back over a channel. Submitting a new job cancels the
//! running one through its [`Cancel`] flag (except while a followed log is being scored:
//! the new job is then fitted beside the scoring model, which takes over only once it is
//! fitted), and the worker skips jobs that were already superseded while queued. The UI
//! drops every event whose generation is not its current one (or, following, the scoring
//! model's updates), so a late result can never overwrite a newer one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::ingest::follow::Follower;
use crate::ingest::{Input, Limits, Log};
use crate::live::{Live, Window};
use crate::pipeline::{self, Model, Progress};
use crate::pipeline::{Landscape, LandscapeOptions, LandscapeStage};

use super::data::{LogInfo, Results};

/// A stage of a job, as shown in the header while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the worker (a previous job is still stopping).
    Queued,
    /// Selecting rows and building the feature matrix.
    Features,
    /// The detectors.
    Detectors,
    /// Tables, histograms and evaluation for the views.
    Summaries,
}

impl Stage {
    /// The stage's name in the header.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Features => "features",
            Stage::Detectors => "detectors",
            Stage::Summaries => "summaries",
        }
    }
}

/// One analysis to run.
pub struct Job {
    /// Its generation; higher supersedes lower.
    pub generation: u64,
    /// What to run.
    pub model: Model,
    /// On what.
    pub log: Arc<Log>,
    /// The followed log, when following: the job then fits on its newest window and goes
    /// on scoring the rows that arrive (set by [`Worker::submit`]).
    pub follow: Option<Arc<Following>>,
    /// Following, the window to fit on when it is fixed at submission (a fit beside a
    /// scoring model); otherwise the newest window when the fit starts.
    pub window: Option<Arc<Log>>,
    /// The model file that scores the log instead of a fit, when the job's model is its
    /// model (set by [`Worker::submit`]).
    pub saved: Option<Arc<SavedFile>>,
    /// A dns log loaded beside the analysed one: its clients' DNS behaviours join the
    /// hosts' scores.
    pub dns: Option<Arc<DnsBeside>>,
}

/// A dns log loaded beside the analysed one, and its clients' DNS behaviours, made once
/// for every job on the analysed log.
#[derive(Debug, Default)]
pub struct DnsBeside {
    log: Option<Log>,
    hosts: std::sync::OnceLock<Option<crate::hosts::DnsHosts>>,
}

impl DnsBeside {
    /// Beside `log`.
    pub fn new(log: Log) -> Self {
        Self {
            log: Some(log),
            hosts: std::sync::OnceLock::new(),
        }
    }

    /// The DNS behaviours of the dns log's clients (made on first use).
    pub fn hosts(&self) -> Option<&crate::hosts::DnsHosts> {
        self.hosts
            .get_or_init(|| {
                self.log
                    .as_ref()
                    .and_then(|l| crate::hosts::DnsHosts::of(&l.frame))
            })
            .as_ref()
    }
}

/// A saved model the UI was opened with (`zsift --model FILE`).
#[derive(Debug, Clone)]
pub struct SavedFile {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its model options: a job with these is scored by the file's model.
    pub model: Model,
}

/// A log being followed, shared by the jobs one after the other: the follower (where
/// reading stopped) and the newest window (the rows the next job fits on).
pub struct Following {
    /// The input's name, for the views.
    pub name: String,
    /// The follower, once loading has read to the end.
    pub follower: Mutex<Option<Follower>>,
    /// The newest window (all rows read, within the window).
    pub latest: Mutex<Option<Arc<Log>>>,
    /// What is kept.
    pub window: Window,
    /// A job's model is scoring the rows that arrive: a new job is then fitted beside it
    /// rather than stopping it.
    pub looping: AtomicBool,
    /// The scoring job's cancel flag (for quitting).
    pub scoring: Mutex<Option<Cancel>>,
}

/// How often the followed log is looked at (a look that finds nothing costs a `stat`).
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Least time between two updates of the views while following (more when making one
/// takes longer: the worker never spends all its time on them).
const REFRESH: Duration = Duration::from_millis(400);

/// What the worker tells the UI.
pub enum Event {
    /// The log finished loading (or failed to).
    Loaded(Result<(Arc<Log>, Arc<LogInfo>), String>),
    /// Following: rows read so far, and how many the fit waits for.
    Waiting {
        /// Rows read.
        rows: usize,
        /// Rows needed to fit.
        warmup: usize,
    },
    /// A job entered a stage; `fraction` of the whole job is done.
    Stage {
        /// The job.
        generation: u64,
        /// The stage it is in.
        stage: Stage,
        /// Share of the job done, in [0, 1].
        fraction: f64,
    },
    /// A detector finished.
    Detector {
        /// The job.
        generation: u64,
        /// Its name.
        name: &'static str,
        /// Seconds it took.
        seconds: f64,
        /// Detectors finished so far.
        done: usize,
        /// Detectors in the job.
        total: usize,
    },
    /// The job finished.
    Done {
        /// The job.
        generation: u64,
        /// What it found.
        results: Arc<Results>,
    },
    /// A finished job's distributions and its ensemble's evaluation are ready.
    Summarised {
        /// The job.
        generation: u64,
    },
    /// The embedding and clustering stage of a finished job entered a step.
    LandscapeStage {
        /// The job.
        generation: u64,
        /// The step (`PCA`, `UMAP`, `HDBSCAN (all rows)`...).
        step: String,
    },
    /// Each detector's evaluation against the labels began (after the 2-D views).
    Evaluating {
        /// The job.
        generation: u64,
    },
    /// Each detector's evaluation against the labels ended.
    Evaluated {
        /// The job.
        generation: u64,
        /// Why it could not be made, if it could not.
        error: Option<String>,
    },
    /// The embedding and clustering stage of a finished job ended.
    Landscape {
        /// The job.
        generation: u64,
        /// The 2-D views and clusters, or why they could not be computed.
        result: Result<Arc<Landscape>, String>,
    },
    /// Rows arrived in a followed log and were scored: the views of the new window.
    Grew {
        /// The job.
        generation: u64,
        /// The window's results.
        results: Arc<Results>,
        /// The window.
        log: Arc<Log>,
        /// What the views know of it.
        info: Arc<LogInfo>,
        /// Rows appended since the job's fit.
        appended: u64,
    },
    /// Something happened to a followed log (rotated, truncated, removed, back, ended).
    FollowNote {
        /// The job.
        generation: u64,
        /// What, in words.
        note: String,
    },
    /// Following stopped (the log could not be read further).
    FollowFailed {
        /// The job.
        generation: u64,
        /// Why, for the user.
        error: String,
    },
    /// The job could not run.
    Failed {
        /// The job.
        generation: u64,
        /// Why, for the user.
        error: String,
    },
    /// The job stopped because a newer one superseded it.
    Cancelled {
        /// The job.
        generation: u64,
    },
}

impl Event {
    /// The job generation this event belongs to (`None` for loading).
    pub fn generation(&self) -> Option<u64> {
        match self {
            Event::Loaded(_) | Event::Waiting { .. } => None,
            Event::Stage { generation, .. }
            | Event::Detector { generation, .. }
            | Event::Done { generation, .. }
            | Event::Summarised { generation }
            | Event::LandscapeStage { generation, .. }
            | Event::Landscape { generation, .. }
            | Event::Evaluating { generation }
            | Event::Evaluated { generation, .. }
            | Event::Failed { generation, .. }
            | Event::Grew { generation, .. }
            | Event::FollowFailed { generation, .. }
            | Event::FollowNote { generation, .. }
            | Event::Cancelled { generation } => Some(*generation),
        }
    }
}

/// The worker thread and the channels to it.
pub struct Worker {
    jobs: Sender<(Job, Cancel)>,
    events_tx: Sender<Event>,
    /// Events for the UI.
    pub events: Receiver<Event>,
    cancel: Cancel,
    /// The followed log, when following.
    follow: Option<Arc<Following>>,
    /// The saved model, when the UI was opened with one.
    saved: Option<Arc<SavedFile>>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn start() -> Self {
        // The analysis a session holds stays resident for as long as it is shown; what
        // its stages free is given back rather than kept in the allocator's arenas.
        crate::memory::return_large_blocks();
        let (jobs, job_rx) = mpsc::channel::<(Job, Cancel)>();
        let (events_tx, events) = mpsc::channel();
        let tx = events_tx.clone();
        std::thread::Builder::new()
            .name("zsift-worker".into())
            .spawn(move || serve(job_rx, tx))
            // Without a thread there is no UI to offer; this only fails when the OS
            // refuses a thread at start-up.
            .unwrap_or_else(|e| panic!("cannot start the worker thread: {e}"));
        Self {
            jobs,
            events_tx,
            events,
            cancel: Cancel::new(),
            follow: None,
            saved: None,
        }
    }

    /// Loads a log to follow: reads it to its end (and until it has `warmup` rows), then
    /// keeps the follower for the jobs, which fit on the newest window and go on scoring.
    pub fn load_follow(&mut self, path: PathBuf, limits: Limits, warmup: usize, window: Window) {
        let name = path.display().to_string();
        let following = Arc::new(Following {
            name: name.clone(),
            follower: Mutex::new(None),
            latest: Mutex::new(None),
            window,
            looping: AtomicBool::new(false),
            scoring: Mutex::new(None),
        });
        self.follow = Some(Arc::clone(&following));
        let tx = self.events_tx.clone();
        self.spawn_load(move || load_followed(&path, &limits, warmup, &following, &tx));
    }

    /// Loads the input on its own thread, then summarises it for the views.
    pub fn load(&self, input: Input) {
        self.spawn_load(move || load(&input));
    }

    /// Runs `load` on a thread of its own and reports what it gives (a panic as an
    /// internal error).
    fn spawn_load(
        &self,
        load: impl FnOnce() -> Result<(Arc<Log>, Arc<LogInfo>), String> + Send + 'static,
    ) {
        let tx = self.events_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("zsift-load".into())
            .spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(load))
                    .unwrap_or_else(|p| Err(format!("internal error: {}", panic_text(&p))));
                let _ = tx.send(Event::Loaded(r));
            });
        if let Err(e) = spawned {
            let _ = self
                .events_tx
                .send(Event::Loaded(Err(format!("cannot start loading: {e}"))));
        }
    }

    /// Queues `job`, cancelling the running one (following, a model that is scoring goes
    /// on until the new one is fitted).
    pub fn submit(&mut self, mut job: Job) {
        job.follow.clone_from(&self.follow);
        job.saved = self.saved.clone().filter(|s| s.model == job.model);
        // Following, a model that is scoring goes on until the new one is fitted.
        let scoring = self
            .follow
            .as_ref()
            .is_some_and(|f| f.looping.load(Ordering::SeqCst));
        if !scoring {
            self.cancel.cancel();
        }
        self.cancel = Cancel::new();
        let generation = job.generation;
        if self.jobs.send((job, self.cancel.clone())).is_err() {
            let _ = self.events_tx.send(Event::Failed {
                generation,
                error: "the worker thread stopped".into(),
            });
        }
    }

    /// Scores with the model of `saved` the jobs whose model is its model (the first one,
    /// until another model is chosen).
    pub fn use_saved(&mut self, saved: SavedFile) {
        self.saved = Some(Arc::new(saved));
    }

    /// Cancels the running job, if any, and the model scoring a followed log (on quit).
    pub fn cancel(&self) {
        self.cancel.cancel();
        if let Some(f) = &self.follow {
            if let Some(c) = lock(&f.scoring).as_ref() {
                c.cancel();
            }
        }
    }
}

impl Drop for Worker {
    /// A job still running (the 2-D views of the last one, say) stops with its UI.
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Loads a log and summarises it (the first screen needs both).
pub fn load(input: &Input) -> Result<(Arc<Log>, Arc<LogInfo>), String> {
    let all = input.load_all().map_err(|e| e.to_string())?;
    let kind = input
        .kind
        .clone()
        .unwrap_or_else(|| all.default_kind().to_string());
    let log = all.get(&kind).cloned().ok_or_else(|| {
        crate::ingest::IngestError::NoKind {
            kind: kind.clone(),
            loaded: all.names().join(", "),
        }
        .to_string()
    })?;
    let info = kind_info(&log, &input_name(input), &kind, Arc::new(all));
    Ok((Arc::new(log), Arc::new(info)))
}

/// The summary of `log`, of kind `kind`, among `all` the logs loaded (the header names
/// the kind when there are several).
pub fn kind_info(
    log: &Log,
    name: &str,
    kind: &str,
    all: Arc<crate::ingest::kinds::Logs>,
) -> LogInfo {
    let base = name;
    let name = if all.kinds.len() > 1 {
        format!("{name} [{kind}]")
    } else {
        name.to_string()
    };
    let mut info = LogInfo::new(log, &name);
    info.kind = kind.to_string();
    info.source = base.to_string();
    if kind != "dns" {
        if let Some(dns) = all.get("dns") {
            info.dns = Some(Arc::new(DnsBeside::new(dns.clone())));
        }
    }
    info.all = all;
    info
}

/// Reads a followed log to its end, and on until it has `warmup` rows.
fn load_followed(
    path: &std::path::Path,
    limits: &Limits,
    warmup: usize,
    following: &Following,
    events: &Sender<Event>,
) -> Result<(Arc<Log>, Arc<LogInfo>), String> {
    let mut f = Follower::open(path, limits).map_err(|e| e.to_string())?;
    let mut log: Option<Log> = None;
    loop {
        let b = f.poll().map_err(|e| e.to_string())?;
        if let Some(new) = b.log {
            log = Some(match log.take() {
                Some(old) => Log {
                    frame: crate::ingest::concat(&old.frame, &new.frame)
                        .map_err(|e| format!("{}: {e}", following.name))?,
                    ..old
                },
                None => new,
            });
        }
        let rows = log.as_ref().map_or(0, Log::rows);
        let closed = b.events.contains(&crate::ingest::follow::Event::Closed);
        if !b.more && (rows >= warmup || (closed && rows > 0)) {
            break;
        }
        if closed {
            return Err(format!(
                "{}: no rows before the input ended",
                following.name
            ));
        }
        if !b.more {
            if events.send(Event::Waiting { rows, warmup }).is_err() {
                return Err("nobody is waiting for the log any more".into());
            }
            f.wait(LOOK_EVERY);
        }
    }
    let log = Arc::new(log.expect("rows were read"));
    *lock(&following.follower) = Some(f);
    *lock(&following.latest) = Some(Arc::clone(&log));
    let info = LogInfo::new(&log, &following.name);
    Ok((log, Arc::new(info)))
}

/// A mutex's contents, even after a panic elsewhere (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the input is named in the header.
pub fn input_name(input: &Input) -> String {
    if input.demo {
        return crate::demo::DEMO_NAME.into();
    }
    match input.logs.as_slice() {
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} (+{} files)", first.display(), rest.len()),
        [] => "-".into(),
    }
}

/// What running a job gave (a panic caught).
type Outcome = std::thread::Result<Result<Ran, Stop>>;

/// The newest of the jobs queued after `first` (the others are superseded and said so).
fn newest(
    jobs: &Receiver<(Job, Cancel)>,
    first: (Job, Cancel),
    events: &Sender<Event>,
) -> (Job, Cancel) {
    let mut next = first;
    while let Ok(newer) = jobs.try_recv() {
        let _ = events.send(Event::Cancelled {
            generation: next.0.generation,
        });
        next = newer;
    }
    next
}

fn serve(jobs: Receiver<(Job, Cancel)>, events: Sender<Event>) {
    // A job whose fit already ran (in the background, while a followed log went on being
    // scored by the model before it).
    let mut handed: Option<(Job, Cancel, Outcome)> = None;
    // A job taken from the queue while rows were being collected.
    let mut queued: Option<(Job, Cancel)> = None;
    loop {
        let (job, cancel, ran) = match handed.take() {
            Some((job, cancel, outcome)) => match jobs.try_recv() {
                // A newer job waits already: the handed one is superseded.
                Ok(first) => {
                    let _ = events.send(Event::Cancelled {
                        generation: job.generation,
                    });
                    let (job, cancel) = newest(&jobs, first, &events);
                    (job, cancel, None)
                }
                Err(_) => (job, cancel, Some(outcome)),
            },
            None => {
                let first = match queued.take() {
                    Some(q) => q,
                    None => match jobs.recv() {
                        Ok(first) => first,
                        Err(_) => return,
                    },
                };
                let (job, cancel) = newest(&jobs, first, &events);
                (job, cancel, None)
            }
        };
        if cancel.is_cancelled() {
            let _ = events.send(Event::Cancelled {
                generation: job.generation,
            });
            continue;
        }
        let generation = job.generation;
        let handed_over = ran.is_some();
        let outcome = match ran {
            Some(o) => o,
            None => catch_unwind(AssertUnwindSafe(|| run(&job, &cancel, &events))),
        };
        let mut finished = None;
        let event = match outcome {
            Ok(Ok((results, live, log))) => {
                let results = Arc::new(results);
                finished = Some((Arc::clone(&results), live, log));
                Event::Done {
                    generation,
                    results,
                }
            }
            Ok(Err(Stop::Cancelled)) => Event::Cancelled { generation },
            Ok(Err(Stop::Failed(error))) => Event::Failed { generation, error },
            Err(p) => Event::Failed {
                generation,
                error: format!("internal error: {}", panic_text(&p)),
            },
        };
        let failed = finished.is_none();
        if events.send(event).is_err() {
            return;
        }
        // Following with no model (the fit could not be made on the rows so far): the rows
        // that arrive are still read, so that the next fit (R) has them.
        if let (true, Some(following)) = (failed, job.follow.as_ref()) {
            match collect(following, &jobs) {
                Some(next) => queued = Some(next),
                None => return,
            }
            continue;
        }
        // The anomalies are on screen; the distributions and the ensemble's evaluation,
        // then the 2-D views and clusters, then each detector's evaluation follow, unless
        // a newer job is already waiting.
        if let Some((results, live, log)) = finished {
            let summarised = catch_unwind(AssertUnwindSafe(|| results.summarise(&cancel)));
            crate::memory::release();
            crate::memory::trace("distributions");
            if cancel.is_cancelled() {
                continue;
            }
            if let Err(p) = summarised {
                let error = format!("internal error: {}", panic_text(&p));
                let _ = events.send(Event::Failed { generation, error });
                continue;
            }
            if events.send(Event::Summarised { generation }).is_err() {
                return;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run_landscape(generation, &log, &results, &cancel, &events)
            }));
            let result = match outcome {
                Ok(Ok(l)) => Ok(Arc::new(l)),
                Ok(Err(Stop::Cancelled)) => continue,
                Ok(Err(Stop::Failed(e))) => Err(e),
                Err(p) => Err(format!("internal error: {}", panic_text(&p))),
            };
            if events
                .send(Event::Landscape { generation, result })
                .is_err()
            {
                return;
            }
            if results.detectors_pending() {
                if events.send(Event::Evaluating { generation }).is_err() {
                    return;
                }
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| results.evaluate_detectors(&cancel)));
                crate::memory::release();
                crate::memory::trace("each detector's evaluation");
                let error = match outcome {
                    Ok(false) => continue,
                    Ok(true) => None,
                    Err(p) => {
                        let e = format!("internal error: {}", panic_text(&p));
                        results.detectors_failed(&e);
                        Some(e)
                    }
                };
                if events.send(Event::Evaluated { generation, error }).is_err() {
                    return;
                }
            }
            // Following: the rows that arrive, scored by this job's model, until a newer
            // job supersedes it.
            if let (Some(mut live), Some(following)) = (live, job.follow.as_ref()) {
                following.looping.store(true, Ordering::SeqCst);
                // The next job fits on this model's window; rows taken over from the
                // model before (scored while this one was fitted) are not shown yet.
                *lock(&following.latest) = Some(Arc::new(live.window_log()));
                *lock(&following.scoring) = Some(cancel.clone());
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    follow(
                        &job,
                        following,
                        &mut live,
                        handed_over,
                        &cancel,
                        &events,
                        &jobs,
                    )
                }));
                following.looping.store(false, Ordering::SeqCst);
                *lock(&following.scoring) = None;
                let error = match outcome {
                    Ok(Ok(next)) => {
                        handed = next;
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(p) => format!("internal error: {}", panic_text(&p)),
                };
                let _ = events.send(Event::FollowFailed { generation, error });
            }
        }
    }
}

/// Follows the log for a finished job: scores the rows that arrive with its model and,
/// at most every [`REFRESH`] (or the time one takes to make), sends the views of the new
/// window. Ends when a newer job cancels it.
///
/// A job submitted meanwhile (a refit, another model) is fitted on a thread of its own
/// while this model goes on scoring; once it is fitted, it takes over the rows scored
/// meanwhile and is handed back to be served (`Some`).
#[allow(clippy::too_many_arguments)]
fn follow(
    job: &Job,
    following: &Following,
    live: &mut Live,
    unsent: bool,
    cancel: &Cancel,
    events: &Sender<Event>,
    jobs: &Receiver<(Job, Cancel)>,
) -> Result<Option<(Job, Cancel, Outcome)>, String> {
    let mut background: Option<Background> = None;
    let r = follow_loop(
        job,
        following,
        live,
        unsent,
        cancel,
        events,
        jobs,
        &mut background,
    );
    // However following ends, a fit still running beside it ends too, and says so.
    if let Some(b) = background {
        b.cancel.cancel();
        let _ = events.send(Event::Cancelled {
            generation: b.generation,
        });
    }
    r
}

/// Reads the rows that arrive into the newest window until a job is submitted (which is
/// returned); `None` when the UI is gone.
fn collect(following: &Following, jobs: &Receiver<(Job, Cancel)>) -> Option<(Job, Cancel)> {
    loop {
        match jobs.try_recv() {
            Ok(next) => return Some(next),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let mut f = lock(&following.follower);
        let Some(f) = f.as_mut() else {
            return jobs.recv().ok();
        };
        let Ok(b) = f.poll() else {
            return jobs.recv().ok();
        };
        if let Some(rows) = b.log {
            let mut latest = lock(&following.latest);
            let grown = match latest.as_ref() {
                Some(old) => crate::ingest::concat(&old.frame, &rows.frame)
                    .ok()
                    .map(|frame| Log {
                        frame,
                        files: old.files.clone(),
                        skipped: old.skipped.clone(),
                    }),
                None => Some(rows),
            };
            if let Some(g) = grown {
                *latest = Some(Arc::new(g));
            }
        }
        if !b.more {
            f.wait(LOOK_EVERY);
        }
    }
}

/// A job being fitted beside the scoring model.
struct Background {
    cancel: Cancel,
    thread: std::thread::JoinHandle<(Job, Outcome)>,
    /// Rows the scoring model had been given when the fit started.
    at: u64,
    generation: u64,
}

#[allow(clippy::too_many_arguments)]
fn follow_loop(
    job: &Job,
    following: &Following,
    live: &mut Live,
    mut unsent: bool,
    cancel: &Cancel,
    events: &Sender<Event>,
    jobs: &Receiver<(Job, Cancel)>,
    background: &mut Option<Background>,
) -> Result<Option<(Job, Cancel, Outcome)>, String> {
    let mut last_sent = Instant::now();
    let mut every = REFRESH;
    while !cancel.is_cancelled() {
        match jobs.try_recv() {
            Ok(first) => {
                // A newer job supersedes the one being fitted.
                if let Some(b) = background.take() {
                    b.cancel.cancel();
                    let _ = events.send(Event::Cancelled {
                        generation: b.generation,
                    });
                }
                let (mut next, next_cancel) = newest(jobs, first, events);
                // Fitted on the window as it is now: the rows after it are those this
                // model scores meanwhile, which the new one takes over.
                next.window = Some(Arc::new(live.window_log()));
                let (ev, c) = (events.clone(), next_cancel.clone());
                let generation = next.generation;
                let spawned = std::thread::Builder::new()
                    .name("zsift-refit".into())
                    .spawn(move || {
                        let outcome = catch_unwind(AssertUnwindSafe(|| run(&next, &c, &ev)));
                        (next, outcome)
                    });
                match spawned {
                    Ok(thread) => {
                        *background = Some(Background {
                            cancel: next_cancel,
                            thread,
                            at: live.appended(),
                            generation,
                        })
                    }
                    Err(e) => {
                        let _ = events.send(Event::Failed {
                            generation,
                            error: format!("cannot start the fit: {e}"),
                        });
                    }
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => return Ok(None),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if background.as_ref().is_some_and(|b| b.thread.is_finished()) {
            let Background {
                cancel: next_cancel,
                thread,
                at,
                generation,
            } = background.take().expect("checked");
            match thread.join() {
                Ok((next, Ok(Ok((results, Some(mut new), log))))) => {
                    // The rows this model scored meanwhile join the new one's window.
                    new.take_over(live, at);
                    return Ok(Some((next, next_cancel, Ok(Ok((results, Some(new), log))))));
                }
                // A fit that failed or was cancelled: said so, and this model goes on.
                Ok((next, outcome)) => {
                    let generation = next.generation;
                    let _ = events.send(match outcome {
                        Ok(Err(Stop::Failed(error))) => Event::Failed { generation, error },
                        Err(p) => Event::Failed {
                            generation,
                            error: format!("internal error: {}", panic_text(&p)),
                        },
                        _ => Event::Cancelled { generation },
                    });
                }
                Err(_) => {
                    let _ = events.send(Event::Failed {
                        generation,
                        error: "internal error: the fit's thread ended".into(),
                    });
                }
            }
        }
        let batch = {
            let mut f = lock(&following.follower);
            let Some(f) = f.as_mut() else {
                return Err("the log is not being followed".into());
            };
            f.poll().map_err(|e| e.to_string())?
        };
        for e in &batch.events {
            use crate::ingest::follow::Event as F;
            let note = match e {
                F::Rotated => "the log was rotated: reading the new file",
                F::Truncated => "the log was truncated: reading it again from its start",
                F::Gone => "the log was removed: keeping what was read, watching for it",
                F::Back => "the log is back: reading it",
                F::Closed => "the input ended: no more rows will come",
            };
            let _ = events.send(Event::FollowNote {
                generation: job.generation,
                note: note.into(),
            });
        }
        if let Some(rows) = batch.log {
            match live.score(&rows, cancel) {
                Ok(_) => {}
                Err(e) if e.is_cancelled() => return Ok(None),
                Err(e) => return Err(format!("{}: {e}", following.name)),
            }
            unsent = true;
            // The next job fits on every row read so far.
            *lock(&following.latest) = Some(Arc::new(live.window_log()));
        }
        if unsent && last_sent.elapsed() >= every {
            let t = Instant::now();
            let analysis = match live.analysis(cancel) {
                Ok(a) => a,
                Err(e) if e.is_cancelled() => return Ok(None),
                // The filter keeps no row of the window now: nothing to show until it does.
                Err(pipeline::PipelineError::Features(crate::features::FeatureError::NoRows(
                    _,
                ))) => {
                    unsent = false;
                    last_sent = Instant::now();
                    continue;
                }
                Err(e) => return Err(format!("{}: {e}", following.name)),
            };
            let log = Arc::new(live.window_log());
            let Some(results) = Results::new(&log, &job.model, analysis, cancel, t) else {
                return Ok(None);
            };
            if !results.summarise(cancel) || !results.evaluate_detectors(cancel) {
                return Ok(None);
            }
            let info = Arc::new(LogInfo::new(&log, &following.name));
            let sent = events.send(Event::Grew {
                generation: job.generation,
                results: Arc::new(results),
                log,
                info,
                appended: live.appended(),
            });
            if sent.is_err() {
                return Ok(None);
            }
            unsent = false;
            last_sent = Instant::now();
            every = REFRESH.max(t.elapsed());
        }
        if !batch.more {
            if let Some(f) = lock(&following.follower).as_mut() {
                f.wait(LOOK_EVERY);
            }
        }
    }
    Ok(None)
}

/// PCA, UMAP and HDBSCAN on a finished job's matrix, streaming the step names.
fn run_landscape(
    generation: u64,
    log: &Log,
    results: &Results,
    cancel: &Cancel,
    events: &Sender<Event>,
) -> Result<Landscape, Stop> {
    let progress = |s: LandscapeStage| {
        let step = match s {
            LandscapeStage::Pca => "PCA".to_string(),
            LandscapeStage::Umap => "UMAP".to_string(),
            LandscapeStage::Hdbscan(sub) => format!("HDBSCAN ({} rows)", sub.name()),
            LandscapeStage::UmapAndHdbscan => "UMAP and HDBSCAN".to_string(),
        };
        let _ = events.send(Event::LandscapeStage { generation, step });
    };
    pipeline::landscape(
        log,
        &results.analysis,
        &LandscapeOptions::default(),
        cancel,
        &progress,
    )
    .map_err(|e| {
        if e.is_cancelled() {
            Stop::Cancelled
        } else {
            Stop::Failed(e.to_string())
        }
    })
}

enum Stop {
    Cancelled,
    Failed(String),
}

/// What a job made: its results, the model kept to score new rows (when following),
/// and the log it ran on (when following, the newest window).
type Ran = (Results, Option<Live>, Arc<Log>);

/// Runs one job, streaming its progress.
fn run(job: &Job, cancel: &Cancel, events: &Sender<Event>) -> Result<Ran, Stop> {
    let generation = job.generation;
    #[cfg(feature = "fault-injection")]
    if crate::fault::wanted("panic-worker") {
        panic!("injected fault: the worker thread panics");
    }
    let started = Instant::now();
    let total = job.model.ensemble.detectors.len().max(1);
    let _ = events.send(Event::Stage {
        generation,
        stage: Stage::Features,
        fraction: 0.0,
    });
    let progress = |p: Progress| {
        let e = match p {
            Progress::Features => Event::Stage {
                generation,
                stage: Stage::Features,
                fraction: 0.02,
            },
            Progress::Detector {
                name,
                seconds,
                done,
                total,
            } => Event::Detector {
                generation,
                name,
                seconds,
                done,
                total,
            },
        };
        let _ = events.send(e);
    };
    let stop = |e: pipeline::PipelineError| {
        if e.is_cancelled() {
            Stop::Cancelled
        } else {
            Stop::Failed(e.to_string())
        }
    };
    let (log, analysis, live) = match &job.follow {
        Some(f) => {
            let log = job
                .window
                .clone()
                .or_else(|| lock(&f.latest).clone())
                .unwrap_or_else(|| Arc::clone(&job.log));
            let (a, l) =
                Live::fit_reporting(&log, &job.model, f.window, cancel, &progress).map_err(stop)?;
            (log, a, Some(l))
        }
        None => {
            let a = match &job.saved {
                Some(s) => {
                    let loaded =
                        crate::modelfile::read(&s.path).map_err(|e| Stop::Failed(e.to_string()))?;
                    crate::live::analyze_saved(loaded, &job.log, cancel)
                        .map_err(stop)?
                        .1
                }
                None => pipeline::analyze_views(&job.log, &job.model, cancel, &progress)
                    .map_err(stop)?,
            };
            (Arc::clone(&job.log), a, None)
        }
    };
    let mut analysis = analysis;
    if let Some(dns) = job.dns.as_ref().and_then(|d| d.hosts()) {
        analysis.add_dns_hosts(dns);
    }
    if cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    let _ = events.send(Event::Stage {
        generation,
        stage: Stage::Summaries,
        fraction: detector_fraction(total, total),
    });
    let results = Results::new(&log, &job.model, analysis, cancel, started);
    crate::memory::release();
    crate::memory::trace("the views' data");
    crate::memory::release();
    results.map(|r| (r, live, log)).ok_or(Stop::Cancelled)
}

/// Share of a job done once `done` of `total` detectors finished: the features take a
/// sliver at the start and the summaries one at the end.
pub fn detector_fraction(done: usize, total: usize) -> f64 {
    0.02 + 0.95 * done as f64 / total.max(1) as f64
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}
