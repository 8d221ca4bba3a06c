//! Parsers for single Zeek values: timestamps, numbers, booleans and escaped strings.

use std::borrow::Cow;

/// Latest timestamp accepted, in microseconds: the end of year 9999. Later is taken as
/// corrupt input.
const MAX_MICROS: i64 = 253_402_300_800_000_000;
/// Earliest timestamp accepted, in microseconds: the start of year 0. Earlier is taken as
/// corrupt input.
const MIN_MICROS: i64 = -62_167_219_200_000_000;

fn in_range(v: i64) -> bool {
    (MIN_MICROS..MAX_MICROS).contains(&v)
}

/// Parses an epoch timestamp written as decimal seconds (`1521911720.865716`) into
/// microseconds, exactly for up to six decimals (no float rounding); other forms
/// (`1.5e9`) go through f64. `None` for anything unparsable, non-finite or out of range.
pub fn epoch_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let dot = digits.iter().position(|&c| c == b'.');
    let (int_part, frac_part) = match dot {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &digits[..0]),
    };
    let all_digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit);
    if !int_part.is_empty() && int_part.len() <= 13 && all_digits(int_part) && all_digits(frac_part)
    {
        let mut secs: i64 = 0;
        for &c in int_part {
            secs = secs * 10 + i64::from(c - b'0');
        }
        let mut micros: i64 = 0;
        for i in 0..6 {
            micros = micros * 10 + frac_part.get(i).map_or(0, |&c| i64::from(c - b'0'));
        }
        // Round on the seventh decimal, as a float print would.
        if frac_part.get(6).is_some_and(|&c| c >= b'5') {
            micros += 1;
        }
        let v = secs.checked_mul(1_000_000)?.checked_add(micros)?;
        let v = if neg { -v } else { v };
        return in_range(v).then_some(v);
    }
    seconds_to_micros(s.parse::<f64>().ok()?)
}

/// Seconds as f64 to whole microseconds; `None` if not finite or out of range.
pub fn seconds_to_micros(x: f64) -> Option<i64> {
    let m = (x * 1e6).round();
    (m.is_finite() && m >= MIN_MICROS as f64 && m < MAX_MICROS as f64).then_some(m as i64)
}

/// Parses an ISO 8601 / RFC 3339 timestamp (`2018-03-24T17:15:20.865716Z`, with an offset
/// or none, meaning UTC) into microseconds since the epoch.
pub fn iso_micros(s: &str) -> Option<i64> {
    let v = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.timestamp_micros()
    } else {
        let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()?;
        t.and_utc().timestamp_micros()
    };
    in_range(v).then_some(v)
}

/// Rounds seconds to Zeek's microsecond resolution.
pub fn round_micros(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r.is_finite() {
        r
    } else {
        x
    }
}

/// Parses a float; `Err` if it is not a number. Non-finite values (`nan`, `inf`) parse
/// to `Ok(None)`: they are kept as unset rather than poisoning every statistic.
pub fn float(s: &str) -> Result<Option<f64>, std::num::ParseFloatError> {
    let x: f64 = s.parse()?;
    Ok(x.is_finite().then_some(x))
}

/// Parses a Zeek integer (`count`, `int`, `port`) straight from bytes: an optional sign
/// and decimal digits, `None` on anything else or on overflow.
pub fn int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negative, so that i64::MIN (one past i64::MAX in magnitude) parses.
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// Parses a Zeek bool (`T`/`F`, also `true`/`false`).
pub fn boolean(s: &str) -> Option<bool> {
    match s {
        "T" | "true" | "TRUE" | "True" => Some(true),
        "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Decodes Zeek's `\xNN` escapes (used for separators, non-printable and non-ASCII bytes
/// inside values) and turns invalid UTF-8 into U+FFFD. The bytes are kept as the log has
/// them otherwise: control characters are neutralised only where text is displayed.
pub fn unescape(b: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'\\', b).is_none() {
        return match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(b),
        };
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_exact() {
        assert_eq!(
            epoch_micros("1521911720.865716"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(epoch_micros("19.981745"), Some(19_981_745));
        assert_eq!(epoch_micros("5"), Some(5_000_000));
        assert_eq!(epoch_micros("1.5e9"), Some(1_500_000_000_000_000));
        assert_eq!(epoch_micros("1.0000005"), Some(1_000_001));
        assert_eq!(epoch_micros("-1.5"), Some(-1_500_000));
        assert_eq!(epoch_micros("abc"), None);
        assert_eq!(epoch_micros("1e300"), None);
        assert_eq!(epoch_micros("-62167219200"), Some(MIN_MICROS));
        assert_eq!(epoch_micros("-62167219201"), None);
        assert_eq!(epoch_micros("253402300799.999999"), Some(MAX_MICROS - 1));
        assert_eq!(epoch_micros("253402300800"), None);
        assert_eq!(seconds_to_micros(-1e11), None);
        assert_eq!(epoch_micros("nan"), None);
        assert_eq!(epoch_micros(""), None);
    }

    #[test]
    fn iso() {
        assert_eq!(
            iso_micros("2018-03-24T17:15:20.865716Z"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(
            iso_micros("2018-03-24T18:15:20.865716+01:00"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(
            iso_micros("2018-03-24T17:15:20"),
            Some(1_521_911_720_000_000)
        );
        assert_eq!(iso_micros("yesterday"), None);
    }

    #[test]
    fn integers() {
        assert_eq!(int(b"0"), Some(0));
        assert_eq!(int(b"65535"), Some(65535));
        assert_eq!(int(b"-12"), Some(-12));
        assert_eq!(int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(int(b"9223372036854775808"), None);
        assert_eq!(int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(int(b"-9223372036854775809"), None);
        assert_eq!(int(b"-0"), Some(0));
        assert_eq!(int(b""), None);
        assert_eq!(int(b"-"), None);
        assert_eq!(int(b"1.5"), None);
        assert_eq!(int(b"12a"), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"a\\x09b"), "a\tb");
        assert_eq!(unescape(b"\\x1b[31m"), "\u{1b}[31m");
        assert_eq!(unescape(b"plain"), "plain");
        assert_eq!(unescape(b"trail\\x4"), "trail\\x4");
        assert_eq!(unescape(b"bad\\xzz"), "bad\\xzz");
        assert_eq!(unescape(b"\xff"), "\u{fffd}");
    }

    #[test]
    fn rounding_matches_six_decimals() {
        assert_eq!(
            round_micros(0.0008699893951416016),
            "0.000870".parse::<f64>().unwrap()
        );
        assert_eq!(float("nan"), Ok(None));
        assert_eq!(float("1.5"), Ok(Some(1.5)));
        assert!(float("x").is_err());
    }
}
