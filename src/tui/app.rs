//! The UI's state and the one place it changes: [`App::update`] for keys (as
//! [`Action`]s) and [`App::on_event`] for what the worker reports. Neither blocks; both
//! return the job to start, if the change calls for one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect::ensemble::Combine;
use crate::detect::DetectorKind;
use crate::features::{Feature, FeatureOptions, Nulls, Scaling};
use crate::filter::IpMatch;
use crate::ingest::Log;
use crate::pipeline::Model;

use super::data::{clean, LogInfo, Results};
use super::keys::{self, Action, Context};
use super::worker::{detector_fraction, Event, Job, Stage};

/// The tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Flagged rows.
    Anomalies,
    /// Sources, destinations and pairs by host score.
    Hosts,
    /// The 2-D embedding.
    Scatter,
    /// Clusters and their statistics.
    Clusters,
    /// Per-feature distributions.
    Histograms,
    /// Services, talkers, timings, evaluation.
    Overview,
}

impl Tab {
    /// Every tab, in order.
    pub const ALL: [Tab; 6] = [
        Tab::Anomalies,
        Tab::Hosts,
        Tab::Scatter,
        Tab::Clusters,
        Tab::Histograms,
        Tab::Overview,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Anomalies => "Anomalies",
            Tab::Hosts => "Hosts",
            Tab::Scatter => "Scatter",
            Tab::Clusters => "Clusters",
            Tab::Histograms => "Histograms",
            Tab::Overview => "Overview",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }

    fn context(self) -> Context {
        match self {
            Tab::Anomalies => Context::Anomalies,
            Tab::Hosts => Context::Hosts,
            Tab::Scatter => Context::Scatter,
            Tab::Clusters => Context::Clusters,
            Tab::Histograms => Context::Histograms,
            Tab::Overview => Context::Move,
        }
    }
}

/// Which rows the Clusters tab clusters: the landscape's subsets.
pub use crate::pipeline::Subset;

pub use super::tabs::anomalies::{SortKey, Table};
pub use super::tabs::clusters::Clusters;
pub use super::tabs::histograms::Histograms;
pub use super::tabs::hosts::Hosts;
pub use super::tabs::overview::Overview;
pub use super::tabs::scatter::Scatter;

/// What a picker chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerKind {
    /// Services.
    Services,
    /// Addresses.
    Addresses,
    /// Features, scaling, unset values.
    Features,
    /// Detectors, contamination, verdict rule.
    Detectors,
    /// The label to train on.
    Labels,
}

/// What an item of a picker stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// No restriction ("all" services or addresses, training on every row).
    All,
    /// A value (service, address, label).
    Value(String),
    /// A feature.
    Feature(Feature),
    /// A detector.
    Detector(DetectorKind),
    /// Flip the scaling.
    Scaling,
    /// Flip the handling of unset values.
    Nulls,
}

/// One line of a picker.
#[derive(Debug, Clone)]
pub struct PickerItem {
    /// What it stands for.
    pub item: Item,
    /// Its text (sanitized).
    pub shown: String,
    /// Counts or state, right of the text.
    pub detail: String,
    /// Marked.
    pub marked: bool,
}

/// An open picker.
#[derive(Debug, Clone)]
pub struct Picker {
    /// What it chooses.
    pub kind: PickerKind,
    /// Every item.
    pub items: Vec<PickerItem>,
    /// Typed narrowing text.
    pub text: String,
    /// Position of the highlight among the visible items.
    pub cursor: usize,
    /// Contamination being set (detectors picker).
    pub contamination: f64,
    /// Verdict rule being set (detectors picker).
    pub combine: Combine,
    /// Scaling being set (features picker).
    pub scaling: Scaling,
    /// Unset values being set (features picker).
    pub nulls: Nulls,
}

impl Picker {
    /// The picker's title.
    pub fn title(&self) -> &'static str {
        match self.kind {
            PickerKind::Services => "Services",
            PickerKind::Addresses => "Addresses (source or destination)",
            PickerKind::Features => "Features",
            PickerKind::Detectors => "Detectors",
            PickerKind::Labels => "Train on the rows of a label",
        }
    }

    /// Whether typing narrows the list.
    pub fn narrows(&self) -> bool {
        matches!(
            self.kind,
            PickerKind::Services | PickerKind::Addresses | PickerKind::Labels
        )
    }

    /// Indices of the items matching the typed text.
    pub fn visible(&self) -> Vec<usize> {
        let t = self.text.to_lowercase();
        (0..self.items.len())
            .filter(|&i| {
                t.is_empty()
                    || self.items[i].item == Item::All
                    || self.items[i].shown.to_lowercase().contains(&t)
            })
            .collect()
    }

    /// Where the cursor goes as the typed text changes: the first item that matches it
    /// (not `all`, which every narrowing keeps), as fzf and vim's wildmenu do; the top
    /// without text.
    fn first_match(&self) -> usize {
        if self.text.is_empty() {
            return 0;
        }
        self.visible()
            .iter()
            .position(|&i| self.items[i].item != Item::All)
            .unwrap_or(0)
    }

    fn highlighted(&self) -> Option<usize> {
        self.visible().get(self.cursor).copied()
    }
}

/// What a text prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Narrow the Anomalies table.
    Search,
    /// The query bar (`:`).
    Query,
    /// The export directory.
    Export,
}

/// The overlay on top of the tabs, if any.
#[derive(Debug, Clone)]
pub enum Overlay {
    /// None.
    None,
    /// The key help.
    Help {
        /// First line shown.
        scroll: usize,
    },
    /// A picker.
    Picker(Picker),
    /// A row's full record: (column, value) pairs, sanitized.
    Detail {
        /// Title.
        title: String,
        /// Lines.
        fields: Vec<(String, String)>,
        /// First line shown.
        scroll: usize,
    },
    /// A text prompt.
    Prompt {
        /// What for.
        kind: PromptKind,
        /// The text typed.
        text: String,
    },
}

/// The running (or last) job.
#[derive(Debug, Clone)]
pub struct JobState {
    /// Its stage.
    pub stage: Stage,
    /// Share done.
    pub fraction: f64,
    /// Finished detectors and their seconds.
    pub detectors: Vec<(&'static str, f64)>,
    /// Detectors in the job.
    pub total: usize,
    /// When it started.
    pub started: Instant,
    /// Still running.
    pub running: bool,
    /// Why it failed.
    pub error: Option<String>,
}

/// The whole UI state.
pub struct App {
    /// The log, once loaded.
    pub log: Option<Arc<Log>>,
    /// What the views know of it.
    pub info: Option<Arc<LogInfo>>,
    /// The input's name, shown while loading (sanitized).
    pub loading_name: String,
    /// Bytes to load (0 when unknown).
    pub loading_bytes: u64,
    /// Following: rows read so far and rows the fit waits for, while waiting.
    pub waiting: Option<(usize, usize)>,
    /// When loading started.
    pub started: Instant,
    /// Why loading failed.
    pub load_error: Option<String>,
    /// Filters and model settings of the current job.
    pub model: Model,
    /// The current job's generation; events of other generations are dropped.
    pub generation: u64,
    /// The current job's progress.
    pub job: Option<JobState>,
    /// The current job's results.
    pub results: Option<Arc<Results>>,
    /// The current job's 2-D views and clusters, once computed.
    pub landscape: Option<Arc<crate::pipeline::Landscape>>,
    /// The embedding/clustering step running for the current job, if any.
    pub landscape_step: Option<String>,
    /// Why the embedding/clustering stage failed, if it did.
    pub landscape_error: Option<String>,
    /// Whether each detector's evaluation against the labels is being made (after the
    /// 2-D views).
    pub evaluating: bool,
    /// The tab shown.
    pub tab: Tab,
    /// Anomalies tab.
    pub table: Table,
    /// The queries before the current one (Backspace steps back through them; pivots push
    /// onto it).
    pub query_back: Vec<crate::query::Query>,
    /// The last finished results while a new job runs (shown dimmed).
    pub previous: Option<Arc<Results>>,
    /// The furthest the full-record overlay can scroll, as it last drew (its long values
    /// wrap, so only the drawing knows).
    pub detail_max: std::cell::Cell<usize>,
    /// Why the text in the query bar did not parse at the last Enter (shown in the bar).
    pub query_error: Option<String>,
    /// The time strip above the Anomalies table.
    pub strip: super::tabs::timestrip::TimeStrip,
    /// Scatter tab.
    pub scatter: Scatter,
    /// Clusters tab.
    pub clusters: Clusters,
    /// Histograms tab.
    pub hist: Histograms,
    /// Hosts tab.
    pub hosts: Hosts,
    /// Overview tab.
    pub overview: Overview,
    /// The overlay.
    pub overlay: Overlay,
    /// A message for the footer.
    pub status: Option<String>,
    /// Set when the user quits.
    pub quit: bool,
    /// Colours on (off under `NO_COLOR`).
    pub color: bool,
    /// Rows in a page of the current list (set from the terminal size).
    pub page: usize,
    /// The time of the current frame (set by the event loop, so views stay pure).
    pub now: Instant,
    /// Following a growing log (`zsift -f`); `None` otherwise.
    pub follow: Option<FollowView>,
    /// The saved model the UI was opened with (`--model FILE`): its options and the
    /// file's name, shown in the header while they are the model's.
    pub saved: Option<(Model, String)>,
}

/// An update of a followed log's window.
pub struct Grown {
    /// The window's results.
    pub results: Arc<Results>,
    /// The window.
    pub log: Arc<Log>,
    /// What the views know of it.
    pub info: Arc<LogInfo>,
    /// Rows appended since the fit.
    pub appended: u64,
}

/// What the views show of a followed log.
#[derive(Default)]
pub struct FollowView {
    /// The view stands still (Space): the newest update waits in `held`.
    pub paused: bool,
    /// The newest update while paused.
    pub held: Option<Grown>,
    /// Rows appended since the fit, as shown.
    pub shown: u64,
    /// Rows appended since the fit when the user last marked them seen (n).
    pub seen: u64,
    /// When the model in use was fitted.
    pub fitted: Option<Instant>,
    /// Why following stopped, if it did.
    pub error: Option<String>,
    /// Fit again on the window this often (`--refit`).
    pub refit: Option<Duration>,
    /// The last thing that happened to the log (rotated, removed...), for the header.
    pub note: Option<String>,
    /// The job whose model scores the rows that arrive.
    pub generation: Option<u64>,
    /// When `--refit` last started a fit (a failed one is not tried again at once).
    pub last_try: Option<Instant>,
}

impl App {
    /// A fresh UI waiting for the log `name` (`bytes` long, 0 if unknown).
    pub fn new(name: &str, bytes: u64, color: bool) -> Self {
        let now = Instant::now();
        Self {
            log: None,
            info: None,
            loading_name: clean(name),
            loading_bytes: bytes,
            waiting: None,
            started: now,
            load_error: None,
            model: Model::default(),
            generation: 0,
            job: None,
            results: None,
            landscape: None,
            landscape_step: None,
            evaluating: false,
            landscape_error: None,
            tab: Tab::Anomalies,
            table: Table::new(),
            query_back: Vec::new(),
            previous: None,
            detail_max: std::cell::Cell::new(usize::MAX),
            query_error: None,
            strip: Default::default(),
            scatter: Scatter::new(),
            clusters: Clusters {
                subset: Subset::All,
                selected: 0,
            },
            // Bytes and packets span orders of magnitude: linear bins put nearly every
            // row in the first bin.
            hist: Histograms {
                log: true,
                ..Histograms::default()
            },
            hosts: Hosts::default(),
            overview: Overview::default(),
            overlay: Overlay::None,
            status: None,
            quit: false,
            color,
            page: 10,
            now,
            follow: None,
            saved: None,
        }
    }

    /// The contexts keys are looked up in, and whether unclaimed characters are text.
    pub fn contexts(&self) -> (Vec<Context>, bool) {
        match &self.overlay {
            Overlay::None => (
                vec![self.tab.context(), Context::Move, Context::Global],
                false,
            ),
            Overlay::Help { .. } => (vec![Context::Help], false),
            Overlay::Detail { .. } => (vec![Context::Detail], false),
            Overlay::Prompt { .. } => (vec![Context::Prompt], true),
            Overlay::Picker(p) if p.kind == PickerKind::Detectors => {
                (vec![Context::Detectors, Context::Picker], false)
            }
            Overlay::Picker(p) => (vec![Context::Picker], p.narrows()),
        }
    }

    /// The action a key stands for here.
    pub fn action_for(&self, key: crossterm::event::KeyEvent) -> Option<Action> {
        let (contexts, text) = self.contexts();
        keys::lookup(&contexts, text, key)
    }

    /// Whether a job or the loading is under way (the UI then redraws on a timer).
    pub fn busy(&self) -> bool {
        (self.log.is_none() && self.load_error.is_none())
            || self.job.as_ref().is_some_and(|j| j.running)
            || self.landscape_step.is_some()
            || self.evaluating
    }

    /// Starts a job for the current model (none before the log is loaded).
    fn start_job(&mut self) -> Option<Job> {
        let log = self.log.clone()?;
        self.generation += 1;
        // The finished results stay on screen, dimmed, until the new ones arrive.
        if let Some(r) = self.results.take() {
            self.previous = Some(r);
        }
        self.landscape = None;
        self.landscape_step = None;
        self.landscape_error = None;
        self.evaluating = false;
        self.job = Some(JobState {
            stage: Stage::Queued,
            fraction: 0.0,
            detectors: Vec::new(),
            total: self.model.ensemble.detectors.len(),
            started: self.now,
            running: true,
            error: None,
        });
        Some(Job {
            generation: self.generation,
            model: self.model.clone(),
            log,
            follow: None,
            window: None,
            saved: None,
            dns: self.info.as_ref().and_then(|i| i.dns.clone()),
        })
    }

    /// Applies what the worker reports; returns a job to start (after loading).
    pub fn on_event(&mut self, event: Event) -> Option<Job> {
        if let Some(g) = event.generation() {
            // Following, the model in use goes on scoring while a newer one is fitted:
            // its updates are shown until the new one is done.
            let scoring = self.follow.as_ref().and_then(|f| f.generation) == Some(g)
                && matches!(
                    event,
                    Event::Grew { .. } | Event::FollowNote { .. } | Event::FollowFailed { .. }
                );
            if g != self.generation && !scoring {
                return None;
            }
        }
        match event {
            Event::Loaded(Ok((log, info))) => {
                if let Some((m, _)) = &self.saved {
                    self.model = m.clone();
                } else {
                    self.model.features = Some(info.default_features.clone());
                    if let Some(c) = &info.label_column {
                        self.model.label_column = c.clone();
                    }
                }
                self.log = Some(log);
                self.info = Some(info);
                return self.start_job();
            }
            Event::Loaded(Err(e)) => self.load_error = Some(clean(&e)),
            Event::Waiting { rows, warmup } => self.waiting = Some((rows, warmup)),
            Event::Stage {
                stage, fraction, ..
            } => {
                if let Some(j) = &mut self.job {
                    j.stage = stage;
                    j.fraction = fraction;
                }
            }
            Event::Detector {
                name,
                seconds,
                done,
                total,
                ..
            } => {
                if let Some(j) = &mut self.job {
                    j.stage = Stage::Detectors;
                    j.fraction = detector_fraction(done, total);
                    j.detectors.push((name, seconds));
                    j.total = total;
                }
            }
            Event::LandscapeStage { step, .. } => self.landscape_step = Some(step),
            Event::Summarised { .. } => {
                self.hist.feature = self.hist.feature.min(self.n_features().saturating_sub(1));
            }
            Event::Evaluating { .. } => self.evaluating = true,
            Event::Evaluated { error, .. } => {
                self.evaluating = false;
                if let Some(e) = error {
                    self.status = Some(format!("each detector's evaluation: {}", clean(&e)));
                }
            }
            Event::Landscape { result, .. } => {
                self.landscape_step = None;
                match result {
                    Ok(l) => self.landscape = Some(l),
                    Err(e) => self.landscape_error = Some(clean(&e)),
                }
            }
            Event::Done { results, .. } => {
                if let Some(j) = &mut self.job {
                    j.running = false;
                    j.fraction = 1.0;
                }
                // Following, the job ran on the newest window (and the views' summary of
                // the log follows it).
                self.log = Some(results.log_arc());
                if self.follow.is_some() {
                    if let Some(info) = self
                        .info
                        .as_ref()
                        .filter(|i| i.rows != results.log().rows())
                    {
                        self.info = Some(Arc::new(LogInfo::new(results.log(), &info.name)));
                    }
                }
                if let Some(f) = &mut self.follow {
                    *f = FollowView {
                        paused: f.paused,
                        fitted: Some(self.now),
                        refit: f.refit,
                        note: f.note.take(),
                        generation: Some(self.generation),
                        last_try: f.last_try,
                        ..FollowView::default()
                    };
                }
                self.landscape_error = None;
                self.table.new_from = None;
                self.landscape_step = Some("histograms".into());
                self.evaluating = false;
                self.results = Some(results);
                self.previous = None;
                let q = self.table.query.clone();
                let results = self.results.clone();
                self.table
                    .set_query(q, results.as_deref(), &self.model.label_column);
                self.hosts
                    .refresh(self.results.as_deref(), self.table.view.as_deref());
            }
            Event::Grew {
                results,
                log,
                info,
                appended,
                ..
            } => {
                let g = Grown {
                    results,
                    log,
                    info,
                    appended,
                };
                match &mut self.follow {
                    Some(f) if f.paused => f.held = Some(g),
                    _ => self.grew(g),
                }
            }
            Event::FollowNote { note, .. } => {
                self.status = Some(clean(&note));
                if let Some(f) = &mut self.follow {
                    f.note = Some(clean(&note));
                }
            }
            Event::FollowFailed { error, .. } => {
                let e = clean(&error);
                self.status = Some(format!("following stopped: {e}"));
                if let Some(f) = &mut self.follow {
                    f.error = Some(e);
                }
            }
            Event::Failed { error, .. } => {
                self.landscape_step = None;
                self.evaluating = false;
                self.restore_following();
                if let Some(f) = self.follow.as_mut().filter(|f| f.generation.is_none()) {
                    f.note =
                        Some("no model yet: the rows that arrive are read; R fits again".into());
                }
                self.previous = None;
                if let Some(j) = &mut self.job {
                    j.running = false;
                    j.error = Some(clean(&error));
                }
            }
            Event::Cancelled { .. } => {
                self.restore_following();
                if let Some(j) = &mut self.job {
                    j.running = false;
                }
            }
        }
        None
    }

    /// Shows the followed log's new window: its rows, with those that came since the
    /// last look marked, the view (query, highlight) kept.
    fn grew(&mut self, g: Grown) {
        let Grown {
            results,
            log,
            info,
            appended,
        } = g;
        let rows = log.rows();
        // The highlighted row stays highlighted as rows arrive (at the top, the highlight
        // stays at the top: the newest or most anomalous row).
        let keep = (self.table.selected > 0)
            .then(|| {
                let r = self.shown()?;
                Some(r.text(self.selected_flagged()?).uid.clone())
            })
            .flatten();
        self.log = Some(log);
        self.info = Some(info);
        self.results = Some(Arc::clone(&results));
        // The 2-D views and clusters belong to the rows of the fit.
        self.landscape = None;
        self.landscape_step = None;
        self.landscape_error = Some(
            "the 2-D views and clusters are of the rows the model was fitted on: R fits again \
             on the window and makes them anew"
                .into(),
        );
        let (selected, q) = (self.table.selected, self.table.query.clone());
        self.table
            .set_query(q, Some(&results), &self.model.label_column);
        self.table.selected = selected.min(self.table.order.len().saturating_sub(1));
        if let Some(uid) = keep {
            let uids = crate::filter::string_values(&results.log().frame, "uid");
            let rows = self.table.rows(&results);
            if let Some(pos) = self
                .table
                .order
                .iter()
                .position(|&k| uids.get(rows[k].row()).copied().flatten() == Some(uid.as_str()))
            {
                self.table.selected = pos;
            }
        }
        self.hosts
            .refresh(Some(&results), self.table.view.as_deref());
        if let Some(f) = &mut self.follow {
            f.shown = appended;
            let new = usize::try_from(appended.saturating_sub(f.seen)).unwrap_or(usize::MAX);
            self.table.new_from = (new > 0).then(|| rows.saturating_sub(new));
        }
    }

    /// What time alone asks for: following with `--refit`, a new fit on the window once
    /// the model in use is that old (and no job runs).
    pub fn tick(&mut self) -> Option<Job> {
        let f = self.follow.as_ref()?;
        let (every, fitted) = (f.refit?, f.fitted?);
        // A paused view stays as it is; a fit that failed is tried again after as long.
        let last = f.last_try.map_or(fitted, |t| t.max(fitted));
        let idle = self.job.as_ref().is_none_or(|j| !j.running) && self.landscape_step.is_none();
        if f.paused || !idle || self.since(last) < every {
            return None;
        }
        if let Some(f) = &mut self.follow {
            f.last_try = Some(self.now);
        }
        self.start_job()
    }

    /// Following, when a new fit fails or is cancelled, the model in use goes on: its
    /// last results come back on screen.
    fn restore_following(&mut self) {
        if self.follow.as_ref().is_some_and(|f| f.generation.is_some()) && self.results.is_none() {
            self.results = self.previous.take();
        }
    }

    /// Following: rows shown as new since the last look, and how many of them are
    /// flagged.
    pub fn new_rows(&self) -> (u64, usize) {
        let (Some(f), Some(r)) = (&self.follow, &self.results) else {
            return (0, 0);
        };
        let flagged = match self.table.new_from {
            Some(from) => r.flagged.iter().filter(|x| x.row() >= from).count(),
            None => 0,
        };
        (f.shown.saturating_sub(f.seen), flagged)
    }

    fn n_features(&self) -> usize {
        self.results.as_ref().map_or(0, |r| r.dists().len())
    }

    /// The results the tables show: the current ones, or, while a new job runs, the last
    /// finished ones.
    pub fn shown(&self) -> Option<&Arc<Results>> {
        self.results.as_ref().or(self.previous.as_ref())
    }

    /// The flagged row highlighted in the Anomalies table.
    pub fn selected_flagged(&self) -> Option<&super::data::Flagged> {
        let r = self.shown()?;
        let k = *self.table.order.get(self.table.selected)?;
        self.table.rows(r).get(k)
    }

    /// Applies a key's action; returns a job to start when the model changed.
    pub fn update(&mut self, action: Action) -> Option<Job> {
        self.status = None;
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => self.on_main(action),
            Overlay::Help { scroll } => {
                self.overlay = match action {
                    Action::Close | Action::Help => Overlay::None,
                    a => Overlay::Help {
                        scroll: scrolled(scroll, a, self.page, usize::MAX / 2),
                    },
                };
                None
            }
            Overlay::Detail {
                title,
                fields,
                scroll,
            } => {
                if action != Action::Close {
                    // The last scroll position the overlay drew (its lines wrap).
                    let max = self.detail_max.get();
                    self.detail_max.set(usize::MAX);
                    self.overlay = Overlay::Detail {
                        title,
                        scroll: scrolled(scroll, action, self.page, max),
                        fields,
                    };
                }
                None
            }
            Overlay::Prompt { kind, text } => self.on_prompt(kind, text, action),
            Overlay::Picker(p) => self.on_picker(p, action),
        }
    }

    fn on_main(&mut self, action: Action) -> Option<Job> {
        let page = self.page.max(1);
        match action {
            // Esc clears a search; it never quits (q does): a stray Esc must not throw away
            // the filters and model settings.
            Action::Close if self.strip.window.is_some() => self.strip.window = None,
            Action::Close => {
                if self.table.search.is_empty() {
                    self.status = Some("q quits".into());
                } else {
                    self.table.search.clear();
                    self.table.reorder(self.results.as_deref());
                }
            }
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
            Action::NextTab => self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()],
            Action::PrevTab => {
                self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
            }
            Action::Tab(n) => {
                if let Some(&t) = Tab::ALL.get(usize::from(n)) {
                    self.tab = t;
                }
            }
            Action::Services => self.open_picker(PickerKind::Services),
            Action::Addresses => self.open_picker(PickerKind::Addresses),
            Action::Features => self.open_picker(PickerKind::Features),
            Action::Detectors => self.open_picker(PickerKind::Detectors),
            Action::TrainLabel => self.open_picker(PickerKind::Labels),
            Action::Search => {
                self.tab = Tab::Anomalies;
                self.overlay = Overlay::Prompt {
                    kind: PromptKind::Search,
                    text: self.table.search.clone(),
                };
            }
            Action::Query => {
                self.query_error = None;
                let mut text = self.table.query.text();
                if !text.is_empty() {
                    text.push(' ');
                }
                self.overlay = Overlay::Prompt {
                    kind: PromptKind::Query,
                    text,
                };
            }
            Action::Back => match self.query_back.pop() {
                Some(q) => self.set_query(q),
                None => self.status = Some("no earlier query to go back to".into()),
            },
            Action::Export => {
                if self.results.is_some() {
                    self.overlay = Overlay::Prompt {
                        kind: PromptKind::Export,
                        text: "zsift-export".into(),
                    };
                } else {
                    self.status = Some("nothing to export until the detectors finish".into());
                }
            }
            Action::Pause => match &mut self.follow {
                Some(f) => {
                    f.paused = !f.paused;
                    if !f.paused {
                        if let Some(g) = f.held.take() {
                            self.grew(g);
                        }
                    }
                }
                None => {
                    self.status = Some("Space stops the view while following (zsift -f LOG)".into())
                }
            },
            Action::Seen => {
                if let Some(f) = &mut self.follow {
                    f.seen = f.shown;
                    self.table.new_from = None;
                }
            }
            Action::Refit => return self.start_job(),
            Action::Kind => return self.next_kind(),
            Action::Open if self.tab == Tab::Hosts => self.open_host(),
            Action::Open if self.tab == Tab::Anomalies && self.strip.window.is_some() => {
                self.narrow_to_window()
            }
            Action::Open => self.open_detail(),
            Action::PivotHost | Action::PivotPair => return self.pivot(action),
            a => return self.on_tab(a, page),
        }
        None
    }

    /// Hands a key to the tab shown.
    fn on_tab(&mut self, action: Action, page: usize) -> Option<Job> {
        let results = self.shown().cloned();
        let r = results.as_deref();
        match self.tab {
            Tab::Anomalies => {
                if !self.strip.update(action) {
                    self.table.update(action, r, page);
                }
            }
            Tab::Hosts => {
                self.hosts
                    .update(action, r, self.table.view.as_deref(), page);
            }
            Tab::Scatter => {
                self.scatter
                    .update(action, self.model.ensemble.detectors.len());
            }
            Tab::Clusters => {
                self.clusters.update(action, page);
            }
            Tab::Histograms => {
                self.hist.update(action, self.n_features());
            }
            Tab::Overview => {
                self.overview.update(action, page);
            }
        }
        None
    }

    /// Analyses the next kind of log loaded: its own default features, no filter, no
    /// query (the fields differ from kind to kind).
    fn next_kind(&mut self) -> Option<Job> {
        let info = self.info.clone()?;
        if self.follow.is_some() {
            self.status = Some("a followed log is of one kind".into());
            return None;
        }
        if info.all.kinds.len() < 2 {
            self.status = Some(
                "one kind of log loaded (give zsift a sensor's directory, or conn, dns, http \
                 and ssl logs together)"
                    .into(),
            );
            return None;
        }
        let names = info.all.names();
        let at = names.iter().position(|k| *k == info.kind).unwrap_or(0);
        let kind = names[(at + 1) % names.len()].to_string();
        let log = info.all.get(&kind)?.clone();
        let new = super::worker::kind_info(&log, &info.source, &kind, Arc::clone(&info.all));
        // Another table: its own features and label column, and nothing of the last
        // one's view (its fields are not this one's).
        self.model.filter = crate::filter::Filter::default();
        self.model.train_label = None;
        self.model.features = Some(new.default_features.clone());
        self.model.label_column = new
            .label_column
            .clone()
            .unwrap_or_else(|| crate::filter::LABEL_COLUMN.into());
        self.table.query = crate::query::Query::default();
        self.table.search.clear();
        self.query_back.clear();
        self.query_error = None;
        self.strip.window = None;
        self.status = Some(format!(
            "analysing the {} log ({} rows)",
            clean(&kind),
            log.rows()
        ));
        self.log = Some(Arc::new(log));
        self.info = Some(Arc::new(new));
        let job = self.start_job();
        // The last table's results are not shown dimmed meanwhile: their rows are not
        // this table's.
        self.previous = None;
        job
    }

    /// Lists the connections of the host or pair highlighted in the Hosts tab, flagged
    /// first, then by score.
    fn open_host(&mut self) {
        let (Some(log), Some(r)) = (self.log.clone(), self.results.clone()) else {
            return;
        };
        let Some((title, fields)) = self.hosts.connections(&log, &r) else {
            return;
        };
        self.detail_max.set(usize::MAX);
        self.overlay = Overlay::Detail {
            title,
            fields,
            scroll: 0,
        };
    }

    fn open_detail(&mut self) {
        // Records of another kind shown per kind: a long DNS-over-TCP session (or a
        // hostile log) gives one uid thousands of records.
        const JOINED_SHOWN: usize = 20;
        let (Some(log), Some(f)) = (self.log.clone(), self.selected_flagged().cloned()) else {
            return;
        };
        // The results the row is from (the previous ones while a new job runs).
        let score = self.shown().map_or(f64::NAN, |r| r.score(&f));
        let frame = &log.frame;
        let mut fields: Vec<(String, String)> = frame
            .get_column_names()
            .iter()
            .map(|c| {
                (
                    clean(c.as_str()),
                    clean(&crate::ingest::cell(frame, c.as_str(), f.row())),
                )
            })
            .collect();
        fields.push(("score".into(), format!("{:.4}", score)));
        fields.push(("votes".into(), f.votes.to_string()));
        let mut uid = String::new();
        if let Some(r) = &self.results {
            let text = r.text(&f);
            fields.push(("detectors".into(), text.detectors.clone()));
            fields.push(("reasons".into(), r.reasons(&f)));
            uid.clone_from(&text.uid);
        }
        // The records of other kinds with the row's uid (a connection's dns, http and ssl
        // records; a query's connection).
        if let Some(info) = &self.info {
            let raw_uid = crate::ingest::cell(frame, "uid", f.row());
            for (kind, other, rows) in info.all.with_uid(&info.kind, &raw_uid) {
                let kind = clean(kind);
                for &r in rows.iter().take(JOINED_SHOWN) {
                    fields.push((
                        format!("── {kind}"),
                        format!("record {} of {} with this uid", r + 1, other.rows()),
                    ));
                    for c in other.frame.get_column_names() {
                        let v = crate::ingest::cell(&other.frame, c.as_str(), r);
                        if c.as_str() != "uid" && v != "-" && !v.is_empty() {
                            fields.push((format!("{kind}.{}", clean(c.as_str())), clean(&v)));
                        }
                    }
                }
                if rows.len() > JOINED_SHOWN {
                    fields.push((
                        format!("── {kind}"),
                        format!("and {} more with this uid", rows.len() - JOINED_SHOWN),
                    ));
                }
            }
        }
        self.detail_max.set(usize::MAX);
        self.overlay = Overlay::Detail {
            title: format!("{uid} (row {})", f.row() + 1),
            fields,
            scroll: 0,
        };
    }

    /// Narrows the view to the highlighted row's source host, or to its two hosts, by
    /// adding a term to the query: the analysis stays as it is (re-fitting on a subset is
    /// the address filter's job, `i`).
    fn pivot(&mut self, action: Action) -> Option<Job> {
        let f = self.selected_flagged()?;
        let text = self.results.as_ref()?.text(f);
        let term = match (action, text.orig_ip, text.resp_ip) {
            (Action::PivotPair, Some(a), Some(b)) => format!("pair:{a},{b}"),
            (Action::PivotHost, Some(a), _) => format!("host:{a}"),
            _ => {
                self.status = Some("the row's addresses do not parse".into());
                return None;
            }
        };
        let text = format!("{} {term}", self.table.query.text());
        match crate::query::Query::parse(&text) {
            Ok(q) => {
                self.query_back.push(self.table.query.clone());
                self.table.search.clear();
                self.set_query(q);
            }
            Err(e) => self.status = Some(clean(&e.to_string())),
        }
        None
    }

    /// Narrows the view to the time window chosen on the strip (its `after:`/`before:`
    /// terms replace the query's).
    fn narrow_to_window(&mut self) {
        let Some(text) = self.strip.narrowed(&self.table.query) else {
            return;
        };
        self.strip.window = None;
        match crate::query::Query::parse(&text) {
            Ok(q) => {
                self.query_back.push(self.table.query.clone());
                self.set_query(q);
            }
            Err(e) => self.status = Some(clean(&e.to_string())),
        }
    }

    /// Shows the view `q` asks for.
    fn set_query(&mut self, q: crate::query::Query) {
        let results = self.results.clone();
        self.table
            .set_query(q, results.as_deref(), &self.model.label_column);
        self.hosts
            .refresh(results.as_deref(), self.table.view.as_deref());
        self.status = Some(match &self.table.sort_error {
            Some(e) => clean(e),
            None => format!("{} rows in view", self.table.order.len()),
        });
    }

    fn on_prompt(&mut self, kind: PromptKind, mut text: String, action: Action) -> Option<Job> {
        if kind == PromptKind::Query && matches!(action, Action::Char(_) | Action::Erase) {
            self.query_error = None;
        }
        match action {
            Action::Close => {
                if kind == PromptKind::Search {
                    self.table.search.clear();
                    self.table.reorder(self.results.as_deref());
                }
                return None;
            }
            Action::Confirm => {
                match kind {
                    PromptKind::Search => {
                        self.status = Some(format!("{} rows match", self.table.order.len()));
                    }
                    PromptKind::Export => self.export(&text),
                    PromptKind::Query => match crate::query::Query::parse(&text) {
                        Ok(q) => {
                            self.query_error = None;
                            if q != self.table.query {
                                self.query_back.push(self.table.query.clone());
                            }
                            self.set_query(q);
                        }
                        // A bad term changes nothing: the bar stays open with the error.
                        Err(e) => {
                            self.query_error = Some(clean(&e.to_string()));
                            self.overlay = Overlay::Prompt { kind, text };
                        }
                    },
                }
                return None;
            }
            Action::Complete if kind == PromptKind::Query => {
                if let Some(t) = crate::query::Query::complete(&text) {
                    text = t;
                }
            }
            Action::Erase => {
                text.pop();
            }
            Action::Clear => text.clear(),
            Action::Char(c) => text.push(c),
            _ => {}
        }
        if kind == PromptKind::Search {
            self.table.search = text.clone();
            self.table.selected = 0;
            self.table.reorder(self.results.as_deref());
        }
        self.overlay = Overlay::Prompt { kind, text };
        None
    }

    fn export(&mut self, dir: &str) {
        let (Some(log), Some(r)) = (&self.log, &self.results) else {
            return;
        };
        let dir = PathBuf::from(dir.trim());
        // The files `zsift export` writes: with the clusters and 2-D positions once the
        // worker has them, and saying what is left out (and why) until then.
        let stats = self
            .landscape
            .as_ref()
            .map(|l| l.stats_by_subset())
            .unwrap_or_default();
        let extras = match &self.landscape {
            Some(l) => crate::export::Extras {
                cluster: l.labels_all(),
                pca: Some(&l.pca.points),
                umap: l.umap.as_ref().map(|u| &u.points),
                clusters: &stats,
                keep_formulas: false,
                format: crate::export::TableFormat::Csv,
            },
            None => crate::export::Extras::default(),
        };
        let left_out = match (&self.landscape, &self.landscape_error) {
            (Some(l), _) if l.umap.is_none() => "; no UMAP columns (UMAP did not run)".to_string(),
            (Some(_), _) => String::new(),
            (None, Some(e)) => format!("; without clusters, PCA and UMAP: {e}"),
            (None, None) => "; without clusters, PCA and UMAP (still being computed: export \
                             again when the header says done)"
                .to_string(),
        };
        self.status = Some(clean(
            &match crate::export::export(&dir, log, &r.analysis, extras) {
                Ok(files) => {
                    let names: Vec<String> = files
                        .iter()
                        .filter_map(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect();
                    format!(
                        "wrote {} flagged rows to {}: {}{left_out}",
                        r.flagged.len(),
                        dir.display(),
                        names.join(" ")
                    )
                }
                Err(e) => format!("export failed: {e}"),
            },
        ));
    }

    fn open_picker(&mut self, kind: PickerKind) {
        let Some(info) = self.info.clone() else {
            self.status = Some("the log is still loading".into());
            return;
        };
        let item = |item: Item, shown: &str, detail: String, marked: bool| PickerItem {
            item,
            shown: shown.to_string(),
            detail,
            marked,
        };
        let m = &self.model;
        let features = m
            .features
            .clone()
            .unwrap_or_else(|| info.default_features.clone());
        let mut items = Vec::new();
        match kind {
            PickerKind::Services => {
                items.push(item(Item::All, "all", info.rows.to_string(), false));
                for c in &info.services {
                    let marked = m.filter.services.contains(&c.value);
                    items.push(item(
                        Item::Value(c.value.clone()),
                        &c.shown,
                        c.count.to_string(),
                        marked,
                    ));
                }
            }
            PickerKind::Addresses => {
                items.push(item(Item::All, "all", String::new(), false));
                for a in &info.addresses {
                    let marked = a
                        .value
                        .parse()
                        .is_ok_and(|ip| m.filter.ips.contains(&IpMatch::Addr(ip)));
                    items.push(item(
                        Item::Value(a.value.clone()),
                        &a.shown,
                        format!("src {:>6}  dst {:>6}", a.src, a.dst),
                        marked,
                    ));
                }
            }
            PickerKind::Labels => {
                if info.label_column.is_none() {
                    self.status = Some("the log has no label column".into());
                    return;
                }
                items.push(item(
                    Item::All,
                    "none: fit on every row",
                    String::new(),
                    m.train_label.is_none(),
                ));
                for c in &info.labels {
                    let marked = m.train_label.as_deref() == Some(c.value.as_str());
                    items.push(item(
                        Item::Value(c.value.clone()),
                        &c.shown,
                        c.count.to_string(),
                        marked,
                    ));
                }
            }
            PickerKind::Features => {
                items.push(item(Item::Scaling, "scaling", String::new(), false));
                items.push(item(Item::Nulls, "unset values", String::new(), false));
                for f in &info.features {
                    let on = features.features.iter().any(|g| g == f);
                    let enc = match f.encoding {
                        crate::features::Encoding::Numeric => "numeric",
                        crate::features::Encoding::Rarity => "categorical (rarity)",
                    };
                    items.push(item(
                        Item::Feature(f.clone()),
                        &clean(&f.column),
                        enc.into(),
                        on,
                    ));
                }
            }
            PickerKind::Detectors => {
                for d in DetectorKind::ALL {
                    let on = m.ensemble.detectors.contains(&d);
                    items.push(item(Item::Detector(d), d.name(), String::new(), on));
                }
            }
        }
        self.overlay = Overlay::Picker(Picker {
            kind,
            items,
            text: String::new(),
            cursor: 0,
            contamination: m.ensemble.contamination,
            combine: m.ensemble.combine,
            scaling: features.scaling,
            nulls: features.nulls,
        });
    }

    fn on_picker(&mut self, mut p: Picker, action: Action) -> Option<Job> {
        let n = p.visible().len();
        match action {
            Action::Close => return None,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                p.cursor = scrolled(p.cursor, action, self.page, n.saturating_sub(1));
            }
            Action::Toggle => {
                if let Some(i) = p.highlighted() {
                    match p.items[i].item.clone() {
                        Item::All => p.items.iter_mut().for_each(|it| it.marked = false),
                        Item::Scaling => {
                            p.scaling = match p.scaling {
                                Scaling::Robust => Scaling::Max,
                                Scaling::Max => Scaling::Robust,
                            }
                        }
                        Item::Nulls => {
                            p.nulls = match p.nulls {
                                Nulls::Zero => Nulls::Drop,
                                Nulls::Drop => Nulls::Zero,
                            }
                        }
                        _ if p.kind == PickerKind::Labels => {
                            for (k, it) in p.items.iter_mut().enumerate() {
                                it.marked = k == i;
                            }
                        }
                        _ => p.items[i].marked = !p.items[i].marked,
                    }
                    p.cursor = (p.cursor + 1).min(n.saturating_sub(1));
                }
            }
            Action::Clear => {
                p.text.clear();
                p.cursor = 0;
                if p.narrows() {
                    p.items.iter_mut().for_each(|it| it.marked = false);
                }
            }
            Action::Erase => {
                p.text.pop();
                p.cursor = p.first_match();
            }
            Action::Char(c) => {
                p.text.push(c);
                p.cursor = p.first_match();
            }
            Action::More | Action::Less => p.contamination = step(p.contamination, action),
            Action::Rule => {
                let ok = p.items.iter().filter(|i| i.marked).count().max(1);
                p.combine = match p.combine {
                    Combine::Mean => Combine::Any,
                    Combine::Any => Combine::Votes(2.min(ok)),
                    Combine::Votes(m) if m < ok && m < 5 => Combine::Votes(m + 1),
                    Combine::Votes(_) => Combine::Mean,
                };
            }
            Action::AllOn => p.items.iter_mut().for_each(|it| it.marked = true),
            Action::Apply => return self.apply(p),
            _ => {}
        }
        self.overlay = Overlay::Picker(p);
        None
    }

    fn apply(&mut self, p: Picker) -> Option<Job> {
        let marked: Vec<&Item> = p
            .items
            .iter()
            .filter(|i| i.marked)
            .map(|i| &i.item)
            .collect();
        // Enter on "all" clears; with nothing marked, Enter takes the highlighted item.
        let on_all = p
            .highlighted()
            .is_some_and(|i| p.items[i].item == Item::All);
        let chosen: Vec<Item> = if on_all || marked.is_empty() || p.kind == PickerKind::Labels {
            p.highlighted()
                .map(|i| vec![p.items[i].item.clone()])
                .unwrap_or_default()
        } else {
            marked.into_iter().cloned().collect()
        };
        let values = || -> Vec<String> {
            chosen
                .iter()
                .filter_map(|i| match i {
                    Item::Value(v) => Some(v.clone()),
                    _ => None,
                })
                .collect()
        };
        match p.kind {
            PickerKind::Services => self.model.filter.services = values(),
            PickerKind::Addresses => {
                self.model.filter.pairs.clear();
                self.model.filter.ips = values()
                    .iter()
                    .filter_map(|v| IpMatch::parse(v).ok())
                    .collect()
            }
            PickerKind::Labels => self.model.train_label = values().into_iter().next(),
            PickerKind::Features => {
                let features: Vec<Feature> = p
                    .items
                    .iter()
                    .filter(|i| i.marked)
                    .filter_map(|i| match &i.item {
                        Item::Feature(f) => Some(f.clone()),
                        _ => None,
                    })
                    .collect();
                if features.is_empty() {
                    self.status = Some("choose at least one feature".into());
                    self.overlay = Overlay::Picker(p);
                    return None;
                }
                self.model.features = Some(FeatureOptions {
                    features,
                    scaling: p.scaling,
                    nulls: p.nulls,
                });
            }
            PickerKind::Detectors => {
                let detectors: Vec<DetectorKind> = p
                    .items
                    .iter()
                    .filter(|i| i.marked)
                    .filter_map(|i| match i.item {
                        Item::Detector(d) => Some(d),
                        _ => None,
                    })
                    .collect();
                if detectors.is_empty() {
                    self.status = Some("choose at least one detector".into());
                    self.overlay = Overlay::Picker(p);
                    return None;
                }
                self.model.ensemble.combine = match p.combine {
                    Combine::Votes(m) => Combine::Votes(m.min(detectors.len())),
                    c => c,
                };
                self.model.ensemble.detectors = detectors;
                self.model.ensemble.contamination = p.contamination;
                self.scatter.colour = 0;
            }
        }
        self.table.search.clear();
        self.start_job()
    }

    /// Seconds since `t`, by the frame clock.
    pub fn since(&self, t: Instant) -> Duration {
        self.now.saturating_duration_since(t)
    }
}

/// Contamination steps offered by `+` and `-`.
const CONTAMINATION: [f64; 11] = [
    0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2, 0.3, 0.5,
];

fn step(c: f64, action: Action) -> f64 {
    let i = CONTAMINATION
        .iter()
        .position(|&s| s >= c - 1e-12)
        .unwrap_or(CONTAMINATION.len() - 1);
    match action {
        Action::More if CONTAMINATION[i] > c + 1e-12 => CONTAMINATION[i],
        Action::More => CONTAMINATION[(i + 1).min(CONTAMINATION.len() - 1)],
        _ => CONTAMINATION[i.saturating_sub(1)],
    }
}

/// Whether an action moves the highlight in a list (the keys [`scrolled`] answers).
pub(crate) fn moves(action: Action) -> bool {
    matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    )
}

/// A position moved by a key within 0..=max.
pub(crate) fn scrolled(pos: usize, action: Action, page: usize, max: usize) -> usize {
    let page = page.max(1);
    match action {
        Action::Up => pos.saturating_sub(1),
        Action::Down => pos + 1,
        Action::PageUp => pos.saturating_sub(page),
        Action::PageDown => pos + page,
        Action::Top => 0,
        Action::Bottom => max,
        _ => pos,
    }
    .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contamination_steps() {
        assert_eq!(step(0.02, Action::More), 0.03);
        assert_eq!(step(0.02, Action::Less), 0.01);
        assert_eq!(step(0.025, Action::More), 0.03);
        assert_eq!(step(0.5, Action::More), 0.5);
        assert_eq!(step(0.001, Action::Less), 0.001);
    }

    #[test]
    fn scrolling_stays_in_range() {
        assert_eq!(scrolled(0, Action::Up, 10, 5), 0);
        assert_eq!(scrolled(4, Action::PageDown, 10, 5), 5);
        assert_eq!(scrolled(4, Action::Bottom, 10, 5), 5);
        assert_eq!(scrolled(0, Action::Down, 10, 0), 0);
    }
}
