//! Neutralising log text before it reaches a terminal.
//!
//! Zeek log fields are attacker-controlled: a crafted HTTP header or DNS name can carry
//! escape sequences (CSI colour changes, OSC 52 clipboard writes, DCS), bell, backspace and
//! carriage return to overwrite what the operator sees, or bidi overrides and zero-width
//! characters to disguise a name. Every string from a log goes through [`sanitize`] before
//! any widget or table prints it; machine formats (CSV, JSON) escape by their own rules
//! instead.

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
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
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
}
