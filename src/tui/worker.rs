//! Slow work off the UI thread: loading the log, and running the analysis as jobs.
//!
//! The UI submits a [`Job`] with a generation number; the worker thread runs the
//! pipeline and streams [`Event`]s back over a channel. Submitting a new job cancels the
//! running one through its [`Cancel`] flag, and the worker skips jobs that were already
//! superseded while queued. The UI drops every event whose generation is not its current
//! one, so a late result can never overwrite a newer one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use crate::cancel::Cancel;
use crate::ingest::Input;
use crate::ingest::Log;
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
}

/// What the worker tells the UI.
pub enum Event {
    /// The log finished loading (or failed to).
    Loaded(Result<(Arc<Log>, Arc<LogInfo>), String>),
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
    /// A finished job's distributions and evaluation are ready.
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
    /// The embedding and clustering stage of a finished job ended.
    Landscape {
        /// The job.
        generation: u64,
        /// The 2-D views and clusters, or why they could not be computed.
        result: Result<Arc<Landscape>, String>,
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
            Event::Loaded(_) => None,
            Event::Stage { generation, .. }
            | Event::Detector { generation, .. }
            | Event::Done { generation, .. }
            | Event::Summarised { generation }
            | Event::LandscapeStage { generation, .. }
            | Event::Landscape { generation, .. }
            | Event::Failed { generation, .. }
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
}

impl Worker {
    /// Starts the worker thread.
    pub fn start() -> Self {
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
        }
    }

    /// Loads the input on its own thread, then summarises it for the views.
    pub fn load(&self, input: Input) {
        let tx = self.events_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("zsift-load".into())
            .spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| load(&input)))
                    .unwrap_or_else(|p| Err(format!("internal error: {}", panic_text(&p))));
                let _ = tx.send(Event::Loaded(r));
            });
        if let Err(e) = spawned {
            let _ = self
                .events_tx
                .send(Event::Loaded(Err(format!("cannot start loading: {e}"))));
        }
    }

    /// Cancels the running job and queues `job`.
    pub fn submit(&mut self, job: Job) {
        self.cancel.cancel();
        self.cancel = Cancel::new();
        let generation = job.generation;
        if self.jobs.send((job, self.cancel.clone())).is_err() {
            let _ = self.events_tx.send(Event::Failed {
                generation,
                error: "the worker thread stopped".into(),
            });
        }
    }

    /// Cancels the running job, if any (on quit).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Worker {
    /// A job still running (the 2-D views of the last one, say) stops with its UI.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Loads a log and summarises it (the first screen needs both).
pub fn load(input: &Input) -> Result<(Arc<Log>, Arc<LogInfo>), String> {
    let log = input.load().map_err(|e| e.to_string())?;
    let info = LogInfo::new(&log, &input_name(input));
    Ok((Arc::new(log), Arc::new(info)))
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

fn serve(jobs: Receiver<(Job, Cancel)>, events: Sender<Event>) {
    while let Ok(mut next) = jobs.recv() {
        // Only the newest queued job matters; the others were superseded.
        while let Ok(newer) = jobs.try_recv() {
            let _ = events.send(Event::Cancelled {
                generation: next.0.generation,
            });
            next = newer;
        }
        let (job, cancel) = next;
        if cancel.is_cancelled() {
            let _ = events.send(Event::Cancelled {
                generation: job.generation,
            });
            continue;
        }
        let generation = job.generation;
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&job, &cancel, &events)));
        let mut finished = None;
        let event = match outcome {
            Ok(Ok(results)) => {
                let results = Arc::new(results);
                finished = Some(Arc::clone(&results));
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
        if events.send(event).is_err() {
            return;
        }
        // The anomalies are on screen; the distributions and the evaluation, then the 2-D
        // views and clusters follow, unless a newer job is already waiting.
        if let Some(results) = finished {
            let summarised = catch_unwind(AssertUnwindSafe(|| results.summarise(&cancel)));
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
                run_landscape(&job, &results, &cancel, &events)
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
        }
    }
}

/// PCA, UMAP and HDBSCAN on a finished job's matrix, streaming the step names.
fn run_landscape(
    job: &Job,
    results: &Results,
    cancel: &Cancel,
    events: &Sender<Event>,
) -> Result<Landscape, Stop> {
    let generation = job.generation;
    let progress = |s: LandscapeStage| {
        let step = match s {
            LandscapeStage::Pca => "PCA".to_string(),
            LandscapeStage::Umap => "UMAP".to_string(),
            LandscapeStage::Hdbscan(sub) => format!("HDBSCAN ({} rows)", sub.name()),
        };
        let _ = events.send(Event::LandscapeStage { generation, step });
    };
    pipeline::landscape(
        &job.log,
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

/// Runs one job, streaming its progress.
fn run(job: &Job, cancel: &Cancel, events: &Sender<Event>) -> Result<Results, Stop> {
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
    let analysis = pipeline::analyze(&job.log, &job.model, cancel, &progress).map_err(|e| {
        if e.is_cancelled() {
            Stop::Cancelled
        } else {
            Stop::Failed(e.to_string())
        }
    })?;
    if cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    let _ = events.send(Event::Stage {
        generation,
        stage: Stage::Summaries,
        fraction: detector_fraction(total, total),
    });
    let results = Results::new(&job.log, &job.model, analysis, cancel, started);
    crate::memory::release();
    results.ok_or(Stop::Cancelled)
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
