//! Column builders: parsed values go straight into polars builders, one per column.
//!
//! TSV columns have a type from the header and never change it. JSON columns start
//! untyped and take the type of their first value; a later value of another type (an
//! integer column that meets a float, a number that meets a string) closes the current
//! piece and starts one of the new type. [`Column::finish`] casts the pieces to their common
//! type.

use std::borrow::Cow;

use polars::prelude::*;

use super::schema::Kind;

/// One parsed field value, borrowing from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Unset (`-` in TSV, an absent key or `null` in JSON).
    Null,
    /// Microseconds since the epoch.
    Time(i64),
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(Cow<'a, str>),
    /// A list of strings.
    StrList(Vec<Cow<'a, str>>),
    /// A list of floats.
    FloatList(Vec<f64>),
    /// A list of integers.
    IntList(Vec<i64>),
}

impl Value<'_> {
    fn kind(&self) -> Option<Kind> {
        Some(match self {
            Value::Null => return None,
            Value::Time(_) => Kind::Time,
            Value::Float(_) => Kind::Float,
            Value::Int(_) => Kind::Int,
            Value::Bool(_) => Kind::Bool,
            Value::Str(_) => Kind::Str,
            Value::StrList(_) => Kind::StrList,
            Value::FloatList(_) => Kind::FloatList,
            Value::IntList(_) => Kind::IntList,
        })
    }
}

enum Builder {
    /// Only nulls so far, no type known (JSON).
    Pending(usize),
    Time(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Bool(BooleanChunkedBuilder),
    Str(StringChunkedBuilder),
    StrList(ListStringChunkedBuilder),
    FloatList(ListPrimitiveChunkedBuilder<Float64Type>),
    IntList(ListPrimitiveChunkedBuilder<Int64Type>),
}

impl Builder {
    fn new(kind: Kind, cap: usize) -> Self {
        let n = PlSmallStr::EMPTY;
        match kind {
            Kind::Time => Builder::Time(PrimitiveChunkedBuilder::new(n, cap)),
            Kind::Float => Builder::Float(PrimitiveChunkedBuilder::new(n, cap)),
            Kind::Int => Builder::Int(PrimitiveChunkedBuilder::new(n, cap)),
            Kind::Bool => Builder::Bool(BooleanChunkedBuilder::new(n, cap)),
            Kind::Str => Builder::Str(StringChunkedBuilder::new(n, cap)),
            Kind::StrList => Builder::StrList(ListStringChunkedBuilder::new(n, cap, cap)),
            Kind::FloatList => Builder::FloatList(ListPrimitiveChunkedBuilder::new(
                n,
                cap,
                cap,
                DataType::Float64,
            )),
            Kind::IntList => Builder::IntList(ListPrimitiveChunkedBuilder::new(
                n,
                cap,
                cap,
                DataType::Int64,
            )),
        }
    }

    fn push_null(&mut self) {
        match self {
            Builder::Pending(n) => *n += 1,
            Builder::Time(b) | Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Str(b) => b.append_null(),
            Builder::StrList(b) => b.append_null(),
            Builder::FloatList(b) => b.append_null(),
            Builder::IntList(b) => b.append_null(),
        }
    }

    /// Appends a value whose kind matches the builder's; returns it back otherwise.
    fn push<'a>(&mut self, v: Value<'a>) -> Result<(), Value<'a>> {
        match (self, v) {
            (b, Value::Null) => b.push_null(),
            (Builder::Time(b), Value::Time(x)) => b.append_value(x),
            (Builder::Float(b), Value::Float(x)) => b.append_value(x),
            (Builder::Float(b), Value::Int(x)) => b.append_value(x as f64),
            (Builder::Int(b), Value::Int(x)) => b.append_value(x),
            (Builder::Bool(b), Value::Bool(x)) => b.append_value(x),
            (Builder::Str(b), Value::Str(s)) => b.append_value(s.as_ref()),
            (Builder::StrList(b), Value::StrList(l)) => {
                b.append_values_iter(l.iter().map(|s| s.as_ref()))
            }
            (Builder::FloatList(b), Value::FloatList(l)) => b.append_slice(&l),
            (Builder::FloatList(b), Value::IntList(l)) => {
                b.append_values_iter(l.iter().map(|&x| x as f64))
            }
            (Builder::IntList(b), Value::IntList(l)) => b.append_slice(&l),
            (_, v) => return Err(v),
        }
        Ok(())
    }

    fn finish(self) -> Option<Series> {
        Some(match self {
            Builder::Pending(n) => {
                if n == 0 {
                    return None;
                }
                Series::full_null(PlSmallStr::EMPTY, n, &DataType::Null)
            }
            Builder::Time(b) => b
                .finish()
                .into_datetime(TimeUnit::Microseconds, None)
                .into_series(),
            Builder::Float(b) => b.finish().into_series(),
            Builder::Int(b) => b.finish().into_series(),
            Builder::Bool(b) => b.finish().into_series(),
            Builder::Str(b) => b.finish().into_series(),
            Builder::StrList(mut b) => b.finish().into_series(),
            Builder::FloatList(mut b) => b.finish().into_series(),
            Builder::IntList(mut b) => b.finish().into_series(),
        })
    }
}

/// A column under construction.
pub struct Column {
    name: String,
    len: usize,
    pieces: Vec<Series>,
    builder: Builder,
    cap: usize,
}

impl Column {
    /// A column of a known kind (TSV).
    pub fn typed(name: String, kind: Kind, cap: usize) -> Self {
        Self {
            name,
            len: 0,
            pieces: Vec::new(),
            builder: Builder::new(kind, cap),
            cap,
        }
    }

    /// A column whose kind is taken from its first value (JSON); `nulls` rows are unset
    /// before it (the key first appeared after them).
    pub fn untyped(name: String, nulls: usize, cap: usize) -> Self {
        Self {
            name,
            len: nulls,
            pieces: Vec::new(),
            builder: Builder::Pending(nulls),
            cap,
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends one value; a value of another kind starts a new piece of that kind.
    pub fn push(&mut self, v: Value<'_>) {
        self.len += 1;
        let v = match self.builder.push(v) {
            Ok(()) => return,
            Err(v) => v,
        };
        let kind = v.kind().unwrap_or(Kind::Str);
        let old = std::mem::replace(&mut self.builder, Builder::new(kind, self.cap));
        if let Builder::Pending(n) = old {
            for _ in 0..n {
                self.builder.push_null();
            }
        } else if let Some(s) = old.finish() {
            self.pieces.push(s);
        }
        // The new builder has the value's own kind, so this cannot fail.
        let _ = self.builder.push(v);
    }

    /// Appends an unset value.
    pub fn push_null(&mut self) {
        self.len += 1;
        self.builder.push_null();
    }

    /// The finished series, its pieces cast to their common type.
    pub fn finish(self) -> Series {
        let Column {
            name,
            len,
            mut pieces,
            builder,
            ..
        } = self;
        let name = PlSmallStr::from(name.as_str());
        if let Some(s) = builder.finish() {
            pieces.push(s);
        }
        let dtype = common_dtype(pieces.iter().map(|s| s.dtype()));
        let mut out: Option<Series> = None;
        for p in pieces {
            let p = cast_or_null(p, &dtype);
            match &mut out {
                None => out = Some(p),
                Some(o) => {
                    // Same dtype after the cast, so appending cannot fail.
                    let _ = o.append(&p);
                }
            }
        }
        let mut s = out.unwrap_or_else(|| Series::full_null(PlSmallStr::EMPTY, len, &dtype));
        s.rename(name);
        s
    }
}

/// The type that every piece of a column can be cast to: the one type if they agree
/// (nulls aside), f64 for a mix of integers and floats, a list of f64 for lists of both,
/// otherwise strings.
pub fn common_dtype<'a>(dtypes: impl IntoIterator<Item = &'a DataType>) -> DataType {
    let mut out: Option<DataType> = None;
    for d in dtypes {
        if d == &DataType::Null {
            continue;
        }
        out = Some(match out {
            None => d.clone(),
            Some(o) if &o == d => o,
            Some(o) => {
                let num = |t: &DataType| matches!(t, DataType::Int64 | DataType::Float64);
                let list_num = |t: &DataType| matches!(t, DataType::List(i) if num(i));
                if num(&o) && num(d) {
                    DataType::Float64
                } else if list_num(&o) && list_num(d) {
                    DataType::List(Box::new(DataType::Float64))
                } else {
                    DataType::String
                }
            }
        });
    }
    out.unwrap_or(DataType::Null)
}

/// Casts a piece to `dtype`; where polars cannot cast (a list to a string, say) the piece
/// becomes nulls of that type rather than failing the whole load.
pub fn cast_or_null(s: Series, dtype: &DataType) -> Series {
    if s.dtype() == dtype {
        return s;
    }
    let source = if matches!(s.dtype(), DataType::List(_)) && dtype == &DataType::String {
        None
    } else {
        s.cast(dtype).ok()
    };
    source.unwrap_or_else(|| Series::full_null(s.name().clone(), s.len(), dtype))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_int_then_float_becomes_float() {
        let mut c = Column::untyped("x".into(), 1, 4);
        c.push(Value::Int(3));
        c.push(Value::Float(2.5));
        c.push_null();
        let s = c.finish();
        assert_eq!(s.dtype(), &DataType::Float64);
        let v: Vec<Option<f64>> = s.f64().unwrap().iter().collect();
        assert_eq!(v, vec![None, Some(3.0), Some(2.5), None]);
    }

    #[test]
    fn number_then_string_becomes_string() {
        let mut c = Column::untyped("x".into(), 0, 4);
        c.push(Value::Int(7));
        c.push(Value::Str("a".into()));
        let s = c.finish();
        assert_eq!(s.dtype(), &DataType::String);
        let v: Vec<Option<&str>> = s.str().unwrap().iter().collect();
        assert_eq!(v, vec![Some("7"), Some("a")]);
    }

    #[test]
    fn all_null_column_keeps_its_length() {
        let mut c = Column::untyped("x".into(), 2, 4);
        c.push_null();
        let s = c.finish();
        assert_eq!(s.len(), 3);
        assert_eq!(s.null_count(), 3);
    }
}
