//! `zsift completions SHELL` and `zsift man`: made from the same definitions as the
//! command line, so they list every subcommand, option and value it takes.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, CliError};

/// Writes the completion script of `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "zsift", out);
    Ok(())
}

/// The manual's EXAMPLES and FILES sections (roff), which the command line cannot say.
const EXTRA: &str = r#".SH EXAMPLES
.TP
\fBzsift conn.log\fR
Open a conn log (TSV, JSON lines or Parquet, gzipped or not) in the terminal UI.
.TP
\fBzsift \-f /opt/zeek/logs/current/conn.log\fR
Follow a log as Zeek writes it, scoring new rows as they arrive.
.TP
\fBzsift score \-\-format jsonl conn.log.gz | jq .\fR
Print the flagged connections as JSON lines.
.TP
\fBzsift /nsm/zeek/logs/current/\fR
Open a sensor's directory: its conn, dns, http and ssl logs, each in its own table (L switches; a row's record shows the other kinds' records with its uid).
.TP
\fBzsift hosts \-\-kind dns dns.log.gz\fR
Rank the clients of a dns log, with DNS tunnel and DGA scores.
.TP
\fBzsift hosts \-\-by pair \-\-top 20 conn.log\fR
Rank pairs of hosts by their behaviour (scans, beacons, long connections, exfiltration, brute force).
.TP
\fBzsift fit \-\-save monday.zsm monday/conn.*.log.gz\fR
Fit the detectors on a day of logs and save the model.
.TP
\fBzsift score \-\-model monday.zsm tuesday/conn.log.gz\fR
Score another day (or another sensor) with the saved model.
.TP
\fBzsift export \-\-format parquet \-\-out findings conn.log\fR
Write the flagged rows, every row and the clusters to a folder.
.SH FILES
.TP
\fIMODEL.zsm\fR
A model saved by \fBzsift fit \-\-save\fR: magic ZSIFTMDL, a format version, the fitted
filter, features, detectors and thresholds, and a SHA\-256 of the whole. A damaged file,
or one of another format version, is refused (exit status 2).
.TP
\fIDIR\fR/anomalous.csv, \fIDIR\fR/rows.csv (or .parquet), \fIDIR\fR/clusters.json, \fIDIR\fR/clusters.txt
What \fBzsift export\fR writes; each file is written whole or not at all.
.SH EXIT STATUS
0 on success; 2 on unusable input or arguments (the message names the file and the
reason); 1 when output cannot be written.
"#;

/// Writes the manual page: clap's sections, then examples and files.
pub fn man(out: &mut dyn Write) -> Result<(), CliError> {
    let man = clap_mangen::Man::new(Cli::command())
        .title("ZSIFT")
        .section("1")
        .manual("zsift manual");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(EXTRA.as_bytes())?;
    man.render_version_section(out)?;
    Ok(())
}
