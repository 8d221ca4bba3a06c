//! The terminal UI: views drawn into a `TestBackend`, key sequences against the state,
//! job generations and cancelling, and the real binary in a tmux pseudo-terminal.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use common::{draw, finish};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use zsift::ingest::Input;
use zsift::tui::app::{App, Overlay, Tab};
use zsift::tui::data::LogInfo;
use zsift::tui::views;
use zsift::tui::worker::{self, Event, Worker};

/// An app with `log` loaded and its first job finished.
fn ready(log: zsift::ingest::Log, name: &str) -> (App, Worker) {
    let info = LogInfo::new(&log, name);
    let mut app = App::new(name, 0, true);
    let mut w = Worker::start();
    let job = app
        .on_event(Event::Loaded(Ok((Arc::new(log), Arc::new(info)))))
        .expect("a job starts once the log is loaded");
    w.submit(job);
    finish(&mut app, &mut w);
    assert!(app.results.is_some(), "{:?}", app.job);
    (app, w)
}

fn demo() -> (App, Worker) {
    ready(zsift::demo::load().unwrap(), "demo/conn.log")
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// Presses keys; returns the last job the keys started, if any.
fn press(app: &mut App, w: &mut Worker, keys: &[KeyEvent]) -> bool {
    let mut started = false;
    for &k in keys {
        if let Some(a) = app.action_for(k) {
            if let Some(job) = app.update(a) {
                w.submit(job);
                started = true;
            }
        }
    }
    started
}

fn typed(s: &str) -> Vec<KeyEvent> {
    s.chars().map(key).collect()
}

#[test]
fn every_tab_draws_the_demo_at_80x24_and_tiny_sizes() {
    let (mut app, _w) = demo();
    let expect = [
        (Tab::Anomalies, "flagged of 3,361 rows"),
        (Tab::Hosts, "46 sources"),
        (Tab::Scatter, "UMAP of 3361 rows"),
        (Tab::Clusters, "HDBSCAN (min cluster size 10)"),
        (Tab::Histograms, "duration"),
        (Tab::Overview, "Services"),
    ];
    for (tab, text) in expect {
        app.tab = tab;
        let screen = draw(&app, 80, 24);
        assert!(screen.contains(text), "{tab:?} lacks {text:?}:\n{screen}");
        if tab == Tab::Scatter {
            let dots = screen
                .chars()
                .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
                .count();
            assert!(dots > 50, "the scatter plots points:\n{screen}");
        }
        if tab == Tab::Clusters {
            assert!(
                screen.contains("median") && screen.contains("noise"),
                "{screen}"
            );
        }
        let r = app.results.as_ref().unwrap();
        let flagged = r.flagged.len();
        // Every probe of the scan (its source's failure evidence), and about the
        // contamination share (2%) of the other rows.
        let probes = r
            .flagged
            .iter()
            .filter(|f| r.text(f).orig == "10.0.1.66")
            .count();
        assert_eq!(probes, 180);
        assert!((180 + 34..=180 + 101).contains(&flagged), "{flagged}");
        assert!(
            screen.contains(&format!("{flagged} of 3361 rows flagged")),
            "{screen}"
        );
        assert!(screen.contains("Anomalies") && screen.contains("Overview"));
        for (w, h) in [(20, 5), (40, 10), (10, 2), (1, 1), (200, 60)] {
            let s = draw(&app, w, h);
            assert_eq!(s.lines().count(), usize::from(h));
        }
    }
    app.tab = Tab::Anomalies;
    let screen = draw(&app, 80, 24);
    // The port scanner's probes come first, with their source's failure evidence.
    assert!(screen.contains("10.0.1.66"), "{screen}");
    assert!(screen.contains("180 of 180 unanswered"), "{screen}");
    assert!(screen.contains("why "), "{screen}");
    let tiny = draw(&app, 20, 5);
    assert!(tiny.contains("1 An"), "{tiny}");
    let overview = {
        app.tab = Tab::Overview;
        draw(&app, 80, 24)
    };
    for d in ["iforest", "lof", "vae", "No label column"] {
        assert!(overview.contains(d), "{overview}");
    }
    // Statistics of the flagged rows: the SSH brute force and the scan are in the top-5.
    app.tab = Tab::Clusters;
    app.clusters.subset = zsift::tui::app::Subset::Anomalous;
    let clusters = draw(&app, 100, 30);
    assert!(
        clusters.contains("anomalous rows")
            && clusters.contains(&format!(
                "rows of {}",
                app.results.as_ref().unwrap().flagged.len()
            )),
        "{clusters}"
    );
    // The scanner's rows are one of the entries (clusters and noise) the view lists.
    let entries: Vec<String> = (0..4)
        .map(|i| {
            app.clusters.selected = i;
            draw(&app, 100, 30)
        })
        .collect();
    assert!(
        entries.iter().any(|s| s.contains("10.0.1.20")),
        "{}",
        entries.join("\n")
    );
}

#[test]
fn overlays_draw_at_80x24_and_tiny_sizes() {
    let (mut app, mut w) = demo();
    for keys in [
        vec![key('?')],
        vec![key('s')],
        vec![key('i')],
        vec![key('f')],
        vec![key('d')],
        vec![code(KeyCode::Enter)],
        vec![key('/')],
        vec![key('e')],
    ] {
        app.overlay = Overlay::None;
        press(&mut app, &mut w, &keys);
        assert!(!matches!(app.overlay, Overlay::None), "{keys:?}");
        let s = draw(&app, 80, 24);
        assert!(s.lines().count() == 24);
        for (cw, ch) in [(20, 5), (3, 2)] {
            draw(&app, cw, ch);
        }
    }
    app.overlay = Overlay::None;
    press(&mut app, &mut w, &[key('?')]);
    let help = draw(&app, 80, 24);
    assert!(
        help.contains("quit") && help.contains("Everywhere"),
        "{help}"
    );
}

#[test]
fn the_loading_screen_shows_before_the_log_is_read() {
    let mut app = App::new("big.log", 123_000_000, true);
    let s = draw(&app, 80, 24);
    assert!(s.contains("loading big.log (123.0 MB)"), "{s}");
    app.tab = Tab::Overview;
    draw(&app, 20, 5);
}

/// A Zeek TSV conn log whose uid, service and history carry terminal escapes (OSC 52
/// clipboard write, BEL, clear screen), as Zeek writes them: `\x1b` escapes.
fn hostile_log() -> zsift::ingest::Log {
    let mut t = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
         #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t\
         orig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n\
         #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\t\
         string\tcount\tcount\tcount\tcount\n",
    );
    for i in 0..120u64 {
        t.push_str(&format!(
            "{}.5\tC{i:017}\t10.0.0.{}\t{}\t10.0.1.{}\t53\tudp\tdns\t0.0{}\t{}\t{}\tSF\tDd\t1\t{}\t1\t{}\n",
            1_700_000_000 + i,
            i % 7 + 1,
            40000 + i,
            i % 3 + 1,
            i % 9 + 1,
            40 + i % 11,
            80 + i % 13,
            68 + i % 11,
            108 + i % 13
        ));
    }
    t.push_str(
        "1700000200.5\tC\\x1b]52;c;ZXZpbA==\\x07evil\t10.6.6.6\t4444\t10.0.1.1\t8443\ttcp\t\
         \\x1b[2Jsvc\\x9b31m\t9999.0\t987654321\t123456789\tOTH\t\\x1b[31mShADad\t90000\t99999999\t80000\t88888888\n",
    );
    zsift::ingest::load_bytes("hostile.log", t.as_bytes()).unwrap()
}

fn assert_clean(screen: &str) {
    for c in screen.chars().filter(|&c| c != '\n') {
        assert!(
            !zsift::sanitize::is_unsafe(c),
            "raw control {c:?} reached the screen:\n{screen}"
        );
    }
}

#[test]
fn log_escapes_never_reach_the_screen() {
    let log = hostile_log();
    let uid = zsift::cli::score::cell(&log.frame, "uid", 120);
    assert!(
        uid.contains('\u{1b}'),
        "the loader decodes escapes: {uid:?}"
    );
    let (mut app, mut w) = ready(log, "hostile.log");
    let r = app.results.clone().unwrap();
    let first = app
        .selected_flagged()
        .map(|f| r.text(f).uid.clone())
        .unwrap();
    assert!(first.contains("\\x1b]52"), "{first}");
    let mut screens = Vec::new();
    for tab in Tab::ALL {
        app.tab = tab;
        screens.push(draw(&app, 120, 30));
        screens.push(draw(&app, 80, 24));
    }
    app.tab = Tab::Anomalies;
    for keys in [
        vec![code(KeyCode::Enter)],
        vec![key('s')],
        vec![key('i')],
        vec![key('f')],
    ] {
        app.overlay = Overlay::None;
        press(&mut app, &mut w, &keys);
        screens.push(draw(&app, 120, 40));
    }
    for s in &screens {
        assert_clean(s);
    }
    let all = screens.join("");
    assert!(all.contains("\\x1b]52;c;ZXZpbA==\\x07evil"), "{all}");
    // A lone \x9b byte is not UTF-8: the loader replaces it, which is as harmless.
    assert!(all.contains("\\x1b[2Jsvc"), "{all}");
}

/// Asserts that no cell of `screen` holds a character that must not reach a terminal, by
/// the test's own list and by the sanitizer's.
fn assert_screen_safe(what: &str, screen: &str) {
    if let Some((at, c)) = common::hostile::first_forbidden(screen, &['\n']) {
        panic!("{what}: {c:?} at byte {at} reached the screen:\n{screen}");
    }
    assert_clean(screen);
}

#[test]
fn hostile_text_is_neutralised_on_every_tab_and_overlay() {
    use common::hostile::{self, EVIL};
    let name = hostile::file_name();
    for (format, bytes) in [("tsv", hostile::tsv()), ("json", hostile::json())] {
        let log = zsift::ingest::load_bytes(&name, &bytes).unwrap();
        // The loader keeps the data as it is: only display neutralises it.
        let uid = zsift::cli::score::cell(&log.frame, "uid", hostile::NORMAL);
        assert_eq!(uid, format!("C0{EVIL}"), "{format}");
        assert!(log
            .frame
            .get_column_names()
            .iter()
            .any(|c| c.as_str() == hostile::evil_column()));
        let (mut app, mut w) = ready(log, &name);
        assert!(
            app.results
                .as_ref()
                .unwrap()
                .text(app.selected_flagged().unwrap())
                .uid
                .starts_with("C"),
            "{format}: a hostile row is the most anomalous"
        );
        let mut screens: Vec<(String, String)> = Vec::new();
        let mut shot = |app: &App, what: &str| {
            for (cw, ch) in [(200, 50), (80, 24)] {
                screens.push((format!("{format} {what} {cw}x{ch}"), draw(app, cw, ch)));
            }
        };
        for tab in Tab::ALL {
            app.tab = tab;
            shot(&app, &format!("{tab:?}"));
        }
        app.tab = Tab::Scatter;
        for c in 0..2 + app.model.ensemble.detectors.len() {
            app.scatter.colour = c;
            shot(&app, &format!("scatter colour {c}"));
        }
        app.tab = Tab::Clusters;
        for subset in [
            zsift::tui::app::Subset::All,
            zsift::tui::app::Subset::Anomalous,
            zsift::tui::app::Subset::Normal,
        ] {
            app.clusters.subset = subset;
            for k in 0..12 {
                app.clusters.selected = k;
                shot(&app, &format!("clusters {subset:?} #{k}"));
            }
        }
        app.tab = Tab::Histograms;
        let n = app.results.as_ref().unwrap().dists().len();
        for k in 0..n {
            app.hist.feature = k;
            shot(&app, &format!("histogram {k}"));
        }
        app.tab = Tab::Anomalies;
        let flagged = app.table.order.len();
        for k in 0..flagged.min(12) {
            app.table.selected = k;
            shot(&app, &format!("anomalies row {k}"));
            press(&mut app, &mut w, &[code(KeyCode::Enter)]);
            assert!(matches!(app.overlay, Overlay::Detail { .. }));
            shot(&app, &format!("record of row {k}"));
            app.overlay = Overlay::None;
        }
        app.table.selected = 0;
        for keys in [
            vec![key('?')],
            vec![key('s')],
            vec![key('i')],
            vec![key('f')],
            vec![key('d')],
            vec![key('t')],
            vec![key('e')],
        ] {
            app.overlay = Overlay::None;
            press(&mut app, &mut w, &keys);
            assert!(!matches!(app.overlay, Overlay::None), "{keys:?}");
            shot(&app, &format!("overlay {keys:?}"));
        }
        // Typed text: the pickers' narrowing text and the prompts (a terminal can deliver
        // any character as a key).
        let evil_keys: Vec<KeyEvent> = EVIL.chars().filter(|c| *c != '\u{1b}').map(key).collect();
        for open in ['s', 'i', 't', '/'] {
            app.overlay = Overlay::None;
            app.tab = Tab::Anomalies;
            press(&mut app, &mut w, &[key(open)]);
            press(&mut app, &mut w, &evil_keys);
            shot(&app, &format!("typed into {open}"));
        }
        app.overlay = Overlay::None;
        app.table.search = EVIL.into();
        shot(&app, "search caption");
        app.table.search.clear();
        // A failed export names the directory in the status line.
        press(&mut app, &mut w, &[key('e'), code(KeyCode::Delete)]);
        press(&mut app, &mut w, &typed(&format!("/proc/zsift{EVIL}")));
        press(&mut app, &mut w, &[code(KeyCode::Enter)]);
        let status = app.status.clone().unwrap_or_default();
        assert!(status.contains("export failed"), "{status}");
        shot(&app, "export status");
        // Errors: the job's, the 2-D views', the landscape's.
        let g = app.generation;
        app.on_event(Event::Landscape {
            generation: g,
            result: Err(format!("umap: {EVIL}")),
        });
        for tab in [Tab::Scatter, Tab::Clusters] {
            app.tab = tab;
            shot(&app, &format!("landscape error {tab:?}"));
        }
        app.on_event(Event::Failed {
            generation: g,
            error: format!("no rows: {EVIL}"),
        });
        app.results = None;
        for tab in Tab::ALL {
            app.tab = tab;
            shot(&app, &format!("job error {tab:?}"));
        }
        // The loading screen and a load error, under the hostile file name.
        let mut loading = App::new(&name, 12_345, true);
        shot(&loading, "loading");
        loading.on_event(Event::Loaded(Err(format!(
            "{name}: not a Zeek log: {EVIL}"
        ))));
        shot(&loading, "load error");
        for (what, s) in &screens {
            assert_screen_safe(what, s);
        }
        let all: String = screens.iter().map(|(_, s)| s.as_str()).collect();
        for shown in common::hostile::SHOWN_ALL {
            assert!(all.contains(shown), "{format}: {shown} is never shown");
        }
        assert!(
            all.contains("Malicious\\x1b<"),
            "{format}: the labels picker"
        );
        assert!(all.contains("conn\\x1b<"), "{format}: the file name");
    }
}

#[test]
fn the_last_line_of_defence_scrubs_a_frame() {
    let mut buf = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 8, 1));
    buf.set_string(0, 0, "ok", ratatui::style::Style::default());
    buf[(2, 0)].set_symbol("a\u{200d}");
    buf[(3, 0)].set_symbol("\u{1b}");
    buf[(4, 0)].set_symbol("\u{9b}");
    assert_eq!(zsift::tui::terminal::scrub(&mut buf), 3);
    let text: String = buf.content.iter().map(|c| c.symbol()).collect();
    assert_eq!(text, "ok\u{fffd}\u{fffd}\u{fffd}   ");
}

#[test]
fn keys_switch_tabs_and_filters_and_start_jobs() {
    let (mut app, mut w) = demo();
    press(&mut app, &mut w, &[code(KeyCode::Tab)]);
    assert_eq!(app.tab, Tab::Hosts);
    press(
        &mut app,
        &mut w,
        &[KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)],
    );
    assert_eq!(app.tab, Tab::Anomalies);
    press(&mut app, &mut w, &[key('5')]);
    assert_eq!(app.tab, Tab::Histograms);
    press(&mut app, &mut w, &[key('l'), key('l')]);
    assert_eq!(app.hist.feature, 2);
    press(&mut app, &mut w, &[key('1')]);

    // Services: "all", then ssl (the most common), dns... Enter takes the highlighted one.
    let g = app.generation;
    let started = press(
        &mut app,
        &mut w,
        &[
            key('s'),
            code(KeyCode::Down),
            code(KeyCode::Down),
            code(KeyCode::Enter),
        ],
    );
    assert!(started);
    assert_eq!(app.model.filter.services, vec!["dns".to_string()]);
    assert_eq!(app.generation, g + 1);
    assert!(app.results.is_none() && app.busy());
    // Meanwhile the last results stay on screen, dimmed, under a line that says so.
    let stale = draw(&app, 80, 24);
    assert!(stale.contains("recomputing ("), "{stale}");
    assert!(stale.contains("10.0.1.66"), "the old table stays: {stale}");
    finish(&mut app, &mut w);
    assert!(app.previous.is_none());
    let r = app.results.clone().unwrap();
    assert!(r.flagged.iter().all(|f| r.text(f).service.contains("dns")));
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("filter service dns"), "{screen}");

    // Addresses: type to narrow, mark two with Space, apply.
    press(&mut app, &mut w, &[key('i')]);
    press(&mut app, &mut w, &typed("10.0.1.6"));
    match &app.overlay {
        Overlay::Picker(p) => {
            let v = p.visible();
            assert!(v.len() >= 2, "{}", v.len());
            assert!(v[1..]
                .iter()
                .all(|&i| p.items[i].shown.contains("10.0.1.6")));
        }
        o => panic!("{o:?}"),
    }
    press(
        &mut app,
        &mut w,
        &[
            code(KeyCode::Down),
            key(' '),
            key(' '),
            code(KeyCode::Enter),
        ],
    );
    assert_eq!(app.model.filter.ips.len(), 2, "{:?}", app.model.filter.ips);
    finish(&mut app, &mut w);
    // Clearing: Del in the picker, then "all".
    press(
        &mut app,
        &mut w,
        &[key('i'), code(KeyCode::Delete), code(KeyCode::Enter)],
    );
    assert!(app.model.filter.ips.is_empty());
    press(&mut app, &mut w, &[key('s'), code(KeyCode::Enter)]);
    assert!(app.model.filter.services.is_empty());
    finish(&mut app, &mut w);

    // Detectors: two off, contamination up, rule cycled.
    press(
        &mut app,
        &mut w,
        &[
            key('d'),
            key(' '),
            key(' '),
            key('+'),
            key('m'),
            code(KeyCode::Enter),
        ],
    );
    assert_eq!(app.model.ensemble.detectors.len(), 8);
    assert_eq!(app.model.ensemble.contamination, 0.03);
    assert_eq!(app.model.ensemble.combine.to_string(), "any");
    finish(&mut app, &mut w);
    assert_eq!(app.results.as_ref().unwrap().timings.len(), 8);

    // Pivots narrow the view of the analysis made (no new job): the highlighted row's
    // source host, then its two hosts; Backspace steps back.
    let r = app.results.clone().unwrap();
    let generation = app.generation;
    let all = app.table.order.len();
    let f = app.selected_flagged().unwrap().clone();
    let text = r.text(&f).clone();
    let (a, b) = (text.orig_ip.unwrap(), text.resp_ip.unwrap());
    assert!(!press(&mut app, &mut w, &[key('H')]), "no job");
    assert_eq!(app.table.query.text(), format!("host:{a}"));
    // Every row of the host, flagged or not.
    let host_view = app.table.order.len();
    assert!(host_view >= 1 && host_view <= r.rows());
    for &k in &app.table.order {
        let t = r.text(&app.table.rows(&r)[k]);
        assert!(t.orig_ip == Some(a) || t.resp_ip == Some(a), "{}", t.orig);
    }
    assert!(draw(&app, 120, 30).contains(&format!("view host:{a}")));
    press(&mut app, &mut w, &[key('P')]);
    assert_eq!(app.generation, generation, "a pivot runs no job");
    assert!(std::sync::Arc::ptr_eq(app.results.as_ref().unwrap(), &r));
    let pair_view = app.table.order.len();
    assert!(pair_view >= 1 && pair_view <= host_view);
    for &k in &app.table.order {
        let t = r.text(&app.table.rows(&r)[k]);
        let (o, d) = (t.orig_ip.unwrap(), t.resp_ip.unwrap());
        assert!((o, d) == (a, b) || (o, d) == (b, a), "{o} -> {d}");
    }
    // The row pivoted from is still there, still flagged.
    assert!(app
        .table
        .order
        .iter()
        .any(|&k| app.table.rows(&r)[k].i() == f.i()));
    press(&mut app, &mut w, &[code(KeyCode::Backspace)]);
    assert_eq!(app.table.order.len(), host_view);
    press(&mut app, &mut w, &[code(KeyCode::Backspace)]);
    assert_eq!(app.table.order.len(), all);
    assert!(app.table.query.is_empty());

    // No label column: the training picker says so.
    press(&mut app, &mut w, &[key('t')]);
    assert!(matches!(app.overlay, Overlay::None));
    assert!(app.status.as_deref().unwrap_or("").contains("no label"));
}

#[test]
fn search_sort_record_and_quit() {
    let (mut app, mut w) = demo();
    press(&mut app, &mut w, &[key('/')]);
    press(&mut app, &mut w, &typed("10.0.1.66"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let r = app.results.clone().unwrap();
    assert!(!app.table.order.is_empty());
    assert!(app.table.order.len() < r.flagged.len());
    for &k in &app.table.order {
        let f = r.text(&app.table.rows(&r)[k]);
        assert!(f.orig.contains("10.0.1.66") || f.resp.contains("10.0.1.66"));
    }
    let scanner = app.table.order.len();
    // An address matches whole: 10.0.1.6 is not 10.0.1.66 (nor 10.0.1.60-69).
    let search = |app: &mut App, w: &mut Worker, text: &str| {
        press(app, w, &[key('/'), code(KeyCode::Delete)]);
        press(app, w, &typed(text));
        press(app, w, &[code(KeyCode::Enter)]);
        app.table.order.len()
    };
    let exact = search(&mut app, &mut w, "10.0.1.6");
    for &k in &app.table.order {
        let f = r.text(&app.table.rows(&r)[k]);
        assert!(f.orig == "10.0.1.6" || f.resp == "10.0.1.6", "{}", f.orig);
    }
    assert!(exact < scanner);
    // A network matches every address in it; other text within UIDs and addresses.
    assert!(search(&mut app, &mut w, "10.0.1.64/30") >= scanner);
    assert_eq!(search(&mut app, &mut w, "10.0.1.66"), scanner);
    // Esc clears the search (and never quits).
    press(&mut app, &mut w, &[code(KeyCode::Esc)]);
    assert!(app.table.search.is_empty() && !app.quit);
    assert_eq!(app.table.order.len(), r.flagged.len());
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("score▼"), "{screen}");
    press(&mut app, &mut w, &[key('o')]);
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains("time▲") && !screen.contains("score▼"),
        "{screen}"
    );
    press(&mut app, &mut w, &[key('O')]);
    assert!(draw(&app, 120, 30).contains("time▼"));
    press(&mut app, &mut w, &[key('O')]);
    let times: Vec<&str> = app
        .table
        .order
        .iter()
        .map(|&k| r.text(&app.table.rows(&r)[k]).ts.as_str())
        .collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]));
    press(&mut app, &mut w, &[key('G')]);
    assert_eq!(app.table.selected, r.flagged.len() - 1);
    press(
        &mut app,
        &mut w,
        &[key('g'), key('j'), code(KeyCode::Enter)],
    );
    match &app.overlay {
        Overlay::Detail { fields, .. } => {
            let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
            for c in ["ts", "uid", "id.orig_h", "conn_state", "history", "reasons"] {
                assert!(names.contains(&c), "{names:?}");
            }
        }
        o => panic!("{o:?}"),
    }
    press(&mut app, &mut w, &[code(KeyCode::Esc)]);
    assert!(matches!(app.overlay, Overlay::None));
    // Enter, Esc, Esc: the record closes, and a second Esc keeps zsift open.
    press(
        &mut app,
        &mut w,
        &[code(KeyCode::Enter), code(KeyCode::Esc), code(KeyCode::Esc)],
    );
    assert!(!app.quit && matches!(app.overlay, Overlay::None));
    assert_eq!(app.status.as_deref(), Some("q quits"));
    press(&mut app, &mut w, &[key('q')]);
    assert!(app.quit);
}

#[test]
fn typing_in_a_picker_moves_the_cursor_to_the_first_match() {
    let (mut app, mut w) = demo();
    // Narrow the addresses to the scanner and apply: the filter is the scanner, not "all".
    press(&mut app, &mut w, &[key('i')]);
    press(&mut app, &mut w, &typed("10.0.1.66"));
    assert!(press(&mut app, &mut w, &[code(KeyCode::Enter)]));
    assert_eq!(app.model.filter.ips.len(), 1, "{:?}", app.model.filter);
    assert_eq!(app.model.filter.ips[0].to_string(), "10.0.1.66");
    // Erasing to nothing brings the cursor back to the top ("all").
    press(&mut app, &mut w, &[key('i')]);
    press(&mut app, &mut w, &typed("10.0"));
    press(&mut app, &mut w, &[code(KeyCode::Backspace); 4]);
    let Overlay::Picker(p) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(p.cursor, 0);
}

#[test]
fn export_writes_the_library_files() {
    let (mut app, mut w) = demo();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    press(&mut app, &mut w, &[key('e'), code(KeyCode::Delete)]);
    press(&mut app, &mut w, &typed(&out.display().to_string()));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let status = app.status.clone().unwrap_or_default();
    let flagged = app.results.as_ref().unwrap().flagged.len();
    assert!(
        status.contains(&format!("wrote {flagged} flagged rows")),
        "{status}"
    );
    let text = std::fs::read_to_string(out.join("anomalous.csv")).unwrap();
    assert_eq!(text.lines().count(), flagged + 1);
    // What the command line's export writes: clusters, PCA and UMAP included.
    let rows = std::fs::read_to_string(out.join("rows.csv")).unwrap();
    let header = rows.lines().next().unwrap();
    for c in ["cluster", "pca_x", "pca_y", "umap_x", "umap_y"] {
        assert!(header.split(',').any(|h| h == c), "{c} not in {header}");
    }
    let clusters = std::fs::read_to_string(out.join("clusters.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&clusters).unwrap();
    for subset in ["all", "anomalous", "normal"] {
        assert!(
            v[subset].as_array().is_some_and(|a| !a.is_empty()),
            "{clusters}"
        );
    }
    assert!(!std::fs::read_to_string(out.join("clusters.txt"))
        .unwrap()
        .trim()
        .is_empty());
    assert!(!status.contains("without clusters"), "{status}");
    // Before the 2-D views and clusters are done, the status says what is left out.
    app.landscape = None;
    let early = dir.path().join("early");
    press(&mut app, &mut w, &[key('e'), code(KeyCode::Delete)]);
    press(&mut app, &mut w, &typed(&early.display().to_string()));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let status = app.status.clone().unwrap_or_default();
    assert!(
        status.contains("without clusters, PCA and UMAP (still being computed"),
        "{status}"
    );
    assert!(early.join("rows.csv").exists());
}

#[test]
fn a_newer_job_supersedes_the_running_one() {
    let (mut app, mut w) = demo();
    let first = app.results.clone().unwrap();
    // Two changes in a row: the first job is cancelled, its results never shown.
    assert!(press(
        &mut app,
        &mut w,
        &[key('s'), code(KeyCode::Down), code(KeyCode::Enter)]
    ));
    let old = app.generation;
    assert!(press(&mut app, &mut w, &[key('s'), code(KeyCode::Enter)]));
    let new = app.generation;
    assert_eq!(new, old + 1);
    // A late result of the old generation is dropped.
    app.on_event(Event::Done {
        generation: old,
        results: first.clone(),
    });
    assert!(app.results.is_none());
    app.on_event(Event::Failed {
        generation: old,
        error: "stale".into(),
    });
    assert!(app.job.as_ref().unwrap().error.is_none());
    // What the worker sends: the old job ends cancelled (or is skipped), the new one done.
    let mut old_events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let e = w
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the new job finishes");
        match (&e, e.generation()) {
            (Event::Done { .. }, Some(g)) if g == new => {
                app.on_event(e);
                break;
            }
            (_, Some(g)) if g == old => old_events.push(e),
            _ => {
                app.on_event(e);
            }
        }
    }
    assert!(
        !old_events.iter().any(|e| matches!(e, Event::Done { .. })),
        "the superseded job must not finish"
    );
    assert!(
        old_events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. })),
        "the superseded job reports its cancel"
    );
    let r = app.results.clone().unwrap();
    assert!(r.model.filter.services.is_empty());
    assert!(!Arc::ptr_eq(&r, &first));
}

#[test]
fn no_color_draws_without_colours() {
    let (mut app, _w) = demo();
    app.color = false;
    for tab in Tab::ALL {
        app.tab = tab;
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| views::render(&app, f)).unwrap();
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert_eq!(cell.fg, ratatui::style::Color::Reset, "{tab:?}");
            assert_eq!(cell.bg, ratatui::style::Color::Reset, "{tab:?}");
        }
    }
}

#[test]
fn loading_reports_unreadable_input() {
    let input = Input::files(vec!["/nonexistent/conn.log".into()]);
    let e = worker::load(&input).err().unwrap();
    assert!(e.contains("/nonexistent/conn.log"), "{e}");
    let mut app = App::new("x", 0, true);
    app.on_event(Event::Loaded(Err(e)));
    assert!(app.load_error.is_some() && !app.busy());
}

// ---------------------------------------------------------------------------------------
// The real binary in a pseudo-terminal (tmux).

struct Tmux {
    socket: String,
}

/// A private copy of the binary: the build directory may be shared with other checkouts'
/// builds, which replace `zsift` there while a long test runs.
fn private_binary(dir: &std::path::Path) -> String {
    let to = dir.join("zsift");
    std::fs::copy(env!("CARGO_BIN_EXE_zsift"), &to).unwrap();
    to.display().to_string()
}

impl Tmux {
    fn start(cmd: &str, w: u16, h: u16) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed; the end-to-end UI test needs it");
            return None;
        }
        // A server of its own for each session: tests run side by side in one process.
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let socket = format!("zsift-test-{}-{w}-{n}", std::process::id());
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .arg(cmd)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Some(Self { socket })
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            // A bare Esc followed at once by a key reads as Alt+key.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alternate_on(&self) -> bool {
        self.tmux(&["display", "-p", "#{alternate_on}"]).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn the_binary_runs_in_a_terminal_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let Some(t) = Tmux::start(
        &format!("{bin} --demo; echo ZSIFT-EXITED $?; sleep 30"),
        100,
        30,
    ) else {
        return;
    };
    let s = t.wait_for("flagged of 3,361 rows");
    assert!(s.contains("1 Anomalies"), "{s}");
    assert!(t.alternate_on());
    t.keys(&["s"]);
    let s = t.wait_for("type to narrow");
    assert!(s.contains("ssl") && s.contains("1230"), "{s}");
    t.keys(&["Down", "Down", "Enter"]);
    t.wait_for("filter service dns");
    t.wait_for("done");
    t.keys(&["2"]);
    t.wait_for("score = max(behaviour, anomaly)");
    // A time window chosen on the strip above the table narrows the view.
    t.keys(&["1", "[", "{", "}"]);
    t.wait_for("Enter narrows");
    t.keys(&["Enter"]);
    let s = t.wait_for("view after:");
    assert!(s.contains("before:") && s.contains("rows in view ("), "{s}");
    t.keys(&["BSpace"]);
    t.keys(&["6"]);
    t.wait_for("Top talkers");
    t.keys(&["5"]);
    t.wait_for("sorted values");
    t.keys(&["?"]);
    t.wait_for("Everywhere");
    t.keys(&["Escape", "q"]);
    let s = t.wait_for("ZSIFT-EXITED 0");
    assert!(
        !s.contains("Anomalies"),
        "the UI is gone after quitting:\n{s}"
    );
    assert!(!t.alternate_on(), "the alternate screen was left");
}

#[test]
fn the_hosts_tab_ranks_sorts_and_opens_connections() {
    let (mut app, mut w) = demo();
    press(&mut app, &mut w, &[key('2')]);
    assert_eq!(app.tab, Tab::Hosts);
    let screen = draw(&app, 120, 30);
    // The scanner tops the sources, its behaviour named.
    let first = screen.lines().find(|l| l.starts_with("1 ")).unwrap_or("");
    assert!(first.contains("10.0.1.66"), "{screen}");
    assert!(screen.contains("scan: 178 host:port services"), "{screen}");
    // Sorted by beacon, the 60-second beacon comes first.
    press(&mut app, &mut w, &[key('o'), key('o')]);
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("sort beacon"), "{screen}");
    let first = screen.lines().find(|l| l.starts_with("1 ")).unwrap_or("");
    assert!(first.contains("10.0.1.45"), "{screen}");
    // Pairs, then the connections of the first one, flagged first.
    press(
        &mut app,
        &mut w,
        &[
            key('u'),
            key('u'),
            key('o'),
            key('o'),
            key('o'),
            key('o'),
            key('o'),
            key('o'),
        ],
    );
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("pairs · sort score"), "{screen}");
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    match &app.overlay {
        Overlay::Detail { title, fields, .. } => {
            assert!(title.contains("connections"), "{title}");
            let n: usize = title
                .split(": ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .and_then(|t| t.parse().ok())
                .unwrap();
            assert_eq!(fields.len(), n);
            // Flagged rows (marked) come before the others.
            let marks: Vec<bool> = fields.iter().map(|f| f.0.starts_with('▲')).collect();
            assert!(marks.windows(2).all(|w| w[0] || !w[1]), "{marks:?}");
        }
        o => panic!("{o:?}"),
    }
    let overlay = draw(&app, 80, 24);
    assert!(overlay.contains("connections"), "{overlay}");
    press(&mut app, &mut w, &[code(KeyCode::Esc)]);
    assert!(matches!(app.overlay, Overlay::None));
    // Every width draws.
    for (w_, h) in [(20, 5), (40, 10), (79, 24), (200, 60)] {
        assert_eq!(draw(&app, w_, h).lines().count(), usize::from(h));
    }
    // The context features are choosable; choosing one reruns the model with it.
    press(&mut app, &mut w, &[key('f')]);
    let Overlay::Picker(p) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    let at = p
        .items
        .iter()
        .position(|i| i.shown.starts_with("src.hosts"))
        .expect("src.hosts in the features picker");
    let marked = p.items.iter().filter(|i| i.marked).count();
    assert!(marked > 0 && !p.items[at].marked);
    let down: Vec<KeyEvent> = (0..at).map(|_| code(KeyCode::Down)).collect();
    press(&mut app, &mut w, &down);
    press(&mut app, &mut w, &[key(' ')]);
    assert!(press(&mut app, &mut w, &[code(KeyCode::Enter)]));
    finish(&mut app, &mut w);
    let feats = &app.results.as_ref().unwrap().analysis.matrix.features;
    assert!(feats.iter().any(|f| f.column == "src.hosts"), "{feats:?}");
}

#[test]
fn the_overview_never_runs_words_into_its_second_column() {
    let (mut app, _w) = demo();
    app.tab = Tab::Overview;
    for (w_, h) in [(80, 24), (100, 30), (120, 40)] {
        let screen = draw(&app, w_, h);
        let lines: Vec<&str> = screen.lines().collect();
        // The right column starts where its first heading does; one blank column before it.
        let head = lines.iter().position(|l| l.contains("Detectors")).unwrap();
        let start = lines[head].find("Detectors").unwrap();
        let col = lines[head][..start].chars().count();
        for l in &lines[head..lines.len() - 1] {
            let before: Vec<char> = l.chars().collect();
            if before.len() > col {
                assert_eq!(before[col - 1], ' ', "{w_}x{h}: {l:?}\n{screen}");
            }
        }
        // A line too long for its column is cut with a mark, not mid-word without one.
        let talkers = lines.iter().find(|l| l.starts_with("Top talkers"));
        if let Some(t) = talkers {
            assert!(t.contains("destination)") || t.contains('…'), "{t}");
        }
    }
}

/// The query bar: terms narrow and order the view, a bad term changes nothing and says
/// why in the bar, Tab completes field names.
#[test]
fn the_query_bar_narrows_the_view() {
    let (mut app, mut w) = demo();
    let r = app.results.clone().unwrap();
    press(&mut app, &mut w, &[key(':')]);
    press(&mut app, &mut w, &typed("por"));
    press(&mut app, &mut w, &[code(KeyCode::Tab)]);
    press(&mut app, &mut w, &typed("22 sort:-score"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.table.query.text(), "port:22 sort:-score");
    // Every analysed row to port 22, flagged or not (unflagged ones drawn dim).
    let ssh = app.table.order.len();
    let total = r.rows();
    assert!(ssh > 0 && ssh < total, "{ssh} of {total}");
    assert!(app
        .table
        .order
        .iter()
        .any(|&k| !app.table.rows(&r)[k].flagged));
    for &k in &app.table.order {
        assert_eq!(r.text(&app.table.rows(&r)[k]).resp_p, "22");
    }
    assert!(draw(&app, 120, 30).contains("view port:22 sort:-score"));
    // Negation: the other flagged rows.
    press(&mut app, &mut w, &[key(':'), code(KeyCode::Delete)]);
    press(&mut app, &mut w, &typed("-port:22"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    assert_eq!(app.table.order.len(), total - ssh);
    // A bad term: the bar stays open with the error, the view is unchanged.
    press(&mut app, &mut w, &[key(':'), code(KeyCode::Delete)]);
    press(&mut app, &mut w, &typed("port:ssh"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    assert!(matches!(app.overlay, Overlay::Prompt { .. }));
    assert_eq!(app.table.order.len(), total - ssh);
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("port:ssh: not a port number"), "{screen}");
    press(&mut app, &mut w, &[code(KeyCode::Esc)]);
    // Behaviour terms: the demo's scanner.
    press(&mut app, &mut w, &[key(':'), code(KeyCode::Delete)]);
    press(&mut app, &mut w, &typed("scan:>0.9"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    assert!(!app.table.order.is_empty());
    for &k in &app.table.order {
        let t = r.text(&app.table.rows(&r)[k]);
        assert!(t.orig == "10.0.1.66" || t.resp == "10.0.1.66", "{}", t.orig);
    }
}

/// Search covers every analysed row, not only the flagged ones, and says how many of
/// each match.
#[test]
fn search_finds_unflagged_rows_too() {
    let (mut app, mut w) = demo();
    let r = app.results.clone().unwrap();
    let quiet = r.all().iter().find(|f| !f.flagged).unwrap();
    let addr = r.text(quiet).orig.clone();
    press(&mut app, &mut w, &[key('/')]);
    press(&mut app, &mut w, &typed(&addr));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let rows = app.table.rows(&r);
    let matched: Vec<&zsift::tui::data::Flagged> =
        app.table.order.iter().map(|&k| &rows[k]).collect();
    assert!(
        matched.iter().any(|f| f.i() == quiet.i()),
        "the unflagged row is found"
    );
    let flagged = matched.iter().filter(|f| f.flagged).count();
    // Flagged rows first.
    assert!(matched[..flagged].iter().all(|f| f.flagged));
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains(&format!(
            "{} rows in view ({} flagged, {} not)",
            matched.len(),
            flagged,
            matched.len() - flagged
        )),
        "{screen}"
    );
    for f in &matched {
        let t = r.text(f);
        assert!(t.orig == addr || t.resp == addr);
    }
}

/// Rows over more than a day show their date in the time column (sorting by time then
/// reads in order); rows within a day show the time of day only.
#[test]
fn times_show_their_date_when_the_rows_span_days() {
    let log =
        zsift::ingest::load(&[common::data("stratosphere/008-mixed.conn.log.labeled")]).unwrap();
    let (mut app, mut w) = ready(log, "008");
    let r = app.results.clone().unwrap();
    assert!(r.multi_day);
    // Sorted by time at 120 columns: month-day and time, in order.
    while app.table.sort != zsift::tui::app::SortKey::Time {
        press(&mut app, &mut w, &[key('o')]);
    }
    let screen = draw(&app, 120, 30);
    let stamps: Vec<&str> = screen
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .find_map(|p| {
                    let dated = p[0].len() == 5 && p[0].as_bytes()[2] == b'-';
                    let timed = p[1].len() == 8 && p[1].as_bytes()[2] == b':';
                    (dated && timed).then_some(p[0])
                })
        })
        .collect();
    assert!(stamps.len() > 10, "{screen}");
    assert!(stamps.windows(2).all(|p| p[0] <= p[1]), "{stamps:?}");
    let (demo, _w) = demo();
    assert!(!demo.results.as_ref().unwrap().multi_day);
}

/// The Overview shows when things happened: a line per time bucket with its rows and
/// flagged rows, the counts adding up to the rows analysed.
#[test]
fn the_overview_shows_rows_over_time() {
    let (mut app, _w) = demo();
    app.tab = Tab::Overview;
    let r = app.results.clone().unwrap();
    let t = r.timeline().unwrap();
    let screen = draw(&app, 160, 60);
    assert!(screen.contains("When (rows per bucket"), "{screen}");
    let lines: Vec<&str> = screen.lines().filter(|l| l.contains('█')).collect();
    assert_eq!(
        lines.len(),
        t.rows.iter().filter(|&&n| n > 0).count(),
        "{screen}"
    );
    let total: usize = lines
        .iter()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let n = words[words.len() - 2].replace(',', "");
            n.parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(total, r.rows());
}

/// The query bar, Backspace and the Overview's timeline on the real binary and a real
/// two-day log, in a terminal.
#[test]
fn the_query_bar_and_the_timeline_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let log = common::data("stratosphere/008-mixed.conn.log.labeled");
    let Some(t) = Tmux::start(
        &format!("{bin} {}; echo ZSIFT-EXITED $?; sleep 30", log.display()),
        120,
        35,
    ) else {
        return;
    };
    t.wait_for("flagged of");
    t.wait_for("done");
    t.keys(&[":", "serv", "Tab", "dns", "Enter"]);
    let s = t.wait_for("view service:dns");
    assert!(s.contains("rows in view ("), "{s}");
    // A bad term: the error in the bar, the view unchanged.
    t.keys(&[":", "C-u", "port:ssh", "Enter"]);
    t.wait_for("port:ssh: not a port number");
    t.keys(&["Escape"]);
    let s = t.wait_for("view service:dns");
    assert!(!s.contains("not a port number"), "{s}");
    // Back to the whole view.
    t.keys(&["BSpace"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.screen().contains("view service:dns") {
        assert!(Instant::now() < deadline, "{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    // A time window chosen on the strip above the table narrows the view.
    t.keys(&["1", "[", "{", "}"]);
    t.wait_for("Enter narrows");
    t.keys(&["Enter"]);
    let s = t.wait_for("view after:");
    assert!(s.contains("before:") && s.contains("rows in view ("), "{s}");
    t.keys(&["BSpace"]);
    t.keys(&["6"]);
    t.wait_for("Top talkers");
    // Scrolled down until the timeline's buckets of the second day show.
    let seen = |s: &str| s.lines().any(|l| l.contains("06-13 ") && l.contains('█'));
    for _ in 0..60 {
        if seen(&t.screen()) {
            break;
        }
        t.keys(&["j"]);
    }
    let s = t.screen();
    assert!(seen(&s), "dated buckets over two days: {s}");
    t.keys(&["q"]);
    t.wait_for("ZSIFT-EXITED 0");
}

/// The footer's key hints at any width end with a whole hint: one that does not fit is
/// left out, never cut mid-word.
#[test]
fn footer_hints_are_never_cut() {
    let (mut app, _w) = demo();
    let hints: Vec<&str> = zsift::tui::keys::BINDINGS
        .iter()
        .filter_map(|b| b.hint)
        .collect();
    for tab in Tab::ALL {
        app.tab = tab;
        for width in [40, 60, 80, 100, 120] {
            let screen = draw(&app, width, 24);
            let footer = screen.lines().last().unwrap().trim_end();
            assert!(
                hints.iter().any(|h| footer.ends_with(h)),
                "{tab:?} at {width}: {footer:?}"
            );
        }
    }
}

/// The full record at 80x24: long values (the reasons) wrap instead of being cut, a
/// mark says there is more below, and G/g reach the last and first lines.
#[test]
fn the_full_record_wraps_and_scrolls_at_80_columns() {
    let (mut app, mut w) = demo();
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let r = app.results.clone().unwrap();
    let reasons = r.reasons(app.selected_flagged().unwrap());
    assert!(reasons.chars().count() > 60, "{reasons}");
    let top = draw(&app, 80, 24);
    assert!(top.contains("▼ more"), "{top}");
    assert!(!top.contains("▲ more"), "{top}");
    press(&mut app, &mut w, &[key('G')]);
    let bottom = draw(&app, 80, 24);
    assert!(
        bottom.contains("▲ more") && !bottom.contains("▼ more"),
        "{bottom}"
    );
    // Every word of the reasons is on screen, none cut.
    for word in reasons.split(' ') {
        assert!(bottom.contains(word), "{word:?} missing:\n{bottom}");
    }
    press(&mut app, &mut w, &[key('g')]);
    assert!(draw(&app, 80, 24).contains("▼ more"));
}

/// The words of a screen: runs of letters, digits, dots and underscores (a trailing dot
/// dropped), with `…` kept as the mark of a word cut on purpose.
fn words(screen: &str) -> Vec<String> {
    screen
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '…')))
        .map(|w| w.trim_end_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The inside of the screen's box (an overlay), if it has one: the words around it are
/// the tab's, covered on purpose.
fn inside_popup(screen: &str) -> String {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, left)) = lines
        .iter()
        .enumerate()
        .find_map(|(y, l)| l.iter().position(|&c| c == '┌').map(|x| (y, x)))
    else {
        return screen.to_string();
    };
    let right = lines[top]
        .iter()
        .rposition(|&c| c == '┐')
        .unwrap_or(lines[top].len());
    lines[top + 1..]
        .iter()
        .take_while(|l| l.get(left) != Some(&'└'))
        .map(|l| l[left + 1..right.min(l.len())].iter().collect::<String>() + "\n")
        .collect()
}

/// The words of `app`'s screen at 80x24 that the same state never shows whole on a large
/// screen (150x60 or 300x80) and that carry no `…`: words cut mid-word without a mark.
fn cut_words(app: &App) -> Vec<String> {
    let narrow = inside_popup(&draw(app, 80, 24));
    let wide: std::collections::HashSet<String> = words(&draw(app, 150, 60))
        .into_iter()
        .chain(words(&draw(app, 300, 80)))
        .collect();
    // Bucket widths in words (`1 min a bar`) differ with the width by design.
    let units = ["s", "min", "h", "d"];
    let mut cut: Vec<String> = words(&narrow)
        .into_iter()
        .filter(|w| !w.contains('…') && !wide.contains(w) && !units.contains(&w.as_str()))
        .collect();
    cut.dedup();
    cut
}

/// Every tab and overlay at 80x24, on the demo and on a two-day real log, with and
/// without a query's view: no word is cut mid-word without a mark, and a list longer
/// than the screen shows a scroll bar.
#[test]
fn every_view_reads_at_80x24() {
    let scrolls = |s: &str| s.contains(views::SCROLL_THUMB);
    let real =
        zsift::ingest::load(&[common::data("stratosphere/008-mixed.conn.log.labeled")]).unwrap();
    for (mut app, mut w, name) in [
        {
            let (a, w) = demo();
            (a, w, "demo")
        },
        {
            let (a, w) = ready(real, "008");
            (a, w, "008")
        },
    ] {
        for query in ["", "port:22"] {
            if !query.is_empty() {
                let mut keys = vec![key(':')];
                keys.extend(typed(query));
                keys.push(code(KeyCode::Enter));
                press(&mut app, &mut w, &keys);
                assert!(app.table.view.is_some(), "{name}: {query}");
            }
            for tab in Tab::ALL {
                app.tab = tab;
                app.overlay = Overlay::None;
                let cut = cut_words(&app);
                assert!(
                    cut.is_empty(),
                    "{name} {query:?} {tab:?}: {cut:?}\n{}",
                    draw(&app, 80, 24)
                );
                let screen = draw(&app, 80, 24);
                let long = match tab {
                    Tab::Anomalies => app.table.order.len() > 12,
                    Tab::Hosts => app.hosts.order.len() > 12,
                    Tab::Overview => true,
                    _ => false,
                };
                if long {
                    assert!(scrolls(&screen), "{name} {query:?} {tab:?}:\n{screen}");
                }
            }
            // The overlays, over the Anomalies tab (the record, the strip's window) and
            // the Hosts tab (a host's connections).
            let overlays: [(Tab, Vec<KeyEvent>, bool); 10] = [
                (Tab::Anomalies, vec![key('?')], true),
                (Tab::Anomalies, vec![key('s')], false),
                (Tab::Anomalies, vec![key('i')], true),
                (Tab::Anomalies, vec![key('f')], false),
                (Tab::Anomalies, vec![key('d')], false),
                (Tab::Anomalies, vec![code(KeyCode::Enter)], false),
                (Tab::Hosts, vec![code(KeyCode::Enter)], false),
                (Tab::Anomalies, vec![key(':')], false),
                (Tab::Anomalies, vec![key('e')], false),
                (Tab::Anomalies, vec![key('['), key('['), key('}')], false),
            ];
            for (tab, keys, long) in overlays {
                app.tab = tab;
                app.overlay = Overlay::None;
                press(&mut app, &mut w, &keys);
                let cut = cut_words(&app);
                let screen = draw(&app, 80, 24);
                assert!(
                    cut.is_empty(),
                    "{name} {query:?} {keys:?}: {cut:?}\n{screen}"
                );
                if long {
                    assert!(scrolls(&screen), "{name} {query:?} {keys:?}:\n{screen}");
                }
                app.strip.window = None;
            }
            app.overlay = Overlay::None;
        }
    }
}

/// The time strip: a window chosen with the keys narrows the view to its rows (as
/// `after:`/`before:` terms, replacing the query's), and Backspace goes back.
#[test]
fn a_time_window_narrows_the_view() {
    let log =
        zsift::ingest::load(&[common::data("stratosphere/008-mixed.conn.log.labeled")]).unwrap();
    let (mut app, mut w) = ready(log, "008");
    let screen = draw(&app, 100, 30);
    assert!(
        screen.contains("flagged ") && screen.contains("a bar"),
        "{screen}"
    );
    let (start, step, n) = app.strip.drawn.get().expect("the strip was drawn");
    assert!(n > 10, "{n} buckets over two days at 100 columns");
    // The busiest bucket of the strip and the one after it.
    let t = app.results.as_ref().unwrap().strip(100 - 8).unwrap();
    assert_eq!((t.start, t.step, t.rows.len()), (start, step, n));
    let k = (0..n - 1).max_by_key(|&k| t.rows[k]).unwrap();
    let mut keys = vec![key(']'); k + 1];
    keys.push(key('}'));
    press(&mut app, &mut w, &keys);
    let (from, to) = app.strip.window.unwrap();
    let k = k as i64;
    assert_eq!((from, to), (start + k * step, start + (k + 2) * step));
    let screen = draw(&app, 100, 30);
    assert!(screen.contains("Enter narrows"), "{screen}");
    // A query first: the window's terms join it.
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    let text = app.table.query.text();
    assert!(
        text.contains("after:") && text.contains("before:"),
        "{text}"
    );
    assert!(app.strip.window.is_none());
    let r = app.results.clone().unwrap();
    let micros = zsift::summary::ts_micros(&r.log().frame).unwrap();
    let view = app.table.view.clone().unwrap();
    let expected = r
        .analysis
        .matrix
        .rows
        .iter()
        .filter(|&&row| micros[row as usize].is_some_and(|t| t >= from && t < to))
        .count();
    assert!(expected > 0);
    assert_eq!(view.iter().filter(|&&k| k).count(), expected);
    assert_eq!(app.table.order.len(), expected);
    // Moving the window and narrowing again replaces the time terms.
    press(
        &mut app,
        &mut w,
        &[key(']'), key(']'), code(KeyCode::Enter)],
    );
    let again = app.table.query.text();
    assert_eq!(again.matches("after:").count(), 1, "{again}");
    press(&mut app, &mut w, &[code(KeyCode::Backspace)]);
    assert_eq!(app.table.query.text(), text);
    // Esc drops a window being chosen without touching the view.
    press(&mut app, &mut w, &[key('['), code(KeyCode::Esc)]);
    assert!(app.strip.window.is_none());
    assert_eq!(app.table.query.text(), text);
    // `w` hides the strip.
    press(&mut app, &mut w, &[key('w')]);
    assert!(!draw(&app, 100, 30).contains("a bar"));
}

/// A query narrows every tab: the Hosts tab lists the hosts with a connection in the
/// view, the Scatter draws the view's rows, the Histograms count them, the Clusters name
/// the clusters that hold them.
#[test]
fn the_query_narrows_every_tab() {
    let (mut app, mut w) = demo();
    let mut keys = vec![key(':')];
    keys.extend(typed("port:22"));
    keys.push(code(KeyCode::Enter));
    press(&mut app, &mut w, &keys);
    let view = app.table.view.clone().unwrap();
    let in_view = view.iter().filter(|&&k| k).count();
    assert!(in_view > 0 && in_view < view.len());
    let r = app.results.clone().unwrap();
    // Sources with a connection to port 22, from the log itself.
    let frame = &r.log().frame;
    let port = zsift::filter::int_values(frame, "id.resp_p").unwrap();
    let orig = zsift::filter::string_values(frame, "id.orig_h");
    let mut sources: Vec<&str> = r
        .analysis
        .matrix
        .rows
        .iter()
        .filter(|&&row| port[row as usize] == Some(22))
        .filter_map(|&row| orig[row as usize])
        .collect();
    sources.sort_unstable();
    sources.dedup();
    app.tab = Tab::Hosts;
    let screen = draw(&app, 120, 40);
    assert_eq!(app.hosts.order.len(), sources.len(), "{screen}");
    assert!(
        screen.contains(&format!(
            "{} of {} sources with connections in the view",
            sources.len(),
            r.hosts[0].len()
        )),
        "{screen}"
    );
    for s in &sources {
        assert!(screen.contains(s), "{s} missing:\n{screen}");
    }
    app.tab = Tab::Scatter;
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains(&format!("the {in_view} rows in the view")),
        "{screen}"
    );
    app.tab = Tab::Histograms;
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("in the view"), "{screen}");
    let flagged = (0..view.len())
        .filter(|&i| view[i] && r.analysis.verdicts.flagged[i])
        .count();
    assert!(
        screen.contains(&format!("normal {}", in_view - flagged))
            && screen.contains(&format!("anomalous {flagged}")),
        "{screen}"
    );
    app.tab = Tab::Clusters;
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains(&format!("the view's {in_view} rows are in")),
        "{screen}"
    );
}

/// Waits for the worker's events, applying them, until `done(app)` holds.
fn until(app: &mut App, w: &mut Worker, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(app) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "waited in vain for {what}");
        if let Ok(e) = w.events.recv_timeout(left.min(Duration::from_millis(100))) {
            if let Some(job) = app.on_event(e) {
                w.submit(job);
            }
        }
    }
}

/// `zsift -f LOG`: the log is read, the model fitted; a port scan appended afterwards
/// shows in the Anomalies tab within seconds, its rows marked ● and counted in the
/// header; `n` marks them seen; Space stops the view while rows are still read (the header
/// counts them) and lets it move again; R fits the model again on the window.
#[test]
fn following_shows_new_rows_as_they_come() {
    use std::io::Write;
    let text = include_str!("../demo/conn.log");
    let header: String = text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (scan, rest): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .partition(|l| l.split('\t').nth(2) == Some("10.0.1.66"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    std::fs::write(&path, header + &rest.join("\n") + "\n").unwrap();
    let append = |lines: &[&str]| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    };
    let mut app = App::new("conn.log", 0, true);
    app.follow = Some(zsift::tui::app::FollowView::default());
    let mut w = Worker::start();
    w.load_follow(
        path.clone(),
        zsift::ingest::Limits::default(),
        500,
        zsift::live::Window::Rows(1_000_000),
    );
    finish(&mut app, &mut w);
    assert_eq!(app.results.as_ref().unwrap().rows(), rest.len());
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("following: 0 new rows"), "{screen}");
    // The scan arrives.
    append(&scan);
    let total = rest.len() + scan.len();
    until(&mut app, &mut w, "the scan", |a| {
        a.results.as_ref().is_some_and(|r| r.rows() == total)
    });
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains(&format!(
            "following: {} new rows, {} flagged",
            scan.len(),
            scan.len()
        )),
        "{screen}"
    );
    let marked = screen
        .lines()
        .filter(|l| l.contains("● 10:25") && l.contains("10.0.1.66"))
        .count();
    assert!(marked > 10, "{screen}");
    // Seen: no mark left.
    press(&mut app, &mut w, &[key('n')]);
    let screen = draw(&app, 120, 30);
    assert!(!screen.contains("● 10:"), "{screen}");
    assert!(screen.contains("following: 0 new rows"), "{screen}");
    // Paused: rows are still read, the view stands still and says how many came.
    press(&mut app, &mut w, &[key(' ')]);
    append(&rest[..50]);
    until(&mut app, &mut w, "the held update", |a| {
        a.follow.as_ref().is_some_and(|f| f.held.is_some())
    });
    assert_eq!(app.results.as_ref().unwrap().rows(), total);
    let screen = draw(&app, 120, 30);
    assert!(screen.contains("paused: 50 rows arrived"), "{screen}");
    press(&mut app, &mut w, &[key(' ')]);
    assert_eq!(app.results.as_ref().unwrap().rows(), total + 50);
    // Sorted by time, the newest first.
    app.table.newest_first = true;
    while app.table.sort != zsift::tui::app::SortKey::Time {
        press(&mut app, &mut w, &[key('o')]);
    }
    let r = app.results.clone().unwrap();
    let rows = app.table.rows(&r);
    let ts: Vec<String> = app
        .table
        .order
        .iter()
        .map(|&k| r.text(&rows[k]).ts.clone())
        .collect();
    assert!(ts.windows(2).all(|p| p[0] >= p[1]), "newest first");
    assert!(draw(&app, 120, 30).contains("time▼"));
    // R: the model fitted again, on the window, in the background: rows that arrive
    // meanwhile are scored by the model in use and taken over by the new one.
    assert!(press(&mut app, &mut w, &[key('R')]));
    append(&rest[50..150]);
    finish(&mut app, &mut w);
    assert!(app.landscape.is_some(), "the 2-D views made anew");
    until(&mut app, &mut w, "the rows that came during the fit", |a| {
        a.results.as_ref().is_some_and(|r| r.rows() == total + 150)
    });
    // A fit that fails (the filter keeps no row) leaves the model in use: its results
    // come back, and the rows that arrive go on showing.
    let shown = app.results.as_ref().unwrap().rows();
    app.model.filter.services = vec!["no-such-service".into()];
    assert!(press(&mut app, &mut w, &[key('R')]));
    finish(&mut app, &mut w);
    assert!(app.job.as_ref().unwrap().error.is_some());
    assert_eq!(app.results.as_ref().unwrap().rows(), shown);
    append(&rest[150..200]);
    until(&mut app, &mut w, "rows after the failed fit", |a| {
        a.results.as_ref().is_some_and(|r| r.rows() == shown + 50)
    });
    // --refit: once the model is as old as asked, time alone starts a fit, and not again
    // at once; a paused view starts none.
    app.model.filter.services.clear();
    app.follow.as_mut().unwrap().refit = Some(Duration::from_secs(3600));
    assert!(app.tick().is_none());
    app.follow.as_mut().unwrap().fitted = Some(Instant::now() - Duration::from_secs(7200));
    app.follow.as_mut().unwrap().paused = true;
    assert!(app.tick().is_none());
    app.follow.as_mut().unwrap().paused = false;
    let job = app.tick().expect("a fit is due");
    w.submit(job);
    assert!(app.tick().is_none(), "not again while it runs");
    finish(&mut app, &mut w);
    // The highlighted row stays highlighted while rows arrive, even when they sort above
    // it: a second scan (new uids), flagged like the first, sorted by time oldest first
    // (its probes are as old as the first scan's).
    let before = app.results.as_ref().unwrap().rows();
    while app.table.sort != zsift::tui::app::SortKey::Time {
        press(&mut app, &mut w, &[key('o')]);
    }
    press(&mut app, &mut w, &[key('O')]);
    for _ in 0..20 {
        press(&mut app, &mut w, &[key('j')]);
    }
    let uid_of = |app: &App| {
        let r = app.shown().unwrap().clone();
        r.text(app.selected_flagged().unwrap()).uid.clone()
    };
    let uid = uid_of(&app);
    let again: Vec<String> = scan
        .iter()
        .map(|l| {
            let mut f: Vec<&str> = l.split('\t').collect();
            let u = format!("X{}", &f[1][1..]);
            f[1] = &u;
            f.join("\t")
        })
        .collect();
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    append(&again);
    until(&mut app, &mut w, "the second scan", |a| {
        a.results
            .as_ref()
            .is_some_and(|r| r.rows() == before + scan.len())
    });
    assert_eq!(uid_of(&app), uid);
}

/// `zsift -f LOG` in a terminal: the binary follows the log, a scan appended after the
/// fit shows with its marks and the header's count; `q` quits with status 0.
#[test]
fn following_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = private_binary(dir.path());
    let text = include_str!("../demo/conn.log");
    let (scan, rest): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| !l.starts_with('#') && l.split('\t').nth(2) == Some("10.0.1.66"));
    let path = dir.path().join("conn.log");
    std::fs::write(&path, rest.join("\n") + "\n").unwrap();
    let Some(t) = Tmux::start(
        &format!(
            "{bin} -f {} --refit 1d; echo ZSIFT-EXITED $?; sleep 30",
            path.display()
        ),
        120,
        35,
    ) else {
        return;
    };
    t.wait_for("following: 0 new rows");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, (scan.join("\n") + "\n").as_bytes()).unwrap();
    let s = t.wait_for(&format!("following: {} new rows", scan.len()));
    assert!(s.contains("● ") && s.contains("10.0.1.66"), "{s}");
    t.keys(&["q"]);
    t.wait_for("ZSIFT-EXITED 0");
    drop(t);
    // The same from standard input (`tail -F conn.log | zsift -f -`): keys still come from
    // the terminal.
    let (rest_file, scan_file) = (dir.path().join("rest.log"), dir.path().join("scan.log"));
    std::fs::write(&rest_file, rest.join("\n") + "\n").unwrap();
    std::fs::write(&scan_file, scan.join("\n") + "\n").unwrap();
    let Some(t) = Tmux::start(
        &format!(
            "(cat {}; sleep 3; cat {}; sleep 60) | {{ {bin} -f -; echo ZSIFT-EXITED $?; sleep 30; }}",
            rest_file.display(),
            scan_file.display()
        ),
        120,
        35,
    ) else {
        return;
    };
    // The scan's probes, new and flagged, at the top.
    let s = t.wait_for("● 10:25");
    assert!(s.contains("10.0.1.66") && s.contains("following: "), "{s}");
    t.keys(&["q"]);
    t.wait_for("ZSIFT-EXITED 0");
}

/// The worker of `zsift -f` through a rotation (renamed, a new file with its header)
/// and a removal: every row in the window once, in order; the header says the log was
/// removed, and what was read stays.
#[test]
fn following_through_rotation_and_removal() {
    use std::io::Write;
    let text =
        std::fs::read_to_string(common::data("stratosphere/008-mixed.conn.log.labeled")).unwrap();
    let header: String = text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect();
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    let append = |lines: &[&str]| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    };
    std::fs::write(&path, &header).unwrap();
    append(&rows[..2000]);
    let mut app = App::new("conn.log", 0, true);
    app.follow = Some(zsift::tui::app::FollowView::default());
    let mut w = Worker::start();
    w.load_follow(
        path.clone(),
        zsift::ingest::Limits::default(),
        1000,
        zsift::live::Window::Rows(1_000_000),
    );
    finish(&mut app, &mut w);
    append(&rows[2000..3000]);
    std::fs::rename(&path, dir.path().join("conn.1.log")).unwrap();
    std::fs::write(&path, &header).unwrap();
    append(&rows[3000..4000]);
    until(&mut app, &mut w, "4000 rows", |a| {
        a.results.as_ref().is_some_and(|r| r.rows() == 4000)
    });
    let uid = |app: &App| -> Vec<String> {
        zsift::filter::string_values(&app.log.as_ref().unwrap().frame, "uid")
            .into_iter()
            .map(|u| u.unwrap().to_string())
            .collect()
    };
    let want: Vec<String> = rows[..4000]
        .iter()
        .map(|r| r.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(uid(&app), want);
    std::fs::remove_file(&path).unwrap();
    until(&mut app, &mut w, "the removal noticed", |a| {
        a.follow
            .as_ref()
            .and_then(|f| f.note.as_deref())
            .is_some_and(|n| n.contains("removed"))
    });
    let screen = draw(&app, 200, 30);
    assert!(screen.contains("the log was removed"), "{screen}");
    assert_eq!(app.results.as_ref().unwrap().rows(), 4000);
}

/// The demo's header and its first `first` rows in a temporary conn.log, followed by an
/// app (set up by `setup` before loading) and its worker (warm-up 1000 rows): the
/// directory, the log, the demo's data lines, the app, the worker.
fn follow_demo(
    first: usize,
    setup: impl FnOnce(&mut App),
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Vec<&'static str>,
    App,
    Worker,
) {
    let text: &'static str = include_str!("../demo/conn.log");
    let header: String = text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect();
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    std::fs::write(&path, header + &rows[..first].join("\n") + "\n").unwrap();
    let mut app = App::new("conn.log", 0, true);
    app.follow = Some(zsift::tui::app::FollowView::default());
    setup(&mut app);
    let mut w = Worker::start();
    w.load_follow(
        path.clone(),
        zsift::ingest::Limits::default(),
        1000,
        zsift::live::Window::Rows(1_000_000),
    );
    (dir, path, rows, app, w)
}

/// `zsift -f` on a log with fewer rows than --warmup: the first screen says how many
/// rows it has and how many the fit waits for; more rows, and the model is fitted.
#[test]
fn following_waits_for_the_warmup_rows() {
    use std::io::Write;
    let (_dir, path, rows, mut app, mut w) = follow_demo(300, |_| {});
    until(&mut app, &mut w, "the wait", |a| {
        a.waiting == Some((300, 1000))
    });
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains("300 rows read, the model is fitted at 1000"),
        "{screen}"
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all((rows[300..1200].join("\n") + "\n").as_bytes())
        .unwrap();
    finish(&mut app, &mut w);
    assert_eq!(app.results.as_ref().unwrap().rows(), 1200);
}

/// `zsift -f` when the first fit cannot be made (here the filter keeps no row): the
/// header says so, the rows that arrive are still read, and R fits on all of them.
#[test]
fn following_reads_on_when_the_first_fit_fails() {
    use std::io::Write;
    let (_dir, path, rows, mut app, mut w) = follow_demo(1500, |app| {
        app.model.filter.services = vec!["no-such-service".into()];
    });
    finish(&mut app, &mut w);
    assert!(app.job.as_ref().unwrap().error.is_some());
    let note = app
        .follow
        .as_ref()
        .unwrap()
        .note
        .clone()
        .unwrap_or_default();
    assert!(note.contains("no model yet"), "{note}");
    let screen = draw(&app, 300, 30);
    assert!(screen.contains("no model yet"), "{screen}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all((rows[1500..2000].join("\n") + "\n").as_bytes())
        .unwrap();
    // Time for the worker to read them, then a fit without the filter.
    std::thread::sleep(Duration::from_millis(500));
    app.model.filter.services.clear();
    assert!(press(&mut app, &mut w, &[key('R')]));
    finish(&mut app, &mut w);
    assert_eq!(app.results.as_ref().unwrap().rows(), 2000);
    // The header's count follows the window the fit ran on.
    assert_eq!(app.info.as_ref().unwrap().rows, 2000);
}

/// The Scatter tab redraws the dots of its last frame while nothing they depend on
/// changes: every frame equals one drawn afresh (each cell, symbol and colour), whatever
/// was drawn before, across colourings, layouts, sizes and a query's view.
#[test]
fn the_scatter_redraws_what_a_fresh_frame_draws() {
    use ratatui::buffer::Buffer;
    use zsift::tui::app::Scatter;
    let (mut app, mut w) = demo();
    app.tab = Tab::Scatter;
    let frame = |app: &App, (cw, ch): (u16, u16)| -> Buffer {
        let mut t = Terminal::new(TestBackend::new(cw, ch)).unwrap();
        t.draw(|f| views::render(app, f)).unwrap();
        t.backend().buffer().clone()
    };
    let fresh = |app: &mut App, size: (u16, u16)| -> Buffer {
        let (umap, colour) = (app.scatter.umap, app.scatter.colour);
        app.scatter = Scatter::new();
        (app.scatter.umap, app.scatter.colour) = (umap, colour);
        frame(app, size)
    };
    let colours = 2 + app.model.ensemble.detectors.len();
    let mut checked = 0;
    let mut check = |app: &mut App, size: (u16, u16), what: &str| {
        // Drawn after another state (the dots must not serve), then again (they must).
        let after_other = frame(app, size);
        let again = frame(app, size);
        let want = fresh(app, size);
        assert!(
            after_other == want,
            "{what}: the first frame differs from a fresh one"
        );
        assert!(
            again == want,
            "{what}: the redrawn frame differs from a fresh one"
        );
        checked += 1;
    };
    for size in [(120, 40), (80, 24)] {
        for umap in [true, false] {
            for c in 0..colours {
                app.scatter.umap = umap;
                app.scatter.colour = c;
                check(&mut app, size, &format!("{size:?} umap {umap} colour {c}"));
            }
        }
    }
    // A query's view: only its rows, then all again.
    app.scatter = Scatter::new();
    frame(&app, (120, 40));
    press(&mut app, &mut w, &[key(':')]);
    press(&mut app, &mut w, &typed("port:22"));
    press(&mut app, &mut w, &[code(KeyCode::Enter)]);
    app.tab = Tab::Scatter;
    let with_view = frame(&app, (120, 40));
    check(&mut app, (120, 40), "view port:22");
    let shown = |b: &Buffer| b.content().iter().filter(|c| c.symbol() != " ").count();
    press(
        &mut app,
        &mut w,
        &[key(':'), code(KeyCode::Delete), code(KeyCode::Enter)],
    );
    app.tab = Tab::Scatter;
    let without = frame(&app, (120, 40));
    check(&mut app, (120, 40), "view cleared");
    assert!(
        shown(&with_view) < shown(&without),
        "the view draws fewer dots than the whole map"
    );
    assert_eq!(checked, 2 * 2 * colours + 2);
}
