//! Hosts and pairs: behaviour scores on real logs, the default model without labels on
//! minority mixes of the labelled logs, `zsift hosts`, and hosts on degenerate input.

mod common;

use std::process::Command;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;
use zsift::cancel::Cancel;
use zsift::eval::{precision_at_k, roc_auc, truth};
use zsift::hosts::Unit;
use zsift::ingest;
use zsift::pipeline::{analyze, Analysis, Model};

fn run(log: &ingest::Log, model: &Model) -> Analysis {
    analyze(log, model, &Cancel::new(), &|_| {}).unwrap()
}

/// Every benign and background row of a labelled log plus a seeded sample of its malicious
/// rows making `share` of the result, in the log's order (as `minority_mix.py` makes them).
fn minority_mix(rel: &str, share: f64, seed: u64) -> ingest::Log {
    let text = std::fs::read_to_string(common::data(rel)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let fields: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("#fields"))
        .unwrap()
        .split('\t')
        .skip(1)
        .collect();
    let label = fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("label"))
        .unwrap();
    let is_mal = |l: &str| {
        l.split('\t')
            .nth(label)
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("malicious"))
    };
    let data: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].starts_with('#'))
        .collect();
    let mut mal: Vec<usize> = data.iter().copied().filter(|&i| is_mal(lines[i])).collect();
    let rest = data.len() - mal.len();
    let want = (share * rest as f64 / (1.0 - share)).round() as usize;
    mal.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    let keep: std::collections::HashSet<usize> = mal.into_iter().take(want).collect();
    let out: String = (0..lines.len())
        .filter(|&i| lines[i].starts_with('#') || !is_mal(lines[i]) || keep.contains(&i))
        .map(|i| format!("{}\n", lines[i]))
        .collect();
    ingest::load_bytes(rel, out.as_bytes()).unwrap()
}

fn quality(log: &ingest::Log, a: &Analysis) -> (f64, f64) {
    let truth = truth(&log.frame, "label", &a.matrix.rows);
    (
        roc_auc(&a.verdicts.combined, &truth).unwrap(),
        precision_at_k(&a.verdicts.combined, &truth).unwrap(),
    )
}

#[test]
fn minority_attacks_rank_first_without_labels() {
    for rel in [
        "stratosphere/008-mixed.conn.log.labeled",
        "stratosphere/010-mixed.conn.log.labeled",
    ] {
        for share in [0.02, 0.10] {
            for seed in 1..=3 {
                let log = minority_mix(rel, share, seed);
                let (auc, pk) = quality(&log, &run(&log, &Model::default()));
                let rows_only = Model {
                    hosts: false,
                    ..Model::default()
                };
                let (auc0, pk0) = quality(&log, &run(&log, &rows_only));
                eprintln!(
                    "{rel} {share} seed {seed}: ROC-AUC {auc:.4} p@k {pk:.3} (rows alone \
                     {auc0:.4} {pk0:.3})"
                );
                assert!(auc >= 0.97 && pk >= 0.7, "{rel} {share} {seed}: {auc} {pk}");
            }
        }
    }
}

#[test]
fn a_majority_attack_is_no_longer_upside_down() {
    // 008 is three quarters inbound scans: judged alone, they look normal.
    let log = ingest::load(&[common::data("stratosphere/008-mixed.conn.log.labeled")]).unwrap();
    let alone = run(
        &log,
        &Model {
            hosts: false,
            ..Model::default()
        },
    );
    let (auc0, _) = quality(&log, &alone);
    assert!(auc0 < 0.5, "rows alone: {auc0}");
    let a = run(&log, &Model::default());
    let (auc, pk) = quality(&log, &a);
    assert!(auc >= 0.97 && pk >= 0.9, "{auc} {pk}");
    // And the warning says which behaviour explains most rows.
    let w = zsift::hosts::warnings(&a.behaviours, Some(&a.evidence));
    assert!(w.iter().any(|w| w.starts_with("scan explains")), "{w:?}");
    // Trained on the benign rows, it stays right.
    let trained = run(
        &log,
        &Model {
            train_label: Some("Benign".into()),
            ..Model::default()
        },
    );
    assert!(quality(&log, &trained).0 >= 0.99);
}

#[test]
fn demo_injected_anomalies_top_the_hosts() {
    let log = zsift::demo::load().unwrap();
    let a = run(&log, &Model::default());
    let src = a.hosts(Unit::Src);
    // The three rankings made side by side are the ones made one at a time.
    let all = a.hosts_all();
    for (list, unit) in all.iter().zip([Unit::Src, Unit::Dst, Unit::Pair]) {
        let one = a.hosts(unit);
        assert_eq!(list.len(), one.len());
        assert!(list
            .iter()
            .zip(&one)
            .all(|(x, y)| x.label() == y.label() && x.score == y.score));
    }
    let rank = |h: &str| src.iter().position(|r| r.host == h).unwrap() + 1;
    for (host, behaviour) in [
        ("10.0.1.66", Some("scan: ")),
        ("45.95.147.12", Some("brute: ")),
        ("10.0.1.23", Some("exfil: ")),
        ("10.0.1.45", Some("beacon: every 60.0 s")),
        ("10.0.1.31", None),
    ] {
        assert!(rank(host) <= 6, "{host} ranks {}", rank(host));
        let reasons = src[rank(host) - 1].reasons(&a.behaviours);
        if let Some(b) = behaviour {
            assert!(
                reasons.iter().any(|r| r.starts_with(b)),
                "{host}: {reasons:?}"
            );
        }
    }
    // Random workstation traffic is no beacon.
    let ws = src
        .iter()
        .filter(|r| r.host.starts_with("10.0.1.1"))
        .count();
    let beaconing = src
        .iter()
        .filter(|r| r.host.starts_with("10.0.1.1") && r.scores[1] >= 0.75)
        .count();
    assert!(
        beaconing * 10 <= ws,
        "{beaconing} of {ws} workstations beacon"
    );
    assert!(zsift::hosts::warnings(&a.behaviours, Some(&a.evidence)).is_empty());
}

#[test]
fn real_scanner_and_botnet_channel() {
    // 002: Nmap scans by 172.16.1.11 of hosts in 10.0.2.0/24.
    let log = ingest::load(&[common::data("stratosphere/002-portscan.conn.json.log")]).unwrap();
    let a = run(&log, &Model::default());
    let src = a.hosts(Unit::Src);
    assert_eq!(src[0].host, "172.16.1.11");
    assert_eq!(src[0].scores[0], 1.0);
    let dst = a.hosts(Unit::Dst);
    assert!(dst[0].scores[0] >= 0.9, "{:?}", dst[0]);
    let reasons = dst[0].reasons(&a.behaviours);
    assert!(
        reasons.iter().any(|r| r.starts_with("scan: ")),
        "{reasons:?}"
    );
    // 001: the NjRAT C&C channel 192.168.1.115 -> 41.108.179.197:1177 ranks first.
    let log = ingest::load(&[common::data("stratosphere/001-botnet.conn.log.labeled")]).unwrap();
    let a = run(&log, &Model::default());
    let pairs = a.hosts(Unit::Pair);
    assert_eq!(
        (pairs[0].host.as_str(), pairs[0].dst.as_deref()),
        ("192.168.1.115", Some("41.108.179.197"))
    );
    assert!(pairs[0].scores[1] >= 0.5, "{:?}", pairs[0]);
    let reasons = pairs[0].reasons(&a.behaviours);
    assert!(
        reasons[0].starts_with("beacon: every 11.5 s"),
        "{reasons:?}"
    );
    // Its IPv6 neighbour discovery to multicast groups is no beacon.
    assert!(pairs
        .iter()
        .filter(|p| p.dst.as_deref().is_some_and(|d| d.starts_with("ff02:")))
        .all(|p| p.scores[1] == 0.0));
}

fn zsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zsift"))
}

fn numbers_are_finite(v: &Value) {
    match v {
        Value::Null => panic!("null in output"),
        Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite)),
        Value::Array(a) => a.iter().for_each(numbers_are_finite),
        Value::Object(o) => o.values().for_each(numbers_are_finite),
        _ => {}
    }
}

#[test]
fn hosts_json_on_real_and_degenerate_logs() {
    let dir = tempfile::tempdir().unwrap();
    let header = "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\t\
                  proto\tconn_state\tduration\torig_bytes\tresp_bytes\n#types\ttime\tstring\t\
                  addr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\n";
    let row = |ts: &str, o: &str, r: &str, p: u16, st: &str| {
        format!("{ts}\tC1\t{o}\t40000\t{r}\t{p}\ttcp\t{st}\t0.1\t10\t20\n")
    };
    let cases: Vec<(&str, String)> = vec![
        ("one row", row("100.0", "10.0.0.1", "10.0.0.2", 80, "SF")),
        (
            "one host, pairs of one and two connections",
            [
                row("100.0", "10.0.0.1", "10.0.0.2", 80, "SF"),
                row("101.0", "10.0.0.1", "10.0.0.3", 80, "S0"),
                row("102.0", "10.0.0.1", "10.0.0.3", 80, "S0"),
            ]
            .concat(),
        ),
        (
            "identical and unset timestamps",
            (0..12)
                .map(|i| {
                    row(
                        if i % 2 == 0 { "5.0" } else { "-" },
                        "10.0.0.1",
                        "10.0.0.2",
                        22,
                        "SF",
                    )
                })
                .collect(),
        ),
        (
            "IPv6",
            (0..20)
                .map(|i| {
                    row(
                        &format!("{}.0", 60 * i),
                        "fd00::1",
                        "2001:db8::7",
                        443,
                        "S0",
                    )
                })
                .collect(),
        ),
    ];
    for (what, body) in cases {
        let path = dir.path().join("conn.log");
        std::fs::write(&path, format!("{header}{body}")).unwrap();
        for by in ["src", "dst", "pair"] {
            let out = zsift()
                .args(["hosts", "--json", "--by", by])
                .arg(&path)
                .output()
                .unwrap();
            common::assert_success(&out);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let list = v.as_array().unwrap();
            assert!(!list.is_empty(), "{what}");
            numbers_are_finite(&v);
            for (i, h) in list.iter().enumerate() {
                assert_eq!(h["rank"], i + 1);
                let keys = if by == "pair" {
                    vec!["src", "dst"]
                } else {
                    vec!["host"]
                };
                for k in keys.into_iter().chain([
                    "score", "rows", "flagged", "scan", "beacon", "long", "exfil", "brute",
                    "reasons",
                ]) {
                    assert!(h.get(k).is_some(), "{what}: {k} missing in {h}");
                }
            }
        }
    }
    // A filter that leaves one host; the table form names the behaviour.
    let out = zsift()
        .args(["hosts", "--ip", "172.16.1.11", "--top", "3"])
        .arg(common::data("stratosphere/002-portscan.conn.json.log"))
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("172.16.1.11") && text.contains("scan: "),
        "{text}"
    );
}
