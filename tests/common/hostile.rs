//! A hostile conn log: every class of text that must not reach a terminal as is, in the
//! uid, service, history, addresses, labels, a column name and the file name, as Zeek TSV
//! (with Zeek's `\xNN` escapes) and as JSON lines.

use std::path::{Path, PathBuf};

/// One sample of each class: a lone ESC, CSI (clear screen, colour), OSC (title, OSC 52
/// clipboard write), DCS, BEL, backspace, carriage return, tab, line feed, other C0
/// controls, DEL, C1 controls (8-bit CSI, OSC, DCS, NEL), bidi embeddings, overrides,
/// isolates and marks, zero-width characters and an invisible tag character.
pub const EVIL: &str = "\u{1b}<\u{1b}[2J\u{1b}[31m\u{1b}]0;owned\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\
\u{1b}P1$r\u{1b}\\\u{7}\u{8}\r\t\n\u{1}\u{b}\u{c}\u{1f}\u{7f}\
\u{80}\u{85}\u{90}\u{9b}31m\u{9d}\u{9f}\
\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}\
a\u{200b}b\u{200c}c\u{200d}d\u{2060}e\u{feff}f\u{e0041}>";

/// The neutralised form of one part of [`EVIL`] that the screens must show (proof that the
/// text is displayed escaped, not dropped).
pub const SHOWN: &str = "\\x1b]52;c;ZXZpbA==\\x07";

/// Escaped forms that a neutralised display of the hostile text must show.
pub const SHOWN_ALL: [&str; 6] = [
    SHOWN,
    "\\u{202e}",
    "\\x9b31m",
    "\\u{200d}",
    "\\x7f",
    "svc\\x1b<",
];

/// A file name with every class but `/` and NUL (which a name cannot hold).
pub fn file_name() -> String {
    format!("conn{}.log", EVIL.replace('\n', "\u{b}"))
}

/// Rows of ordinary traffic (labelled Benign) before the hostile ones.
pub const NORMAL: usize = 150;
/// Hostile rows (labelled Malicious…), with extreme counts so that they are flagged.
pub const HOSTILE: usize = 8;

/// The columns of both formats, with their Zeek types.
const COLUMNS: [(&str, &str); 20] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("label", "string"),
    ("detailed-label", "string"),
    ("extra", "count"),
];

/// The name of the last column: [`EVIL`] without the tab and line feed (which would
/// split the TSV header) — a column name is log text too.
pub fn evil_column() -> String {
    format!("x{}", EVIL.replace(['\t', '\n'], ""))
}

/// Each row's values, as text (numbers as Zeek writes them).
pub fn rows() -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for i in 0..NORMAL {
        rows.push(vec![
            format!("{}.5", 1_700_000_000 + i),
            format!("C{i:017}"),
            format!("10.0.0.{}", i % 7 + 1),
            format!("{}", 40000 + i),
            format!("10.0.1.{}", i % 3 + 1),
            "53".into(),
            "udp".into(),
            if i % 2 == 0 { "dns" } else { "ntp" }.into(),
            format!("0.0{}", i % 9 + 1),
            format!("{}", 40 + i % 11),
            format!("{}", 80 + i % 13),
            "SF".into(),
            "Dd".into(),
            "1".into(),
            format!("{}", 68 + i % 11),
            "1".into(),
            format!("{}", 108 + i % 13),
            "Benign".into(),
            "-".into(),
            format!("{}", i % 5),
        ]);
    }
    for i in 0..HOSTILE {
        rows.push(vec![
            format!("{}.5", 1_700_000_200 + i),
            format!("C{i}{EVIL}"),
            format!("10.6.6.{i}{EVIL}"),
            "4444".into(),
            format!("{EVIL}{i}"),
            "8443".into(),
            "tcp".into(),
            format!("svc{EVIL}"),
            format!("{}", 9999 + i),
            format!("{}", 987_654_321 + i),
            "123456789".into(),
            format!("OTH{EVIL}"),
            format!("ShADad{EVIL}"),
            "90000".into(),
            "99999999".into(),
            "80000".into(),
            "88888888".into(),
            format!("Malicious{EVIL}"),
            EVIL.into(),
            "7".into(),
        ]);
    }
    rows
}

/// Zeek's escaping of a TSV value: every byte outside printable ASCII, and the backslash,
/// as `\xNN`.
fn zeek_escape(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if ((0x21..0x7f).contains(&b) && b != b'\\') || b == b' ' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The log as Zeek TSV. The hostile column name is written raw (Zeek does not escape
/// header names), and one malformed line quotes hostile bytes, so that the skipped-line
/// reasons carry them too.
pub fn tsv() -> Vec<u8> {
    let names: Vec<String> = COLUMNS
        .iter()
        .map(|(n, _)| n.to_string())
        .take(COLUMNS.len() - 1)
        .chain([evil_column()])
        .collect();
    let types: Vec<&str> = COLUMNS.iter().map(|(_, t)| *t).collect();
    let mut t = format!(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
         #fields\t{}\n#types\t{}\n",
        names.join("\t"),
        types.join("\t")
    );
    for r in rows() {
        let fields: Vec<String> = r.iter().map(|v| zeek_escape(v)).collect();
        t.push_str(&fields.join("\t"));
        t.push('\n');
    }
    // A count that does not parse, with raw escape bytes in it.
    let mut bad = rows().remove(0);
    bad[9] = format!("1{}", EVIL.replace(['\t', '\n'], ""));
    t.push_str(&bad.join("\t"));
    t.push('\n');
    t.into_bytes()
}

/// The same records as JSON lines (strings escaped by JSON's rules: `\u001b`...), with the
/// hostile column name as a key.
pub fn json() -> Vec<u8> {
    let mut out = String::new();
    for r in rows() {
        let mut o = serde_json::Map::new();
        for (k, ((name, ty), v)) in COLUMNS.iter().zip(&r).enumerate() {
            let name = if k == COLUMNS.len() - 1 {
                evil_column()
            } else {
                name.to_string()
            };
            let value = match *ty {
                _ if v == "-" => continue,
                "time" | "interval" => serde_json::json!(v.parse::<f64>().unwrap()),
                "port" | "count" => serde_json::json!(v.parse::<u64>().unwrap()),
                _ => serde_json::json!(v),
            };
            o.insert(name, value);
        }
        out.push_str(&serde_json::Value::Object(o).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// Writes both logs into `dir` under hostile names; returns (TSV path, JSON path).
pub fn write(dir: &Path) -> (PathBuf, PathBuf) {
    let name = file_name();
    let tsv_path = dir.join(format!("t-{name}"));
    let json_path = dir.join(format!("j-{name}"));
    std::fs::write(&tsv_path, tsv()).unwrap();
    std::fs::write(&json_path, json()).unwrap();
    (tsv_path, json_path)
}

/// Whether `c` must not be written to a terminal; the test's own list, independent of
/// the code under test.
pub fn forbidden(c: char) -> bool {
    let n = c as u32;
    n < 0x20
        || (0x7f..=0x9f).contains(&n)
        || matches!(n,
            0x200b..=0x200f | 0x202a..=0x202e | 0x2060 | 0x2066..=0x2069 | 0x061c | 0xfeff
            | 0xe0000..=0xe007f)
}

/// The first forbidden character of `text` other than those in `allowed`, if any, with
/// its position.
pub fn first_forbidden(text: &str, allowed: &[char]) -> Option<(usize, char)> {
    text.char_indices()
        .find(|&(_, c)| forbidden(c) && !allowed.contains(&c))
}
