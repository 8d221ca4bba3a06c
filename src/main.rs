use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use zsift::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let args = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match &args.command {
        Some(command) => cli::run(command, &mut out),
        None => cli::open(&args.input, &mut out),
    };
    let result = result.and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zsift: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
