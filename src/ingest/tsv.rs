//! Zeek's tab-separated format: header directives and data lines.
//!
//! A file may hold several header blocks (concatenated logs); each `#fields` line starts a
//! new schema for the lines after it. IoT-23's labelled logs write the last three fields
//! (`tunnel_parents   label   detailed-label`) as one tab column split by three spaces:
//! such a column is split into its parts.

use std::sync::Arc;

use super::column::{Column, Value};
use super::schema::{canonical_names, known_type, Kind, ZeekType};
use super::values;
use super::Part;

/// The separator IoT-23 uses inside its combined last column.
const SUB_SEP: &str = "   ";

/// The schema of the data lines that follow a header block.
#[derive(Debug, Clone)]
pub struct Header {
    /// Output column names (canonical), after splitting combined columns.
    pub names: Vec<String>,
    /// Output column types.
    pub types: Vec<ZeekType>,
    /// For each raw (tab) field, how many output columns it holds (1, or 3 for IoT-23).
    pub widths: Vec<usize>,
    sep: Vec<u8>,
    set_sep: Vec<u8>,
    empty: Vec<u8>,
    unset: Vec<u8>,
}

/// Header directives seen so far in a file; `#fields` and `#types` make a [`Header`].
#[derive(Debug, Clone)]
pub struct HeaderState {
    sep: Vec<u8>,
    set_sep: Vec<u8>,
    empty: Vec<u8>,
    unset: Vec<u8>,
    fields: Option<Vec<String>>,
    types: Option<Vec<String>>,
    /// `#path` values seen (the log's kind: conn, dns...).
    pub paths: Vec<String>,
    /// A `#separator` that cannot be one (a line end, an escape that does not decode), as
    /// written; the separator before it stays.
    pub bad_separator: Option<String>,
    current: Option<Arc<Header>>,
}

impl Default for HeaderState {
    fn default() -> Self {
        Self {
            sep: b"\t".to_vec(),
            set_sep: b",".to_vec(),
            empty: b"(empty)".to_vec(),
            unset: b"-".to_vec(),
            fields: None,
            types: None,
            paths: Vec::new(),
            bad_separator: None,
            current: None,
        }
    }
}

impl HeaderState {
    /// Takes one `#...` line. Unknown directives are comments and ignored.
    pub fn directive(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = line.strip_prefix(b"#separator") {
            // Written before the separator is known, so it is space-delimited.
            let raw = String::from_utf8_lossy(v);
            let raw = raw.trim();
            let v = values::unescape(raw.as_bytes()).into_owned().into_bytes();
            // A line end cannot separate fields of one line, and an escape that does not
            // decode (`\x`, `\xZZ`) is a broken header, not a two-byte separator.
            let broken = v.contains(&b'\n')
                || v.contains(&b'\r')
                || (raw.contains("\\x") && v == raw.as_bytes());
            if broken {
                self.bad_separator = Some(raw.to_string());
            } else if !v.is_empty() {
                self.sep = v;
                self.bad_separator = None;
            }
            return;
        }
        let Some(rest) = line.strip_prefix(b"#") else {
            return;
        };
        let (key, value) = match memchr::memmem::find(rest, &self.sep) {
            Some(i) => (&rest[..i], &rest[i + self.sep.len()..]),
            None => (rest, &rest[rest.len()..]),
        };
        let split = |v: &[u8], sep: &[u8]| -> Vec<String> {
            let s = String::from_utf8_lossy(v);
            let sep = String::from_utf8_lossy(sep);
            s.split(sep.as_ref()).map(str::to_string).collect()
        };
        match key {
            b"set_separator" => self.set_sep = values::unescape(value).into_owned().into(),
            b"empty_field" => self.empty = value.to_vec(),
            b"unset_field" => self.unset = value.to_vec(),
            b"path" => {
                let p = String::from_utf8_lossy(value).into_owned();
                if !self.paths.contains(&p) {
                    self.paths.push(p);
                }
            }
            b"fields" => {
                self.fields = Some(split(value, &self.sep));
                self.types = None;
                self.current = None;
            }
            b"types" => {
                self.types = Some(split(value, &self.sep));
                self.current = None;
            }
            _ => {}
        }
    }

    /// The schema for data lines at this point, or `None` before any `#fields`.
    pub fn header(&mut self) -> Option<Arc<Header>> {
        if self.current.is_none() {
            let fields = self.fields.as_ref()?;
            self.current = Some(Arc::new(self.build(fields)));
        }
        self.current.clone()
    }

    fn build(&self, fields: &[String]) -> Header {
        let mut raw_names = Vec::new();
        let mut types = Vec::new();
        let mut widths = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let parts: Vec<&str> = f.split(SUB_SEP).map(str::trim).collect();
            let given: Vec<&str> = self
                .types
                .as_ref()
                .and_then(|t| t.get(i))
                .map(|t| t.split(SUB_SEP).map(str::trim).collect())
                .unwrap_or_default();
            widths.push(parts.len());
            for (j, name) in parts.iter().enumerate() {
                raw_names.push(name.to_string());
                let t = match (given.len() == parts.len(), given.first()) {
                    (true, _) => Some(ZeekType::parse(given[j])),
                    (false, Some(t)) if j == 0 => Some(ZeekType::parse(t)),
                    _ => None,
                };
                types.push(t);
            }
        }
        let names = canonical_names(raw_names.iter().map(String::as_str));
        // A field with no type (no `#types` line, or a split column's extra parts) takes
        // the type Zeek gives that field name, else string.
        let types = types
            .into_iter()
            .zip(&names)
            .map(|(t, n)| {
                t.or_else(|| known_type(n))
                    .unwrap_or(ZeekType::parse("string"))
            })
            .collect();
        Header {
            names,
            types,
            widths,
            sep: self.sep.clone(),
            set_sep: self.set_sep.clone(),
            empty: self.empty.clone(),
            unset: self.unset.clone(),
        }
    }
}

/// Splits `line` on `sep` (one byte or several).
fn split_fields<'a>(line: &'a [u8], sep: &[u8], out: &mut Vec<&'a [u8]>) {
    out.clear();
    let mut start = 0;
    if sep.len() == 1 {
        for i in memchr::memchr_iter(sep[0], line) {
            out.push(&line[start..i]);
            start = i + 1;
        }
    } else {
        for i in memchr::memmem::find_iter(line, sep) {
            out.push(&line[start..i]);
            start = i + sep.len();
        }
    }
    out.push(&line[start..]);
}

// Inlined into the line's loop: returned through the stack, each value was written a
// part at a time and read back whole, a stalled store-to-load forward per field (the
// load at 10M rows went from 11.5 to 9.7 s).
#[inline(always)]
fn value<'a>(raw: &'a [u8], t: ZeekType, h: &Header) -> Result<Value<'a>, String> {
    if raw == h.unset.as_slice() {
        return Ok(Value::Null);
    }
    let is_empty = raw == h.empty.as_slice();
    let text = || std::str::from_utf8(raw).map_err(|_| "invalid UTF-8 in a number".to_string());
    let bad = |what: &str| format!("bad {what} {:?}", String::from_utf8_lossy(raw));
    Ok(match t.kind {
        Kind::Str => Value::Str(if is_empty {
            "".into()
        } else {
            values::unescape(raw)
        }),
        _ if is_empty && !matches!(t.kind, Kind::StrList | Kind::FloatList | Kind::IntList) => {
            Value::Null
        }
        Kind::Time => Value::Time(values::epoch_micros(text()?).ok_or_else(|| bad("time"))?),
        Kind::Float => match values::float(text()?).map_err(|_| bad("number"))? {
            Some(x) if t.micros => Value::Float(values::round_micros(x)),
            Some(x) => Value::Float(x),
            None => Value::Null,
        },
        Kind::Int => match values::int(raw) {
            Some(x) if x < 0 && t.unsigned => return Err(bad("count (negative)")),
            Some(x) => Value::Int(x),
            None => return Err(bad("integer")),
        },
        Kind::Bool => Value::Bool(values::boolean(text()?).ok_or_else(|| bad("bool"))?),
        Kind::StrList | Kind::FloatList | Kind::IntList => {
            let mut items = Vec::new();
            if !is_empty {
                split_fields(raw, &h.set_sep, &mut items);
            }
            match t.kind {
                Kind::StrList => {
                    Value::StrList(items.iter().map(|b| values::unescape(b)).collect())
                }
                Kind::FloatList => Value::FloatList(
                    items
                        .iter()
                        .map(|b| {
                            let s = std::str::from_utf8(b).map_err(|_| bad("number"))?;
                            let x = values::float(s)
                                .map_err(|_| bad("number"))?
                                .unwrap_or(f64::NAN);
                            Ok(if t.micros { values::round_micros(x) } else { x })
                        })
                        .collect::<Result<_, String>>()?,
                ),
                _ => Value::IntList(
                    items
                        .iter()
                        .map(|b| values::int(b).ok_or_else(|| bad("integer")))
                        .collect::<Result<_, String>>()?,
                ),
            }
        }
    })
}

/// Why a line of `found` fields is skipped.
fn field_count(h: &Header, found: usize) -> String {
    format!("expected {} fields, found {found}", h.widths.len())
}

/// Parses one data line into `out` (one value per output column).
fn line<'a>(
    line: &'a [u8],
    h: &Header,
    raw: &mut Vec<&'a [u8]>,
    out: &mut Vec<Value<'a>>,
) -> Result<(), String> {
    split_fields(line, &h.sep, raw);
    if raw.len() != h.widths.len() {
        return Err(field_count(h, raw.len()));
    }
    out.clear();
    let mut col = 0;
    for (r, &w) in raw.iter().zip(&h.widths) {
        if w == 1 {
            out.push(value(r, h.types[col], h)?);
            col += 1;
            continue;
        }
        let parts: Vec<&[u8]> = r.split_str_bytes(SUB_SEP.as_bytes());
        if parts.len() != w {
            return Err(format!(
                "expected {w} values separated by three spaces in field {}, found {}",
                h.names[col],
                parts.len()
            ));
        }
        for p in parts {
            out.push(value(p, h.types[col], h)?);
            col += 1;
        }
    }
    Ok(())
}

trait SplitBytes {
    fn split_str_bytes(&self, sep: &[u8]) -> Vec<&[u8]>;
}

impl SplitBytes for [u8] {
    fn split_str_bytes(&self, sep: &[u8]) -> Vec<&[u8]> {
        let mut v = Vec::new();
        split_fields(self, sep, &mut v);
        v
    }
}

/// Parses a run of data lines (no header lines inside) with one schema.
pub fn parse_chunk(data: &[u8], h: &Header) -> Part {
    // Values go straight into their columns while every one parses; a value that does not
    // leaves its line half pushed, and the run is parsed again with each line's values
    // gathered before any is pushed (gathered, they cost the load at 1M rows 6% more
    // processor time: each value is moved through the stack once more).
    if h.widths.iter().all(|&w| w == 1) {
        if let Some(part) = parse_lines(data, h, Push::Direct) {
            return part;
        }
    }
    parse_lines(data, h, Push::Collected).unwrap_or_default()
}

/// How [`parse_lines`] pushes a line's values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Push {
    /// Each as it is parsed (single-value fields only); a value that does not parse
    /// gives up the run (`None`).
    Direct,
    /// After the whole line has parsed.
    Collected,
}

/// [`parse_chunk`]'s loop over the lines, pushing their values as `push` says.
fn parse_lines(data: &[u8], h: &Header, push: Push) -> Option<Part> {
    let cap = data.len() / 128 + 16;
    let mut cols: Vec<Column> = h
        .names
        .iter()
        .zip(&h.types)
        .map(|(n, t)| Column::typed(n.clone(), t.kind, cap))
        .collect();
    let mut part = Part::default();
    let mut raw = Vec::with_capacity(h.widths.len());
    let mut vals = Vec::with_capacity(h.names.len());
    for (i, l) in super::lines(data).enumerate() {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            continue;
        }
        if l.len() > super::MAX_LINE {
            part.skip(i, format!("line longer than {} bytes", super::MAX_LINE));
            continue;
        }
        if memchr::memchr(0, l).is_some() {
            // Zeek escapes every control byte, so a raw NUL is corruption (a crash can
            // leave a run of them where a write was lost).
            part.skip(i, "NUL byte in the line".into());
            continue;
        }
        if push == Push::Direct {
            split_fields(l, &h.sep, &mut raw);
            if raw.len() != h.widths.len() {
                part.skip(i, field_count(h, raw.len()));
                continue;
            }
            for ((c, r), &t) in cols.iter_mut().zip(&raw).zip(&h.types) {
                c.push(value(r, t, h).ok()?);
            }
            part.rows += 1;
            continue;
        }
        match line(l, h, &mut raw, &mut vals) {
            Ok(()) => {
                for (c, v) in cols.iter_mut().zip(vals.drain(..)) {
                    c.push(v);
                }
                part.rows += 1;
            }
            Err(reason) => part.skip(i, reason),
        }
    }
    part.columns = cols.into_iter().map(Column::finish).collect();
    Some(part)
}
