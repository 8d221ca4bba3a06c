//! Following a growing log as `tail -F` does: the rows appended since the last look, as
//! a small [`Log`] each time.
//!
//! - A partial last line waits for its end (Zeek writes a line in pieces under load).
//! - Rotation (the file renamed, a new one created under the path, as Zeek and logrotate
//!   do) is noticed by the path naming another file: the old one is read to its end
//!   first, then the new one from its start.
//! - A file cut shorter than what was read (copytruncate) is read again from its start
//!   (noticed while it is shorter: what a writer adds past the old length before the
//!   next look is taken for an append, as `tail -F` takes it).
//! - A file removed and not recreated: reported once, the rows read so far are kept, and
//!   the path is tried again on each look.
//! - A new TSV header block (after a rotation, or with other fields) is followed as the
//!   batch reader does; JSON lines need none.
//! - Standard input (`-`) is read by a thread of its own; its end is reported, and a last
//!   line without a newline counts as a line then.
//!
//! The path is looked at on each call (no inotify): it works on every filesystem,
//! including network mounts, and the caller chooses how often (zsift looks every 100 ms in
//! the UI, 200 ms headless).
//! Gzipped input cannot grow line by line and is refused.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use super::{
    assemble, FileInfo, FileLoad, Format, IngestError, Limits, Log, Parser, Skipped, MAX_LINE,
};

/// Most bytes read in one look: a large existing file is taken in several batches, so
/// that each stays a few tens of megabytes of rows.
const READ_MOST: usize = 32 << 20;

/// What happened to the input since the last look, besides new rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The path now names a new file (the old one was read to its end).
    Rotated,
    /// The file became shorter than what had been read: read again from its start.
    Truncated,
    /// The path names no file any more (the rows read so far are kept).
    Gone,
    /// The path names a file again after [`Event::Gone`].
    Back,
    /// Standard input ended.
    Closed,
}

/// What one look found.
#[derive(Debug, Default)]
pub struct Batch {
    /// The new rows (`None`: no complete new row).
    pub log: Option<Log>,
    /// What happened to the input.
    pub events: Vec<Event>,
    /// Lines skipped in this batch (malformed), with the first few.
    pub skipped: Skipped,
    /// More is already there to read (a large file is taken in several looks).
    pub more: bool,
}

/// A file's identity: device and inode (a rotation changes it, a truncation does not).
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    // Without inodes, a rotation shows as a file whose creation time changed.
    let t = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    (0, t)
}

enum Source {
    File {
        path: PathBuf,
        /// The file being read (`None` while the path names none).
        file: Option<File>,
        /// Its identity.
        id: (u64, u64),
        /// Bytes of it read.
        pos: u64,
        /// The path was found missing (reported once).
        gone: bool,
        /// Looks in a row that found the path missing.
        missing: u8,
    },
    Stdin {
        chunks: Receiver<io::Result<Vec<u8>>>,
        closed: bool,
    },
}

/// A log being followed.
pub struct Follower {
    name: String,
    source: Source,
    parser: Parser,
    /// Bytes read after the last complete line.
    carry: Vec<u8>,
    /// Dropping an over-long line until its end.
    discarding: bool,
    /// A read error of standard input met while waiting, for the next look to report.
    failed: Option<io::Error>,
    /// JSON keys in order of first appearance, and the column name each was given.
    json_keys: Vec<String>,
    json_names: std::collections::HashMap<String, String>,
}

impl Follower {
    /// Starts following `path` (`-`: standard input) from its start. A path that names no
    /// file is refused (once started, a file that goes away is waited for).
    pub fn open(path: &Path, limits: &Limits) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let source = if path == Path::new("-") {
            let (tx, rx) = mpsc::sync_channel(64);
            std::thread::Builder::new()
                .name("zsift-stdin".into())
                .spawn(move || {
                    let mut stdin = io::stdin().lock();
                    loop {
                        let mut buf = vec![0u8; 64 << 10];
                        match stdin.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                buf.truncate(n);
                                if tx.send(Ok(buf)).is_err() {
                                    break;
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                break;
                            }
                        }
                    }
                })
                .map_err(|source| IngestError::Io {
                    file: name.clone(),
                    source,
                })?;
            Source::Stdin {
                chunks: rx,
                closed: false,
            }
        } else {
            let file = File::open(path).map_err(|source| IngestError::Io {
                file: name.clone(),
                source,
            })?;
            let meta = file.metadata().map_err(|source| IngestError::Io {
                file: name.clone(),
                source,
            })?;
            if meta.is_dir() {
                return Err(super::not_zeek(&name, "a directory"));
            }
            Source::File {
                path: path.to_path_buf(),
                id: identity(&meta),
                file: Some(file),
                pos: 0,
                gone: false,
                missing: 0,
            }
        };
        Ok(Self {
            parser: Parser::new(&name, limits),
            name,
            source,
            carry: Vec::new(),
            discarding: false,
            failed: None,
            json_keys: Vec::new(),
            json_names: std::collections::HashMap::new(),
        })
    }

    /// The input as named by the user.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format, once the first line has told it.
    pub fn format(&self) -> Option<Format> {
        self.parser.format
    }

    /// Waits up to `timeout` for standard input to bring something (a file is looked at
    /// again after the wait, whatever happens meanwhile).
    pub fn wait(&mut self, timeout: Duration) {
        match &mut self.source {
            Source::Stdin { chunks, closed } if !*closed => match chunks.recv_timeout(timeout) {
                Ok(Ok(chunk)) => self.carry.extend_from_slice(&chunk),
                Ok(Err(e)) => self.failed = Some(e),
                // The end is reported by the next look.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            },
            _ => std::thread::sleep(timeout),
        }
    }

    /// Reads what was appended since the last look and parses its complete lines.
    pub fn poll(&mut self) -> Result<Batch, IngestError> {
        let mut batch = Batch::default();
        let io_err = |name: &str, source| IngestError::Io {
            file: name.to_string(),
            source,
        };
        if let Some(e) = self.failed.take() {
            return Err(io_err(&self.name, e));
        }
        let mut at_end = false;
        let mut new_file = false;
        match &mut self.source {
            Source::Stdin { chunks, closed } => {
                while self.carry.len() < READ_MOST && !*closed {
                    match chunks.try_recv() {
                        Ok(Ok(chunk)) => self.carry.extend_from_slice(&chunk),
                        Ok(Err(e)) => return Err(io_err(&self.name, e)),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            *closed = true;
                            at_end = true;
                            batch.events.push(Event::Closed);
                        }
                    }
                }
                batch.more = self.carry.len() >= READ_MOST;
            }
            Source::File {
                path,
                file,
                id,
                pos,
                gone,
                missing,
            } => {
                // What the path names now, before reading: a file renamed away after
                // this look is read to its end on the next one.
                let switch = match std::fs::metadata(&*path) {
                    Ok(m) if file.is_some() && identity(&m) == *id => {
                        *missing = 0;
                        if *gone {
                            *gone = false;
                            batch.events.push(Event::Back);
                        }
                        false
                    }
                    // Another file under the path (a rotation), or one back after a
                    // removal.
                    Ok(_) => true,
                    // Missing on two looks in a row: a rotation renames the file and
                    // creates the next one at once, a removal leaves nothing.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        *missing = missing.saturating_add(1);
                        if *missing == 2 && !*gone {
                            *gone = true;
                            batch.events.push(Event::Gone);
                        }
                        false
                    }
                    // Cannot tell (permissions changed): go on with the file open.
                    Err(_) => false,
                };
                let had = file.is_some();
                if let Some(f) = file.as_mut() {
                    if !switch {
                        let len = f.metadata().map_err(|e| io_err(&self.name, e))?.len();
                        if len < *pos {
                            f.seek(SeekFrom::Start(0))
                                .map_err(|e| io_err(&self.name, e))?;
                            *pos = 0;
                            self.carry.clear();
                            self.discarding = false;
                            self.parser.line = 0;
                            batch.events.push(Event::Truncated);
                        }
                    }
                    // The open file, a slice at a time (after a rotation the old one is
                    // drained this way before the new one is opened).
                    let want = READ_MOST.saturating_sub(self.carry.len()).max(1 << 16);
                    let got = f
                        .by_ref()
                        .take(want as u64)
                        .read_to_end(&mut self.carry)
                        .map_err(|e| io_err(&self.name, e))?;
                    *pos += got as u64;
                    batch.more = got == want;
                    // The old file read to its end: its last line is complete.
                    at_end = switch && !batch.more;
                }
                if switch && (at_end || !had) {
                    match File::open(&*path) {
                        Ok(f) => {
                            let meta = f.metadata().map_err(|e| io_err(&self.name, e))?;
                            *id = identity(&meta);
                            *file = Some(f);
                            *pos = 0;
                            batch.events.push(if had && !*gone {
                                Event::Rotated
                            } else {
                                Event::Back
                            });
                            *gone = false;
                            *missing = 0;
                            new_file = true;
                            batch.more = true;
                        }
                        // Gone again between the look and the open: next time.
                        Err(_) => *file = None,
                    }
                }
            }
        }
        if self.parser.format.is_none() && self.carry.starts_with(&[0x1f, 0x8b]) {
            return Err(super::not_zeek(
                &self.name,
                "gzipped: a compressed log cannot be followed as it grows (read it whole \
                 without --follow)",
            ));
        }
        self.parse_lines(at_end, &mut batch)?;
        if new_file {
            // The new file's lines are numbered from its start.
            self.parser.line = 0;
        }
        Ok(batch)
    }

    /// Names a batch's JSON columns as the batch reader names a file's (an alias takes
    /// its Zeek name unless the log also has that field), keeping the names given to
    /// keys in earlier batches: a key is named once for the whole log.
    fn name_json_columns(&mut self, parts: &mut [super::Part]) {
        let before = self.json_keys.len();
        for p in parts.iter() {
            for c in &p.columns {
                let k = c.name().as_str();
                if !self.json_names.contains_key(k)
                    && !self.json_keys[before..].iter().any(|x| x == k)
                {
                    self.json_keys.push(k.to_string());
                }
            }
        }
        if self.json_keys.len() > before {
            let keys: Vec<&str> = self.json_keys.iter().map(String::as_str).collect();
            let names = super::json_column_names(&keys);
            for (k, n) in self.json_keys[before..].iter().zip(&names[before..]) {
                // A name an earlier key took (a field arriving after its alias took its
                // name) goes to the next free one.
                let taken = |n: &str| self.json_names.values().any(|v| v == n);
                let name = if !taken(n) {
                    n.clone()
                } else {
                    (2..)
                        .map(|i| format!("{n}_{i}"))
                        .find(|c| !taken(c))
                        .unwrap_or_default()
                };
                self.json_names.insert(k.clone(), name);
            }
        }
        for p in parts.iter_mut() {
            for c in &mut p.columns {
                if let Some(n) = self.json_names.get(c.name().as_str()) {
                    c.rename(n.as_str().into());
                }
            }
        }
    }

    /// Parses the complete lines held (every line when `at_end`: the input ended, so a
    /// last line without a newline is whole) into the batch.
    fn parse_lines(&mut self, at_end: bool, batch: &mut Batch) -> Result<(), IngestError> {
        let complete = match memchr::memrchr(b'\n', &self.carry) {
            _ if at_end => self.carry.len(),
            Some(i) => i + 1,
            None => {
                // A line longer than any log's: skipped (and counted) when it ends.
                if self.carry.len() > MAX_LINE {
                    self.carry.clear();
                    self.discarding = true;
                }
                return Ok(());
            }
        };
        let mut block: Vec<u8> = self.carry.drain(..complete).collect();
        if at_end && block.last().is_some_and(|&b| b != b'\n') {
            block.push(b'\n');
        }
        if self.discarding {
            // The rest of the over-long line.
            let end = memchr::memchr(b'\n', &block).map_or(block.len(), |i| i + 1);
            block.drain(..end);
            self.parser.line += 1;
            let line = self.parser.line;
            self.parser.skipped.add(
                &self.name,
                line,
                format!("line longer than {MAX_LINE} bytes"),
            );
            self.discarding = false;
        }
        if self.parser.format.is_none() && block.iter().all(|b| b.is_ascii_whitespace()) {
            // Blank lines before the first record tell no format yet.
            self.parser.line += memchr::memchr_iter(b'\n', &block).count() as u64;
            return Ok(());
        }
        if !block.is_empty() {
            self.parser.block(&block)?;
        }
        batch.skipped = std::mem::take(&mut self.parser.skipped);
        let mut parts = std::mem::take(&mut self.parser.parts);
        let rows: usize = parts.iter().map(|p| p.rows).sum();
        if rows == 0 {
            return Ok(());
        }
        let format = self.parser.format.unwrap_or(Format::Tsv);
        if format == Format::Json {
            self.name_json_columns(&mut parts);
        }
        let load = FileLoad {
            info: FileInfo {
                name: self.name.clone(),
                format,
                gzip: false,
                paths: self.parser.header.paths.clone(),
                rows,
            },
            parts,
            skipped: Skipped::default(),
        };
        batch.log = Some(assemble(vec![load], &self.parser.limits)?);
        Ok(())
    }
}
