use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use zsift::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // clap's messages quote the arguments given, which may hold escape sequences
            // (pasted from a log, say): neutralised line by line, as every other message.
            for line in e.render().to_string().lines() {
                eprintln!("{}", zsift::sanitize::sanitize(line));
            }
            return ExitCode::from(2);
        }
    };
    // Not locked for the whole run: the terminal UI writes to stdout from its own code,
    // and a panic hook on another thread must be able to restore the terminal.
    let mut out = io::BufWriter::new(io::stdout());
    let result = match &args.command {
        Some(command) => cli::run(command, &mut out),
        None => cli::open(&args.input, &mut out),
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
