//! Zeek's JSON-lines format: one object per line, absent keys are unset.
//!
//! JSON carries no Zeek types, so a column takes the type of its values (integers, floats,
//! strings, booleans, arrays); the few fields whose meaning the values cannot show are
//! typed by name: `ts` (epoch seconds or ISO 8601) becomes a time, and intervals
//! (`duration`, `rtt`, `TTLs`...) are rounded to microseconds as Zeek's TSV writer
//! prints them. Nested objects are flattened with dotted names (`id.orig_h`). Zeek's
//! metadata keys `_path` (kept as the log's path) and `_write_ts` are not columns.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use polars::prelude::{DataType, Series, TimeUnit};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::column::{Column, Value};
use super::schema::{canonical_name, known_type, Kind, ZeekType};
use super::values;
use super::Part;

/// Distinct `_path` values kept per run of lines: far more than Zeek's logs (a shipper's
/// stream of every log has a few dozen); a hostile file's further ones go with the first.
const MAX_PATHS: usize = 4096;

/// A JSON value as parsed, borrowing strings from the line where it can.
#[derive(Debug)]
enum JVal<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<JVal<'a>>),
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

struct JValVisitor;

impl<'de> Visitor<'de> for JValVisitor {
    type Value = JVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JVal::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JVal::Uint(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(JVal::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(JVal::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            v.push((k.0, map.next_value()?));
        }
        Ok(JVal::Obj(v))
    }
}

impl<'de> Deserialize<'de> for JVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JValVisitor)
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_str(JValVisitor)? {
            JVal::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("object key is not a string")),
        }
    }
}

/// Flattens nested objects into `prefix.key` pairs.
fn flatten<'a>(
    prefix: &str,
    pairs: Vec<(Cow<'a, str>, JVal<'a>)>,
    out: &mut Vec<(Cow<'a, str>, JVal<'a>)>,
) {
    for (k, v) in pairs {
        let key = if prefix.is_empty() {
            k
        } else {
            Cow::Owned(format!("{prefix}.{k}"))
        };
        match v {
            JVal::Obj(inner) => flatten(&key, inner, out),
            v => out.push((key, v)),
        }
    }
}

fn json_text(v: &JVal) -> String {
    match v {
        JVal::Null => "null".into(),
        JVal::Bool(b) => b.to_string(),
        JVal::Int(i) => i.to_string(),
        JVal::Uint(u) => u.to_string(),
        JVal::Float(f) => f.to_string(),
        JVal::Str(s) => s.to_string(),
        JVal::Arr(a) => format!(
            "[{}]",
            a.iter().map(json_text).collect::<Vec<_>>().join(",")
        ),
        JVal::Obj(_) => "{..}".into(),
    }
}

fn as_f64(v: &JVal) -> Option<f64> {
    match *v {
        JVal::Int(i) => Some(i as f64),
        JVal::Uint(u) => Some(u as f64),
        JVal::Float(f) => Some(f),
        _ => None,
    }
}

/// Converts a JSON value to a column value, given what the field name says.
fn convert<'a>(name: &str, known: Option<ZeekType>, v: JVal<'a>) -> Result<Value<'a>, String> {
    let micros = known.is_some_and(|t| t.micros);
    if known.is_some_and(|t| t.kind == Kind::Time) {
        let t = match &v {
            JVal::Null => return Ok(Value::Null),
            JVal::Str(s) => values::epoch_micros(s).or_else(|| values::iso_micros(s)),
            other => as_f64(other).and_then(values::seconds_to_micros),
        };
        return t
            .map(Value::Time)
            .ok_or_else(|| format!("bad time in {name}: {}", json_text(&v)));
    }
    // A well-known numeric field takes numbers only (a number written as a string is
    // read as that number); anything else makes the line malformed, as in TSV.
    let v = match (known.map(|t| t.kind), v) {
        (Some(Kind::Int | Kind::Float), JVal::Str(s)) => {
            let n = s.trim();
            match (values::int(n.as_bytes()), values::float(n)) {
                (Some(i), _) => JVal::Int(i),
                (None, Ok(Some(x))) => JVal::Float(x),
                (None, Ok(None)) => JVal::Null,
                (None, Err(_)) => return Err(format!("bad number in {name}: {:?}", s.as_ref())),
            }
        }
        (Some(Kind::Int | Kind::Float), v @ (JVal::Bool(_) | JVal::Arr(_) | JVal::Obj(_))) => {
            return Err(format!("bad number in {name}: {}", json_text(&v)));
        }
        // A well-known text field (uid, service, addresses) keeps text even when a writer
        // gave a number.
        (Some(Kind::Str), v @ (JVal::Bool(_) | JVal::Int(_) | JVal::Uint(_) | JVal::Float(_))) => {
            JVal::Str(Cow::Owned(json_text(&v)))
        }
        (_, v) => v,
    };
    if known.is_some_and(|t| t.unsigned) && as_f64(&v).is_some_and(|x| x < 0.0) {
        return Err(format!("bad count (negative) in {name}: {}", json_text(&v)));
    }
    Ok(match v {
        JVal::Null => Value::Null,
        JVal::Bool(b) => Value::Bool(b),
        JVal::Int(i) if !micros => Value::Int(i),
        JVal::Uint(u) if !micros && u <= i64::MAX as u64 => Value::Int(u as i64),
        JVal::Int(_) | JVal::Uint(_) | JVal::Float(_) => {
            let x = as_f64(&v).unwrap_or(f64::NAN);
            if !x.is_finite() {
                Value::Null
            } else if micros {
                Value::Float(values::round_micros(x))
            } else {
                Value::Float(x)
            }
        }
        JVal::Str(s) => Value::Str(s),
        JVal::Arr(items) => {
            let all_int = items
                .iter()
                .all(|x| matches!(x, JVal::Int(_) | JVal::Uint(_)));
            let all_num = items.iter().all(|x| as_f64(x).is_some());
            if all_num && !items.is_empty() && (micros || !all_int) {
                Value::FloatList(
                    items
                        .iter()
                        .map(|x| {
                            let f = as_f64(x).unwrap_or(f64::NAN);
                            if micros {
                                values::round_micros(f)
                            } else {
                                f
                            }
                        })
                        .collect(),
                )
            } else if all_int && !items.is_empty() {
                Value::IntList(
                    items
                        .iter()
                        .map(|x| match *x {
                            JVal::Int(i) => i,
                            JVal::Uint(u) => i64::try_from(u).unwrap_or(i64::MAX),
                            _ => 0,
                        })
                        .collect(),
                )
            } else if items.is_empty() {
                match known.map(|t| t.kind) {
                    Some(Kind::FloatList) => Value::FloatList(Vec::new()),
                    Some(Kind::IntList) => Value::IntList(Vec::new()),
                    _ => Value::StrList(Vec::new()),
                }
            } else {
                Value::StrList(
                    items
                        .into_iter()
                        .map(|x| match x {
                            JVal::Str(s) => s,
                            other => Cow::Owned(json_text(&other)),
                        })
                        .collect(),
                )
            }
        }
        JVal::Obj(_) => Value::Str(Cow::Borrowed("{..}")),
    })
}

/// Columns of a JSON chunk, created as keys appear.
struct Columns {
    cols: Vec<Column>,
    /// The type Zeek gives each column's name, if known.
    known: Vec<Option<ZeekType>>,
    /// Raw key → column index.
    by_key: HashMap<String, usize>,
    /// Row index of the last value each column received, to ignore duplicate keys and to
    /// fill absent keys with nulls.
    filled: Vec<usize>,
    cap: usize,
    /// Most columns.
    max: usize,
}

impl Columns {
    /// The column of `key`, made if new (`None` past `max` columns). Columns are named by
    /// their keys as written and typed by the Zeek field the key names; the file's
    /// columns get Zeek's names once all its parts are read.
    fn index(&mut self, key: &str, rows: usize) -> Option<usize> {
        if let Some(&i) = self.by_key.get(key) {
            return Some(i);
        }
        if self.cols.len() >= self.max {
            return None;
        }
        self.known.push(known_type(&canonical_name(key)));
        self.cols
            .push(Column::untyped(key.to_string(), rows, self.cap));
        self.filled.push(usize::MAX);
        self.by_key.insert(key.to_string(), self.cols.len() - 1);
        Some(self.cols.len() - 1)
    }
}

/// Parses a run of JSON lines, making at most `max_columns` columns: at a record with a
/// key beyond them, parsing stops with the part marked too wide.
pub fn parse_chunk(data: &[u8], max_columns: usize) -> Part {
    let mut part = Part::default();
    let mut c = Columns {
        cols: Vec::new(),
        known: Vec::new(),
        by_key: HashMap::new(),
        filled: Vec::new(),
        cap: data.len() / 200 + 16,
        max: max_columns,
    };
    let mut pairs = Vec::new();
    let mut vals: Vec<(usize, Value)> = Vec::new();
    let mut path_ids: HashMap<String, u16> = HashMap::new();
    for (i, l) in super::lines(data).enumerate() {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if l.len() > super::MAX_LINE {
            part.skip(i, format!("line longer than {} bytes", super::MAX_LINE));
            continue;
        }
        let obj = match serde_json::from_slice::<JVal>(l) {
            Ok(JVal::Obj(o)) => o,
            Ok(_) => {
                part.skip(i, "not a JSON object".into());
                continue;
            }
            Err(e) => {
                part.skip(i, format!("invalid JSON: {e}"));
                continue;
            }
        };
        pairs.clear();
        flatten("", obj, &mut pairs);
        vals.clear();
        let mut bad = None;
        let mut row_path = super::NO_PATH;
        for (k, v) in pairs.drain(..) {
            match k.as_ref() {
                "_write_ts" => continue,
                "_path" => {
                    // Looked up by hash: a file naming a new path on every line is not
                    // looked through each time.
                    if let JVal::Str(p) = &v {
                        match path_ids.get(p.as_ref()) {
                            Some(&k) => row_path = k,
                            None if part.paths.len() < MAX_PATHS => {
                                part.paths.push(p.to_string());
                                row_path = (part.paths.len() - 1) as u16;
                                path_ids.insert(p.to_string(), row_path);
                            }
                            None => {}
                        }
                    }
                    continue;
                }
                _ => {}
            }
            let Some(idx) = c.index(&k, part.rows) else {
                part.too_wide = true;
                break;
            };
            match convert(c.cols[idx].name(), c.known[idx], v) {
                Ok(v) => vals.push((idx, v)),
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
        }
        if part.too_wide {
            break;
        }
        if let Some(reason) = bad {
            part.skip(i, reason);
            continue;
        }
        if vals.is_empty() {
            // `{}` (or only Zeek's metadata keys): no field to make a row of.
            part.skip(i, "JSON object with no fields".into());
            continue;
        }
        let row = part.rows;
        for (idx, v) in vals.drain(..) {
            if c.filled[idx] != row {
                c.filled[idx] = row;
                c.cols[idx].push(v);
            }
        }
        for (col, f) in c.cols.iter_mut().zip(&mut c.filled) {
            if *f != row {
                *f = row;
                col.push_null();
            }
        }
        part.rows += 1;
        part.row_paths.push(row_path);
    }
    // A run of one log (or of logs naming none) needs no path per row.
    if part.paths.len() < 2 {
        part.row_paths = Vec::new();
    }
    part.columns = c
        .cols
        .into_iter()
        .zip(&c.known)
        .map(|(col, known)| {
            let s = col.finish();
            // A well-known field with no value in this chunk still has its type, so an
            // all-unset `orig_bytes` stays a numeric column.
            match known.and_then(|t| scalar_dtype(t.kind)) {
                Some(d) if s.dtype() == &DataType::Null => {
                    Series::full_null(s.name().clone(), s.len(), &d)
                }
                _ => s,
            }
        })
        .collect();
    part
}

/// The frame type of a scalar kind.
fn scalar_dtype(kind: Kind) -> Option<DataType> {
    Some(match kind {
        Kind::Time => DataType::Datetime(TimeUnit::Microseconds, None),
        Kind::Float => DataType::Float64,
        Kind::Int => DataType::Int64,
        Kind::Bool => DataType::Boolean,
        Kind::Str => DataType::String,
        Kind::StrList | Kind::FloatList | Kind::IntList => return None,
    })
}
