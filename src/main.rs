use std::io::{self, Write};
use std::process::ExitCode;

use zsift::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    zsift::memory::trace_start();
    // No colours from clap: its messages are rendered with the arguments as given (not
    // with escape sequences stripped, which would show another argument than the one
    // typed), then neutralised.
    let parsed = Cli::command()
        .color(clap::ColorChoice::Never)
        .styles(clap::builder::Styles::plain())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // clap's messages quote the arguments given, which may hold escape sequences
            // (pasted from a log, say): neutralised line by line, as every other message,
            // the first line named as zsift's other errors are.
            let text = e.render().ansi().to_string();
            for (i, line) in text.lines().enumerate() {
                let line = match line.strip_prefix("error: ") {
                    Some(rest) if i == 0 => format!("zsift: {rest}"),
                    _ => line.to_string(),
                };
                eprintln!("{}", zsift::sanitize::sanitize(&line));
            }
            return ExitCode::from(2);
        }
    };
    if !stdout_open() {
        eprintln!("zsift: standard output is closed; nothing could be written");
        return ExitCode::from(1);
    }
    // Not locked for the whole run: the terminal UI writes to stdout from its own code,
    // and a panic hook on another thread must be able to restore the terminal.
    let mut out = io::BufWriter::new(io::stdout());
    let result = match &args.command {
        Some(command) => cli::run(command, &mut out),
        None => args
            .follow_ui()
            .and_then(|follow| cli::open(&args.input, follow, args.model.as_deref(), &mut out)),
    };
    let result = result.and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote a file name or a line of the log: neutralised.
            eprintln!("zsift: {}", zsift::sanitize::sanitize(&e.to_string()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Whether zsift was started with standard output open. A process started with
/// descriptor 1 closed finds `/dev/null` there, opened read-write by Rust's start-up code
/// (a shell's `>/dev/null` opens it write-only), and every write would seem to succeed.
fn stdout_open() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: fstat and fcntl only read the descriptor's state into `st`.
        let (st, flags) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(1, &mut st) != 0 {
                return false;
            }
            (st, libc::fcntl(1, libc::F_GETFL))
        };
        let null = std::fs::metadata("/dev/null").map(|m| m.rdev()).ok();
        let is_null = (st.st_mode & libc::S_IFMT) == libc::S_IFCHR && Some(st.st_rdev) == null;
        !(is_null && flags != -1 && flags & libc::O_ACCMODE == libc::O_RDWR)
    }
    #[cfg(not(unix))]
    true
}
