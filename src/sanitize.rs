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
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
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
}
