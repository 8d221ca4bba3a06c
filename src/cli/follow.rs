//! `zsift score --follow LOG`: follows a growing log, fits the model once enough rows have
//! arrived, then prints each new flagged row as soon as it is scored, a line at a time
//! (JSON lines by default). SIGINT and SIGTERM end it cleanly, with a summary on
//! standard error, as does the end of standard input.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::model::ModelArgs;
use super::score::{OutputFormat, Row};
use super::CliError;
use crate::cancel::Cancel;
use crate::ingest::follow::{Event, Follower};
use crate::ingest::{Limits, Log};
use crate::live::{Live, Window};
use crate::sanitize::sanitize;

/// How often the log is looked at: new rows reach the output within about this (plus
/// their scoring), well under the second an alert pipeline expects.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// What `--follow` is given.
pub struct FollowArgs<'a> {
    /// The log (`-`: standard input).
    pub log: &'a Path,
    /// Loading limits.
    pub limits: Limits,
    /// Rows needed before the model is fitted.
    pub warmup: usize,
    /// The window kept for the context and hosts' evidence.
    pub window: Window,
    /// Print every scored row, not only the flagged ones.
    pub all: bool,
    /// Output format.
    pub format: OutputFormat,
    /// How CSV cells are written.
    pub csv: super::score::CsvCells,
    /// Fit a new model on the window this often (the old one scores meanwhile).
    pub refit: Option<Duration>,
}

/// A model being fitted in the background: the thread, and how many rows the model in
/// use had been given when it started.
struct Refit {
    thread: std::thread::JoinHandle<Result<Live, crate::pipeline::PipelineError>>,
    appended: u64,
    started: Instant,
}

/// Counts for the summary.
#[derive(Default)]
struct Counts {
    read: u64,
    scored: u64,
    flagged: u64,
    skipped: u64,
    rotated: u64,
    truncated: u64,
    refits: u64,
}

/// Follows `args.log` until a signal or the end of standard input.
pub fn run(args: &FollowArgs, model: &ModelArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.format == OutputFormat::Json {
        return Err(CliError::Usage(
            "--follow prints rows as they come: --format jsonl, csv or table (a JSON array \
             would never end)"
                .into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the first is being handled ends zsift at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))
            .map_err(CliError::Output)?;
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(CliError::Output)?;
    }
    let started = Instant::now();
    let mut follower = Follower::open(args.log, &args.limits)?;
    let name = sanitize(follower.name()).into_owned();
    let mut counts = Counts::default();
    // A signal also stops a fit or a scoring under way, not only the next look.
    let cancel = Cancel::new();
    {
        let (stop, cancel) = (Arc::clone(&stop), cancel.clone());
        std::thread::spawn(move || loop {
            if stop.load(Ordering::Relaxed) {
                cancel.cancel();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    }
    // Rows needed before the next try at fitting (more after a try that failed).
    let mut warmup = args.warmup;
    let mut fit_failure: Option<String> = None;
    // Rows before the fit, and then the fitted model.
    let mut pending: Option<Log> = None;
    let mut live: Option<Live> = None;
    let mut fitted_model: Option<crate::pipeline::Model> = None;
    let mut last_fit = Instant::now();
    let mut refit: Option<Refit> = None;
    let mut closed = false;
    let mut csv_header = args.format == OutputFormat::Csv;
    while !stop.load(Ordering::Relaxed) && !closed {
        let batch = follower.poll()?;
        counts.skipped += batch.skipped.count;
        for e in &batch.events {
            match e {
                Event::Rotated => counts.rotated += 1,
                Event::Truncated => counts.truncated += 1,
                Event::Closed => closed = true,
                Event::Gone => eprintln!("zsift: {name} was removed; waiting for it to return"),
                Event::Back => eprintln!("zsift: {name} is back"),
            }
        }
        if let Some(log) = batch.log {
            counts.read += log.rows() as u64;
            match &mut live {
                Some(l) => {
                    let scored = match l.score(&log, &cancel) {
                        Ok(s) => s,
                        Err(e) if e.is_cancelled() => break,
                        Err(e) => {
                            return Err(CliError::Usage(format!(
                                "{name}: {}",
                                sanitize(&e.to_string())
                            )))
                        }
                    };
                    counts.scored += scored.len() as u64;
                    let extra = super::score::kind_fields(l.frame());
                    for s in scored.iter().filter(|s| args.all || s.flagged) {
                        counts.flagged += u64::from(s.flagged);
                        let row = Row {
                            fields: Row::fields_of(l.frame(), s.row, extra),
                            extra,
                            score: s.score,
                            votes: s.votes,
                            flagged: s.flagged,
                            detectors: s.detectors.clone(),
                            reasons: s.reasons.clone(),
                        };
                        write_row(out, args, &row, &mut csv_header)?;
                    }
                    // Each batch reaches the reader at once, not when a buffer fills.
                    out.flush()?;
                }
                None => {
                    pending = Some(match pending.take() {
                        Some(p) => Log {
                            frame: crate::ingest::concat(&p.frame, &log.frame).map_err(|e| {
                                CliError::Usage(format!("{name}: {}", sanitize(&e.to_string())))
                            })?,
                            files: p.files,
                            skipped: p.skipped,
                        },
                        None => log,
                    });
                }
            }
        }
        // The model is fitted once the rows so far are read and there are enough.
        if live.is_none() && !batch.more {
            if let Some(p) = pending.as_ref().filter(|p| p.rows() >= warmup) {
                let t = Instant::now();
                let m = model.model(p)?;
                let (a, l) = match Live::fit(p, &m, args.window, &cancel) {
                    Ok(fit) => fit,
                    Err(e) if e.is_cancelled() => break,
                    // Too few rows pass the filter, none has the training label, every
                    // detector failed on so few: wait for twice as many rows.
                    Err(e) => {
                        let why = sanitize(&e.to_string()).into_owned();
                        eprintln!(
                            "zsift: cannot fit the model on the {} rows of {name} yet ({why}); \
                             waiting for {}",
                            p.rows(),
                            p.rows() * 2
                        );
                        warmup = p.rows() * 2;
                        fit_failure = Some(why);
                        continue;
                    }
                };
                eprintln!(
                    "zsift: model fitted on {} rows of {name} in {:.1} s ({} flagged among \
                     them); scoring new rows",
                    a.matrix.rows.len(),
                    t.elapsed().as_secs_f64(),
                    a.verdicts.n_flagged()
                );
                live = Some(l);
                fitted_model = Some(m);
                last_fit = Instant::now();
                pending = None;
            }
        }
        // A new model on the window, fitted in the background; the old one scores until
        // it is ready.
        if let (Some(every), Some(l), Some(m), None) = (args.refit, &live, &fitted_model, &refit) {
            if last_fit.elapsed() >= every {
                let (log, m, window) = (l.window_log(), m.clone(), args.window);
                refit = Some(Refit {
                    thread: std::thread::spawn(move || {
                        Live::fit(&log, &m, window, &Cancel::new()).map(|(_, l)| l)
                    }),
                    appended: l.appended(),
                    started: Instant::now(),
                });
            }
        }
        if refit.as_ref().is_some_and(|r| r.thread.is_finished()) {
            let r = refit.take().expect("checked");
            last_fit = Instant::now();
            match r.thread.join() {
                Ok(Ok(mut new)) => {
                    if let Some(old) = &live {
                        new.take_over(old, r.appended);
                    }
                    eprintln!(
                        "zsift: model refitted on the window of {name} ({} rows) in {:.1} s",
                        new.frame().height(),
                        r.started.elapsed().as_secs_f64()
                    );
                    counts.refits += 1;
                    live = Some(new);
                }
                Ok(Err(e)) => eprintln!(
                    "zsift: refit on the window of {name} failed, the model in use goes on: {}",
                    sanitize(&e.to_string())
                ),
                Err(_) => eprintln!(
                    "zsift: refit on the window of {name} failed, the model in use goes on"
                ),
            }
        }
        if !batch.more && !closed {
            follower.wait(LOOK_EVERY);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let fitted = match (&live, &fit_failure) {
        (Some(_), _) => String::new(),
        (None, Some(why)) => format!(" (the model could not be fitted: {why})"),
        (None, None) if stop.load(Ordering::Relaxed) => {
            " (stopped before the model was fitted)".to_string()
        }
        (None, None) => format!(
            " (the model was never fitted: fewer than the {} rows --warmup asks for)",
            args.warmup
        ),
    };
    eprintln!(
        "zsift: followed {name} for {secs:.1} s: {} rows read, {} scored, {} flagged, {} \
         malformed lines skipped, {} rotations, {} truncations, {} refits{fitted}",
        counts.read,
        counts.scored,
        counts.flagged,
        counts.skipped,
        counts.rotated,
        counts.truncated,
        counts.refits
    );
    out.flush()?;
    Ok(())
}

fn write_row(
    out: &mut dyn Write,
    args: &FollowArgs,
    r: &Row,
    csv_header: &mut bool,
) -> Result<(), CliError> {
    match args.format {
        OutputFormat::Jsonl | OutputFormat::Json => {
            crate::sanitize::write_json_line(&mut *out, &r.json())?
        }
        OutputFormat::Csv => {
            let mut w = csv::WriterBuilder::new().from_writer(&mut *out);
            if std::mem::take(csv_header) {
                w.write_record(super::score::csv_header(r.extra))
                    .map_err(super::score::csv_err)?;
            }
            w.write_record(r.csv_record(&args.csv))
                .map_err(super::score::csv_err)?;
            w.flush()?;
        }
        OutputFormat::Table => {
            let f: Vec<String> = r.fields.iter().map(|s| sanitize(s).into_owned()).collect();
            writeln!(
                out,
                "{:>5.3} {:>2}  {:<26} {:<18} {}:{} -> {}:{}/{} {:<10} {:<22} {}",
                r.score,
                r.votes,
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                f[5],
                f[6],
                sanitize(r.what()),
                r.detectors.join(","),
                sanitize(&r.reasons.join("; "))
            )?;
        }
    }
    Ok(())
}
