//! Logs of several kinds at once: a sensor's directory (`conn.log dns.log http.log
//! ssl.log ...`) or files of different kinds named together.
//!
//! Each file's kind is its Zeek path: the `#path` header of a TSV log, the `_path` field
//! of a JSON log, or, for a log that names none (JSON written without `_path`, Parquet),
//! its fields: `conn_state` makes a conn log, `query` with `qtype`/`qtype_name` a dns
//! log, `method` with `uri` an http log, `cipher` or `server_name` with `version` an ssl
//! log; anything else is of kind `log`, and loads with the first kind given when there is
//! one. Files of one kind load into one frame, in the
//! order given (a day of rotated logs, or logs of several days: their rows follow one
//! another, as when they are named one by one); each kind has its own frame.
//!
//! A JSON stream of several logs in one file (each line naming its `_path`) is split into
//! its logs, each with the columns its lines use. (TSV logs concatenated into one file
//! are of the first `#path`'s kind.)
//!
//! A directory stands for the logs in it (not below it) that Zeek names `conn`, `dns`,
//! `http` or `ssl` (`dns.log`, `dns.log.gz`, rotated as `dns.10:00:00-11:00:00.log.gz`,
//! or `.json`), in name order; the other logs in it (files, x509, weird, the sensor's
//! own stats...) are left out and listed, and are loaded when named as files.

use std::path::{Path, PathBuf};

use super::{assemble, open_file, read, FileLoad, IngestError, Limits, Log};

/// The kinds zsift has features for, in the order they are offered (conn first: it is
/// what zsift analyses by default).
pub const KNOWN: [&str; 4] = ["conn", "dns", "http", "ssl"];

/// The kind of a log that names none and whose fields are not those of a known kind.
pub const UNNAMED: &str = "log";

/// Logs of one or more kinds, each in its own frame.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    /// Each kind and its log: the known kinds first in [`KNOWN`] order, then the others
    /// in order of first appearance.
    pub kinds: Vec<(String, Log)>,
    /// Files of a directory left out, with why.
    pub left_out: LeftOut,
}

impl Logs {
    /// One log of one kind.
    pub fn single(kind: &str, log: Log) -> Self {
        Self {
            kinds: vec![(kind.to_string(), log)],
            left_out: Vec::new(),
        }
    }

    /// The kind analysed when none is chosen: conn if loaded, else the first.
    pub fn default_kind(&self) -> &str {
        self.kinds.first().map_or("conn", |(k, _)| k.as_str())
    }

    /// The loaded kinds' names.
    pub fn names(&self) -> Vec<&str> {
        self.kinds.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The log of `kind`, if loaded.
    pub fn get(&self, kind: &str) -> Option<&Log> {
        self.kinds.iter().find(|(k, _)| k == kind).map(|(_, l)| l)
    }

    /// The rows of every kind but `skip` whose `uid` is `uid`: Zeek gives a connection's
    /// dns, http and ssl records the conn record's uid.
    pub fn with_uid(&self, skip: &str, uid: &str) -> Vec<(&str, &Log, Vec<usize>)> {
        if uid.is_empty() || uid == "-" {
            return Vec::new();
        }
        self.kinds
            .iter()
            .filter(|(k, _)| k != skip)
            .filter_map(|(k, log)| {
                let uids = crate::ingest::text::Texts::column(&log.frame, "uid")?;
                let rows: Vec<usize> = uids
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| *v == Some(uid))
                    .map(|(i, _)| i)
                    .collect();
                (!rows.is_empty()).then_some((k.as_str(), log, rows))
            })
            .collect()
    }

    /// Takes the log of `kind` (`None`: the default kind) out; an error names the kinds
    /// loaded when it is not among them.
    pub fn take(mut self, kind: Option<&str>) -> Result<Log, IngestError> {
        let want = kind.unwrap_or(self.default_kind()).to_string();
        match self.kinds.iter().position(|(k, _)| *k == want) {
            Some(i) => Ok(self.kinds.swap_remove(i).1),
            None => Err(IngestError::NoKind {
                kind: want,
                loaded: self.names().join(", "),
            }),
        }
    }
}

/// The kind a log's file name says, Zeek's way (`dns.log`, `dns.2024-04-12-10-00-00.log.gz`,
/// `conn.10:00:00-11:00:00.log.gz`, `ssl.json`): the text before the first dot.
pub fn kind_of_name(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let (kind, rest) = name.split_once('.')?;
    // One of the dot-separated parts after the kind says it is a log: `dns.log`,
    // `conn.log.labeled`, `conn.10:00:00-11:00:00.log.gz`, `http.json`, `ssl.parquet`
    // (not `dns.catalog`, `conn.geojson`).
    let log_like = rest
        .split('.')
        .any(|p| ["log", "json", "gz", "parquet"].contains(&p));
    (log_like && !kind.is_empty()).then_some(kind)
}

/// A file read, split by Zeek path when it is a JSON stream of several logs (each line's
/// `_path`): one load per path, each with its rows and the columns they use.
fn split_by_path(load: FileLoad) -> Vec<FileLoad> {
    // TSV logs concatenated into one file keep the first `#path`'s kind (their rows have
    // no path each).
    if load.info.paths.len() < 2 || load.info.format != super::Format::Json {
        return vec![load];
    }
    let first = load.info.paths[0].clone();
    let mut by_path: Vec<(String, Vec<super::Part>)> = Vec::new();
    for part in load.parts {
        for p in part.split_by_path() {
            // A run of lines naming no path goes with the file's first.
            let path = p.paths.first().cloned().unwrap_or_else(|| first.clone());
            match by_path.iter_mut().find(|(k, _)| *k == path) {
                Some((_, parts)) => parts.push(p),
                None => by_path.push((path, vec![p])),
            }
        }
    }
    let mut skipped = Some(load.skipped);
    by_path
        .into_iter()
        .filter(|(_, parts)| parts.iter().any(|p| p.rows > 0))
        .map(|(path, parts)| FileLoad {
            info: super::FileInfo {
                rows: parts.iter().map(|p| p.rows).sum(),
                paths: vec![path],
                ..load.info.clone()
            },
            parts,
            // The file's skipped lines are counted once, with its first log.
            skipped: skipped.take().unwrap_or_default(),
        })
        .collect()
}

/// The kind of a file read: its declared path, else its fields.
fn kind_of_load(load: &FileLoad) -> String {
    if let Some(p) = load.info.paths.first() {
        return p.clone();
    }
    let names: Vec<&str> = load
        .parts
        .first()
        .map(|p| p.columns.iter().map(|c| c.name().as_str()).collect())
        .unwrap_or_default();
    kind_of_fields(&names).to_string()
}

/// The kind a frame's columns make ([`kind_of_fields`]).
pub fn kind_of_frame(frame: &polars::prelude::DataFrame) -> &'static str {
    let names: Vec<&str> = frame
        .get_column_names()
        .iter()
        .map(|c| c.as_str())
        .collect();
    kind_of_fields(&names)
}

/// The kind a log's fields make (for logs that name none).
pub fn kind_of_fields(names: &[&str]) -> &'static str {
    let has = |c: &str| names.contains(&c);
    if has("conn_state") || (has("history") && has("orig_bytes")) {
        "conn"
    } else if has("query") && (has("qtype") || has("qtype_name")) {
        "dns"
    } else if has("method") && has("uri") {
        "http"
    } else if has("version") && (has("cipher") || has("server_name")) {
        "ssl"
    } else {
        UNNAMED
    }
}

/// Files left out of a directory, with why.
type LeftOut = Vec<(String, String)>;

/// The files a directory stands for, in name order, and those left out (with why):
/// its logs of kind `want` when it has some, else all its logs of a known kind.
fn expand_dir(dir: &Path, want: Option<&str>) -> Result<(Vec<PathBuf>, LeftOut), IngestError> {
    let name = dir.display().to_string();
    let io_err = |source| IngestError::Io {
        file: name.clone(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let wanted = want.filter(|w| entries.iter().any(|p| kind_of_name(p) == Some(w)));
    let (mut take, mut left) = (Vec::new(), Vec::new());
    for p in entries {
        match kind_of_name(&p) {
            // A kind asked for by name is taken, known or not (`--kind weird`).
            Some(k) if wanted == Some(k) => take.push(p),
            Some(k) if wanted.is_some() && KNOWN.contains(&k) => {
                left.push((
                    p.display().to_string(),
                    format!("a {k} log (not asked for)"),
                ));
            }
            Some(k) if KNOWN.contains(&k) => take.push(p),
            Some(k) => left.push((p.display().to_string(), format!("a {k} log"))),
            None => left.push((p.display().to_string(), "not named as a Zeek log".into())),
        }
    }
    if take.is_empty() {
        return Err(IngestError::NotZeek {
            file: name,
            reason: "a directory with no conn, dns, http or ssl log in it (name the files to \
                     load other logs)"
                .into(),
        });
    }
    Ok((take, left))
}

/// Loads logs of one or more kinds: files (`-` is standard input) and directories. With
/// `want`, a directory gives only its logs of that kind when it has some (files named
/// one by one are read whatever their kind: only their contents tell).
pub fn load_kinds(
    inputs: &[PathBuf],
    limits: &Limits,
    want: Option<&str>,
) -> Result<Logs, IngestError> {
    if inputs.is_empty() {
        return Err(IngestError::NoInput);
    }
    let mut left_out = Vec::new();
    let mut groups: Vec<(String, Vec<FileLoad>)> = Vec::new();
    for p in inputs {
        let files = if p != Path::new("-") && p.is_dir() {
            let (take, left) = expand_dir(p, want)?;
            left_out.extend(left);
            take
        } else {
            vec![p.clone()]
        };
        for f in files {
            let name = f.display().to_string();
            let reader: Box<dyn std::io::Read> = if f == Path::new("-") {
                Box::new(std::io::stdin().lock())
            } else {
                open_file(&f, &name)?
            };
            for load in split_by_path(read(&name, reader, limits)?) {
                let kind = kind_of_load(&load);
                match groups.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, loads)) => loads.push(load),
                    None => groups.push((kind, vec![load])),
                }
            }
        }
    }
    // A log that names no kind and whose fields say none (a few columns of JSON) loads
    // with the first kind given, as all files did when there was one table.
    if groups.len() > 1 {
        if let Some(i) = groups.iter().position(|(k, _)| k == UNNAMED) {
            let (_, loads) = groups.remove(i);
            groups[0].1.extend(loads);
        }
    }
    // Known kinds first, in their order; the rest as they came.
    groups.sort_by_key(|(k, _)| KNOWN.iter().position(|n| n == k).unwrap_or(KNOWN.len()));
    let mut kinds = Vec::with_capacity(groups.len());
    for (kind, loads) in groups {
        kinds.push((kind, super::narrow_ints(assemble(loads, limits)?)));
    }
    Ok(Logs { kinds, left_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_kind_zeek_gave() {
        fn k(s: &str) -> Option<&str> {
            kind_of_name(Path::new(s))
        }
        assert_eq!(k("/nsm/zeek/logs/current/dns.log"), Some("dns"));
        assert_eq!(k("conn.10:00:00-11:00:00.log.gz"), Some("conn"));
        assert_eq!(k("ssl.2024-04-12-19-29-12.log"), Some("ssl"));
        assert_eq!(k("http.json"), Some("http"));
        assert_eq!(k("conn.log.labeled"), Some("conn"));
        assert_eq!(k("dns.catalog"), None);
        assert_eq!(k("conn.geojson"), None);
        assert_eq!(k(".status"), None);
        assert_eq!(k("notes.txt"), None);
        assert_eq!(k("README"), None);
    }

    #[test]
    fn fields_say_the_kind_of_a_log_that_names_none() {
        assert_eq!(kind_of_fields(&["uid", "conn_state", "history"]), "conn");
        assert_eq!(kind_of_fields(&["uid", "query", "qtype_name"]), "dns");
        assert_eq!(kind_of_fields(&["method", "uri", "host"]), "http");
        assert_eq!(kind_of_fields(&["version", "cipher"]), "ssl");
        assert_eq!(kind_of_fields(&["a", "b"]), UNNAMED);
    }
}
