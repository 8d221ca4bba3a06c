//! `zsift summary`.

use std::io::Write;

use super::{CliError, Input};
use crate::sanitize::sanitize;
use crate::summary::{summarize, Count};

pub fn run(input: &Input, json: bool, top: usize, out: &mut dyn Write) -> Result<(), CliError> {
    let log = input.load()?;
    let s = summarize(&log, top);
    if json {
        crate::sanitize::write_json(&mut *out, &s)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "rows      {}", s.rows)?;
    writeln!(out, "format    {}", s.format)?;
    for f in &s.files {
        writeln!(
            out,
            "file      {} ({}{}, {} rows{})",
            sanitize(&f.name),
            f.format,
            if f.gzip { ", gzip" } else { "" },
            f.rows,
            if f.paths.is_empty() {
                String::new()
            } else {
                format!(", path {}", sanitize(&f.paths.join(",")))
            }
        )?;
    }
    if let Some((a, b)) = &s.time_range {
        writeln!(out, "time      {a} .. {b}")?;
    }
    writeln!(out, "skipped   {} malformed lines", s.skipped.count)?;
    for l in &s.skipped.first {
        writeln!(
            out,
            "          {}:{}: {}",
            sanitize(&l.file),
            l.line,
            sanitize(&l.reason)
        )?;
    }
    writeln!(out, "columns   {}", s.columns.len())?;
    for c in &s.columns {
        writeln!(out, "          {:<24} {}", sanitize(&c.name), c.dtype)?;
    }
    let list = |out: &mut dyn Write, title: &str, v: &[Count]| -> std::io::Result<()> {
        if v.is_empty() {
            return Ok(());
        }
        writeln!(out, "{title}")?;
        for c in v {
            writeln!(out, "          {:>9}  {}", c.count, sanitize(&c.value))?;
        }
        Ok(())
    };
    list(out, "services", &s.services)?;
    list(out, "sources", &s.sources)?;
    list(out, "destinations", &s.destinations)?;
    Ok(())
}
