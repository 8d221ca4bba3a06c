//! Why a row was flagged, in words an operator reads at a glance.
//!
//! Each feature of the row is compared with the training rows: a numeric value by how far
//! into a tail of their distribution it lies (the share of training rows at least as
//! extreme, on its side), a categorical value by how rare it is among them. The features
//! with the smallest such share are the reasons, worded as `resp_bytes 41x median`,
//! `duration 0 (median 1.2)` or `conn_state S0 rare 0.3%`.

use crate::features::{Matrix, Raw};

/// A feature that makes a row unusual.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// The feature's column.
    pub feature: String,
    /// The explanation.
    pub text: String,
    /// Share of training rows at least as extreme (smaller = more unusual).
    pub share: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Reference {
    Num { sorted: Vec<f64>, median: f64 },
    Cat { n: usize },
}

/// Per-feature reference distributions from the training rows of a matrix.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Explainer {
    refs: Vec<Reference>,
}

/// Shares above this are ordinary and never given as a reason.
const ORDINARY: f64 = 0.2;

impl Explainer {
    /// Builds the reference distributions of `m`'s training rows.
    pub fn new(m: &Matrix) -> Self {
        let rows: Vec<usize> = (0..m.train.len()).filter(|&i| m.train[i]).collect();
        Self::of_rows(m, &rows)
    }

    /// Builds the reference distributions of numeric features from the matrix rows
    /// `rows` (the rows the detectors were fitted on: a sample of the training rows on a
    /// large log, which keeps the references, and a saved model, bounded); a categorical
    /// value's share is among all training rows.
    pub fn of_rows(m: &Matrix, rows: &[usize]) -> Self {
        let refs = m
            .raw
            .iter()
            .map(|r| match r {
                Raw::Num(v) => {
                    let mut sorted: Vec<f64> = v.gather(rows);
                    sorted.sort_unstable_by(f64::total_cmp);
                    let median = crate::features::quantile_sorted(&sorted, 0.5);
                    Reference::Num { sorted, median }
                }
                Raw::Cat { .. } => Reference::Cat { n: m.n_train },
            })
            .collect();
        Self { refs }
    }

    /// Whether a saved explainer has a reference for each of `features` features.
    pub fn fits(&self, features: usize) -> bool {
        self.refs.len() == features
    }

    /// Up to `top` reasons for matrix row `i`, most unusual first.
    pub fn explain(&self, m: &Matrix, i: usize, top: usize) -> Vec<Reason> {
        self.explain_raw(&m.features, &m.raw, i, top)
    }

    /// Up to `top` reasons for row `i` of the raw feature values `raw` (of `features`,
    /// the features of the matrix the explainer was built from), most unusual first.
    pub fn explain_raw(
        &self,
        features: &[crate::features::Feature],
        raw: &[Raw],
        i: usize,
        top: usize,
    ) -> Vec<Reason> {
        self.explain_with(features, raw, i, &|j| raw[j].number(i), top)
    }

    /// [`Explainer::explain_raw`] with each numeric feature's value of the row given by
    /// `value` (feature index to value), as read for a block of rows at once.
    pub fn explain_with(
        &self,
        features: &[crate::features::Feature],
        raw: &[Raw],
        i: usize,
        value: &dyn Fn(usize) -> f64,
        top: usize,
    ) -> Vec<Reason> {
        // Every feature's share first; only the `top` most unusual are put into words.
        let mut unusual: Vec<(usize, f64)> = Vec::new();
        for (j, (raw, r)) in raw.iter().zip(&self.refs).enumerate() {
            let share = match (raw, r) {
                (Raw::Num(_), Reference::Num { sorted, median }) => {
                    let x = value(j);
                    if x == *median {
                        continue;
                    }
                    let n = sorted.len() as f64;
                    // Share of training rows at least as far out on x's side.
                    if x > *median {
                        let above = sorted.len() - sorted.partition_point(|&s| s <= x);
                        (above as f64 + 1.0) / (n + 1.0)
                    } else {
                        let below = sorted.partition_point(|&s| s < x);
                        (below as f64 + 1.0) / (n + 1.0)
                    }
                }
                (Raw::Cat { codes, counts, .. }, Reference::Cat { n }) => {
                    (counts[codes[i] as usize] as f64 + 1.0) / (*n as f64 + 1.0)
                }
                _ => continue,
            };
            if share <= ORDINARY {
                unusual.push((j, share));
            }
        }
        // Stable: equal shares keep the features' order.
        unusual.sort_by(|a, b| a.1.total_cmp(&b.1));
        unusual.truncate(top);
        unusual
            .into_iter()
            .filter_map(|(j, share)| {
                let column = &features[j].column;
                let text = match (&raw[j], &self.refs[j]) {
                    (Raw::Num(_), Reference::Num { median, .. }) => {
                        let x = value(j);
                        if x > *median && *median > 0.0 && x / median >= 2.0 {
                            format!("{column} {}x median", ratio(x / median))
                        } else {
                            format!("{column} {} (median {})", number(x), number(*median))
                        }
                    }
                    (
                        Raw::Cat {
                            codes,
                            vocab,
                            counts,
                        },
                        Reference::Cat { n },
                    ) => {
                        let c = codes[i] as usize;
                        if counts[c] == 0 {
                            format!("{column} {} unseen", vocab[c])
                        } else {
                            let p = percent(counts[c] as f64 / *n as f64);
                            format!("{column} {} rare {p}", vocab[c])
                        }
                    }
                    _ => return None,
                };
                Some(Reason {
                    feature: column.clone(),
                    text,
                    share,
                })
            })
            .collect()
    }
}

/// A ratio for text: `2.5`, `41`, `2041172`.
fn ratio(r: f64) -> String {
    if r.is_infinite() {
        // x / median beyond a double: x near the largest double, the median small.
        "over 1e308".into()
    } else if r >= 1e6 {
        format!("{r:.1e}")
    } else if r >= 10.0 {
        whole(r)
    } else {
        format!("{r:.1}")
    }
}

/// A number for text: integers as they are, others with three significant digits; from
/// 10¹⁵ on (and for hostile values near the largest double), in exponent form.
pub fn number(x: f64) -> String {
    if x.abs() >= 1e15 {
        format!("{x:.2e}")
    } else if x.fract() == 0.0 || x.abs() >= 100.0 {
        whole(x)
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A share as a percentage for text: `0.3%`, `12%`, `<0.01%`.
pub(crate) fn percent(p: f64) -> String {
    let v = p * 100.0;
    if v < 0.01 {
        "<0.01%".into()
    } else if v < 1.0 {
        format!("{v:.2}%")
    } else {
        whole(v) + "%"
    }
}

/// `format!("{x:.0}")`, by integer arithmetic for the values text shows most
/// (non-negative, below 2⁵³, where every such double rounds to an exact integer): `{:.0}`
/// expands the exact decimal value, and its slow path (big-number arithmetic for many
/// values) was most of the time spent writing the reasons of 60k flagged rows. Ties go to
/// the even integer, as `{:.0}` rounds them.
fn whole(x: f64) -> String {
    if x.is_sign_positive() && x < 9_007_199_254_740_992.0 {
        (x.round_ties_even() as u64).to_string()
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{build, FeatureOptions, Nulls, Scaling};
    use polars::prelude::*;

    #[test]
    fn whole_numbers_read_as_format_writes_them() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            4503599627370495.5,
            4503599627370496.5,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e300,
            -0.4,
            -2.5,
            f64::INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..20_000 {
            let scale = 10f64.powi(rng.gen_range(-3..17));
            let x: f64 = rng.gen::<f64>() * scale;
            values.extend([x, x.floor() + 0.5, -x]);
        }
        for x in values {
            assert_eq!(whole(x), format!("{x:.0}"), "{x:e}");
        }
    }

    #[test]
    fn big_transfer_and_rare_state_are_named() {
        let n = 200;
        let bytes: Vec<i64> = (0..n)
            .map(|i| 1000 + (i % 10) * 10)
            .chain([41_000_000])
            .collect();
        let state: Vec<&str> = (0..n)
            .map(|i| if i == 0 { "REJ" } else { "SF" })
            .chain(["REJ"])
            .collect();
        let f = df!("resp_bytes" => bytes, "conn_state" => state).unwrap();
        let opts = FeatureOptions {
            features: FeatureOptions::parse_features("resp_bytes,conn_state", &f).unwrap(),
            scaling: Scaling::Robust,
            nulls: Nulls::Zero,
        };
        let rows: Vec<u32> = (0..=n as u32).collect();
        let m = build(&f, &rows, None, &opts, None).unwrap();
        let e = Explainer::new(&m);
        let r = e.explain(&m, n as usize, 3);
        let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts[0], "resp_bytes 39048x median", "{texts:?}");
        assert_eq!(texts[1], "conn_state REJ rare 1.00%", "{texts:?}");
        // An ordinary row has no reasons.
        assert!(e.explain(&m, 5, 3).is_empty());
    }
}
