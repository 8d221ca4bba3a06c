//! Neutralising log text before it reaches a terminal.
//!
//! Zeek log fields are attacker-controlled: a crafted HTTP header or DNS name can carry
//! escape sequences (CSI colour changes, OSC 52 clipboard writes, DCS), bell, backspace and
//! carriage return to overwrite what the operator sees, or bidi overrides and zero-width
//! characters to disguise a name. Every string from a log goes through [`sanitize`] before
//! any widget or table prints it. Machine formats keep the data exact: JSON goes through
//! [`write_json`], which also writes every unsafe character as a `\uXXXX` escape (still the
//! same string to a JSON reader, harmless on a terminal); CSV has no escapes, so it is
//! exact when written to a file or a pipe and neutralised like the table when written to
//! a terminal.

use std::borrow::Cow;

/// Whether `c` must not be written to a terminal as is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (U+0080..U+009F)
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi
                                         // isolates, deprecated format controls
            | '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
            | '\u{1D173}'..='\u{1D17A}' // musical formatting controls
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
            | '\u{061C}' // Arabic letter mark
            | '\u{FEFF}' // zero-width no-break space
            | '\u{180E}' // Mongolian vowel separator
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
            | '\u{E0000}'..='\u{E007F}' // tag characters (invisible ASCII look-alikes)
        )
}

/// Returns `s` with every unsafe character replaced by a visible escape: `\xNN` for bytes
/// below U+0100 (as Zeek writes them), `\u{NNNN}` otherwise. Safe text is borrowed.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let n = c as u32;
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a spreadsheet opening a CSV would take `s` as a formula: text starting with
/// `=`, `@`, a tab or a carriage return, or with `+` or `-` when it is not a plain number
/// (OWASP's list). Zeek's unset marker `-` alone is not one.
pub fn is_formula(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => s.len() > 1 && s.parse::<f64>().is_err(),
        _ => false,
    }
}

/// A CSV cell that a spreadsheet shows as text: a formula (see [`is_formula`]) gets a
/// leading `'`, which spreadsheets take as "this is text" and do not show. Log values are
/// attacker-controlled, and CSV exports are opened in spreadsheets (`=HYPERLINK(...)`
/// would be a live link, `=cmd|...` a command on some). Other text is borrowed.
pub fn formula_safe(s: &str) -> Cow<'_, str> {
    if is_formula(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Writes `value` as pretty-printed JSON with every unsafe character (see [`is_unsafe`])
/// inside strings written as a `\uXXXX` escape: the same data to a JSON reader, and no
/// control sequence, bidi override or invisible character reaches a terminal that shows
/// it. serde_json already escapes C0 controls; DEL, C1 controls and the Unicode ones are
/// left raw by it, so they are escaped here.
pub fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::from)?;
    out.write_all(json_escape_unsafe(&text).as_bytes())
}

/// Writes `value` as one line of compact JSON (JSON lines), escaped as [`write_json`]
/// escapes, and the line end.
pub fn write_json_line<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let mut text = serde_json::to_string(value).map_err(std::io::Error::from)?;
    text = json_escape_unsafe(&text).into_owned();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// Escapes the unsafe characters of serialized JSON that serde_json leaves raw. They can
/// only occur inside strings (the JSON syntax around them is ASCII, and serde_json escapes
/// C0 controls itself), so the result is the same JSON value.
fn json_escape_unsafe(json: &str) -> Cow<'_, str> {
    let raw = |c: char| (c == '\u{7f}' || !c.is_ascii()) && is_unsafe(c);
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for c in json.chars() {
        if raw(c) {
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_neutralised() {
        let evil = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{1b}[2Jc\rd\u{8}e\u{9b}f\u{202e}g\u{200b}h";
        let s = sanitize(evil);
        assert!(!s.chars().any(is_unsafe), "{s}");
        assert_eq!(
            s,
            "a\\x1b]52;c;ZXZpbA==\\x07b\\x1b[2Jc\\x0dd\\x08e\\x9bf\\u{202e}g\\u{200b}h"
        );
    }

    #[test]
    fn formulas_become_text() {
        for f in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "\t=1",
            "\r=1",
        ] {
            assert!(is_formula(f), "{f:?}");
            assert_eq!(formula_safe(f), format!("'{f}"));
        }
        for t in [
            "-", "-5", "+1.5", "1e3", "10.0.0.1", "dns", "", "a=b", "-inf",
        ] {
            assert!(matches!(formula_safe(t), Cow::Borrowed(_)), "{t:?}");
        }
    }

    #[test]
    fn safe_text_is_borrowed() {
        assert!(matches!(
            sanitize("10.0.0.1 → ssl ünïcode"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn json_keeps_the_data_and_escapes_what_serde_leaves_raw() {
        let evil = "x\u{1b}[2J\u{7f}\u{9b}31m\u{202e}\u{200d}\u{feff}\u{e0041}\"\\\n ü";
        let v = serde_json::json!({ "k\u{202e}": [evil] });
        let mut out = Vec::new();
        write_json(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text:?}");
        assert!(text.contains("\\u001b[2J\\u007f\\u009b31m\\u202e\\u200d\\ufeff\\udb40\\udc41"));
        assert!(text.contains('ü'), "safe text stays as it is: {text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn invisible_tags_and_separators_are_unsafe() {
        for c in ['\u{e0041}', '\u{e007f}', '\u{180e}', '\u{2028}', '\u{85}'] {
            assert!(is_unsafe(c), "{c:?}");
        }
        for c in ['a', 'ü', '→', '█', '⠿', '…', '\u{e0080}'] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    /// Characters that draw nothing (or nothing different) make two values look the
    /// same: `dns` and `dns` + a soft hyphen, a variation selector or a Hangul filler are
    /// told apart once sanitized.
    #[test]
    fn invisible_characters_are_shown() {
        let invisible = [
            '\u{ad}',
            '\u{34f}',
            '\u{115f}',
            '\u{1160}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{17b4}',
            '\u{206a}',
            '\u{206f}',
            '\u{2065}',
            '\u{fe00}',
            '\u{fe0f}',
            '\u{e0100}',
            '\u{e01ef}',
            '\u{1d173}',
            '\u{1bca0}',
        ];
        for c in invisible {
            assert!(is_unsafe(c), "{c:?}");
            let shown = sanitize(&format!("dns{c}")).into_owned();
            assert_ne!(shown, "dns");
            assert!(shown.starts_with("dns\\") && shown.is_ascii(), "{shown}");
        }
        // Printable neighbours stay as they are.
        for c in ['\u{ac}', '\u{ae}', '\u{3165}', '\u{fe10}', '\u{2070}'] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }
}
