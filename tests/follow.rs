//! Following a growing log: a writer thread appends real rows at a steady rate, with a
//! rotation, a truncation, a partial line split across writes, a header change and a
//! removal; the follower must see every row exactly once.

mod common;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zsift::ingest::follow::{Event, Follower};
use zsift::ingest::Limits;

/// A real log's header lines and data lines.
fn split(rel: &str) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(common::data(rel)).unwrap();
    let (header, rows): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| !l.starts_with("#close"))
        .partition(|l| l.starts_with('#'));
    (
        header.into_iter().map(String::from).collect(),
        rows.into_iter().map(String::from).collect(),
    )
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.flush().unwrap();
}

/// Appends `rows` in runs of `run` lines, a pause between runs.
fn append_rows(path: &Path, rows: &[String], run: usize) {
    for chunk in rows.chunks(run) {
        let mut text = chunk.join("\n");
        text.push('\n');
        append(path, &text);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What the follower saw: uids in order, events, skipped lines.
#[derive(Default)]
struct Seen {
    uids: Vec<String>,
    events: Vec<Event>,
    skipped: u64,
    /// The skipped lines' numbers.
    skipped_lines: Vec<u64>,
    /// Each row's `label`, if the batch has the column and the row a value.
    labels: Vec<Option<String>>,
}

impl Seen {
    /// Looks once and records what the look found.
    fn look(&mut self, f: &mut Follower) {
        let b = f.poll().unwrap();
        self.events.extend(b.events);
        self.skipped += b.skipped.count;
        self.skipped_lines
            .extend(b.skipped.first.iter().map(|l| l.line));
        if let Some(log) = b.log {
            let label = zsift::filter::string_values(&log.frame, "label");
            self.labels
                .extend(label.into_iter().map(|l| l.map(String::from)));
            let uid = zsift::filter::string_values(&log.frame, "uid");
            self.uids
                .extend(uid.into_iter().map(|u| u.unwrap_or("-").to_string()));
        }
    }

    /// Looks until `n` rows were seen (or 20 s passed).
    fn until(&mut self, f: &mut Follower, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.uids.len() < n {
            assert!(Instant::now() < deadline, "{} of {n} rows", self.uids.len());
            self.look(f);
            f.wait(Duration::from_millis(5));
        }
    }
}

/// A temporary conn.log holding `rel`'s header and its first `n` rows, followed and
/// read: the directory, the path, the header and rows of `rel`, the follower and what it
/// saw.
fn following(
    rel: &str,
    n: usize,
) -> (
    tempfile::TempDir,
    PathBuf,
    Vec<String>,
    Vec<String>,
    Follower,
    Seen,
) {
    let (header, rows) = split(rel);
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    append(&path, &(header.join("\n") + "\n"));
    append_rows(&path, &rows[..n], n);
    let mut f = Follower::open(&path, &Limits::default()).unwrap();
    let mut seen = Seen::default();
    seen.until(&mut f, n);
    (dir, path, header, rows, f, seen)
}

fn once_each(uids: &[String], expected: &[String]) {
    assert_eq!(uids.len(), expected.len(), "rows seen");
    let seen: HashSet<&String> = uids.iter().collect();
    assert_eq!(seen.len(), uids.len(), "a row seen twice");
    assert_eq!(uids, expected, "rows in the order written");
}

fn uid_of(line: &str) -> String {
    line.split('\t').nth(1).unwrap().to_string()
}

fn temp_log(dir: &Path) -> PathBuf {
    dir.join("conn.log")
}

/// TSV: appends in runs and a line split across two writes, then a rotation (renamed, a
/// new file with its header), a truncation (copytruncate), a header block with other
/// fields, and a last line finished after a pause; every row exactly once, in order.
#[test]
fn follows_a_growing_tsv_log_through_rotation_truncation_and_header_changes() {
    let (header, rows) = split("stratosphere/010-mixed.conn.log.labeled");
    let rows = &rows[..3000];
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    append(&path, &(header.join("\n") + "\n"));
    let mut f = Follower::open(&path, &Limits::default()).unwrap();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let writer = {
        let (path, header, rows) = (path.clone(), header.clone(), rows.to_vec());
        std::thread::spawn(move || {
            // 1. Runs of rows, and one line in two writes with a pause between.
            append_rows(&path, &rows[..600], 50);
            let (a, b) = rows[600].split_at(rows[600].len() / 2);
            append(&path, a);
            std::thread::sleep(Duration::from_millis(50));
            append(&path, &format!("{b}\n"));
            append_rows(&path, &rows[601..1000], 40);
            // 2. Rotation as Zeek does it: renamed, a new file with its own header.
            go_rx.recv().unwrap();
            std::fs::rename(&path, path.with_file_name("conn.2022-06-17-00-00-07.log")).unwrap();
            append(&path, &(header.join("\n") + "\n"));
            append_rows(&path, &rows[1000..2000], 100);
            // 3. copytruncate: once everything was read, the file is emptied in place and
            //    the writer goes on (without a header).
            go_rx.recv().unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap();
            // A truncation shows while the file is shorter than what was read: the
            // follower looks before the writer outgrows the old length (as with tail -F).
            go_rx.recv().unwrap();
            append_rows(&path, &rows[2000..2500], 100);
            // 4. A header block with other fields: the last four columns left out.
            let fields = header.iter().find(|h| h.starts_with("#fields")).unwrap();
            let types = header.iter().find(|h| h.starts_with("#types")).unwrap();
            let keep = fields.split('\t').count() - 1 - 4;
            let cut = |l: &str| l.split('\t').take(1 + keep).collect::<Vec<_>>().join("\t");
            append(&path, &format!("{}\n{}\n", cut(fields), cut(types)));
            let short: Vec<String> = rows[2500..2999]
                .iter()
                .map(|r| r.split('\t').take(keep).collect::<Vec<_>>().join("\t"))
                .collect();
            append_rows(&path, &short, 100);
            // 5. The last line, its end after a pause.
            let last: String = rows[2999]
                .split('\t')
                .take(keep)
                .collect::<Vec<_>>()
                .join("\t");
            append(&path, &last);
            ack_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            append(&path, "\n");
        })
    };
    let mut seen = Seen::default();
    seen.until(&mut f, 1000);
    go_tx.send(()).unwrap();
    seen.until(&mut f, 2000);
    assert!(seen.events.contains(&Event::Rotated), "{:?}", seen.events);
    go_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.events.contains(&Event::Truncated) {
        assert!(Instant::now() < deadline, "{:?}", seen.events);
        seen.look(&mut f);
        f.wait(Duration::from_millis(5));
    }
    go_tx.send(()).unwrap();
    // Every row but the last, whose end has not been written: it is not a row yet.
    ack_rx.recv().unwrap();
    seen.until(&mut f, 2999);
    for _ in 0..5 {
        seen.look(&mut f);
        f.wait(Duration::from_millis(5));
    }
    assert_eq!(seen.uids.len(), 2999);
    go_tx.send(()).unwrap();
    seen.until(&mut f, 3000);
    writer.join().unwrap();
    for _ in 0..5 {
        seen.look(&mut f);
    }
    let expected: Vec<String> = rows.iter().map(|r| uid_of(r)).collect();
    once_each(&seen.uids, &expected);
    assert!(seen.events.contains(&Event::Truncated), "{:?}", seen.events);
    assert_eq!(seen.skipped, 0);
    // Rows under the second header have no label column: unset there, set before.
    assert!(seen.labels[..2500].iter().all(Option::is_some));
    assert!(seen.labels[2500..].iter().all(Option::is_none));
}

/// JSON lines: appended in pieces (a record split across writes), then a rotation to a
/// new file; a malformed line is skipped and counted.
#[test]
fn follows_a_growing_json_log() {
    let (_, rows) = split("stratosphere/002-portscan.conn.json.log");
    let rows = &rows[..2000];
    let uid = |l: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["uid"].as_str().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    append(&path, "");
    let mut f = Follower::open(&path, &Limits::default()).unwrap();
    let mut seen = Seen::default();
    seen.look(&mut f);
    assert!(seen.uids.is_empty());
    append_rows(&path, &rows[..700], 70);
    let (a, b) = rows[700].split_at(20);
    append(&path, a);
    seen.look(&mut f);
    append(&path, &format!("{b}\n{{\"ts\": broken\n"));
    append_rows(&path, &rows[701..1000], 99);
    seen.until(&mut f, 1000);
    std::fs::rename(&path, dir.path().join("conn.old.log")).unwrap();
    append_rows(&path, &rows[1000..], 250);
    seen.until(&mut f, 2000);
    let expected: Vec<String> = rows.iter().map(|r| uid(r)).collect();
    once_each(&seen.uids, &expected);
    assert_eq!(seen.skipped, 1);
    assert!(seen.events.contains(&Event::Rotated), "{:?}", seen.events);
}

/// A removed file: reported once, the rows kept; when the path names a file again it is
/// read from its start.
#[test]
fn a_removed_log_is_waited_for() {
    let (_dir, path, header, rows, mut f, mut seen) =
        following("stratosphere/008-mixed.conn.log.labeled", 100);
    std::fs::remove_file(&path).unwrap();
    for _ in 0..3 {
        seen.look(&mut f);
    }
    assert_eq!(seen.events, vec![Event::Gone]);
    append(&path, &(header.join("\n") + "\n"));
    append_rows(&path, &rows[100..200], 100);
    seen.until(&mut f, 200);
    assert_eq!(seen.events, vec![Event::Gone, Event::Back]);
    let expected: Vec<String> = rows[..200].iter().map(|r| uid_of(r)).collect();
    once_each(&seen.uids, &expected);
}

/// What cannot be followed is refused with the file's name: a gzipped log, a path that
/// names nothing, a directory.
#[test]
fn what_cannot_be_followed_is_refused() {
    let gz = common::data("zed/dns.log.gz");
    let mut f = Follower::open(&gz, &Limits::default()).unwrap();
    let e = f.poll().unwrap_err().to_string();
    assert!(e.contains("dns.log.gz") && e.contains("gzipped"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.log");
    let e = Follower::open(&missing, &Limits::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nope.log"), "{e}");
    let e = Follower::open(dir.path(), &Limits::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("directory"), "{e}");
}

/// The demo log without its port scan (written to `path`), and the scan's rows.
fn demo_without_scan(path: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/conn.log"),
    )
    .unwrap();
    let header: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#close"))
        .collect();
    let (scan, rest): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .partition(|l| l.split('\t').nth(2) == Some("10.0.1.66"));
    let mut body = header.join("\n");
    body.push('\n');
    append(path, &body);
    (
        rest.into_iter().map(String::from).collect(),
        scan.into_iter().map(String::from).collect(),
    )
}

/// Reads lines from `r` on a thread, for reading with a deadline.
fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// `zsift` run with `args` and then `log`, its standard output and error read line by
/// line.
#[cfg(unix)]
fn follow_cli(
    args: &[&str],
    log: &Path,
) -> (
    std::process::Child,
    mpsc::Receiver<String>,
    mpsc::Receiver<String>,
) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_zsift"))
        .args(args)
        .arg(log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    (child, out, err)
}

fn wait_for_line(rx: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(what) => return l,
            Ok(_) => {}
            Err(e) => panic!("no line with {what:?}: {e}"),
        }
    }
}

/// `zsift score --follow LOG --format jsonl`: the model is fitted on the rows there; a
/// port scan appended afterwards comes out, a JSON object per line, each probe flagged
/// for its host with the reason, within seconds; SIGINT ends it with status 0 and a
/// summary.
#[cfg(unix)]
#[test]
fn score_follow_prints_new_flagged_rows_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    let (rest, scan) = demo_without_scan(&path);
    append_rows(&path, &rest, 1000);
    let (mut child, out, err) = follow_cli(
        &["score", "--follow", "--format", "jsonl", "--warmup", "500"],
        &path,
    );
    let fitted = wait_for_line(&err, "model fitted");
    assert!(
        fitted.contains(&format!("on {} rows", rest.len())),
        "{fitted}"
    );
    let t = Instant::now();
    // One write: the scan's first probes alone would not be flagged yet (the scan has to
    // grow first), and looks fall anywhere between writes.
    append_rows(&path, &scan, scan.len());
    let scan_uids: HashSet<String> = scan.iter().map(|r| uid_of(r)).collect();
    let mut seen = HashSet::new();
    while seen.len() < scan.len() {
        let line = out
            .recv_timeout(Duration::from_secs(30))
            .expect("every probe printed");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["flagged"], true, "{line}");
        let uid = v["uid"].as_str().unwrap().to_string();
        assert!(scan_uids.contains(&uid), "only the scan is new: {line}");
        assert!(seen.insert(uid), "printed twice: {line}");
        assert_eq!(v["id.orig_h"], "10.0.1.66");
        assert!(v["id.resp_p"].is_i64(), "{line}");
    }
    // Well within the test's patience; the bench measures the latency itself.
    assert!(t.elapsed() < Duration::from_secs(20));
    // SIGINT: a clean end, the summary on standard error.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let summary = wait_for_line(&err, "followed");
    assert!(
        summary.contains(&format!("{} rows read", rest.len() + scan.len()))
            && summary.contains(&format!("{} scored", scan.len()))
            && summary.contains(&format!("{} flagged", scan.len())),
        "{summary}"
    );
    assert!(child.wait().unwrap().success());
}

/// `tail -F conn.log | zsift score --follow -`: standard input followed to its end; a
/// last line without a newline counts; the end of input ends zsift with status 0.
#[cfg(unix)]
#[test]
fn score_follow_reads_standard_input_to_its_end() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    let (rest, scan) = demo_without_scan(&path);
    let header = std::fs::read_to_string(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zsift"))
        .args(["score", "-f", "-", "--format", "jsonl", "--warmup", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let err = lines_of(child.stderr.take().unwrap());
    let out = lines_of(child.stdout.take().unwrap());
    stdin.write_all(header.as_bytes()).unwrap();
    stdin
        .write_all((rest.join("\n") + "\n").as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    wait_for_line(&err, "model fitted");
    // The scan, its last line without a newline, then the end of input.
    stdin.write_all(scan.join("\n").as_bytes()).unwrap();
    drop(stdin);
    let summary = wait_for_line(&err, "followed");
    assert!(child.wait().unwrap().success(), "{summary}");
    // Every line, until the reader meets the end of zsift's output.
    let printed: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let flagged_scan: HashSet<&str> = printed
        .iter()
        .filter(|v| v["id.orig_h"] == "10.0.1.66")
        .map(|v| v["uid"].as_str().unwrap())
        .collect();
    assert_eq!(flagged_scan.len(), scan.len(), "{summary}");
    assert!(
        summary.contains(&format!("{} rows read", rest.len() + scan.len())),
        "{summary}"
    );
}

/// What --follow cannot do is refused before anything is read.
#[test]
fn score_follow_refuses_what_it_cannot_do() {
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_zsift"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/conn.log");
    let demo = demo.to_str().unwrap();
    let (code, e) = run(&["score", "--follow", "--format", "json", demo]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("jsonl"), "{e}");
    let (code, e) = run(&["score", "--follow", demo, demo]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("one log"), "{e}");
    let (code, e) = run(&["score", "--follow", "--window", "3w", demo]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("--window"), "{e}");
    let (code, e) = run(&["score", "--warmup", "10", demo]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("--follow"), "{e}");
}

/// `--refit 1s`: a new model is fitted on the window in the background and takes over,
/// and the rows after it are scored by it: the scan that comes next is still caught.
#[cfg(unix)]
#[test]
fn score_follow_refits_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    let (rest, scan) = demo_without_scan(&path);
    append_rows(&path, &rest[..2000], 1000);
    let (mut child, out, err) = follow_cli(
        &[
            "score", "-f", "--format", "jsonl", "--warmup", "500", "--refit", "1s",
        ],
        &path,
    );
    wait_for_line(&err, "model fitted on 2000 rows");
    append_rows(&path, &rest[2000..], 200);
    let refitted = wait_for_line(&err, "model refitted");
    // Fitted on every row written before it began, and those since.
    assert!(
        refitted.contains(&format!("({} rows)", rest.len())),
        "{refitted}"
    );
    append_rows(&path, &scan, scan.len());
    let mut probes = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while probes.len() < scan.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = out.recv_timeout(left).expect("every probe printed");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["id.orig_h"] == "10.0.1.66" {
            probes.insert(v["uid"].as_str().unwrap().to_string());
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let summary = wait_for_line(&err, "followed");
    assert!(!summary.contains(" 0 refits"), "{summary}");
    assert!(child.wait().unwrap().success());
}

/// Hostile growth: a line longer than any log's (written in pieces) is skipped and
/// counted without being held whole, a line of binary garbage is skipped as malformed,
/// and the rows around them are read; a header block past the column limit is refused
/// with the file's name and the option that raises the limit.
#[test]
fn hostile_growth_is_skipped_or_refused() {
    let (_dir, path, _header, rows, mut f, mut seen) =
        following("stratosphere/008-mixed.conn.log.labeled", 100);
    // 17 MiB without a newline, in 1 MiB writes, looked at between them.
    let piece = "x".repeat(1 << 20);
    for _ in 0..17 {
        append(&path, &piece);
        seen.look(&mut f);
    }
    append(&path, "\n");
    append(&path, "\u{0}\u{1}\u{2}garbage\u{7f}\tmore\n");
    append_rows(&path, &rows[100..200], 50);
    seen.until(&mut f, 200);
    assert_eq!(seen.skipped, 2);
    let expected: Vec<String> = rows[..200].iter().map(|r| uid_of(r)).collect();
    once_each(&seen.uids, &expected);
    // A header of 300 fields: past the default limit of 256.
    let names: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
    append(&path, &format!("#fields\t{}\n", names.join("\t")));
    append(&path, &format!("{}\n", vec!["1"; 300].join("\t")));
    let deadline = Instant::now() + Duration::from_secs(20);
    let e = loop {
        assert!(Instant::now() < deadline);
        match f.poll() {
            Err(e) => break e.to_string(),
            Ok(_) => f.wait(Duration::from_millis(5)),
        }
    };
    assert!(e.contains("conn.log") && e.contains("--max-columns"), "{e}");
}

/// A rotation while rows of the old file are still unread: the old file is read to its
/// end first (its last line, without a newline, complete), then the new one; every row
/// once, in order, and the new file's malformed line is numbered from its own start.
#[test]
fn a_rotation_with_unread_rows_reads_the_old_file_first() {
    let (dir, path, header, rows, mut f, mut seen) =
        following("stratosphere/008-mixed.conn.log.labeled", 100);
    // Appended, its last line unfinished, renamed, and a new file: no look in between.
    append_rows(&path, &rows[100..999], 899);
    append(&path, &rows[999]);
    std::fs::rename(&path, dir.path().join("conn.1.log")).unwrap();
    append(&path, &(header.join("\n") + "\n"));
    append(&path, "not a row\n");
    append_rows(&path, &rows[1000..1100], 100);
    seen.until(&mut f, 1100);
    let expected: Vec<String> = rows[..1100].iter().map(|r| uid_of(r)).collect();
    once_each(&seen.uids, &expected);
    assert_eq!(seen.events, vec![Event::Rotated]);
    assert_eq!(seen.skipped_lines, vec![header.len() as u64 + 1]);
}

/// `zsift score --follow --all` through a rotation and a truncation: every row written
/// after the fit printed exactly once.
#[cfg(unix)]
#[test]
fn score_follow_prints_every_row_once_through_rotation_and_truncation() {
    let (header, rows) = split("stratosphere/010-mixed.conn.log.labeled");
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    append(&path, &(header.join("\n") + "\n"));
    append_rows(&path, &rows[..2000], 1000);
    let (mut child, out, err) = follow_cli(
        &[
            "score", "-f", "--all", "--format", "jsonl", "--warmup", "1000",
        ],
        &path,
    );
    wait_for_line(&err, "model fitted on 2000 rows");
    let mut printed: Vec<String> = Vec::new();
    let read_until = |n: usize, printed: &mut Vec<String>| {
        while printed.len() < n {
            let l = out
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("{} of {n} rows printed", printed.len()));
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            printed.push(v["uid"].as_str().unwrap().to_string());
        }
    };
    append_rows(&path, &rows[2000..2500], 100);
    // Rotation: renamed with rows not yet read, a new file with its header.
    append_rows(&path, &rows[2500..2600], 100);
    std::fs::rename(&path, dir.path().join("conn.1.log")).unwrap();
    append(&path, &(header.join("\n") + "\n"));
    append_rows(&path, &rows[2600..3000], 100);
    read_until(1000, &mut printed);
    // copytruncate: emptied in place once read, then written on, less than before (so
    // the file stays shorter than what was read, however late the next look).
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append_rows(&path, &rows[3000..3300], 100);
    read_until(1300, &mut printed);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let summary = wait_for_line(&err, "followed");
    assert!(child.wait().unwrap().success());
    let expected: Vec<String> = rows[2000..3300].iter().map(|r| uid_of(r)).collect();
    once_each(&printed, &expected);
    assert!(
        summary.contains("1 rotations") && summary.contains("1 truncations"),
        "{summary}"
    );
}

/// A first fit that cannot be made (the filter keeps no row) waits for more rows
/// instead of ending, and the summary says why nothing was scored.
#[cfg(unix)]
#[test]
fn score_follow_waits_when_the_first_fit_cannot_be_made() {
    let (_dir, path, _header, _rows, _f, _seen) =
        following("stratosphere/008-mixed.conn.log.labeled", 500);
    let (mut child, _out, err) = follow_cli(
        &[
            "score",
            "-f",
            "--warmup",
            "100",
            "--service",
            "no-such-service",
        ],
        &path,
    );
    let line = wait_for_line(&err, "cannot fit the model");
    assert!(line.contains("waiting for 1000"), "{line}");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let summary = wait_for_line(&err, "followed");
    assert!(summary.contains("could not be fitted"), "{summary}");
    assert!(child.wait().unwrap().success());
}

/// JSON keys are named once for the whole followed log: an alias alone in the first
/// batch takes its Zeek name (`protocol` → `proto`) and keeps it when a later batch
/// brings the field itself too (which then takes the next free name).
#[test]
fn json_names_hold_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_log(dir.path());
    append(
        &path,
        "{\"ts\":1600000000.1,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"protocol\":\"tcp\"}\n",
    );
    let mut f = Follower::open(&path, &Limits::default()).unwrap();
    let first = f.poll().unwrap().log.unwrap();
    assert!(first.frame.column("proto").is_ok());
    append(
        &path,
        "{\"ts\":1600000001.1,\"uid\":\"C2\",\"id.orig_h\":\"10.0.0.2\",\"protocol\":\"udp\",\"proto\":\"udp\"}\n",
    );
    let second = f.poll().unwrap().log.unwrap();
    let names: Vec<String> = second
        .frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(names.contains(&"proto".to_string()), "{names:?}");
    assert!(!names.contains(&"protocol".to_string()), "{names:?}");
    assert!(names.contains(&"proto_2".to_string()), "{names:?}");
}
