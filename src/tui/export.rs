//! `e` in the UI: the flagged rows as CSV in a directory, written atomically (a temporary
//! file in the same directory, renamed into place), so a reader never sees half a file.
//! CSV quotes by its own rules; values are written as the log has them.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::score::cell;
use crate::ingest::Log;

use super::data::Results;

/// The log columns written for each row, before the verdict columns.
const FIELDS: [&str; 8] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
];

/// The file written in the export directory.
pub const FILE: &str = "anomalous.csv";

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: usize,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = crate::sanitize::sanitize(&self.path.display().to_string()).into_owned();
        write!(f, "wrote {} flagged rows to {shown}", self.rows)
    }
}

/// Writes the flagged rows, most anomalous first, to `dir/anomalous.csv` (creating
/// `dir`).
pub fn write(dir: &Path, log: &Log, r: &Results) -> std::io::Result<Written> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = csv::Writer::from_writer(tmp.as_file_mut());
        let mut header: Vec<&str> = FIELDS.to_vec();
        header.extend(["score", "votes", "detectors", "reasons"]);
        w.write_record(&header).map_err(std::io::Error::other)?;
        for f in &r.flagged {
            let mut rec: Vec<String> = FIELDS.iter().map(|c| cell(&log.frame, c, f.row)).collect();
            rec.push(format!("{:.6}", f.score));
            rec.push(f.votes.to_string());
            rec.push(f.detectors.replace(',', " "));
            let reasons: Vec<String> = r
                .analysis
                .reasons(f.i, 3)
                .into_iter()
                .map(|r| r.text)
                .collect();
            rec.push(reasons.join("; "));
            w.write_record(&rec).map_err(std::io::Error::other)?;
        }
        w.flush()?;
    }
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    // A temporary file is private; the export is meant to be handed on.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let path = dir.join(FILE);
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(Written {
        path,
        rows: r.flagged.len(),
    })
}
