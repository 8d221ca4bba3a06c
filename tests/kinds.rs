//! Logs beyond conn.log: a sensor's directory and logs of several kinds loaded at once,
//! dns, http and ssl features on real logs, the DNS behaviours (tunnels, DGA) on
//! synthetic series with known answers, records joined by uid, `--kind` headless and
//! `L` in the UI.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use polars::prelude::*;
use serde_json::Value;
use zsift::cancel::Cancel;
use zsift::hosts::behaviour::Behaviour;
use zsift::hosts::context::Context;
use zsift::hosts::{Behaviours, Unit};
use zsift::ingest::{self, Input};
use zsift::pipeline::{analyze, Model};

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

/// A sensor's directory: zat's conn and dns logs (their uids match), zed's ssl log, a
/// weird log and the sensor's own stderr.
fn sensor_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        std::fs::copy(common::data(from), dir.path().join(to)).unwrap();
    };
    copy("zat/conn.log", "conn.log");
    copy("zat/dns.log", "dns.09:00:00-10:00:00.log");
    copy("zed/ssl.log.gz", "ssl.log.gz");
    copy("zed/weird.log.gz", "weird.log.gz");
    std::fs::write(dir.path().join("stderr.log"), "listening on eth0\n").unwrap();
    dir
}

fn input(paths: Vec<PathBuf>, kind: Option<&str>) -> Input {
    let mut i = Input::files(paths);
    i.kind = kind.map(str::to_string);
    i
}

#[test]
fn a_directory_loads_each_kind_in_its_own_table() {
    let dir = sensor_dir();
    let all = input(vec![dir.path().to_path_buf()], None)
        .load_all()
        .unwrap();
    assert_eq!(all.names(), ["conn", "dns", "ssl"]);
    assert_eq!(all.default_kind(), "conn");
    let rows = |k: &str| all.get(k).unwrap().rows();
    // Rows as each file alone gives them.
    for (k, f) in [
        ("conn", "zat/conn.log"),
        ("dns", "zat/dns.log"),
        ("ssl", "zed/ssl.log.gz"),
    ] {
        assert_eq!(
            rows(k),
            ingest::load(&[common::data(f)]).unwrap().rows(),
            "{k}"
        );
    }
    let left: Vec<&str> = all.left_out.iter().map(|(f, _)| f.as_str()).collect();
    assert!(left.iter().any(|f| f.ends_with("weird.log.gz")), "{left:?}");
    assert!(left.iter().any(|f| f.ends_with("stderr.log")), "{left:?}");

    // A kind chosen: the directory's other logs are not read.
    let dns = input(vec![dir.path().to_path_buf()], Some("dns"))
        .load()
        .unwrap();
    assert!(dns.frame.column("query").is_ok());
    // Another Zeek path asked for by name is taken from the directory too.
    let weird = input(vec![dir.path().to_path_buf()], Some("weird"))
        .load()
        .unwrap();
    assert_eq!(
        weird.rows(),
        ingest::load(&[common::data("zed/weird.log.gz")])
            .unwrap()
            .rows()
    );
    // A kind not loaded: an error that names what was.
    let e = input(vec![dir.path().to_path_buf()], Some("http"))
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("no http log") && e.contains("conn"), "{e}");
}

#[test]
fn files_of_several_kinds_split_by_their_path_or_fields() {
    // Named one by one, in any order; the JSON dns log names its kind by `_path`.
    let all = input(
        vec![
            common::data("zed/dns.json.gz"),
            common::data("stratosphere/005-malicious.conn.log"),
            common::data("zed/dns.log.gz"),
        ],
        None,
    )
    .load_all()
    .unwrap();
    assert_eq!(all.names(), ["conn", "dns"]);
    let dns = all.get("dns").unwrap();
    assert_eq!(dns.files.len(), 2);
    assert_eq!(dns.rows(), 2 * 53_615);
    // dns logs of two captures ten years apart: one table, the rows of each file in the
    // order given.
    let two = input(
        vec![common::data("zat/dns.log"), common::data("zed/dns.log.gz")],
        Some("dns"),
    )
    .load()
    .unwrap();
    let zat = ingest::load(&[common::data("zat/dns.log")]).unwrap().rows();
    assert_eq!(two.rows(), zat + 53_615);
    assert!(ingest::cell(&two.frame, "ts", 0).starts_with("2013"));
    assert!(ingest::cell(&two.frame, "ts", zat).starts_with("2018"));
    // A conn log alone has no dns log to analyse.
    let e = input(
        vec![common::data("stratosphere/005-malicious.conn.log")],
        Some("dns"),
    )
    .load()
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no dns log among the logs given (loaded: conn)"),
        "{e}"
    );
}

#[test]
fn a_connections_records_of_other_kinds_join_by_uid() {
    let dir = sensor_dir();
    let all = input(vec![dir.path().to_path_buf()], None)
        .load_all()
        .unwrap();
    let dns = all.get("dns").unwrap();
    let uid = ingest::cell(&dns.frame, "uid", 0);
    let joined = all.with_uid("dns", &uid);
    assert_eq!(joined.len(), 1, "one conn record per dns uid");
    let (kind, conn, rows) = &joined[0];
    assert_eq!((*kind, rows.len()), ("conn", 1));
    assert_eq!(ingest::cell(&conn.frame, "uid", rows[0]), uid);
    // And back: the conn record's dns records are those with its uid.
    let back = all.with_uid("conn", &uid);
    let (_, _, dns_rows) = back.iter().find(|(k, _, _)| *k == "dns").unwrap();
    let want = (0..dns.rows())
        .filter(|&r| ingest::cell(&dns.frame, "uid", r) == uid)
        .count();
    assert_eq!(dns_rows.len(), want);
    // zed's ssl log is of another capture: none of its uids is a zat connection.
    let ssl = all.get("ssl").unwrap();
    for r in (0..ssl.rows()).step_by(97) {
        let u = ingest::cell(&ssl.frame, "uid", r);
        assert!(all.with_uid("ssl", &u).is_empty(), "{u}");
    }
}

#[test]
fn dns_features_on_a_real_log() {
    let log = ingest::load(&[common::data("zed/dns.log.gz")]).unwrap();
    assert_default_features(
        &log,
        &[
            "query.entropy",
            "domain.rare",
            "domain.names",
            "client.nxdomain",
            "qtype_name",
            "rcode_name",
        ],
    );
    // Recomputed from the rows themselves: the longest name's length and its labels.
    let n = log.rows();
    let rows: Vec<u32> = (0..n as u32).collect();
    let ctx = Context::build(&log.frame, &rows);
    let len = ctx.column("query.len").unwrap();
    let labels = ctx.column("query.labels").unwrap();
    for r in (0..n).step_by(501) {
        let q = ingest::cell(&log.frame, "query", r);
        let q = if q == "-" { String::new() } else { q };
        let q = q.trim_end_matches('.');
        assert_eq!(len[r], q.len() as f64, "{q}");
        let want = if q.is_empty() {
            0
        } else {
            q.split('.').count()
        };
        assert_eq!(labels[r], want as f64, "{q}");
    }
    // The answers and the shortest TTL, from the lists as loaded.
    let (answers, ttl) = (
        ctx.column("answers.count").unwrap(),
        ctx.column("ttl.min").unwrap(),
    );
    for r in (0..n).step_by(307) {
        let a = ingest::cell(&log.frame, "answers", r);
        let want = if a == "-" || a.is_empty() {
            0
        } else {
            a.split(',').count()
        };
        assert_eq!(answers[r], want as f64, "{a}");
        let t = ingest::cell(&log.frame, "TTLs", r);
        let want = t
            .split(',')
            .filter_map(|v| v.parse::<f64>().ok())
            .reduce(f64::min)
            .unwrap_or(0.0);
        assert_eq!(ttl[r], want, "{t}");
    }
    assert!(ttl.iter().any(|&t| t > 0.0));
    // Shares of NXDOMAIN per client are shares.
    let nx = ctx.column("client.nxdomain").unwrap();
    assert!(nx.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(nx.iter().any(|&v| v > 0.0), "the log has NXDOMAIN answers");
}

#[test]
fn ssl_and_http_features_on_real_logs() {
    let ssl = ingest::load(&[common::data("zed/ssl.log.gz")]).unwrap();
    let rows: Vec<u32> = (0..ssl.rows() as u32).collect();
    let ctx = Context::build(&ssl.frame, &rows);
    let missing = ctx.column("sni.missing").unwrap();
    for r in (0..ssl.rows()).step_by(211) {
        let sni = ingest::cell(&ssl.frame, "server_name", r);
        assert_eq!(missing[r] == 1.0, sni == "-" || sni.is_empty(), "{sni}");
    }
    let invalid = ctx.column("cert.invalid").unwrap();
    assert!(invalid.iter().all(|&v| v == 0.0 || v == 1.0));
    assert_default_features(&ssl, &["sni.missing", "cert.invalid", "cipher", "version"]);

    // zat's http log: its gzip is cut short on purpose (zsift refuses it whole); the
    // lines before the cut are a real http log.
    let http = ingest::load_bytes("http.log", &readable_part("zat/http.log.corrupt.gz")).unwrap();
    assert!(http.rows() > 100, "{} rows", http.rows());
    let rows: Vec<u32> = (0..http.rows() as u32).collect();
    let ctx = Context::build(&http.frame, &rows);
    let (len, ip, ua) = (
        ctx.column("uri.len").unwrap(),
        ctx.column("host.ip").unwrap(),
        ctx.column("ua.rare").unwrap(),
    );
    let agents: Vec<String> = (0..http.rows())
        .map(|r| ingest::cell(&http.frame, "user_agent", r))
        .collect();
    for r in 0..http.rows() {
        let u = ingest::cell(&http.frame, "uri", r);
        assert_eq!(len[r], if u == "-" { 0.0 } else { u.len() as f64 }, "{u}");
        let host = ingest::cell(&http.frame, "host", r);
        assert_eq!(
            ip[r] == 1.0,
            host.parse::<std::net::IpAddr>().is_ok(),
            "{host}"
        );
        // −ln((count + 1) / (n + 2)).
        let count = agents.iter().filter(|a| **a == agents[r]).count();
        let want = -((count as f64 + 1.0) / (http.rows() as f64 + 2.0)).ln();
        assert!((ua[r] - want).abs() < 1e-12, "{}", agents[r]);
    }
    assert_default_features(
        &http,
        &[
            "uri.entropy",
            "ua.src_rare",
            "method",
            "status_code",
            "response_body_len",
        ],
    );
}

/// The text of a gzip file up to where it can no longer be read, whole lines only.
fn readable_part(rel: &str) -> Vec<u8> {
    use std::io::Read;
    let mut d = flate2::read::MultiGzDecoder::new(std::fs::File::open(common::data(rel)).unwrap());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = d.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let end = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    out.truncate(end);
    out
}

/// A dns log of queries: (client, name, rcode_name, ts).
fn dns_frame(rows: &[(String, String, &str, f64)]) -> DataFrame {
    df!(
        "ts" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        "uid" => (0..rows.len()).map(|i| format!("C{i}")).collect::<Vec<_>>(),
        "id.orig_h" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "id.orig_p" => vec![53_000i64; rows.len()],
        "id.resp_h" => vec!["10.0.0.53"; rows.len()],
        "id.resp_p" => vec![53i64; rows.len()],
        "proto" => vec!["udp"; rows.len()],
        "query" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        "qtype_name" => vec!["A"; rows.len()],
        "rcode_name" => rows.iter().map(|r| r.2).collect::<Vec<_>>()
    )
    .unwrap()
}

/// `n` names of `len` pseudo-random lower-case letters and digits (a fixed LCG).
fn random_labels(n: usize, len: usize, seed: u64) -> Vec<String> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    alphabet[((x >> 33) % alphabet.len() as u64) as usize] as char
                })
                .collect()
        })
        .collect()
}

fn behaviours_of(frame: &DataFrame) -> (Context, Behaviours) {
    let rows: Vec<u32> = (0..frame.height() as u32).collect();
    let ctx = Context::build(frame, &rows);
    let b = Behaviours::of(&ctx);
    (ctx, b)
}

fn src_score(ctx: &Context, b: &Behaviours, host: &str, k: Behaviour) -> f64 {
    let k = Behaviour::ALL.iter().position(|&x| x == k).unwrap();
    let g = (0..ctx.len())
        .find(|&i| ctx.addrs[ctx.src[i] as usize] == host)
        .map(|i| ctx.by_src.of[i] as usize)
        .unwrap();
    b.scores(Unit::Src)[g][k].value
}

#[test]
fn a_dns_tunnel_scores_as_its_distinct_long_names_grow() {
    let mut rows = Vec::new();
    // The tunnel: 400 names of 40 random characters under one domain, a query a second.
    for (i, l) in random_labels(400, 40, 7).into_iter().enumerate() {
        rows.push((
            "10.0.0.66".to_string(),
            format!("{l}.t.example.com"),
            "NOERROR",
            i as f64,
        ));
    }
    // Ordinary clients: a handful of names each, asked again and again.
    for c in 0..20 {
        for (j, n) in ["www.example.org", "mail.example.org", "cdn-3.example.net"]
            .iter()
            .enumerate()
        {
            for k in 0..5 {
                rows.push((
                    format!("10.0.1.{c}"),
                    n.to_string(),
                    "NOERROR",
                    (c * 100 + j * 10 + k) as f64,
                ));
            }
        }
    }
    let (ctx, b) = behaviours_of(&dns_frame(&rows));
    assert_eq!(src_score(&ctx, &b, "10.0.0.66", Behaviour::Tunnel), 1.0);
    assert_eq!(src_score(&ctx, &b, "10.0.1.3", Behaviour::Tunnel), 0.0);
    // Closed form below full: 40 names of 20 characters under one domain:
    // ln(40/10)/ln(200/10) · (20 − 10)/(30 − 10).
    let rows: Vec<_> = random_labels(40, 20, 9)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            (
                "10.0.0.7".to_string(),
                format!("{l}.example.com"),
                "NOERROR",
                i as f64,
            )
        })
        .collect();
    let (ctx, b) = behaviours_of(&dns_frame(&rows));
    let want = (4f64).ln() / (20f64).ln() * 0.5;
    let got = src_score(&ctx, &b, "10.0.0.7", Behaviour::Tunnel);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // The row features agree: every name distinct under its domain.
    assert_eq!(ctx.column("domain.names").unwrap()[0], 40.0);
}

#[test]
fn dga_querying_scores_and_a_mistyped_name_does_not() {
    let mut rows = Vec::new();
    // A bot: 80 random 16-character .com names, none existing, and a few that resolve.
    for (i, l) in random_labels(80, 16, 3).into_iter().enumerate() {
        rows.push((
            "10.0.0.99".to_string(),
            format!("{l}.com"),
            "NXDOMAIN",
            i as f64,
        ));
    }
    rows.push((
        "10.0.0.99".to_string(),
        "update.example.com".into(),
        "NOERROR",
        90.0,
    ));
    // A desktop retrying one mistyped name and the search-domain suffixes of another.
    for k in 0..30 {
        rows.push((
            "10.0.0.5".to_string(),
            "gooogle.com".into(),
            "NXDOMAIN",
            f64::from(k),
        ));
        rows.push((
            "10.0.0.5".to_string(),
            "wpad.corp.lan".into(),
            "NXDOMAIN",
            f64::from(k),
        ));
        rows.push((
            "10.0.0.5".to_string(),
            "www.example.org".into(),
            "NOERROR",
            f64::from(k),
        ));
    }
    // A host whose reverse lookups fail: addresses, not generated names.
    for k in 0..60 {
        rows.push((
            "10.0.0.6".to_string(),
            format!("{k}.{}.10.10.in-addr.arpa", k * 3),
            "NXDOMAIN",
            f64::from(k),
        ));
    }
    let (ctx, b) = behaviours_of(&dns_frame(&rows));
    assert_eq!(src_score(&ctx, &b, "10.0.0.6", Behaviour::Dga), 0.0);
    let bot = src_score(&ctx, &b, "10.0.0.99", Behaviour::Dga);
    assert!(bot >= 0.9, "{bot}");
    assert_eq!(src_score(&ctx, &b, "10.0.0.5", Behaviour::Dga), 0.0);
    // The bot's NXDOMAIN rows carry the behaviour and say why; its resolved query does not.
    let row_reason = b.row_reason(&ctx, 0).unwrap();
    assert!(
        row_reason.starts_with("dga: 80 names that do not exist"),
        "{row_reason}"
    );
    assert!(b.row_reason(&ctx, 80).is_none_or(|r| !r.starts_with("dga")));
    // Shares of NXDOMAIN per client, exactly.
    let nx = ctx.column("client.nxdomain").unwrap();
    assert_eq!(nx[0], 80.0 / 81.0);
    assert_eq!(nx[81], 2.0 / 3.0);
}

#[test]
fn headless_commands_take_the_kind() {
    let dir = sensor_dir();
    let out = zsift()
        .args(["score", "--kind", "dns", "--all", "--format", "jsonl"])
        .arg(dir.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dns = ingest::load(&[common::data("zat/dns.log")]).unwrap();
    assert_eq!(rows.len(), dns.rows());
    assert!(rows.iter().all(|r| r.get("query").is_some()), "{}", rows[0]);

    // summary says every kind loaded and what the directory left out.
    let out = zsift()
        .args(["summary", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["conn", "dns", "ssl"]);
    let out = zsift().arg("summary").arg(dir.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("left out") && text.contains("weird.log.gz: a weird log"),
        "{text}"
    );
    let out = zsift()
        .args(["hosts", "--kind", "dns", "--json"])
        .arg(common::data("zed/dns.log.gz"))
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v.as_array().unwrap()[0];
    assert!(
        first.get("tunnel").is_some() && first.get("dga").is_some(),
        "{first}"
    );
    // The table shows the DNS behaviours for a dns log only.
    let table = |args: &[&str], log: PathBuf| {
        let out = zsift().arg("hosts").args(args).arg(log).output().unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let t = table(&[], common::data("zed/dns.log.gz"));
    assert!(t.contains("tunnel") && t.contains("dga"), "{t}");
    let t = table(&[], common::data("zat/conn.log"));
    assert!(!t.contains("tunnel") && t.contains("brute"), "{t}");
}

#[test]
fn the_ui_switches_kinds_and_shows_joined_records() {
    use zsift::tui::app::{App, Overlay};
    use zsift::tui::worker::{self, Event, Worker};
    let dir = sensor_dir();
    let (log, info) = worker::load(&input(vec![dir.path().to_path_buf()], None)).unwrap();
    assert_eq!(info.kind, "conn");
    let mut app = App::new("dir", 0, true);
    let mut w = Worker::start();
    let job = app.on_event(Event::Loaded(Ok((log, info)))).unwrap();
    w.submit(job);
    common::finish(&mut app, &mut w);
    // The conn log's hosts show the DNS behaviours of the dns log beside it.
    app.tab = zsift::tui::app::Tab::Hosts;
    let screen = common::draw(&app, 160, 30);
    assert!(
        screen.contains("tunl") && screen.contains("dga"),
        "{screen}"
    );
    app.tab = zsift::tui::app::Tab::Anomalies;
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    // L: the dns log, fitted anew with its own features.
    let a = app.action_for(key('L')).unwrap();
    let job = app.update(a).expect("a new fit");
    w.submit(job);
    common::finish(&mut app, &mut w);
    let info = app.info.clone().unwrap();
    assert_eq!(info.kind, "dns");
    assert!(info.name.ends_with("[dns]"), "{}", info.name);
    let r = app.results.clone().unwrap();
    assert_eq!(
        r.analysis.matrix.rows.len(),
        app.log.as_ref().unwrap().rows()
    );
    let screen = common::draw(&app, 120, 30);
    assert!(screen.contains("[dns]"), "{screen}");
    // A query found by its uid (every row is searched, flagged or not), then Enter: its
    // record, and the connection it belongs to.
    let uid = ingest::cell(&app.log.as_ref().unwrap().frame, "uid", 0);
    let fields = open_record(&mut app, &mut w, &uid);
    assert!(fields.iter().any(|(k, _)| k == "── conn"), "{fields:?}");
    assert!(
        fields.iter().any(|(k, _)| k == "conn.conn_state"),
        "{fields:?}"
    );
    app.overlay = Overlay::None;
    // L again: ssl, then back to conn.
    for want in ["ssl", "conn"] {
        let a = app.action_for(key('L')).unwrap();
        if let Some(job) = app.update(a) {
            w.submit(job);
        }
        common::finish(&mut app, &mut w);
        assert_eq!(app.info.as_ref().unwrap().kind, want);
    }
    let _ = Arc::clone(&r);
}

/// A Zeek TSV dns log of queries (client, name, rcode_name), a second apart.
fn dns_tsv(rows: &[(String, String, &str)]) -> String {
    dns_tsv_uids(rows, |i| format!("D{i}"))
}

/// [`dns_tsv`] with the uid of row `i` given by `uid`.
fn dns_tsv_uids(rows: &[(String, String, &str)], uid: impl Fn(usize) -> String) -> String {
    let mut s = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
         #path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t\
         query\tqtype_name\trcode_name\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\t\
         string\tstring\tstring\n",
    );
    for (i, (client, name, rcode)) in rows.iter().enumerate() {
        s.push_str(&format!(
            "{}.000000\t{}\t{client}\t40000\t10.0.0.53\t53\tudp\t{name}\tA\t{rcode}\n",
            1_400_000_000 + i,
            uid(i)
        ));
    }
    s
}

#[test]
fn a_conn_logs_hosts_take_the_dns_behaviours_of_the_dns_log_beside_it() {
    // zat's conn log, and a dns log in which its busiest source tunnels and another runs
    // a DGA.
    let conn = ingest::load(&[common::data("zat/conn.log")]).unwrap();
    let src = ingest::cell(&conn.frame, "id.orig_h", 0);
    let mut rows: Vec<(String, String, &str)> = random_labels(300, 45, 11)
        .into_iter()
        .map(|l| (src.clone(), format!("{l}.t.example.com"), "NOERROR"))
        .collect();
    rows.extend(
        random_labels(60, 14, 12)
            .into_iter()
            .map(|l| ("192.168.1.77".to_string(), format!("{l}.net"), "NXDOMAIN")),
    );
    let dir = tempfile::tempdir().unwrap();
    let dns = dir.path().join("dns.log");
    std::fs::write(&dns, dns_tsv(&rows)).unwrap();
    let hosts = |logs: &[PathBuf]| -> Vec<Value> {
        let out = zsift()
            .args(["hosts", "--json", "--top", "0"])
            .args(logs)
            .output()
            .unwrap();
        common::assert_success(&out);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let find = |list: &[Value], host: &str| {
        list.iter()
            .find(|h| h["host"] == host)
            .cloned()
            .unwrap_or_else(|| panic!("{host} not ranked"))
    };
    let alone = hosts(&[common::data("zat/conn.log")]);
    assert_eq!(find(&alone, &src)["tunnel"], 0.0);
    let both = hosts(&[common::data("zat/conn.log"), dns.clone()]);
    let h = find(&both, &src);
    assert_eq!(h["tunnel"], 1.0, "{h}");
    assert_eq!(h["score"], 1.0, "{h}");
    let reasons = h["reasons"].to_string();
    assert!(
        reasons.contains("tunnel: 300 distinct names under example.com"),
        "{reasons}"
    );
    assert_eq!(both[0]["host"], src.as_str(), "the tunnel ranks first");
    // The DGA client has no connection in the conn log: it is not one of its hosts.
    assert!(both.iter().all(|h| h["host"] != "192.168.1.77"));
    // Analysing the dns log itself, both clients rank on their behaviour.
    let out = zsift()
        .args(["hosts", "--json", "--kind", "dns"])
        .arg(common::data("zat/conn.log"))
        .arg(&dns)
        .output()
        .unwrap();
    common::assert_success(&out);
    let list: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert!(find(&list, "192.168.1.77")["dga"].as_f64().unwrap() >= 0.9);
    assert_eq!(find(&list, &src)["tunnel"], 1.0);
}

#[test]
fn a_uid_with_many_records_lists_the_first_of_them() {
    use zsift::tui::app::App;
    use zsift::tui::worker::{self, Event, Worker};
    // zat's conn log, and 30 dns records all with its first connection's uid.
    let conn = ingest::load(&[common::data("zat/conn.log")]).unwrap();
    let uid = ingest::cell(&conn.frame, "uid", 0);
    let rows: Vec<(String, String, &str)> = (0..30)
        .map(|i| {
            (
                "10.0.0.1".to_string(),
                format!("n{i}.example.com"),
                "NOERROR",
            )
        })
        .collect();
    let text = dns_tsv_uids(&rows, |_| uid.clone());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::data("zat/conn.log"), dir.path().join("conn.log")).unwrap();
    std::fs::write(dir.path().join("dns.log"), text).unwrap();
    let (log, info) = worker::load(&input(vec![dir.path().to_path_buf()], None)).unwrap();
    let dns = info.all.get("dns").unwrap();
    assert_eq!(all_uid(dns), vec![uid.clone(); 30]);
    let mut app = App::new("dir", 0, true);
    let mut w = Worker::start();
    let job = app.on_event(Event::Loaded(Ok((log, info)))).unwrap();
    w.submit(job);
    common::finish(&mut app, &mut w);
    let fields = open_record(&mut app, &mut w, &uid);
    let heads: Vec<&(String, String)> = fields.iter().filter(|(k, _)| k == "── dns").collect();
    assert_eq!(heads.len(), 21, "{heads:?}");
    assert_eq!(heads[20].1, "and 10 more with this uid");
}

fn all_uid(log: &ingest::Log) -> Vec<String> {
    (0..log.rows())
        .map(|r| ingest::cell(&log.frame, "uid", r))
        .collect()
}

/// Searches the rows for `uid` (`/`), opens the first found (Enter) and returns its
/// record's lines.
fn open_record(
    app: &mut zsift::tui::app::App,
    w: &mut zsift::tui::worker::Worker,
    uid: &str,
) -> Vec<(String, String)> {
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    let keys: Vec<KeyEvent> = std::iter::once(key('/'))
        .chain(uid.chars().map(key))
        .chain([enter, enter])
        .collect();
    for k in keys {
        if let Some(a) = app.action_for(k) {
            if let Some(job) = app.update(a) {
                w.submit(job);
            }
        }
    }
    match &app.overlay {
        zsift::tui::app::Overlay::Detail { fields, .. } => fields.clone(),
        _ => panic!("no record open"),
    }
}

#[test]
fn a_json_stream_of_several_logs_splits_into_its_kinds() {
    // zat's conn log (given `_path` conn) and 500 of zed's dns records, interleaved in
    // one JSON stream, as a log shipper writes them.
    let conn_text = std::fs::read_to_string(common::data("zat/conn.json.log")).unwrap();
    let dns_text = String::from_utf8(readable_part("zed/dns.json.gz")).unwrap();
    let conn_lines: Vec<String> = conn_text
        .lines()
        .map(|l| l.replacen('{', "{\"_path\":\"conn\",", 1))
        .collect();
    let dns_lines: Vec<&str> = dns_text.lines().take(500).collect();
    // First, a line of a third log that does not parse: skipped, and no table of its own.
    let mut stream = String::from("{\"_path\":\"x509\",\"ts\":\"not a time\"}\n");
    for i in 0..conn_lines.len().max(dns_lines.len()) {
        for l in [
            conn_lines.get(i).map(String::as_str),
            dns_lines.get(i).copied(),
        ]
        .into_iter()
        .flatten()
        {
            stream.push_str(l);
            stream.push('\n');
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeek.json");
    std::fs::write(&path, stream).unwrap();
    let all = input(vec![path], None).load_all().unwrap();
    assert_eq!(all.names(), ["conn", "dns"]);
    let (conn, dns) = (all.get("conn").unwrap(), all.get("dns").unwrap());
    assert_eq!(
        conn.skipped.count + dns.skipped.count,
        1,
        "the bad line, counted once"
    );
    let alone = ingest::load(&[common::data("zat/conn.json.log")]).unwrap();
    assert_eq!((conn.rows(), dns.rows()), (alone.rows(), 500));
    // Each table has its own columns only, and the values of its own lines.
    assert!(conn.frame.column("query").is_err() && dns.frame.column("conn_state").is_err());
    for c in ["uid", "ts", "orig_bytes", "conn_state", "history"] {
        for r in 0..alone.rows() {
            assert_eq!(
                ingest::cell(&conn.frame, c, r),
                ingest::cell(&alone.frame, c, r),
                "{c} {r}"
            );
        }
    }
    for (r, l) in dns_lines.iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(
            ingest::cell(&dns.frame, "uid", r),
            v["uid"].as_str().unwrap()
        );
    }
}

#[test]
fn tsv_logs_concatenated_in_one_file_are_of_the_first_kind() {
    let mut text = std::fs::read(common::data("zat/conn.log")).unwrap();
    text.extend(std::fs::read(common::data("zat/dns.log")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.log");
    std::fs::write(&path, text).unwrap();
    let all = input(vec![path], None).load_all().unwrap();
    assert_eq!(all.names(), ["conn"]);
    let rows = |f: &str| ingest::load(&[common::data(f)]).unwrap().rows();
    assert_eq!(
        all.get("conn").unwrap().rows(),
        rows("zat/conn.log") + rows("zat/dns.log")
    );
}

/// Asserts that the default model of `log` has each of `features`.
fn assert_default_features(log: &ingest::Log, features: &[&str]) {
    let a = analyze(log, &Model::default(), &Cancel::new(), &|_| {}).unwrap();
    let names: Vec<&str> = a
        .matrix
        .features
        .iter()
        .map(|f| f.column.as_str())
        .collect();
    for f in features {
        assert!(names.contains(f), "{f} not in {names:?}");
    }
    let all: Vec<usize> = (0..a.matrix.rows.len()).collect();
    assert!(a.matrix.rows_x(&all).iter().all(|v| v.is_finite()));
}
