//! The command line: argument parsing and the headless commands. Each command calls the
//! library and prints; nothing here computes.

mod docs;
mod eval;
mod fit;
mod follow;
mod hosts;
pub mod model;
pub mod score;
mod stats;
mod summary;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ingest::IngestError;

/// The version, with the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ZSIFT_COMMIT"),
    ")"
);

/// zsift finds anomalous network connections in Zeek logs.
#[derive(Debug, Parser)]
#[command(
    name = "zsift",
    version = VERSION,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A headless command; without one, zsift opens the logs in the terminal UI.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to load.
    #[command(flatten)]
    pub input: Input,
    /// Follow the log as it grows (one LOG, `-` for standard input): fit the model once
    /// it is read, then score the rows that arrive and show them as they come (new ones
    /// marked ●; Space stops the view, n marks them seen, R fits again on the window).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// With --follow: rows to read before fitting the model.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "follow")]
    pub warmup: usize,
    /// With --follow: the rows kept (for the views, the context features and the hosts'
    /// evidence): a duration (`30m`, `24h`) or a number of rows.
    #[arg(
        long,
        value_name = "SPAN|ROWS",
        default_value = "24h",
        requires = "follow"
    )]
    pub window: String,
    /// With --follow: fit the model again on the window this often (`30m`, `6h`).
    #[arg(long, value_name = "SPAN", requires = "follow")]
    pub refit: Option<String>,
    /// Score the logs with a model saved by `zsift fit --save` instead of fitting one
    /// on them (choosing other filters or detectors in the UI fits a new one).
    #[arg(long, value_name = "FILE", conflicts_with = "follow")]
    pub model: Option<PathBuf>,
}

impl Cli {
    /// The UI's follow settings, when `-f` is given; refuses what cannot be followed.
    pub fn follow_ui(&self) -> Result<Option<crate::live::FollowSettings>, CliError> {
        if !self.follow {
            return Ok(None);
        }
        if self.input.demo || self.input.logs.len() != 1 {
            return Err(CliError::Usage(
                "--follow follows one log (or `-` for standard input)".into(),
            ));
        }
        let window = crate::live::Window::parse(&self.window)
            .map_err(|e| CliError::Usage(format!("--window: {e}")))?;
        Ok(Some(crate::live::FollowSettings {
            warmup: self.warmup.max(1),
            window,
            refit: self.refit.as_deref().map(parse_span).transpose()?,
        }))
    }
}

/// A `--refit` duration: `30m`, `6h`, `1d`.
fn parse_span(s: &str) -> Result<std::time::Duration, CliError> {
    match crate::live::Window::parse(s) {
        Ok(crate::live::Window::Micros(us)) => {
            Ok(std::time::Duration::from_micros(us.unsigned_abs()))
        }
        _ => Err(CliError::Usage(format!(
            "--refit: not a duration: {:?} (30m, 6h, 1d)",
            crate::sanitize::sanitize(s)
        ))),
    }
}

pub use crate::ingest::Input;

/// Headless commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// What a log holds: rows, skipped lines, format, columns, time range, services, top
    /// talkers.
    Summary {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// How many top addresses to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Run the detectors and print the flagged connections, most anomalous first: uid,
    /// time, addresses, ports, service, combined score, votes, detectors, reasons.
    Score {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: score::OutputFormat,
        /// Print every row, not only the flagged ones.
        #[arg(long)]
        all: bool,
        /// CSV: write text cells as in the log even when a spreadsheet would run them as
        /// formulas (by default `=...`, `@...`, `+...`, `-...` get a leading `'`).
        #[arg(long)]
        keep_formulas: bool,
        /// Narrow and order the rows printed, as the UI's query bar does (`src:10.0.0.0/8
        /// port:22,23 -service:dns score:>0.9 beacon:>0.5 after:2022-06-13 sort:-orig_bytes`;
        /// the README lists every field). The analysis is the same; only the view changes.
        #[arg(
            long,
            value_name = "TERMS",
            default_value = "",
            allow_hyphen_values = true
        )]
        query: String,
        /// Follow the log as it grows (one LOG, `-` for standard input): fit the model on
        /// the rows there (at least --warmup), then print each new row the model flags as
        /// soon as it is scored, flushed line by line; rotation and truncation are
        /// followed. SIGINT or SIGTERM ends it with a summary on standard error.
        #[arg(short = 'f', long, conflicts_with = "query")]
        follow: bool,
        /// With --follow: rows to read before fitting the model. The detectors' thresholds
        /// are quantiles of the training scores: at a 2% contamination, 1000 rows put 20
        /// above the threshold, few enough to be noisy and enough to be usable.
        #[arg(long, value_name = "N", default_value_t = 1000, requires = "follow")]
        warmup: usize,
        /// With --follow: the rows kept for the context features and the hosts' evidence:
        /// a duration (`30m`, `24h`, `7d`) or a number of rows. Memory stays flat.
        #[arg(
            long,
            value_name = "SPAN|ROWS",
            default_value = "24h",
            requires = "follow"
        )]
        window: String,
        /// With --follow: fit a new model on the window this often (`30m`, `6h`), in the
        /// background; the model in use scores until the new one is ready.
        #[arg(long, value_name = "SPAN", requires = "follow")]
        refit: Option<String>,
    },
    /// Fit the detectors on the logs and save the model to a file, to score other logs
    /// with it (`zsift score --model FILE`, `zsift --model FILE LOG`): on another day, on
    /// another sensor, on many machines with one model.
    Fit {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// The model file to write (written whole or not at all).
        #[arg(long, value_name = "FILE")]
        save: PathBuf,
    },
    /// Cluster the rows (HDBSCAN) and print each cluster's size and statistics: numeric
    /// features (mean, std, variance, range, quartiles) and the top five values of the
    /// categorical fields.
    Stats {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// Which rows to cluster.
        #[arg(long, value_enum, default_value = "all")]
        subset: stats::SubsetArg,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Also draw each feature's histogram (anomalous vs normal) and sorted values.
        #[arg(long)]
        plot: bool,
    },
    /// Write anomalous.csv, rows.csv (or with --format parquet anomalous.parquet,
    /// rows.parquet), clusters.json and clusters.txt to a folder (each file written
    /// whole or not at all).
    Export {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// The folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Leave out the UMAP positions (faster on large logs).
        #[arg(long)]
        no_umap: bool,
        /// Write text cells as in the log even when a spreadsheet would run them as
        /// formulas (by default `=...`, `@...`, `+...`, `-...` get a leading `'`).
        #[arg(long)]
        keep_formulas: bool,
        /// The tables' format: `csv` (anomalous.csv, rows.csv) or `parquet`
        /// (anomalous.parquet, rows.parquet, values with their types).
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::export::TableFormat,
        /// Which rows to cluster, comma-separated: each clustering has its section in
        /// clusters.json and clusters.txt, and the tables' `cluster` column is that of
        /// all rows (left out when they are not clustered).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "all,anomalous,normal"
        )]
        subsets: Vec<stats::SubsetArg>,
    },
    /// Rank sources, destinations or pairs by host score: behaviour scores (scan, beacon,
    /// long connection, exfiltration, brute force; DNS tunnel and DGA from a dns log) and
    /// how anomalous their connections are.
    Hosts {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// What to rank.
        #[arg(long, value_enum, default_value = "src")]
        by: hosts::UnitArg,
        /// How many to print (0: all).
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Print one JSON list of objects.
        #[arg(long)]
        json: bool,
    },
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell):
    /// subcommands, options and their values.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `zsift man | man -l -`.
    Man,
    /// Measure each detector and the ensemble on a labelled log: ROC-AUC and precision at
    /// k (positives: label starting with "Malicious"; "Background" rows left out).
    Eval {
        /// What to load.
        #[command(flatten)]
        input: Input,
        /// Filters and model.
        #[command(flatten)]
        model: model::ModelArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// A failure of a command, with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Unusable input or arguments: exit status 2.
    #[error(transparent)]
    Input(#[from] IngestError),
    /// Unusable arguments found after parsing: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The analysis could not run on this input (no rows left, no training rows...):
    /// exit status 2.
    #[error(transparent)]
    Analysis(#[from] crate::pipeline::PipelineError),
    /// A model file that cannot be used: exit status 2.
    #[error(transparent)]
    Model(#[from] crate::modelfile::ModelFileError),
    /// Writing the output failed: exit status 1 (a closed pipe is not an error).
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_)
            | CliError::Usage(_)
            | CliError::Analysis(_)
            | CliError::Model(_) => 2,
            CliError::Output(_) => 1,
        }
    }
}

/// Runs a headless command, writing to `out` (standard output: whether that is a terminal
/// decides how CSV is written, see [`score::run`]).
pub fn run(command: &Command, out: &mut dyn Write) -> Result<(), CliError> {
    use std::io::IsTerminal;
    match command {
        Command::Summary { input, json, top } => summary::run(input, *json, *top, out),
        Command::Score {
            input,
            model,
            format,
            all,
            keep_formulas,
            query,
            follow,
            warmup,
            window,
            refit,
        } => {
            let terminal = io::stdout().is_terminal();
            let csv = score::CsvCells {
                terminal,
                keep_formulas: *keep_formulas,
            };
            if *follow {
                if model.model_file.is_some() {
                    return Err(CliError::Usage(
                        "--follow fits its own model on the rows it reads; --model cannot be \
                         given with it"
                            .into(),
                    ));
                }
                let [log] = input.logs.as_slice() else {
                    return Err(CliError::Usage(
                        "--follow follows one log (or `-` for standard input)".into(),
                    ));
                };
                let args = follow::FollowArgs {
                    log,
                    limits: input.limits,
                    warmup: (*warmup).max(1),
                    window: crate::live::Window::parse(window)
                        .map_err(|e| CliError::Usage(format!("--window: {e}")))?,
                    all: *all,
                    format: *format,
                    csv,
                    refit: refit.as_deref().map(parse_span).transpose()?,
                };
                return follow::run(&args, model, out);
            }
            score::run(input, model, *format, *all, csv, query, out)
        }
        Command::Eval { input, model, json } => eval::run(input, model, *json, out),
        Command::Fit { input, model, save } => fit::run(input, model, save, out),
        Command::Completions { shell } => docs::completions(*shell, out),
        Command::Man => docs::man(out),
        Command::Hosts {
            input,
            model,
            by,
            top,
            json,
        } => hosts::run(input, model, *by, *top, *json, out),
        Command::Stats {
            input,
            model,
            subset,
            json,
            plot,
        } => stats::run_stats(input, model, *subset, *json, *plot, out),
        Command::Export {
            input,
            model,
            out: dir,
            no_umap,
            keep_formulas,
            format,
            subsets,
        } => stats::run_export(
            input,
            model,
            dir,
            stats::ExportOptions {
                umap: !*no_umap,
                keep_formulas: *keep_formulas,
                format: *format,
                subsets,
            },
            out,
        ),
    }
}

/// `zsift [LOG]...` without a command: loads the logs (the demo log when none is given
/// on a terminal) and opens them in the terminal UI; with standard output not a
/// terminal, prints what they hold instead.
pub fn open(
    input: &Input,
    follow: Option<crate::live::FollowSettings>,
    model: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let mut input = input.clone();
    if input.logs.is_empty() && !input.demo {
        if !io::stdin().is_terminal() {
            return Err(CliError::Usage(
                "no log given (name a Zeek log, `-` for standard input, or --demo)".into(),
            ));
        }
        input.demo = true;
    }
    // A model file is read before the UI starts: one it cannot use ends zsift here.
    let saved = match model {
        Some(path) => Some(crate::tui::worker::SavedFile {
            path: path.to_path_buf(),
            model: crate::modelfile::read(path)?.model,
        }),
        None => None,
    };
    if io::stdout().is_terminal() {
        // The UI runs in a child process while this one guards the terminal (restored
        // even if the child aborts or is killed); in-process if no child can start.
        if !crate::tui::guard::is_child() {
            if let Some(code) = crate::tui::guard::run() {
                std::process::exit(code.into());
            }
        }
        return crate::tui::run(&input, follow, saved).map_err(|e| match e {
            crate::tui::UiError::Load(m) => CliError::Usage(m),
            crate::tui::UiError::Terminal(e) => CliError::Output(e),
        });
    }
    if follow.is_some() {
        return Err(CliError::Usage(
            "the UI follows a log on a terminal; for a pipe or a file, use `zsift score \
             --follow LOG`"
                .into(),
        ));
    }
    summary::run(&input, false, 10, out)
}
