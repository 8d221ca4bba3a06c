//! Text columns, held as a dictionary where their values repeat.
//!
//! A conn log's text fields are mostly a handful of values: `proto`, `service`,
//! `conn_state`, `history`, the labels, and the few thousand addresses of a network. As
//! plain strings each row costs a 16-byte view (and the bytes of a value over 12
//! characters once more); as dictionary codes it costs 4 bytes, plus each distinct value
//! once. [`compact`] turns every text column whose values repeat enough into polars'
//! categorical type (one dictionary shared by every such column of every log loaded);
//! [`Texts`] reads either kind as `&str`, so that nothing past loading needs to know which
//! it is. The values are exactly those of the log: only how they are held changes.
//!
//! polars' own cast builds the dictionary with one global lock-free table, row by row;
//! this builds one small table per chunk in parallel and meets the shared one once per
//! distinct value, and gives up early on a column of unique values (uids).

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// A column is held as a dictionary when it has at most one distinct value per this many
/// rows: a dictionary entry (the text, its hash and two table slots) costs about as much
/// as four rows' 12 saved bytes, so below this share it saves little or nothing.
const ROWS_PER_VALUE: usize = 4;

/// A local code for an unset value.
const UNSET: u32 = u32::MAX;

/// Whether `dtype` is text, plain or as a dictionary.
pub fn is_text(dtype: &DataType) -> bool {
    matches!(dtype, DataType::String | DataType::Categorical(..))
}

/// The categorical type every compacted column has: polars' global categories, so that
/// columns of logs loaded apart (a followed log's new rows, several files) join without a
/// cast of their codes.
fn coded_dtype() -> DataType {
    DataType::from_categories(Categories::global())
}

/// A text column's values, however they are held.
#[derive(Clone, Copy)]
pub enum Texts<'a> {
    /// Strings.
    Plain(&'a StringChunked),
    /// Dictionary codes.
    Coded(&'a Categorical32Chunked),
}

impl<'a> Texts<'a> {
    /// The values of `col` if it is text.
    pub fn of(col: &'a Column) -> Option<Self> {
        match col.dtype() {
            DataType::String => col.str().ok().map(Texts::Plain),
            DataType::Categorical(..) => col.cat32().ok().map(Texts::Coded),
            _ => None,
        }
    }

    /// The values of the column `name` of `frame`, if it has such a text column.
    pub fn column(frame: &'a DataFrame, name: &str) -> Option<Self> {
        Self::of(frame.column(name).ok()?)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Texts::Plain(ca) => ca.len(),
            Texts::Coded(ca) => ca.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each row's value, `None` where unset.
    pub fn iter(self) -> Box<dyn Iterator<Item = Option<&'a str>> + 'a> {
        match self {
            Texts::Plain(ca) => Box::new(ca.iter()),
            Texts::Coded(ca) => Box::new(ca.iter_str()),
        }
    }

    /// Each row's value, collected.
    pub fn to_vec(self) -> Vec<Option<&'a str>> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }
}

/// Holds each text column of `columns` whose values repeat enough as a dictionary
/// ([`ROWS_PER_VALUE`]); others are left as they are. Columns are done in parallel.
pub fn compact(columns: &mut [Column]) {
    columns.par_iter_mut().for_each(|c| {
        if c.dtype() == &DataType::String {
            if let Some(coded) = coded(c.as_materialized_series()) {
                *c = coded.into();
            }
        }
    });
}

/// `df` with its dictionary columns as plain strings (for a piece of rows written out,
/// which every reader then reads as text, as the log wrote it).
pub fn plain(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::Categorical(..)))
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let s = as_strings(df.column(&name)?.as_materialized_series().clone());
        df.with_column(s.into())?;
    }
    Ok(df)
}

/// `s` as strings if it is held as dictionary codes, else as it is.
pub fn as_strings(s: Series) -> Series {
    match s.dtype() {
        DataType::Categorical(..) => s.cast(&DataType::String).unwrap_or(s),
        _ => s,
    }
}

/// A string series as dictionary codes, or `None` if it has too many distinct values.
fn coded(s: &Series) -> Option<Series> {
    let ca = s.str().ok()?;
    let n = ca.len();
    if n == 0 {
        return None;
    }
    let most = n / ROWS_PER_VALUE;
    // Each chunk's local codes and distinct values, in parallel; a chunk that alone has
    // too many values stops its column early.
    let locals: Option<Vec<(Vec<u32>, Vec<&str>)>> = ca
        .downcast_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|arr| {
            let limit = most.min(arr.len() / ROWS_PER_VALUE + 1);
            let mut table: FxHashMap<&str, u32> = FxHashMap::default();
            let mut values: Vec<&str> = Vec::new();
            let mut codes = Vec::with_capacity(arr.len());
            for v in arr.iter() {
                let code = match v {
                    None => UNSET,
                    Some(v) => *table.entry(v).or_insert_with(|| {
                        values.push(v);
                        (values.len() - 1) as u32
                    }),
                };
                if values.len() > limit {
                    return None;
                }
                codes.push(code);
            }
            Some((codes, values))
        })
        .collect();
    let locals = locals?;
    if locals.iter().map(|(_, v)| v.len()).sum::<usize>() > most.max(1) {
        return None;
    }
    let dtype = coded_dtype();
    let DataType::Categorical(_, mapping) = &dtype else {
        return None;
    };
    let mut phys: Option<UInt32Chunked> = None;
    for (codes, values) in locals {
        let ids = values
            .iter()
            .map(|v| mapping.insert_cat(v))
            .collect::<PolarsResult<Vec<u32>>>()
            .ok()?;
        let part: UInt32Chunked = codes
            .iter()
            .map(|&c| (c != UNSET).then(|| ids[c as usize]))
            .collect();
        match &mut phys {
            None => phys = Some(part),
            Some(p) => p.append(&part).ok()?,
        }
    }
    let phys = phys?.with_name(s.name().clone());
    Some(Categorical32Chunked::from_cats_and_dtype(phys, dtype.clone()).into_series())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[Option<&str>]) -> Column {
        Series::new("s".into(), v).into()
    }

    #[test]
    fn repeated_values_become_codes_and_read_back_the_same() {
        let v: Vec<Option<&str>> = (0..400)
            .map(|i| match i % 5 {
                0 => None,
                1 => Some("S0"),
                2 => Some("SF"),
                3 => Some("REJ"),
                _ => Some("S0"),
            })
            .collect();
        let mut cols = vec![strings(&v)];
        compact(&mut cols);
        assert!(matches!(cols[0].dtype(), DataType::Categorical(..)));
        assert_eq!(Texts::of(&cols[0]).unwrap().to_vec(), v);
        assert_eq!(cols[0].null_count(), 80);
    }

    #[test]
    fn unique_values_stay_strings() {
        let owned: Vec<String> = (0..1000).map(|i| format!("C{i:017}")).collect();
        let v: Vec<Option<&str>> = owned.iter().map(|s| Some(s.as_str())).collect();
        let mut cols = vec![strings(&v)];
        compact(&mut cols);
        assert_eq!(cols[0].dtype(), &DataType::String);
        assert_eq!(Texts::of(&cols[0]).unwrap().to_vec(), v);
    }

    /// A followed window's rows and a new batch whose field changed type (JSON has no
    /// types): joined by text, never by dictionary code.
    #[test]
    fn a_window_and_a_batch_of_another_type_join_by_text() {
        let states: Vec<Option<&str>> = (0..40).map(|i| Some(["S0", "SF"][i % 2])).collect();
        let mut a = vec![strings(&states)];
        compact(&mut a);
        assert!(matches!(a[0].dtype(), DataType::Categorical(..)));
        let window = DataFrame::new(40, a.clone()).unwrap();
        let numbers = DataFrame::new(2, vec![Series::new("s".into(), [7i64, 0]).into()]).unwrap();
        let joined = crate::ingest::concat(&window, &numbers).unwrap();
        let texts = Texts::of(joined.column("s").unwrap()).unwrap().to_vec();
        assert_eq!(&texts[..2], &[Some("S0"), Some("SF")]);
        assert_eq!(
            &texts[40..],
            &[Some("7"), Some("0")],
            "numbers as their text"
        );
        // The other way: a window of numbers meets text; text that is no number is unset.
        let words: Vec<Option<&str>> = (0..40).map(|i| Some(["12", "x"][i % 2])).collect();
        let mut b = vec![strings(&words)];
        compact(&mut b);
        let batch = DataFrame::new(40, b).unwrap();
        let ints = DataFrame::new(1, vec![Series::new("s".into(), [5i64]).into()]).unwrap();
        let joined = crate::ingest::concat(&ints, &batch).unwrap();
        let v: Vec<Option<i64>> = joined.column("s").unwrap().i64().unwrap().iter().collect();
        assert_eq!(&v[..3], &[Some(5), Some(12), None]);
    }

    /// The first rows of a window (nothing to join them to) keep their dictionary.
    #[test]
    fn rows_joined_to_nothing_stay_as_they_are() {
        let states: Vec<Option<&str>> = (0..40).map(|i| Some(["S0", "SF"][i % 2])).collect();
        let mut a = vec![strings(&states), Series::new("n".into(), 0..40i64).into()];
        compact(&mut a);
        let rows = DataFrame::new(40, a).unwrap();
        let joined = crate::ingest::concat(&DataFrame::empty(), &rows).unwrap();
        assert!(matches!(
            joined.column("s").unwrap().dtype(),
            DataType::Categorical(..)
        ));
        assert!(joined.equals_missing(&rows));
        let texts = Texts::of(joined.column("s").unwrap()).unwrap().to_vec();
        assert_eq!(texts, states);
    }

    #[test]
    fn compacted_logs_join_without_losing_values() {
        // Two logs compacted apart, as a followed log's rows and its new batch are.
        let a: Vec<Option<&str>> = (0..100)
            .map(|i| Some(["tcp", "udp", "icmp", "tcp"][i % 4]))
            .collect();
        let b: Vec<Option<&str>> = (0..60)
            .map(|i| Some(["sctp", "tcp", "sctp"][i % 3]))
            .collect();
        let (mut ca, mut cb) = (vec![strings(&a)], vec![strings(&b)]);
        compact(&mut ca);
        compact(&mut cb);
        assert!(matches!(ca[0].dtype(), DataType::Categorical(..)));
        assert!(matches!(cb[0].dtype(), DataType::Categorical(..)));
        let mut joined = ca[0].as_materialized_series().clone();
        joined.append(cb[0].as_materialized_series()).unwrap();
        let want: Vec<Option<&str>> = a.iter().chain(&b).copied().collect();
        let col: Column = joined.into();
        assert_eq!(Texts::of(&col).unwrap().to_vec(), want);
    }
}
