//! `zsift summary`.

use std::io::Write;

use super::{CliError, Input};
use crate::sanitize::sanitize;
use crate::summary::{summarize, Count};

pub fn run(input: &Input, json: bool, top: usize, out: &mut dyn Write) -> Result<(), CliError> {
    // Every kind given is read, to say what was loaded; the chosen one is summarised.
    let all = input.load_all()?;
    let kinds: Vec<(String, usize)> = all
        .kinds
        .iter()
        .map(|(k, l)| (k.clone(), l.rows()))
        .collect();
    let left_out = all.left_out.clone();
    let log = all.take(input.kind.as_deref())?;
    let s = summarize(&log, top);
    if json {
        let mut v = serde_json::to_value(&s).map_err(std::io::Error::other)?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "kinds".into(),
                serde_json::json!(kinds
                    .iter()
                    .map(|(k, n)| serde_json::json!({"kind": k, "rows": n}))
                    .collect::<Vec<_>>()),
            );
        }
        crate::sanitize::write_json(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    if kinds.len() > 1 {
        let list: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{} ({n} rows)", sanitize(k)))
            .collect();
        writeln!(
            out,
            "kinds     {} (--kind chooses the one summarised)",
            list.join(", ")
        )?;
    }
    for (f, why) in &left_out {
        writeln!(out, "left out  {}: {}", sanitize(f), sanitize(why))?;
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
